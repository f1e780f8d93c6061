// SPDX-License-Identifier: MIT
/* minivmm: a small KVM virtual machine monitor.  See README.md. */
#include <stdio.h>

#include "control/api.h"
#include "vmm/cli.h"
#include "report/compare.h"
#include "vmm/console.h"
#include "report/layout_report.h"
#include "vmm/vm.h"

#ifndef MINIVMM_VERSION
#define MINIVMM_VERSION "unknown"
#endif

static void usage(FILE *out);

/* What the VM run and compare-layouts do once their options are read. */
static int run_config(int (*parse)(int, char **, struct vm_config *), int argc, char **argv)
{
	struct vm_config cfg;
	int status;

	if (parse(argc, argv, &cfg)) {
		fprintf(stderr, "usage: minivmm [options] (see minivmm --help)\n");
		return VM_EXIT_USAGE;
	}
	switch (cfg.command) {
	case CMD_HELP:
		usage(stdout);
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

static int cmd_run(int argc, char **argv)
{
	return run_config(cli_parse, argc, argv);
}

static int cmd_compare_layouts(int argc, char **argv)
{
	return run_config(cli_parse_compare_layouts, argc, argv);
}

/* `minivmm compare` runs this executable again, once per measurement. */
static int cmd_compare(int argc, char **argv)
{
	return compare_main(argc, argv, "/proc/self/exe");
}

static const struct cli_command commands[] = {
	{ "ctl", "SOCKET COMMAND [ARGUMENTS-JSON]",
	  "send one command to a running minivmm's --api-sock", api_ctl_main },
	{ "compare", "[options]",
	  "run the MMU workloads in each MMU mode (compare --help)", cmd_compare },
	{ "compare-layouts", "[-m SIZE] [--mem-backing B] [--json] LAYOUT LAYOUT...",
	  "build each memory layout and print them side by side", cmd_compare_layouts },
	{ NULL, "[options]", "run a VM: the options below", cmd_run },
};

static void usage(FILE *out)
{
	cli_usage(out, commands);
}

int main(int argc, char **argv)
{
	/* Guest output is written with write(2); keep stdio unbuffered so our
	 * own messages on stderr interleave in order. */
	setvbuf(stderr, NULL, _IONBF, 0);
	return cli_dispatch(commands, argc, argv);
}
