// SPDX-License-Identifier: MIT
#include "cpu/xsave.h"

#include <cpuid.h>
#include <string.h>

/* Legacy region (SDM vol. 1, table 13-1, 64-bit form). */
#define FCW 0
#define MXCSR 24
#define MXCSR_MASK 28
#define ST_REGS 32
#define XMM_REGS 160
#define XMM_END 416

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

void xsave_layout_host(struct xsave_layout *l)
{
	unsigned int a, b, c, d;

	memset(l, 0, sizeof(*l));
	l->known = 3;
	l->size[0] = XMM_REGS;
	l->offset[1] = XMM_REGS;
	l->size[1] = XMM_END - XMM_REGS;
	if (!__get_cpuid_count(0xD, 0, &a, &b, &c, &d))
		return;
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++) {
		if (!(((uint64_t)d << 32 | a) & (1ULL << i)))
			continue;
		__cpuid_count(0xD, i, a, b, c, d);
		if (!a || (c & 1)) /* no size, or a supervisor (XSS) component */
			continue;
		l->offset[i] = b;
		l->size[i] = a;
		l->known |= 1ULL << i;
	}
}

size_t xsave_extent(const struct xsave_layout *l, uint64_t rfbm)
{
	size_t end = XSAVE_LEGACY_END;

	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++)
		if ((rfbm & l->known & (1ULL << i)) && l->offset[i] + l->size[i] > end)
			end = l->offset[i] + l->size[i];
	return end;
}

void xsave_store(const struct xsave_layout *l, const uint8_t *state, uint64_t rfbm,
		 uint8_t *area)
{
	uint64_t bv = get64(area + XSAVE_HEADER);

	rfbm &= l->known;
	if (rfbm & 1) { /* x87: FCW..FDP, ST0-ST7 (MXCSR sits in between) */
		memcpy(area + FCW, state + FCW, MXCSR - FCW);
		memcpy(area + ST_REGS, state + ST_REGS, XMM_REGS - ST_REGS);
	}
	if (rfbm & 6) /* MXCSR and MXCSR_MASK go with SSE or AVX */
		memcpy(area + MXCSR, state + MXCSR, 8);
	if (rfbm & 2)
		memcpy(area + XMM_REGS, state + XMM_REGS, XMM_END - XMM_REGS);
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++)
		if (rfbm & (1ULL << i))
			memcpy(area + l->offset[i], state + l->offset[i], l->size[i]);
	put64(area + XSAVE_HEADER, (bv & ~rfbm) | (get64(state + XSAVE_HEADER) & rfbm));
}

enum xrstor_result xsave_load(const struct xsave_layout *l, uint8_t *state, uint64_t rfbm,
			      uint64_t xcr0, const uint8_t *area)
{
	uint64_t bv = get64(area + XSAVE_HEADER), xcomp = get64(area + XSAVE_HEADER + 8);
	uint32_t mxcsr, mask;

	if (xcomp & (1ULL << 63))
		return XRSTOR_COMPACTED;
	/* Standard form: XSTATE_BV within XCR0, the rest of the header zero. */
	if (bv & ~xcr0)
		return XRSTOR_GP;
	for (unsigned int i = XSAVE_HEADER + 8; i < XSAVE_LEGACY_END; i++)
		if (area[i])
			return XRSTOR_GP;
	rfbm &= l->known;
	memcpy(&mxcsr, area + MXCSR, 4);
	memcpy(&mask, state + MXCSR_MASK, 4);
	if (!mask)
		mask = 0xFFBF; /* the default MXCSR_MASK (SDM vol. 1, 11.6.6) */
	if ((rfbm & 6) && (mxcsr & ~mask))
		return XRSTOR_GP;

	if (rfbm & 1) {
		if (bv & 1) {
			memcpy(state + FCW, area + FCW, MXCSR - FCW);
			memcpy(state + ST_REGS, area + ST_REGS, XMM_REGS - ST_REGS);
		} else { /* FINIT's state: FCW 037FH, everything else 0 */
			memset(state + FCW, 0, MXCSR - FCW);
			memset(state + ST_REGS, 0, XMM_REGS - ST_REGS);
			state[FCW] = 0x7F;
			state[FCW + 1] = 0x03;
		}
	}
	if (rfbm & 6)
		memcpy(state + MXCSR, &mxcsr, 4);
	if (rfbm & 2) {
		if (bv & 2)
			memcpy(state + XMM_REGS, area + XMM_REGS, XMM_END - XMM_REGS);
		else
			memset(state + XMM_REGS, 0, XMM_END - XMM_REGS);
	}
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++) {
		if (!(rfbm & (1ULL << i)))
			continue;
		if (bv & (1ULL << i))
			memcpy(state + l->offset[i], area + l->offset[i], l->size[i]);
		else /* every user component's initial configuration is all zeros */
			memset(state + l->offset[i], 0, l->size[i]);
	}
	/* x87 and SSE written out in full are "in use" whatever bv said. */
	put64(state + XSAVE_HEADER, (get64(state + XSAVE_HEADER) & ~rfbm) |
					    (bv & rfbm) | (rfbm & 3));
	return XRSTOR_OK;
}
