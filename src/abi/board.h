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
/* KVM's in-kernel I/O APIC: 24 input pins, GSI n on pin n (but GSI 0). */
#define BOARD_IOAPIC_PINS       24

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

/* ---- PCI (PCI Local Bus 3.0, 3.2.2.3.2: configuration mechanism #1) --- */

/* CONFIG_ADDRESS (dword accesses only) and CONFIG_DATA (any width at any
 * offset of 0xCFC-0xCFF); the host bridge claims all of 0xCF8-0xCFF. */
#define BOARD_PCI_CFG_ADDR      0xCF8
#define BOARD_PCI_CFG_DATA      0xCFC
#define BOARD_PCI_CFG_SIZE      8
/*
 * The 32-bit window the host bridge forwards to PCI memory BARs, inside the
 * MMIO hole: above the test guests' MMU regions (the shadow store ends at
 * BOARD_MMU_STORE_BASE + BOARD_MMU_STORE_MAX = 0xF0000000) and below the
 * IOAPIC (0xFEC00000), leaving [0xFE000000, 0xFEC00000) free.  224 MiB.
 */
#define BOARD_PCI_MMIO_BASE     0xF0000000ULL
#define BOARD_PCI_MMIO_END      0xFE000000ULL
/*
 * INTx: each device's INTA# (the only pin minivmm's functions use) is wired
 * to an I/O APIC pin above the ISA range, level-triggered and active low,
 * slot s on GSI 16 + s % 8 (lines are shared from the ninth slot on, as
 * level-triggered PCI interrupts may be).  The MP table lists every slot
 * with this rule, on bus BOARD_PCI_MP_BUS: Linux takes an MP bus id for
 * the PCI bus number, so PCI bus 0 is MP bus 0 (and ISA is bus 1).
 */
#define BOARD_PCI_INTX_GSI_BASE 16
#define BOARD_PCI_INTX_GSIS     8
#define BOARD_PCI_INTX_GSI(slot) (BOARD_PCI_INTX_GSI_BASE + (slot) % BOARD_PCI_INTX_GSIS)
#define BOARD_PCI_MP_BUS        0
#define BOARD_PCI_SLOTS         32

/* ---- Memory-slot rules ------------------------------------------------ */

/* Default guest RAM and the smallest we accept (room for boot area + image). */
#define BOARD_DEFAULT_RAM       (256ULL * BOARD_MiB)
#define BOARD_MIN_RAM           (4ULL * BOARD_MiB)
/* Slots are page-granular (PAGE_SIZE_4K); thp/hugetlb backings require
 * PAGE_SIZE_2M alignment (abi/paging.h). */

#endif
