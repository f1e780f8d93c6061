// SPDX-License-Identifier: MIT
/* The block benchmarks' file, workloads and floor (blk_bench.h). */
#include "blk_bench.h"

#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define POISON 0xdeadbeefdeadbeefull

const struct workload bench_workloads[2] = {
	{ "4k-rand", 4096, true },
	{ "1m-seq", 1 << 20, false },
};

uint64_t bench_next_offset(const struct workload *w, uint64_t *rng, uint64_t *seq)
{
	uint64_t off;

	if (!w->random) {
		off = *seq % BENCH_FILE_SIZE;
		*seq += w->bs;
		return off;
	}
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return (*rng % (BENCH_FILE_SIZE / w->bs)) * w->bs;
}

int bench_make_file(const char *path)
{
	struct stat st;
	char *buf;
	int fd;

	if (stat(path, &st) == 0 && (uint64_t)st.st_size == BENCH_FILE_SIZE)
		return 0;
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	buf = malloc(BENCH_BUF_MAX);
	if (fd < 0 || !buf)
		goto fail;
	for (uint64_t off = 0; off < BENCH_FILE_SIZE; off += BENCH_BUF_MAX) {
		for (uint32_t i = 0; i < BENCH_BUF_MAX; i += 8)
			memcpy(buf + i, &off, sizeof(off));
		if (write(fd, buf, BENCH_BUF_MAX) != BENCH_BUF_MAX)
			goto fail;
	}
	if (fsync(fd))
		goto fail;
	close(fd);
	free(buf);
	return 0;
fail:
	perror(path);
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

void bench_warm_cache(const char *path)
{
	char *buf = malloc(BENCH_BUF_MAX);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	while (fd >= 0 && buf && read(fd, buf, BENCH_BUF_MAX) > 0)
		;
	if (fd >= 0)
		close(fd);
	free(buf);
}

struct raw_slot {
	struct iovec iov;
	uint64_t off;
};

static void raw_prep(struct io_uring *ring, int fd, struct raw_slot *s, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	s->off = off;
	*(uint64_t *)s->iov.iov_base = POISON;
	io_uring_prep_readv(sqe, fd, &s->iov, 1, off);
	io_uring_sqe_set_data(sqe, s);
}

static bool raw_ok(const struct raw_slot *s, int res)
{
	return res == (int)s->iov.iov_len &&
	       *(const uint64_t *)s->iov.iov_base == bench_expected_word(s->off);
}

uint64_t bench_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_raw(int fd, const struct workload *w, unsigned int qd, double secs, void **bufs,
	      struct run_result *res)
{
	struct raw_slot slots[BENCH_QD_MAX];
	uint64_t rng[BENCH_QD_MAX], seq = 0, n = 0, t0, end, cpu = bench_cpu_ns();
	struct io_uring ring;
	struct io_uring_cqe *cqe;

	memset(res, 0, sizeof(*res));
	if (qd > BENCH_QD_MAX || io_uring_queue_init(qd * 2, &ring, 0) < 0)
		return -1;
	for (unsigned int i = 0; i < qd; i++) {
		rng[i] = bench_seed(i);
		slots[i].iov = (struct iovec){ bufs[i], w->bs };
		raw_prep(&ring, fd, &slots[i], bench_next_offset(w, &rng[i], &seq));
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	io_uring_submit(&ring);
	while (now_ns() < end) {
		unsigned int head, got = 0;

		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct raw_slot *s = io_uring_cqe_get_data(cqe);

			if (!raw_ok(s, cqe->res))
				res->errors++;
			raw_prep(&ring, fd, s, bench_next_offset(w, &rng[s - slots], &seq));
			got++;
		}
		io_uring_cq_advance(&ring, got);
		n += got;
		io_uring_submit(&ring);
	}
	t0 = now_ns() - t0;
	for (unsigned int left = qd; left && io_uring_wait_cqe(&ring, &cqe) == 0; left--) {
		if (!raw_ok(io_uring_cqe_get_data(cqe), cqe->res))
			res->errors++;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	res->iops = (double)n * 1e9 / (double)t0;
	res->cpu_us = (double)(bench_cpu_ns() - cpu) / 1e3 / (double)(n + qd);
	return 0;
}
