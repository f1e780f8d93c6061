// SPDX-License-Identifier: MIT
/*
 * The split virtqueue against a test driver writing real rings into fake
 * guest RAM (2 MiB slots): chains, indirect tables, slot-straddling
 * buffers, the used ring, notification suppression, and every malformed
 * ring we know of (each must break the queue without touching anything
 * outside guest RAM).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/log.h"

#include "devices/virtio/virtqueue.h"
#include "virtio_driver.h"

#define QSIZE 8

struct fx {
	struct tdrv t;
	struct virtq q;
	struct virtq_chain c;
};

static int setup_features(void **state, unsigned int features)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	td_map(&f->t);
	virtq_init(&f->q, &f->t.map, 256);
	td_place(&f->t, &f->q, 0, QSIZE);
	f->q.features = features;
	assert_int_equal(virtq_enable(&f->q), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_features(state, VIRTQ_F_INDIRECT_DESC);
}

static int setup_event_idx(void **state)
{
	return setup_features(state, VIRTQ_F_INDIRECT_DESC | VIRTQ_F_EVENT_IDX);
}

static int setup_plain(void **state)
{
	return setup_features(state, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mem_map_destroy(&f->t.map);
	free(f);
	return 0;
}

/* Publish head and expect virtq_pop to reject the chain for good. */
static void expect_malformed(struct fx *f, uint16_t head)
{
	td_publish(&f->t, &f->q, 0, head);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_true(f->q.broken);
	assert_int_equal(f->q.last_avail, 0);
	/* Stays broken, even once the ring looks sane again. */
	td_desc(&f->t, &f->q, 0, TD_DATA, 16, 0, 0);
	td_publish(&f->t, &f->q, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
}

/* ---- enabling --------------------------------------------------------- */

static void try_enable(struct fx *f, uint16_t size, uint64_t desc, uint64_t avail,
		       uint64_t used, int expect)
{
	virtq_reset(&f->q);
	f->q.size = size;
	f->q.desc_gpa = desc;
	f->q.avail_gpa = avail;
	f->q.used_gpa = used;
	assert_int_equal(virtq_enable(&f->q), expect);
	assert_int_equal(f->q.enabled, expect == 0);
}

static void test_enable_checks(void **state)
{
	struct fx *f = *state;
	uint64_t d = TD_RINGS, a = TD_RINGS + 0x4000, u = TD_RINGS + 0x8000;

	try_enable(f, 8, d, a, u, 0);
	try_enable(f, 256, d, a, u, 0);
	try_enable(f, 1, d, a, u, 0);
	/* Size: a power of two, not zero, at most what the device offers. */
	try_enable(f, 0, d, a, u, -EINVAL);
	try_enable(f, 3, d, a, u, -EINVAL);
	try_enable(f, 12, d, a, u, -EINVAL);
	try_enable(f, 512, d, a, u, -EINVAL);
	/* Alignment: 16, 2, 4. */
	try_enable(f, 8, d + 8, a, u, -EINVAL);
	try_enable(f, 8, d, a + 1, u, -EINVAL);
	try_enable(f, 8, d, a, u + 2, -EINVAL);
	try_enable(f, 8, d, a + 2, u + 4, 0);
	/* Rings outside RAM: past the top, in the MMIO hole, wrapping. */
	try_enable(f, 8, TD_RAM, a, u, -EINVAL);
	try_enable(f, 8, TD_RAM - 64, a, u, -EINVAL); /* last bytes beyond RAM */
	try_enable(f, 8, d, TD_HOLE, u, -EINVAL);
	try_enable(f, 8, d, a, TD_HOLE + 0x1000, -EINVAL);
	try_enable(f, 8, 0xFFFFFFFFFFFFFFF0ull, a, u, -EINVAL);
	/* A ring may straddle two slots. */
	try_enable(f, 8, TD_SLOT - 64, a, u, 0);
}

/* ---- well-formed chains ----------------------------------------------- */

static void test_empty_and_disabled(void **state)
{
	struct fx *f = *state;

	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	virtq_reset(&f->q);
	assert_false(f->q.enabled);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_int_equal(virtq_push(&f->q, 0, 0), -EINVAL);
}

static void test_simple_chain(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;

	td_desc(t, &f->q, 5, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	td_desc(t, &f->q, 2, TD_DATA + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
	td_desc(t, &f->q, 7, TD_DATA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	td_publish(t, &f->q, 0, 5);

	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->c.iov[0].iov_base, td_hva(t, TD_DATA, 16));
	assert_int_equal(f->c.iov[0].iov_len, 16);
	assert_ptr_equal(f->c.iov[1].iov_base, td_hva(t, TD_DATA + 0x1000, 512));
	assert_int_equal(f->c.iov[1].iov_len, 512);
	assert_ptr_equal(f->c.iov[2].iov_base, td_hva(t, TD_DATA + 0x2000, 1));
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
}

static void test_span_two_slots(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;
	uint64_t gpa = 2 * TD_SLOT - 0x800;

	td_desc(t, &f->q, 0, gpa, 0x1000, 0, 0);
	td_publish(t, &f->q, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.out_len, 0x1000);
	assert_ptr_equal(f->c.iov[0].iov_base, td_hva(t, gpa, 0x800));
	assert_int_equal(f->c.iov[0].iov_len, 0x800);
	assert_ptr_equal(f->c.iov[1].iov_base, td_hva(t, 2 * TD_SLOT, 0x800));
	assert_int_equal(f->c.iov[1].iov_len, 0x800);
}

static void test_chain_copies(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;
	uint64_t gpa = 3 * TD_SLOT - 4;
	uint8_t in[12], out[12], buf[12];

	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xA0 + i);
	assert_int_equal(mem_write(&t->map, gpa, in, 4), 0);
	assert_int_equal(mem_write(&t->map, gpa + 4, in + 4, 8), 0);
	td_desc(t, &f->q, 0, gpa, 6, VIRTQ_DESC_F_NEXT, 1);
	td_desc(t, &f->q, 1, gpa + 6, 6, VIRTQ_DESC_F_NEXT, 2);
	td_desc(t, &f->q, 2, TD_DATA, 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	td_desc(t, &f->q, 3, TD_DATA + 0x100, 9, VIRTQ_DESC_F_WRITE, 0);
	td_publish(t, &f->q, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nr_out, 3); /* the first buffer straddles slots */

	assert_int_equal(virtq_chain_read(&f->c, 0, out, 12), 12);
	assert_memory_equal(out, in, 12);
	assert_int_equal(virtq_chain_read(&f->c, 3, out, 12), 9); /* partial */
	assert_memory_equal(out, in + 3, 9);
	assert_int_equal(virtq_chain_read(&f->c, 12, out, 1), 0);

	assert_int_equal(virtq_chain_write(&f->c, 1, in, 12), 11);
	assert_int_equal(mem_read(&t->map, TD_DATA + 1, buf, 2), 0);
	assert_memory_equal(buf, in, 2);
	assert_int_equal(mem_read(&t->map, TD_DATA + 0x100, buf, 9), 0);
	assert_memory_equal(buf, in + 2, 9);
}

static void test_used_ring(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;
	uint32_t id, len;

	/* Two full rounds of the ring: indices wrap modulo the size. */
	for (unsigned int i = 0; i < 2 * QSIZE; i++) {
		uint16_t head = (uint16_t)((i * 3) % QSIZE);

		td_desc(t, &f->q, head, TD_DATA, 64, VIRTQ_DESC_F_WRITE, 0);
		td_publish(t, &f->q, 0, head);
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		assert_int_equal(f->c.head, head);
		assert_int_equal(virtq_push(&f->q, head, 10 + i), 0);
		assert_int_equal(td_used_idx(t, &f->q), i + 1);
		td_used_elem(t, &f->q, (uint16_t)i, &id, &len);
		assert_int_equal(id, head);
		assert_int_equal(len, 10 + i);
	}
	/* The device refuses to push a head outside the queue. */
	assert_int_equal(virtq_push(&f->q, QSIZE, 0), -EINVAL);
	assert_int_equal(td_used_idx(t, &f->q), 2 * QSIZE);
}

static void test_avail_idx_wraps(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;

	/* The 16-bit indices wrap: 65535 -> 0 is one new entry. */
	f->q.last_avail = 0xFFFF;
	t->avail_idx[0] = 0xFFFF;
	td_desc(t, &f->q, 1, TD_DATA, 8, 0, 0);
	td_publish(t, &f->q, 0, 1);
	assert_int_equal(td_r16(t, f->q.avail_gpa + 2), 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->q.last_avail, 0);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;
	uint64_t table = TD_DATA + 0x10000;

	/* One direct readable descriptor, then an indirect table. */
	td_desc_at(t, table, 0, TD_DATA, 100, VIRTQ_DESC_F_NEXT, 2);
	td_desc_at(t, table, 2, TD_DATA + 0x1000, 200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	td_desc_at(t, table, 1, TD_DATA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	td_desc(t, &f->q, 3, TD_DATA + 0x3000, 16, VIRTQ_DESC_F_NEXT, 6);
	/* WRITE on the indirect descriptor itself is ignored (2.7.5.3.2). */
	td_desc(t, &f->q, 6, table, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	td_publish(t, &f->q, 0, 3);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 116);
	assert_int_equal(f->c.in_len, 201);
	assert_ptr_equal(f->c.iov[1].iov_base, td_hva(t, TD_DATA, 1));
	assert_ptr_equal(f->c.iov[3].iov_base, td_hva(t, TD_DATA + 0x2000, 1));
}

/* ---- malformed rings -------------------------------------------------- */

static void test_loop(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_malformed(f, 0);
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 4, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 4);
	expect_malformed(f, 4);
}

static void test_chain_longer_than_queue(void **state)
{
	struct fx *f = *state;

	/* Every descriptor once, then back to the start: QSIZE + 1 visits. */
	for (uint16_t i = 0; i < QSIZE; i++)
		td_desc(&f->t, &f->q, i, TD_DATA + i * 16, 16, VIRTQ_DESC_F_NEXT,
			(uint16_t)((i + 1) % QSIZE));
	expect_malformed(f, 0);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, QSIZE);
	expect_malformed(f, 0);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	expect_malformed(f, QSIZE);
}

static void test_head_far_out_of_range(void **state)
{
	struct fx *f = *state;

	expect_malformed(f, 0xFFFF);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;

	td_desc(t, &f->q, 0, TD_DATA, 16, 0, 0);
	td_w16(t, f->q.avail_gpa + 2, QSIZE + 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_true(f->q.broken);
}

static void test_avail_idx_full_ring_ok(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;

	/* Exactly a full ring is legal. */
	for (uint16_t i = 0; i < QSIZE; i++) {
		td_desc(t, &f->q, i, TD_DATA, 16, 0, 0);
		td_publish(t, &f->q, 0, i);
	}
	for (uint16_t i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
}

static void test_buffer_beyond_ram(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_RAM - 8, 16, 0, 0);
	expect_malformed(f, 0);
}

static void test_buffer_in_mmio_hole(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_HOLE, 512, VIRTQ_DESC_F_WRITE, 0);
	expect_malformed(f, 0);
}

/* The test guests' MMU mailbox is a memory slot, but not RAM: neither a
 * buffer nor a ring may sit there. */
static void test_buffer_in_mmu_region(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mem_map_add(&f->t.map, TD_HOLE, 0x1000, MEM_MMU_MAILBOX, false), 0);
	try_enable(f, QSIZE, TD_RINGS, TD_RINGS + 0x4000, TD_HOLE, -EINVAL);
	try_enable(f, QSIZE, TD_RINGS, TD_RINGS + 0x4000, TD_RINGS + 0x8000, 0);
	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_HOLE, 512, VIRTQ_DESC_F_WRITE, 0);
	expect_malformed(f, 0);
}

static void test_length_wraps_address(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, 0xFFFFFFFFFFFFF000ull, 0x2000, 0, 0);
	expect_malformed(f, 0);
}

static void test_huge_length(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, 0x1000, 0xFFFFFFFF, 0, 0);
	expect_malformed(f, 0);
}

static void test_total_length_overflow(void **state)
{
	struct fx *f = *state;

	/* 16 + 0xFFFFFFF8 does not fit the 32-bit used length. */
	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_DATA, 0xFFFFFFF8, VIRTQ_DESC_F_WRITE, 0);
	expect_malformed(f, 0);
}

static void test_read_after_write(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_DATA + 16, 16, 0, 0);
	expect_malformed(f, 0);
}

static void test_read_after_write_indirect(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	/* A writable direct descriptor, then a readable one in the table. */
	td_desc_at(&f->t, table, 0, TD_DATA, 16, 0, 0);
	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	td_desc_at(&f->t, table, 0, TD_DATA, 16, 0, 0);
	td_desc(&f->t, &f->q, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_with_next(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	td_desc_at(&f->t, table, 0, TD_DATA, 16, 0, 0);
	td_desc(&f->t, &f->q, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, &f->q, 1, TD_DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	expect_malformed(f, 0);
}

static void indirect_bad_len(struct fx *f, uint32_t len)
{
	uint64_t table = TD_DATA + 0x10000;

	td_desc_at(&f->t, table, 0, TD_DATA, 16, 0, 0);
	td_desc(&f->t, &f->q, 0, table, len, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_len_zero(void **state)
{
	indirect_bad_len(*state, 0);
}

static void test_indirect_len_not_multiple(void **state)
{
	indirect_bad_len(*state, 24);
}

static void test_indirect_len_too_long(void **state)
{
	indirect_bad_len(*state, (VIRTQ_MAX_SIZE + 1) * 16);
}

static void test_indirect_table_beyond_ram(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_table_in_hole(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_HOLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_nested(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000, inner = TD_DATA + 0x20000;

	td_desc_at(&f->t, inner, 0, TD_DATA, 16, 0, 0);
	td_desc_at(&f->t, table, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc_at(&f->t, table, 1, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
	td_desc(&f->t, &f->q, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_points_at_itself(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	/* The table's only entry names the table again as an indirect table. */
	td_desc_at(&f->t, table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	td_desc(&f->t, &f->q, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	td_desc_at(&f->t, table, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc_at(&f->t, table, 1, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	td_desc(&f->t, &f->q, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_indirect_next_beyond_table(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	td_desc_at(&f->t, table, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	td_desc_at(&f->t, table, 2, TD_DATA, 16, 0, 0); /* exists, outside the table */
	td_desc(&f->t, &f->q, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_too_many_segments(void **state)
{
	struct fx *f = *state;
	uint64_t table = TD_DATA + 0x10000;

	/* 1024 legal descriptors, each straddling two slots: 2048 iovecs. */
	for (uint16_t i = 0; i < VIRTQ_MAX_SIZE; i++)
		td_desc_at(&f->t, table, i, TD_SLOT - 8, 16,
			   i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	td_desc(&f->t, &f->q, 0, table, VIRTQ_MAX_SIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0);
}

static void test_reset_clears_broken(void **state)
{
	struct fx *f = *state;

	td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_malformed(f, 0);
	virtq_reset(&f->q);
	assert_false(f->q.broken);
	td_place(&f->t, &f->q, 0, QSIZE);
	f->q.features = VIRTQ_F_INDIRECT_DESC;
	assert_int_equal(virtq_enable(&f->q), 0);
	td_desc(&f->t, &f->q, 0, TD_DATA, 16, 0, 0);
	td_publish(&f->t, &f->q, 0, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
}

static unsigned int count_lines(FILE *fp, const char *needle)
{
	char line[512];
	unsigned int n = 0;

	fflush(fp);
	rewind(fp);
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, needle))
			n++;
	fseek(fp, 0, SEEK_END); /* ready to be written again */
	return n;
}

static void test_malformed_log_ratelimited(void **state)
{
	struct fx *f = *state;
	FILE *log = tmpfile();

	assert_non_null(log);
	log_set_sink(log);
	for (unsigned int i = 0; i < 15; i++) {
		virtq_reset(&f->q);
		td_place(&f->t, &f->q, 0, QSIZE);
		assert_int_equal(virtq_enable(&f->q), 0);
		td_desc(&f->t, &f->q, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 0);
		td_publish(&f->t, &f->q, 0, 0);
		assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
		/* A broken queue says nothing more. */
		assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
		if (i == 0)
			assert_int_equal(count_lines(log, "virtqueue"), 1);
	}
	fflush(log);
	log_set_sink(stderr);
	/* The burst survives resets; then one "suppressed" line. */
	assert_int_equal(count_lines(log, "chain longer than the queue"), 10);
	assert_int_equal(count_lines(log, "further malformed virtqueue messages suppressed"), 1);
	fclose(log);
}

/* ---- notifications ---------------------------------------------------- */

static void pop_push(struct fx *f, uint16_t head)
{
	td_desc(&f->t, &f->q, head, TD_DATA, 16, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, &f->q, 0, head);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, head, 16), 0);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx *f = *state;

	pop_push(f, 0);
	assert_true(virtq_should_notify(&f->q));
	assert_false(virtq_should_notify(&f->q)); /* nothing new */
	td_set_avail_flags(&f->t, &f->q, VIRTQ_AVAIL_F_NO_INTERRUPT);
	pop_push(f, 1);
	assert_false(virtq_should_notify(&f->q));
	td_set_avail_flags(&f->t, &f->q, 0);
	pop_push(f, 2);
	assert_true(virtq_should_notify(&f->q));
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;

	/* The flag is ignored with EVENT_IDX. */
	td_set_avail_flags(&f->t, &f->q, VIRTQ_AVAIL_F_NO_INTERRUPT);
	td_set_used_event(&f->t, &f->q, 0);
	pop_push(f, 0);                         /* used idx 0 -> 1 passes 0 */
	assert_true(virtq_should_notify(&f->q));
	pop_push(f, 1);                         /* 1 -> 2: event 0 already passed */
	assert_false(virtq_should_notify(&f->q));
	td_set_used_event(&f->t, &f->q, 4);
	pop_push(f, 2);                         /* 2 -> 3 */
	assert_false(virtq_should_notify(&f->q));
	pop_push(f, 3);                         /* 3 -> 4 */
	assert_false(virtq_should_notify(&f->q));
	pop_push(f, 4);                         /* 4 -> 5 passes 4 */
	assert_true(virtq_should_notify(&f->q));
	/* Several pushes between checks: notify if event lies in [old, new). */
	td_set_used_event(&f->t, &f->q, 6);
	pop_push(f, 5);
	pop_push(f, 6);
	pop_push(f, 7);                         /* 5 -> 8 passes 6 */
	assert_true(virtq_should_notify(&f->q));
	td_set_used_event(&f->t, &f->q, 20);
	pop_push(f, 0);
	pop_push(f, 1);                         /* 8 -> 10 */
	assert_false(virtq_should_notify(&f->q));
}

static void test_avail_event(void **state)
{
	struct fx *f = *state;

	assert_false(virtq_set_avail_event(&f->q));
	assert_int_equal(td_avail_event(&f->t, &f->q), 0);
	pop_push(f, 0);
	pop_push(f, 1);
	assert_false(virtq_set_avail_event(&f->q));
	assert_int_equal(td_avail_event(&f->t, &f->q), 2);
	/* A buffer made available behind the device's back is reported. */
	td_desc(&f->t, &f->q, 2, TD_DATA, 16, 0, 0);
	td_publish(&f->t, &f->q, 0, 2);
	assert_true(virtq_set_avail_event(&f->q));
}

static void test_avail_event_plain(void **state)
{
	struct fx *f = *state;

	/* Without EVENT_IDX nothing is written, but the re-check still works. */
	pop_push(f, 0);
	assert_false(virtq_set_avail_event(&f->q));
	assert_int_equal(td_avail_event(&f->t, &f->q), 0);
	td_desc(&f->t, &f->q, 2, TD_DATA, 16, 0, 0);
	td_publish(&f->t, &f->q, 0, 2);
	assert_true(virtq_set_avail_event(&f->q));
}

/* Rings and an indirect table that straddle a slot boundary are reached
 * field by field (the used element at index 2 is split across the slots);
 * after a reset, rings inside one slot through their host addresses. */
static void test_rings_straddle_slots(void **state)
{
	struct fx *f = *state;
	struct tdrv *t = &f->t;
	uint64_t table = 3 * TD_SLOT - 32; /* entries 0-1 in slot 2, 2 in slot 3 */
	unsigned int feat = VIRTQ_F_INDIRECT_DESC | VIRTQ_F_EVENT_IDX;
	uint32_t id, len;

	virtq_reset(&f->q);
	f->q.size = QSIZE;
	f->q.desc_gpa = TD_SLOT - 64;
	f->q.avail_gpa = 5 * TD_SLOT - 10;
	f->q.used_gpa = 6 * TD_SLOT - 24;
	f->q.features = feat;
	t->avail_idx[0] = 0;
	assert_int_equal(virtq_enable(&f->q), 0);
	assert_null(f->q.desc_hva);
	assert_null(f->q.avail_hva);
	assert_null(f->q.used_hva);
	for (uint16_t i = 0; i < 3; i++) {
		uint16_t head = (uint16_t)(2 * i + 1);

		td_desc_at(t, table, 0, TD_DATA, 16, VIRTQ_DESC_F_NEXT, 1);
		td_desc_at(t, table, 1, TD_DATA + 0x1000, 512,
			   VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
		td_desc_at(t, table, 2, TD_DATA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
		td_desc(t, &f->q, head, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
		td_set_used_event(t, &f->q, i);
		td_publish(t, &f->q, 0, head);
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		assert_int_equal(f->c.head, head);
		assert_int_equal(f->c.nr_out, 1);
		assert_int_equal(f->c.nr_in, 2);
		assert_int_equal(f->c.out_len, 16);
		assert_int_equal(f->c.in_len, 513);
		assert_ptr_equal(f->c.iov[2].iov_base, td_hva(t, TD_DATA + 0x2000, 1));
		assert_int_equal(virtq_push(&f->q, head, 100 + i), 0);
		assert_true(virtq_should_notify(&f->q));
		assert_int_equal(td_used_idx(t, &f->q), i + 1);
		td_used_elem(t, &f->q, i, &id, &len);
		assert_int_equal(id, head);
		assert_int_equal(len, 100 + i);
		assert_false(virtq_set_avail_event(&f->q));
		assert_int_equal(td_avail_event(t, &f->q), i + 1);
	}
	virtq_reset(&f->q);
	td_place(t, &f->q, 0, QSIZE);
	f->q.features = feat;
	assert_int_equal(virtq_enable(&f->q), 0);
	assert_ptr_equal(f->q.desc_hva, td_hva(t, f->q.desc_gpa, 1));
	assert_ptr_equal(f->q.avail_hva, td_hva(t, f->q.avail_gpa, 1));
	assert_ptr_equal(f->q.used_hva, td_hva(t, f->q.used_gpa, 1));
	pop_push(f, 0);
	assert_int_equal(td_used_idx(t, &f->q), 1);
	td_used_elem(t, &f->q, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 16);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T_EV(fn) cmocka_unit_test_setup_teardown(fn, setup_event_idx, teardown)
#define T_PLAIN(fn) cmocka_unit_test_setup_teardown(fn, setup_plain, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_enable_checks),
		T(test_empty_and_disabled),
		T(test_simple_chain),
		T(test_span_two_slots),
		T(test_chain_copies),
		T(test_used_ring),
		T(test_avail_idx_wraps),
		T(test_indirect),
		T(test_loop),
		T(test_self_loop),
		T(test_chain_longer_than_queue),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_head_far_out_of_range),
		T(test_avail_idx_jump),
		T(test_avail_idx_full_ring_ok),
		T(test_buffer_beyond_ram),
		T(test_buffer_in_mmio_hole),
		T(test_buffer_in_mmu_region),
		T(test_length_wraps_address),
		T(test_huge_length),
		T(test_total_length_overflow),
		T(test_read_after_write),
		T(test_read_after_write_indirect),
		T_PLAIN(test_indirect_not_negotiated),
		T(test_indirect_with_next),
		T(test_indirect_len_zero),
		T(test_indirect_len_not_multiple),
		T(test_indirect_len_too_long),
		T(test_indirect_table_beyond_ram),
		T(test_indirect_table_in_hole),
		T(test_indirect_nested),
		T(test_indirect_points_at_itself),
		T(test_indirect_loop),
		T(test_indirect_next_beyond_table),
		T(test_too_many_segments),
		T(test_reset_clears_broken),
		T(test_malformed_log_ratelimited),
		T_PLAIN(test_no_interrupt_flag),
		T_EV(test_event_idx),
		T_EV(test_avail_event),
		T_PLAIN(test_avail_event_plain),
		T(test_rings_straddle_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
