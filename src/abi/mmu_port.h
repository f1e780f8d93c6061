/* SPDX-License-Identifier: MIT */
/*
 * The MMU protocol between minivmm and its test guests (docs/shadow-mmu.md):
 * where the MMU regions lie, the command port, its commands, mailbox layout
 * and results.  Shared with the freestanding guests: plain C constants only.
 */
#ifndef MINIVMM_ABI_MMU_PORT_H
#define MINIVMM_ABI_MMU_PORT_H

#include "abi/board.h"

/*
 * Three regions in the 32-bit MMIO hole, each its own KVM slot, never in the
 * RAM ranges of the FDT or e820.  Present for every test guest, in both
 * --mmu modes (same addresses, so the two modes run the same binary on the
 * same guest-physical layout); described by the FDT node /minivmm-mmu.
 *  - mailbox: one ordinary RAM page for the arguments and results of the
 *    port commands below.
 *  - page-table pool: the guest allocates its page-table pages here.  With
 *    --mmu=shadow it is a KVM_MEM_READONLY slot: reads are native, every
 *    write exits and is applied by minivmm; with --mmu=tdp it is plain RAM.
 *  - shadow store: minivmm's shadow page tables (--mmu=shadow only); the
 *    guest cannot map it.
 */
#define BOARD_MMU_MAILBOX       0xC0000000ULL   /* 4 KiB */
#define BOARD_MMU_POOL_BASE     0xC0200000ULL
#define BOARD_MMU_POOL_MIN      (2ULL * BOARD_MiB)
#define BOARD_MMU_POOL_MAX      (128ULL * BOARD_MiB) /* store = 4x pool */
#define BOARD_MMU_POOL_DEFAULT  (16ULL * BOARD_MiB)
#define BOARD_MMU_STORE_BASE    0xD0000000ULL
#define BOARD_MMU_STORE_MAX     (512ULL * BOARD_MiB)

/*
 * The command port.  A 32-bit `in` returns the mode (MMU_MODE_*); a 32-bit
 * `out` of MMU_CMD_* runs a command whose arguments the guest put in the
 * mailbox first, and whose results are in the mailbox when `out` returns.
 * Mailbox: little-endian 64-bit fields at these offsets.
 */
#define BOARD_MMU_PORT          0x510

#define MMU_PORT_TDP            0   /* load CR3 yourself, plain RAM pool   */
#define MMU_PORT_SHADOW         1   /* use the commands, never load CR3    */

#define MMU_CMD_LOAD_ROOT       1   /* ARG0 = guest PML4 GPA (a "CR3")    */
#define MMU_CMD_INVLPG          2   /* ARG0 = GVA                          */
#define MMU_CMD_FLUSH           3   /* all of the current address space    */
#define MMU_CMD_PAGE_FAULT      4   /* ARG0 = CR2, ARG1 = #PF error code    */
#define MMU_CMD_PHASE_BEGIN     5   /* NAME: a measured phase starts        */
#define MMU_CMD_PHASE_END       6   /* NAME, CYCLES, CHECKSUM, OPS          */
#define MMU_CMD_PIN             7   /* ARG0 = GVA, ARG1 = length: keep the
				     * range filled in every root, lazy fill
				     * too (the exception path: IDT, GDT, TSS,
				     * handler code, data and stacks) */
#define MMU_MAX_PINS            16

#define MMU_MB_ARG0             0x00
#define MMU_MB_ARG1             0x08
#define MMU_MB_RESULT           0x10   /* MMU_OK, MMU_PF_*, or -errno      */
#define MMU_MB_RESULT2          0x18   /* PAGE_FAULT: error code to raise  */
#define MMU_MB_CYCLES           0x20   /* PHASE_END: rdtsc delta            */
#define MMU_MB_CHECKSUM         0x28   /* PHASE_END: workload checksum      */
#define MMU_MB_OPS              0x30   /* PHASE_END: operations done        */
#define MMU_MB_NAME             0x40   /* PHASE_*: NUL-terminated, < 32 B   */
#define MMU_MB_NAME_MAX         32

#define MMU_OK                  0   /* done; PAGE_FAULT: hidden fault fixed, retry */
#define MMU_PF_GUEST            1   /* PAGE_FAULT: a true fault, handle RESULT2   */
#define MMU_PF_REFUSED          2   /* PAGE_FAULT: the guest maps it, but through a
				     * table outside the pool or onto memory that
				     * is not RAM/pool/mailbox: not shadowed */
/* Errors (as two's-complement -errno in RESULT): -EINVAL bad command or
 * argument (unknown command, bad PIN range), -EFAULT root not in the
 * pool, -ENOMEM the store is full, -ENOSYS command needs --mmu=shadow,
 * -ENOSPC more than MMU_MAX_PINS pinned ranges. */

#endif
