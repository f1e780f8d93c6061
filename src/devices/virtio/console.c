// SPDX-License-Identifier: MIT
#include "devices/virtio/console.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define CONSOLE_OUT_CHUNK 4096

struct virtio_console {
	struct virtio_dev vdev;
	struct virtq queues[2];
	struct virtio_console_params p;
	bool active;                       /* written under both queue locks */
	pthread_mutex_t rx_lock, tx_lock;
	struct virtq_chain rx_chain, tx_chain;
	uint8_t out[CONSOLE_OUT_CHUNK];    /* under tx_lock */
	struct log_ratelimit rl;
};

static struct virtio_console *to_con(struct virtio_dev *d)
{
	return container_of(d, struct virtio_console, vdev);
}

static void signal_driver(struct virtio_console *c, unsigned int q, bool notify, bool broken)
{
	const struct virtio_notify *n = &c->vdev.notify;

	if (notify && n->queue)
		n->queue(n->ctx, q);
	if (broken && n->needs_reset)
		n->needs_reset(n->ctx);
}

/* Under tx_lock: one chain's readable bytes to the sink, gathered into
 * CONSOLE_OUT_CHUNK pieces. */
static void emit_chain(struct virtio_console *c)
{
	const struct virtq_chain *ch = &c->tx_chain;
	uint64_t off = 0;

	if (ch->nr_in && log_ratelimit_ok(&c->rl, "virtio-console tx"))
		log_warn("virtio-console: transmit buffer with writable descriptors (ignored)");
	while (off < ch->out_len) {
		size_t n = virtq_chain_read(ch, off, c->out, sizeof(c->out));

		if (!n)
			break;
		byte_sink_write(&c->p.out, c->out, n);
		off += n;
	}
}

static void transmit(struct virtio_console *c)
{
	struct virtq *q = &c->queues[VIRTIO_CONSOLE_TX];
	bool notify = false, broken = false;

	pthread_mutex_lock(&c->tx_lock);
	while (c->active && q->enabled && !q->broken) {
		int got = virtq_pop(q, &c->tx_chain);

		if (got < 0) {
			broken = true;
			break;
		}
		if (got == 0) {
			if (virtq_set_avail_event(q))
				continue;
			break;
		}
		emit_chain(c);
		if (virtq_push(q, c->tx_chain.head, 0) == 0)
			notify = true;
	}
	notify = notify && virtq_should_notify(q);
	pthread_mutex_unlock(&c->tx_lock);
	signal_driver(c, VIRTIO_CONSOLE_TX, notify, broken);
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	struct virtq *q = &c->queues[VIRTIO_CONSOLE_RX];
	bool notify = false, broken = false;
	size_t taken = 0;

	pthread_mutex_lock(&c->rx_lock);
	while (taken < len && c->active && q->enabled && !q->broken) {
		int got = virtq_pop(q, &c->rx_chain);
		size_t n;

		if (got < 0) {
			broken = true;
			break;
		}
		if (got == 0) {
			if (virtq_set_avail_event(q))
				continue;
			break;
		}
		n = virtq_chain_write(&c->rx_chain, 0, buf + taken, len - taken);
		taken += n;
		if (virtq_push(q, c->rx_chain.head, (uint32_t)n) == 0)
			notify = true;
	}
	notify = notify && virtq_should_notify(q);
	pthread_mutex_unlock(&c->rx_lock);
	signal_driver(c, VIRTIO_CONSOLE_RX, notify, broken);
	return taken;
}

static void rx_ready(struct virtio_console *c)
{
	if (c->p.rx_ready)
		c->p.rx_ready(c->p.rx_ctx);
}

static void con_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_console *c = to_con(d);

	if (q == VIRTIO_CONSOLE_TX)
		transmit(c);
	else if (q == VIRTIO_CONSOLE_RX)
		rx_ready(c);
}

static void con_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	(void)d;
	(void)off;
	memset(data, 0, len);   /* cols, rows, max_nr_ports: unused without
				 * F_SIZE and F_MULTIPORT */
}

static void con_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	(void)d;
	(void)off;
	(void)data;
	(void)len;   /* emerg_wr needs VIRTIO_CONSOLE_F_EMERG_WRITE: not offered */
}

static void set_active(struct virtio_console *c, bool active, uint64_t features)
{
	pthread_mutex_lock(&c->rx_lock);
	pthread_mutex_lock(&c->tx_lock);
	c->active = active;
	for (unsigned int i = 0; i < 2; i++) {
		if (active)
			c->queues[i].features = virtio_ring_features(features);
		else
			virtq_reset(&c->queues[i]);
	}
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->rx_lock);
}

static int con_activate(struct virtio_dev *d, uint64_t features)
{
	struct virtio_console *c = to_con(d);

	if (!((features >> VIRTIO_F_VERSION_1) & 1) || features & ~d->host_features)
		return -EINVAL;
	set_active(c, true, features);
	/* Output may be waiting already; input waited for a ready driver. */
	transmit(c);
	rx_ready(c);
	return 0;
}

static void con_reset(struct virtio_dev *d)
{
	set_active(to_con(d), false, 0);
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

int virtio_console_create(const struct virtio_console_params *p, struct virtio_console **out)
{
	struct virtio_console *c;

	if (!p->mem)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = *p;
	pthread_mutex_init(&c->rx_lock, NULL);
	pthread_mutex_init(&c->tx_lock, NULL);
	for (unsigned int i = 0; i < 2; i++)
		virtq_init(&c->queues[i], p->mem, VIRTIO_CONSOLE_QUEUE_SIZE);
	c->rl.burst = 4;
	c->vdev = (struct virtio_dev){
		.ops = &con_ops, .name = "virtio-console", .device_id = VIRTIO_ID_CONSOLE,
		.host_features = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
				 1ull << VIRTIO_F_EVENT_IDX,
		/* cols, rows, max_nr_ports, emerg_wr: read as zeroes. */
		.config_size = 12, .nr_queues = 2, .queues = c->queues,
	};
	*out = c;
	return 0;
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vdev;
}
