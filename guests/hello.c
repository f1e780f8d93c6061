/* SPDX-License-Identifier: MIT */
/*
 * The demo guest embedded in minivmm: greet, describe the machine, exit 0.
 * With bootargs `exit=reset` it leaves through the i8042 reset line instead
 * (port 0x64, command 0xFE), which minivmm turns into status 0.
 */
#include "guest.h"

#define GUEST_EXIT_RESET_IGNORED 14

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("hello", fdt);
	char mode[16];

	putstr("Hello from the minivmm demo guest!\n");
	printf("RAM: %lu MiB in %u range(s), %u CPU(s)\n",
	       fdt_ram_bytes(info) >> 20, info->n_mem, info->n_cpus);
	if (info->bootargs[0])
		printf("Command line: %s\n", info->bootargs);
	if (bootarg_get(info->bootargs, "exit", mode, sizeof(mode)) && !strcmp(mode, "reset")) {
		putstr("Running in ring 3; leaving through the i8042 reset line. Bye!\n");
		outb(BOARD_I8042_CMD, 0xFE);
		putstr("hello: the reset was ignored\n");
		return GUEST_EXIT_RESET_IGNORED;
	}
	putstr("Running in ring 3; leaving through the debug-exit port. Bye!\n");
	return GUEST_EXIT_OK;
}
