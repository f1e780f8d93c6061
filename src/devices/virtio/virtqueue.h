/* SPDX-License-Identifier: MIT */
/*
 * The device side of one split virtqueue (virtio 1.x, 2.7).  Everything the
 * guest wrote into the rings is hostile input: every address goes through
 * the checked guest-memory path, chains are bounded, indirect tables are
 * checked, lengths are checked for overflow.  Pure code over a mem_map: no
 * KVM, no threads of its own (the caller serialises access to one queue).
 *
 * virtq_enable() checks that each ring lies wholly in guest RAM, and keeps
 * the host address of each one that lies in one slot (the slot table does
 * not change under a running VM, and the transport ignores ring addresses
 * while the queue is enabled); a ring that straddles a slot boundary is
 * reached field by field through the slot table.  The driver runs
 * concurrently on another CPU:
 * avail->idx is read with acquire semantics and used->idx published with
 * release semantics.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_VIRTQUEUE_H
#define MINIVMM_DEVICES_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/log.h"
#include "mmu/memory.h"

#define VIRTQ_MAX_SIZE 1024     /* largest queue a device offers */
/* A chain may name at most this many guest buffers after slot splitting. */
#define VIRTQ_MAX_IOV (VIRTQ_MAX_SIZE + 64)

/* Negotiated ring features that change the ring's behaviour. */
#define VIRTQ_F_INDIRECT_DESC (1u << 0)
#define VIRTQ_F_EVENT_IDX     (1u << 1)

/* Ring layout (virtio 1.x, 2.7): all fields little-endian. */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VIRTQ_DESC_ALIGN  16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN  4
/* Sizes including used_event / avail_event (always checked). */
#define VIRTQ_DESC_SIZE(n)  (16ull * (n))
#define VIRTQ_AVAIL_SIZE(n) (6ull + 2ull * (n))
#define VIRTQ_USED_SIZE(n)  (6ull + 8ull * (n))

struct virtq {
	const struct mem_map *mem;
	uint16_t max_size;          /* what the device offers (power of two) */
	/* Set by the driver through the transport before enabling. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t msix_vector;       /* transport bookkeeping (0xffff: none) */
	bool enabled;
	unsigned int features;      /* VIRTQ_F_* */
	/* Set by virtq_enable: each ring's host address, or NULL when it
	 * straddles slots. */
	uint8_t *desc_hva, *avail_hva, *used_hva;
	/* Device-side state. */
	uint16_t last_avail;        /* next avail ring entry to take */
	uint16_t used_idx;          /* next used ring entry to fill */
	uint16_t signalled_used;    /* used_idx when the driver was last notified */
	bool signalled_valid;
	bool broken;                /* a malformed ring: NEEDS_RESET */
	struct log_ratelimit malformed_rl;
};

/* One request: the readable (driver→device) buffers first, then the
 * writable ones, each already translated to host iovecs (a buffer that
 * spans memory slots becomes several iovecs). */
struct virtq_chain {
	uint16_t head;              /* to hand back to virtq_push */
	unsigned int nr_out, nr_in; /* iov[0..nr_out) readable, then nr_in writable */
	uint64_t out_len, in_len;   /* total bytes of each kind */
	struct iovec iov[VIRTQ_MAX_IOV];
};

void virtq_init(struct virtq *q, const struct mem_map *mem, uint16_t max_size);
/* Forget the driver's set-up (device reset). */
void virtq_reset(struct virtq *q);
/* Check size (power of two, <= max_size), alignment and that every ring lies
 * in guest RAM; 0, or -EINVAL with one log line; then q->enabled. */
int virtq_enable(struct virtq *q);

/* Take the next available chain: 1 (chain filled), 0 (nothing available),
 * -EINVAL malformed (the queue is marked broken; one rate-limited log line;
 * the caller sets NEEDS_RESET). */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);
/* Return a chain with `written` bytes written into its writable part. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* The same in two steps, for a result that spans several chains (virtio-net's
 * mergeable receive buffers): fill the used element `ahead` places after the
 * next one, unseen by the driver, then flush publishes `count` filled
 * elements at once. */
int virtq_fill(struct virtq *q, uint16_t head, uint32_t written, uint16_t ahead);
int virtq_flush(struct virtq *q, uint16_t count);
/* Give back the last n popped chains (not pushed): the next pops take them
 * again.  For a device that found it cannot finish a request yet. */
void virtq_unpop(struct virtq *q, uint16_t n);
/* After one or more pushes: must the driver be interrupted?  Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with VIRTQ_F_EVENT_IDX. */
bool virtq_should_notify(struct virtq *q);
/* Before the device goes idle on this queue: with EVENT_IDX, publish
 * avail_event (the next entry the device will look at) so the driver kicks
 * for it.  Then, after a full barrier, look again: true when buffers were
 * made available meanwhile (the driver may not have seen avail_event and
 * not kicked), so the caller must pop again instead of sleeping. */
bool virtq_set_avail_event(struct virtq *q);

/* Copy helpers over a chain's iovecs (partial copies return the count):
 * read takes bytes from the readable part, `off` counted from its start;
 * write fills the writable part, `off` counted from its start. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

#endif
