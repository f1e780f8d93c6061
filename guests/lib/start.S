/* SPDX-License-Identifier: MIT */
/*
 * Test-guest entry, interrupt stubs and the ring-0 gate.
 *
 * On this project's PVM hosts every ring-0 instruction is emulated (~0.6 us
 * each) while ring 3 runs natively, so ring 0 does only what it must: load a
 * stack, the IDT register and TSS.RSP0, then iretq to ring 3.  The IDT itself
 * is filled in from ring 3 (idt_init(), runtime.c) before main() runs; the
 * identity map is user-writable, so that needs no privilege.
 *
 * Ring 3 reaches ring 0 in two ways only (`syscall` and `int n` misbehave on
 * PVM, exceptions do not):
 *  - ring0_call(fn, arg): executes `ud2` at ring0_gate; the #UD handler sees
 *    that RIP, runs fn(arg) in ring 0 on the RSP0 stack with interrupts off,
 *    steps over the ud2 and returns fn's value in RAX to ring 3.
 *  - any other exception: exc_common rewrites the frame so that iretq lands
 *    in guest_exception_report() in ring 3 (which prints and exits 12), so
 *    even the report runs natively.
 *  - #PF first goes to pf_hook, if a guest installed one (guest.h): it runs
 *    in ring 0 and either resolves the fault (iretq retries the access) or
 *    lets it fall through to the report.
 * IRQs (vectors 0x20-0x2f) only set a bit in irq_pending; ring 3 runs with
 * IF=0, so they arrive only inside a ring-0 `sti; hlt` (r0_wait_irq).
 */
#include "abi/board.h"
#include "asm_defs.h"

	.section .note.minivmm, "a", @note
	.p2align 2
	.long	8			/* namesz: "minivmm\0" */
	.long	4			/* descsz */
	.long	MINIVMM_NOTE_TEST_GUEST
	.asciz	"minivmm"
	.long	MINIVMM_NOTE_VERSION	/* desc: protocol version */

	.section .text.entry, "ax"
	.globl	_start
	.code64
_start:				/* ring 0; RDI = FDT (kept for main) */
	mov	$ring0_stack_top, %esp
	lidt	idt_ptr
	movq	$ring0_stack_top, GUEST_TSS_RSP0
	pushq	$BOARD_SEL_UDATA	/* SS */
	pushq	$user_stack_top		/* RSP */
	pushq	$2			/* RFLAGS: IF=0 */
	pushq	$BOARD_SEL_UCODE	/* CS */
	pushq	$user_entry		/* RIP */
	iretq

	.text
user_entry:			/* ring 3 from here on */
	call	guest_start		/* returns main()'s status */
	mov	%eax, %edi
	call	guest_exit
	ud2

/* ---- ring-0 gate ---------------------------------------------------- */

	.globl	ring0_call
ring0_call:			/* uint64_t ring0_call(fn, arg) */
ring0_gate:
	ud2
	ret

ud_entry:			/* #UD: [rsp] = RIP */
	cmpq	$ring0_gate, (%rsp)
	jne	1f
	addq	$2, (%rsp)
	mov	%rdi, %rax
	mov	%rsi, %rdi
	sub	$8, %rsp		/* SysV alignment for the call */
	call	*%rax
	add	$8, %rsp
	iretq
1:	pushq	$0
	pushq	$6
	jmp	exc_common

	.globl	r0_wait_irq
r0_wait_irq:			/* ring 0: wait for one interrupt */
	sti
	hlt
	cli
	ret

/* ---- exceptions ------------------------------------------------------- */

/*
 * #PF: [rsp] = error code.  Only the SysV caller-saved registers need
 * saving around the C hook; RFLAGS comes back with iretq.  Every ring-0
 * instruction is emulated on PVM, so this path is kept to a few dozen.
 * The CPU aligns RSP to 16 before pushing the 48-byte frame (SS ... error
 * code), so after nine pushes one more quadword realigns it for the call.
 * The hook may fault once more (shadow mode: a table it walks is not yet
 * shadowed); deeper nesting means it faults on what it needs to resolve
 * faults (e.g. the mailbox is unmapped), so report rather than recurse
 * until the stack runs out.
 */
pf_entry:
	cmpq	$0, pf_hook
	je	2f
	cmpl	$GUEST_PF_MAX_DEPTH, pf_depth
	jae	2f
	incl	pf_depth
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	%cr2, %rdi
	mov	72(%rsp), %rsi		/* error code */
	sub	$8, %rsp
	call	*pf_hook
	add	$8, %rsp
	decl	pf_depth
	test	%eax, %eax
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	jnz	2f			/* not resolved: report it */
	add	$8, %rsp		/* drop the error code, retry */
	iretq
2:	pushq	$14
	jmp	exc_common

/* Stack: vector, error, RIP, CS, RFLAGS, RSP, SS. */
exc_common:
	btsl	$0, in_report
	jc	2f
	pop	%rdi			/* vector */
	pop	%rsi			/* error code */
	mov	(%rsp), %rdx		/* RIP */
	mov	8(%rsp), %rcx		/* CS */
	mov	%cr2, %r8
	movq	$guest_exception_report, (%rsp)
	movq	$BOARD_SEL_UCODE, 8(%rsp)
	movq	$2, 16(%rsp)
	movq	$report_stack_top - 8, 24(%rsp)
	movq	$BOARD_SEL_UDATA, 32(%rsp)
	iretq
2:	mov	$BOARD_DEBUG_EXIT_PORT, %edx	/* fault while reporting */
	mov	$GUEST_EXIT_EXCEPTION, %al
	outb	%al, %dx
3:	hlt
	jmp	3b

/* One 16-byte stub per vector, so idt_init() can compute addresses; the
 * .org fails the build if a stub outgrows its slot. */
	.macro	SLOT vec
	.org	isr_stubs + \vec * GUEST_STUB_SIZE, 0xcc
	.endm

	.macro	EXC vec
	SLOT	\vec
	.if \vec == 14			/* #PF: pf_entry, error code pushed */
	jmp	pf_entry
	.elseif (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || \
	    (\vec == 13) || (\vec == 17) || (\vec == 21) || \
	    (\vec == 29) || (\vec == 30)
	pushq	$\vec
	.else
	pushq	$0
	pushq	$\vec
	.endif
	jmp	exc_common
	.endm

	.macro	IRQ vec
	SLOT	\vec
	orw	$(1 << (\vec - GUEST_IRQ_BASE)), irq_pending
	iretq
	.endm

	.p2align 4
	.globl	isr_stubs
isr_stubs:
	.set	v, 0
	.rept	GUEST_IRQ_BASE
	.if v == 6
	SLOT	v
	jmp	ud_entry
	.else
	EXC	v
	.endif
	.set	v, v + 1
	.endr
	.rept	GUEST_NR_VECTORS - GUEST_IRQ_BASE
	IRQ	v
	.set	v, v + 1
	.endr
	SLOT	GUEST_NR_VECTORS

/* ---- data ------------------------------------------------------------- */

	.section .rodata
	.p2align 4
idt_ptr:
	.word	GUEST_NR_VECTORS * 16 - 1
	.quad	idt

	.bss
	.globl	irq_pending
	.globl	pf_hook
	.p2align 4
pf_hook:
	.quad	0
pf_depth:
	.long	0
irq_pending:
	.word	0
in_report:
	.long	0
	.p2align 12
	.space	GUEST_RING0_STACK_SIZE
ring0_stack_top:
	.space	GUEST_REPORT_STACK_SIZE
report_stack_top:
	.space	GUEST_USER_STACK_SIZE
user_stack_top:

	.section .note.GNU-stack, "", @progbits
