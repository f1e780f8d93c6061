/* SPDX-License-Identifier: MIT */
#ifndef MINIVMM_CLI_H
#define MINIVMM_CLI_H

#include <stdio.h>

#include "vmm/config.h"

/*
 * A subcommand, `minivmm NAME ...`.  main.c holds the one table of them;
 * it ends with the row for a plain `minivmm [options]` (name NULL), the
 * VM run.  Adding a subcommand is adding a row.
 */
struct cli_command {
	const char *name;     /* as argv[1]; NULL in the last row */
	const char *synopsis; /* what follows the name in the usage lines */
	const char *summary;  /* one line for --help */
	/* argv[0] is the name (the program's, for the last row); returns the
	 * exit status. */
	int (*main)(int argc, char **argv);
};

/* The row argv[1] names exactly, else the last row. */
const struct cli_command *cli_command_find(const struct cli_command *cmds, int argc,
					   char **argv);
/* Runs the row cli_command_find picks, from its name on; its exit status. */
int cli_dispatch(const struct cli_command *cmds, int argc, char **argv);

void cli_defaults(struct vm_config *cfg);
/* The VM run: fills cfg from argv (argv[0] the program); 0 or -EINVAL (the
 * problem is logged as one line). */
int cli_parse(int argc, char **argv, struct vm_config *cfg);
/* The same options, and two or more layouts (argv[0] "compare-layouts"). */
int cli_parse_compare_layouts(int argc, char **argv, struct vm_config *cfg);
/* Usage lines and the subcommands from cmds, then the VM's options. */
void cli_usage(FILE *out, const struct cli_command *cmds);

#endif
