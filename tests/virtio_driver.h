/* SPDX-License-Identifier: MIT */
/*
 * A tiny virtio driver for unit tests: 16 MiB of guest RAM cut into 2 MiB
 * slots (so buffers can straddle slots), one split virtqueue whose rings it
 * writes as a guest driver would.  Include after <cmocka.h>.
 */
#ifndef MINIVMM_TESTS_VIRTIO_DRIVER_H
#define MINIVMM_TESTS_VIRTIO_DRIVER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "mmu/memory.h"

#define TD_MiB       (1024ull * 1024)
#define TD_RAM       (16 * TD_MiB)
#define TD_SLOT      (2 * TD_MiB)
/* Rings of queue n live at TD_RINGS + n * 64 KiB; data from TD_DATA up. */
#define TD_RINGS     0x100000ull
#define TD_DATA      0x400000ull
#define TD_HOLE      0xC0000000ull

struct tdrv {
	struct mem_map map;
	uint16_t avail_idx[8];  /* the driver's next avail index, per queue */
};

static inline void td_map(struct tdrv *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(mem_map_create(&t->map,
		&(struct mem_layout_spec){ MEM_LAYOUT_CHUNKS, TD_SLOT },
		MEM_BACKING_ANON, TD_RAM, 64), 0);
	assert_int_equal(t->map.nr_slots, TD_RAM / TD_SLOT);
}

static inline void *td_hva(struct tdrv *t, uint64_t gpa, uint64_t len)
{
	void *p = mem_gpa_to_hva(&t->map, gpa, len);

	assert_non_null(p);
	return p;
}

/* Point q at rings for queue n (sized `size`) without enabling it. */
static inline void td_place(struct tdrv *t, struct virtq *q, unsigned int n, uint16_t size)
{
	uint64_t base = TD_RINGS + n * 0x10000ull;

	q->size = size;
	q->desc_gpa = base;
	q->avail_gpa = base + 0x4000;
	q->used_gpa = base + 0x8000;
	memset(td_hva(t, base, 0x10000), 0, 0x10000);
	t->avail_idx[n] = 0;
}

static inline void td_desc_at(struct tdrv *t, uint64_t table, uint16_t i, uint64_t addr,
			      uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	assert_int_equal(mem_write(&t->map, table + 16ull * i, &d, sizeof(d)), 0);
}

static inline void td_desc(struct tdrv *t, struct virtq *q, uint16_t i, uint64_t addr,
			   uint32_t len, uint16_t flags, uint16_t next)
{
	td_desc_at(t, q->desc_gpa, i, addr, len, flags, next);
}

static inline void td_w16(struct tdrv *t, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	assert_int_equal(mem_write(&t->map, gpa, &v, 2), 0);
}

static inline uint16_t td_r16(struct tdrv *t, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(mem_read(&t->map, gpa, &v, 2), 0);
	return le16toh(v);
}

static inline uint32_t td_r32(struct tdrv *t, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(mem_read(&t->map, gpa, &v, 4), 0);
	return le32toh(v);
}

/* Make `head` available on queue n and publish the index. */
static inline void td_publish(struct tdrv *t, struct virtq *q, unsigned int n, uint16_t head)
{
	uint16_t slot = t->avail_idx[n] % q->size;

	td_w16(t, q->avail_gpa + 4 + 2ull * slot, head);
	t->avail_idx[n]++;
	td_w16(t, q->avail_gpa + 2, t->avail_idx[n]);
}

static inline uint16_t td_used_idx(struct tdrv *t, struct virtq *q)
{
	return td_r16(t, q->used_gpa + 2);
}

static inline void td_used_elem(struct tdrv *t, struct virtq *q, uint16_t i,
				uint32_t *id, uint32_t *len)
{
	uint64_t e = q->used_gpa + 4 + 8ull * (i % q->size);

	*id = td_r32(t, e);
	*len = td_r32(t, e + 4);
}

static inline void td_set_avail_flags(struct tdrv *t, struct virtq *q, uint16_t flags)
{
	td_w16(t, q->avail_gpa, flags);
}

static inline void td_set_used_event(struct tdrv *t, struct virtq *q, uint16_t v)
{
	td_w16(t, q->avail_gpa + 4 + 2ull * q->size, v);
}

static inline uint16_t td_avail_event(struct tdrv *t, struct virtq *q)
{
	return td_r16(t, q->used_gpa + 4 + 8ull * q->size);
}

#endif
