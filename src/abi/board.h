/* SPDX-License-Identifier: MIT */
/*
 * The minivmm "pc-lite" board: every fixed guest-physical address, I/O port,
 * interrupt line and memory-slot rule lives here, and nowhere else.
 *
 * This header is shared by the VMM and by the freestanding test guests in
 * guests/, so it must stay plain C with no host includes beyond <stdint.h>-free
 * integer constants.
 */
#ifndef MINIVMM_BOARD_H
#define MINIVMM_BOARD_H

#include "abi/paging.h"

#define BOARD_KiB 0x400ULL
#define BOARD_MiB 0x100000ULL
#define BOARD_GiB 0x40000000ULL

/* ---- Guest-physical address map -------------------------------------- */

/* The 32-bit MMIO hole, as on QEMU's pc machine: no RAM in [3 GiB, 4 GiB). */
#define BOARD_MMIO_HOLE_START   0xC0000000ULL
#define BOARD_MMIO_HOLE_END     0x100000000ULL
#define BOARD_HIGH_RAM_START    BOARD_MMIO_HOLE_END

/* Fixed MMIO inside the hole (owned by KVM's in-kernel irqchip). */
#define BOARD_IOAPIC_BASE       0xFEC00000ULL
#define BOARD_LAPIC_BASE        0xFEE00000ULL
/* KVM needs three pages for its real-mode TSS and one for the EPT identity
 * map on VMX hosts; QEMU uses the same addresses, just below the BIOS ROM. */
#define BOARD_KVM_IDENTITY_MAP  0xFFFBC000ULL
#define BOARD_KVM_TSS           0xFFFBD000ULL

/*
 * Low memory used by the VMM to enter test guests in 64-bit mode
 * (the "minivmm test-guest boot protocol", docs/guest-boot.md).
 * Page 0 is left free so memory tests can cover the very first page of RAM.
 */
#define BOARD_BOOT_GDT          0x1000ULL   /* 4 KiB: flat GDT            */
#define BOARD_BOOT_TSS          0x2000ULL   /* 12 KiB: TSS + I/O bitmap   */
#define BOARD_BOOT_TSS_SIZE     0x3000ULL
#define BOARD_BOOT_FDT          0x5000ULL   /* 16 KiB: flattened DT       */
#define BOARD_BOOT_FDT_MAX      0x4000ULL
#define BOARD_BOOT_PML4         0x9000ULL   /* identity page tables       */
#define BOARD_BOOT_PDPT         0xA000ULL
#define BOARD_BOOT_PD           0xB000ULL   /* one PD per GiB mapped      */
#define BOARD_BOOT_AREA_END     0x9F000ULL  /* below the EBDA             */
#define BOARD_BOOT_MAX_PDS      ((BOARD_BOOT_AREA_END - BOARD_BOOT_PD) / PAGE_SIZE_4K)
/* Test-guest ELF segments must load at or above this address. */
#define BOARD_GUEST_LOAD_MIN    0x100000ULL

/*
 * Linux boot (docs: the kernel's Documentation/arch/x86/boot.rst).  Both
 * pages lie below 64 KiB, which Linux reserves for itself; the boot page
 * tables start at BOARD_BOOT_PML4.  The MP table sits in the BIOS area
 * that the e820 map reserves.
 */
#define BOARD_LINUX_BOOT_PARAMS 0x7000ULL   /* 4 KiB: the "zero page"     */
#define BOARD_LINUX_CMDLINE     0x8000ULL   /* 4 KiB: NUL-terminated      */
#define BOARD_LINUX_CMDLINE_MAX 0x1000ULL
#define BOARD_LINUX_MPTABLE     0xF0000ULL  /* MP floating pointer + table */
#define BOARD_LINUX_MPTABLE_END 0x100000ULL
/*
 * The IOAPIC pin that ISA IRQ 0 (the PIT) is wired to in the MP table: 2,
 * as on PCs.  KVM's default GSI routing sends GSI 0 to IOAPIC pin 0, so the
 * VMM must install routing GSI 0 -> IOAPIC pin 2 (as QEMU does); set this
 * to 0 instead to describe KVM's default routing.
 */
#define BOARD_IRQ0_IOAPIC_PIN   2

/* Boot GDT selectors (index << 3 | RPL). */
#define BOARD_SEL_KCODE         0x08
#define BOARD_SEL_KDATA         0x10
#define BOARD_SEL_UDATA         0x1B        /* 0x18 | RPL 3 */
#define BOARD_SEL_UCODE         0x23        /* 0x20 | RPL 3 */
#define BOARD_SEL_TSS           0x28        /* 16-byte system descriptor */

/* ---- I/O ports and interrupt lines ----------------------------------- */

#define BOARD_I8042_DATA        0x60
#define BOARD_I8042_CMD         0x64        /* write 0xFE: pulse reset line */
#define BOARD_POST_PORT         0x80        /* POST code / I/O delay port   */
#define BOARD_DEBUG_EXIT_PORT   0x501       /* 1-byte write: exit status    */
#define BOARD_COM1_BASE         0x3F8
#define BOARD_COM1_SIZE         8
#define BOARD_COM1_GSI          4
#define BOARD_COM1_CLOCK_HZ     1843200

/* Legacy 8259 PIC ports (emulated by KVM's in-kernel irqchip). */
#define BOARD_PIC1_CMD          0x20
#define BOARD_PIC1_DATA         0x21
#define BOARD_PIC2_CMD          0xA0
#define BOARD_PIC2_DATA         0xA1

/* ---- MMU protocol (test guests; docs/shadow-mmu.md) ------------------- */

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

#define MMU_MODE_TDP            0   /* load CR3 yourself, plain RAM pool   */
#define MMU_MODE_SHADOW         1   /* use the commands, never load CR3    */

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

/* ---- Memory-slot rules ------------------------------------------------ */

/* Default guest RAM and the smallest we accept (room for boot area + image). */
#define BOARD_DEFAULT_RAM       (256ULL * BOARD_MiB)
#define BOARD_MIN_RAM           (4ULL * BOARD_MiB)
/* Slots are page-granular (PAGE_SIZE_4K); thp/hugetlb backings require
 * PAGE_SIZE_2M alignment (abi/paging.h). */
/* old name, to be removed by the mmu/kvm split */
#define BOARD_PAGE_SIZE         PAGE_SIZE_4K
/* old name, to be removed by the mmu/kvm split */
#define BOARD_HUGE_PAGE_SIZE    PAGE_SIZE_2M

#endif
