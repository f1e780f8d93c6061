// SPDX-License-Identifier: MIT
/*
 * minivmm compare (compare.h): running the children, one per measurement,
 * and compare_main(), which parses, runs and reports.
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

#include "base/log.h"

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
	char append[COMPARE_APPEND_MAX + 64];
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
		compare_run_fail(run, "cannot start a child: %s", strerror(errno));
	else if (timed_out)
		compare_run_fail(run, "killed after %u s (--timeout)", o->timeout_s);
	else if (run->status)
		compare_run_fail(run, "exit status %d", run->status);
	else if (!(root = json_load_file(stats, 0, &jerr)))
		compare_run_fail(run, "no stats from the child (%s)", jerr.text);
	else {
		compare_parse_stats(root, o->workloads[w], mode, run);
		if (run->ok && !c->host_mmu[0])
			snprintf(c->host_mmu, sizeof(c->host_mmu), "%s",
				 compare_str_or(json_object_get(root, "host_mmu"), "unknown"));
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
