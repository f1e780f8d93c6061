/* SPDX-License-Identifier: MIT */
/*
 * The gdb stub's test guest (tests/guest/test_gdb.py), built with DWARF so
 * gdb knows its functions, variables and types.
 *
 * gdb_poke() runs in ring 0 (through ring0_call), main() and printf() in
 * ring 3: on PVM hosts the two rings are stopped in different ways
 * (docs/debugging.md), and the tests stop in both.  They read gdb_counter,
 * write gdb_counter and gdb_message, step, and detach; what the guest
 * prints afterwards shows the writes.
 *
 * Bootargs: spin=1 loops forever in ring 3 after the rounds (for Ctrl-C).
 */
#include "guest.h"

volatile uint64_t gdb_counter = 42;
char gdb_message[32] = "unchanged";

__attribute__((noinline)) uint64_t gdb_poke(uint64_t n)
{
	gdb_counter += n;
	return gdb_counter;
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("gdbtarget", fdt);
	volatile uint64_t spins = 0;

	printf("gdbtarget: start\n");
	for (uint64_t round = 1; round <= 3; round++) {
		uint64_t v = ring0_call(gdb_poke, round * 10);

		printf("gdbtarget: round %lu counter=%lu\n", round, v);
	}
	printf("gdbtarget: message=%s\n", gdb_message);
	if (bootarg_u64(info->bootargs, "spin", 0)) {
		printf("gdbtarget: spinning in ring 3\n");
		for (;;)
			spins++;
	}
	return GUEST_EXIT_OK;
}
