/* SPDX-License-Identifier: MIT */
/*
 * The profiler's test guest (tests/guest/test_profile.py): spends almost
 * all its time in profile_hot() (ring 3), a tenth of that in profile_warm()
 * and a little in profile_ring0() (ring 0, through ring0_call), so that
 * `--profile` must name them in that order.
 *
 * Bootargs: cycles=N (TSC cycles in profile_hot, default 4e9: 1.5 s at
 * 2.6 GHz).
 */
#include "guest.h"

static volatile uint64_t sink;

__attribute__((noinline)) void profile_hot(uint64_t cycles)
{
	uint64_t end = rdtsc() + cycles;

	while (rdtsc() < end)
		for (int i = 0; i < 1000; i++)
			sink++;
}

__attribute__((noinline)) void profile_warm(uint64_t cycles)
{
	uint64_t end = rdtsc() + cycles;

	while (rdtsc() < end)
		for (int i = 0; i < 1000; i++)
			sink += 3;
}

/* Ring 0 is emulated on PVM hosts (~0.5 us an instruction): a few
 * thousand iterations are enough to be seen. */
__attribute__((noinline)) uint64_t profile_ring0(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink++;
	return sink;
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("profile", fdt);
	uint64_t cycles = bootarg_u64(info->bootargs, "cycles", 4000000000ULL);

	printf("profile: hot for %lu cycles, warm for a tenth\n", cycles);
	profile_hot(cycles);
	profile_warm(cycles / 10);
	ring0_call(profile_ring0, 5000);
	printf("profile: done\n");
	return GUEST_EXIT_OK;
}
