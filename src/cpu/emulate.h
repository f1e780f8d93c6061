/* SPDX-License-Identifier: MIT */
/*
 * Instructions some hosts' KVM cannot emulate (KVM_EXIT_INTERNAL_ERROR,
 * suberror EMULATION) although their architectural result is well defined.
 * On PVM hosts guest ring 0 is emulated instruction by instruction, and the
 * emulator rejects e.g. int3, fwait, xsave/xrstor and clac; QEMU stops there.
 * minivmm classifies the instruction at RIP and, where the architecture
 * says exactly what happens, makes it happen (docs/booting-linux.md).
 */
#ifndef MINIVMM_EMULATE_H
#define MINIVMM_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum unemulated_kind {
	UNEMULATED_UNKNOWN,
	UNEMULATED_INT3,  /* CC: a trap: RIP moves past it, then #BP */
	UNEMULATED_FWAIT, /* 9B: no unmasked x87 exception can be pending: a no-op */
	UNEMULATED_UD,    /* #UD at RIP: ud2, or an instruction the guest's CPU lacks */
	UNEMULATED_CLAC,  /* 0F 01 CA: RFLAGS.AC = 0 */
	UNEMULATED_STAC,  /* 0F 01 CB: RFLAGS.AC = 1 */
	UNEMULATED_POPCNT, /* F3 0F B8 /r: minivmm computes it (operands below) */
	/* [F0] [REX.W] 0F C7 /1 m64/m128: cmpxchg8b/16b, carried out with the
	 * host's own locked instruction on the host mapping of guest memory. */
	UNEMULATED_CMPXCHG_DOUBLE,
	UNEMULATED_LDMXCSR, /* 0F AE /2 m32: MXCSR = m32, through KVM_SET_FPU */
	UNEMULATED_STMXCSR, /* 0F AE /3 m32: m32 = MXCSR */
	/* 0F AE /4 and /6: xsave, xsaveopt; /5: xrstor (standard form), through
	 * KVM_GET/SET_XSAVE and the rules of xsave.h. */
	UNEMULATED_XSAVE,
	UNEMULATED_XRSTOR,
	/* 0F 03 /r: lsl r, r/m16: the limit of the segment a selector names
	 * (Linux's NMI and paranoid entries read the CPU number this way),
	 * from the guest's GDT/LDT with x86_lsl_limit. */
	UNEMULATED_LSL,
	UNEMULATED_KINDS,
};

/* A ModRM r/m operand: a register, or base + index * scale + disp. */
struct x86_rm {
	bool is_mem;
	int reg;           /* register number when !is_mem */
	int base, index;   /* register numbers, -1 for none */
	unsigned int scale;
	int64_t disp;
	bool rip_relative; /* disp is relative to the next instruction */
	int segment;       /* 4 = FS, 5 = GS override, -1 none */
};

struct unemulated {
	enum unemulated_kind kind;
	unsigned int len;  /* instruction length, prefixes included */
	const char *name;  /* "int3", "fwait", "ud2", "xrstor", "clac", ... */
	/* Operands, for the kinds minivmm computes (POPCNT, CMPXCHG_DOUBLE,
	 * LDMXCSR, STMXCSR, XSAVE, XRSTOR). */
	unsigned int op_size; /* 2, 4, 8 or 16 bytes */
	int reg;              /* ModRM.reg register number (with REX.R) */
	struct x86_rm rm;
};

/* What the guest's CPU is configured to have, for the #UD decisions. */
struct guest_cpu_features {
	bool smap;     /* the guest's CPU has SMAP (CPUID, or CR4.SMAP set) */
	bool osxsave;  /* CR4.OSXSAVE */
};

/* Classify the instruction bytes at RIP (64-bit mode decoding). */
void x86_classify_unemulated(const uint8_t *insn, size_t len,
			     const struct guest_cpu_features *cpu, struct unemulated *out);

const char *unemulated_kind_name(enum unemulated_kind kind);

/* LSL's rules (SDM vol. 2, LSL) for the 8-byte descriptor desc that
 * selector sel names, at privilege level cpl, in IA-32e mode: true with
 * the byte-granular limit (ZF = 1) when the descriptor is one LSL may read
 * (a code or data segment visible at max(cpl, RPL), conforming code at any
 * level; of system descriptors an LDT or a 64-bit TSS), else false (ZF = 0).
 * A null selector is the caller's (false). */
bool x86_lsl_limit(uint64_t desc, uint16_t sel, unsigned int cpl, uint32_t *limit);

#endif
