// SPDX-License-Identifier: MIT
#include "cpu/emulate.h"

static bool is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65:
	case 0x66: case 0x67: case 0xF0: case 0xF2: case 0xF3:
		return true;
	default:
		return false;
	}
}

static void set(struct unemulated *out, enum unemulated_kind kind, size_t len,
		const char *name)
{
	out->kind = kind;
	out->len = (unsigned int)len;
	out->name = name;
}

/* 0F 01 xx: the register forms we know. */
static void classify_0f01(uint8_t modrm, size_t len, const struct guest_cpu_features *cpu,
			  struct unemulated *out)
{
	switch (modrm) {
	case 0xCA: /* clac: AC = 0; #UD when the CPU has no SMAP (SDM vol. 2A) */
		set(out, cpu->smap ? UNEMULATED_CLAC : UNEMULATED_UD, len, "clac");
		break;
	case 0xCB: /* stac: AC = 1 */
		set(out, cpu->smap ? UNEMULATED_STAC : UNEMULATED_UD, len, "stac");
		break;
	case 0xD0: /* xgetbv: #UD when CR4.OSXSAVE = 0 */
	case 0xD1: /* xsetbv */
		set(out, cpu->osxsave ? UNEMULATED_UNKNOWN : UNEMULATED_UD, len,
		    modrm == 0xD0 ? "xgetbv" : "xsetbv");
		break;
	default:
		set(out, UNEMULATED_UNKNOWN, len, "0f 01 group");
		break;
	}
}

/*
 * Decode ModRM (+ SIB + displacement) at insn[i] in 64-bit mode.  Returns
 * the length consumed, or 0 when the bytes run out.
 */
static size_t decode_modrm(const uint8_t *insn, size_t len, size_t i, uint8_t rex,
			   int *reg, struct x86_rm *rm)
{
	size_t start = i;
	uint8_t modrm, mod, rmbits;

	if (i >= len)
		return 0;
	modrm = insn[i++];
	mod = modrm >> 6;
	rmbits = modrm & 7;
	*reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
	rm->base = rm->index = -1;
	rm->scale = 1;
	rm->disp = 0;
	rm->rip_relative = false;
	if (mod == 3) {
		rm->is_mem = false;
		rm->reg = rmbits | ((rex & 1) ? 8 : 0);
		return i - start;
	}
	rm->is_mem = true;
	if (rmbits == 4) { /* SIB */
		uint8_t sib, idx, base;

		if (i >= len)
			return 0;
		sib = insn[i++];
		rm->scale = 1u << (sib >> 6);
		idx = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
		base = (sib & 7) | ((rex & 1) ? 8 : 0);
		rm->index = idx == 4 ? -1 : idx; /* no index */
		if ((sib & 7) == 5 && mod == 0) {
			mod = 2; /* disp32, no base */
		} else {
			rm->base = base;
		}
	} else if (rmbits == 5 && mod == 0) {
		rm->rip_relative = true;
		mod = 2;
	} else {
		rm->base = rmbits | ((rex & 1) ? 8 : 0);
	}
	if (mod == 1) {
		if (i >= len)
			return 0;
		rm->disp = (int8_t)insn[i++];
	} else if (mod == 2) {
		int32_t d;

		if (i + 4 > len)
			return 0;
		d = (int32_t)((uint32_t)insn[i] | (uint32_t)insn[i + 1] << 8 |
			      (uint32_t)insn[i + 2] << 16 | (uint32_t)insn[i + 3] << 24);
		rm->disp = d;
		i += 4;
	}
	return i - start;
}

void x86_classify_unemulated(const uint8_t *insn, size_t len,
			     const struct guest_cpu_features *cpu, struct unemulated *out)
{
	bool opsize16 = false, rep = false, repne = false;
	uint8_t rex = 0;
	int segment = -1;
	size_t i = 0;

	set(out, UNEMULATED_UNKNOWN, 0, "unknown");
	while (i < len && i < 14 && is_legacy_prefix(insn[i])) {
		opsize16 |= insn[i] == 0x66;
		rep |= insn[i] == 0xF3;
		repne |= insn[i] == 0xF2;
		if (insn[i] == 0x64 || insn[i] == 0x65)
			segment = insn[i] - 0x60;
		i++;
	}
	if (i < len && (insn[i] & 0xF0) == 0x40) /* REX */
		rex = insn[i++];
	if (i >= len)
		return;
	switch (insn[i]) {
	case 0xCC:
		set(out, UNEMULATED_INT3, i + 1, "int3");
		return;
	case 0x9B:
		set(out, UNEMULATED_FWAIT, i + 1, "fwait");
		return;
	case 0x0F:
		break;
	default:
		return;
	}
	if (i + 1 >= len)
		return;
	if (insn[i + 1] == 0x0B) {
		set(out, UNEMULATED_UD, i + 2, "ud2");
		return;
	}
	if (i + 2 >= len)
		return;
	if (insn[i + 1] == 0x03 || (insn[i + 1] == 0xB8 && rep)) {
		/* lsl r, r/m16 and popcnt r, r/m: the register from the r/m
		 * operand, 16/32/64 bits by 66 and REX.W. */
		bool lsl = insn[i + 1] == 0x03;
		size_t n = decode_modrm(insn, len, i + 2, rex, &out->reg, &out->rm);

		if (!n)
			return;
		out->rm.segment = segment;
		out->op_size = (rex & 8) ? 8 : opsize16 ? 2 : 4;
		set(out, lsl ? UNEMULATED_LSL : UNEMULATED_POPCNT, i + 2 + n, lsl ? "lsl" : "popcnt");
		return;
	}
	if ((insn[i + 1] == 0xC7 && ((insn[i + 2] >> 3) & 7) == 1) ||
	    (insn[i + 1] == 0xAE && ((insn[i + 2] >> 3) & 7) >= 2 &&
	     ((insn[i + 2] >> 3) & 7) <= 3)) {
		/* cmpxchg8b/16b m, ldmxcsr m32, stmxcsr m32: memory forms only. */
		bool cx = insn[i + 1] == 0xC7, ld = ((insn[i + 2] >> 3) & 7) == 2;
		size_t n = decode_modrm(insn, len, i + 2, rex, &out->reg, &out->rm);

		if (!n || !out->rm.is_mem) {
			set(out, UNEMULATED_UNKNOWN, i + 3, cx ? "0f c7 group" : "0f ae group");
			return;
		}
		out->rm.segment = segment;
		out->op_size = cx ? ((rex & 8) ? 16 : 8) : 4;
		if (cx)
			set(out, UNEMULATED_CMPXCHG_DOUBLE, i + 2 + n,
			    (rex & 8) ? "cmpxchg16b" : "cmpxchg8b");
		else
			set(out, ld ? UNEMULATED_LDMXCSR : UNEMULATED_STMXCSR, i + 2 + n,
			    ld ? "ldmxcsr" : "stmxcsr");
		return;
	}
	if (insn[i + 1] == 0xAE && (insn[i + 2] >> 6) != 3 && ((insn[i + 2] >> 3) & 7) >= 4 &&
	    ((insn[i + 2] >> 3) & 7) <= 6 && !opsize16 && !rep && !repne) {
		/* 0F AE /4 xsave, /5 xrstor, /6 xsaveopt (memory forms; with a
		 * 66 prefix /6 is clwb): #UD when CR4.OSXSAVE = 0. */
		static const char *const names[3] = { "xsave", "xrstor", "xsaveopt" };
		unsigned int op = ((insn[i + 2] >> 3) & 7) - 4;
		size_t n = decode_modrm(insn, len, i + 2, rex, &out->reg, &out->rm);

		if (!n) {
			set(out, UNEMULATED_UNKNOWN, i + 3, names[op]);
			return;
		}
		out->rm.segment = segment;
		out->op_size = (rex & 8) ? 8 : 4; /* the x87 FIP/FDP format */
		set(out, !cpu->osxsave ? UNEMULATED_UD : op == 1 ? UNEMULATED_XRSTOR : UNEMULATED_XSAVE,
		    i + 2 + n, names[op]);
		return;
	}
	if (insn[i + 1] == 0x01)
		classify_0f01(insn[i + 2], i + 3, cpu, out);
	else if (insn[i + 1] == 0xAE)
		set(out, UNEMULATED_UNKNOWN, i + 3, "0f ae group");
	else if (insn[i + 1] == 0xC7 && (insn[i + 2] >> 6) != 3 && ((insn[i + 2] >> 3) & 7) >= 3 &&
		 ((insn[i + 2] >> 3) & 7) <= 5)
		/* The compacted forms: minivmm asks Linux not to use them. */
		set(out, UNEMULATED_UNKNOWN, i + 3,
		    ((insn[i + 2] >> 3) & 7) == 3 ? "xrstors" : ((insn[i + 2] >> 3) & 7) == 4 ? "xsavec"
											 : "xsaves");
}

const char *unemulated_kind_name(enum unemulated_kind kind)
{
	switch (kind) {
	case UNEMULATED_INT3: return "int3 -> #BP injected";
	case UNEMULATED_FWAIT: return "fwait -> skipped";
	case UNEMULATED_UD: return "#UD injected";
	case UNEMULATED_CLAC: return "clac -> RFLAGS.AC cleared";
	case UNEMULATED_STAC: return "stac -> RFLAGS.AC set";
	case UNEMULATED_POPCNT: return "popcnt -> computed by minivmm";
	case UNEMULATED_CMPXCHG_DOUBLE: return "cmpxchg8b/16b -> locked on the host";
	case UNEMULATED_LDMXCSR: return "ldmxcsr -> MXCSR set";
	case UNEMULATED_STMXCSR: return "stmxcsr -> MXCSR stored";
	case UNEMULATED_XSAVE: return "xsave -> state stored through KVM_GET_XSAVE";
	case UNEMULATED_XRSTOR: return "xrstor -> state loaded through KVM_SET_XSAVE";
	case UNEMULATED_LSL: return "lsl -> limit read from the descriptor table";
	default: return "unsupported";
	}
}

bool x86_lsl_limit(uint64_t desc, uint16_t sel, unsigned int cpl, uint32_t *limit)
{
	unsigned int type = (desc >> 40) & 0xF, dpl = (desc >> 45) & 3, rpl = sel & 3;
	bool system = !((desc >> 44) & 1);
	uint32_t lim = (uint32_t)(desc & 0xFFFF) | (uint32_t)((desc >> 48) & 0xF) << 16;

	if (system) {
		/* IA-32e mode: LDT (2), available (9) and busy (B) 64-bit TSS. */
		if (type != 2 && type != 9 && type != 0xB)
			return false;
		if (dpl < cpl || dpl < rpl)
			return false;
	} else if ((type & 0xC) != 0xC && (dpl < cpl || dpl < rpl)) {
		return false;	/* not conforming code: DPL must be visible */
	}
	if ((desc >> 55) & 1)	/* G: 4 KiB granularity */
		lim = lim << 12 | 0xFFF;
	*limit = lim;
	return true;
}