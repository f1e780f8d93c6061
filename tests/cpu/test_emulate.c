// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/emulate.h"

static const struct guest_cpu_features plain = { .smap = false, .osxsave = false };
static const struct guest_cpu_features full = { .smap = true, .osxsave = true };

static struct unemulated classify(const uint8_t *b, size_t n, const struct guest_cpu_features *c)
{
	struct unemulated u;

	x86_classify_unemulated(b, n, c, &u);
	return u;
}

static void test_int3_and_fwait(void **state)
{
	const uint8_t int3[] = { 0xCC, 0x90 }, fwait[] = { 0x9B }, pfx_int3[] = { 0x66, 0x48, 0xCC };
	struct unemulated u = classify(int3, sizeof(int3), &plain);

	assert_int_equal(u.kind, UNEMULATED_INT3);
	assert_int_equal(u.len, 1);
	assert_string_equal(u.name, "int3");
	u = classify(fwait, sizeof(fwait), &plain);
	assert_int_equal(u.kind, UNEMULATED_FWAIT);
	assert_int_equal(u.len, 1);
	/* Prefixes and REX count towards the length RIP must skip. */
	u = classify(pfx_int3, sizeof(pfx_int3), &plain);
	assert_int_equal(u.kind, UNEMULATED_INT3);
	assert_int_equal(u.len, 3);
}

static void test_ud_cases(void **state)
{
	const uint8_t ud2[] = { 0x0F, 0x0B }, clac[] = { 0x0F, 0x01, 0xCA };
	const uint8_t stac[] = { 0x0F, 0x01, 0xCB }, xgetbv[] = { 0x0F, 0x01, 0xD0 };
	/* xrstor (%rdi) with REX.W: 48 0f ae 2f */
	const uint8_t xrstor[] = { 0x48, 0x0F, 0xAE, 0x2F }, xsave[] = { 0x0F, 0xAE, 0x27 };

	assert_int_equal(classify(ud2, 2, &plain).kind, UNEMULATED_UD);
	assert_int_equal(classify(clac, 3, &plain).kind, UNEMULATED_UD);
	assert_string_equal(classify(clac, 3, &plain).name, "clac");
	assert_int_equal(classify(stac, 3, &plain).kind, UNEMULATED_UD);
	assert_int_equal(classify(xgetbv, 3, &plain).kind, UNEMULATED_UD);
	assert_int_equal(classify(xrstor, 4, &plain).kind, UNEMULATED_UD);
	assert_string_equal(classify(xrstor, 4, &plain).name, "xrstor");
	assert_int_equal(classify(xsave, 3, &plain).kind, UNEMULATED_UD);
	/* With the feature present the instruction is legal: minivmm must not
	 * invent a #UD; clac/stac and the standard-form xsave family it
	 * completes. */
	assert_int_equal(classify(clac, 3, &full).kind, UNEMULATED_CLAC);
	assert_int_equal(classify(stac, 3, &full).kind, UNEMULATED_STAC);
	assert_int_equal(classify(clac, 3, &full).len, 3);
	assert_int_equal(classify(xrstor, 4, &full).kind, UNEMULATED_XRSTOR);
	assert_int_equal(classify(xgetbv, 3, &full).kind, UNEMULATED_UNKNOWN);
}

static void test_unknown_and_truncated(void **state)
{
	const uint8_t mov[] = { 0x48, 0x89, 0xC8 }, fxsave_reg[] = { 0x0F, 0xAE, 0xE8 };
	const uint8_t only_prefixes[] = { 0x66, 0x66, 0xF3 }, half[] = { 0x0F, 0x01 };

	assert_int_equal(classify(mov, 3, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(fxsave_reg, 3, &plain).kind, UNEMULATED_UNKNOWN); /* lfence */
	assert_int_equal(classify(only_prefixes, 3, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(half, 2, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(NULL, 0, &plain).kind, UNEMULATED_UNKNOWN);
}

/* Stock Debian kernels: SLUB's cmpxchg_double, and the FPU-begin path's
 * ldmxcsr (issue: docs/booting-linux.md's instruction table). */
static void test_cmpxchg_double_and_mxcsr(void **state)
{
	/* lock cmpxchg16b (%rsi): f0 48 0f c7 0e */
	const uint8_t cx16[] = { 0xF0, 0x48, 0x0F, 0xC7, 0x0E };
	/* lock cmpxchg8b 0x10(%rdi,%rcx,8): f0 0f c7 4c cf 10 */
	const uint8_t cx8[] = { 0xF0, 0x0F, 0xC7, 0x4C, 0xCF, 0x10 };
	/* ldmxcsr 0x4(%rsp): 0f ae 54 24 04 (the one seen in the wild) */
	const uint8_t ld[] = { 0x0F, 0xAE, 0x54, 0x24, 0x04 };
	/* stmxcsr %gs:0x100(%rip): 65 0f ae 1d 00 01 00 00 */
	const uint8_t st[] = { 0x65, 0x0F, 0xAE, 0x1D, 0x00, 0x01, 0x00, 0x00 };
	/* Register forms are other instructions (rdrand is 0f c7 /6; /1 with
	 * mod 3 is #UD), and a cut-short operand is unknown. */
	const uint8_t cx_reg[] = { 0x0F, 0xC7, 0xC8 }, rdrand[] = { 0x0F, 0xC7, 0xF0 };
	struct unemulated u = classify(cx16, sizeof(cx16), &plain);

	(void)state;
	assert_int_equal(u.kind, UNEMULATED_CMPXCHG_DOUBLE);
	assert_string_equal(u.name, "cmpxchg16b");
	assert_int_equal(u.op_size, 16);
	assert_int_equal(u.len, 5);
	assert_true(u.rm.is_mem);
	assert_int_equal(u.rm.base, 6); /* rsi */
	u = classify(cx8, sizeof(cx8), &plain);
	assert_int_equal(u.kind, UNEMULATED_CMPXCHG_DOUBLE);
	assert_string_equal(u.name, "cmpxchg8b");
	assert_int_equal(u.op_size, 8);
	assert_int_equal(u.len, 6);
	assert_int_equal(u.rm.base, 7);
	assert_int_equal(u.rm.index, 1);
	assert_int_equal(u.rm.scale, 8);
	assert_int_equal(u.rm.disp, 0x10);
	u = classify(ld, sizeof(ld), &plain);
	assert_int_equal(u.kind, UNEMULATED_LDMXCSR);
	assert_int_equal(u.op_size, 4);
	assert_int_equal(u.len, 5);
	assert_int_equal(u.rm.base, 4);
	assert_int_equal(u.rm.disp, 4);
	u = classify(st, sizeof(st), &plain);
	assert_int_equal(u.kind, UNEMULATED_STMXCSR);
	assert_int_equal(u.len, 8);
	assert_true(u.rm.rip_relative);
	assert_int_equal(u.rm.segment, 5);
	assert_int_equal(classify(cx_reg, 3, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(rdrand, 3, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(cx16, 4, &plain).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(ld, 4, &plain).kind, UNEMULATED_UNKNOWN);
	assert_string_equal(unemulated_kind_name(UNEMULATED_CMPXCHG_DOUBLE),
			    "cmpxchg8b/16b -> locked on the host");
}

/* The xsave family: the memory operand is decoded like any other; the
 * mandatory-prefix and register forms are other instructions. */
static void test_xsave_family(void **state)
{
	/* xsaveopt64 0x40(%rdi): 48 0f ae 77 40; xsave (%rsp): 0f ae 24 24 */
	const uint8_t xsaveopt[] = { 0x48, 0x0F, 0xAE, 0x77, 0x40 };
	const uint8_t xsave[] = { 0x0F, 0xAE, 0x24, 0x24 };
	/* xrstor64 (%rdi) */
	const uint8_t xrstor[] = { 0x48, 0x0F, 0xAE, 0x2F };
	/* clwb (%rax) is 66 0f ae 30; sfence is 0f ae f8 (/7 register);
	 * xsavec (%rdi) 0f c7 27, xrstors 48 0f c7 1f, xsaves 0f c7 2f */
	const uint8_t clwb[] = { 0x66, 0x0F, 0xAE, 0x30 }, sfence[] = { 0x0F, 0xAE, 0xF8 };
	const uint8_t xsavec[] = { 0x0F, 0xC7, 0x27 }, xrstors[] = { 0x48, 0x0F, 0xC7, 0x1F };
	const uint8_t xsaves[] = { 0x0F, 0xC7, 0x2F };
	struct unemulated u = classify(xsaveopt, sizeof(xsaveopt), &full);

	(void)state;
	assert_int_equal(u.kind, UNEMULATED_XSAVE);
	assert_string_equal(u.name, "xsaveopt");
	assert_int_equal(u.len, 5);
	assert_int_equal(u.op_size, 8);
	assert_int_equal(u.rm.base, 7);
	assert_int_equal(u.rm.disp, 0x40);
	u = classify(xsave, sizeof(xsave), &full);
	assert_int_equal(u.kind, UNEMULATED_XSAVE);
	assert_string_equal(u.name, "xsave");
	assert_int_equal(u.len, 4);
	assert_int_equal(u.op_size, 4);
	assert_int_equal(u.rm.base, 4);
	assert_int_equal(u.rm.index, -1);
	u = classify(xrstor, sizeof(xrstor), &full);
	assert_int_equal(u.kind, UNEMULATED_XRSTOR);
	assert_int_equal(u.len, 4);
	assert_int_equal(classify(xrstor, 3, &full).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(clwb, sizeof(clwb), &full).kind, UNEMULATED_UNKNOWN);
	assert_int_equal(classify(sfence, sizeof(sfence), &full).kind, UNEMULATED_UNKNOWN);
	assert_string_equal(classify(xsavec, 3, &full).name, "xsavec");
	assert_int_equal(classify(xsavec, 3, &full).kind, UNEMULATED_UNKNOWN);
	assert_string_equal(classify(xrstors, 4, &full).name, "xrstors");
	assert_string_equal(classify(xsaves, 3, &full).name, "xsaves");
}

/* Descriptor fields, as the SDM draws them. */
static uint64_t desc(uint32_t limit, unsigned int type, bool s, unsigned int dpl, bool g)
{
	return (uint64_t)(limit & 0xFFFF) | (uint64_t)((limit >> 16) & 0xF) << 48 |
	       (uint64_t)type << 40 | (uint64_t)s << 44 | (uint64_t)dpl << 45 | 1ULL << 47 |
	       1ULL << 54 | (uint64_t)g << 55;
}

static void test_lsl(void **state)
{
	/* Linux's paranoid entry: lsl %eax, %eax with EAX = 0x7b (GDT entry
	 * 15, the per-CPU "cpunode" segment, RPL 3). */
	static const uint8_t lsl_eax[] = { 0x0F, 0x03, 0xC0 };
	static const uint8_t lsl_rex[] = { 0x48, 0x0F, 0x03, 0x06 };   /* lsl rax, [rsi] */
	static const uint8_t lsl_16[] = { 0x66, 0x0F, 0x03, 0xCA };    /* lsl cx, dx */
	struct unemulated u = classify(lsl_eax, sizeof(lsl_eax), &plain);
	uint32_t limit = 0;

	(void)state;
	assert_int_equal(u.kind, UNEMULATED_LSL);
	assert_int_equal(u.len, 3);
	assert_int_equal(u.op_size, 4);
	assert_int_equal(u.reg, 0);
	assert_false(u.rm.is_mem);
	u = classify(lsl_rex, sizeof(lsl_rex), &plain);
	assert_int_equal(u.kind, UNEMULATED_LSL);
	assert_int_equal(u.op_size, 8);
	assert_true(u.rm.is_mem);
	assert_int_equal(u.rm.base, 6);
	u = classify(lsl_16, sizeof(lsl_16), &plain);
	assert_int_equal(u.op_size, 2);
	assert_int_equal(u.reg, 1);
	assert_int_equal(u.rm.reg, 2);
	assert_int_equal(classify(lsl_eax, 2, &plain).kind, UNEMULATED_UNKNOWN); /* truncated */

	/* The cpunode segment of CPU 3, node 1: read-only data, DPL 3. */
	assert_true(x86_lsl_limit(desc(3 | 1 << 12, 5, true, 3, false), 0x7B, 0, &limit));
	assert_int_equal(limit, 3 | 1 << 12);
	/* Byte vs page granularity. */
	assert_true(x86_lsl_limit(desc(0xFFFFF, 3, true, 0, true), 0x18, 0, &limit));
	assert_int_equal(limit, 0xFFFFFFFFu);
	/* A DPL 0 data segment is invisible with RPL 3 or at CPL 3. */
	assert_false(x86_lsl_limit(desc(0xFFFF, 3, true, 0, false), 0x1B, 0, &limit));
	assert_false(x86_lsl_limit(desc(0xFFFF, 3, true, 0, false), 0x18, 3, &limit));
	/* Conforming code is visible at any level. */
	assert_true(x86_lsl_limit(desc(0xFFFF, 0xE, true, 0, false), 0x13, 3, &limit));
	/* System descriptors: a 64-bit TSS (available, busy) and an LDT are,
	 * a gate (0xE) and a 16-bit TSS (1) are not. */
	assert_true(x86_lsl_limit(desc(0x67, 9, false, 0, false), 0x40, 0, &limit));
	assert_int_equal(limit, 0x67);
	assert_true(x86_lsl_limit(desc(0x67, 0xB, false, 0, false), 0x40, 0, &limit));
	assert_true(x86_lsl_limit(desc(0xFF, 2, false, 0, false), 0x50, 0, &limit));
	assert_false(x86_lsl_limit(desc(0, 0xE, false, 0, false), 0x60, 0, &limit));
	assert_false(x86_lsl_limit(desc(0x67, 1, false, 0, false), 0x40, 0, &limit));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int3_and_fwait),
		cmocka_unit_test(test_ud_cases),
		cmocka_unit_test(test_unknown_and_truncated),
		cmocka_unit_test(test_cmpxchg_double_and_mxcsr),
		cmocka_unit_test(test_xsave_family),
		cmocka_unit_test(test_lsl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
