/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop on a thread of its own: the VM's I/O thread.
 * Watched file descriptors (ioeventfds, a block backend's completion fd,
 * timerfds, the console's input) call their handler on that thread when
 * they turn readable (level-triggered: a handler that leaves data unread is
 * called again).  Handlers are added at set-up, before or after the thread
 * starts, and live until the loop is destroyed; they never block.
 */
#ifndef MINIVMM_BASE_EVLOOP_H
#define MINIVMM_BASE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

typedef void (*evloop_fn)(void *ctx);

/* 0 or -errno. */
int evloop_create(struct evloop **out) __attribute__((warn_unused_result));
/* Call fn(ctx) on the loop's thread whenever fd is readable.  The fd stays
 * the caller's (close it only after evloop_destroy). */
int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *ctx)
	__attribute__((warn_unused_result));
/*
 * Pollers: sources whose file descriptors change from one sleep to the next
 * and that keep timers of their own (libslirp's sockets, a tap device that
 * is read only while the guest has receive buffers).  Before every sleep
 * the loop asks each poller which descriptors to watch (poll(2) events) and
 * how long it may sleep at most; after waking, whatever woke it, each
 * poller's dispatch gets the results.  Both run on the loop's thread.
 */
struct evloop_pollset;
struct evloop_poller {
	/* Add descriptors with evloop_pollset_add; lower *timeout_ms (-1:
	 * no limit of its own) to be called back in time for a timer. */
	void (*fill)(void *ctx, struct evloop_pollset *ps, int *timeout_ms);
	/* The indices fill was given are valid until this returns. */
	void (*dispatch)(void *ctx, const struct evloop_pollset *ps);
	void *ctx;
};
/* The index to ask revents for, or -1 (out of memory: not watched). */
int evloop_pollset_add(struct evloop_pollset *ps, int fd, short events);
/* poll(2)'s revents for an index fill was given (0 for -1). */
short evloop_pollset_revents(const struct evloop_pollset *ps, int idx);
/* Before evloop_start; the poller is copied. 0 or -ENOMEM. */
int evloop_add_poller(struct evloop *l, const struct evloop_poller *p)
	__attribute__((warn_unused_result));
/* Whether the caller is the loop's thread (handlers may then be called
 * directly rather than through a descriptor). */
bool evloop_in_thread(const struct evloop *l);

/* Start the thread (named for `top`/`ps -L`). */
int evloop_start(struct evloop *l, const char *name) __attribute__((warn_unused_result));
/* Stop the thread and wait for it: when this returns no handler is running
 * or will run again until evloop_start.  Safe when never started. */
void evloop_stop(struct evloop *l);
/* How many handler calls the loop made (for --stats). */
uint64_t evloop_dispatched(const struct evloop *l);
void evloop_destroy(struct evloop *l);

#endif
