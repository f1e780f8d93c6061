// SPDX-License-Identifier: MIT
/*
 * x86-64 registers for gdb (gdb_regs.h).  One table drives the 'g' layout,
 * the register numbers and the XML; gdb matches registers by name, and its
 * amd64 code requires every core and x87 name below.
 */
#include "debug/gdb_regs.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

enum reg_kind { GPR, RIP, EFLAGS, SEL, ST, FPCTL, XMM, MXCSR, SEGBASE, KGSBASE, CR, EFER };
enum feature { CORE, SSE, SEGMENTS, SYS, NR_FEATURES };

struct reg_def {
	const char *name;
	uint8_t size;
	uint8_t feature;
	uint8_t kind;
	uint8_t idx;
	const char *type;
	const char *group;   /* NULL: gdb's default for the type */
};

#define G(n, i)  { n, 8, CORE, GPR, i, "int64", NULL }
#define S(n, i)  { n, 4, CORE, SEL, i, "int32", NULL }
#define F(n, i)  { n, 10, CORE, ST, i, "i387_ext", NULL }
#define FC(n, i) { n, 4, CORE, FPCTL, i, "int", "float" }
#define X(n, i)  { n, 16, SSE, XMM, i, "vec128", NULL }
#define C(n, i)  { n, 8, SYS, CR, i, "int64", "system" }

/* GPR numbers follow gdb's order; the accessor maps them to kvm_regs. */
static const struct reg_def regs[] = {
	G("rax", 0), G("rbx", 1), G("rcx", 2), G("rdx", 3),
	G("rsi", 4), G("rdi", 5), { "rbp", 8, CORE, GPR, 6, "data_ptr", NULL },
	{ "rsp", 8, CORE, GPR, 7, "data_ptr", NULL },
	G("r8", 8), G("r9", 9), G("r10", 10), G("r11", 11),
	G("r12", 12), G("r13", 13), G("r14", 14), G("r15", 15),
	{ "rip", 8, CORE, RIP, 0, "code_ptr", NULL },
	{ "eflags", 4, CORE, EFLAGS, 0, "i386_eflags", NULL },
	S("cs", 0), S("ss", 1), S("ds", 2), S("es", 3), S("fs", 4), S("gs", 5),
	F("st0", 0), F("st1", 1), F("st2", 2), F("st3", 3),
	F("st4", 4), F("st5", 5), F("st6", 6), F("st7", 7),
	FC("fctrl", 0), FC("fstat", 1), FC("ftag", 2), FC("fiseg", 3),
	FC("fioff", 4), FC("foseg", 5), FC("fooff", 6), FC("fop", 7),
	X("xmm0", 0), X("xmm1", 1), X("xmm2", 2), X("xmm3", 3),
	X("xmm4", 4), X("xmm5", 5), X("xmm6", 6), X("xmm7", 7),
	X("xmm8", 8), X("xmm9", 9), X("xmm10", 10), X("xmm11", 11),
	X("xmm12", 12), X("xmm13", 13), X("xmm14", 14), X("xmm15", 15),
	{ "mxcsr", 4, SSE, MXCSR, 0, "i386_mxcsr", "vector" },
	{ "fs_base", 8, SEGMENTS, SEGBASE, 0, "int", NULL },
	{ "gs_base", 8, SEGMENTS, SEGBASE, 1, "int", NULL },
	{ "k_gs_base", 8, SYS, KGSBASE, 0, "int64", "system" },
	C("cr0", 0), C("cr2", 2), C("cr3", 3), C("cr4", 4), C("cr8", 8),
	{ "efer", 8, SYS, EFER, 0, "int64", "system" },
};

static const char *const feature_names[NR_FEATURES] = {
	"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
	"org.gnu.gdb.i386.segments", "org.minivmm.x86.sys",
};

unsigned int gdb_regs_count(void)
{
	return ARRAY_SIZE(regs);
}

size_t gdb_regs_size(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		n += regs[i].size;
	return n;
}

size_t gdb_reg_size(unsigned int n)
{
	return n < ARRAY_SIZE(regs) ? regs[n].size : 0;
}

const char *gdb_reg_name(unsigned int n)
{
	return n < ARRAY_SIZE(regs) ? regs[n].name : NULL;
}

static __u64 *gpr(struct kvm_regs *r, unsigned int i)
{
	__u64 *const map[16] = {
		&r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rbp, &r->rsp,
		&r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return map[i & 15];
}

static struct kvm_segment *sel(struct kvm_sregs *s, unsigned int i)
{
	struct kvm_segment *const map[6] = { &s->cs, &s->ss, &s->ds, &s->es, &s->fs, &s->gs };

	return map[i % 6];
}

static __u64 *cr(struct kvm_sregs *s, unsigned int i)
{
	switch (i) {
	case 0:
		return &s->cr0;
	case 2:
		return &s->cr2;
	case 3:
		return &s->cr3;
	case 4:
		return &s->cr4;
	default:
		return &s->cr8;
	}
}

/*
 * FXSAVE keeps an abridged tag (one bit per physical register: in use);
 * gdb shows the full tag word, two bits per physical register: 00 valid,
 * 01 zero, 10 special, 11 empty.  ST(i) is physical register (TOP+i) & 7.
 */
static uint16_t full_tag(const struct kvm_fpu *f)
{
	unsigned int top = (f->fsw >> 11) & 7;
	uint16_t tag = 0;

	for (unsigned int phys = 0; phys < 8; phys++) {
		const uint8_t *st = f->fpr[(phys - top) & 7];
		uint16_t exp = (uint16_t)((st[9] & 0x7F) << 8 | st[8]);
		uint64_t mant;
		unsigned int t;

		memcpy(&mant, st, sizeof(mant));
		if (!(f->ftwx & (1u << phys)))
			t = 3;
		else if (exp == 0x7FFF)
			t = 2;
		else if (exp == 0 && mant == 0)
			t = 1;
		else if (exp == 0 || !(mant >> 63))
			t = 2;	/* denormal or unnormal */
		else
			t = 0;
		tag |= (uint16_t)(t << (2 * phys));
	}
	return tag;
}

static uint8_t abridged_tag(uint16_t full)
{
	uint8_t t = 0;

	for (unsigned int phys = 0; phys < 8; phys++)
		if (((full >> (2 * phys)) & 3) != 3)
			t |= (uint8_t)(1u << phys);
	return t;
}

static uint32_t fpctl_get(const struct kvm_fpu *f, unsigned int i)
{
	switch (i) {
	case 0:
		return f->fcw;
	case 1:
		return f->fsw;
	case 2:
		return full_tag(f);
	case 3:
		return (uint32_t)(f->last_ip >> 32);
	case 4:
		return (uint32_t)f->last_ip;
	case 5:
		return (uint32_t)(f->last_dp >> 32);
	case 6:
		return (uint32_t)f->last_dp;
	default:
		return f->last_opcode;
	}
}

static void fpctl_set(struct kvm_fpu *f, unsigned int i, uint32_t v)
{
	switch (i) {
	case 0:
		f->fcw = (__u16)v;
		break;
	case 1:
		f->fsw = (__u16)v;
		break;
	case 2:
		f->ftwx = abridged_tag((uint16_t)v);
		break;
	case 3:
		f->last_ip = (f->last_ip & 0xFFFFFFFFULL) | (uint64_t)v << 32;
		break;
	case 4:
		f->last_ip = (f->last_ip & ~0xFFFFFFFFULL) | v;
		break;
	case 5:
		f->last_dp = (f->last_dp & 0xFFFFFFFFULL) | (uint64_t)v << 32;
		break;
	case 6:
		f->last_dp = (f->last_dp & ~0xFFFFFFFFULL) | v;
		break;
	default:
		f->last_opcode = (__u16)v;
		break;
	}
}

/* Where register n lives, for the kinds stored as plain bytes. */
static void *plain(struct gdb_x86_state *s, const struct reg_def *d)
{
	switch (d->kind) {
	case GPR:
		return gpr(&s->regs, d->idx);
	case RIP:
		return &s->regs.rip;
	case ST:
		return s->fpu.fpr[d->idx];
	case XMM:
		return s->fpu.xmm[d->idx];
	case MXCSR:
		return &s->fpu.mxcsr;
	case SEGBASE:
		return d->idx ? &s->sregs.gs.base : &s->sregs.fs.base;
	case KGSBASE:
		return &s->kernel_gs_base;
	case CR:
		return cr(&s->sregs, d->idx);
	case EFER:
		return &s->sregs.efer;
	default:
		return NULL;
	}
}

size_t gdb_reg_get(const struct gdb_x86_state *s, unsigned int n, uint8_t *out)
{
	/* The accessors are shared with gdb_reg_set; nothing is written. */
	struct gdb_x86_state *m = (struct gdb_x86_state *)s;
	const struct reg_def *d;
	uint32_t v32;
	void *p;

	if (n >= ARRAY_SIZE(regs))
		return 0;
	d = &regs[n];
	p = plain(m, d);
	if (p) {
		memcpy(out, p, d->size);
		return d->size;
	}
	if (d->kind == EFLAGS)
		v32 = (uint32_t)s->regs.rflags;
	else if (d->kind == SEL)
		v32 = sel(&m->sregs, d->idx)->selector;
	else
		v32 = fpctl_get(&s->fpu, d->idx);
	memcpy(out, &v32, sizeof(v32));
	return d->size;
}

size_t gdb_reg_set(struct gdb_x86_state *s, unsigned int n, const uint8_t *in)
{
	const struct reg_def *d;
	uint32_t v32;
	void *p;

	if (n >= ARRAY_SIZE(regs))
		return 0;
	d = &regs[n];
	p = plain(s, d);
	if (p) {
		memcpy(p, in, d->size);
		return d->size;
	}
	memcpy(&v32, in, sizeof(v32));
	if (d->kind == EFLAGS)
		s->regs.rflags = (s->regs.rflags & ~0xFFFFFFFFULL) | v32;
	else if (d->kind == SEL)
		sel(&s->sregs, d->idx)->selector = (__u16)v32;
	else
		fpctl_set(&s->fpu, d->idx, v32);
	return d->size;
}

/* ---- target.xml --------------------------------------------------------- */

struct xml {
	char *buf;
	size_t cap, len;
	bool overflow;
};

__attribute__((format(printf, 2, 3)))
static void put(struct xml *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(x->buf + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= x->cap - x->len)
		x->overflow = true;
	else
		x->len += (size_t)n;
}

struct flag_bit {
	const char *name;
	uint8_t start, end;
};

static const struct flag_bit eflags_bits[] = {
	{ "CF", 0, 0 }, { "", 1, 1 }, { "PF", 2, 2 }, { "AF", 4, 4 }, { "ZF", 6, 6 },
	{ "SF", 7, 7 }, { "TF", 8, 8 }, { "IF", 9, 9 }, { "DF", 10, 10 }, { "OF", 11, 11 },
	{ "IOPL", 12, 13 }, { "NT", 14, 14 }, { "RF", 16, 16 }, { "VM", 17, 17 },
	{ "AC", 18, 18 }, { "VIF", 19, 19 }, { "VIP", 20, 20 }, { "ID", 21, 21 },
};

static const struct flag_bit mxcsr_bits[] = {
	{ "IE", 0, 0 }, { "DE", 1, 1 }, { "ZE", 2, 2 }, { "OE", 3, 3 }, { "UE", 4, 4 },
	{ "PE", 5, 5 }, { "DAZ", 6, 6 }, { "IM", 7, 7 }, { "DM", 8, 8 }, { "ZM", 9, 9 },
	{ "OM", 10, 10 }, { "UM", 11, 11 }, { "PM", 12, 12 }, { "RC", 13, 14 },
	{ "FZ", 15, 15 },
};

static void put_flags(struct xml *x, const char *id, const struct flag_bit *b, size_t n)
{
	put(x, "<flags id=\"%s\" size=\"4\">", id);
	for (size_t i = 0; i < n; i++)
		put(x, "<field name=\"%s\" start=\"%u\" end=\"%u\"/>", b[i].name, b[i].start,
		    b[i].end);
	put(x, "</flags>");
}

static void put_vec128(struct xml *x)
{
	static const char *const vec[][3] = {
		{ "v4f", "ieee_single", "4" }, { "v2d", "ieee_double", "2" },
		{ "v16i8", "int8", "16" }, { "v8i16", "int16", "8" },
		{ "v4i32", "int32", "4" }, { "v2i64", "int64", "2" },
	};
	static const char *const fields[][2] = {
		{ "v4_float", "v4f" }, { "v2_double", "v2d" }, { "v16_int8", "v16i8" },
		{ "v8_int16", "v8i16" }, { "v4_int32", "v4i32" }, { "v2_int64", "v2i64" },
		{ "uint128", "uint128" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(vec); i++)
		put(x, "<vector id=\"%s\" type=\"%s\" count=\"%s\"/>", vec[i][0], vec[i][1],
		    vec[i][2]);
	put(x, "<union id=\"vec128\">");
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		put(x, "<field name=\"%s\" type=\"%s\"/>", fields[i][0], fields[i][1]);
	put(x, "</union>");
}

size_t gdb_target_xml(char *buf, size_t cap)
{
	struct xml x = { .buf = buf, .cap = cap };

	put(&x, "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
		"<target version=\"1.0\"><architecture>i386:x86-64</architecture>");
	for (unsigned int f = 0; f < NR_FEATURES; f++) {
		put(&x, "<feature name=\"%s\">", feature_names[f]);
		if (f == CORE)
			put_flags(&x, "i386_eflags", eflags_bits, ARRAY_SIZE(eflags_bits));
		if (f == SSE) {
			put_vec128(&x);
			put_flags(&x, "i386_mxcsr", mxcsr_bits, ARRAY_SIZE(mxcsr_bits));
		}
		for (unsigned int i = 0; i < ARRAY_SIZE(regs); i++) {
			if (regs[i].feature != f)
				continue;
			put(&x, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"",
			    regs[i].name, regs[i].size * 8u, regs[i].type, i);
			if (regs[i].group)
				put(&x, " group=\"%s\"", regs[i].group);
			put(&x, "/>");
		}
		put(&x, "</feature>");
	}
	put(&x, "</target>");
	return x.overflow ? 0 : x.len;
}
