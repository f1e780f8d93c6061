/* SPDX-License-Identifier: MIT */
/*
 * What a network device model (virtio-net) sees of the host side of its
 * link: Ethernet frames, each with a virtio-net header that carries the
 * offloads (a checksum left to complete, a TCP segment to split) both ways.
 * Implementations live in src/backends/net/ (libslirp, tap); tests use a
 * fake that records frames.
 *
 * Threads: everything here runs on the VM's I/O thread (the event loop
 * that serves the backend's descriptors and the device's queue kicks), so
 * a backend needs no locks of its own and the device's receive path never
 * races its transmit path through the backend.
 */
#ifndef MINIVMM_DEVICES_NET_H
#define MINIVMM_DEVICES_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The virtio-net header (virtio 1.x, 5.1.6), little-endian; with
 * VIRTIO_F_VERSION_1 it is always these 12 bytes, the same layout a tap
 * device uses with IFF_VNET_HDR and TUNSETVNETHDRSZ 12. */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define NET_HDR_LEN              12
#define NET_HDR_F_NEEDS_CSUM     1   /* checksum at csum_start+csum_offset left to do */
#define NET_HDR_F_DATA_VALID     2   /* receive: the checksums were checked */
#define NET_HDR_GSO_NONE         0
#define NET_HDR_GSO_TCPV4        1
#define NET_HDR_GSO_UDP          3
#define NET_HDR_GSO_TCPV6        4
#define NET_HDR_GSO_ECN          0x80

#define NET_ETH_HLEN             14
/* The largest frame either side may hand over: a 64 KiB TSO segment with
 * its Ethernet header and a VLAN tag. */
#define NET_FRAME_MAX            (65535 + NET_ETH_HLEN + 4)

/* Offloads, per direction: what frames from the guest may leave undone
 * (the backend finishes them), or what frames to the guest may carry. */
#define NET_OFF_CSUM   (1u << 0)   /* NEEDS_CSUM (to the guest: DATA_VALID too) */
#define NET_OFF_TSO4   (1u << 1)
#define NET_OFF_TSO6   (1u << 2)
#define NET_OFF_ECN    (1u << 3)

/* The device side, filled in by the device before the VM runs. */
struct net_port {
	/* A frame for the guest (hdr, then len bytes in iov).  true: taken
	 * (or dropped for good, e.g. larger than the guest accepts); false:
	 * the guest has no receive buffers now; the backend keeps the frame
	 * or drops it, and delivers nothing more until ops->rx_resume. */
	bool (*receive)(void *ctx, const struct net_hdr *hdr, const struct iovec *iov,
			unsigned int cnt, size_t len);
	void *ctx;
};

struct net_backend;

struct net_backend_ops {
	/* A frame from the guest: hdr (offloads the backend offered), then
	 * len bytes (NET_ETH_HLEN..NET_FRAME_MAX) in iov, which point into
	 * guest memory and are valid only during the call.  Never blocks: a
	 * frame the host side cannot take now is dropped and counted. */
	void (*send)(struct net_backend *nb, const struct net_hdr *hdr,
		     const struct iovec *iov, unsigned int cnt, size_t len);
	/* The guest posted receive buffers after a receive returned false. */
	void (*rx_resume)(struct net_backend *nb);
	/* Which of rx_offloads the guest accepted (at each driver start). */
	void (*set_rx_offloads)(struct net_backend *nb, unsigned int offloads);
	void (*destroy)(struct net_backend *nb);
};

/* What only the backend sees (the device counts frames and bytes): frames
 * the host side refused (a tap write failing, a checksum it could not
 * complete) and frames for the guest it dropped (a full queue, a short
 * read). */
struct net_backend_stats {
	uint64_t tx_dropped;   /* guest → host */
	uint64_t rx_dropped;   /* host → guest */
};

/* Counters are written on the I/O thread and may be read on any other. */
static inline void net_count(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

struct net_backend {
	const struct net_backend_ops *ops;
	const char *id;                   /* -netdev id=, for messages */
	const char *kind;                 /* "user", "tap" */
	unsigned int tx_offloads;         /* NET_OFF_* the backend completes */
	unsigned int rx_offloads;         /* NET_OFF_* it may deliver */
	/* The link's MTU, offered to the guest (VIRTIO_NET_F_MTU); 0: none
	 * offered, the guest's default (1500). */
	uint16_t mtu;
	struct net_port port;
	struct net_backend_stats stats;   /* written on the I/O thread */
};

/* Completes a NEEDS_CSUM frame's checksum in place over a flat copy (the
 * Internet checksum from csum_start to the end, stored at
 * csum_start + csum_offset).  -EINVAL when the offsets lie outside it. */
int net_csum_complete(uint8_t *frame, size_t len, uint16_t csum_start, uint16_t csum_offset);

#endif
