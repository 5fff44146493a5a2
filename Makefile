# Container images (see images/). IMAGE_BUILDER may be docker, podman or buildah (all take
# `build -f FILE -t TAG --build-arg K=V .`).
IMAGE_BUILDER ?= docker
REGISTRY ?=
TAG ?= $(shell python3 -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
BASE_IMAGE ?= docker.io/library/python:3.11-slim-bookworm
ARCH ?= x86_64
PREFIX := $(if $(REGISTRY),$(REGISTRY)/,)

.PHONY: images image-control-plane image-device-plugin libvgpu-release lint-images images-smoke

images: image-control-plane image-device-plugin

image-control-plane:
	$(IMAGE_BUILDER) build -f images/Dockerfile.control-plane \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(PREFIX)hami/hami:$(TAG) .

libvgpu-release:
	$(MAKE) -C libvgpu release-$(ARCH)

image-device-plugin: libvgpu-release
	$(IMAGE_BUILDER) build -f images/Dockerfile.device-plugin \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg LIBVGPU=libvgpu/build/$(ARCH)/libvgpu.so \
		-t $(PREFIX)hami/hami-device-plugin:$(TAG) .

lint-images:
	hadolint images/Dockerfile.control-plane images/Dockerfile.device-plugin

# Build both images with buildah on a debootstrap'd base and run them under runc (root, network).
images-smoke:
	bash scripts/images-smoke.sh
