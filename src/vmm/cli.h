/* SPDX-License-Identifier: MIT */
#ifndef MINIVMM_CLI_H
#define MINIVMM_CLI_H

#include <stdio.h>

#include "vmm/config.h"

void cli_defaults(struct vm_config *cfg);
/* Fills cfg from argv; 0 or -EINVAL (the problem is logged as one line). */
int cli_parse(int argc, char **argv, struct vm_config *cfg);
void cli_usage(FILE *out);

#endif
