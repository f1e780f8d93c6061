// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: XRSTOR then XSAVE (src/cpu/xsave.c) of an area the
 * guest controls, against the host's layout.  Invariants: no crash or
 * sanitizer report; XRSTOR changes the state only inside the requested
 * components (and the header) and not at all when it refuses; what XSAVE
 * stores from that state, XRSTOR loads back to the same state.
 * Input: [8 bytes RFBM][8 bytes XCR0][area bytes].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/xsave.h"

#define AREA 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xsave_layout l;
	static int ready;
	static uint8_t state[AREA], before[AREA], area[AREA], again[AREA];
	uint64_t rfbm, xcr0;

	if (!ready) {
		xsave_layout_host(&l);
		ready = 1;
	}
	if (size < 16)
		return 0;
	memcpy(&rfbm, data, 8);
	memcpy(&xcr0, data + 8, 8);
	xcr0 = (xcr0 & l.known) | 3;
	rfbm &= xcr0;
	memset(area, 0, sizeof(area));
	memcpy(area, data + 16, size - 16 > AREA ? AREA : size - 16);
	for (size_t i = 0; i < AREA; i++)
		state[i] = (uint8_t)(i * 31 + 7);
	memset(state + XSAVE_HEADER, 0, 64);
	memcpy(before, state, AREA);
	if (xsave_extent(&l, rfbm) > AREA)
		return 0;
	if (xsave_load(&l, state, rfbm, xcr0, area) != XRSTOR_OK) {
		if (memcmp(state, before, AREA))
			abort(); /* a refused XRSTOR changed the state */
		return 0;
	}
	/* Outside the requested components nothing moved. */
	for (unsigned int i = 2; i < XSAVE_COMPONENTS; i++)
		if ((l.known & (1ULL << i)) && !(rfbm & (1ULL << i)) &&
		    memcmp(state + l.offset[i], before + l.offset[i], l.size[i]))
			abort();
	/* Round trip. */
	memset(area, 0, sizeof(area));
	xsave_store(&l, state, rfbm, area);
	memcpy(again, state, AREA);
	if (xsave_load(&l, again, rfbm, xcr0, area) != XRSTOR_OK || memcmp(again, state, XSAVE_HEADER))
		abort();
	return 0;
}
