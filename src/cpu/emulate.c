// SPDX-License-Identifier: MIT
#include "emulate.h"

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

/* 0F AE /r, memory forms: fxsave..clflush; xsave family is /4 /5 /6. */
static void classify_0fae(uint8_t modrm, size_t len, const struct guest_cpu_features *cpu,
			  struct unemulated *out)
{
	static const char *const names[8] = {
		"fxsave", "fxrstor", "ldmxcsr", "stmxcsr", "xsave", "xrstor", "xsaveopt", "clflush",
	};
	unsigned int reg = (modrm >> 3) & 7;

	if ((modrm >> 6) != 3 && reg >= 4 && reg <= 6) {
		/* XSAVE/XRSTOR/XSAVEOPT: #UD when CR4.OSXSAVE = 0. */
		set(out, cpu->osxsave ? UNEMULATED_UNKNOWN : UNEMULATED_UD, len, names[reg]);
		return;
	}
	set(out, UNEMULATED_UNKNOWN, len, (modrm >> 6) != 3 ? names[reg] : "0f ae group");
}

void x86_classify_unemulated(const uint8_t *insn, size_t len,
			     const struct guest_cpu_features *cpu, struct unemulated *out)
{
	size_t i = 0;

	set(out, UNEMULATED_UNKNOWN, 0, "unknown");
	while (i < len && i < 14 && is_legacy_prefix(insn[i]))
		i++;
	if (i < len && (insn[i] & 0xF0) == 0x40) /* REX */
		i++;
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
	if (insn[i + 1] == 0x01)
		classify_0f01(insn[i + 2], i + 3, cpu, out);
	else if (insn[i + 1] == 0xAE)
		classify_0fae(insn[i + 2], i + 3, cpu, out);
}

const char *unemulated_kind_name(enum unemulated_kind kind)
{
	switch (kind) {
	case UNEMULATED_INT3: return "int3 -> #BP injected";
	case UNEMULATED_FWAIT: return "fwait -> skipped";
	case UNEMULATED_UD: return "#UD injected";
	case UNEMULATED_CLAC: return "clac -> RFLAGS.AC cleared";
	case UNEMULATED_STAC: return "stac -> RFLAGS.AC set";
	default: return "unsupported";
	}
}
