/* SPDX-License-Identifier: MIT */
/*
 * Constants shared by start.S and the C runtime.  board.h's addresses carry
 * C integer suffixes the assembler rejects, so the one address start.S needs
 * is restated here and checked against board.h in runtime.c.
 */
#ifndef GUEST_ASM_DEFS_H
#define GUEST_ASM_DEFS_H

#define MINIVMM_NOTE_TEST_GUEST	1
#define MINIVMM_NOTE_VERSION	1

#define GUEST_TSS_RSP0		0x2004	/* BOARD_BOOT_TSS + 4 */

#define GUEST_IRQ_BASE		0x20	/* PIC vectors 0x20-0x2f */
#define GUEST_NR_VECTORS	0x30
#define GUEST_STUB_SIZE		16

#define GUEST_PF_MAX_DEPTH	2	/* pf_hook calls in progress at most */

#define GUEST_RING0_STACK_SIZE	0x2000
#define GUEST_REPORT_STACK_SIZE	0x2000
#define GUEST_USER_STACK_SIZE	0x10000

/* Guest exit statuses (10 and up: never collide with minivmm's own). */
#define GUEST_EXIT_OK		0
#define GUEST_EXIT_FAIL		10	/* test detected a failure        */
#define GUEST_EXIT_CONTRACT	11	/* boot contract / bad bootargs   */
#define GUEST_EXIT_EXCEPTION	12	/* unexpected CPU exception       */
#define GUEST_EXIT_BAD_VALUE	13	/* bad guest: unexpected value    */

#endif
