// SPDX-License-Identifier: MIT
/*
 * The device side of a split virtqueue (virtio 1.x, 2.7), written from the
 * specification.  The guest owns the rings and may rewrite them at any
 * moment, so every descriptor is copied out once and only the copy is
 * used, every index is bounded by the queue size, and every buffer is
 * translated through the slot table (mem_gpa_to_iov) before anything
 * touches it.  Anything malformed breaks the queue until the next reset.
 *
 * Limits the spec leaves to the device:
 * - a chain (direct descriptors, then at most one indirect table at its
 *   end) may not visit more descriptors than the queue size directly, nor
 *   more than VIRTQ_MAX_SIZE inside its indirect table;
 * - a chain's buffers may total at most UINT32_MAX bytes (used.len is 32
 *   bits) and VIRTQ_MAX_IOV host iovecs after slot splitting.
 */
#include "devices/virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mmu/iovec.h"

#define MALFORMED_BURST 10

void virtq_init(struct virtq *q, const struct mem_map *mem, uint16_t max_size)
{
	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->max_size = max_size;
	q->msix_vector = 0xffff;
	q->malformed_rl.burst = MALFORMED_BURST;
}

void virtq_reset(struct virtq *q)
{
	const struct mem_map *mem = q->mem;
	uint16_t max_size = q->max_size;
	unsigned int logged = atomic_load(&q->malformed_rl.count);

	virtq_init(q, mem, max_size);
	/* A guest that keeps breaking and resetting stays rate-limited. */
	atomic_store(&q->malformed_rl.count, logged);
}

static bool is_pow2(unsigned int v)
{
	return v && !(v & (v - 1));
}

static int ring_ok(const struct virtq *q, const char *what, uint64_t gpa,
		   uint64_t align, uint64_t size)
{
	if (gpa & (align - 1)) {
		log_warn("virtqueue: %s ring at 0x%llx is not %llu-byte aligned", what,
			 (unsigned long long)gpa, (unsigned long long)align);
		return -EINVAL;
	}
	if (!mem_range_is_ram(q->mem, gpa, size)) {
		log_warn("virtqueue: %s ring [0x%llx, +0x%llx) is not guest RAM", what,
			 (unsigned long long)gpa, (unsigned long long)size);
		return -EINVAL;
	}
	return 0;
}

int virtq_enable(struct virtq *q)
{
	if (!is_pow2(q->size) || q->size > q->max_size) {
		log_warn("virtqueue: size %u is not a power of two up to %u", q->size,
			 q->max_size);
		return -EINVAL;
	}
	if (ring_ok(q, "descriptor", q->desc_gpa, VIRTQ_DESC_ALIGN, VIRTQ_DESC_SIZE(q->size)) ||
	    ring_ok(q, "available", q->avail_gpa, VIRTQ_AVAIL_ALIGN, VIRTQ_AVAIL_SIZE(q->size)) ||
	    ring_ok(q, "used", q->used_gpa, VIRTQ_USED_ALIGN, VIRTQ_USED_SIZE(q->size)))
		return -EINVAL;
	q->desc_hva = mem_gpa_to_hva(q->mem, q->desc_gpa, VIRTQ_DESC_SIZE(q->size));
	q->avail_hva = mem_gpa_to_hva(q->mem, q->avail_gpa, VIRTQ_AVAIL_SIZE(q->size));
	q->used_hva = mem_gpa_to_hva(q->mem, q->used_gpa, VIRTQ_USED_SIZE(q->size));
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->broken = false;
	q->enabled = true;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int malformed(struct virtq *q, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	q->broken = true;
	if (!log_ratelimit_ok(&q->malformed_rl, "malformed virtqueue"))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("virtqueue (desc 0x%llx, size %u): %s; queue stopped until reset",
		 (unsigned long long)q->desc_gpa, q->size, msg);
	return -EINVAL;
}

/* ---- ring fields ------------------------------------------------------ */

/* A naturally aligned 16-bit ring field never crosses a slot boundary:
 * the field at byte `off` of a ring, through the ring's host address when
 * it has one, else through the slot table. */
static uint16_t *ring_u16(const struct virtq *q, uint8_t *hva, uint64_t gpa, uint64_t off)
{
	if (hva)
		return (uint16_t *)(hva + off);
	return mem_gpa_to_hva(q->mem, gpa + off, sizeof(uint16_t));
}

static uint16_t *avail_u16(const struct virtq *q, uint64_t off)
{
	return ring_u16(q, q->avail_hva, q->avail_gpa, off);
}

static uint16_t *used_u16(const struct virtq *q, uint64_t off)
{
	return ring_u16(q, q->used_hva, q->used_gpa, off);
}

static bool avail_idx(struct virtq *q, uint16_t *idx)
{
	uint16_t *p = avail_u16(q, 2);

	if (!p)
		return false;
	/* Acquire: the ring entries and descriptors the driver wrote before
	 * bumping idx must be read after it. */
	*idx = le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
	return true;
}

static bool read_avail_u16(struct virtq *q, uint64_t off, uint16_t *v)
{
	uint16_t *p = avail_u16(q, off);

	if (!p)
		return false;
	*v = le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
	return true;
}

/* Entry i of a descriptor table at gpa (hva: its host address, or NULL),
 * copied once: the guest may rewrite it meanwhile. */
static bool read_desc(struct virtq *q, const uint8_t *hva, uint64_t gpa, uint32_t i,
		      struct virtq_desc *d)
{
	struct virtq_desc raw;

	if (hva)
		memcpy(&raw, hva + (uint64_t)i * sizeof(raw), sizeof(raw));
	else if (mem_read_span(q->mem, gpa + (uint64_t)i * sizeof(raw), &raw, sizeof(raw)))
		return false;
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
	return true;
}

/* ---- chain walking ---------------------------------------------------- */

struct walk {
	struct virtq *q;
	struct virtq_chain *c;
	bool seen_write;
};

static int add_buffer(struct walk *w, const struct virtq_desc *d)
{
	struct virtq_chain *c = w->c;
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	unsigned int used = c->nr_out + c->nr_in, n;
	int r;

	if (!write && w->seen_write)
		return malformed(w->q, "head %u: readable buffer after a writable one", c->head);
	if (d->len > UINT32_MAX - (c->out_len + c->in_len))
		return malformed(w->q, "head %u: chain longer than 4 GiB", c->head);
	r = mem_gpa_to_iov(w->q->mem, d->addr, d->len, &c->iov[used], VIRTQ_MAX_IOV - used, &n);
	if (r == -E2BIG)
		return malformed(w->q, "head %u: more than %u segments", c->head, VIRTQ_MAX_IOV);
	if (r)
		return malformed(w->q, "head %u: buffer [0x%llx, +0x%x) is not guest RAM",
				 c->head, (unsigned long long)d->addr, d->len);
	if (write) {
		w->seen_write = true;
		c->nr_in += n;
		c->in_len += d->len;
	} else {
		c->nr_out += n;
		c->out_len += d->len;
	}
	return 0;
}

static int walk_indirect(struct walk *w, const struct virtq_desc *ind)
{
	struct virtq *q = w->q;
	uint16_t head = w->c->head;
	uint32_t count = ind->len / sizeof(struct virtq_desc);
	uint32_t i = 0, steps = 0;
	const uint8_t *table;

	if (!(q->features & VIRTQ_F_INDIRECT_DESC))
		return malformed(q, "head %u: indirect descriptor not negotiated", head);
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return malformed(q, "head %u: indirect descriptor with NEXT", head);
	if (ind->len == 0 || ind->len % sizeof(struct virtq_desc) || count > VIRTQ_MAX_SIZE)
		return malformed(q, "head %u: indirect table length %u", head, ind->len);
	/* Within one slot (the usual case) it is read straight. */
	table = mem_gpa_to_hva(q->mem, ind->addr, ind->len);
	if (!table && !mem_range_is_ram(q->mem, ind->addr, ind->len))
		return malformed(q, "head %u: indirect table [0x%llx, +0x%x) is not guest RAM",
				 head, (unsigned long long)ind->addr, ind->len);
	for (;;) {
		struct virtq_desc d;
		int r;

		if (++steps > count)
			return malformed(q, "head %u: indirect chain loops", head);
		if (!read_desc(q, table, ind->addr, i, &d))
			return malformed(q, "head %u: indirect table unreadable", head);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return malformed(q, "head %u: nested indirect table", head);
		r = add_buffer(w, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= count)
			return malformed(q, "head %u: indirect next %u beyond table of %u",
					 head, i, count);
	}
}

/* Zero or more direct descriptors, then possibly one indirect table, which
 * ends the chain (INDIRECT with NEXT is illegal). */
static int walk_chain(struct walk *w)
{
	struct virtq *q = w->q;
	uint16_t idx = w->c->head;
	unsigned int steps = 0;

	for (;;) {
		struct virtq_desc d;
		int r;

		if (++steps > q->size)
			return malformed(q, "head %u: chain longer than the queue (a loop?)",
					 w->c->head);
		if (!read_desc(q, q->desc_hva, q->desc_gpa, idx, &d))
			return malformed(q, "descriptor table unreadable");
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(w, &d);
		r = add_buffer(w, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= q->size)
			return malformed(q, "head %u: next %u beyond queue size", w->c->head, idx);
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	struct walk w = { .q = q, .c = chain };
	uint16_t idx, pending, head;
	int r;

	if (q->broken)
		return -EINVAL;
	if (!q->enabled)
		return 0;
	if (!avail_idx(q, &idx))
		return malformed(q, "available ring unreadable");
	pending = (uint16_t)(idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return malformed(q, "available index jumped from %u to %u", q->last_avail, idx);
	if (!read_avail_u16(q, 4 + 2ull * (q->last_avail & (q->size - 1)), &head))
		return malformed(q, "available ring unreadable");
	if (head >= q->size)
		return malformed(q, "head %u beyond queue size", head);
	chain->head = head;
	chain->nr_out = chain->nr_in = 0;
	chain->out_len = chain->in_len = 0;
	r = walk_chain(&w);
	if (r)
		return r;
	q->last_avail++;
	return 1;
}

int virtq_fill(struct virtq *q, uint16_t head, uint32_t written, uint16_t ahead)
{
	uint32_t raw[2] = { htole32(head), htole32(written) };
	uint64_t elem;

	if (!q->enabled || head >= q->size || ahead >= q->size)
		return -EINVAL;
	elem = 4 + 8ull * ((uint16_t)(q->used_idx + ahead) & (q->size - 1));
	if (q->used_hva)
		memcpy(q->used_hva + elem, raw, sizeof(raw));
	else if (mem_write_span(q->mem, q->used_gpa + elem, raw, sizeof(raw)))
		return malformed(q, "used ring unwritable");
	return 0;
}

int virtq_flush(struct virtq *q, uint16_t count)
{
	uint16_t *idx;

	if (!q->enabled || count > q->size)
		return -EINVAL;
	idx = used_u16(q, 2);
	if (!idx)
		return malformed(q, "used ring unwritable");
	q->used_idx += count;
	/* Release: the elements and the buffers' contents before the index. */
	__atomic_store_n(idx, htole16(q->used_idx), __ATOMIC_RELEASE);
	return 0;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	int r = virtq_fill(q, head, written, 0);

	return r ? r : virtq_flush(q, 1);
}

void virtq_unpop(struct virtq *q, uint16_t n)
{
	q->last_avail -= n;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used, new = q->used_idx, v;
	bool valid = q->signalled_valid;

	if (!q->enabled)
		return false;
	/* The used index store must be visible before the driver's
	 * suppression state is read, or an interrupt could be lost. */
	atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->signalled_used = new;
	q->signalled_valid = true;
	if (valid && old == new)
		return false; /* nothing new since the last notification check */
	if (q->features & VIRTQ_F_EVENT_IDX) {
		if (!read_avail_u16(q, 4 + 2ull * q->size, &v))
			return true;
		/* Notify when used_event lies in [old, new): the driver asked to
		 * be woken when the device passes it. */
		return !valid || (uint16_t)(new - v - 1) < (uint16_t)(new - old);
	}
	if (!read_avail_u16(q, 0, &v))
		return true;
	return !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_set_avail_event(struct virtq *q)
{
	uint16_t idx;

	if (!q->enabled || q->broken)
		return false;
	if (q->features & VIRTQ_F_EVENT_IDX) {
		uint16_t *p = used_u16(q, 4 + 8ull * q->size);

		if (!p)
			return false;
		__atomic_store_n(p, htole16(q->last_avail), __ATOMIC_RELAXED);
	}
	/* The avail_event store before the second look at avail->idx. */
	atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!avail_idx(q, &idx))
		return false;
	return idx != q->last_avail;
}

/* ---- copies over a chain ---------------------------------------------- */

static size_t iov_copy(const struct iovec *iov, unsigned int n, uint64_t off,
		       void *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
	return iov_copy(c->iov, c->nr_out, off, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
	return iov_copy(c->iov + c->nr_out, c->nr_in, off, (void *)src, len, true);
}
