// SPDX-License-Identifier: MIT
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sandbox.h"

#define CTRL_A 0x01

/* The one piece of terminal state that must outlive everything else. */
static struct termios saved_termios;
static int saved_termios_fd = -1;

void console_restore_terminal(void)
{
	if (saved_termios_fd >= 0) {
		tcsetattr(saved_termios_fd, TCSAFLUSH, &saved_termios);
		saved_termios_fd = -1;
	}
}

static int make_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &saved_termios))
		return -errno;
	t = saved_termios;
	/* Raw input, but keep output processing so "\n" still returns the
	 * carriage on the host terminal. */
	t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	saved_termios_fd = fd;
	atexit(console_restore_terminal);
	if (tcsetattr(fd, TCSAFLUSH, &t))
		return -errno;
	return 0;
}

static void sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct console *con = ctx;

	while (len) {
		ssize_t w = write(con->out_fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* host output gone (closed pipe): drop, as a UART would */
		buf += w;
		len -= (size_t)w;
	}
}

struct byte_sink console_sink(struct console *con)
{
	return (struct byte_sink){ .write = sink_write, .ctx = con };
}

static void wake(struct console *con)
{
	uint64_t one = 1;
	ssize_t r = write(con->wake_fd, &one, sizeof(one));

	(void)r;
}

void console_rx_space(void *ctx)
{
	wake(ctx);
}

int console_init(struct console *con, int in_fd, int out_fd,
		 void (*quit)(void *ctx), void *quit_ctx)
{
	int fds[2];

	memset(con, 0, sizeof(*con));
	con->in_fd = in_fd;
	con->out_fd = out_fd;
	con->quit = quit;
	con->quit_ctx = quit_ctx;
	con->is_tty = isatty(in_fd);
	con->inject_rd = con->inject_wr = -1;
	con->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->wake_fd < 0)
		return -errno;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	con->inject_rd = fds[0];
	con->inject_wr = fds[1];
	return 0;
}

/* Filter the Ctrl-A escape (terminals only) in place; returns the new length. */
static size_t filter_escape(struct console *con, uint8_t *buf, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (con->escape) {
			con->escape = false;
			if (c == 'x' || c == 'X') {
				con->quit(con->quit_ctx);
				return out;
			}
			if (c != CTRL_A) /* Ctrl-A Ctrl-A sends one Ctrl-A */
				continue;
		} else if (c == CTRL_A) {
			con->escape = true;
			continue;
		}
		buf[out++] = c;
	}
	return out;
}

/* Read more input from fd into pending; false on EOF/error. */
static bool fill_pending(struct console *con, int fd)
{
	ssize_t r = read(fd, con->pending, sizeof(con->pending));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0)
		return false;
	con->pending_len = (size_t)r;
	con->pending_off = 0;
	if (con->is_tty && fd == con->in_fd)
		con->pending_len = filter_escape(con, con->pending, con->pending_len);
	return true;
}

static void *console_thread(void *arg)
{
	struct console *con = arg;

	sandbox_enter(SANDBOX_CONSOLE);
	while (!atomic_load(&con->stop)) {
		struct pollfd fds[3] = {
			{ .fd = con->wake_fd, .events = POLLIN },
			{ .fd = con->inject_rd, .events = POLLIN },
			{ .fd = con->in_fd, .events = POLLIN },
		};
		bool want_input;
		uint64_t v;

		if (con->pending_off < con->pending_len)
			con->pending_off += con->target.receive(con->target.ctx,
								con->pending + con->pending_off,
								con->pending_len - con->pending_off);
		/* Read the host only once the target took everything read so far;
		 * otherwise wait for the guest to make receive space. */
		want_input = con->pending_off == con->pending_len;
		/* Input held back by the target: retry soon, as well as on its
		 * notification. */
		if (poll(fds, want_input ? (con->in_eof ? 2 : 3) : 1,
			 con->pending_off < con->pending_len ? CONSOLE_RETRY_MS : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & POLLIN) {
			ssize_t r = read(con->wake_fd, &v, sizeof(v));

			(void)r;
		}
		if (!want_input)
			continue;
		/* Injected input (the control socket) first, then the host's. */
		if (fds[1].revents & POLLIN)
			fill_pending(con, con->inject_rd);
		else if (!con->in_eof && (fds[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
			if (!fill_pending(con, con->in_fd))
				con->in_eof = true;
	}
	return NULL;
}

size_t console_inject(struct console *con, const uint8_t *buf, size_t len)
{
	ssize_t n = write(con->inject_wr, buf, len);

	return n > 0 ? (size_t)n : 0;
}

int console_start(struct console *con, const struct console_target *target)
{
	int err;

	con->target = *target;
	if (con->is_tty) {
		err = make_raw(con->in_fd);
		if (err)
			log_warn("cannot put the terminal in raw mode: %s", strerror(-err));
	}
	err = pthread_create(&con->thread, NULL, console_thread, con);
	if (!err)
		pthread_setname_np(con->thread, "minivmm-console");
	if (err) {
		console_restore_terminal();
		return -err;
	}
	con->started = true;
	return 0;
}

void console_stop(struct console *con)
{
	if (!con->started)
		return;
	atomic_store(&con->stop, true);
	wake(con);
	pthread_join(con->thread, NULL);
	con->started = false;
	console_restore_terminal();
}

void console_destroy(struct console *con)
{
	console_stop(con);
	if (con->wake_fd >= 0)
		close(con->wake_fd);
	con->wake_fd = -1;
	if (con->inject_rd >= 0)
		close(con->inject_rd);
	if (con->inject_wr >= 0)
		close(con->inject_wr);
	con->inject_rd = con->inject_wr = -1;
}
