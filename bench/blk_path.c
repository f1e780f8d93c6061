// SPDX-License-Identifier: MIT
/*
 * The virtio-blk device path against its floor (issue 13's first benchmark
 * goal).  The floor is a bare liburing read loop (blk_bench.c); the path is
 * minivmm's own code, no KVM: a guest driver in a fake guest memory
 * (blk_guest.c) keeps QD reads in flight on a virtqueue, virtqueue.c walks
 * the chains, blk.c turns them into backend requests, the backend reads
 * straight into guest memory, and the completion fills the used ring and
 * notifies (counted; blk_device.c says where an eventfd is written).
 *
 * Three paths, each against the floor of the same repetition:
 *   io_uring   poll mode, as in the VM: one thread takes the kicks
 *              (queue_notify) and the completions (epoll on the backend's
 *              fd, block_backend_process), like the VM's I/O thread;
 *   threads    aio=threads: completions on the pool's threads, the driver
 *              woken by the notification's eventfd;
 *   uring-thr  io_uring with its own completion thread, woken the same way.
 * For each point the median over the repetitions of IOPS and of the ratio
 * to the floor measured in the same repetition (the order rotates), then
 * PASS/FAIL against the goals: the io_uring path >= 0.8x the floor at
 * 4 KiB, >= 0.9x at 1 MiB, and io_uring above threads at QD >= 8.
 *
 *   blk_path [--quick] [-f FILE] [-t SECS] [-r REPS] [-c none|writeback]
 *            [-p WORKLOAD:QD] [-m PATH] [-E] [-D] [-I] [-k]
 * -p runs one point (4k-rand:1, 1m-seq:8, ...) and -m a path beside the
 * floor (io_uring, threads, uring-thr; repeatable), e.g. to profile it;
 * neither judges.  -E leaves EVENT_IDX out, -D uses direct descriptor
 * chains, -I writes an eventfd per notification in poll mode too (the
 * VM's irqfd), -k keeps FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/block/backend.h"
#include "blk_bench.h"
#include "blk_guest.h"
#include "blk_device.h"

#define REPS_MAX 15

enum { M_FLOOR, M_URING, M_THREADS, M_URING_THR, NR_M };

static const char *const m_names[NR_M] = { "floor", "io_uring", "threads", "uring-thr" };

struct point {
	const struct workload *w;
	unsigned int qd;
	double goal;               /* the io_uring path's ratio to the floor */
	bool versus_threads;       /* io_uring must beat threads here */
};

static const struct point points[] = {
	{ &bench_workloads[0], 1, 0.8, false },
	{ &bench_workloads[0], 8, 0.8, true },
	{ &bench_workloads[0], 32, 0.8, true },
	{ &bench_workloads[1], 1, 0.9, false },
	{ &bench_workloads[1], 8, 0.9, true },
};
#define NR_POINTS (sizeof(points) / sizeof(points[0]))

struct opts {
	const char *path;
	double secs;
	unsigned int reps;
	bool direct_only, cached_only, keep;
	const char *only;          /* -p WORKLOAD:QD, e.g. to profile it */
	unsigned int paths;        /* -m: which M_* run (the floor always does) */
	struct path_opts p;
};

/* What one point measured over the repetitions. */
struct cell {
	struct run_result r[NR_M][REPS_MAX];
	double ratio[NR_M][REPS_MAX];       /* to the floor of the same rep */
	double vs_threads[REPS_MAX];        /* io_uring / threads */
	double med_iops[NR_M], med_ratio[NR_M], med_vs, med_cpu[NR_M];
	double med_kicks, med_irqs;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, unsigned int n)
{
	double s[REPS_MAX];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int measure(int m, int fd, const struct point *pt, const struct opts *o, bool direct,
		   void **bufs, struct blk_guest *g, struct run_result *res)
{
	static const enum path_kind kinds[NR_M] = { 0, PATH_URING_POLL, PATH_THREADS,
						    PATH_URING_THREAD };

	memset(res, 0, sizeof(*res));
	if (m == M_FLOOR) {
		return bench_raw(fd, pt->w, pt->qd, o->secs, bufs, res);
	}
	return path_run(g, kinds[m], o->path, direct, pt->w, pt->qd, o->secs, &o->p, res);
}

static int measure_cell(int fd, const struct point *pt, const struct opts *o, bool direct,
			void **bufs, struct blk_guest *g, struct cell *c)
{
	double v[REPS_MAX];

	for (unsigned int rep = 0; rep < o->reps; rep++) {
		for (int k = 0; k < NR_M; k++) {
			int m = (int)((rep + (unsigned int)k) % NR_M);

			if (!(o->paths & 1u << m))
				continue;
			if (measure(m, fd, pt, o, direct, bufs, g, &c->r[m][rep]))
				return -1;
			if (c->r[m][rep].errors) {
				fprintf(stderr, "blk_path: %s %s qd %u: %llu requests failed or "
					"read wrong bytes\n", m_names[m], pt->w->name, pt->qd,
					(unsigned long long)c->r[m][rep].errors);
				return -1;
			}
		}
		for (int m = 0; m < NR_M; m++)
			c->ratio[m][rep] = c->r[m][rep].iops / c->r[M_FLOOR][rep].iops;
		c->vs_threads[rep] = c->r[M_THREADS][rep].iops > 0 ?
				     c->r[M_URING][rep].iops / c->r[M_THREADS][rep].iops : 0;
	}
	for (int m = 0; m < NR_M; m++) {
		for (unsigned int i = 0; i < o->reps; i++)
			v[i] = c->r[m][i].iops;
		c->med_iops[m] = median(v, o->reps);
		c->med_ratio[m] = median(c->ratio[m], o->reps);
		for (unsigned int i = 0; i < o->reps; i++)
			v[i] = c->r[m][i].cpu_us;
		c->med_cpu[m] = median(v, o->reps);
	}
	c->med_vs = median(c->vs_threads, o->reps);
	for (unsigned int i = 0; i < o->reps; i++)
		v[i] = c->r[M_URING][i].kicks;
	c->med_kicks = median(v, o->reps);
	for (unsigned int i = 0; i < o->reps; i++)
		v[i] = c->r[M_URING][i].irqs;
	c->med_irqs = median(v, o->reps);
	return 0;
}

static void print_header(void)
{
	printf("%-8s %2s %9s %6s | %9s %5s %6s %5s %5s | %9s %5s %6s | %9s %5s | %5s\n",
	       "workload", "qd", "floor", "us/req", "io_uring", "ratio", "us/req", "kick",
	       "irq", "threads", "ratio", "us/req", "uring-thr", "ratio", "u/thr");
}

static void print_cell(const struct point *pt, const struct cell *c)
{
	printf("%-8s %2u %9.0f %6.2f | %9.0f %5.2f %6.2f %5.2f %5.2f | %9.0f %5.2f %6.2f | "
	       "%9.0f %5.2f | %5.2f\n", pt->w->name, pt->qd,
	       c->med_iops[M_FLOOR], c->med_cpu[M_FLOOR],
	       c->med_iops[M_URING], c->med_ratio[M_URING], c->med_cpu[M_URING],
	       c->med_kicks, c->med_irqs,
	       c->med_iops[M_THREADS], c->med_ratio[M_THREADS], c->med_cpu[M_THREADS],
	       c->med_iops[M_URING_THR], c->med_ratio[M_URING_THR], c->med_vs);
	fflush(stdout);
}

/* One PASS/FAIL line per goal and cache mode; returns the misses. */
static unsigned int verdicts(const char *mode, const struct cell *cells)
{
	unsigned int missed = 0;
	char buf[256];

	for (int wi = 0; wi < 2; wi++) {
		const struct workload *w = &bench_workloads[wi];
		bool ok = true;
		size_t len = 0;
		double goal = 0;

		for (size_t i = 0; i < NR_POINTS; i++) {
			if (points[i].w != w)
				continue;
			goal = points[i].goal;
			ok &= cells[i].med_ratio[M_URING] >= goal;
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, " QD%u %.2f",
						points[i].qd, cells[i].med_ratio[M_URING]);
		}
		printf("%s %-9s %s io_uring path >= %.1fx floor:%s\n", ok ? "PASS" : "FAIL", mode,
		       w->name, goal, buf);
		missed += !ok;
	}
	{
		bool ok = true;
		size_t len = 0;

		for (size_t i = 0; i < NR_POINTS; i++) {
			if (!points[i].versus_threads)
				continue;
			ok &= cells[i].med_vs > 1.0;
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s QD%u %.2f",
						points[i].w->name, points[i].qd, cells[i].med_vs);
		}
		printf("%s %-9s io_uring > threads at QD >= 8 (io_uring/threads):%s\n",
		       ok ? "PASS" : "FAIL", mode, buf);
		missed += !ok;
	}
	return missed;
}

/* One cache mode: every point, its table, its verdicts; -1 on errors. */
static int run_mode(const struct opts *o, bool direct, void **bufs, struct blk_guest *g)
{
	const char *mode = direct ? "cache=none" : "writeback";
	static struct cell cells[NR_POINTS];
	int fd, err = 0;

	if (!direct)
		bench_warm_cache(o->path);
	fd = open(o->path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		perror(o->path);
		return -1;
	}
	printf("\n%s (%s), %s; median of %u x %.2f s; us/req is CPU time (all threads)\n",
	       mode, direct ? "O_DIRECT" : "page cache", o->path, o->reps, o->secs);
	print_header();
	for (size_t i = 0; i < NR_POINTS && !err; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s:%u", points[i].w->name, points[i].qd);
		if (o->only && strcmp(o->only, name))
			continue;
		memset(&cells[i], 0, sizeof(cells[i]));
		err = measure_cell(fd, &points[i], o, direct, bufs, g, &cells[i]);
		if (!err)
			print_cell(&points[i], &cells[i]);
	}
	close(fd);
	if (err)
		return -1;
	return o->only || o->paths != (1u << NR_M) - 1 ? 0 : (int)verdicts(mode, cells);
}

static const char usage[] =
	"usage: blk_path [--quick] [-f FILE] [-t SECS] [-r REPS] [-c none|writeback]\n"
	"                [-p WORKLOAD:QD] [-m PATH] [-E] [-D] [-I] [-k]\n";

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "f:t:r:c:p:m:EDIkqh", longs, NULL)) != -1) {
		switch (c) {
		case 'f': o->path = optarg; break;
		case 't': o->secs = strtod(optarg, &end); if (*end || o->secs < 0.05 || o->secs > 60) return -1; break;
		case 'r': o->reps = (unsigned int)strtoul(optarg, &end, 10); if (*end || !o->reps || o->reps > REPS_MAX) return -1; break;
		case 'c':
			if (!strcmp(optarg, "none"))
				o->direct_only = true;
			else if (!strcmp(optarg, "writeback"))
				o->cached_only = true;
			else
				return -1;
			break;
		case 'p': o->only = optarg; break;
		case 'm':                 /* repeatable */
			if (o->paths == (1u << NR_M) - 1)
				o->paths = 1u << M_FLOOR;
			for (c = M_URING; c < NR_M && strcmp(optarg, m_names[c]); c++)
				;
			if (c == NR_M)
				return -1;
			o->paths |= 1u << c;
			break;
		case 'E': o->p.no_event_idx = true; break;
		case 'D': o->p.direct_chains = true; break;
		case 'I': o->p.irqfd = true; break;
		case 'k': o->keep = true; break;
		case 'q': o->reps = 1; o->secs = 0.2; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .path = "/var/tmp/minivmm-blk-path.img", .secs = 0.4, .reps = 5,
			  .paths = (1u << NR_M) - 1 };
	static struct blk_guest g;
	void *bufs[BENCH_QD_MAX] = { 0 };
	int missed = 0, r = 1;

	if (parse_args(argc, argv, &o)) {
		fprintf(stderr, "blk_path: bad arguments (-t 0.05..60, -r 1..%d)\n%s", REPS_MAX,
			usage);
		return 2;
	}
	if (bench_make_file(o.path) || blk_guest_init(&g)) {
		fprintf(stderr, "blk_path: cannot set up %s or the guest memory\n", o.path);
		return 1;
	}
	for (int i = 0; i < BENCH_QD_MAX; i++)
		if (posix_memalign(&bufs[i], 4096, BENCH_BUF_MAX))
			goto out;
	printf("blk_path: virtio-blk path vs bare liburing; EVENT_IDX %s, %s descriptors, "
	       "poll-mode notifications %s\n", o.p.no_event_idx ? "off" : "on",
	       o.p.direct_chains ? "direct" : "indirect",
	       o.p.irqfd ? "write an eventfd" : "counted");
	for (int pass = 0; pass < 2; pass++) {
		bool direct = pass == 0;
		int m;

		if ((direct && o.cached_only) || (!direct && o.direct_only))
			continue;
		m = run_mode(&o, direct, bufs, &g);
		if (m < 0)
			goto out;
		missed += m;
	}
	if (!o.only && o.paths == (1u << NR_M) - 1)
		printf("\nblk_path: %s\n", missed ? "some goals missed" : "all goals met");
	r = 0;
out:
	for (int i = 0; i < BENCH_QD_MAX; i++)
		free(bufs[i]);
	blk_guest_destroy(&g);
	if (!o.keep)
		unlink(o.path);
	return r;
}
