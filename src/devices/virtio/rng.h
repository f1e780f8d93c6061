/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.x, 5.4): one request queue whose writable buffers
 * the device fills from an entropy source (the VMM: getrandom(2) with
 * GRND_NONBLOCK), rate-limited by a token bucket.  No configuration space,
 * no feature bits of its own.
 *
 * When the bucket is empty a request is kept, not dropped and not spun on:
 * the device asks for a wake-up (arm) and finishes the request when
 * virtio_rng_timer() is called.
 *
 * Threads: the transport calls the virtio_dev ops (kicks, activate, reset)
 * on a vCPU thread or the I/O thread; virtio_rng_timer() may be called
 * from any thread at the same time.  fill, now_ns and arm are called with
 * the device lock held: they must not call into the device.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_RNG_H
#define MINIVMM_DEVICES_VIRTIO_RNG_H

#include <stdint.h>
#include <sys/types.h>

#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

/* Default rate: 1 MiB per second, and a bucket of one period's worth. */
#define VIRTIO_RNG_DEFAULT_BYTES     (1024u * 1024)
#define VIRTIO_RNG_DEFAULT_PERIOD_NS 1000000000ull
/* Bounds that keep the bucket arithmetic exact in 128 bits. */
#define VIRTIO_RNG_MAX_BYTES         (1ull << 40)
#define VIRTIO_RNG_MAX_PERIOD_NS     (1ull << 42)   /* about 73 minutes */
/* Most bytes one request gets: bounds the time one fill holds the device
 * (about 0.13 ms with getrandom(2) on a slow host). */
#define VIRTIO_RNG_MAX_REQUEST       (16u * 1024)
/* After the entropy source fails, the request waits this long and the
 * source is asked again (the spec forbids answering with no bytes). */
#define VIRTIO_RNG_RETRY_NS          (10 * 1000 * 1000ull)

struct virtio_rng;

/* Writes up to len random bytes to buf: returns how many (short counts
 * are retried for the rest), or < 0 on failure (0 counts as failure). */
struct virtio_rng_entropy {
	ssize_t (*fill)(void *ctx, void *buf, size_t len);
	void *ctx;
};

/* A monotonic clock in nanoseconds. */
struct virtio_rng_clock {
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* Please call virtio_rng_timer() once, delay_ns from now (a timerfd).  A
 * later arm replaces an earlier one; a spurious or late call is harmless. */
struct virtio_rng_wakeup {
	void (*arm)(void *ctx, uint64_t delay_ns);
	void *ctx;
};

struct virtio_rng_params {
	const struct mem_map *mem;
	uint16_t queue_size;          /* power of two, 2..VIRTQ_MAX_SIZE */
	struct virtio_rng_entropy entropy;
	struct virtio_rng_clock clock;
	struct virtio_rng_wakeup wakeup;
	/* The bucket holds bytes_per_period and refills at that many bytes
	 * per period_ns (0: the defaults above). */
	uint64_t bytes_per_period;
	uint64_t period_ns;
};

/* A virtio-rng device type for a transport; freed by its ops->destroy (no
 * other call may run then or later).  0, -EINVAL (logged), -ENOMEM. */
__attribute__((warn_unused_result))
int virtio_rng_create(const struct virtio_rng_params *p, struct virtio_rng **out);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

/* The wake-up asked for by arm: serve the waiting request if the bucket
 * allows by now (else arm again).  Any thread. */
void virtio_rng_timer(struct virtio_rng *r);

#endif
