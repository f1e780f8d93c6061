// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the command line (cli_parse), every option and value
 * spelling, -drive/-device strings, sizes.  The input is split at NUL
 * bytes into argv[1..].  Invariants: no crash or sanitizer report; the
 * result is 0 or a negative errno.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "vmm/cli.h"
#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[66];
	struct vm_config cfg;
	int argc = 1, err;

	argv[0] = "minivmm";
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i <= size && argc < 65;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	err = cli_parse(argc, argv, &cfg);
	if (err > 0)
		abort();
	free(buf);
	return 0;
}
