/* dlsym entry for aarch64: policy call, then return its answer or tail-jump to the real dlsym. */
    .text
    .globl dlsym
    .type dlsym, %function
    .p2align 4
dlsym:
    .cfi_startproc
    hint 34                        /* bti c */
    stp x29, x30, [sp, -48]!
    .cfi_def_cfa_offset 48
    .cfi_offset 29, -48
    .cfi_offset 30, -40
    mov x29, sp
    stp x0, x1, [sp, 16]
    str xzr, [sp, 32]
    add x2, sp, 32
    bl vgpu_dlsym_policy
    mov w3, w0
    ldr x4, [sp, 32]
    ldp x0, x1, [sp, 16]
    ldp x29, x30, [sp], 48
    .cfi_def_cfa_offset 0
    cbz w3, 1f
    mov x0, x4
    ret
1:
    adrp x16, vgpu_real_dlsym
    ldr x16, [x16, :lo12:vgpu_real_dlsym]
    br x16
    .cfi_endproc
    .size dlsym, .-dlsym
    .section .note.GNU-stack,"",@progbits
