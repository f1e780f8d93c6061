/* SPDX-License-Identifier: MIT */
/*
 * x86 architectural state for entering guests: the boot GDT/TSS/page tables
 * of the test-guest protocol (docs/guest-boot.md), long-mode register
 * values, and CPUID adjustments.  Pure functions over guest memory and
 * KVM structures; the ioctls happen in vcpu.c.
 */
#ifndef MINIVMM_X86_H
#define MINIVMM_X86_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "abi/paging.h"
#include "mmu/memory.h"

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_MP (1ULL << 1)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_NE (1ULL << 5)
#define X86_CR0_WP (1ULL << 16)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_CR4_OSFXSR (1ULL << 9)
#define X86_CR4_OSXMMEXCPT (1ULL << 10)
#define X86_CR4_OSXSAVE (1ULL << 18)
#define X86_CR4_SMAP (1ULL << 21)
#define X86_CR4_LA57 (1ULL << 12)
#define X86_EFER_SCE (1ULL << 0)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_EFER_NXE (1ULL << 11)
#define X86_RFLAGS_RESERVED (1ULL << 1)
#define X86_RFLAGS_AC (1ULL << 18)
#define X86_CPUID7_EBX_SMAP (1u << 20)
#define X86_RFLAGS_ZF (1ULL << 6)
/* The arithmetic flags: CF, PF, AF, ZF, SF, OF. */
#define X86_RFLAGS_ARITH (0x1ULL | 0x4ULL | 0x10ULL | 0x40ULL | 0x80ULL | 0x800ULL)

/* 64-bit TSS: RSP0 at offset 4, I/O map base at offset 102. */
#define X86_TSS64_SIZE      104
#define X86_TSS_IOMAP_BYTES (65536 / 8)

/*
 * Write the boot GDT, TSS (with an all-ports I/O bitmap) and identity page
 * tables covering [0, map_top) into guest memory.  *boot_end receives the
 * end of the last table written.  -E2BIG when map_top needs more page
 * directories than the boot area holds; -EFAULT when RAM does not cover it.
 */
int x86_write_boot_tables(const struct mem_map *mem, uint64_t map_top, uint64_t *boot_end);

/* Long-mode entry state matching the tables above. */
void x86_boot_sregs(struct kvm_sregs *sregs, int nx);

/*
 * The Linux 64-bit boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18
 * (Documentation/arch/x86/boot.rst): rewrite the boot GDT that way and use
 * these selectors.  Call after x86_write_boot_tables.
 */
int x86_write_linux_gdt(const struct mem_map *mem);
void x86_linux_sregs(struct kvm_sregs *sregs, int nx);
/* The PVH entry's state (x86/HVM direct boot ABI): 32-bit protected mode,
 * paging off, flat CS (0x20) and data (0x18) segments, CR4 and EFER 0;
 * x86_write_linux_gdt's table. */
void x86_pvh_sregs(struct kvm_sregs *s);
void x86_boot_regs(struct kvm_regs *regs, uint64_t entry, uint64_t fdt_gpa);

struct kvm_cpuid_entry2 *x86_cpuid_find(const struct kvm_cpuid2 *cpuid, uint32_t function,
					uint32_t index);
/* Per-vCPU CPUID: APIC IDs and topology for vcpu_id of nr_vcpus. */
void x86_cpuid_set_vcpu(struct kvm_cpuid2 *cpuid, unsigned int vcpu_id,
			unsigned int nr_vcpus);
/*
 * On PVM hosts the guest's hypercalls (VMCALL from emulated ring 0) do not
 * complete, so hide the KVM paravirtual features that are built on them:
 * PV spinlock kicks (PV_UNHALT), PV IPIs (PV_SEND_IPI) and PV sched_yield.
 * (The standard CPUID leaves cannot be filtered there: PVM overrides them
 * with the host's, docs/booting-linux.md.)  Returns the bits cleared.
 */
uint32_t x86_cpuid_hide_pv_hypercalls(struct kvm_cpuid2 *cpuid);

/* Whether the CPUID table advertises NX (leaf 0x80000001 EDX bit 20). */
int x86_cpuid_has_nx(struct kvm_cpuid2 *cpuid);
bool x86_cpuid_has_smap(const struct kvm_cpuid2 *cpuid);
/* Physical-address width (CPUID 0x80000008 EAX[7:0]), clamped to 32..52. */
unsigned int x86_cpuid_maxphyaddr(struct kvm_cpuid2 *cpuid);

#endif
