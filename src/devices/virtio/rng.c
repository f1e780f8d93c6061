// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio 1.x, 5.4), written from the specification.
 *
 * A kick (or the wake-up timer) serves available requests in order.  A
 * request asks for want = min(its writable bytes, VIRTIO_RNG_MAX_REQUEST,
 * bytes_per_period) bytes; it is served once the bucket holds want tokens,
 * so a request is never answered with a dribble and never starves (want
 * never exceeds the bucket).  Until then it stays popped and pending, later
 * requests wait behind it, and the device arms the wake-up for the moment
 * the tokens will be there.
 *
 * The bytes are written by the entropy source straight into guest memory.
 * When the source fails, no tokens are spent and the request is not
 * answered (5.4.6.1: the device must place at least one byte): it waits,
 * and the device arms the wake-up to ask the source again after
 * VIRTIO_RNG_RETRY_NS.
 *
 * The bucket is kept in byte-nanoseconds (tokens * period_ns), so refilling
 * for any elapsed time is exact; it survives a device reset, so a guest
 * cannot refill it by resetting.
 *
 * Hostile input: virtqueue.c rejects malformed rings; a readable buffer in
 * a request is a driver bug too.  Either breaks the queue (NEEDS_RESET, one
 * rate-limited log line).
 *
 * Locking: one mutex guards the queue, the pending request and the bucket.
 * The timer only touches the queue once it is known enabled (q_live: a kick
 * or activation saw it), because an enabled queue's registers stay frozen
 * until a reset, which goes through this lock first.
 */
#include "devices/virtio/rng.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

typedef unsigned __int128 u128;

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq queue;
	struct virtio_rng_entropy entropy;
	struct virtio_rng_clock clock;
	struct virtio_rng_wakeup wakeup;
	uint64_t rate;                /* bytes per period */
	uint64_t period_ns;
	struct log_ratelimit rl;
	pthread_mutex_t lock;
	/* Under lock. */
	bool active;
	bool q_live;                  /* the queue is enabled: the timer may use it */
	bool pending;                 /* chain holds a popped, unanswered request */
	struct virtq_chain chain;
	u128 level;                   /* tokens * period_ns */
	u128 capacity;                /* rate * period_ns */
	uint64_t last_ns;             /* when level was last brought up to date */
};

static struct virtio_rng *to_rng(struct virtio_dev *d)
{
	return container_of(d, struct virtio_rng, vdev);
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vdev;
}

/* ---- token bucket (lock held) ----------------------------------------- */

static void bucket_refill(struct virtio_rng *r)
{
	uint64_t now = r->clock.now_ns(r->clock.ctx);

	/* A clock that stepped back credits nothing until it catches up. */
	if (now <= r->last_ns)
		return;
	r->level += (u128)(now - r->last_ns) * r->rate;
	if (r->level > r->capacity)
		r->level = r->capacity;
	r->last_ns = now;
}

/* 0 when want tokens are there, else the nanoseconds until they are. */
static uint64_t bucket_wait(struct virtio_rng *r, uint64_t want)
{
	u128 need = (u128)want * r->period_ns;

	bucket_refill(r);
	if (r->level >= need)
		return 0;
	return (uint64_t)((need - r->level + r->rate - 1) / r->rate);
}

static void bucket_take(struct virtio_rng *r, uint64_t bytes)
{
	r->level -= (u128)bytes * r->period_ns;
}

/* ---- requests (lock held) --------------------------------------------- */

static void fill_failed(struct virtio_rng *r, ssize_t ret)
{
	if (log_ratelimit_ok(&r->rl, "virtio-rng entropy failure"))
		log_warn("virtio-rng: entropy source failed (%s); retrying the request later",
			 ret < 0 ? strerror((int)-ret) : "no bytes");
}

/* Fill the first want writable bytes of the chain: want, or 0 on failure. */
static uint32_t fill_chain(struct virtio_rng *r, const struct virtq_chain *c, uint64_t want)
{
	uint64_t left = want;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && left; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t seg = c->iov[i].iov_len < left ? c->iov[i].iov_len : (size_t)left;

		left -= seg;
		while (seg) {
			ssize_t got = r->entropy.fill(r->entropy.ctx, p, seg);

			if (got <= 0 || (size_t)got > seg) {
				fill_failed(r, got < 0 ? got : 0);
				return 0;
			}
			p += got;
			seg -= (size_t)got;
		}
	}
	return (uint32_t)want;
}

static uint64_t request_want(const struct virtio_rng *r, const struct virtq_chain *c)
{
	uint64_t want = c->in_len;

	if (want > VIRTIO_RNG_MAX_REQUEST)
		want = VIRTIO_RNG_MAX_REQUEST;
	return want < r->rate ? want : r->rate;
}

static void process_locked(struct virtio_rng *r)
{
	struct virtq *q = &r->queue;
	bool pushed = false;

	for (;;) {
		uint64_t want, wait;
		uint32_t got;

		if (!r->pending) {
			int ret = virtq_pop(q, &r->chain);

			if (ret < 0)
				break;
			if (ret == 0) {
				if (virtq_set_avail_event(q))
					continue;
				break;
			}
			if (r->chain.nr_out) {
				q->broken = true;
				if (log_ratelimit_ok(&r->rl, "malformed virtio-rng request"))
					log_warn("virtio-rng: readable buffer in a request; device needs reset");
				break;
			}
			r->pending = true;
		}
		want = request_want(r, &r->chain);
		wait = want ? bucket_wait(r, want) : 0;
		if (wait) {
			r->wakeup.arm(r->wakeup.ctx, wait);
			break;
		}
		got = want ? fill_chain(r, &r->chain, want) : 0;
		if (want && !got) {
			/* The device must place at least one byte (5.4.6.1):
			 * the request waits, the source is asked again. */
			r->wakeup.arm(r->wakeup.ctx, VIRTIO_RNG_RETRY_NS);
			break;
		}
		bucket_take(r, got);
		r->pending = false;
		if (virtq_push(q, r->chain.head, got))
			break;
		pushed = true;
	}
	virtio_dev_signal(&r->vdev, 0, pushed);
}

void virtio_rng_timer(struct virtio_rng *r)
{
	pthread_mutex_lock(&r->lock);
	if (r->active && r->q_live)
		process_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* ---- device type ops -------------------------------------------------- */

static void rng_queue_notify(struct virtio_dev *d, unsigned int qi)
{
	struct virtio_rng *r = to_rng(d);

	if (qi != 0)
		return;
	pthread_mutex_lock(&r->lock);
	r->q_live = true;       /* a kick comes only for an enabled queue */
	if (r->active)
		process_locked(r);
	pthread_mutex_unlock(&r->lock);
}

static int rng_activate(struct virtio_dev *d, uint64_t features)
{
	struct virtio_rng *r = to_rng(d);

	if (!((features >> VIRTIO_F_VERSION_1) & 1) || features & ~d->host_features)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	r->queue.features = virtio_ring_features(features);
	r->active = true;
	pthread_mutex_unlock(&r->lock);
	/* Requests made available before DRIVER_OK, which the driver may not
	 * have kicked for. */
	if (r->queue.enabled)
		rng_queue_notify(d, 0);
	return 0;
}

static void rng_reset(struct virtio_dev *d)
{
	struct virtio_rng *r = to_rng(d);

	pthread_mutex_lock(&r->lock);
	r->active = false;
	r->q_live = false;
	r->pending = false;
	virtq_reset(&r->queue);
	/* The bucket stays as it is; an armed wake-up finds nothing to do. */
	pthread_mutex_unlock(&r->lock);
}

static void rng_destroy(struct virtio_dev *d)
{
	struct virtio_rng *r = to_rng(d);

	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct virtio_dev_ops rng_ops = {
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

/* ---- creation --------------------------------------------------------- */

static int check_params(const struct virtio_rng_params *p, uint64_t rate, uint64_t period)
{
	uint16_t s = p->queue_size;

	if (!p->mem || !p->entropy.fill || !p->clock.now_ns || !p->wakeup.arm)
		return -EINVAL;
	if (s < 2 || s > VIRTQ_MAX_SIZE || s & (s - 1))
		return -EINVAL;
	if (rate > VIRTIO_RNG_MAX_BYTES || period > VIRTIO_RNG_MAX_PERIOD_NS)
		return -EINVAL;
	return 0;
}

int virtio_rng_create(const struct virtio_rng_params *p, struct virtio_rng **out)
{
	uint64_t rate = p->bytes_per_period ? p->bytes_per_period : VIRTIO_RNG_DEFAULT_BYTES;
	uint64_t period = p->period_ns ? p->period_ns : VIRTIO_RNG_DEFAULT_PERIOD_NS;
	struct virtio_rng *r;

	*out = NULL;
	if (check_params(p, rate, period)) {
		log_err("virtio-rng: invalid parameters (memory map, callbacks, queue size or"
			" rate beyond %llu bytes per %llu ns)",
			(unsigned long long)VIRTIO_RNG_MAX_BYTES,
			(unsigned long long)VIRTIO_RNG_MAX_PERIOD_NS);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return -ENOMEM;
	}
	virtq_init(&r->queue, p->mem, p->queue_size);
	r->entropy = p->entropy;
	r->clock = p->clock;
	r->wakeup = p->wakeup;
	r->rate = rate;
	r->period_ns = period;
	r->capacity = (u128)rate * period;
	r->level = r->capacity;       /* start full: a booting guest seeds at once */
	r->last_ns = r->clock.now_ns(r->clock.ctx);
	r->rl.burst = 10;
	r->vdev.ops = &rng_ops;
	r->vdev.name = "virtio-rng";
	r->vdev.device_id = VIRTIO_ID_RNG;
	r->vdev.host_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
				1ull << VIRTIO_F_EVENT_IDX;
	r->vdev.config_size = 0;
	r->vdev.nr_queues = 1;
	r->vdev.queues = &r->queue;
	*out = r;
	return 0;
}
