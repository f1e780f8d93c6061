// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "devices/uart.h"

#define MAX_EDGES 64

struct fixture {
	struct uart *uart;
	struct device *dev;
	/* fake irq_line: every call is recorded */
	unsigned int nr_irq_calls;
	bool irq_levels[MAX_EDGES];
	uint32_t irq_gsi;
	/* fake byte_sink */
	uint8_t sink[256];
	size_t sink_len;
	atomic_uint notified;
};

static void fake_irq(void *ctx, uint32_t gsi, bool level)
{
	struct fixture *f = ctx;

	assert_true(f->nr_irq_calls < MAX_EDGES);
	f->irq_gsi = gsi;
	f->irq_levels[f->nr_irq_calls++] = level;
}

static void fake_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct fixture *f = ctx;

	assert_true(f->sink_len + len <= sizeof(f->sink));
	memcpy(f->sink + f->sink_len, buf, len);
	f->sink_len += len;
}

static void fake_notify(void *ctx)
{
	struct fixture *f = ctx;

	atomic_fetch_add(&f->notified, 1);
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line irq = { .set = fake_irq, .ctx = f, .gsi = 4 };
	struct byte_sink out = { .write = fake_sink, .ctx = f };

	f->uart = uart_create("com1", &irq, &out);
	assert_non_null(f->uart);
	f->dev = uart_device(f->uart);
	uart_set_rx_space_notify(f->uart, fake_notify, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	device_destroy(f->dev);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint64_t reg)
{
	uint8_t v;

	f->dev->ops->read(f->dev, reg, &v, 1);
	return v;
}

static void wr(struct fixture *f, uint64_t reg, uint8_t v)
{
	f->dev->ops->write(f->dev, reg, &v, 1);
}

static size_t rx(struct fixture *f, const char *s)
{
	return uart_receive(f->uart, (const uint8_t *)s, strlen(s));
}

static void test_power_on(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->dev->ops->access_size, 1);
	assert_int_equal(rd(f, UART_IER), 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LCR), 0);
	assert_int_equal(rd(f, UART_MCR), 0);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	assert_int_equal(f->nr_irq_calls, 0);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	/* Reading IIR while THRE is reported clears it. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_THRE, UART_LSR_THRE);
	/* A THR write empties at once and re-arms THRE. */
	wr(f, UART_THR, 'a');
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* Rewriting IER with THRI still set is not an edge... */
	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* ...but toggling it is. */
	wr(f, UART_IER, 0);
	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	wr(f, UART_IER, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* OUT2 clear: nothing reached the interrupt controller. */
	assert_int_equal(f->nr_irq_calls, 0);
}

static void test_out2_gates_irq(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(f->nr_irq_calls, 0);
	wr(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->nr_irq_calls, 1);
	assert_true(f->irq_levels[0]);
	assert_int_equal(f->irq_gsi, 4);
	/* Reading LSR changes nothing: no redundant call. */
	rd(f, UART_LSR);
	assert_int_equal(f->nr_irq_calls, 1);
	rd(f, UART_IIR);
	assert_int_equal(f->nr_irq_calls, 2);
	assert_false(f->irq_levels[1]);
	wr(f, UART_THR, 'x');
	assert_int_equal(f->nr_irq_calls, 3);
	assert_true(f->irq_levels[2]);
	wr(f, UART_MCR, 0);
	assert_int_equal(f->nr_irq_calls, 4);
	assert_false(f->irq_levels[3]);
	/* Still pending inside the UART: OUT2 again raises the line. */
	assert_int_equal(rd(f, UART_IIR) & 0x0F, UART_IIR_THRI);
	wr(f, UART_THR, 'y');
	wr(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR);
	assert_int_equal(f->nr_irq_calls, 5);
	assert_true(f->irq_levels[4]);
}

static void test_rx_no_fifo(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_RDI);
	wr(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(rx(f, "ab"), 1);
	assert_int_equal(rx(f, "b"), 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	/* Without FIFOs: plain RDA, no FIFO bits in IIR. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_RDI);
	assert_int_equal(f->nr_irq_calls, 1);
	assert_true(f->irq_levels[0]);
	assert_int_equal(rd(f, UART_RBR), 'a');
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->nr_irq_calls, 2);
	assert_false(f->irq_levels[1]);
	assert_int_equal(rx(f, "b"), 1);
	assert_int_equal(rd(f, UART_RBR), 'b');
}

static void test_fifo_limit(void **state)
{
	struct fixture *f = *state;
	const char *text = "0123456789abcdefXYZ";

	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
	assert_int_equal(rx(f, text), UART_FIFO_SIZE);
	assert_int_equal(rx(f, "Z"), 0);
	for (unsigned int i = 0; i < UART_FIFO_SIZE; i++) {
		assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
		assert_int_equal(rd(f, UART_RBR), text[i]);
	}
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	/* Never an overrun from host input. */
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);
}

static void test_trigger_levels(void **state)
{
	struct fixture *f = *state;
	static const struct { uint8_t fcr; unsigned int level; } cases[] = {
		{ 0x00, 1 }, { 0x40, 4 }, { 0x80, 8 }, { 0xC0, 14 },
	};

	wr(f, UART_IER, UART_IER_RDI);
	for (unsigned int c = 0; c < 4; c++) {
		wr(f, UART_FCR, cases[c].fcr | UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
		assert_int_equal(rd(f, UART_IIR), 0xC1);
		for (unsigned int n = 1; n <= UART_FIFO_SIZE; n++) {
			uint8_t want = n >= cases[c].level ? UART_IIR_RDI : UART_IIR_CTI;

			assert_int_equal(uart_receive(f->uart, (const uint8_t *)"q", 1), 1);
			assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | want);
		}
		/* Draining below the trigger falls back to CTI. */
		while (rd(f, UART_LSR) & UART_LSR_DR) {
			rd(f, UART_RBR);
			if (rd(f, UART_LSR) & UART_LSR_DR)
				assert_int_not_equal(rd(f, UART_IIR) & 0x0F,
						     UART_IIR_NO_INT);
		}
		assert_int_equal(rd(f, UART_IIR), 0xC1);
	}
}

static void test_fcr_clear_and_toggle(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_FCR, UART_FCR_ENABLE | 0x80);
	assert_int_equal(rx(f, "hello"), 5);
	wr(f, UART_FCR, UART_FCR_ENABLE | 0x80 | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	/* Trigger level kept: 7 bytes is CTI, 8 is RDA. */
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(rx(f, "1234567"), 7);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
	assert_int_equal(rx(f, "8"), 1);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);

	/* Disabling FIFOs empties them and leaves a 1-byte receiver. */
	wr(f, UART_FCR, 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rx(f, "xy"), 1);
	/* Enabling them empties them too. */
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	/* Rewriting ENABLE without CLEAR keeps the data. */
	assert_int_equal(rx(f, "xy"), 2);
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rd(f, UART_RBR), 'x');
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_RDI | UART_IER_MSI);
	wr(f, UART_LCR, UART_LCR_DLAB | 0x03);
	wr(f, UART_DLL, 0x0C);
	wr(f, UART_DLM, 0x01);
	assert_int_equal(rd(f, UART_DLL), 0x0C);
	assert_int_equal(rd(f, UART_DLM), 0x01);
	assert_int_equal(rd(f, UART_LCR), UART_LCR_DLAB | 0x03);
	/* With DLAB set, a queued byte stays queued. */
	assert_int_equal(rx(f, "k"), 1);
	assert_int_equal(rd(f, UART_DLL), 0x0C);
	wr(f, UART_LCR, 0x03);
	assert_int_equal(f->sink_len, 0);
	assert_int_equal(rd(f, UART_IER), UART_IER_RDI | UART_IER_MSI);
	assert_int_equal(rd(f, UART_RBR), 'k');
	wr(f, UART_THR, 'Q');
	wr(f, UART_IER, 0);
	assert_int_equal(f->sink_len, 1);
	wr(f, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(rd(f, UART_DLL), 0x0C);
	assert_int_equal(rd(f, UART_DLM), 0x01);
}

static void test_sink_and_scratch(void **state)
{
	struct fixture *f = *state;
	const char *msg = "hello, world\r\n";

	for (const char *p = msg; *p; p++)
		wr(f, UART_THR, (uint8_t)*p);
	assert_int_equal(f->sink_len, strlen(msg));
	assert_memory_equal(f->sink, msg, strlen(msg));
	/* Nothing but THR writes reaches the sink. */
	wr(f, UART_SCR, 0x5A);
	assert_int_equal(rd(f, UART_SCR), 0x5A);
	wr(f, UART_LSR, 0);
	wr(f, UART_MSR, 0);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(f->sink_len, strlen(msg));
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_LOOP);
	/* Inputs went from DCD|DSR|CTS to nothing. */
	assert_int_equal(rd(f, UART_MSR),
			 UART_MSR_DDCD | UART_MSR_DDSR | UART_MSR_DCTS);
	assert_int_equal(rd(f, UART_MSR), 0);

	wr(f, UART_THR, 'L');
	assert_int_equal(f->sink_len, 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(rd(f, UART_RBR), 'L');

	/* Host input is disconnected: consumed, never received. */
	assert_int_equal(rx(f, "zz"), 2);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);

	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_CTS | UART_MSR_DCTS);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DSR | UART_MSR_DCD |
			 UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
	/* RI rising: no TERI; RI falling: TERI. */
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_RI | UART_MSR_DDSR | UART_MSR_DDCD);
	wr(f, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_TERI);

	/* Leaving loopback brings the idle lines back. */
	wr(f, UART_MCR, 0);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS |
			 UART_MSR_DDCD | UART_MSR_DDSR | UART_MSR_DCTS);
	wr(f, UART_THR, 'S');
	assert_int_equal(f->sink_len, 1);
	assert_int_equal(f->sink[0], 'S');
}

static void test_msr_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_MSI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_MSI);
	assert_int_equal(f->nr_irq_calls, 1);
	assert_true(f->irq_levels[0]);
	rd(f, UART_MSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->nr_irq_calls, 2);
	assert_false(f->irq_levels[1]);
}

static void test_loopback_overrun_and_priority(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_FCR, UART_FCR_ENABLE | 0xC0);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	rd(f, UART_MSR);
	for (unsigned int i = 0; i < UART_FIFO_SIZE + 1; i++)
		wr(f, UART_THR, (uint8_t)('a' + i));
	wr(f, UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);

	/* RLS > RDA > THRE > MSR. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RLSI);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_OE | UART_LSR_DR |
			 UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
	/* The byte that found the FIFO full was lost. */
	for (unsigned int i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(rd(f, UART_RBR), 'a' + i);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_MSI);
	rd(f, UART_MSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
	assert_false(f->irq_levels[f->nr_irq_calls - 1]);
	assert_int_equal(f->sink_len, 0);
}

static void test_loopback_no_fifo_overwrites(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_LOOP);
	wr(f, UART_THR, '1');
	wr(f, UART_THR, '2');
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			 UART_LSR_OE | UART_LSR_DR);
	assert_int_equal(rd(f, UART_RBR), '2');
}

static void test_rx_space_notify(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rx(f, "a"), 1);
	assert_int_equal(atomic_load(&f->notified), 0);
	rd(f, UART_RBR);
	assert_int_equal(atomic_load(&f->notified), 1);
	/* Reading an empty receiver frees nothing. */
	rd(f, UART_RBR);
	assert_int_equal(atomic_load(&f->notified), 1);

	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rx(f, "0123456789abcdefg"), UART_FIFO_SIZE);
	rd(f, UART_RBR);
	assert_int_equal(atomic_load(&f->notified), 2);
	/* Not full any more: further reads do not notify. */
	rd(f, UART_RBR);
	assert_int_equal(atomic_load(&f->notified), 2);
	assert_int_equal(rx(f, "xy"), 2);
	wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	assert_int_equal(atomic_load(&f->notified), 3);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_FCR, UART_FCR_ENABLE);
	wr(f, UART_IER, UART_IER_THRI | UART_IER_RDI);
	wr(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);
	wr(f, UART_SCR, 0x77);
	wr(f, UART_LCR, 0x1B);
	assert_int_equal(rx(f, "abc"), 3);
	assert_true(f->irq_levels[f->nr_irq_calls - 1]);

	f->dev->ops->reset(f->dev);
	assert_false(f->irq_levels[f->nr_irq_calls - 1]);
	assert_int_equal(rd(f, UART_IER), 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LCR), 0);
	assert_int_equal(rd(f, UART_MCR), 0);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	assert_int_equal(rd(f, UART_SCR), 0);
	assert_int_equal(rx(f, "ab"), 1);
}

static void test_null_deps(void **state)
{
	struct uart *u = uart_create("bare", NULL, NULL);
	struct device *dev;
	uint8_t v = UART_IER_THRI;

	assert_non_null(u);
	dev = uart_device(u);
	dev->ops->write(dev, UART_IER, &v, 1);
	v = UART_MCR_OUT2;
	dev->ops->write(dev, UART_MCR, &v, 1);
	v = 'x';
	dev->ops->write(dev, UART_THR, &v, 1);
	dev->ops->read(dev, UART_IIR, &v, 1);
	assert_int_equal(v, UART_IIR_THRI);
	v = 0x5A;
	assert_int_equal(uart_receive(u, &v, 1), 1);
	v = 0;
	dev->ops->read(dev, UART_RBR, &v, 1);
	assert_int_equal(v, 0x5A);
	device_destroy(dev);
}

/* The console thread pushes a stream, waiting for rx-space notifications
 * when the FIFO is full, while this thread plays the vCPU draining it. */
#define STREAM_LEN 20000

struct stream {
	struct fixture *f;
	atomic_bool stop;
};

static void *console_thread(void *arg)
{
	struct stream *s = arg;
	size_t sent = 0;

	while (sent < STREAM_LEN && !atomic_load(&s->stop)) {
		uint8_t chunk[7];
		size_t n = sizeof(chunk);

		if (n > STREAM_LEN - sent)
			n = STREAM_LEN - sent;
		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((sent + i) * 7);
		sent += uart_receive(s->f->uart, chunk, n);
		sched_yield();
	}
	return NULL;
}

static void test_concurrent_stream(void **state)
{
	struct fixture *f = *state;
	struct stream s = { .f = f };
	pthread_t th;
	size_t got = 0;
	time_t deadline = time(NULL) + 25; /* within the 30 s meson timeout */

	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(pthread_create(&th, NULL, console_thread, &s), 0);
	while (got < STREAM_LEN && time(NULL) < deadline) {
		if (!(rd(f, UART_LSR) & UART_LSR_DR))
			continue;
		assert_int_equal(rd(f, UART_RBR), (uint8_t)(got * 7));
		got++;
	}
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(got, STREAM_LEN);
}

/* Held input waits for the guest to enable the receive interrupt. */
static void test_hold_input_until_rdi(void **state)
{
	struct fixture *f = *state;
	const uint8_t msg[] = "ab";

	uart_hold_input(f->uart, 0);
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(uart_receive(f->uart, msg, 2), 0);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	atomic_store(&f->notified, 0);
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(atomic_load(&f->notified), 1); /* console told to retry */
	assert_int_equal(uart_receive(f->uart, msg, 2), 2);
	assert_int_equal(rd(f, UART_RBR), 'a');
	/* A receive-FIFO reset with RDI still enabled keeps listening... */
	wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	assert_int_equal(uart_receive(f->uart, msg, 1), 1);
	/* ...without it, input is held again. */
	wr(f, UART_IER, 0);
	wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	assert_int_equal(uart_receive(f->uart, msg, 1), 0);
}

/* A polling guest is recognised by consecutive empty LSR reads; a driver
 * that reads LSR between THR writes (transmitting) is not. */
static void test_hold_input_until_polled(void **state)
{
	struct fixture *f = *state;
	const uint8_t c = 'z';

	uart_hold_input(f->uart, 0);
	for (int i = 0; i < 40; i++) {
		rd(f, UART_LSR);
		wr(f, UART_THR, 'x');
	}
	assert_int_equal(uart_receive(f->uart, &c, 1), 0);
	for (int i = 0; i < 15; i++)
		rd(f, UART_LSR);
	assert_int_equal(uart_receive(f->uart, &c, 1), 0);
	rd(f, UART_LSR); /* the 16th consecutive empty poll */
	assert_int_equal(uart_receive(f->uart, &c, 1), 1);
	assert_true(rd(f, UART_LSR) & UART_LSR_DR);
	assert_int_equal(rd(f, UART_RBR), 'z');
}

/* Input waits until the guest has listened for the settle time, so reads
 * right after enabling the interrupt ("for luck") cannot eat it. */
static void test_hold_input_settle(void **state)
{
	struct fixture *f = *state;
	const uint8_t c = 'q';

	uart_hold_input(f->uart, 3600ULL * 1000000000ULL); /* an hour: never, here */
	wr(f, UART_FCR, UART_FCR_ENABLE);
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(uart_receive(f->uart, &c, 1), 0);
	assert_int_equal(rd(f, UART_RBR), 0); /* the flushing read finds nothing */
	uart_hold_input(f->uart, 1);           /* 1 ns: long past */
	assert_int_equal(uart_receive(f->uart, &c, 1), 1);
	assert_int_equal(rd(f, UART_RBR), 'q');
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_power_on),
		T(test_thre_interrupt),
		T(test_out2_gates_irq),
		T(test_rx_no_fifo),
		T(test_fifo_limit),
		T(test_trigger_levels),
		T(test_fcr_clear_and_toggle),
		T(test_divisor_latch),
		T(test_sink_and_scratch),
		T(test_loopback),
		T(test_msr_interrupt),
		T(test_loopback_overrun_and_priority),
		T(test_loopback_no_fifo_overwrites),
		T(test_rx_space_notify),
		T(test_reset),
		cmocka_unit_test(test_null_deps),
		T(test_hold_input_until_rdi),
		T(test_hold_input_until_polled),
		T(test_hold_input_settle),
		T(test_concurrent_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
