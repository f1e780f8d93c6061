/* SPDX-License-Identifier: MIT */
/*
 * What the block benchmarks (blk_floor, blk_path) share: the test file,
 * the workloads and their offsets, and the floor itself, a bare liburing
 * read loop.
 */
#ifndef MINIVMM_BENCH_BLK_BENCH_H
#define MINIVMM_BENCH_BLK_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_FILE_SIZE (256ull << 20)
#define BENCH_QD_MAX    32
#define BENCH_BUF_MAX   (1u << 20)

struct workload {
	const char *name;
	uint32_t bs;
	bool random;
};

/* 4 KiB random reads, 1 MiB sequential reads. */
extern const struct workload bench_workloads[2];

/* The next offset to read: a per-stream xorshift for random workloads, a
 * shared cursor (wrapping at the file's end) for sequential ones. */
uint64_t bench_next_offset(const struct workload *w, uint64_t *rng, uint64_t *seq);
/* A per-stream random seed (the same for the floor and for every path). */
static inline uint64_t bench_seed(unsigned int stream)
{
	return 88172645463325252ull + stream;
}
/* The file's first 8 bytes of every 1 MiB block hold its offset (and so
 * does every 8-byte word of it): a read at `off` must see this. */
static inline uint64_t bench_expected_word(uint64_t off)
{
	return off & ~(uint64_t)(BENCH_BUF_MAX - 1);
}

/* Creates path (BENCH_FILE_SIZE bytes of the pattern above) unless it is
 * there with that size; 0 or -1 with a message on stderr. */
int bench_make_file(const char *path);
/* Reads the whole file once through the page cache. */
void bench_warm_cache(const char *path);

/* What one measurement gives. */
struct run_result {
	double iops;                 /* completions within the time / the time */
	double cpu_us;               /* process CPU time (all threads) per request */
	double kicks, irqs;          /* virtio paths: per request */
	uint64_t errors;             /* failed, short, or wrong bytes read */
};

/* CPU time of the whole process (every thread), in ns. */
uint64_t bench_cpu_ns(void);

/* A bare liburing loop on fd (one thread: reap what completed, refill,
 * one submit) at depth qd into bufs[0..qd), for secs seconds; 0, or -1
 * when io_uring cannot be set up. */
int bench_raw(int fd, const struct workload *w, unsigned int qd, double secs, void **bufs,
	      struct run_result *res);

#endif
