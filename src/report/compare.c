// SPDX-License-Identifier: MIT
/*
 * minivmm compare (compare.h), the part that runs things.  Sections: the
 * command line; the runs and the child's stats document; running the
 * children and compare_main().  The statistics over the reps and the
 * reports built from them are in compare_report.c.
 */
#include "report/compare.h"
#include "report/compare_priv.h"

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
	.defs = copts, .nr_defs = sizeof(copts) / sizeof(copts[0]),
	.prefix = "compare: ", .help = "minivmm compare --help",
};

#define ITEM_MAX 64
/* The guest's command line has room for this much besides workload=W. */
#define APPEND_MAX 900

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
		if (strlen(v) > APPEND_MAX) {
			log_err("compare: --append: longer than %d characters", APPEND_MAX);
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

static __attribute__((format(printf, 2, 3)))
int run_fail(struct compare_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->error, sizeof(run->error), fmt, ap);
	va_end(ap);
	run->ok = false;
	return -EINVAL;
}

static const char *str_or(const json_t *j, const char *dflt)
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
		return run_fail(run, "the stats file is not minivmm_stats version 1");
	/* A child that ignored an option would make the comparison a lie. */
	mmu = str_or(json_object_get(root, "mmu"), "?");
	fill = str_or(json_object_get(root, "shadow_fill"), "none");
	if (strcmp(mmu, want_shadow ? "shadow" : "tdp") ||
	    (want_shadow && strcmp(fill, mode == COMPARE_SHADOW_LAZY ? "lazy" : "eager")))
		return run_fail(run, "asked for %s, the child ran mmu %s (fill %s)",
				compare_mode_name(mode), mmu, fill);
	json_array_foreach(json_object_get(root, "phases"), i, ph) {
		if (!strcmp(str_or(json_object_get(ph, "name"), ""), workload)) {
			found = ph;
			break;
		}
	}
	if (!found)
		return run_fail(run, "the guest reported no phase named %s", workload);
	cycles = json_object_get(found, "cycles");
	ops = json_object_get(found, "ops");
	sum = json_string_value(json_object_get(found, "checksum"));
	if (!json_is_integer(cycles) || json_integer_value(cycles) < 0 || !sum ||
	    strlen(sum) >= sizeof(run->checksum))
		return run_fail(run, "phase %s lacks cycles or a checksum", workload);
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

/* ---- running the children ------------------------------------------------ */

/* Child: stdin from /dev/null (so it never touches our terminal), stdout
 * and stderr into its log. */
static pid_t spawn(const char *exe, char *const argv[], const char *log_path)
{
	pid_t pid;
	int fd, in;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid)
		return pid;
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	in = open("/dev/null", O_RDONLY);
	if (fd < 0 || in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	if (fd > 2)
		close(fd);
	if (in > 2)
		close(in);
	execv(exe, argv);
	dprintf(2, "minivmm compare: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* The child's exit status as a shell reports it; kills it after timeout_s
 * (where pidfds exist; elsewhere waits without a limit). */
static int wait_child(pid_t pid, unsigned int timeout_s, bool *timed_out)
{
	int ws, fd = -1;

	*timed_out = false;
#ifdef SYS_pidfd_open
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;

		do
			n = poll(&p, 1, (int)timeout_s * 1000);
		while (n < 0 && errno == EINTR);
		close(fd);
		if (n == 0) {
			kill(pid, SIGKILL);
			*timed_out = true;
		}
	}
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
}

/* The last `lines` lines of a log, indented, to stderr. */
static void print_tail(const char *path, unsigned int lines)
{
	char buf[4096 + 1];
	const char *p;
	ssize_t n;
	off_t size;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = size < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, size > 4096 ? size - 4096 : 0);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	p = buf + n;
	for (unsigned int k = 0; k < lines && p > buf; ) {
		p--;
		if (*p == '\n')
			k++;
	}
	if (*p == '\n')
		p++;
	while (*p) {
		size_t len = strcspn(p, "\n");

		fprintf(stderr, "    | %.*s\n", (int)len, p);
		p += len + (p[len] == '\n');
	}
}

struct runner {
	struct compare *c;
	const char *exe, *dir;
	unsigned int done, total, failed, succeeded;
	bool progress;  /* stderr is a terminal */
};

static void do_run(struct runner *rn, unsigned int l, unsigned int w, unsigned int m,
		   unsigned int r)
{
	struct compare *c = rn->c;
	const struct compare_opts *o = &c->opts;
	struct compare_run *run = compare_run_at(c, l, w, m, r);
	enum compare_mode mode = o->modes[m];
	char name[48], what[128], log[PATH_MAX + 160], stats[PATH_MAX + 160], mem[32];
	char append[APPEND_MAX + 64];
	char *argv[20];
	unsigned int a = 0;
	bool timed_out = false;
	json_error_t jerr;
	json_t *root;
	pid_t pid;

	compare_layout_name(c, l, name, sizeof(name));
	snprintf(what, sizeof(what), "%s %s %s rep %u", name, o->workloads[w],
		 compare_mode_name(mode), r + 1);
	snprintf(log, sizeof(log), "%s/%s.%s.%s.%u.log", rn->dir, name, o->workloads[w],
		 compare_mode_name(mode), r + 1);
	snprintf(stats, sizeof(stats), "%s/%s.%s.%s.%u.json", rn->dir, name, o->workloads[w],
		 compare_mode_name(mode), r + 1);
	snprintf(mem, sizeof(mem), "%" PRIu64 "B", o->ram_size);
	snprintf(append, sizeof(append), "workload=%s%s%s", o->workloads[w],
		 o->append ? " " : "", o->append ? o->append : "");
	argv[a++] = (char *)rn->exe;
	argv[a++] = "-m";
	argv[a++] = mem;
	argv[a++] = "--mem-layout";
	argv[a++] = name;
	argv[a++] = mode == COMPARE_TDP ? "--mmu=tdp" : "--mmu=shadow";
	if (mode != COMPARE_TDP)
		argv[a++] = mode == COMPARE_SHADOW_LAZY ? "--shadow-fill=lazy" : "--shadow-fill=eager";
	argv[a++] = "-kernel";
	argv[a++] = (char *)o->guest;
	argv[a++] = "-append";
	argv[a++] = append;
	argv[a++] = "--stats=json";
	argv[a++] = "--stats-file";
	argv[a++] = stats;
	argv[a] = NULL;

	if (rn->progress)
		fprintf(stderr, "\r\033[K[%u/%u] %s", rn->done + 1, rn->total, what);
	unlink(stats);
	pid = spawn(rn->exe, argv, log);
	run->status = pid < 0 ? -1 : wait_child(pid, o->timeout_s, &timed_out);
	rn->done++;
	if (pid < 0)
		run_fail(run, "cannot start a child: %s", strerror(errno));
	else if (timed_out)
		run_fail(run, "killed after %u s (--timeout)", o->timeout_s);
	else if (run->status)
		run_fail(run, "exit status %d", run->status);
	else if (!(root = json_load_file(stats, 0, &jerr)))
		run_fail(run, "no stats from the child (%s)", jerr.text);
	else {
		compare_parse_stats(root, o->workloads[w], mode, run);
		if (run->ok && !c->host_mmu[0])
			snprintf(c->host_mmu, sizeof(c->host_mmu), "%s",
				 str_or(json_object_get(root, "host_mmu"), "unknown"));
		json_decref(root);
	}
	if (run->ok) {
		rn->succeeded++;
		return;
	}
	rn->failed++;
	if (rn->progress)
		fputs("\r\033[K", stderr);
	log_err("compare: run %s failed: %s; the end of %s:", what, run->error, log);
	print_tail(log, 8);
}

static void run_all(struct runner *rn)
{
	const struct compare_opts *o = &rn->c->opts;

	/* Reps outermost inside a layout: drift in the host (frequency, other
	 * load) then spreads over every mode alike instead of biasing one. */
	for (unsigned int l = 0; l < o->nr_layouts; l++)
		for (unsigned int r = 0; r < o->reps; r++)
			for (unsigned int w = 0; w < o->nr_workloads; w++)
				for (unsigned int m = 0; m < o->nr_modes; m++) {
					/* A host or build that cannot run the guest at all
					 * would otherwise fail every run the same way. */
					if (!rn->succeeded && rn->failed >= 3) {
						log_err("compare: the first %u runs all failed; not "
							"starting the other %u", rn->failed,
							rn->total - rn->done);
						return;
					}
					do_run(rn, l, w, m, r);
				}
	if (rn->progress)
		fputs("\r\033[K", stderr);
}

static int make_dir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, len, "%s/minivmm-compare.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		log_err("compare: cannot create a directory for the runs' logs (%s): %s", dir,
			strerror(errno));
		return -errno;
	}
	return 0;
}

/* Only our own files are in it. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static int write_file(const char *path, const struct compare *c,
		      int (*writer)(FILE *, const struct compare *))
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f) {
		log_err("compare: cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	err = writer(f, c);
	if (fclose(f) || err) {
		log_err("compare: cannot write %s", path);
		return -EIO;
	}
	return 0;
}

static int write_json(FILE *out, const struct compare *c)
{
	json_t *root = compare_to_json(c);
	int err = root ? json_dumpf(root, out, JSON_INDENT(2)) : -1;

	fputc('\n', out);
	json_decref(root);
	return err || ferror(out) ? -EIO : 0;
}

static int write_outputs(const struct compare *c)
{
	int err = 0;

	if (c->opts.csv && write_file(c->opts.csv, c, compare_write_csv))
		err = -EIO;
	if (c->opts.json && write_file(c->opts.json, c, write_json))
		err = -EIO;
	if (c->opts.svg && write_file(c->opts.svg, c, compare_write_svg))
		err = -EIO;
	return err;
}

/* One line naming every workload whose checksums disagree; true if any. */
static bool report_mismatches(const struct compare *c)
{
	char list[512] = "";
	size_t len = 0;
	unsigned int n = 0;

	for (unsigned int l = 0; l < c->opts.nr_layouts; l++)
		for (unsigned int w = 0; w < c->opts.nr_workloads; w++) {
			char name[48];

			if (compare_checksums_agree(c, l, w))
				continue;
			compare_layout_name(c, l, name, sizeof(name));
			if (len < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s (%s)",
							n ? ", " : "", c->opts.workloads[w], name);
			n++;
		}
	if (n)
		log_err("compare: checksums disagree between runs of %s: the modes did not do "
			"the same work (see the report)", list);
	return n > 0;
}

int compare_main(int argc, char **argv, const char *self_exe)
{
	struct compare_opts o;
	struct compare c;
	struct runner rn = { .exe = self_exe, .progress = isatty(2) };
	char dir[PATH_MAX];
	int status = 0;

	if (compare_parse_args(argc, argv, &o))
		return 2;
	if (o.help) {
		compare_usage(stdout);
		return 0;
	}
	if (compare_init(&c, &o)) {
		log_err("compare: out of memory");
		return 1;
	}
	if (make_dir(dir, sizeof(dir))) {
		compare_free(&c);
		return 1;
	}
	rn.c = &c;
	rn.dir = dir;
	rn.total = (unsigned int)compare_nr_runs(&c);
	run_all(&rn);
	compare_print(stdout, &c);
	fflush(stdout);
	if (write_outputs(&c))
		status = 1;
	if (rn.failed || rn.done < rn.total) {
		log_err("compare: %u of %u runs failed or did not run; logs in %s",
			rn.total - rn.succeeded, rn.total, dir);
		status = 1;
	} else {
		remove_dir(dir);
	}
	if (report_mismatches(&c))
		status = 1;
	compare_free(&c);
	return status;
}
