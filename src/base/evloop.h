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

#include <stdint.h>

struct evloop;

typedef void (*evloop_fn)(void *ctx);

/* 0 or -errno. */
int evloop_create(struct evloop **out) __attribute__((warn_unused_result));
/* Call fn(ctx) on the loop's thread whenever fd is readable.  The fd stays
 * the caller's (close it only after evloop_destroy). */
int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *ctx)
	__attribute__((warn_unused_result));
/* Start the thread (named for `top`/`ps -L`). */
int evloop_start(struct evloop *l, const char *name) __attribute__((warn_unused_result));
/* Stop the thread and wait for it: when this returns no handler is running
 * or will run again until evloop_start.  Safe when never started. */
void evloop_stop(struct evloop *l);
/* How many handler calls the loop made (for --stats). */
uint64_t evloop_dispatched(const struct evloop *l);
void evloop_destroy(struct evloop *l);

#endif
