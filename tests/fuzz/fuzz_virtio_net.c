// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtio-net (src/devices/virtio/net.c over virtqueue.c)
 * driven by a hostile guest.  The input is the guest's memory around the
 * rings and a script of events: kicks of either queue, frames from the
 * backend, resets and re-activations with other features.  Invariants: no
 * crash or sanitizer report; every frame the backend sees lies within
 * NET_ETH_HLEN..NET_FRAME_MAX and its iovecs add up to its length; a
 * "taken" frame never leaves the used index further than the ring allows.
 *
 * Input: [1 byte features][1 byte offloads][4096 bytes: both queues' rings
 * and the first data page][script: 3 bytes per event: op, arg16].
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/net.h"
#include "mmu/iovec.h"
#include "fake_mem.h"

#define QSIZE   8
#define RAM     (4ull << 20)
#define RINGS   0x1000ull        /* rings of queue q at RINGS + q * 0x400 */
#define DATA    0x10000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void be_send(struct net_backend *nb, const struct net_hdr *h, const struct iovec *iov,
		    unsigned int cnt, size_t len)
{
	size_t sum = 0;
	volatile uint8_t sink = 0;

	if (len < NET_ETH_HLEN || len > NET_FRAME_MAX)
		abort();
	for (unsigned int i = 0; i < cnt; i++) {
		sum += iov[i].iov_len;
		/* Touch both ends: ASan checks the addresses are real. */
		if (iov[i].iov_len)
			sink ^= ((const uint8_t *)iov[i].iov_base)[0] ^
				((const uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1];
	}
	if (sum != len)
		abort();
	(void)sink;
}

static void be_nothing(struct net_backend *nb)
{
}

static void be_offloads(struct net_backend *nb, unsigned int off)
{
}

static const struct net_backend_ops be_ops = {
	.send = be_send, .rx_resume = be_nothing, .set_rx_offloads = be_offloads,
	.destroy = be_nothing,
};

static void on_queue(void *ctx, unsigned int q)
{
}

static void enable(struct virtio_dev *d)
{
	for (unsigned int q = 0; q < 2; q++) {
		struct virtq *vq = &d->queues[q];

		vq->size = QSIZE;
		vq->desc_gpa = RINGS + q * 0x400;
		vq->avail_gpa = vq->desc_gpa + 0x100;
		vq->used_gpa = vq->desc_gpa + 0x200;
		virtq_enable(vq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mem_map map;
	static uint8_t frame[NET_FRAME_MAX];
	static int ready;
	struct net_backend be = { .ops = &be_ops, .id = "fuzz", .kind = "fuzz" };
	struct virtio_net_params p = { .mem = &map, .backend = &be, .queue_size = QSIZE };
	struct virtio_net *n;
	struct virtio_dev *d;
	uint64_t features;
	void *rings;

	if (!ready) {
		if (fake_mem_init_slots(&map, 0, 1ull << 20, RAM >> 20, true))
			abort();
		for (size_t i = 0; i < sizeof(frame); i++)
			frame[i] = (uint8_t)i;
		ready = 1;
	}
	if (size < 2 + 4096)
		return 0;
	rings = mem_gpa_to_hva(&map, RINGS, 4096);
	if (!rings)
		abort();
	memcpy(rings, data + 2, 4096);
	be.tx_offloads = be.rx_offloads = data[1] & 0xf;
	if (virtio_net_create(&p, &n))
		abort();
	d = virtio_net_dev(n);
	d->notify = (struct virtio_notify){ .queue = on_queue };
	features = 1ull << VIRTIO_F_VERSION_1;
	for (unsigned int b = 0; b < 8; b++) {
		static const unsigned int bits[8] = {
			VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM,
			VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_NET_F_HOST_TSO4,
			VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_HOST_ECN,
		};

		if (data[0] & (1u << b))
			features |= 1ull << bits[b];
	}
	features &= d->host_features;
	enable(d);
	d->ops->activate(d, features);
	for (size_t i = 2 + 4096; i + 3 <= size; i += 3) {
		uint16_t arg = (uint16_t)(data[i + 1] | data[i + 2] << 8);
		struct net_hdr h = { .flags = (uint8_t)(arg >> 14) };
		struct iovec v = { .iov_base = frame, .iov_len = arg % NET_FRAME_MAX };

		switch (data[i] % 6) {
		case 0:
			d->ops->queue_notify(d, VIRTIO_NET_TXQ);
			break;
		case 1:
			d->ops->queue_notify(d, VIRTIO_NET_RXQ);
			break;
		case 2:
			if (be.port.receive)
				be.port.receive(be.port.ctx, &h, &v, 1, v.iov_len);
			break;
		case 3: {
			/* The guest rewrites a 16-byte piece of its rings. */
			uint8_t *at = (uint8_t *)rings + (arg % (4096 / 16)) * 16;

			memcpy(at, data + i, size - i < 16 ? size - i : 16);
			break;
		}
		case 4:
			d->ops->reset(d);
			enable(d);
			d->ops->activate(d, features);
			break;
		default:
			d->ops->queue_notify(d, arg);   /* no such queue */
			break;
		}
	}
	d->ops->reset(d);
	d->ops->destroy(d);
	return 0;
}
