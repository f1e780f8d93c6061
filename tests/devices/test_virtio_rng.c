// SPDX-License-Identifier: MIT
/* virtio-rng against the test driver: entropy into buffers that straddle
 * slots, the token bucket with a fake clock and timer, a failing source,
 * malformed chains and reset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/rng.h"
#include "mmu/iovec.h"
#include "virtio_driver.h"
#include "quiet_log.h"

#define SEC 1000000000ull

struct env {
	struct tdrv t;
	struct virtio_rng *r;
	struct virtio_dev *d;
	struct virtq *q;
	uint64_t now;
	uint64_t armed;           /* last delay asked for; 0: none */
	unsigned int nr_arm, nr_notify, nr_reset;
	int fail;                 /* fill returns this when non-zero */
	uint8_t next;             /* the source's next byte */
};

static ssize_t fake_fill(void *ctx, void *buf, size_t len)
{
	struct env *e = ctx;

	if (e->fail)
		return e->fail;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = e->next++;
	return (ssize_t)len;
}

static uint64_t fake_now(void *ctx)
{
	return ((struct env *)ctx)->now;
}

static void fake_arm(void *ctx, uint64_t delay)
{
	struct env *e = ctx;

	e->armed = delay;
	e->nr_arm++;
}

static void on_queue(void *ctx, unsigned int q)
{
	assert_int_equal(q, 0);
	((struct env *)ctx)->nr_notify++;
}

static void on_reset(void *ctx)
{
	((struct env *)ctx)->nr_reset++;
}

static struct env *env_new(uint64_t max_bytes, uint64_t period)
{
	struct env *e = test_calloc(1, sizeof(*e));
	struct virtio_rng_params p = {
		.fill = fake_fill, .now_ns = fake_now, .arm = fake_arm, .ctx = e,
		.max_bytes = max_bytes, .period_ns = period,
	};

	td_map(&e->t);
	p.mem = &e->t.map;
	e->now = 5 * SEC;
	assert_int_equal(virtio_rng_create(&p, &e->r), 0);
	e->d = virtio_rng_dev(e->r);
	assert_int_equal(e->d->device_id, VIRTIO_ID_RNG);
	assert_int_equal(e->d->nr_queues, 1);
	e->d->notify = (struct virtio_notify){ .queue = on_queue, .needs_reset = on_reset,
					       .ctx = e };
	e->q = &e->d->queues[0];
	td_place(&e->t, e->q, 0, 16);
	assert_int_equal(virtq_enable(e->q), 0);
	assert_int_equal(e->d->ops->activate(e->d, 1ull << VIRTIO_F_VERSION_1), 0);
	return e;
}

static void env_free(struct env *e)
{
	e->d->ops->destroy(e->d);
	mem_map_destroy(&e->t.map);
	test_free(e);
}

/* Chain `head` = one writable buffer of len bytes at gpa. */
static void post(struct env *e, uint16_t head, uint64_t gpa, uint32_t len)
{
	td_desc(&e->t, e->q, head, gpa, len, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->q, 0, head);
}

static void expect_used(struct env *e, uint16_t i, uint32_t id, uint32_t len)
{
	uint32_t gid, glen;

	td_used_elem(&e->t, e->q, i, &gid, &glen);
	assert_int_equal(gid, id);
	assert_int_equal(glen, len);
}

static void test_fills_buffers(void **state)
{
	struct env *e = env_new(0, 0);
	uint64_t across = TD_DATA + TD_SLOT - 50;     /* straddles two slots */
	uint8_t got[100];

	(void)state;
	post(e, 0, across, 100);
	/* Chain 1: a readable descriptor (ignored) then two writable ones. */
	td_desc(&e->t, e->q, 1, TD_DATA, 8, VIRTQ_DESC_F_NEXT, 2);
	td_desc(&e->t, e->q, 2, TD_DATA + 0x1000, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	td_desc(&e->t, e->q, 3, TD_DATA + 0x2000, 16, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->q, 0, 1);
	e->d->ops->queue_notify(e->d, 0);
	assert_int_equal(td_used_idx(&e->t, e->q), 2);
	expect_used(e, 0, 0, 100);
	expect_used(e, 1, 1, 32);
	assert_int_equal(mem_read_span(&e->t.map, across, got, sizeof(got)), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(got[i], i);
	assert_int_equal(e->nr_notify, 1);
	assert_int_equal(e->nr_arm, 0);
	env_free(e);
}

static void test_rate_limit_and_timer(void **state)
{
	struct env *e = env_new(256, SEC);     /* 256 bytes a second */
	struct virtio_rng_stats st;

	(void)state;
	for (uint16_t i = 0; i < 4; i++)
		post(e, i, TD_DATA + i * 0x1000ull, 128);
	e->d->ops->queue_notify(e->d, 0);
	/* The full bucket serves two; the rest wait in the ring. */
	assert_int_equal(td_used_idx(&e->t, e->q), 2);
	assert_int_equal(e->nr_arm, 1);
	assert_int_equal(e->armed, SEC / 4);   /* 64 bytes accrue in 250 ms */
	/* A kick while dry serves nothing. */
	e->d->ops->queue_notify(e->d, 0);
	assert_int_equal(td_used_idx(&e->t, e->q), 2);
	e->now += SEC / 4;
	virtio_rng_timer(e->r);
	assert_int_equal(td_used_idx(&e->t, e->q), 3);
	expect_used(e, 2, 2, 64);              /* a short, legal grant */
	/* A long wait refills only up to the bucket's size. */
	e->now += 100 * SEC;
	virtio_rng_timer(e->r);
	assert_int_equal(td_used_idx(&e->t, e->q), 4);
	expect_used(e, 3, 3, 128);
	virtio_rng_get_stats(e->r, &st);
	assert_int_equal(st.bytes, 256 + 64 + 128);
	assert_int_equal(st.requests, 4);
	assert_true(st.throttled >= 2);
	env_free(e);
}

static void test_source_failure(void **state)
{
	struct env *e = env_new(0, 0);

	(void)state;
	e->fail = -EAGAIN;
	post(e, 0, TD_DATA, 64);
	e->d->ops->queue_notify(e->d, 0);
	expect_used(e, 0, 0, 0);               /* nothing, never garbage */
	e->fail = 0;
	post(e, 1, TD_DATA, 64);
	e->d->ops->queue_notify(e->d, 0);
	expect_used(e, 1, 1, 64);
	env_free(e);
}

static void test_hostile_chains(void **state)
{
	struct env *e = env_new(0, 0);

	(void)state;
	/* A descriptor loop. */
	td_desc(&e->t, e->q, 0, TD_DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&e->t, e->q, 1, TD_DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	td_publish(&e->t, e->q, 0, 0);
	e->d->ops->queue_notify(e->d, 0);
	assert_int_equal(e->nr_reset, 1);
	assert_int_equal(td_used_idx(&e->t, e->q), 0);
	/* Broken until reset: further kicks do nothing. */
	post(e, 2, TD_DATA, 16);
	e->d->ops->queue_notify(e->d, 0);
	assert_int_equal(td_used_idx(&e->t, e->q), 0);
	/* After a reset the device works again. */
	e->d->ops->reset(e->d);
	td_place(&e->t, e->q, 0, 16);
	assert_int_equal(virtq_enable(e->q), 0);
	assert_int_equal(e->d->ops->activate(e->d, 1ull << VIRTIO_F_VERSION_1), 0);
	post(e, 0, TD_HOLE, 16);               /* the MMIO hole: refused */
	e->d->ops->queue_notify(e->d, 0);
	assert_int_equal(e->nr_reset, 2);
	env_free(e);
}

static void test_reset_and_features(void **state)
{
	struct env *e = env_new(0, 0);

	(void)state;
	/* Unoffered features are refused. */
	assert_int_equal(e->d->ops->activate(e->d, 1ull << VIRTIO_F_VERSION_1 | 1ull << 40),
			 -EINVAL);
	assert_int_equal(e->d->ops->activate(e->d, 0), -EINVAL);
	post(e, 0, TD_DATA, 16);
	e->d->ops->reset(e->d);
	e->d->ops->queue_notify(e->d, 0);      /* reset: the chain is not served */
	virtio_rng_timer(e->r);
	assert_false(e->q->enabled);
	assert_int_equal(td_r16(&e->t, TD_RINGS + 0x8000 + 2), 0);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fills_buffers),
		cmocka_unit_test(test_rate_limit_and_timer),
		cmocka_unit_test(test_source_failure),
		cmocka_unit_test(test_hostile_chains),
		cmocka_unit_test(test_reset_and_features),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}
