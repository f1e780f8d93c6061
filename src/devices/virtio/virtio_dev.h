/* SPDX-License-Identifier: MIT */
/*
 * What a virtio device type (blk, console, rng, net) gives the virtio-pci
 * transport, and what the transport gives it.  The transport owns feature
 * negotiation, device status, the queues' registers and interrupts; the
 * device type owns its configuration space and what a queue's requests mean.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_VIRTIO_DEV_H
#define MINIVMM_DEVICES_VIRTIO_VIRTIO_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"

#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

struct virtio_dev;

/* How the device type signals the driver (the transport routes it to an
 * MSI-X vector or INTx). */
struct virtio_notify {
	void (*queue)(void *ctx, unsigned int q);  /* used buffers on queue q */
	void (*config)(void *ctx);                 /* config space changed */
	void (*needs_reset)(void *ctx);            /* malformed input: NEEDS_RESET */
	void *ctx;
};

struct virtio_dev_ops {
	/* Device-type configuration space (offsets from 0). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len);
	/* DRIVER_OK was set with these features: start using the queues.
	 * Non-zero refuses (the transport sets NEEDS_RESET). */
	int (*activate)(struct virtio_dev *d, uint64_t features);
	/* The driver kicked queue q (from a vCPU exit or an ioeventfd). */
	void (*queue_notify)(struct virtio_dev *d, unsigned int q);
	/* Device reset (status 0): stop, drop in-flight work, forget features. */
	void (*reset)(struct virtio_dev *d);
	void (*destroy)(struct virtio_dev *d);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const char *name;
	uint16_t device_id;          /* VIRTIO_ID_* */
	uint64_t host_features;      /* offered, incl. VIRTIO_F_VERSION_1 */
	uint32_t config_size;
	unsigned int nr_queues;
	struct virtq *queues;        /* owned by the device type, nr_queues of them */
	struct virtio_notify notify; /* filled in by the transport */
};

/* The ring features (VIRTQ_F_*) a set of negotiated features turns on. */
static inline unsigned int virtio_ring_features(uint64_t features)
{
	return ((features >> VIRTIO_F_INDIRECT_DESC) & 1 ? VIRTQ_F_INDIRECT_DESC : 0) |
	       ((features >> VIRTIO_F_EVENT_IDX) & 1 ? VIRTQ_F_EVENT_IDX : 0);
}

/* After pushing to queue qi (pushed: something was returned): interrupt the
 * driver if it wants one; a queue that broke asks for NEEDS_RESET. */
static inline void virtio_dev_signal(const struct virtio_dev *d, unsigned int qi, bool pushed)
{
	const struct virtio_notify *n = &d->notify;
	struct virtq *q = &d->queues[qi];

	if (pushed && virtq_should_notify(q) && n->queue)
		n->queue(n->ctx, qi);
	if (q->broken && n->needs_reset)
		n->needs_reset(n->ctx);
}

/* A read of a device type's configuration space from its struct: bytes
 * past the end read as 0. */
static inline void virtio_config_copy(const void *cfg, uint32_t size, uint32_t off, void *data,
				      uint32_t len)
{
	uint32_t avail = off < size ? size - off : 0;
	uint32_t n = len < avail ? len : avail;

	if (n)
		memcpy(data, (const uint8_t *)cfg + off, n);
	memset((uint8_t *)data + n, 0, len - n);
}

#endif
