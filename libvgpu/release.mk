# Release builds of libvgpu.so (included from Makefile).
#   make release             build/x86_64/libvgpu.so and build/aarch64/libvgpu.so, glibc 2.17 baseline
#   make release-x86_64      one architecture only (also release-aarch64)
#   make release-kit-aarch64 the fake driver and test programs for aarch64 (run under qemu-aarch64)
# The same sources, flags (-Wall -Wextra -Werror -fvisibility=hidden) and version script as the debug build,
# compiled by Zig's C compiler (tools/zigcc) which links against glibc 2.17 symbol-version stubs: the
# library loads in any image with glibc >= 2.17. See docs/portability.md.

RELEASE_ARCHS := x86_64 aarch64
RELEASE_CFLAGS ?= -O2 -g
ZIGCC := $(HERE)/tools/zigcc
# Zig's caches stay under build/ (unless set in the environment): a clean removes them, $HOME is untouched.
ZIG_GLOBAL_CACHE_DIR ?= $(BUILD)/zig-cache
ZIG_LOCAL_CACHE_DIR ?= $(ZIG_GLOBAL_CACHE_DIR)

.PHONY: release $(addprefix release-,$(RELEASE_ARCHS)) release-kit-aarch64

release: $(addprefix release-,$(RELEASE_ARCHS)) release-kit-aarch64

# A sub-make of this Makefile per architecture: ARCH picks src/dlsym_$(ARCH).S, BUILD the output tree.
$(addprefix release-,$(RELEASE_ARCHS)): release-%: | $(CUDA_INC)/cuda.h $(NVML_INC)/nvml.h
	ZIG_GLOBAL_CACHE_DIR=$(ZIG_GLOBAL_CACHE_DIR) ZIG_LOCAL_CACHE_DIR=$(ZIG_LOCAL_CACHE_DIR) \
	$(MAKE) -f $(HERE)/Makefile lib CC="$(ZIGCC) $*" ARCH=$* BUILD=$(HERE)/build/$* \
		CFLAGS="$(RELEASE_CFLAGS)"

# The test kit's fake driver, programs and stacking shim for aarch64, next to the aarch64 library.
release-kit-aarch64: | $(CUDA_INC)/cuda.h $(NVML_INC)/nvml.h
	ZIG_GLOBAL_CACHE_DIR=$(ZIG_GLOBAL_CACHE_DIR) ZIG_LOCAL_CACHE_DIR=$(ZIG_LOCAL_CACHE_DIR) \
	$(MAKE) -C $(HERE)/tests fakes progs $(HERE)/build/aarch64/tests/libshim.so CC="$(ZIGCC) aarch64" \
		BUILD=$(HERE)/build/aarch64 \
		CUDA_INC=$(CUDA_INC) NVML_INC=$(NVML_INC)
