// SPDX-License-Identifier: MIT
/*
 * minivmm compare (compare.h): the command line, and the runs with the
 * child's stats document.  The statistics over the reps and the reports
 * are in compare_report.c; running the children and compare_main() in
 * compare_run.c, which uses both.
 */
#include "report/compare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/log.h"
#include "base/options.h"
#include "base/util.h"

const char *const compare_workload_names[COMPARE_NR_WORKLOADS] = {
	"tlb-4k", "tlb-2m", "pt-churn", "as-switch", "demand",
};

static const char *const mode_names[COMPARE_NR_MODES] = {
	[COMPARE_TDP] = "tdp",
	[COMPARE_SHADOW_EAGER] = "shadow-eager",
	[COMPARE_SHADOW_LAZY] = "shadow-lazy",
};

const char *compare_mode_name(enum compare_mode m)
{
	return (unsigned int)m < COMPARE_NR_MODES ? mode_names[m] : "?";
}

/* ---- command line -------------------------------------------------------- */

void compare_usage(FILE *out)
{
	fprintf(out,
"usage: minivmm compare [options]\n"
"Runs each workload of the MMU test guest in each MMU mode, R times, one\n"
"minivmm process per run, and prints the results side by side.\n"
"  --workloads=LIST  tlb-4k,tlb-2m,pt-churn,as-switch,demand (default: all)\n"
"  --modes=LIST      tdp,shadow-eager,shadow-lazy (default: all)\n"
"  --reps=R          runs per workload and mode, 1..%d (default 3)\n"
"  --layouts=LIST    memory layouts, e.g. split,chunks:64M (default split)\n"
"  -m SIZE           guest RAM (default 1G)\n"
"  --guest FILE      the MMU test guest (default builtin:mmu, the embedded one)\n"
"  --append STR      more guest bootargs, after workload=W\n"
"  --timeout SECS    stop a run that takes longer (default 600)\n"
"  --csv FILE        one line per run with every counter\n"
"  --json FILE       the whole comparison: runs, summary, ratios\n"
"  --svg FILE        bar chart of the median times\n"
"  -h, --help        this text\n"
"Exit status: 0; 1 if a run failed or a workload's checksums disagree;\n"
"2 for a bad command line.\n", COMPARE_MAX_REPS);
}

enum copt_id {
	CO_WORKLOADS, CO_MODES, CO_REPS, CO_LAYOUTS, CO_MEM, CO_GUEST, CO_APPEND,
	CO_TIMEOUT, CO_CSV, CO_JSON, CO_SVG, CO_HELP,
};

static const struct opt_def copts[] = {
	{ "workloads", CO_WORKLOADS, OPT_ARG_REQUIRED }, { "modes", CO_MODES, OPT_ARG_REQUIRED },
	{ "reps", CO_REPS, OPT_ARG_REQUIRED }, { "layouts", CO_LAYOUTS, OPT_ARG_REQUIRED },
	{ "m", CO_MEM, OPT_ARG_REQUIRED }, { "guest", CO_GUEST, OPT_ARG_REQUIRED },
	{ "append", CO_APPEND, OPT_ARG_REQUIRED }, { "timeout", CO_TIMEOUT, OPT_ARG_REQUIRED },
	{ "csv", CO_CSV, OPT_ARG_REQUIRED }, { "json", CO_JSON, OPT_ARG_REQUIRED },
	{ "svg", CO_SVG, OPT_ARG_REQUIRED },
	{ "help", CO_HELP, OPT_ARG_NONE }, { "h", CO_HELP, OPT_ARG_NONE },
};

static const struct opt_table copt_table = {
	.defs = copts, .nr_defs = ARRAY_SIZE(copts),
	.prefix = "compare: ", .help = "minivmm compare --help",
};

#define ITEM_MAX 64
/* The guest's command line has room for this much besides workload=W. */

static void defaults(struct compare_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (unsigned int i = 0; i < COMPARE_NR_WORKLOADS; i++)
		o->workloads[i] = compare_workload_names[i];
	o->nr_workloads = COMPARE_NR_WORKLOADS;
	for (unsigned int i = 0; i < COMPARE_NR_MODES; i++)
		o->modes[i] = (enum compare_mode)i;
	o->nr_modes = COMPARE_NR_MODES;
	o->layouts[0].kind = MEM_LAYOUT_SPLIT;
	o->nr_layouts = 1;
	o->reps = 3;
	o->ram_size = BOARD_GiB;
	o->guest = "builtin:mmu";
	o->timeout_s = 600;
}

static int add_workload(struct compare_opts *o, const char *s)
{
	unsigned int k;

	for (k = 0; k < COMPARE_NR_WORKLOADS; k++)
		if (!strcmp(s, compare_workload_names[k]))
			break;
	if (k == COMPARE_NR_WORKLOADS) {
		log_err("compare: --workloads: '%s' is not tlb-4k, tlb-2m, pt-churn, as-switch or demand", s);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < o->nr_workloads; i++)
		if (o->workloads[i] == compare_workload_names[k]) {
			log_err("compare: --workloads: '%s' is listed twice", s);
			return -EINVAL;
		}
	o->workloads[o->nr_workloads++] = compare_workload_names[k];
	return 0;
}

static int add_mode(struct compare_opts *o, const char *s)
{
	unsigned int k;

	for (k = 0; k < COMPARE_NR_MODES; k++)
		if (!strcmp(s, mode_names[k]))
			break;
	if (k == COMPARE_NR_MODES) {
		log_err("compare: --modes: '%s' is not tdp, shadow-eager or shadow-lazy", s);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < o->nr_modes; i++)
		if (o->modes[i] == (enum compare_mode)k) {
			log_err("compare: --modes: '%s' is listed twice", s);
			return -EINVAL;
		}
	o->modes[o->nr_modes++] = (enum compare_mode)k;
	return 0;
}

static int add_layout(struct compare_opts *o, const char *s)
{
	struct mem_layout_spec spec;
	char a[48], b[48];

	if (mem_layout_parse(s, &spec)) {
		log_err("compare: --layouts: '%s' is not single, split or chunks:SIZE", s);
		return -EINVAL;
	}
	if (o->nr_layouts == COMPARE_MAX_LAYOUTS) {
		log_err("compare: --layouts: at most %d layouts", COMPARE_MAX_LAYOUTS);
		return -EINVAL;
	}
	mem_layout_name(&spec, a, sizeof(a));
	for (unsigned int i = 0; i < o->nr_layouts; i++) {
		mem_layout_name(&o->layouts[i], b, sizeof(b));
		if (!strcmp(a, b)) {
			log_err("compare: --layouts: '%s' is listed twice", s);
			return -EINVAL;
		}
	}
	o->layouts[o->nr_layouts++] = spec;
	return 0;
}

/* Each comma-separated item of v through add(); a list replaces the default. */
static int parse_list(struct compare_opts *o, const char *opt, const char *v,
		      int (*add)(struct compare_opts *, const char *))
{
	const char *p = v;

	do {
		size_t len = strcspn(p, ",");
		char item[ITEM_MAX];
		int err;

		if (len == 0 || len >= sizeof(item)) {
			log_err("compare: --%s: '%s' is not a comma-separated list", opt, v);
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		err = add(o, item);
		if (err)
			return err;
		p += len;
	} while (*p++ == ',');
	return 0;
}

static int parse_uint(const char *opt, const char *v, unsigned int lo, unsigned int hi,
		      unsigned int *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (!*v || *end || errno || *v == '-' || x < lo || x > hi) {
		log_err("compare: %s: '%s' is not a number from %u to %u", opt, v, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

static int apply(struct compare_opts *o, enum copt_id id, const char *v)
{
	switch (id) {
	case CO_WORKLOADS:
		o->nr_workloads = 0;
		return parse_list(o, "workloads", v, add_workload);
	case CO_MODES:
		o->nr_modes = 0;
		return parse_list(o, "modes", v, add_mode);
	case CO_LAYOUTS:
		o->nr_layouts = 0;
		return parse_list(o, "layouts", v, add_layout);
	case CO_REPS:
		return parse_uint("--reps", v, 1, COMPARE_MAX_REPS, &o->reps);
	case CO_TIMEOUT:
		return parse_uint("--timeout", v, 1, 86400, &o->timeout_s);
	case CO_MEM:
		if (mem_parse_size(v, &o->ram_size, BOARD_MiB) || o->ram_size < BOARD_MiB) {
			log_err("compare: -m: '%s' is not a memory size (e.g. 512M, 2G)", v);
			return -EINVAL;
		}
		return 0;
	case CO_GUEST:
		o->guest = v;
		return 0;
	case CO_APPEND:
		if (strlen(v) > COMPARE_APPEND_MAX) {
			log_err("compare: --append: longer than %d characters", COMPARE_APPEND_MAX);
			return -EINVAL;
		}
		o->append = *v ? v : NULL;
		return 0;
	case CO_CSV:
		o->csv = v;
		return 0;
	case CO_JSON:
		o->json = v;
		return 0;
	case CO_SVG:
		o->svg = v;
		return 0;
	case CO_HELP:
		o->help = true;
		return 0;
	}
	return -EINVAL;
}

int compare_parse_args(int argc, char **argv, struct compare_opts *o)
{
	defaults(o);
	for (int i = 1; i < argc; i++) {
		const struct opt_def *def;
		const char *value;
		int err = opt_next(&copt_table, argc, argv, &i, &def, &value);

		if (err < 0)
			return err;
		if (err == 0)
			return opt_unexpected(&copt_table, argv[i]);
		err = apply(o, (enum copt_id)def->id, value);
		if (err)
			return err;
	}
	return 0;
}

/* ---- runs and the child's stats ---------------------------------------------- */

int compare_init(struct compare *c, const struct compare_opts *o)
{
	size_t n;

	memset(c, 0, sizeof(*c));
	c->opts = *o;
	n = compare_nr_runs(c);
	c->date = time(NULL);
	c->runs = calloc(n ? n : 1, sizeof(*c->runs));
	if (!c->runs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c->runs[i].status = -1;
		snprintf(c->runs[i].error, sizeof(c->runs[i].error), "not run");
	}
	return 0;
}

size_t compare_nr_runs(const struct compare *c)
{
	const struct compare_opts *o = &c->opts;

	return (size_t)o->nr_layouts * o->nr_workloads * o->nr_modes * o->reps;
}

void compare_free(struct compare *c)
{
	if (c->runs)
		for (size_t i = 0; i < compare_nr_runs(c); i++)
			json_decref(c->runs[i].stats);
	free(c->runs);
	c->runs = NULL;
}

struct compare_run *compare_run_at(const struct compare *c, unsigned int l, unsigned int w,
				   unsigned int m, unsigned int r)
{
	const struct compare_opts *o = &c->opts;

	return &c->runs[(((size_t)l * o->nr_workloads + w) * o->nr_modes + m) * o->reps + r];
}

void compare_layout_name(const struct compare *c, unsigned int l, char *buf, size_t len)
{
	mem_layout_name(&c->opts.layouts[l], buf, len);
}

int compare_run_fail(struct compare_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->error, sizeof(run->error), fmt, ap);
	va_end(ap);
	run->ok = false;
	return -EINVAL;
}

const char *compare_str_or(const json_t *j, const char *dflt)
{
	const char *s = json_string_value(j);

	return s ? s : dflt;
}

int compare_parse_stats(json_t *root, const char *workload, enum compare_mode mode,
			struct compare_run *run)
{
	const char *mmu, *fill, *sum;
	json_t *ph, *found = NULL, *cycles, *ops;
	bool want_shadow = mode != COMPARE_TDP;
	size_t i;

	run->ok = false;
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "minivmm_stats")) != 1)
		return compare_run_fail(run, "the stats file is not minivmm_stats version 1");
	/* A child that ignored an option would make the comparison a lie. */
	mmu = compare_str_or(json_object_get(root, "mmu"), "?");
	fill = compare_str_or(json_object_get(root, "shadow_fill"), "none");
	if (strcmp(mmu, want_shadow ? "shadow" : "tdp") ||
	    (want_shadow && strcmp(fill, mode == COMPARE_SHADOW_LAZY ? "lazy" : "eager")))
		return compare_run_fail(run, "asked for %s, the child ran mmu %s (fill %s)",
				compare_mode_name(mode), mmu, fill);
	json_array_foreach(json_object_get(root, "phases"), i, ph) {
		if (!strcmp(compare_str_or(json_object_get(ph, "name"), ""), workload)) {
			found = ph;
			break;
		}
	}
	if (!found)
		return compare_run_fail(run, "the guest reported no phase named %s", workload);
	cycles = json_object_get(found, "cycles");
	ops = json_object_get(found, "ops");
	sum = json_string_value(json_object_get(found, "checksum"));
	if (!json_is_integer(cycles) || json_integer_value(cycles) < 0 || !sum ||
	    strlen(sum) >= sizeof(run->checksum))
		return compare_run_fail(run, "phase %s lacks cycles or a checksum", workload);
	run->cycles = (uint64_t)json_integer_value(cycles);
	run->ops = json_integer_value(ops) > 0 ? (uint64_t)json_integer_value(ops) : 0;
	json_int_t khz = json_integer_value(json_object_get(root, "tsc_khz"));
	run->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	snprintf(run->checksum, sizeof(run->checksum), "%s", sum);
	json_decref(run->stats);
	run->stats = json_incref(root);
	run->phase = found;
	run->ok = true;
	run->error[0] = '\0';
	return 0;
}
