// SPDX-License-Identifier: MIT
#include "devices/virtio/rng.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

/* Smallest grant worth a timer: a typical hwrng read. */
#define RNG_MIN_GRANT 64u

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq queue;
	struct virtio_rng_params p;
	pthread_mutex_t lock;
	bool active;
	uint64_t tokens;             /* bytes that may be handed out now */
	uint64_t last_ns;            /* when tokens were last refilled */
	uint64_t carry;              /* refill remainder, in byte·ns units */
	struct virtq_chain chain;    /* scratch, under lock */
	struct virtio_rng_stats stats;
	struct log_ratelimit rl;
};

static struct virtio_rng *to_rng(struct virtio_dev *d)
{
	return container_of(d, struct virtio_rng, vdev);
}

/* Add what accrued since last_ns; the bucket holds at most max_bytes. */
static void refill(struct virtio_rng *r)
{
	uint64_t now = r->p.now_ns(r->p.ctx);
	uint64_t dt = now > r->last_ns ? now - r->last_ns : 0;
	unsigned __int128 acc;

	r->last_ns = now;
	if (r->tokens >= r->p.max_bytes)
		return;
	acc = (unsigned __int128)dt * r->p.max_bytes + r->carry;
	if (acc / r->p.period_ns >= r->p.max_bytes - r->tokens) {
		r->tokens = r->p.max_bytes;
		r->carry = 0;
		return;
	}
	r->tokens += (uint64_t)(acc / r->p.period_ns);
	r->carry = (uint64_t)(acc % r->p.period_ns);
}

/* Fill the chain's writable part with up to `budget` bytes; the count. */
static uint64_t fill_chain(struct virtio_rng *r, uint64_t budget)
{
	const struct virtq_chain *c = &r->chain;
	uint64_t done = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && done < budget; i++) {
		size_t want = c->iov[i].iov_len;
		ssize_t got;

		if (want > budget - done)
			want = (size_t)(budget - done);
		got = r->p.fill(r->p.ctx, c->iov[i].iov_base, want);
		if (got < 0) {
			if (log_ratelimit_ok(&r->rl, "virtio-rng source"))
				log_warn("virtio-rng: entropy source failed: %s", strerror((int)-got));
			return done;
		}
		done += (uint64_t)got;
		if ((size_t)got < want)
			return done;
	}
	return done;
}

/* Under lock: serve chains while tokens last.  Returns whether to notify;
 * *broken on a malformed ring. */
static bool serve_locked(struct virtio_rng *r, bool *broken)
{
	bool notify = false, dry = false;

	refill(r);
	for (;;) {
		uint64_t n;
		int got;

		if (r->tokens == 0) {
			dry = true;
			break;
		}
		got = virtq_pop(&r->queue, &r->chain);
		if (got < 0) {
			*broken = true;
			break;
		}
		if (got == 0) {
			if (virtq_set_avail_event(&r->queue))
				continue;
			break;
		}
		n = fill_chain(r, r->tokens);
		r->tokens -= n;
		r->stats.bytes += n;
		r->stats.requests++;
		if (virtq_push(&r->queue, r->chain.head, (uint32_t)n) == 0)
			notify = true;
	}
	if (dry) {
		/* Come back when a useful grant has accrued. */
		uint64_t grant = r->p.max_bytes < RNG_MIN_GRANT ? r->p.max_bytes : RNG_MIN_GRANT;
		uint64_t delay = (uint64_t)(((unsigned __int128)grant * r->p.period_ns +
					      r->p.max_bytes - 1) / r->p.max_bytes);

		r->stats.throttled++;
		r->p.arm(r->p.ctx, delay ? delay : 1);
	}
	return notify && virtq_should_notify(&r->queue);
}

static void serve(struct virtio_rng *r)
{
	const struct virtio_notify *n = &r->vdev.notify;
	bool notify = false, broken = false;

	pthread_mutex_lock(&r->lock);
	if (r->active && r->queue.enabled && !r->queue.broken)
		notify = serve_locked(r, &broken);
	pthread_mutex_unlock(&r->lock);
	if (notify && n->queue)
		n->queue(n->ctx, 0);
	if (broken && n->needs_reset)
		n->needs_reset(n->ctx);
}

void virtio_rng_timer(struct virtio_rng *r)
{
	serve(r);
}

static void rng_queue_notify(struct virtio_dev *d, unsigned int q)
{
	if (q == 0)
		serve(to_rng(d));
}

static void rng_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	(void)d;
	(void)off;
	memset(data, 0, len);      /* virtio-rng has no configuration space */
}

static void rng_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	(void)d;
	(void)off;
	(void)data;
	(void)len;
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
	return 0;
}

static void rng_reset(struct virtio_dev *d)
{
	struct virtio_rng *r = to_rng(d);

	pthread_mutex_lock(&r->lock);
	r->active = false;
	virtq_reset(&r->queue);
	pthread_mutex_unlock(&r->lock);
}

static void rng_destroy(struct virtio_dev *d)
{
	struct virtio_rng *r = to_rng(d);

	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct virtio_dev_ops rng_ops = {
	.config_read = rng_config_read,
	.config_write = rng_config_write,
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

int virtio_rng_create(const struct virtio_rng_params *p, struct virtio_rng **out)
{
	struct virtio_rng *r;

	if (!p->mem || !p->fill || !p->now_ns || !p->arm)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->p = *p;
	if (!r->p.max_bytes)
		r->p.max_bytes = VIRTIO_RNG_DEFAULT_BYTES;
	if (!r->p.period_ns)
		r->p.period_ns = VIRTIO_RNG_DEFAULT_PERIOD;
	pthread_mutex_init(&r->lock, NULL);
	virtq_init(&r->queue, p->mem, VIRTIO_RNG_QUEUE_SIZE);
	r->tokens = r->p.max_bytes;          /* start full */
	r->last_ns = p->now_ns(p->ctx);
	r->rl.burst = 4;
	r->vdev = (struct virtio_dev){
		.ops = &rng_ops, .name = "virtio-rng", .device_id = VIRTIO_ID_RNG,
		.host_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
				 1ull << VIRTIO_F_EVENT_IDX,
		.config_size = 0, .nr_queues = 1, .queues = &r->queue,
	};
	*out = r;
	return 0;
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vdev;
}

void virtio_rng_get_stats(struct virtio_rng *r, struct virtio_rng_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}
