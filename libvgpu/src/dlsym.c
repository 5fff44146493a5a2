/*
 * dlsym override policy. The exported `dlsym` is an assembly stub (dlsym_<arch>.S) that calls
 * vgpu_dlsym_policy() and then either returns our answer or tail-jumps to the real dlsym with the
 * caller's own return address intact, so glibc resolves RTLD_NEXT relative to the caller, exactly as
 * without us. Only names of hooked symbols that the real lookup would find get our wrapper.
 */
#include "vgpu.h"

#include <dlfcn.h>
#include <string.h>

typedef void *(*dlsym_fn)(void *, const char *);
dlsym_fn vgpu_real_dlsym VGPU_HIDDEN;

void vgpu_find_real_dlsym(void) VGPU_HIDDEN;
void vgpu_find_real_dlsym(void) {
    if (vgpu_real_dlsym) return;
    static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.3", "GLIBC_2.0"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        void *p = dlvsym(RTLD_NEXT, "dlsym", versions[i]);
        if (p) {
            vgpu_real_dlsym = (dlsym_fn)p;
            return;
        }
    }
    LOG_ERROR("cannot find the real dlsym; dlsym interception disabled");
}

int vgpu_dlsym_policy(void *handle, const char *name, void **out) VGPU_HIDDEN;
/* 0: tail-call the real dlsym with the original arguments. 1: return *out. */
int vgpu_dlsym_policy(void *handle, const char *name, void **out) {
    if (unlikely(!vgpu_real_dlsym)) vgpu_find_real_dlsym();
    if (!vgpu_real_dlsym) {
        *out = NULL;
        return 1;
    }
    if (handle == RTLD_NEXT || !name) return 0;
    int idx = vgpu_sym_lookup(name);
    if (idx < 0) return 0;
    const vgpu_sym_t *s = &vgpu_syms[idx];
    /* Would the lookup find the symbol without us? For RTLD_DEFAULT our own export answers, so ask
     * the driver itself. */
    if (handle == RTLD_DEFAULT) {
        void *h = dlopen(s->is_cuda ? "libcuda.so.1" : "libnvidia-ml.so.1", RTLD_LAZY | RTLD_NOLOAD);
        if (!h) return 0; /* driver not loaded: the real lookup answers as it would without us */
        void *r = vgpu_real_dlsym(h, name);
        dlclose(h);
        if (!r) return 0;
        *out = s->wrapper;
        return 1;
    }
    if (!vgpu_real_dlsym(handle, name)) return 0; /* not there: let the real dlsym set dlerror */
    *out = s->wrapper;
    return 1;
}
