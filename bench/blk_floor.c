// SPDX-License-Identifier: MIT
/*
 * The floor for the block backends: a bare liburing loop (blk_bench.c: one
 * thread, reap what completed, refill, one submit) reading a file, beside the
 * same reads through minivmm's io_uring backend and its thread pool, where
 * each done callback queues the next read as a device would.  4 KiB random
 * reads and 1 MiB sequential reads at queue depths 1, 8 and 32, with
 * O_DIRECT (the disk) and through the page cache (the backend's own cost).
 *
 *   blk_floor [-f FILE] [-t SECONDS_PER_CELL] [-k]   (-k keeps the file)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/block/backend.h"
#include "base/clock.h"
#include "blk_bench.h"

#define FILE_SIZE BENCH_FILE_SIZE
#define QD_MAX BENCH_QD_MAX

static const unsigned int depths[] = { 1, 8, 32 };

struct slot {
	struct block_io io;
	struct iovec iov;
	struct run *run;
	uint64_t rng;
};

struct run {
	const struct workload *w;
	struct block_backend *b;
	atomic_ullong done;
	atomic_ullong seq_pos;
	atomic_bool stop;
	atomic_int errors;
	struct slot slots[QD_MAX];
};

/* Done callbacks run on several threads: the sequential cursor is shared. */
static uint64_t next_offset(const struct workload *w, uint64_t *rng, atomic_ullong *seq)
{
	if (!w->random)
		return (atomic_fetch_add(seq, w->bs) % FILE_SIZE);
	return bench_next_offset(w, rng, NULL);
}

/* ---- through a backend ------------------------------------------------- */

static void slot_done(struct block_io *io, int64_t result)
{
	struct slot *s = (struct slot *)io;
	struct run *r = s->run;

	if (result != r->w->bs)
		atomic_fetch_add(&r->errors, 1);
	atomic_fetch_add(&r->done, 1);
	if (atomic_load(&r->stop))
		return;
	io->offset = next_offset(r->w, &s->rng, &r->seq_pos);
	if (block_submit(r->b, io) == 0)
		block_flush_queue(r->b);
}

static double backend_iops(struct block_backend *b, const struct workload *w,
			   unsigned int qd, double secs, void **bufs)
{
	static struct run r;
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	uint64_t t0, n;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.b = b;
	for (unsigned int i = 0; i < qd; i++) {
		struct slot *s = &r.slots[i];

		s->run = &r;
		s->rng = bench_seed(i);
		s->iov = (struct iovec){ bufs[i], w->bs };
		s->io = (struct block_io){ .op = BLOCK_READ, .len = w->bs, .iov = &s->iov,
					   .nr_iov = 1, .done = slot_done,
					   .offset = next_offset(w, &s->rng, &r.seq_pos) };
	}
	t0 = now_ns();
	for (unsigned int i = 0; i < qd; i++)
		if (block_submit(b, &r.slots[i].io))
			return -1;
	block_flush_queue(b);
	nanosleep(&ts, NULL);
	atomic_store(&r.stop, true);
	n = atomic_load(&r.done);
	t0 = now_ns() - t0;
	block_drain(b);
	if (atomic_load(&r.errors))
		fprintf(stderr, "blk_floor: %d reads failed or came up short\n",
			atomic_load(&r.errors));
	return (double)n * 1e9 / (double)t0;
}

static struct block_backend *open_backend(const char *path, bool direct, bool uring)
{
	struct drive_config cfg = { .readonly = true,
				    .cache = direct ? DRIVE_CACHE_NONE : DRIVE_CACHE_WRITEBACK };
	struct block_backend *b;
	struct block_image img;

	snprintf(cfg.file, sizeof(cfg.file), "%s", path);
	if (image_open(&cfg, &img))
		return NULL;
	if ((uring ? block_uring_create : block_threads_create)(&img, NULL, &b)) {
		image_close(&img);
		return NULL;
	}
	return b;
}

static void run_mode(const char *path, bool direct, double secs, void **bufs)
{
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	struct block_backend *bu = open_backend(path, direct, true);
	struct block_backend *bt = open_backend(path, direct, false);

	if (fd < 0 || !bu || !bt) {
		fprintf(stderr, "blk_floor: cannot open %s\n", path);
		exit(1);
	}
	printf("\n%s (%s)\n", direct ? "cache=none, O_DIRECT" : "cache=writeback, page cache",
	       path);
	printf("%-8s %3s %12s %12s %7s %12s %7s\n", "workload", "qd", "raw IOPS",
	       "io_uring", "ratio", "threads", "ratio");
	for (size_t i = 0; i < sizeof(bench_workloads) / sizeof(bench_workloads[0]); i++) {
		for (size_t j = 0; j < sizeof(depths) / sizeof(depths[0]); j++) {
			const struct workload *w = &bench_workloads[i];
			struct run_result rr;
			double raw = bench_raw(fd, w, depths[j], secs, bufs, &rr) ? -1 : rr.iops;
			double u = backend_iops(bu, w, depths[j], secs, bufs);
			double t = backend_iops(bt, w, depths[j], secs, bufs);

			if (rr.errors)
				fprintf(stderr, "blk_floor: %llu raw reads failed or read wrong bytes\n",
					(unsigned long long)rr.errors);

			printf("%-8s %3u %12.0f %12.0f %7.2f %12.0f %7.2f\n", w->name, depths[j],
			       raw, u, u / raw, t, t / raw);
			fflush(stdout);
		}
	}
	block_destroy(bu);
	block_destroy(bt);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *path = "/var/tmp/minivmm-blk-floor.img";
	double secs = 1.0;
	bool keep = false;
	void *bufs[QD_MAX];
	int c;

	while ((c = getopt(argc, argv, "f:t:k")) != -1) {
		if (c == 'f')
			path = optarg;
		else if (c == 't')
			secs = atof(optarg);
		else if (c == 'k')
			keep = true;
		else
			return 2;
	}
	if (secs <= 0 || secs > 60 || bench_make_file(path)) {
		fprintf(stderr, "blk_floor: bad -t, or cannot create %s\n", path);
		return 1;
	}
	for (int i = 0; i < QD_MAX; i++)
		if (posix_memalign(&bufs[i], 4096, 1 << 20))
			return 1;
	run_mode(path, true, secs, bufs);
	run_mode(path, false, secs, bufs);
	if (!keep)
		unlink(path);
	for (int i = 0; i < QD_MAX; i++)
		free(bufs[i]);
	return 0;
}
