// SPDX-License-Identifier: MIT
/* minivmm: a small KVM virtual machine monitor.  See README.md. */
#include <stdio.h>
#include <string.h>

#include "vmm/cli.h"
#include "report/compare.h"
#include "vmm/console.h"
#include "report/layout_report.h"
#include "vmm/vm.h"

#ifndef MINIVMM_VERSION
#define MINIVMM_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
	struct vm_config cfg;
	int status;

	/* Guest output is written with write(2); keep stdio unbuffered so our
	 * own messages on stderr interleave in order. */
	setvbuf(stderr, NULL, _IONBF, 0);
	/* `minivmm compare` runs this executable again, once per measurement. */
	if (argc > 1 && !strcmp(argv[1], "compare"))
		return compare_main(argc - 1, argv + 1, "/proc/self/exe");
	if (cli_parse(argc, argv, &cfg)) {
		fprintf(stderr, "usage: minivmm [options] (see minivmm --help)\n");
		return VM_EXIT_USAGE;
	}
	switch (cfg.command) {
	case CMD_HELP:
		cli_usage(stdout);
		return 0;
	case CMD_VERSION:
		printf("minivmm %s\n", MINIVMM_VERSION);
		return 0;
	case CMD_COMPARE_LAYOUTS:
		return layout_report_compare(stdout, &cfg);
	case CMD_RUN:
		break;
	}
	status = vm_main(&cfg);
	console_restore_terminal();
	fflush(stdout);
	return status;
}
