// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.x, 5.3), written from the specification: one
 * console port, no MULTIPORT (Linux gives port 0 of such a device hvc0 and
 * needs no control queues for it), VIRTIO_CONSOLE_F_SIZE when the host
 * knows a terminal size.
 *
 * Transmit: a kick of queue 1 pops every available chain.  Readable bytes
 * are gathered into a 64 KiB staging buffer, so many small buffers (one
 * per printk line) leave in one sink write; a segment at least that large
 * goes to the sink straight from guest memory.  The staging buffer is
 * written out before the kick returns.
 *
 * Receive: virtio_console_input() fills the posted buffers of queue 0 in
 * order, each as far as the bytes go, and returns how many were taken.
 * When buffers ran out it remembers that the host is waiting; the next
 * kick of queue 0 calls rx_ready.
 *
 * Hostile input: virtqueue.c rejects malformed rings; a chain in the wrong
 * direction (readable buffers on the receive queue, writable ones on the
 * transmit queue) is a driver bug too.  Either breaks that queue: NEEDS_RESET,
 * one rate-limited log line, nothing written.  (A zero-length writable
 * descriptor at the end of a transmit chain adds no iovec and cannot be
 * seen here; it is harmless.)
 *
 * Locking: rx_lock guards queue 0 and the receive state, tx_lock queue 1
 * and the staging buffer; active/features are written under both.  Input
 * only touches queue 0 once it is known enabled (rx_live: set by a kick of
 * it or by activation), because the transport writes a queue's registers
 * under its own lock until the queue is enabled, and an enabled queue's
 * registers stay frozen until a reset, which goes through rx_lock first.
 * Lock order: transport access_lock, then rx_lock or tx_lock, then the
 * transport's irq_lock (notify callbacks).
 */
#include "devices/virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define TX_STAGE_SIZE (64u * 1024)

_Static_assert(sizeof(struct virtio_console_config) == 8, "config layout");

struct virtio_console {
	struct virtio_dev vdev;
	struct virtq queues[2];
	struct byte_sink out;
	void (*rx_ready)(void *ctx);
	void *rx_ctx;
	struct log_ratelimit rl;
	bool size_offered;
	/* Written under both locks. */
	bool active;
	uint64_t features;
	pthread_mutex_t rx_lock;
	/* Under rx_lock. */
	bool rx_live;                 /* queue 0 enabled: input may use it */
	bool rx_waiting;              /* the host holds bytes, wants rx_ready */
	struct virtio_console_config cfg;
	struct virtq_chain rx_chain;
	pthread_mutex_t tx_lock;
	/* Under tx_lock. */
	struct virtq_chain tx_chain;
	size_t staged;
	uint8_t stage[TX_STAGE_SIZE];
};

static struct virtio_console *to_con(struct virtio_dev *d)
{
	return container_of(d, struct virtio_console, vdev);
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vdev;
}

/* Break queue qi (driver bug): one rate-limited line; NEEDS_RESET. */
static void queue_broken(struct virtio_console *c, unsigned int qi, const char *why)
{
	c->queues[qi].broken = true;
	if (log_ratelimit_ok(&c->rl, "malformed virtio-console buffer"))
		log_warn("virtio-console: queue %u: %s; device needs reset", qi, why);
}

/* Notifications (virtio_dev_signal) go out with the queue's lock held,
 * like virtio-blk's completions. */

/* ---- transmit --------------------------------------------------------- */

static void stage_flush(struct virtio_console *c)
{
	if (c->staged)
		byte_sink_write(&c->out, c->stage, c->staged);
	c->staged = 0;
}

static void stage_segment(struct virtio_console *c, const struct iovec *v)
{
	if (v->iov_len >= TX_STAGE_SIZE) {
		stage_flush(c);
		byte_sink_write(&c->out, v->iov_base, v->iov_len);
		return;
	}
	if (v->iov_len > TX_STAGE_SIZE - c->staged)
		stage_flush(c);
	memcpy(c->stage + c->staged, v->iov_base, v->iov_len);
	c->staged += v->iov_len;
}

/* Under tx_lock: every available chain to the sink. */
static void tx_process_locked(struct virtio_console *c)
{
	struct virtq *q = &c->queues[VIRTIO_CONSOLE_TXQ];
	struct virtq_chain *ch = &c->tx_chain;
	bool pushed = false;

	for (;;) {
		int r = virtq_pop(q, ch);

		if (r < 0)
			break;
		if (r == 0) {
			if (virtq_set_avail_event(q))
				continue;
			break;
		}
		if (ch->nr_in) {
			queue_broken(c, VIRTIO_CONSOLE_TXQ, "writable buffer in a transmit chain");
			break;
		}
		for (unsigned int i = 0; i < ch->nr_out; i++)
			stage_segment(c, &ch->iov[i]);
		if (virtq_push(q, ch->head, 0))
			break;
		pushed = true;
	}
	/* The bytes of the chains returned so far leave before the kick ends. */
	stage_flush(c);
	virtio_dev_signal(&c->vdev, VIRTIO_CONSOLE_TXQ, pushed);
}

/* ---- receive ---------------------------------------------------------- */

/* Under rx_lock, active and rx_live: fill posted buffers from buf. */
static size_t rx_fill_locked(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	struct virtq *q = &c->queues[VIRTIO_CONSOLE_RXQ];
	struct virtq_chain *ch = &c->rx_chain;
	bool pushed = false;
	size_t done = 0;

	while (done < len) {
		size_t n;
		int r = virtq_pop(q, ch);

		if (r < 0)
			break;
		if (r == 0) {
			if (virtq_set_avail_event(q))
				continue;
			break;
		}
		if (ch->nr_out) {
			queue_broken(c, VIRTIO_CONSOLE_RXQ, "readable buffer in a receive chain");
			break;
		}
		n = len - done < ch->in_len ? len - done : (size_t)ch->in_len;
		virtq_chain_write(ch, 0, buf + done, n);
		if (virtq_push(q, ch->head, (uint32_t)n))
			break;
		pushed = true;
		done += n;
	}
	virtio_dev_signal(&c->vdev, VIRTIO_CONSOLE_RXQ, pushed);
	return done;
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	if (!len)
		return 0;
	pthread_mutex_lock(&c->rx_lock);
	if (c->active && c->rx_live)
		done = rx_fill_locked(c, buf, len);
	c->rx_waiting = done < len;
	pthread_mutex_unlock(&c->rx_lock);
	return done;
}

bool virtio_console_can_input(struct virtio_console *c)
{
	bool can = false;

	pthread_mutex_lock(&c->rx_lock);
	/* With buffers absent this also asks the driver for a kick
	 * (avail_event), which is what a waiting host wants. */
	if (c->active && c->rx_live)
		can = virtq_set_avail_event(&c->queues[VIRTIO_CONSOLE_RXQ]);
	if (!can)
		c->rx_waiting = true;
	pthread_mutex_unlock(&c->rx_lock);
	return can;
}

/* Under rx_lock: queue 0 is enabled.  Whether rx_ready is due. */
static bool rx_live_locked(struct virtio_console *c)
{
	bool wake = c->rx_waiting && c->active;

	c->rx_live = true;
	if (wake)
		c->rx_waiting = false;
	return wake;
}

static void rx_kicked(struct virtio_console *c)
{
	bool wake;

	pthread_mutex_lock(&c->rx_lock);
	wake = rx_live_locked(c);
	pthread_mutex_unlock(&c->rx_lock);
	if (wake && c->rx_ready)
		c->rx_ready(c->rx_ctx);
}

/* ---- device type ops -------------------------------------------------- */

static void con_queue_notify(struct virtio_dev *d, unsigned int qi)
{
	struct virtio_console *c = to_con(d);

	if (qi == VIRTIO_CONSOLE_RXQ) {
		rx_kicked(c);
	} else if (qi == VIRTIO_CONSOLE_TXQ) {
		pthread_mutex_lock(&c->tx_lock);
		if (c->active)
			tx_process_locked(c);
		pthread_mutex_unlock(&c->tx_lock);
	}
}

static void con_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_console *c = to_con(d);

	pthread_mutex_lock(&c->rx_lock);
	virtio_config_copy(&c->cfg, sizeof(c->cfg), off, data, len);
	pthread_mutex_unlock(&c->rx_lock);
}

static void con_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	/* cols, rows and max_nr_ports are read-only; emerg_wr is not offered. */
}

static void lock_both(struct virtio_console *c)
{
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
}

static void unlock_both(struct virtio_console *c)
{
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
}

static int con_activate(struct virtio_dev *d, uint64_t features)
{
	struct virtio_console *c = to_con(d);

	if (!((features >> VIRTIO_F_VERSION_1) & 1) || features & ~d->host_features)
		return -EINVAL;
	lock_both(c);
	for (unsigned int i = 0; i < d->nr_queues; i++)
		c->queues[i].features = virtio_ring_features(features);
	c->features = features;
	c->active = true;
	unlock_both(c);
	/* Buffers the driver made available before DRIVER_OK (it may not
	 * kick for them then): output goes out, waiting input is told. */
	if (c->queues[VIRTIO_CONSOLE_RXQ].enabled)
		rx_kicked(c);
	if (c->queues[VIRTIO_CONSOLE_TXQ].enabled)
		con_queue_notify(d, VIRTIO_CONSOLE_TXQ);
	return 0;
}

static void con_reset(struct virtio_dev *d)
{
	struct virtio_console *c = to_con(d);

	lock_both(c);
	c->active = false;
	c->rx_live = false;
	c->features = 0;
	c->staged = 0;
	for (unsigned int i = 0; i < d->nr_queues; i++)
		virtq_reset(&c->queues[i]);
	/* rx_waiting stays: the host still holds its bytes for the next driver. */
	unlock_both(c);
}

static void con_destroy(struct virtio_dev *d)
{
	struct virtio_console *c = to_con(d);

	pthread_mutex_destroy(&c->rx_lock);
	pthread_mutex_destroy(&c->tx_lock);
	free(c);
}

static const struct virtio_dev_ops con_ops = {
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.queue_notify = con_queue_notify,
	.reset = con_reset,
	.destroy = con_destroy,
};

int virtio_console_set_size(struct virtio_console *c, uint16_t cols, uint16_t rows)
{
	const struct virtio_notify *n = &c->vdev.notify;
	bool tell;

	if (!c->size_offered)
		return -ENOTSUP;
	pthread_mutex_lock(&c->rx_lock);
	c->cfg.cols = htole16(cols);
	c->cfg.rows = htole16(rows);
	tell = c->active && (c->features >> VIRTIO_CONSOLE_F_SIZE & 1);
	/* Under the lock, so a reset cannot slip in between. */
	if (tell && n->config)
		n->config(n->ctx);
	pthread_mutex_unlock(&c->rx_lock);
	return 0;
}

/* ---- creation --------------------------------------------------------- */

static bool queue_size_ok(uint16_t s)
{
	return s >= 2 && s <= VIRTQ_MAX_SIZE && !(s & (s - 1));
}

int virtio_console_create(const struct virtio_console_params *p,
			  struct virtio_console **out)
{
	struct virtio_console *c;

	*out = NULL;
	if (!p->mem || !queue_size_ok(p->rx_queue_size) || !queue_size_ok(p->tx_queue_size)) {
		log_err("virtio-console: invalid parameters (memory map, queue sizes)");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->rx_lock, NULL)) {
		free(c);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&c->tx_lock, NULL)) {
		pthread_mutex_destroy(&c->rx_lock);
		free(c);
		return -ENOMEM;
	}
	virtq_init(&c->queues[VIRTIO_CONSOLE_RXQ], p->mem, p->rx_queue_size);
	virtq_init(&c->queues[VIRTIO_CONSOLE_TXQ], p->mem, p->tx_queue_size);
	c->out = p->out;
	c->rx_ready = p->rx_ready;
	c->rx_ctx = p->rx_ctx;
	c->rl.burst = 10;
	c->size_offered = p->cols && p->rows;
	c->cfg.cols = htole16(c->size_offered ? p->cols : 0);
	c->cfg.rows = htole16(c->size_offered ? p->rows : 0);
	c->cfg.max_nr_ports = htole32(1);
	c->vdev.ops = &con_ops;
	c->vdev.name = "virtio-console";
	c->vdev.device_id = VIRTIO_ID_CONSOLE;
	c->vdev.host_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
				1ull << VIRTIO_F_EVENT_IDX |
				(c->size_offered ? 1ull << VIRTIO_CONSOLE_F_SIZE : 0);
	c->vdev.config_size = sizeof(c->cfg);
	c->vdev.nr_queues = 2;
	c->vdev.queues = c->queues;
	*out = c;
	return 0;
}
