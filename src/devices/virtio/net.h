/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x, 5.1): one receive/transmit queue pair in front of
 * a net backend (devices/net.h).  Offered: VIRTIO_NET_F_MAC, STATUS (link
 * up), MRG_RXBUF, and the checksum and segmentation offloads the backend
 * can honour, each direction on its own.
 *
 * Threads: the queues are served on the VM's I/O thread (`loop`), where
 * the backend lives too.  A kick that reaches the device elsewhere (a vCPU
 * that wrote the notify register because no ioeventfd was registered, or
 * the driver's DRIVER_OK) is handed to that thread through an eventfd.
 * Reset and activation may come from any thread; the device's locks keep
 * them apart from the I/O thread's work.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_NET_H
#define MINIVMM_DEVICES_VIRTIO_NET_H

#include <stdint.h>

#include "base/evloop.h"
#include "devices/net.h"
#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define VIRTIO_NET_S_LINK_UP    1

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* Configuration space (5.1.4) up to mtu. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;                  /* with VIRTIO_NET_F_MTU */
} __attribute__((packed));

/* A receive result that spans more buffers than this is dropped: with
 * MRG_RXBUF Linux posts buffers of at least 1.5 KiB, so a 64 KiB frame
 * needs about 43. */
#define VIRTIO_NET_MAX_MERGE 64

struct virtio_net;

struct virtio_net_params {
	const struct mem_map *mem;
	struct net_backend *backend;   /* stays the caller's; port filled in */
	/* The I/O thread serving the backend; NULL: every call comes from one
	 * thread the caller chooses (unit tests, fuzzers). */
	struct evloop *loop;
	uint8_t mac[6];
	uint16_t queue_size;           /* power of two, 2..VIRTQ_MAX_SIZE */
};

struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_no_buffers, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
};

/* 0, -EINVAL (logged), -ENOMEM or -errno; freed by ops->destroy. */
__attribute__((warn_unused_result))
int virtio_net_create(const struct virtio_net_params *p, struct virtio_net **out);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);

#endif
