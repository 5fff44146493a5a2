/* dlsym entry for x86-64: policy call, then return its answer or tail-jump to the real dlsym. */
    .text
    .globl dlsym
    .type dlsym, @function
    .p2align 4
dlsym:
    .cfi_startproc
    endbr64
    pushq %rdi
    .cfi_adjust_cfa_offset 8
    pushq %rsi
    .cfi_adjust_cfa_offset 8
    subq $24, %rsp                 /* out slot at 0(%rsp); keeps 16-byte alignment */
    .cfi_adjust_cfa_offset 24
    movq $0, (%rsp)
    movq %rsp, %rdx
    call vgpu_dlsym_policy
    movq (%rsp), %rcx
    addq $24, %rsp
    .cfi_adjust_cfa_offset -24
    popq %rsi
    .cfi_adjust_cfa_offset -8
    popq %rdi
    .cfi_adjust_cfa_offset -8
    testl %eax, %eax
    jz 1f
    movq %rcx, %rax
    ret
1:
    movq vgpu_real_dlsym(%rip), %rax
    jmp *%rax
    .cfi_endproc
    .size dlsym, .-dlsym
    .section .note.GNU-stack,"",@progbits
