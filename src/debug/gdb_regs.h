/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 register file as gdb sees it through minivmm's target
 * description: the order of registers in 'g'/'G' and their numbers in
 * 'p'/'P' is the order of the table in gdb_regs.c, which also writes the
 * XML (qXfer:features:read:target.xml).  Pure: a vCPU's KVM state in,
 * little-endian register bytes out, and back.
 *
 * Features: org.gnu.gdb.i386.core (general registers, rip, eflags, the six
 * selectors, x87), org.gnu.gdb.i386.sse (xmm0-15, mxcsr),
 * org.gnu.gdb.i386.segments (fs_base, gs_base) and org.minivmm.x86.sys
 * (k_gs_base, cr0, cr2, cr3, cr4, cr8, efer).
 */
#ifndef MINIVMM_DEBUG_GDB_REGS_H
#define MINIVMM_DEBUG_GDB_REGS_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

/* Everything the registers come from; k_gs_base is MSR 0xC0000102. */
struct gdb_x86_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint64_t kernel_gs_base;
};

#define GDB_MSR_KERNEL_GS_BASE 0xC0000102u
#define GDB_REG_MAX_SIZE 16

unsigned int gdb_regs_count(void);
/* Bytes of all registers, in 'g' order. */
size_t gdb_regs_size(void);
/* Register n's size in bytes, or 0 when there is no register n. */
size_t gdb_reg_size(unsigned int n);
const char *gdb_reg_name(unsigned int n);
/* Register n's bytes (little-endian) into out; its size, or 0 if none. */
size_t gdb_reg_get(const struct gdb_x86_state *s, unsigned int n, uint8_t *out);
/* Set register n from its bytes; its size, or 0 if none. */
size_t gdb_reg_set(struct gdb_x86_state *s, unsigned int n, const uint8_t *in);

/* The target description; its length, or 0 when cap is too small. */
size_t gdb_target_xml(char *buf, size_t cap);

#endif
