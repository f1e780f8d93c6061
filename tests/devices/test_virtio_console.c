// SPDX-License-Identifier: MIT
/*
 * virtio-console against the test driver, in guest memory whose 2 MiB slots
 * lie scattered in host memory (a buffer that spans slots is only right if
 * the device walks it slot by slot): transmit to a recording sink (many
 * buffers per kick in one write, slot-spanning chains, segments larger
 * than the staging buffer), receive with partial acceptance, retry through
 * rx_ready and no buffers posted, the terminal size, hostile chains on both
 * queues, reset, feature negotiation through the real virtio-pci
 * transport, and an I/O thread feeding input while the driver kicks.
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
#include <time.h>

#include <cmocka.h>

#include "devices/virtio/console.h"
#include "mmu/iovec.h"

#include "fake_mem.h"
#include "quiet_log.h"
#include "virtio_driver.h"
#include "virtio_bar.h"

#define QSIZE     16
#define RXQ       VIRTIO_CONSOLE_RXQ
#define TXQ       VIRTIO_CONSOLE_TXQ
#define TX_DATA   0x400000ull
#define RX_DATA   0x800000ull
#define SLOT_END  0x600000ull              /* a slot boundary inside TX_DATA's slot pair */
#define F_VER1    (1ull << VIRTIO_F_VERSION_1)
#define F_INDIR   (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_EIDX    (1ull << VIRTIO_F_EVENT_IDX)
#define F_SIZE    (1ull << VIRTIO_CONSOLE_F_SIZE)

/* ---- fixture ---------------------------------------------------------- */

struct sink {
	uint8_t *buf;
	size_t len, cap;
	unsigned int writes;
	size_t sizes[64];
};

struct cfx {
	struct tdrv t;
	struct virtio_console *c;
	struct virtio_dev *d;
	struct sink out;
	unsigned int notified[2], needs_reset, config_changes;
	unsigned int rx_ready;
	/* rx_ready may feed this much input itself (re-entrancy check). */
	const uint8_t *feed;
	size_t feed_len, fed;
	/* The concurrency test's wake-up. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
};

static void sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct sink *s = ctx;

	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	if (s->writes < 64)
		s->sizes[s->writes] = len;
	s->writes++;
}

static void on_queue(void *ctx, unsigned int q)
{
	struct cfx *f = ctx;

	assert_true(q < 2);
	__atomic_fetch_add(&f->notified[q], 1, __ATOMIC_RELAXED);
}

static void on_config(void *ctx)
{
	((struct cfx *)ctx)->config_changes++;
}

static void on_needs_reset(void *ctx)
{
	__atomic_fetch_add(&((struct cfx *)ctx)->needs_reset, 1, __ATOMIC_RELAXED);
}

static void on_rx_ready(void *ctx)
{
	struct cfx *f = ctx;

	f->rx_ready++;
	if (f->feed && f->fed < f->feed_len)
		f->fed += virtio_console_input(f->c, f->feed + f->fed, f->feed_len - f->fed);
	pthread_mutex_lock(&f->lock);
	f->ready = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Guest RAM of 2 MiB slots in reverse host order. */
static void scattered_map(struct tdrv *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(fake_mem_init_slots(&t->map, 0, TD_SLOT, TD_RAM / TD_SLOT, true), 0);
}

static struct cfx *create(uint16_t cols, uint16_t rows)
{
	struct cfx *f = calloc(1, sizeof(*f));
	struct virtio_console_params p;

	assert_non_null(f);
	scattered_map(&f->t);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	p = (struct virtio_console_params){
		.mem = &f->t.map, .out = { sink_write, &f->out },
		.rx_ready = on_rx_ready, .rx_ctx = f,
		.rx_queue_size = QSIZE, .tx_queue_size = QSIZE, .cols = cols, .rows = rows,
	};
	assert_int_equal(virtio_console_create(&p, &f->c), 0);
	f->d = virtio_console_dev(f->c);
	return f;
}

static void fake_notify(struct cfx *f)
{
	f->d->notify = (struct virtio_notify){ .queue = on_queue, .config = on_config,
		.needs_reset = on_needs_reset, .ctx = f };
}

static void enable_queues(struct cfx *f)
{
	for (unsigned int i = 0; i < 2; i++) {
		td_place(&f->t, &f->d->queues[i], i, QSIZE);
		assert_int_equal(virtq_enable(&f->d->queues[i]), 0);
	}
}

/* Queues enabled and activated with `features`, notifications faked. */
static struct cfx *make(uint64_t features)
{
	struct cfx *f = create(80, 25);

	fake_notify(f);
	enable_queues(f);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1 | features), 0);
	return f;
}

static void destroy(struct cfx *f)
{
	f->d->ops->destroy(f->d);
	fake_mem_destroy(&f->t.map);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f->out.buf);
	free(f);
}

static int setup(void **state)
{
	*state = make(0);
	return 0;
}

static int teardown(void **state)
{
	destroy(*state);
	return 0;
}

/* ---- the test driver -------------------------------------------------- */

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static struct virtq *Q(struct cfx *f, unsigned int qi)
{
	return &f->d->queues[qi];
}

/* Descriptors head..head+n-1, chained in order. */
static void put_chain(struct cfx *f, unsigned int qi, uint16_t head, const struct seg *s,
		      unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		td_desc(&f->t, Q(f, qi), (uint16_t)(head + i), s[i].gpa, s[i].len,
			(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[i].write ? VIRTQ_DESC_F_WRITE : 0),
			(uint16_t)(head + i + 1));
}

static void pattern(uint8_t *buf, size_t len, size_t from)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((from + i) * 31 + (from + i) / 251);
}

/* Guest bytes [gpa, gpa+len) := pattern from `from`. */
static void guest_pattern(struct cfx *f, uint64_t gpa, size_t len, size_t from)
{
	uint8_t *buf = malloc(len);

	pattern(buf, len, from);
	assert_int_equal(mem_write_span(&f->t.map, gpa, buf, len), 0);
	free(buf);
}

static void assert_guest_pattern(struct cfx *f, uint64_t gpa, size_t len, size_t from)
{
	uint8_t *want = malloc(len), *got = malloc(len);

	pattern(want, len, from);
	assert_int_equal(mem_read_span(&f->t.map, gpa, got, len), 0);
	assert_memory_equal(got, want, len);
	free(want);
	free(got);
}

static void assert_out_pattern(struct cfx *f, size_t from, size_t len)
{
	uint8_t *want = malloc(len);

	assert_true(f->out.len >= from + len);
	pattern(want, len, from);
	assert_memory_equal(f->out.buf + from, want, len);
	free(want);
}

static void assert_used(struct cfx *f, unsigned int qi, uint16_t i, uint32_t id, uint32_t len)
{
	uint32_t got_id, got_len;

	td_used_elem(&f->t, Q(f, qi), i, &got_id, &got_len);
	assert_int_equal(got_id, id);
	assert_int_equal(got_len, len);
}

static void kick(struct cfx *f, unsigned int qi)
{
	f->d->ops->queue_notify(f->d, qi);
}

/* ---- configuration and features --------------------------------------- */

static uint16_t cfg16(struct cfx *f, uint32_t off)
{
	uint16_t v;

	f->d->ops->config_read(f->d, off, &v, 2);
	return le16toh(v);
}

static void test_config_and_features(void **state)
{
	struct cfx *f = *state, *plain = create(0, 25);
	uint32_t ports;
	uint8_t beyond[8];

	assert_int_equal(f->d->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(f->d->nr_queues, 2);
	assert_int_equal(f->d->config_size, 8);
	assert_int_equal(f->d->host_features, F_VER1 | F_INDIR | F_EIDX | F_SIZE);
	assert_int_equal(cfg16(f, 0), 80);
	assert_int_equal(cfg16(f, 2), 25);
	f->d->ops->config_read(f->d, 4, &ports, 4);
	assert_int_equal(le32toh(ports), 1);
	/* Past the end, or straddling it: zeroes.  Writes change nothing. */
	memset(beyond, 0xAA, sizeof(beyond));
	f->d->ops->config_read(f->d, 6, beyond, 4);
	assert_int_equal(beyond[2], 0);
	assert_int_equal(beyond[3], 0);
	f->d->ops->config_read(f->d, 0xFFFFFFF0u, beyond, 4);
	assert_int_equal(beyond[0], 0);
	f->d->ops->config_write(f->d, 0, "\x01\x02\x03\x04", 4);
	assert_int_equal(cfg16(f, 0), 80);
	/* Without a full size, F_SIZE is not offered and reads 0. */
	assert_int_equal(plain->d->host_features, F_VER1 | F_INDIR | F_EIDX);
	assert_int_equal(cfg16(plain, 0), 0);
	assert_int_equal(cfg16(plain, 2), 0);
	assert_int_equal(virtio_console_set_size(plain->c, 100, 40), -ENOTSUP);
	destroy(plain);
	/* A legacy driver, or features never offered (MULTIPORT), are refused. */
	assert_int_equal(f->d->ops->activate(f->d, F_SIZE), -EINVAL);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1 | 1ull << VIRTIO_CONSOLE_F_MULTIPORT),
			 -EINVAL);
}

static void test_bad_params(void **state)
{
	struct cfx *f = *state;
	struct virtio_console *c = (void *)1;
	struct virtio_console_params p = { .mem = &f->t.map, .rx_queue_size = QSIZE,
					   .tx_queue_size = QSIZE };

	p.rx_queue_size = 24;
	assert_int_equal(virtio_console_create(&p, &c), -EINVAL);
	assert_null(c);
	p.rx_queue_size = 1;
	assert_int_equal(virtio_console_create(&p, &c), -EINVAL);
	p.rx_queue_size = QSIZE;
	p.tx_queue_size = 2048;
	assert_int_equal(virtio_console_create(&p, &c), -EINVAL);
	p.tx_queue_size = 0;
	assert_int_equal(virtio_console_create(&p, &c), -EINVAL);
	p.tx_queue_size = QSIZE;
	p.mem = NULL;
	assert_int_equal(virtio_console_create(&p, &c), -EINVAL);
	/* No sink and no rx_ready are allowed: output is dropped. */
	p.mem = &f->t.map;
	assert_int_equal(virtio_console_create(&p, &c), 0);
	virtio_console_dev(c)->ops->destroy(virtio_console_dev(c));
}

static void test_set_size(void **state)
{
	struct cfx *f = *state, *g = make(F_SIZE);

	/* Negotiated: the new size, and a configuration change. */
	assert_int_equal(virtio_console_set_size(g->c, 132, 50), 0);
	assert_int_equal(cfg16(g, 0), 132);
	assert_int_equal(cfg16(g, 2), 50);
	assert_int_equal(g->config_changes, 1);
	destroy(g);
	/* Offered but not negotiated: the fields change, nobody is told. */
	assert_int_equal(virtio_console_set_size(f->c, 100, 30), 0);
	assert_int_equal(cfg16(f, 0), 100);
	assert_int_equal(f->config_changes, 0);
	/* After a reset, not either. */
	f->d->ops->reset(f->d);
	assert_int_equal(virtio_console_set_size(f->c, 90, 20), 0);
	assert_int_equal(f->config_changes, 0);
}

/* ---- transmit --------------------------------------------------------- */

static void test_tx_one_chain_one_write(void **state)
{
	struct cfx *f = *state;
	/* Three buffers, the middle one across a slot boundary. */
	struct seg s[] = { { TX_DATA, 100, false }, { SLOT_END - 50, 120, false },
			   { TX_DATA + 0x1000, 7, false } };

	guest_pattern(f, s[0].gpa, 100, 0);
	guest_pattern(f, s[1].gpa, 120, 100);
	guest_pattern(f, s[2].gpa, 7, 220);
	put_chain(f, TXQ, 3, s, 3);
	td_publish(&f->t, Q(f, TXQ), TXQ, 3);
	kick(f, TXQ);
	assert_int_equal(f->out.writes, 1);
	assert_int_equal(f->out.len, 227);
	assert_out_pattern(f, 0, 227);
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 1);
	assert_used(f, TXQ, 0, 3, 0);
	assert_int_equal(f->notified[TXQ], 1);
	assert_int_equal(f->needs_reset, 0);
	/* A kick with nothing new writes nothing and interrupts nobody. */
	kick(f, TXQ);
	assert_int_equal(f->out.writes, 1);
	assert_int_equal(f->notified[TXQ], 1);
}

static void test_tx_many_buffers_per_kick(void **state)
{
	struct cfx *f = *state;
	size_t at = 0;

	/* Fifteen chains of one buffer each (a chatty guest's lines). */
	for (uint16_t i = 0; i < 15; i++) {
		struct seg s = { TX_DATA + i * 0x100ull, 10u + i, false };

		guest_pattern(f, s.gpa, s.len, at);
		at += s.len;
		put_chain(f, TXQ, i, &s, 1);
		td_publish(&f->t, Q(f, TXQ), TXQ, i);
	}
	kick(f, TXQ);
	assert_int_equal(f->out.writes, 1);
	assert_int_equal(f->out.len, at);
	assert_out_pattern(f, 0, at);
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 15);
	for (uint16_t i = 0; i < 15; i++)
		assert_used(f, TXQ, i, i, 0);
	assert_int_equal(f->notified[TXQ], 1);
}

static void test_tx_beyond_staging(void **state)
{
	struct cfx *f = *state;
	/* 30 KiB three times: the third does not fit beside the first two. */
	struct seg s[] = { { TX_DATA, 30720, false }, { TX_DATA + 0x10000, 30720, false },
			   { TX_DATA + 0x20000, 30720, false } };
	/* Then a small buffer, and one of 100 KiB straight from guest memory
	 * (spanning a slot boundary: two writes of its two halves). */
	struct seg small = { TX_DATA + 0x30000, 5, false };
	struct seg big = { SLOT_END - 0x8000, 100 * 1024, false };
	size_t total = 3 * 30720 + 5 + 100 * 1024;

	guest_pattern(f, s[0].gpa, 30720, 0);
	guest_pattern(f, s[1].gpa, 30720, 30720);
	guest_pattern(f, s[2].gpa, 30720, 61440);
	guest_pattern(f, small.gpa, 5, 92160);
	guest_pattern(f, big.gpa, big.len, 92165);
	put_chain(f, TXQ, 0, s, 3);
	put_chain(f, TXQ, 3, &small, 1);
	put_chain(f, TXQ, 4, &big, 1);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 3);
	td_publish(&f->t, Q(f, TXQ), TXQ, 4);
	kick(f, TXQ);
	assert_int_equal(f->out.len, total);
	assert_out_pattern(f, 0, total);
	/* 60 KiB staged, then flushed for the third; 30 KiB + 5 + the big
	 * buffer's first slot part (32 KiB) staged, flushed before its second
	 * part (68 KiB), which goes out straight from guest memory. */
	assert_int_equal(f->out.writes, 3);
	assert_int_equal(f->out.sizes[0], 61440);
	assert_int_equal(f->out.sizes[1], 30725 + 32768);
	assert_int_equal(f->out.sizes[2], 102400 - 32768);
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 3);
}

static void test_tx_indirect(void **state)
{
	struct cfx *f = make(F_INDIR);
	uint64_t table = TX_DATA + 0x8000;

	guest_pattern(f, TX_DATA, 40, 0);
	guest_pattern(f, SLOT_END - 10, 30, 40);
	td_desc_at(&f->t, table, 0, TX_DATA, 40, VIRTQ_DESC_F_NEXT, 1);
	td_desc_at(&f->t, table, 1, SLOT_END - 10, 30, 0, 0);
	td_desc(&f->t, Q(f, TXQ), 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	kick(f, TXQ);
	assert_int_equal(f->out.writes, 1);
	assert_int_equal(f->out.len, 70);
	assert_out_pattern(f, 0, 70);
	destroy(f);
	(void)state;
}

static void test_tx_event_idx(void **state)
{
	struct cfx *f = make(F_EIDX);
	struct seg s = { TX_DATA, 4, false };

	put_chain(f, TXQ, 0, &s, 1);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	kick(f, TXQ);
	assert_int_equal(f->notified[TXQ], 1);
	/* used_event 5: the driver wants no interrupt before the 6th. */
	td_set_used_event(&f->t, Q(f, TXQ), 5);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	kick(f, TXQ);
	assert_int_equal(f->out.len, 8);
	assert_int_equal(f->notified[TXQ], 1);
	/* Idle again: the driver is asked to kick for the next entry. */
	assert_int_equal(td_avail_event(&f->t, Q(f, TXQ)), 2);
	destroy(f);
	(void)state;
}

/* ---- receive ---------------------------------------------------------- */

static void post_rx(struct cfx *f, uint16_t head, uint64_t gpa, uint32_t len)
{
	struct seg s = { gpa, len, true };

	put_chain(f, RXQ, head, &s, 1);
	td_publish(&f->t, Q(f, RXQ), RXQ, head);
}

static void test_rx_partial_and_retry(void **state)
{
	struct cfx *f = *state;
	uint8_t in[20];

	pattern(in, sizeof(in), 0);
	post_rx(f, 0, RX_DATA, 8);
	post_rx(f, 1, RX_DATA + 0x100, 8);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 0);           /* nobody was waiting */
	assert_int_equal(virtio_console_input(f->c, in, 20), 16);
	assert_guest_pattern(f, RX_DATA, 8, 0);
	assert_guest_pattern(f, RX_DATA + 0x100, 8, 8);
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 2);
	assert_used(f, RXQ, 0, 0, 8);
	assert_used(f, RXQ, 1, 1, 8);
	assert_int_equal(f->notified[RXQ], 1);
	assert_false(virtio_console_can_input(f->c));
	/* The driver gives a buffer back: the host is told, once. */
	post_rx(f, 0, RX_DATA + 0x200, 64);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_true(virtio_console_can_input(f->c));
	assert_int_equal(virtio_console_input(f->c, in + 16, 4), 4);
	assert_guest_pattern(f, RX_DATA + 0x200, 4, 16);
	assert_used(f, RXQ, 2, 0, 4);                /* a partly filled buffer */
	assert_int_equal(f->notified[RXQ], 2);
	/* All taken: a later kick wakes nobody. */
	post_rx(f, 1, RX_DATA + 0x300, 64);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(virtio_console_input(f->c, in, 0), 0);
}

/* rx_ready tells a host that is waiting, and only then. */
static void test_rx_ready_only_when_waiting(void **state)
{
	struct cfx *f = *state;
	uint8_t in[100];

	pattern(in, sizeof(in), 0);
	/* Asking counts as waiting. */
	assert_false(virtio_console_can_input(f->c));
	post_rx(f, 0, RX_DATA, 64);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(virtio_console_input(f->c, in, 4), 4);
	post_rx(f, 1, RX_DATA + 0x100, 64);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);           /* nobody waits */
	/* Short, then the rest placed in a buffer that came without a kick:
	 * the host is no longer waiting, so the next kick wakes nobody. */
	assert_int_equal(virtio_console_input(f->c, in, 100), 64);
	post_rx(f, 2, RX_DATA + 0x200, 64);
	assert_int_equal(virtio_console_input(f->c, in + 64, 36), 36);
	post_rx(f, 3, RX_DATA + 0x300, 64);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_guest_pattern(f, RX_DATA + 0x100, 64, 0);
	assert_guest_pattern(f, RX_DATA + 0x200, 36, 64);
}

static void test_rx_spanning_slots(void **state)
{
	struct cfx *f = *state;
	uint8_t in[64];

	pattern(in, sizeof(in), 1000);
	post_rx(f, 5, 0xA00000 - 24, 64);
	kick(f, RXQ);
	assert_int_equal(virtio_console_input(f->c, in, 64), 64);
	assert_guest_pattern(f, 0xA00000 - 24, 64, 1000);
	assert_used(f, RXQ, 0, 5, 64);
}

static void test_rx_without_buffers(void **state)
{
	struct cfx *f = *state;
	uint8_t in[10];

	pattern(in, sizeof(in), 7);
	/* Queue enabled and active, never kicked, nothing posted. */
	assert_int_equal(virtio_console_input(f->c, in, 10), 0);
	assert_false(virtio_console_can_input(f->c));
	/* rx_ready feeds the rest from inside the callback itself. */
	f->feed = in;
	f->feed_len = 10;
	post_rx(f, 0, RX_DATA, 32);
	kick(f, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(f->fed, 10);
	assert_guest_pattern(f, RX_DATA, 10, 7);
	assert_used(f, RXQ, 0, 0, 10);
}

static void test_rx_before_driver_ok(void **state)
{
	struct cfx *f = create(80, 25);
	uint8_t in[3] = { 'a', 'b', 'c' };
	uint8_t got[3];

	fake_notify(f);
	enable_queues(f);
	/* Not active: nothing is taken, guest memory untouched. */
	post_rx(f, 0, RX_DATA, 16);
	assert_int_equal(virtio_console_input(f->c, in, 3), 0);
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 0);
	kick(f, RXQ);                                 /* a kick before DRIVER_OK */
	assert_int_equal(f->rx_ready, 0);
	/* Activation with the queue enabled and a buffer posted: told. */
	assert_int_equal(f->d->ops->activate(f->d, F_VER1), 0);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(virtio_console_input(f->c, in, 3), 3);
	assert_int_equal(mem_read(&f->t.map, RX_DATA, got, 3), 0);
	assert_memory_equal(got, in, 3);
	destroy(f);
	(void)state;
}

static void test_rx_event_idx(void **state)
{
	struct cfx *f = make(F_EIDX);
	uint8_t in[8] = { 0 };

	post_rx(f, 0, RX_DATA, 4);
	post_rx(f, 1, RX_DATA + 0x10, 4);
	kick(f, RXQ);
	td_set_used_event(&f->t, Q(f, RXQ), 0);
	assert_int_equal(virtio_console_input(f->c, in, 8), 8);
	/* used_event 0 lies in [0, 2): one interrupt for both. */
	assert_int_equal(f->notified[RXQ], 1);
	/* Out of buffers while still holding bytes: kick me at entry 2. */
	assert_int_equal(virtio_console_input(f->c, in, 1), 0);
	assert_int_equal(td_avail_event(&f->t, Q(f, RXQ)), 2);
	destroy(f);
	(void)state;
}

/* ---- hostile chains --------------------------------------------------- */

enum hostile {
	H_LOOP, H_NEXT_BEYOND, H_BEYOND_RAM, H_IN_HOLE, H_WRAPS, H_INDIRECT_OFF,
	H_INDIRECT_SELF, H_INDIRECT_LOOP, H_INDIRECT_OUTSIDE, H_WRONG_DIRECTION,
	H_AVAIL_JUMP, H_COUNT
};

/* Chain 0 (and the avail ring) of queue qi made hostile; the direction
 * of sane buffers is the queue's own. */
static void make_hostile(struct cfx *f, unsigned int qi, enum hostile h)
{
	struct virtq *q = Q(f, qi);
	uint16_t dir = qi == RXQ ? VIRTQ_DESC_F_WRITE : 0;
	uint64_t table = TX_DATA + 0x8000;

	switch (h) {
	case H_LOOP:
		td_desc(&f->t, q, 0, TX_DATA, 8, dir | VIRTQ_DESC_F_NEXT, 1);
		td_desc(&f->t, q, 1, TX_DATA, 8, dir | VIRTQ_DESC_F_NEXT, 0);
		break;
	case H_NEXT_BEYOND:
		td_desc(&f->t, q, 0, TX_DATA, 8, dir | VIRTQ_DESC_F_NEXT, QSIZE);
		break;
	case H_BEYOND_RAM:
		td_desc(&f->t, q, 0, TD_RAM - 4, 8, dir, 0);
		break;
	case H_IN_HOLE:
		td_desc(&f->t, q, 0, TD_HOLE, 8, dir, 0);
		break;
	case H_WRAPS:
		td_desc(&f->t, q, 0, UINT64_MAX - 3, 8, dir, 0);
		break;
	case H_INDIRECT_OFF:   /* on a fixture without INDIRECT_DESC */
	case H_INDIRECT_SELF:  /* a table whose entry is itself a table */
		td_desc_at(&f->t, table, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		td_desc(&f->t, q, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case H_INDIRECT_LOOP:
		td_desc_at(&f->t, table, 0, TX_DATA, 8, dir | VIRTQ_DESC_F_NEXT, 1);
		td_desc_at(&f->t, table, 1, TX_DATA, 8, dir | VIRTQ_DESC_F_NEXT, 0);
		td_desc(&f->t, q, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case H_INDIRECT_OUTSIDE:
		td_desc(&f->t, q, 0, TD_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case H_WRONG_DIRECTION:
		td_desc(&f->t, q, 0, TX_DATA, 8, VIRTQ_DESC_F_NEXT, 1);
		td_desc(&f->t, q, 1, TX_DATA + 8, 8, VIRTQ_DESC_F_WRITE, 0);
		break;
	case H_AVAIL_JUMP:
		td_w16(&f->t, q->avail_gpa + 2, QSIZE + 1);
		return;
	case H_COUNT:
		break;
	}
	td_publish(&f->t, q, qi, 0);
}

static void expect_broken(struct cfx *f, unsigned int qi)
{
	assert_true(f->needs_reset >= 1);
	assert_true(Q(f, qi)->broken);
	assert_int_equal(td_used_idx(&f->t, Q(f, qi)), 0);
}

/* After a reset and a new activation the device works again. */
static void expect_recovers(struct cfx *f)
{
	struct seg s = { TX_DATA, 3, false };
	size_t before = f->out.len;

	f->d->ops->reset(f->d);
	enable_queues(f);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1), 0);
	guest_pattern(f, TX_DATA, 3, 0);
	put_chain(f, TXQ, 0, &s, 1);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	kick(f, TXQ);
	assert_int_equal(f->out.len, before + 3);
	post_rx(f, 0, RX_DATA, 4);
	kick(f, RXQ);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"xy", 2), 2);
}

static void test_hostile_tx(void **state)
{
	for (int h = 0; h < H_COUNT; h++) {
		struct cfx *f = make(h == H_INDIRECT_OFF ? 0 : F_INDIR);

		guest_pattern(f, TX_DATA, 16, 0);
		make_hostile(f, TXQ, (enum hostile)h);
		kick(f, TXQ);
		expect_broken(f, TXQ);
		assert_int_equal(f->out.len, 0);
		/* Kicks of a broken queue do nothing more. */
		kick(f, TXQ);
		assert_int_equal(f->out.len, 0);
		/* The other queue still works. */
		post_rx(f, 1, RX_DATA, 4);
		kick(f, RXQ);
		assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"ok", 2), 2);
		expect_recovers(f);
		destroy(f);
	}
	(void)state;
}

static void test_hostile_rx(void **state)
{
	for (int h = 0; h < H_COUNT; h++) {
		struct cfx *f = make(h == H_INDIRECT_OFF ? 0 : F_INDIR);
		uint8_t before[16], after[16];

		assert_int_equal(mem_read(&f->t.map, TX_DATA, before, 16), 0);
		make_hostile(f, RXQ, (enum hostile)h);
		kick(f, RXQ);
		assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"hostile", 7), 0);
		expect_broken(f, RXQ);
		assert_int_equal(mem_read(&f->t.map, TX_DATA, after, 16), 0);
		assert_memory_equal(before, after, 16);
		assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"again", 5), 0);
		expect_recovers(f);
		destroy(f);
	}
	(void)state;
}

static void test_rx_all_readable_chain(void **state)
{
	struct cfx *f = *state;

	td_desc(&f->t, Q(f, RXQ), 0, RX_DATA, 8, 0, 0);
	td_publish(&f->t, Q(f, RXQ), RXQ, 0);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"x", 1), 0);
	expect_broken(f, RXQ);
}

/* ---- reset ------------------------------------------------------------ */

static void test_reset_forgets_driver(void **state)
{
	struct cfx *f = *state;
	struct seg s = { TX_DATA, 4, false };
	uint8_t in[4] = { 'a', 'b', 'c', 'd' }, untouched[4];
	struct virtq old_tx;

	post_rx(f, 0, RX_DATA, 2);
	kick(f, RXQ);
	assert_int_equal(virtio_console_input(f->c, in, 4), 2);   /* host waits */
	post_rx(f, 1, RX_DATA + 0x10, 8);
	old_tx = *Q(f, TXQ);      /* the rings as the old driver set them up */
	f->d->ops->reset(f->d);
	/* After reset: nothing goes to the old rings. */
	assert_int_equal(virtio_console_input(f->c, in + 2, 2), 0);
	assert_int_equal(mem_read(&f->t.map, RX_DATA + 0x10, untouched, 4), 0);
	assert_int_equal(untouched[0], 0);
	td_desc(&f->t, &old_tx, 0, s.gpa, s.len, 0, 0);
	td_publish(&f->t, &old_tx, TXQ, 0);
	kick(f, TXQ);
	assert_int_equal(f->out.len, 0);
	assert_false(Q(f, RXQ)->enabled);
	/* The next driver: the host is still waiting and gets told. */
	enable_queues(f);
	assert_int_equal(f->d->ops->activate(f->d, F_VER1), 0);
	assert_int_equal(f->rx_ready, 1);
	post_rx(f, 0, RX_DATA + 0x20, 8);
	kick(f, RXQ);
	assert_int_equal(virtio_console_input(f->c, in + 2, 2), 2);
	assert_int_equal(mem_read(&f->t.map, RX_DATA + 0x20, untouched, 2), 0);
	assert_memory_equal(untouched, "cd", 2);
}

/* ---- through the real transport -------------------------------------- */

static void test_through_transport(void **state)
{
	struct cfx *f = create(80, 25);
	struct vbar v;
	struct seg s = { SLOT_END - 3, 6, false };
	uint8_t got[5];
	uint8_t gen;

	vbar_attach(&v, f->d);
	assert_int_equal(pci_get16(&virtio_pci_func(v.vp)->cfg[2]),
			 VIRTIO_PCI_DEVICE_BASE + VIRTIO_ID_CONSOLE);
	assert_int_equal(vbar_offered(&v), F_VER1 | F_INDIR | F_EIDX | F_SIZE);
	/* MULTIPORT was never offered: FEATURES_OK does not stick. */
	assert_false(vbar_negotiate(&v, F_VER1 | 1ull << VIRTIO_CONSOLE_F_MULTIPORT) &
		     VIRTIO_STATUS_FEATURES_OK);
	assert_true(vbar_negotiate(&v, F_VER1 | F_SIZE) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(vbar_rd(&v, VIRTIO_PCI_DEVICE_OFF, 2), 80);
	assert_int_equal(vbar_rd(&v, VIRTIO_PCI_DEVICE_OFF + 2, 2), 25);
	vbar_queue(&v, &f->t, Q(f, RXQ), RXQ, QSIZE);
	vbar_queue(&v, &f->t, Q(f, TXQ), TXQ, 8);
	vbar_driver_ok(&v);
	assert_int_equal(vbar_status(&v) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
	/* Output: a kick through the notify address, an INTx interrupt. */
	guest_pattern(f, s.gpa, s.len, 0);
	put_chain(f, TXQ, 0, &s, 1);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	vbar_kick(&v, TXQ);
	assert_int_equal(f->out.len, 6);
	assert_out_pattern(f, 0, 6);
	assert_true(v.line);
	assert_int_equal(vbar_isr(&v), VIRTIO_PCI_ISR_QUEUE);
	assert_false(v.line);
	/* Input. */
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"hello", 5), 0);
	post_rx(f, 0, RX_DATA, 16);
	vbar_kick(&v, RXQ);
	assert_int_equal(f->rx_ready, 1);
	assert_int_equal(virtio_console_input(f->c, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(mem_read(&f->t.map, RX_DATA, got, 5), 0);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(vbar_isr(&v), VIRTIO_PCI_ISR_QUEUE);
	/* A new terminal size: configuration interrupt, generation moves. */
	gen = (uint8_t)vbar_rd(&v, VBAR_C(CFGGEN), 1);
	assert_int_equal(virtio_console_set_size(f->c, 200, 60), 0);
	assert_int_equal(vbar_isr(&v), VIRTIO_PCI_ISR_CONFIG);
	assert_int_not_equal(vbar_rd(&v, VBAR_C(CFGGEN), 1), gen);
	assert_int_equal(vbar_rd(&v, VIRTIO_PCI_DEVICE_OFF, 4), 200 | 60 << 16);
	/* A hostile transmit chain: NEEDS_RESET and a config interrupt. */
	td_desc(&f->t, Q(f, TXQ), 1, TX_DATA, 4, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 1);
	vbar_kick(&v, TXQ);
	assert_true(vbar_status(&v) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vbar_isr(&v), VIRTIO_PCI_ISR_CONFIG);
	/* The driver resets and starts over. */
	assert_true(vbar_negotiate(&v, F_VER1) & VIRTIO_STATUS_FEATURES_OK);
	assert_false(vbar_status(&v) & VIRTIO_STATUS_NEEDS_RESET);
	vbar_queue(&v, &f->t, Q(f, RXQ), RXQ, QSIZE);
	vbar_queue(&v, &f->t, Q(f, TXQ), TXQ, 8);
	vbar_driver_ok(&v);
	put_chain(f, TXQ, 0, &s, 1);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	vbar_kick(&v, TXQ);
	assert_int_equal(f->out.len, 12);
	vbar_detach(&v);
	destroy(f);
	(void)state;
}

/* ---- an I/O thread feeding input while the driver kicks --------------- */

#define FEED_TOTAL 20000
#define FEED_BUF   16
#define FEED_BASE  (0xA00000ull - 3 * FEED_BUF - 8)   /* buffer 3 spans slots */

struct feeder {
	struct cfx *f;
	bool timed_out;
};

static void *feed_thread(void *arg)
{
	struct feeder *fd = arg;
	struct cfx *f = fd->f;
	uint8_t chunk[300];
	size_t sent = 0;

	while (sent < FEED_TOTAL) {
		size_t n = FEED_TOTAL - sent < sizeof(chunk) ? FEED_TOTAL - sent : sizeof(chunk);
		size_t got;
		struct timespec until;

		pattern(chunk, n, sent);
		got = virtio_console_input(f->c, chunk, n);
		sent += got;
		if (got == n)
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&f->lock);
		while (!f->ready && !fd->timed_out)
			if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
				fd->timed_out = true;
		f->ready = false;
		pthread_mutex_unlock(&f->lock);
		if (fd->timed_out)
			break;
	}
	return NULL;
}

static void test_concurrent_input(void **state)
{
	struct cfx *f = *state;
	struct feeder fd = { .f = f };
	uint16_t seen = 0;
	size_t received = 0, sent_out = 0;
	time_t start = time(NULL);
	pthread_t th;

	for (uint16_t i = 0; i < QSIZE; i++)
		post_rx(f, i, FEED_BASE + i * FEED_BUF, FEED_BUF);
	kick(f, RXQ);
	assert_int_equal(pthread_create(&th, NULL, feed_thread, &fd), 0);
	while (received < FEED_TOTAL && time(NULL) - start < 20) {
		uint16_t used = td_used_idx(&f->t, Q(f, RXQ));

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (used == seen) {
			sched_yield();
			continue;
		}
		for (; seen != used; seen++) {
			uint32_t id, len;

			td_used_elem(&f->t, Q(f, RXQ), seen, &id, &len);
			assert_true(id < QSIZE);
			assert_true(len >= 1 && len <= FEED_BUF);
			assert_guest_pattern(f, FEED_BASE + id * FEED_BUF, len, received);
			received += len;
			post_rx(f, (uint16_t)id, FEED_BASE + id * FEED_BUF, FEED_BUF);
		}
		kick(f, RXQ);
		/* Output at the same time, on this (vCPU) thread. */
		guest_pattern(f, TX_DATA, 5, sent_out);
		put_chain(f, TXQ, 0, &(struct seg){ TX_DATA, 5, false }, 1);
		td_publish(&f->t, Q(f, TXQ), TXQ, 0);
		kick(f, TXQ);
		sent_out += 5;
	}
	pthread_join(th, NULL);
	assert_false(fd.timed_out);
	assert_int_equal(received, FEED_TOTAL);
	assert_int_equal(f->out.len, sent_out);
	assert_out_pattern(f, 0, sent_out);
	assert_int_equal(f->needs_reset, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_and_features),
		T(test_bad_params),
		T(test_set_size),
		T(test_tx_one_chain_one_write),
		T(test_tx_many_buffers_per_kick),
		T(test_tx_beyond_staging),
		cmocka_unit_test(test_tx_indirect),
		cmocka_unit_test(test_tx_event_idx),
		T(test_rx_partial_and_retry),
		T(test_rx_ready_only_when_waiting),
		T(test_rx_spanning_slots),
		T(test_rx_without_buffers),
		cmocka_unit_test(test_rx_before_driver_ok),
		cmocka_unit_test(test_rx_event_idx),
		cmocka_unit_test(test_hostile_tx),
		cmocka_unit_test(test_hostile_rx),
		T(test_rx_all_readable_chain),
		T(test_reset_forgets_driver),
		cmocka_unit_test(test_through_transport),
		T(test_concurrent_input),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}
