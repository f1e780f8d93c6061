/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.x, 5.4): one request queue whose writable buffers
 * the device fills with entropy.  The source, the clock and a one-shot
 * timer are handed in, so tests drive all three; the VMM passes
 * getrandom(2), CLOCK_MONOTONIC and a timerfd on its I/O thread.
 *
 * Rate limit: a token bucket of max_bytes that refills at max_bytes per
 * period.  When it is empty the device leaves the driver's buffers in the
 * ring (nothing is dropped, nothing spins) and asks for virtio_rng_timer()
 * once enough tokens will have accrued.  A short fill is legal: the used
 * length says how many bytes are entropy.
 *
 * Threads: queue kicks, the timer and reset may come from different
 * threads; one lock serialises them.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_RNG_H
#define MINIVMM_DEVICES_VIRTIO_RNG_H

#include <stdint.h>
#include <sys/types.h>

#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

/* Defaults: 1 MiB per second, far above what a guest's hwrng reader asks
 * for (tens of bytes a second), far below what would let a guest burn the
 * host's CPU on the entropy pool. */
#define VIRTIO_RNG_DEFAULT_BYTES  (1024 * 1024ull)
#define VIRTIO_RNG_DEFAULT_PERIOD (1000 * 1000 * 1000ull)   /* ns */
#define VIRTIO_RNG_QUEUE_SIZE     64

struct virtio_rng;

struct virtio_rng_params {
	const struct mem_map *mem;
	/* Writes up to len bytes of entropy: bytes written, or -errno. */
	ssize_t (*fill)(void *ctx, void *buf, size_t len);
	uint64_t (*now_ns)(void *ctx);
	/* Call virtio_rng_timer() once, delay_ns from now (a later arm
	 * replaces an earlier one). */
	void (*arm)(void *ctx, uint64_t delay_ns);
	void *ctx;
	uint64_t max_bytes;          /* per period; 0: VIRTIO_RNG_DEFAULT_BYTES */
	uint64_t period_ns;          /* 0: VIRTIO_RNG_DEFAULT_PERIOD */
};

/* 0 or -errno; the device is freed by its virtio_dev ops->destroy. */
__attribute__((warn_unused_result))
int virtio_rng_create(const struct virtio_rng_params *p, struct virtio_rng **out);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);
/* The timer asked for by arm() fired: serve the buffers that waited. */
void virtio_rng_timer(struct virtio_rng *r);

/* Counters (for tests and --stats). */
struct virtio_rng_stats {
	uint64_t bytes;              /* entropy handed to the guest */
	uint64_t requests;           /* chains completed */
	uint64_t throttled;          /* times the bucket ran dry with work left */
};
void virtio_rng_get_stats(struct virtio_rng *r, struct virtio_rng_stats *out);

#endif
