// SPDX-License-Identifier: MIT
/*
 * blk_path's guest driver (blk_guest.h).  It reaches its rings through
 * plain host pointers, as guest code would; the device on the other side
 * goes through virtqueue.c's checked path.  The driver and the device may
 * run on different threads (aio=threads, or io_uring with a completion
 * thread), so the ring indices carry the barriers virtio asks of a driver
 * (virtio 1.x, 2.7.7 and 2.7.13).
 */
#include "blk_guest.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "devices/virtio/virtio_dev.h"

#define GUEST_RAM   (64ull << 20)
#define RING_DESC   0x10000ull                /* 16 * 256 bytes */
#define RING_AVAIL  0x11000ull
#define RING_USED   0x12000ull
#define SLOT_BASE   0x20000ull                /* per slot: header, table, status */
#define SLOT_STRIDE 0x100ull
#define SLOT_TABLE  0x40ull
#define SLOT_STATUS 0xC0ull
#define DATA_BASE   0x100000ull               /* per slot: BENCH_BUF_MAX bytes */
#define POISON      0xdeadbeefdeadbeefull

_Static_assert(DATA_BASE + BENCH_QD_MAX * (uint64_t)BENCH_BUF_MAX <= GUEST_RAM, "guest RAM");
_Static_assert(SLOT_BASE + BENCH_QD_MAX * SLOT_STRIDE <= DATA_BASE, "slots");

static void *hva(struct blk_guest *g, uint64_t gpa, uint64_t len)
{
	return mem_gpa_to_hva(&g->map, gpa, len);
}

int blk_guest_init(struct blk_guest *g)
{
	memset(g, 0, sizeof(*g));
	return mem_map_create(&g->map, &(struct mem_layout_spec){ MEM_LAYOUT_SINGLE, 0 },
			      MEM_BACKING_ANON, GUEST_RAM, 8);
}

void blk_guest_destroy(struct blk_guest *g)
{
	mem_map_destroy(&g->map);
}

static void set_desc(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*d = (struct virtq_desc){ htole64(addr), htole32(len), htole16(flags), htole16(next) };
}

/* A slot's descriptors never change between requests: only its header's
 * sector, the status byte and the data do. */
static void setup_slot(struct blk_guest *g, unsigned int i)
{
	struct blk_guest_slot *s = &g->slots[i];
	uint64_t base = SLOT_BASE + i * SLOT_STRIDE, data = DATA_BASE + i * (uint64_t)BENCH_BUF_MAX;
	uint16_t wr = VIRTQ_DESC_F_WRITE, nx = VIRTQ_DESC_F_NEXT;
	struct virtq_desc *t;

	s->hdr = hva(g, base, sizeof(*s->hdr));
	s->status = hva(g, base + SLOT_STATUS, 1);
	s->data = hva(g, data, g->w->bs);
	s->rng = bench_seed(i);
	s->busy = false;
	*s->hdr = (struct virtio_blk_req_hdr){ .type = htole32(VIRTIO_BLK_T_IN) };
	if (g->indirect) {
		s->head = (uint16_t)i;
		t = hva(g, base + SLOT_TABLE, 3 * sizeof(*t));
		set_desc(&g->desc[s->head], base + SLOT_TABLE, 3 * sizeof(*t),
			 VIRTQ_DESC_F_INDIRECT, 0);
	} else {
		s->head = (uint16_t)(3 * i);
		t = &g->desc[s->head];
	}
	set_desc(&t[0], base, sizeof(*s->hdr), nx, g->indirect ? 1 : s->head + 1);
	set_desc(&t[1], data, g->w->bs, wr | nx, g->indirect ? 2 : s->head + 2);
	set_desc(&t[2], base + SLOT_STATUS, 1, wr, 0);
}

void blk_guest_setup(struct blk_guest *g, struct virtio_dev *dev, const struct workload *w,
		     unsigned int qd, bool event_idx, bool indirect)
{
	struct virtq *q = &dev->queues[0];

	g->dev = dev;
	g->w = w;
	g->qd = qd;
	g->event_idx = event_idx;
	g->indirect = indirect;
	g->refill = true;
	g->avail_shadow = g->kicked_shadow = g->last_used = 0;
	g->seq = 0;
	g->inflight = 0;
	g->completed = g->errors = g->kicks = 0;
	memset(hva(g, RING_DESC, RING_USED + 0x1000 - RING_DESC), 0, RING_USED + 0x1000 - RING_DESC);
	g->desc = hva(g, RING_DESC, VIRTQ_DESC_SIZE(BLK_GUEST_QSIZE));
	g->avail = hva(g, RING_AVAIL, VIRTQ_AVAIL_SIZE(BLK_GUEST_QSIZE));
	g->used = hva(g, RING_USED, VIRTQ_USED_SIZE(BLK_GUEST_QSIZE));
	for (unsigned int i = 0; i < qd; i++)
		setup_slot(g, i);
	q->size = BLK_GUEST_QSIZE;
	q->desc_gpa = RING_DESC;
	q->avail_gpa = RING_AVAIL;
	q->used_gpa = RING_USED;
}

uint64_t blk_guest_features(const struct blk_guest *g)
{
	uint64_t f = g->dev->host_features;

	if (!g->event_idx)
		f &= ~(1ull << VIRTIO_F_EVENT_IDX);
	if (!g->indirect)
		f &= ~(1ull << VIRTIO_F_INDIRECT_DESC);
	return f;
}

/* ---- the avail side ---------------------------------------------------- */

static void queue_read(struct blk_guest *g, struct blk_guest_slot *s)
{
	s->off = bench_next_offset(g->w, &s->rng, &g->seq);
	s->hdr->sector = htole64(s->off / VIRTIO_BLK_SECTOR);
	*s->status = 0xff;
	*s->data = POISON;
	s->busy = true;
	g->inflight++;
	g->avail[2 + (g->avail_shadow & (BLK_GUEST_QSIZE - 1))] = htole16(s->head);
	g->avail_shadow++;
}

/* vring_need_event: did the device ask for a kick in (old, new]? */
static bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static void publish_and_kick(struct blk_guest *g)
{
	uint16_t old = g->kicked_shadow, new = g->avail_shadow;
	bool kick;

	if (old == new)
		return;
	/* Release: the ring entries and requests before the index. */
	__atomic_store_n(&g->avail[1], htole16(new), __ATOMIC_RELEASE);
	g->kicked_shadow = new;
	/* The index store before the device's suppression state is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (g->event_idx) {
		uint16_t ev = le16toh(__atomic_load_n(&g->used[2 + 4 * BLK_GUEST_QSIZE],
						      __ATOMIC_RELAXED));

		kick = need_event(ev, new, old);
	} else {
		kick = !(le16toh(__atomic_load_n(&g->used[0], __ATOMIC_RELAXED)) &
			 VIRTQ_USED_F_NO_NOTIFY);
	}
	if (kick) {
		g->kicks++;
		g->dev->ops->queue_notify(g->dev, 0);
	}
}

void blk_guest_start(struct blk_guest *g)
{
	for (unsigned int i = 0; i < g->qd; i++)
		queue_read(g, &g->slots[i]);
	publish_and_kick(g);
}

/* ---- the used side ----------------------------------------------------- */

static uint16_t used_idx(struct blk_guest *g)
{
	return le16toh(__atomic_load_n(&g->used[1], __ATOMIC_ACQUIRE));
}

static struct blk_guest_slot *slot_of(struct blk_guest *g, uint32_t id)
{
	uint32_t i = g->indirect ? id : id / 3;

	if (i >= g->qd || g->slots[i].head != id || !g->slots[i].busy)
		return NULL;
	return &g->slots[i];
}

static void complete_one(struct blk_guest *g, uint16_t at)
{
	const uint32_t *e = (const uint32_t *)&g->used[2] + 2 * (at & (BLK_GUEST_QSIZE - 1));
	struct blk_guest_slot *s = slot_of(g, le32toh(e[0]));

	if (!s) {
		g->errors++;
		return;
	}
	if (le32toh(e[1]) != g->w->bs + 1 || *s->status != VIRTIO_BLK_S_OK ||
	    *s->data != bench_expected_word(s->off))
		g->errors++;
	s->busy = false;
	g->inflight--;
	g->completed++;
	if (g->refill)
		queue_read(g, s);
}

/* Interrupts back on: with EVENT_IDX at the next used entry, else by
 * clearing NO_INTERRUPT.  True when more arrived meanwhile. */
static bool enable_interrupts(struct blk_guest *g)
{
	if (g->event_idx)
		__atomic_store_n(&g->avail[2 + BLK_GUEST_QSIZE], htole16(g->last_used),
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&g->avail[0], 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return used_idx(g) != g->last_used;
}

unsigned int blk_guest_service(struct blk_guest *g)
{
	unsigned int n = 0;

	do {
		uint16_t end = used_idx(g);

		if (!g->event_idx)
			__atomic_store_n(&g->avail[0], htole16(VIRTQ_AVAIL_F_NO_INTERRUPT),
					 __ATOMIC_RELAXED);
		for (; g->last_used != end; g->last_used++, n++)
			complete_one(g, g->last_used);
	} while (enable_interrupts(g));
	publish_and_kick(g);
	return n;
}
