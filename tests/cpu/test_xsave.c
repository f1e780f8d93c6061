// SPDX-License-Identifier: MIT
/* XSAVE/XRSTOR standard-form rules (src/cpu/xsave.c) on buffers, with a
 * fixed AVX + AVX-512 layout (the one this project's hosts have) and the
 * host's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/xsave.h"

#define AREA 2688

/* x87, SSE, AVX at 576, opmask at 1088, ZMM_Hi256 at 1152, Hi16_ZMM at
 * 1664 (Intel's standard offsets for XCR0 = 0xE7). */
static void avx512_layout(struct xsave_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->known = 0xE7;
	l->size[0] = 160;
	l->offset[1] = 160;
	l->size[1] = 256;
	l->offset[2] = 576;
	l->size[2] = 256;
	l->offset[5] = 1088;
	l->size[5] = 64;
	l->offset[6] = 1152;
	l->size[6] = 512;
	l->offset[7] = 1664;
	l->size[7] = 1024;
}

static uint64_t bv_of(const uint8_t *a)
{
	uint64_t v;

	memcpy(&v, a + XSAVE_HEADER, 8);
	return v;
}

static void set_bv(uint8_t *a, uint64_t v)
{
	memcpy(a + XSAVE_HEADER, &v, 8);
}

static void test_layout_and_extent(void **state)
{
	struct xsave_layout l, host;

	(void)state;
	avx512_layout(&l);
	assert_int_equal(xsave_extent(&l, 3), 576);
	assert_int_equal(xsave_extent(&l, 7), 832);
	assert_int_equal(xsave_extent(&l, 0xE7), AREA);
	/* Components the layout does not know never widen the area. */
	assert_int_equal(xsave_extent(&l, 1ULL << 9), 576);
	xsave_layout_host(&host);
	assert_true((host.known & 3) == 3);
	assert_int_equal(host.offset[1], 160);
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++)
		if (host.known & (1ULL << i))
			assert_true(host.offset[i] >= 576 && host.size[i] > 0);
}

/* XSAVE writes exactly the requested components, merges XSTATE_BV, and
 * leaves the rest of the area (header, bytes 416-511, other components)
 * alone. */
static void test_store(void **state)
{
	static uint8_t st[4096], area[4096];
	struct xsave_layout l;

	(void)state;
	avx512_layout(&l);
	memset(st, 0xAA, sizeof(st));
	set_bv(st, 0xE7);
	memset(area, 0x55, sizeof(area));
	memset(area + XSAVE_HEADER, 0, 64);
	set_bv(area, 1ULL << 5); /* opmask recorded by an earlier save */
	xsave_store(&l, st, 0x7, area); /* x87, SSE, AVX */
	assert_int_equal(area[0], 0xAA);       /* FCW */
	assert_int_equal(area[24], 0xAA);      /* MXCSR */
	assert_int_equal(area[200], 0xAA);     /* XMM */
	assert_int_equal(area[600], 0xAA);     /* YMM_Hi128 */
	assert_int_equal(area[420], 0x55);     /* 416-511: not XSAVE's */
	assert_int_equal(area[1100], 0x55);    /* opmask: not requested */
	assert_int_equal(area[1700], 0x55);
	assert_true(bv_of(area) == ((1ULL << 5) | 7));
	/* An init component (bit clear in the state) clears its bit. */
	set_bv(st, 0x3);
	xsave_store(&l, st, 0x4, area);
	assert_true(bv_of(area) == ((1ULL << 5) | 3));
	/* AVX alone still carries MXCSR, not the x87 or XMM bytes. */
	memset(st, 0x11, 32);
	memset(area, 0x22, 32);
	set_bv(st, 0x7);
	xsave_store(&l, st, 0x4, area);
	assert_int_equal(area[0], 0x22);
	assert_int_equal(area[24], 0x11);
}

/* XRSTOR loads what XSTATE_BV has, initializes the rest of RFBM, leaves
 * components outside RFBM alone; MXCSR comes with SSE or AVX. */
static void test_load(void **state)
{
	static uint8_t st[4096], area[4096];
	struct xsave_layout l;
	uint32_t mxcsr = 0x1F80, mask = 0xFFFF;
	uint16_t fcw;

	(void)state;
	avx512_layout(&l);
	memset(st, 0xAA, sizeof(st));
	memcpy(st + 28, &mask, 4);
	set_bv(st, 0xE7);
	memset(area, 0x33, sizeof(area));
	memset(area + XSAVE_HEADER, 0, 64);
	memcpy(area + 24, &mxcsr, 4);
	set_bv(area, 0x5); /* x87 and AVX saved; SSE in its init state */
	assert_int_equal(xsave_load(&l, st, 0x27, 0xE7, area), XRSTOR_OK);
	assert_int_equal(st[0], 0x33);  /* x87 loaded */
	assert_int_equal(st[200], 0);   /* SSE: initialized */
	assert_int_equal(st[600], 0x33); /* AVX loaded */
	assert_int_equal(st[1100], 0);  /* opmask: in RFBM, not in XSTATE_BV */
	assert_int_equal(st[1200], 0xAA); /* ZMM_Hi256: outside RFBM */
	assert_true(!memcmp(st + 24, &mxcsr, 4));
	assert_true(bv_of(st) == (0xC0 | 0x7)); /* x87/SSE in use, AVX, not opmask */
	/* x87 init: FCW 037FH. */
	set_bv(area, 0);
	assert_int_equal(xsave_load(&l, st, 0x1, 0xE7, area), XRSTOR_OK);
	memcpy(&fcw, st, 2);
	assert_int_equal(fcw, 0x037F);
	assert_int_equal(st[32], 0);
}

static void test_load_faults(void **state)
{
	static uint8_t st[4096], before[4096], area[4096];
	struct xsave_layout l;
	uint32_t bad_mxcsr = 0x10000, mask = 0xFFFF;
	uint64_t compact = 1ULL << 63;

	(void)state;
	avx512_layout(&l);
	memset(st, 0xAA, sizeof(st));
	memcpy(st + 28, &mask, 4);
	memcpy(before, st, sizeof(st));
	memset(area, 0, sizeof(area));
	/* XSTATE_BV beyond XCR0 */
	set_bv(area, 0x7);
	assert_int_equal(xsave_load(&l, st, 0x3, 0x3, area), XRSTOR_GP);
	/* a reserved header byte */
	set_bv(area, 0x3);
	area[XSAVE_HEADER + 40] = 1;
	assert_int_equal(xsave_load(&l, st, 0x3, 0xE7, area), XRSTOR_GP);
	area[XSAVE_HEADER + 40] = 0;
	/* the compacted form */
	memcpy(area + XSAVE_HEADER + 8, &compact, 8);
	assert_int_equal(xsave_load(&l, st, 0x3, 0xE7, area), XRSTOR_COMPACTED);
	memset(area + XSAVE_HEADER + 8, 0, 8);
	/* a reserved MXCSR bit, only when MXCSR is loaded */
	memcpy(area + 24, &bad_mxcsr, 4);
	assert_int_equal(xsave_load(&l, st, 0x2, 0xE7, area), XRSTOR_GP);
	assert_true(!memcmp(st, before, sizeof(st))); /* nothing half-applied */
	assert_int_equal(xsave_load(&l, st, 0x1, 0xE7, area), XRSTOR_OK);
}

/* What XSAVE stores, XRSTOR gives back. */
static void test_round_trip(void **state)
{
	static uint8_t st[4096], st2[4096], area[4096];
	struct xsave_layout l;
	uint32_t mask = 0xFFFF, mxcsr = 0x1FA0;

	(void)state;
	avx512_layout(&l);
	for (size_t i = 0; i < sizeof(st); i++)
		st[i] = (uint8_t)(i * 7 + 3);
	memcpy(st + 24, &mxcsr, 4);
	memcpy(st + 28, &mask, 4);
	memset(st + XSAVE_HEADER, 0, 64);
	set_bv(st, 0xE7);
	memset(area, 0, sizeof(area));
	xsave_store(&l, st, 0xE7, area);
	memset(st2, 0, sizeof(st2));
	memcpy(st2 + 28, &mask, 4);
	assert_int_equal(xsave_load(&l, st2, 0xE7, 0xE7, area), XRSTOR_OK);
	assert_memory_equal(st2, st, 416);
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++) /* not the gaps */
		if (l.known & (1ULL << i))
			assert_memory_equal(st2 + l.offset[i], st + l.offset[i], l.size[i]);
	assert_true(bv_of(st2) == 0xE7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_and_extent),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_faults),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
