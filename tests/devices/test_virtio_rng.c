// SPDX-License-Identifier: MIT
/*
 * virtio-rng against the test driver (2 MiB slots scattered in host
 * memory), a scripted entropy source, a hand-driven clock and a recording
 * wake-up: fills into slot-spanning and multi-buffer requests, short
 * fills, the token bucket (limits, the wake-up delay, FIFO order, the
 * per-request caps, a clock that steps back, extreme rates), source
 * failures, hostile chains, reset while a request waits, negotiation
 * through the real virtio-pci transport, and a timer thread racing kicks
 * and resets.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/rng.h"
#include "mmu/iovec.h"

#include "fake_mem.h"
#include "quiet_log.h"
#include "virtio_driver.h"
#include "virtio_bar.h"

#define QSIZE     16
#define DATA      0x400000ull
#define SLOT_END  0x600000ull
#define SEC       1000000000ull
#define F_VER1    (1ull << VIRTIO_F_VERSION_1)
#define F_INDIR   (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_EIDX    (1ull << VIRTIO_F_EVENT_IDX)

enum src_mode { SRC_OK, SRC_FAIL, SRC_ZERO, SRC_TOO_MANY };

struct rfx {
	struct tdrv t;
	struct virtio_rng *r;
	struct virtio_dev *d;
	/* clock */
	uint64_t now;
	uint64_t tick;            /* added on every reading (threaded test) */
	/* wake-up */
	unsigned int arms;
	uint64_t delay;
	/* entropy: a known stream, so "filled" is checkable */
	enum src_mode mode;
	size_t max_chunk;         /* 0: whole requests */
	unsigned int fail_after;  /* 0: never; else calls that succeed first */
	size_t produced;
	unsigned int fills;
	unsigned int notified, needs_reset;
};

static uint8_t stream_byte(size_t i)
{
	return (uint8_t)(i * 167 + i / 253 + 1);
}

static ssize_t src_fill(void *ctx, void *buf, size_t len)
{
	struct rfx *f = ctx;
	size_t n = f->max_chunk && f->max_chunk < len ? f->max_chunk : len;

	f->fills++;
	if (f->fail_after && f->fills > f->fail_after)
		return -EIO;
	switch (f->mode) {
	case SRC_FAIL: return -EAGAIN;
	case SRC_ZERO: return 0;
	case SRC_TOO_MANY: return (ssize_t)len + 1;
	case SRC_OK: break;
	}
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = stream_byte(f->produced + i);
	f->produced += n;
	return (ssize_t)n;
}

static uint64_t clk(void *ctx)
{
	struct rfx *f = ctx;

	return __atomic_add_fetch(&f->now, f->tick, __ATOMIC_RELAXED);
}

static void arm(void *ctx, uint64_t delay_ns)
{
	struct rfx *f = ctx;

	assert_true(delay_ns > 0);
	__atomic_store_n(&f->delay, delay_ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&f->arms, 1, __ATOMIC_RELAXED);
}

static void on_queue(void *ctx, unsigned int q)
{
	assert_int_equal(q, 0);
	__atomic_fetch_add(&((struct rfx *)ctx)->notified, 1, __ATOMIC_RELAXED);
}

static void on_needs_reset(void *ctx)
{
	__atomic_fetch_add(&((struct rfx *)ctx)->needs_reset, 1, __ATOMIC_RELAXED);
}

static struct virtio_rng_params params(struct rfx *f, uint64_t bytes, uint64_t period)
{
	return (struct virtio_rng_params){
		.mem = &f->t.map, .queue_size = QSIZE,
		.entropy = { src_fill, f }, .clock = { clk, f }, .wakeup = { arm, f },
		.bytes_per_period = bytes, .period_ns = period,
	};
}

static struct rfx *create(uint64_t bytes, uint64_t period)
{
	struct rfx *f = calloc(1, sizeof(*f));
	struct virtio_rng_params p;

	assert_non_null(f);
	assert_int_equal(fake_mem_init_slots(&f->t.map, 0, TD_SLOT, TD_RAM / TD_SLOT, true), 0);
	f->now = 1000 * SEC;
	p = params(f, bytes, period);
	assert_int_equal(virtio_rng_create(&p, &f->r), 0);
	f->d = virtio_rng_dev(f->r);
	f->d->notify = (struct virtio_notify){ .queue = on_queue,
		.needs_reset = on_needs_reset, .ctx = f };
	return f;
}

static void enable_and_activate(struct rfx *f, uint64_t features)
{
	td_place(&f->t, &f->d->queues[0], 0, QSIZE);
	assert_int_equal(virtq_enable(&f->d->queues[0]), 0);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1 | features), 0);
}

static struct rfx *make(uint64_t bytes, uint64_t period, uint64_t features)
{
	struct rfx *f = create(bytes, period);

	enable_and_activate(f, features);
	return f;
}

static void destroy(struct rfx *f)
{
	f->d->ops->destroy(f->d);
	fake_mem_destroy(&f->t.map);
	free(f);
}

static int setup(void **state)
{
	*state = make(0, 0, 0);   /* the defaults: 1 MiB per second */
	return 0;
}

static int teardown(void **state)
{
	destroy(*state);
	return 0;
}

/* ---- the test driver -------------------------------------------------- */

static struct virtq *Q(struct rfx *f)
{
	return &f->d->queues[0];
}

static void junk(struct rfx *f, uint64_t gpa, uint32_t len)
{
	uint8_t *buf = malloc(len ? len : 1);

	memset(buf, 0xEE, len ? len : 1);
	assert_int_equal(mem_write_span(&f->t.map, gpa, buf, len), 0);
	free(buf);
}

/* Request `head`: one writable buffer, pre-filled with 0xEE. */
static void request(struct rfx *f, uint16_t head, uint64_t gpa, uint32_t len)
{
	junk(f, gpa, len);
	td_desc(&f->t, Q(f), head, gpa, len, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, Q(f), 0, head);
}

static void kick(struct rfx *f)
{
	f->d->ops->queue_notify(f->d, 0);
}

static uint32_t used_len(struct rfx *f, uint16_t i, uint16_t head)
{
	uint32_t id, len;

	td_used_elem(&f->t, Q(f), i, &id, &len);
	assert_int_equal(id, head);
	return len;
}

/* Guest bytes [gpa, gpa+len) are stream bytes from `from`. */
static void assert_stream(struct rfx *f, uint64_t gpa, size_t len, size_t from)
{
	uint8_t *got = malloc(len);

	assert_int_equal(mem_read_span(&f->t.map, gpa, got, len), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(got[i], stream_byte(from + i));
	free(got);
}

static void assert_junk(struct rfx *f, uint64_t gpa, size_t len)
{
	uint8_t *got = malloc(len);

	assert_int_equal(mem_read_span(&f->t.map, gpa, got, len), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(got[i], 0xEE);
	free(got);
}

/* ---- identity, parameters --------------------------------------------- */

static void test_identity(void **state)
{
	struct rfx *f = *state;

	assert_int_equal(f->d->device_id, VIRTIO_ID_RNG);
	assert_int_equal(f->d->nr_queues, 1);
	assert_int_equal(f->d->config_size, 0);
	assert_int_equal(f->d->host_features, F_VER1 | F_INDIR | F_EIDX);
	assert_int_equal(f->d->ops->activate(f->d, F_INDIR), -EINVAL);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1 | 1ull), -EINVAL);
}

static void test_bad_params(void **state)
{
	struct rfx *f = *state;
	struct virtio_rng *r = (void *)1;
	struct virtio_rng_params p;

	p = params(f, 0, 0);
	p.entropy.fill = NULL;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	assert_null(r);
	p = params(f, 0, 0);
	p.clock.now_ns = NULL;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, 0, 0);
	p.wakeup.arm = NULL;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, 0, 0);
	p.mem = NULL;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, 0, 0);
	p.queue_size = 12;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p.queue_size = 2 * VIRTQ_MAX_SIZE;
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, VIRTIO_RNG_MAX_BYTES + 1, 0);
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, 0, VIRTIO_RNG_MAX_PERIOD_NS + 1);
	assert_int_equal(virtio_rng_create(&p, &r), -EINVAL);
	p = params(f, VIRTIO_RNG_MAX_BYTES, VIRTIO_RNG_MAX_PERIOD_NS);
	assert_int_equal(virtio_rng_create(&p, &r), 0);
	virtio_rng_dev(r)->ops->destroy(virtio_rng_dev(r));
}

/* ---- filling ---------------------------------------------------------- */

static void test_fill(void **state)
{
	struct rfx *f = *state;

	request(f, 3, DATA, 64);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
	assert_int_equal(used_len(f, 0, 3), 64);
	assert_stream(f, DATA, 64, 0);
	assert_int_equal(f->notified, 1);
	assert_int_equal(f->arms, 0);
	/* Straight into guest memory: one call for one buffer. */
	assert_int_equal(f->fills, 1);
}

static void test_fill_spanning_and_short(void **state)
{
	struct rfx *f = *state;

	/* Two writable buffers, the first across a slot boundary; the source
	 * hands out at most 7 bytes a call. */
	f->max_chunk = 7;
	td_desc(&f->t, Q(f), 0, SLOT_END - 20, 50, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, Q(f), 1, DATA, 30, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, Q(f), 0, 0);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), 80);
	assert_stream(f, SLOT_END - 20, 50, 0);
	assert_stream(f, DATA, 30, 50);
	/* Per slot piece, ceil(20/7) + ceil(30/7) + ceil(30/7). */
	assert_int_equal(f->fills, 3 + 5 + 5);
}

static void test_indirect_request(void **state)
{
	struct rfx *f = make(0, 0, F_INDIR);
	uint64_t table = DATA + 0x8000;

	td_desc_at(&f->t, table, 0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc_at(&f->t, table, 1, DATA + 0x100, 16, VIRTQ_DESC_F_WRITE, 0);
	td_desc(&f->t, Q(f), 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	td_publish(&f->t, Q(f), 0, 0);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), 32);
	assert_stream(f, DATA, 16, 0);
	assert_stream(f, DATA + 0x100, 16, 16);
	destroy(f);
	(void)state;
}

static void test_zero_length_request(void **state)
{
	struct rfx *f = *state;

	request(f, 0, DATA, 0);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), 0);
	assert_int_equal(f->fills, 0);
}

static void test_many_requests_per_kick(void **state)
{
	struct rfx *f = *state;

	for (uint16_t i = 0; i < QSIZE; i++)
		request(f, i, DATA + i * 0x100ull, 32);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), QSIZE);
	for (uint16_t i = 0; i < QSIZE; i++) {
		assert_int_equal(used_len(f, i, i), 32);
		assert_stream(f, DATA + i * 0x100ull, 32, 32u * i);
	}
	assert_int_equal(f->notified, 1);
}

/* ---- the token bucket ------------------------------------------------- */

static void test_rate_limit_and_timer(void **state)
{
	struct rfx *f = make(1000, SEC, 0);     /* 1000 bytes per second */

	request(f, 0, DATA, 600);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), 600);       /* a full bucket */
	/* 400 left: a 600-byte request waits 200 bytes' worth, 0.2 s. */
	request(f, 1, DATA + 0x1000, 600);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
	assert_int_equal(f->arms, 1);
	assert_int_equal(f->delay, SEC / 5);
	assert_junk(f, DATA + 0x1000, 600);
	/* A later request waits behind it, however small. */
	request(f, 2, DATA + 0x2000, 1);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
	assert_int_equal(f->arms, 2);
	assert_int_equal(f->delay, SEC / 5);
	/* An early wake-up serves nothing and asks again for the rest. */
	f->now += SEC / 5 - 1;
	virtio_rng_timer(f->r);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
	assert_int_equal(f->arms, 3);
	assert_int_equal(f->delay, 1);
	f->now += 1;
	virtio_rng_timer(f->r);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 2);
	assert_int_equal(used_len(f, 1, 1), 600);
	assert_stream(f, DATA + 0x1000, 600, 600);
	/* The bucket is empty now: the 1-byte request waits 1 ms. */
	assert_int_equal(f->arms, 4);
	assert_int_equal(f->delay, SEC / 1000);
	/* Much later the bucket is full again, but no fuller. */
	f->now += 3600 * SEC;
	virtio_rng_timer(f->r);
	assert_int_equal(used_len(f, 2, 2), 1);
	request(f, 3, DATA, 999);
	kick(f);
	assert_int_equal(used_len(f, 3, 3), 999);
	request(f, 4, DATA, 2);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 4);
	assert_int_equal(f->delay, SEC / 500);
	/* A spurious wake-up is harmless. */
	virtio_rng_timer(f->r);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 4);
	destroy(f);
	(void)state;
}

static void test_default_rate(void **state)
{
	struct rfx *f = *state;
	uint64_t served = 0, delay = (uint64_t)VIRTIO_RNG_MAX_REQUEST * SEC /
				     VIRTIO_RNG_DEFAULT_BYTES;
	uint16_t used = 0;

	/* Requests of the largest size until the first one waits: exactly
	 * 1 MiB at once, then one request's worth per 1/64 s. */
	for (unsigned int round = 0; f->arms == 0; round++) {
		assert_true(round < 100);
		for (uint16_t i = 0; i < QSIZE; i++)
			request(f, i, DATA + i * (uint64_t)VIRTIO_RNG_MAX_REQUEST,
				VIRTIO_RNG_MAX_REQUEST);
		kick(f);
		for (; used != td_used_idx(&f->t, Q(f)); used++)
			served += used_len(f, used, used % QSIZE);
	}
	assert_int_equal(served, VIRTIO_RNG_DEFAULT_BYTES);
	assert_int_equal(f->delay, delay);
	f->now += delay;
	virtio_rng_timer(f->r);
	assert_int_equal(td_used_idx(&f->t, Q(f)), used + 1);
}

static void test_request_caps(void **state)
{
	struct rfx *f = *state, *slow = make(100, SEC, 0);

	/* At most VIRTIO_RNG_MAX_REQUEST bytes per request. */
	request(f, 0, SLOT_END - 0x1000, 200 * 1024);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), VIRTIO_RNG_MAX_REQUEST);
	assert_stream(f, SLOT_END - 0x1000, VIRTIO_RNG_MAX_REQUEST, 0);
	assert_junk(f, SLOT_END - 0x1000 + VIRTIO_RNG_MAX_REQUEST, 16);
	/* And never more than the bucket holds, so a request never starves. */
	request(slow, 0, DATA, 4096);
	kick(slow);
	assert_int_equal(used_len(slow, 0, 0), 100);
	request(slow, 1, DATA, 4096);
	kick(slow);
	assert_int_equal(slow->delay, SEC);
	slow->now += SEC;
	virtio_rng_timer(slow->r);
	assert_int_equal(used_len(slow, 1, 1), 100);
	destroy(slow);
}

static void test_clock_steps_back(void **state)
{
	struct rfx *f = make(1000, SEC, 0);

	request(f, 0, DATA, 1000);
	kick(f);
	assert_int_equal(used_len(f, 0, 0), 1000);
	request(f, 1, DATA, 10);
	kick(f);
	assert_int_equal(f->delay, SEC / 100);
	/* Back by a minute: nothing is credited until it catches up. */
	f->now -= 60 * SEC;
	virtio_rng_timer(f->r);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
	f->now += 60 * SEC + SEC / 100;
	virtio_rng_timer(f->r);
	assert_int_equal(used_len(f, 1, 1), 10);
	destroy(f);
	(void)state;
}

static void test_extreme_rates(void **state)
{
	struct rfx *f = make(VIRTIO_RNG_MAX_BYTES, VIRTIO_RNG_MAX_PERIOD_NS, 0);
	struct rfx *g = make(1, VIRTIO_RNG_MAX_PERIOD_NS, 0);

	/* The clock runs for centuries: exact arithmetic, no overflow. */
	request(f, 0, DATA, 64);
	kick(f);
	f->now = UINT64_MAX - 1;
	request(f, 1, DATA, 64);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 2);
	/* One byte per 73 minutes. */
	request(g, 0, DATA, 64);
	kick(g);
	assert_int_equal(used_len(g, 0, 0), 1);
	request(g, 1, DATA, 64);
	kick(g);
	assert_int_equal(g->delay, VIRTIO_RNG_MAX_PERIOD_NS);
	g->now = UINT64_MAX;
	virtio_rng_timer(g->r);
	assert_int_equal(used_len(g, 1, 1), 1);
	destroy(f);
	destroy(g);
	(void)state;
}

/* ---- entropy failures ------------------------------------------------- */

static void test_fill_failures(void **state)
{
	static const enum src_mode modes[] = { SRC_FAIL, SRC_ZERO, SRC_TOO_MANY };

	for (unsigned int m = 0; m < 4; m++) {
		struct rfx *f = make(100, SEC, 0);

		if (m < 3) {
			f->mode = modes[m];
		} else {
			/* The first buffer filled, then the source fails. */
			f->fail_after = 1;
		}
		td_desc(&f->t, Q(f), 0, DATA, 40, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
		td_desc(&f->t, Q(f), 1, DATA + 0x100, 60, VIRTQ_DESC_F_WRITE, 0);
		td_publish(&f->t, Q(f), 0, 0);
		kick(f);
		/* Not answered (the spec wants at least one byte): the request
		 * waits and the device asks to be woken to try again. */
		assert_int_equal(td_used_idx(&f->t, Q(f)), 0);
		assert_int_equal(f->notified, 0);
		assert_int_equal(f->needs_reset, 0);
		assert_int_equal(f->arms, 1);
		/* The source recovers: the timer serves the waiting request in
		 * full, and no tokens went to the failed attempt. */
		f->mode = SRC_OK;
		f->fail_after = 0;
		virtio_rng_timer(f->r);
		assert_int_equal(td_used_idx(&f->t, Q(f)), 1);
		assert_int_equal(used_len(f, 0, 0), 100);
		assert_int_equal(f->notified, 1);
		destroy(f);
	}
	(void)state;
}

/* ---- hostile chains --------------------------------------------------- */

enum hostile {
	H_READABLE, H_READ_THEN_WRITE, H_LOOP, H_BEYOND_RAM, H_IN_HOLE, H_WRAPS,
	H_INDIRECT_OFF, H_INDIRECT_SELF, H_INDIRECT_LOOP, H_AVAIL_JUMP, H_HEAD_BEYOND,
	H_COUNT
};

static void make_hostile(struct rfx *f, enum hostile h)
{
	struct virtq *q = Q(f);
	uint64_t table = DATA + 0x8000;
	uint16_t head = 0;
	const uint16_t W = VIRTQ_DESC_F_WRITE, N = VIRTQ_DESC_F_NEXT;

	switch (h) {
	case H_READABLE:
		td_desc(&f->t, q, 0, DATA, 16, 0, 0);
		break;
	case H_READ_THEN_WRITE:
		td_desc(&f->t, q, 0, DATA, 16, N, 1);
		td_desc(&f->t, q, 1, DATA + 16, 16, W, 0);
		break;
	case H_LOOP:
		td_desc(&f->t, q, 0, DATA, 16, W | N, 0);
		break;
	case H_BEYOND_RAM:
		td_desc(&f->t, q, 0, TD_RAM - 8, 16, W, 0);
		break;
	case H_IN_HOLE:
		td_desc(&f->t, q, 0, TD_HOLE, 16, W, 0);
		break;
	case H_WRAPS:
		td_desc(&f->t, q, 0, UINT64_MAX - 7, 16, W, 0);
		break;
	case H_INDIRECT_OFF:
	case H_INDIRECT_SELF:
		td_desc_at(&f->t, table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		td_desc(&f->t, q, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case H_INDIRECT_LOOP:
		td_desc_at(&f->t, table, 0, DATA, 16, W | N, 0);
		td_desc(&f->t, q, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case H_AVAIL_JUMP:
		td_w16(&f->t, q->avail_gpa + 2, 2 * QSIZE);
		return;
	case H_HEAD_BEYOND:
		head = QSIZE;
		break;
	case H_COUNT:
		break;
	}
	td_publish(&f->t, q, 0, head);
}

static void test_hostile(void **state)
{
	for (int h = 0; h < H_COUNT; h++) {
		struct rfx *f = make(0, 0, h == H_INDIRECT_OFF ? 0 : F_INDIR);

		junk(f, DATA, 32);
		make_hostile(f, (enum hostile)h);
		kick(f);
		assert_int_equal(f->needs_reset, 1);
		assert_true(Q(f)->broken);
		assert_int_equal(td_used_idx(&f->t, Q(f)), 0);
		assert_int_equal(f->fills, 0);
		assert_junk(f, DATA, 32);
		/* Neither kicks nor wake-ups touch a broken queue. */
		kick(f);
		virtio_rng_timer(f->r);
		assert_int_equal(td_used_idx(&f->t, Q(f)), 0);
		assert_int_equal(f->fills, 0);
		/* Reset, and the device serves again. */
		f->d->ops->reset(f->d);
		enable_and_activate(f, 0);
		request(f, 0, DATA, 32);
		kick(f);
		assert_int_equal(used_len(f, 0, 0), 32);
		destroy(f);
	}
	(void)state;
}

/* ---- lifecycle -------------------------------------------------------- */

static void test_reset_while_waiting(void **state)
{
	struct rfx *f = make(100, SEC, 0);

	request(f, 0, DATA, 100);
	kick(f);
	request(f, 1, DATA + 0x100, 50);
	kick(f);
	assert_int_equal(f->arms, 1);
	f->d->ops->reset(f->d);
	/* The wake-up comes after the reset: the old request is forgotten. */
	f->now += SEC;
	virtio_rng_timer(f->r);
	assert_junk(f, DATA + 0x100, 50);
	assert_int_equal(f->fills, 1);
	/* A reset does not refill the bucket (only time does). */
	f->now -= SEC;
	enable_and_activate(f, 0);
	request(f, 0, DATA + 0x200, 50);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 0);
	assert_int_equal(f->arms, 2);
	assert_int_equal(f->delay, SEC / 2);
	f->now += SEC / 2;
	virtio_rng_timer(f->r);
	assert_int_equal(used_len(f, 0, 0), 50);
	destroy(f);
	(void)state;
}

static void test_served_at_activation(void **state)
{
	struct rfx *f = create(0, 0);

	td_place(&f->t, Q(f), 0, QSIZE);
	assert_int_equal(virtq_enable(Q(f)), 0);
	request(f, 0, DATA, 16);
	/* Kicks before DRIVER_OK are not acted on. */
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 0);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1), 0);
	assert_int_equal(used_len(f, 0, 0), 16);
	destroy(f);
	(void)state;
}

static void test_event_idx(void **state)
{
	struct rfx *f = make(0, 0, F_EIDX);

	request(f, 0, DATA, 8);
	request(f, 1, DATA + 8, 8);
	td_set_used_event(&f->t, Q(f), 1);
	kick(f);
	assert_int_equal(td_used_idx(&f->t, Q(f)), 2);
	assert_int_equal(f->notified, 1);
	assert_int_equal(td_avail_event(&f->t, Q(f)), 2);
	/* used_event 1 already passed: no interrupt for the third. */
	request(f, 2, DATA + 16, 8);
	kick(f);
	assert_int_equal(f->notified, 1);
	destroy(f);
	(void)state;
}

static void test_through_transport(void **state)
{
	struct rfx *f = create(0, 0);
	struct vbar v;

	vbar_attach(&v, f->d);
	assert_int_equal(pci_get16(&virtio_pci_func(v.vp)->cfg[2]),
			 VIRTIO_PCI_DEVICE_BASE + VIRTIO_ID_RNG);
	assert_int_equal(vbar_offered(&v), F_VER1 | F_INDIR | F_EIDX);
	assert_false(vbar_negotiate(&v, F_INDIR) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(vbar_negotiate(&v, F_VER1 | F_INDIR) & VIRTIO_STATUS_FEATURES_OK);
	/* No device configuration: nothing answers there. */
	assert_int_equal(vbar_rd(&v, VIRTIO_PCI_DEVICE_OFF, 4), 0xFFFFFFFFu);
	vbar_queue(&v, &f->t, Q(f), 0, 8);
	vbar_driver_ok(&v);
	request(f, 0, SLOT_END - 4, 8);
	vbar_kick(&v, 0);
	assert_int_equal(used_len(f, 0, 0), 8);
	assert_stream(f, SLOT_END - 4, 8, 0);
	assert_true(v.line);
	assert_int_equal(vbar_isr(&v), VIRTIO_PCI_ISR_QUEUE);
	/* A readable request: NEEDS_RESET through the transport. */
	td_desc(&f->t, Q(f), 1, DATA, 8, 0, 0);
	td_publish(&f->t, Q(f), 0, 1);
	vbar_kick(&v, 0);
	assert_true(vbar_status(&v) & VIRTIO_STATUS_NEEDS_RESET);
	vbar_detach(&v);
	destroy(f);
	(void)state;
}

/* ---- a timer thread racing kicks and resets --------------------------- */

struct racer {
	struct rfx *f;
	bool stop;
};

static void *timer_thread(void *arg)
{
	struct racer *rc = arg;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		virtio_rng_timer(rc->f->r);
		sched_yield();
	}
	return NULL;
}

static void test_timer_races_kicks_and_resets(void **state)
{
	/* 32 bytes per microsecond, the clock 100 ns further at each reading:
	 * requests wait often and are finished by the timer thread. */
	struct rfx *f = make(32, 1000, 0);
	struct racer rc = { .f = f };
	pthread_t th;

	f->tick = 100;
	assert_int_equal(pthread_create(&th, NULL, timer_thread, &rc), 0);
	for (unsigned int epoch = 0; epoch < 200; epoch++) {
		unsigned int n = 1 + epoch % QSIZE, spins = 0;
		bool reset_early = epoch % 3 == 0;
		struct virtq old;

		for (uint16_t i = 0; i < n; i++)
			request(f, i, DATA + i * 0x40ull, 32);
		kick(f);
		while (!reset_early && td_used_idx(&f->t, Q(f)) != n) {
			assert_true(++spins < 10000000);
			sched_yield();
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!reset_early)
			for (uint16_t i = 0; i < n; i++)
				assert_int_equal(used_len(f, i, i), 32);
		old = *Q(f);
		f->d->ops->reset(f->d);
		/* After reset returns nothing more lands in the old buffers,
		 * whatever the old rings say. */
		for (uint16_t i = 0; i < n; i++) {
			junk(f, DATA + i * 0x40ull, 32);
			td_desc(&f->t, &old, i, DATA + i * 0x40ull, 32, VIRTQ_DESC_F_WRITE, 0);
			td_publish(&f->t, &old, 0, i);
		}
		for (unsigned int k = 0; k < 10; k++)
			virtio_rng_timer(f->r);
		for (uint16_t i = 0; i < n; i++)
			assert_junk(f, DATA + i * 0x40ull, 32);
		enable_and_activate(f, 0);
	}
	__atomic_store_n(&rc.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_int_equal(f->needs_reset, 0);
	destroy(f);
	(void)state;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_bad_params),
		T(test_fill),
		T(test_fill_spanning_and_short),
		cmocka_unit_test(test_indirect_request),
		T(test_zero_length_request),
		T(test_many_requests_per_kick),
		cmocka_unit_test(test_rate_limit_and_timer),
		T(test_default_rate),
		T(test_request_caps),
		cmocka_unit_test(test_clock_steps_back),
		cmocka_unit_test(test_extreme_rates),
		cmocka_unit_test(test_fill_failures),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_reset_while_waiting),
		cmocka_unit_test(test_served_at_activation),
		cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_through_transport),
		cmocka_unit_test(test_timer_races_kicks_and_resets),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}
