// SPDX-License-Identifier: MIT
/*
 * The floor for the block backends: a bare liburing loop (one thread, reap
 * what completed, refill, one submit-and-wait) reading a file, beside the
 * same reads through minivmm's io_uring backend and its thread pool, where
 * each done callback queues the next read as a device would.  4 KiB random
 * reads and 1 MiB sequential reads at queue depths 1, 8 and 32, with
 * O_DIRECT (the disk) and through the page cache (the backend's own cost).
 *
 *   blk_floor [-f FILE] [-t SECONDS_PER_CELL] [-k]   (-k keeps the file)
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
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

#define FILE_SIZE (256ull << 20)
#define QD_MAX 32

struct workload {
	const char *name;
	uint32_t bs;
	bool random;
};

static const struct workload workloads[] = {
	{ "4k-rand", 4096, true },
	{ "1m-seq", 1 << 20, false },
};
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

static uint64_t next_offset(const struct workload *w, uint64_t *rng, atomic_ullong *seq)
{
	if (!w->random)
		return (atomic_fetch_add(seq, w->bs) % FILE_SIZE);
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return (*rng % (FILE_SIZE / w->bs)) * w->bs;
}

/* ---- the floor: bare liburing ------------------------------------------ */

static double raw_iops(int fd, const struct workload *w, unsigned int qd, double secs,
		       void **bufs)
{
	struct iovec iov[QD_MAX];
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	atomic_ullong seq = 0;
	uint64_t rng = 88172645463325252ull, n = 0, t0, end;

	if (io_uring_queue_init(qd * 2, &ring, 0) < 0)
		return -1;
	for (unsigned int i = 0; i < qd; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		iov[i] = (struct iovec){ bufs[i], w->bs };
		io_uring_prep_readv(sqe, fd, &iov[i], 1, next_offset(w, &rng, &seq));
		io_uring_sqe_set_data(sqe, &iov[i]);
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	io_uring_submit(&ring);
	while (now_ns() < end) {
		unsigned int head, got = 0;

		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct iovec *v = io_uring_cqe_get_data(cqe);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			if (cqe->res != (int)w->bs)
				fprintf(stderr, "blk_floor: raw read: %d\n", cqe->res);
			io_uring_prep_readv(sqe, fd, v, 1, next_offset(w, &rng, &seq));
			io_uring_sqe_set_data(sqe, v);
			got++;
		}
		io_uring_cq_advance(&ring, got);
		n += got;
		io_uring_submit(&ring);
	}
	t0 = now_ns() - t0;
	for (unsigned int left = qd; left && io_uring_wait_cqe(&ring, &cqe) == 0; left--)
		io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	return (double)n * 1e9 / (double)t0;
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
		s->rng = 88172645463325252ull + i;
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

static int make_file(const char *path)
{
	struct stat st;
	char *buf;
	int fd;

	if (stat(path, &st) == 0 && (uint64_t)st.st_size == FILE_SIZE)
		return 0;
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	buf = malloc(1 << 20);
	if (fd < 0 || !buf)
		return -1;
	for (uint64_t off = 0; off < FILE_SIZE; off += 1 << 20) {
		for (int i = 0; i < 1 << 20; i += 8)
			memcpy(buf + i, &off, sizeof(off));
		if (write(fd, buf, 1 << 20) != 1 << 20)
			return -1;
	}
	fsync(fd);
	close(fd);
	free(buf);
	return 0;
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
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
		for (size_t j = 0; j < sizeof(depths) / sizeof(depths[0]); j++) {
			const struct workload *w = &workloads[i];
			double raw = raw_iops(fd, w, depths[j], secs, bufs);
			double u = backend_iops(bu, w, depths[j], secs, bufs);
			double t = backend_iops(bt, w, depths[j], secs, bufs);

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
	if (secs <= 0 || secs > 60 || make_file(path)) {
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
