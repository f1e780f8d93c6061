/* SPDX-License-Identifier: MIT */
/* The demo guest embedded in minivmm: greet, describe the machine, exit 0. */
#include "guest.h"

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("hello", fdt);

	putstr("Hello from the minivmm demo guest!\n");
	printf("RAM: %lu MiB in %u range(s), %u CPU(s)\n",
	       fdt_ram_bytes(info) >> 20, info->n_mem, info->n_cpus);
	if (info->bootargs[0])
		printf("Command line: %s\n", info->bootargs);
	putstr("Running in ring 3; leaving through the debug-exit port. Bye!\n");
	return GUEST_EXIT_OK;
}
