/* SPDX-License-Identifier: MIT */
/*
 * Exit-cost benchmark: `count=` (default 1000000) 1-byte writes to the POST
 * port from ring 3, each a full VM exit to minivmm and back.
 */
#include "guest.h"

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("exits", fdt);
	uint64_t count = bootarg_u64(info->bootargs, "count", 1000000);
	uint64_t t0, t1;

	printf("exits: %lu writes to port 0x%x...\n", count, BOARD_POST_PORT);
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++)
		outb(BOARD_POST_PORT, (uint8_t)i);
	t1 = rdtsc();
	printf("exits: %lu port writes in %lu cycles (%lu cycles/exit)\n",
	       count, t1 - t0, count ? (t1 - t0) / count : 0);
	return GUEST_EXIT_OK;
}
