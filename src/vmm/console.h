/* SPDX-License-Identifier: MIT */
/*
 * The host side of the serial console: guest output to a file descriptor
 * (stdout), host input from another (stdin) into a console_target (the
 * UART, or the virtio console).  On a terminal,
 * input is raw and Ctrl-A x quits (as in QEMU); the terminal is restored on
 * every exit path.  Pipes and files work too, so scripts can drive guests.
 */
#ifndef MINIVMM_CONSOLE_H
#define MINIVMM_CONSOLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "devices/device.h"

/* How long the guest must have listened before the console offers input
 * (uart_hold_input), and how often it retries while held back. */
#define CONSOLE_SETTLE_NS (20 * 1000 * 1000ULL)
#define CONSOLE_RETRY_MS 10

/* Where host input goes: a device's receive path (the UART's FIFO, the
 * virtio console's receive queue).  receive returns how many bytes it took;
 * the rest is offered again after console_rx_space() or a short retry. */
struct console_target {
	size_t (*receive)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx;
};

struct console {
	int in_fd;
	int out_fd;
	bool is_tty;
	bool escape;         /* Ctrl-A seen */
	bool in_eof;
	int wake_fd;         /* eventfd: stop request or receive space */
	int inject_rd, inject_wr; /* pipe: console_inject() input */
	atomic_bool stop;
	pthread_t thread;
	bool started;
	struct console_target target;
	void (*quit)(void *ctx);  /* Ctrl-A x */
	void *quit_ctx;
	uint8_t pending[256]; /* read from the host, not yet taken by the UART */
	size_t pending_len, pending_off;
};

int console_init(struct console *con, int in_fd, int out_fd,
		 void (*quit)(void *ctx), void *quit_ctx);
/* Output sink for the UART. */
struct byte_sink console_sink(struct console *con);
/* Start feeding input to target (switches a terminal to raw mode). */
int console_start(struct console *con, const struct console_target *target);
/* The target has room again (the guest read bytes or posted buffers); any
 * thread.  ctx is the struct console. */
void console_rx_space(void *ctx);
/* Input from elsewhere (the control socket), fed to the target like the
 * host's, before it; any thread, never blocks.  How many bytes were queued
 * (at most a pipe's capacity is pending). */
size_t console_inject(struct console *con, const uint8_t *buf, size_t len);
void console_stop(struct console *con);
void console_destroy(struct console *con);

/* Restore the terminal if minivmm changed it; safe to call repeatedly and
 * from atexit handlers. */
void console_restore_terminal(void);

#endif
