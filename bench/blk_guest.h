/* SPDX-License-Identifier: MIT */
/*
 * The guest side of blk_path: a virtio-blk driver in a fake guest memory
 * (no KVM) that keeps `qd` reads in flight on one split virtqueue the way
 * Linux's virtio_blk does: each request an indirect table (header, data,
 * status) or a three-descriptor chain, refilled as completions arrive,
 * avail->idx published once per batch, kicks and interrupts suppressed
 * with EVENT_IDX when negotiated (or NO_INTERRUPT while it reaps).  Every
 * completion is checked: status, used length, and the data that landed in
 * guest memory.
 */
#ifndef MINIVMM_BENCH_BLK_GUEST_H
#define MINIVMM_BENCH_BLK_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "blk_bench.h"
#include "devices/virtio/blk.h"
#include "mmu/memory.h"

#define BLK_GUEST_QSIZE 256     /* what minivmm's PCI glue offers */

struct blk_guest_slot {
	uint16_t head;
	bool busy;
	uint64_t off;               /* file offset being read */
	uint64_t rng;
	struct virtio_blk_req_hdr *hdr;
	volatile uint8_t *status;
	uint64_t *data;             /* first word of the data buffer */
};

struct blk_guest {
	struct mem_map map;
	struct virtio_dev *dev;     /* kicks go to dev->ops->queue_notify */
	const struct workload *w;
	unsigned int qd;
	bool event_idx, indirect;
	bool refill;                /* clear to let the queue run dry */
	/* The rings, as the guest sees them. */
	struct virtq_desc *desc;
	uint16_t *avail;            /* flags, idx, ring[], used_event */
	uint16_t *used;             /* flags, idx, then 32-bit elements */
	uint16_t avail_shadow;      /* the driver's next avail index */
	uint16_t kicked_shadow;     /* avail index at the last kick check */
	uint16_t last_used;
	uint64_t seq;
	unsigned int inflight;
	/* What happened. */
	uint64_t completed, errors, kicks;
	struct blk_guest_slot slots[BENCH_QD_MAX];
};

/* Guest RAM for the driver; 0 or -errno. */
int blk_guest_init(struct blk_guest *g);
void blk_guest_destroy(struct blk_guest *g);

/* Fresh rings for one run on dev's queue 0 (not yet enabled: the caller
 * enables it and activates the device with blk_guest_features()). */
void blk_guest_setup(struct blk_guest *g, struct virtio_dev *dev, const struct workload *w,
		     unsigned int qd, bool event_idx, bool indirect);
uint64_t blk_guest_features(const struct blk_guest *g);
/* Queue qd reads and kick. */
void blk_guest_start(struct blk_guest *g);
/* The interrupt handler: reap every used element (refilling while
 * g->refill), re-arm interrupts, publish, kick if the device asks to be.
 * Returns how many requests completed. */
unsigned int blk_guest_service(struct blk_guest *g);

#endif
