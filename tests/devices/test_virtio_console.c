// SPDX-License-Identifier: MIT
/* virtio-console against the test driver: output gathered from chains that
 * straddle slots, input into posted buffers with partial acceptance,
 * rx_ready, hostile chains and reset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/console.h"
#include "mmu/iovec.h"
#include "virtio_driver.h"
#include "quiet_log.h"

struct env {
	struct tdrv t;
	struct virtio_console *c;
	struct virtio_dev *d;
	struct virtq *rx, *tx;
	uint8_t out[32768];
	size_t out_len;
	unsigned int nr_writes, nr_ready, nr_notify[2], nr_reset;
};

static void sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct env *e = ctx;

	assert_true(e->out_len + len <= sizeof(e->out));
	memcpy(e->out + e->out_len, buf, len);
	e->out_len += len;
	e->nr_writes++;
}

static void ready(void *ctx)
{
	((struct env *)ctx)->nr_ready++;
}

static void on_queue(void *ctx, unsigned int q)
{
	assert_true(q < 2);
	((struct env *)ctx)->nr_notify[q]++;
}

static void on_reset(void *ctx)
{
	((struct env *)ctx)->nr_reset++;
}

static void start(struct env *e)
{
	td_place(&e->t, e->rx, 0, 16);
	td_place(&e->t, e->tx, 1, 16);
	assert_int_equal(virtq_enable(e->rx), 0);
	assert_int_equal(virtq_enable(e->tx), 0);
	assert_int_equal(e->d->ops->activate(e->d, 1ull << VIRTIO_F_VERSION_1), 0);
}

static struct env *env_new(void)
{
	struct env *e = test_calloc(1, sizeof(*e));
	struct virtio_console_params p = {
		.out = { .write = sink, .ctx = e }, .rx_ready = ready, .rx_ctx = e,
	};

	td_map(&e->t);
	p.mem = &e->t.map;
	assert_int_equal(virtio_console_create(&p, &e->c), 0);
	e->d = virtio_console_dev(e->c);
	assert_int_equal(e->d->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(e->d->nr_queues, 2);
	e->d->notify = (struct virtio_notify){ .queue = on_queue, .needs_reset = on_reset,
					       .ctx = e };
	e->rx = &e->d->queues[VIRTIO_CONSOLE_RX];
	e->tx = &e->d->queues[VIRTIO_CONSOLE_TX];
	/* Input before the driver is ready is not taken. */
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)"x", 1), 0);
	start(e);
	assert_int_equal(e->nr_ready, 1);   /* activation offers pending input */
	return e;
}

static void env_free(struct env *e)
{
	e->d->ops->destroy(e->d);
	mem_map_destroy(&e->t.map);
	test_free(e);
}

static void put(struct env *e, uint64_t gpa, const void *data, size_t len)
{
	assert_int_equal(mem_write_span(&e->t.map, gpa, data, len), 0);
}

static void test_output_gathered(void **state)
{
	struct env *e = env_new();
	uint64_t across = TD_DATA + TD_SLOT - 3;     /* straddles two slots */
	static uint8_t big[10000];

	(void)state;
	put(e, TD_DATA, "Hello", 5);
	put(e, across, ", wo", 4);
	put(e, TD_DATA + 0x1000, "rld\n", 4);
	td_desc(&e->t, e->tx, 0, TD_DATA, 5, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&e->t, e->tx, 1, across, 4, VIRTQ_DESC_F_NEXT, 2);
	td_desc(&e->t, e->tx, 2, TD_DATA + 0x1000, 4, 0, 0);
	td_publish(&e->t, e->tx, 1, 0);
	e->d->ops->queue_notify(e->d, VIRTIO_CONSOLE_TX);
	assert_int_equal(e->out_len, 13);
	assert_memory_equal(e->out, "Hello, world\n", 13);
	assert_int_equal(e->nr_writes, 1);          /* one chain, one write */
	assert_int_equal(td_used_idx(&e->t, e->tx), 1);
	assert_int_equal(e->nr_notify[1], 1);
	/* 10000 bytes in one buffer: a few large writes, every byte. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	put(e, TD_DATA + 0x10000, big, sizeof(big));
	td_desc(&e->t, e->tx, 3, TD_DATA + 0x10000, sizeof(big), 0, 0);
	td_publish(&e->t, e->tx, 1, 3);
	e->d->ops->queue_notify(e->d, VIRTIO_CONSOLE_TX);
	assert_int_equal(e->out_len, 13 + sizeof(big));
	assert_memory_equal(e->out + 13, big, sizeof(big));
	assert_int_equal(e->nr_writes, 1 + 3);
	env_free(e);
}

static void test_input_partial_and_retry(void **state)
{
	struct env *e = env_new();
	const char *msg = "hello, guest!!";      /* 14 bytes */
	uint32_t id, len;
	char got[16] = { 0 };

	(void)state;
	/* No buffers posted: nothing taken. */
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)msg, 14), 0);
	td_desc(&e->t, e->rx, 0, TD_DATA, 8, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->rx, 0, 0);
	e->d->ops->queue_notify(e->d, VIRTIO_CONSOLE_RX);
	assert_int_equal(e->nr_ready, 2);           /* the kick says: retry */
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)msg, 14), 8);
	td_used_elem(&e->t, e->rx, 0, &id, &len);
	assert_int_equal(len, 8);
	assert_int_equal(e->nr_notify[0], 1);
	/* The rest goes into the next buffer, which straddles two slots. */
	td_desc(&e->t, e->rx, 1, TD_DATA + TD_SLOT - 4, 8, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->rx, 0, 1);
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)msg + 8, 6), 6);
	td_used_elem(&e->t, e->rx, 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, 6);
	assert_int_equal(mem_read_span(&e->t.map, TD_DATA, got, 8), 0);
	assert_int_equal(mem_read_span(&e->t.map, TD_DATA + TD_SLOT - 4, got + 8, 6), 0);
	assert_string_equal(got, msg);
	env_free(e);
}

static void test_hostile_chains(void **state)
{
	struct env *e = env_new();

	(void)state;
	/* A writable descriptor in a transmit chain: its readable bytes still
	 * go out, the rest is ignored. */
	put(e, TD_DATA, "ok", 2);
	td_desc(&e->t, e->tx, 0, TD_DATA, 2, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&e->t, e->tx, 1, TD_DATA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->tx, 1, 0);
	e->d->ops->queue_notify(e->d, VIRTIO_CONSOLE_TX);
	assert_int_equal(e->out_len, 2);
	/* Output outside RAM: the queue breaks, the device asks for reset. */
	td_desc(&e->t, e->tx, 2, TD_HOLE, 64, 0, 0);
	td_publish(&e->t, e->tx, 1, 2);
	e->d->ops->queue_notify(e->d, VIRTIO_CONSOLE_TX);
	assert_int_equal(e->nr_reset, 1);
	assert_int_equal(e->out_len, 2);
	/* A loop in a receive chain. */
	td_desc(&e->t, e->rx, 0, TD_DATA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	td_desc(&e->t, e->rx, 1, TD_DATA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	td_publish(&e->t, e->rx, 0, 0);
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(e->nr_reset, 2);
	/* Reset, then everything works again. */
	e->d->ops->reset(e->d);
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)"abc", 3), 0);
	start(e);
	td_desc(&e->t, e->rx, 0, TD_DATA, 4, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&e->t, e->rx, 0, 0);
	assert_int_equal(virtio_console_input(e->c, (const uint8_t *)"abc", 3), 3);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_gathered),
		cmocka_unit_test(test_input_partial_and_retry),
		cmocka_unit_test(test_hostile_chains),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}
