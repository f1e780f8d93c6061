// SPDX-License-Identifier: MIT
/*
 * 16550A UART.  Register behaviour follows the National/TI PC16550D data
 * sheet; where the VMM differs from silicon it says so below:
 *
 * - Transmission is instantaneous: a THR write reaches the byte sink (or,
 *   in loopback, the receiver) before the write returns, so LSR.THRE and
 *   LSR.TEMT always read as set and the THRE interrupt re-arms right after
 *   every THR write, as silicon does once the byte has shifted out.
 * - The character-timeout interrupt (CTI) is raised as soon as the receive
 *   FIFO holds data below its trigger level, rather than after four
 *   character times of silence.  Drivers treat CTI and RDA alike (drain
 *   while LSR.DR), so they only see the timeout "expire" early.
 * - Line settings (divisor, word length, parity, stop bits) are stored and
 *   read back but do not shape the data: bytes are passed whole, since a
 *   guest that never programs LCR (power-on: 5-bit words) must still print.
 * - Host input never overruns: uart_receive() takes only what fits.  The
 *   only overrun (LSR.OE) comes from loopback writes into a full receiver.
 * - No break, parity or framing errors are ever received, so LSR.BI/PE/FE
 *   and LSR bit 7 stay clear; LCR.BREAK is stored only.
 * - With uart_hold_input() (what the VMM's console asks for), host input
 *   waits outside the UART until the guest is listening: it enabled the
 *   receive interrupt, or it keeps polling LSR with the receiver empty.
 *   Otherwise piped input that arrives while the guest is still programming
 *   the UART is wiped by its FIFO reset, as happens on real hardware (and
 *   under QEMU).  A receive-FIFO reset stops listening until the next sign.
 *
 * Locking: one mutex serialises register accesses (vCPU threads) and
 * uart_receive() (console thread).  The irq_line is driven inside the lock,
 * so level changes reach the interrupt controller in order; the byte sink
 * and the rx-space notifier are called after the lock is dropped, so a
 * blocked terminal can never stall the console thread.
 */
#include "devices/uart.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "base/snap.h"

#define UART_NR_REGS      8
#define UART_IER_MASK     0x0F
#define UART_MCR_MASK     0x1F
#define UART_LSR_ERRORS   (UART_LSR_OE | UART_LSR_BI)
#define UART_MSR_DELTAS   0x0F
#define UART_MSR_LINES    0xF0
/* Consecutive empty-receiver LSR reads that mean "polling for input"; a
 * driver waiting to transmit reads LSR once or twice between THR writes. */
#define UART_LISTEN_POLLS 16

struct uart {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	struct byte_sink out;
	void (*rx_space_fn)(void *ctx);
	void *rx_space_ctx;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;            /* ENABLE and TRIGGER bits as programmed */
	uint8_t lsr_err;        /* sticky LSR error bits, cleared by LSR read */
	uint8_t msr;            /* line state (7:4) and delta bits (3:0) */
	bool thr_ipending;      /* THRE interrupt latched */
	bool irq_level;         /* last level driven on the irq_line */
	bool hold_input;        /* uart_receive() waits for a listening guest */
	bool listening;
	unsigned int idle_polls;
	uint64_t settle_ns;     /* how long the guest must have been listening */
	uint64_t listen_since;  /* CLOCK_MONOTONIC ns when it started */

	uint8_t rx[UART_FIFO_SIZE];
	unsigned int rx_head, rx_count;
};

/* Side effects to perform once the lock is released. */
struct uart_deferred {
	bool tx;
	uint8_t tx_byte;
	bool rx_was_full;
	bool was_accepting;
};

static struct uart *to_uart(struct device *dev)
{
	return container_of(dev, struct uart, dev);
}

static bool fifo_enabled(const struct uart *u)
{
	return u->fcr & UART_FCR_ENABLE;
}

/* Without FIFOs the receiver is the single RBR holding register. */
static unsigned int rx_capacity(const struct uart *u)
{
	return fifo_enabled(u) ? UART_FIFO_SIZE : 1;
}

static bool rx_full(const struct uart *u)
{
	return u->rx_count >= rx_capacity(u);
}

/* Drivers often read RBR "for luck" right after enabling the receive
 * interrupt (Linux's 8250 start-up does): host input is only offered once
 * the guest has been listening for settle_ns, so such reads find nothing. */
static bool rx_accepting(const struct uart *u)
{
	if (!u->hold_input)
		return true;
	return u->listening && (u->settle_ns == 0 || now_ns() - u->listen_since >= u->settle_ns);
}

static void set_listening(struct uart *u, bool on)
{
	if (on && !u->listening)
		u->listen_since = now_ns();
	u->listening = on;
}

static unsigned int rx_trigger(const struct uart *u)
{
	static const unsigned int level[4] = { 1, 4, 8, 14 };

	return level[(u->fcr & UART_FCR_TRIGGER) >> 6];
}

/* Modem inputs as seen in MSR[7:4]: looped back from MCR in loopback mode,
 * otherwise a permanently connected, ready peer (no ring). */
static uint8_t msr_lines(const struct uart *u)
{
	uint8_t lines = 0;

	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (u->mcr & UART_MCR_RTS)
		lines |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_DTR)
		lines |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_OUT1)
		lines |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		lines |= UART_MSR_DCD;
	return lines;
}

/* Recompute MSR[7:4] and latch delta bits for what changed; TERI only
 * on the trailing edge of RI (1 -> 0). */
static void msr_update(struct uart *u)
{
	uint8_t old = u->msr & UART_MSR_LINES;
	uint8_t now = msr_lines(u);
	uint8_t delta = (uint8_t)((old ^ now) >> 4);

	if (!(old & UART_MSR_RI) || (now & UART_MSR_RI))
		delta &= (uint8_t)~UART_MSR_TERI;
	u->msr = (uint8_t)(now | (u->msr & UART_MSR_DELTAS) | delta);
}

/* The highest-priority pending source, as IIR[3:0] reports it. */
static uint8_t iir_source(const struct uart *u)
{
	if ((u->ier & UART_IER_RLSI) && (u->lsr_err & UART_LSR_ERRORS))
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && u->rx_count > 0) {
		if (fifo_enabled(u) && u->rx_count < rx_trigger(u))
			return UART_IIR_CTI;
		return UART_IIR_RDI;
	}
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & UART_MSR_DELTAS))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* PC boards route the interrupt through a buffer enabled by OUT2. */
static void irq_update(struct uart *u)
{
	bool level = iir_source(u) != UART_IIR_NO_INT &&
		     (u->mcr & UART_MCR_OUT2);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(&u->irq, level);
	}
}

static void rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	set_listening(u, u->ier & UART_IER_RDI);
	u->idle_polls = 0;
}

static void rx_push(struct uart *u, uint8_t byte)
{
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
	u->rx_count++;
}

static uint8_t rx_pop(struct uart *u)
{
	uint8_t byte = u->rx[u->rx_head];

	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return byte;
}

/* A byte reaching the receiver from loopback.  With FIFOs the byte that
 * finds the FIFO full is lost; without, it overwrites RBR (data sheet). */
static void rx_loopback(struct uart *u, uint8_t byte)
{
	if (!rx_full(u)) {
		rx_push(u, byte);
		return;
	}
	u->lsr_err |= UART_LSR_OE;
	if (!fifo_enabled(u))
		u->rx[u->rx_head] = byte;
}

static void power_on(struct uart *u)
{
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->fcr = 0;
	u->lsr_err = 0;
	/* Undefined on silicon; zero is as good as anything. */
	u->scr = 0;
	u->dll = 0;
	u->dlm = 0;
	u->thr_ipending = false;
	u->msr = msr_lines(u);
	rx_clear(u);
}

static uint8_t reg_read(struct uart *u, uint64_t reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	uint8_t val;

	if (reg != UART_LSR)
		u->idle_polls = 0;
	switch (reg) {
	case UART_RBR:
		if (dlab)
			return u->dll;
		/* Reading an empty receiver returns stale data on silicon. */
		return u->rx_count ? rx_pop(u) : 0;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		val = iir_source(u);
		if (val == UART_IIR_THRI)
			u->thr_ipending = false;
		return fifo_enabled(u) ? (uint8_t)(val | UART_IIR_FIFO) : val;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		val = (uint8_t)(UART_LSR_THRE | UART_LSR_TEMT | u->lsr_err);
		if (u->rx_count)
			val |= UART_LSR_DR;
		else if (++u->idle_polls >= UART_LISTEN_POLLS)
			set_listening(u, true);
		u->lsr_err = 0;
		return val;
	case UART_MSR:
		val = u->msr;
		u->msr &= UART_MSR_LINES;
		return val;
	case UART_SCR:
		return u->scr;
	default:
		return 0xFF;
	}
}

static void thr_write(struct uart *u, uint8_t byte, struct uart_deferred *d)
{
	if (u->mcr & UART_MCR_LOOP) {
		rx_loopback(u, byte);
	} else {
		d->tx = true;
		d->tx_byte = byte;
	}
	/* The byte has left THR already: THRE is set again. */
	u->thr_ipending = true;
}

static void ier_write(struct uart *u, uint8_t val)
{
	uint8_t changed = (u->ier ^ val) & UART_IER_THRI;

	u->ier = val & UART_IER_MASK;
	if (u->ier & UART_IER_RDI)
		set_listening(u, true);
	/* Enabling THRI while THR is empty (always, here) raises THRE at
	 * once; Linux's THRE test and its TX start-up depend on it. */
	if (changed)
		u->thr_ipending = u->ier & UART_IER_THRI;
}

/* FCR bits other than ENABLE are only programmed with ENABLE set; toggling
 * ENABLE empties both FIFOs. */
static void fcr_write(struct uart *u, uint8_t val)
{
	if ((val ^ u->fcr) & UART_FCR_ENABLE)
		rx_clear(u);
	if (!(val & UART_FCR_ENABLE)) {
		u->fcr = 0;
		return;
	}
	if (val & UART_FCR_CLEAR_RX)
		rx_clear(u);
	/* CLEAR_TX: the transmitter is always empty already. */
	u->fcr = val & (UART_FCR_ENABLE | UART_FCR_TRIGGER);
}

static void reg_write(struct uart *u, uint64_t reg, uint8_t val,
		      struct uart_deferred *d)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	u->idle_polls = 0;
	switch (reg) {
	case UART_THR:
		if (dlab)
			u->dll = val;
		else
			thr_write(u, val, d);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = val;
		else
			ier_write(u, val);
		break;
	case UART_FCR:
		fcr_write(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & UART_MCR_MASK;
		msr_update(u);
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default:
		/* LSR (factory test) and MSR writes are ignored. */
		break;
	}
}

static void begin(struct uart *u, struct uart_deferred *d)
{
	pthread_mutex_lock(&u->lock);
	d->rx_was_full = rx_full(u);
	d->was_accepting = rx_accepting(u);
}

static void finish(struct uart *u, const struct uart_deferred *d)
{
	bool notify = (d->rx_was_full && !rx_full(u)) ||
		      (!d->was_accepting && rx_accepting(u));
	void (*fn)(void *ctx) = u->rx_space_fn;
	void *ctx = u->rx_space_ctx;

	irq_update(u);
	pthread_mutex_unlock(&u->lock);
	if (d->tx)
		byte_sink_write(&u->out, &d->tx_byte, 1);
	if (notify && fn)
		fn(ctx);
}

static void uart_read(struct device *dev, uint64_t offset, void *data,
		      uint32_t len)
{
	struct uart *u = to_uart(dev);
	uint8_t *bytes = data;

	for (uint32_t i = 0; i < len; i++) {
		struct uart_deferred d = { 0 };

		begin(u, &d);
		bytes[i] = offset + i < UART_NR_REGS ? reg_read(u, offset + i)
						     : 0xFF;
		finish(u, &d);
	}
}

static void uart_write(struct device *dev, uint64_t offset, const void *data,
		       uint32_t len)
{
	struct uart *u = to_uart(dev);
	const uint8_t *bytes = data;

	for (uint32_t i = 0; i < len; i++) {
		struct uart_deferred d = { 0 };

		begin(u, &d);
		if (offset + i < UART_NR_REGS)
			reg_write(u, offset + i, bytes[i], &d);
		finish(u, &d);
	}
}

static void uart_reset(struct device *dev)
{
	struct uart *u = to_uart(dev);
	struct uart_deferred d = { 0 };

	begin(u, &d);
	power_on(u);
	finish(u, &d);
}

static void uart_destroy(struct device *dev)
{
	struct uart *u = to_uart(dev);

	pthread_mutex_destroy(&u->lock);
	free(u);
}

static const struct device_ops uart_ops = {
	.access_size = 1,
	.read = uart_read,
	.write = uart_write,
	.reset = uart_reset,
	.destroy = uart_destroy,
};

struct uart *uart_create(const char *name, const struct irq_line *irq,
			 const struct byte_sink *out)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	if (pthread_mutex_init(&u->lock, NULL)) {
		free(u);
		return NULL;
	}
	u->dev.ops = &uart_ops;
	u->dev.name = name;
	if (irq)
		u->irq = *irq;
	if (out)
		u->out = *out;
	power_on(u);
	return u;
}

struct device *uart_device(struct uart *uart)
{
	return &uart->dev;
}

size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&uart->lock);
	if (uart->mcr & UART_MCR_LOOP) {
		/* Loopback disconnects the serial input: the line's bytes
		 * are lost, as on silicon, rather than held back forever. */
		n = len;
	} else if (rx_accepting(uart)) {
		while (n < len && !rx_full(uart))
			rx_push(uart, buf[n++]);
	}
	irq_update(uart);
	pthread_mutex_unlock(&uart->lock);
	return n;
}

void uart_hold_input(struct uart *uart, uint64_t settle_ns)
{
	pthread_mutex_lock(&uart->lock);
	uart->hold_input = true;
	uart->settle_ns = settle_ns;
	pthread_mutex_unlock(&uart->lock);
}

void uart_set_rx_space_notify(struct uart *uart, void (*fn)(void *ctx),
			      void *ctx)
{
	pthread_mutex_lock(&uart->lock);
	uart->rx_space_fn = fn;
	uart->rx_space_ctx = ctx;
	pthread_mutex_unlock(&uart->lock);
}

void uart_snap(struct uart *u, struct snap *s)
{
	pthread_mutex_lock(&u->lock);
	snap_u8(s, "ier", &u->ier);
	snap_u8(s, "lcr", &u->lcr);
	snap_u8(s, "mcr", &u->mcr);
	snap_u8(s, "scr", &u->scr);
	snap_u8(s, "dll", &u->dll);
	snap_u8(s, "dlm", &u->dlm);
	snap_u8(s, "fcr", &u->fcr);
	snap_u8(s, "lsr-err", &u->lsr_err);
	snap_u8(s, "msr", &u->msr);
	snap_bool(s, "thr-ipending", &u->thr_ipending);
	snap_bool(s, "irq-level", &u->irq_level);
	snap_bool(s, "listening", &u->listening);
	snap_bytes(s, "rx", u->rx, sizeof(u->rx));
	snap_uint(s, "rx-head", &u->rx_head, UART_FIFO_SIZE);
	snap_uint(s, "rx-count", &u->rx_count, UART_FIFO_SIZE + 1);
	if (!snap_saving(s) && !snap_failed(s)) {
		/* The settling was done before the snapshot. */
		u->listen_since = now_ns() - u->settle_ns;
		u->idle_polls = 0;
		/* The interrupt controller's own state is back already; what
		 * it cannot carry is who holds a line high. */
		if (u->irq_level)
			irq_line_set(&u->irq, true);
	}
	pthread_mutex_unlock(&u->lock);
}
