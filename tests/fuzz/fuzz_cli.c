// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the command lines and what `minivmm compare` reads
 * back.  The first byte picks the parser:
 *   0 (and anything not below): cli_parse, every option and value spelling,
 *     -drive/-device/-netdev/-nic strings, sizes;
 *   1: cli_parse_compare_layouts (`minivmm compare-layouts`);
 *   2: compare_parse_args (`minivmm compare` options);
 *   3: compare_parse_stats on a JSON document, as a child's --stats-file
 *     (whose phases and counters a test guest reports) comes back; a byte
 *     (workload index | mode << 4) comes before it.
 * For 0-2 the rest is split at NUL bytes into argv[1..].  Invariants: no
 * crash or sanitizer report; the result is 0 or a negative errno; a stats
 * document the parser takes leaves its run marked ok with a phase.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report/compare.h"
#include "vmm/cli.h"
#include "vmm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* [workload index | mode << 4][the document] */
static void stats_doc(const uint8_t *data, size_t size)
{
	struct compare_run run = { .status = -1 };
	json_t *root;
	int err;

	if (size < 1)
		return;
	root = json_loadb((const char *)data + 1, size - 1, JSON_DISABLE_EOF_CHECK, NULL);
	if (!root)
		return;
	err = compare_parse_stats(root, compare_workload_names[(data[0] & 15) % COMPARE_NR_WORKLOADS],
				  (enum compare_mode)((data[0] >> 4) % COMPARE_NR_MODES), &run);
	if (err > 0 || (!err && (!run.ok || !run.phase)))
		abort();
	json_decref(run.stats);
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[66];
	struct vm_config cfg;
	struct compare_opts co;
	int argc = 1, err;
	uint8_t which;

	if (size == 0)
		return 0;
	which = data[0];
	data++;
	size--;
	if (which == 3) {
		stats_doc(data, size);
		return 0;
	}
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = which == 2 ? "compare" : "minivmm";
	for (size_t i = 0; i <= size && argc < 65;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	if (which == 1)
		err = cli_parse_compare_layouts(argc, argv, &cfg);
	else if (which == 2)
		err = compare_parse_args(argc, argv, &co);
	else
		err = cli_parse(argc, argv, &cfg);
	if (err > 0)
		abort();
	free(buf);
	return 0;
}
