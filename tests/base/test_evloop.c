// SPDX-License-Identifier: MIT
/* The I/O thread's event loop: handlers run on its thread when their fd is
 * readable, again while it stays readable, and never after evloop_stop. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/evloop.h"

struct counter {
	int fd;
	atomic_int calls;
	atomic_int drained;       /* calls that read the eventfd */
	int leave_unread;         /* calls to make before reading */
	pthread_t thread;
};

static void on_ready(void *ctx)
{
	struct counter *c = ctx;
	uint64_t v;

	c->thread = pthread_self();
	if (atomic_fetch_add(&c->calls, 1) + 1 <= c->leave_unread)
		return;
	if (read(c->fd, &v, sizeof(v)) == sizeof(v))
		atomic_fetch_add(&c->drained, 1);
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Wait (up to 5 s) until *v reaches want. */
static void wait_for(atomic_int *v, int want)
{
	struct timespec ts = { .tv_nsec = 1000000 };

	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		nanosleep(&ts, NULL);
	assert_true(atomic_load(v) >= want);
}

static void test_handlers_run_on_the_loop_thread(void **state)
{
	struct counter a = { .fd = eventfd(0, EFD_NONBLOCK) };
	struct counter b = { .fd = eventfd(0, EFD_NONBLOCK) };
	struct evloop *l;

	(void)state;
	assert_int_equal(evloop_create(&l), 0);
	assert_int_equal(evloop_add(l, a.fd, on_ready, &a), 0);
	kick(a.fd);                       /* before start: waits for the thread */
	assert_int_equal(evloop_start(l, "test-io"), 0);
	assert_int_equal(evloop_add(l, b.fd, on_ready, &b), 0);  /* while running */
	wait_for(&a.drained, 1);
	kick(b.fd);
	wait_for(&b.drained, 1);
	assert_false(pthread_equal(a.thread, pthread_self()));
	assert_true(pthread_equal(a.thread, b.thread));
	evloop_stop(l);
	assert_true(evloop_dispatched(l) >= 2);
	evloop_destroy(l);
	close(a.fd);
	close(b.fd);
}

static void test_level_triggered(void **state)
{
	struct counter a = { .fd = eventfd(0, EFD_NONBLOCK), .leave_unread = 3 };
	struct evloop *l;

	(void)state;
	assert_int_equal(evloop_create(&l), 0);
	assert_int_equal(evloop_add(l, a.fd, on_ready, &a), 0);
	assert_int_equal(evloop_start(l, NULL), 0);
	kick(a.fd);
	wait_for(&a.drained, 1);
	assert_int_equal(atomic_load(&a.calls), 4);
	evloop_destroy(l);
	close(a.fd);
}

static void test_nothing_runs_after_stop(void **state)
{
	struct counter a = { .fd = eventfd(0, EFD_NONBLOCK) };
	struct timespec ts = { .tv_nsec = 20000000 };
	struct evloop *l;

	(void)state;
	assert_int_equal(evloop_create(&l), 0);
	assert_int_equal(evloop_add(l, a.fd, on_ready, &a), 0);
	assert_int_equal(evloop_start(l, NULL), 0);
	evloop_stop(l);
	evloop_stop(l);                   /* twice is harmless */
	kick(a.fd);
	nanosleep(&ts, NULL);
	assert_int_equal(atomic_load(&a.calls), 0);
	evloop_destroy(l);
	close(a.fd);
}

/* A poller: watches its eventfd only while `watch` is set, asks to be woken
 * every 5 ms, and sees both the descriptor's readiness and the timeouts. */
struct pol {
	int fd, idx;
	atomic_int watch, fills, readable, in_thread;
	struct evloop *l;
};

static void pol_fill(void *ctx, struct evloop_pollset *ps, int *timeout_ms)
{
	struct pol *p = ctx;

	atomic_fetch_add(&p->fills, 1);
	p->idx = atomic_load(&p->watch) ? evloop_pollset_add(ps, p->fd, POLLIN) : -1;
	*timeout_ms = 5;
	if (evloop_in_thread(p->l))
		atomic_store(&p->in_thread, 1);
}

static void pol_dispatch(void *ctx, const struct evloop_pollset *ps)
{
	struct pol *p = ctx;
	uint64_t v;

	if (p->idx >= 0 && (evloop_pollset_revents(ps, p->idx) & POLLIN) &&
	    read(p->fd, &v, sizeof(v)) == sizeof(v))
		atomic_fetch_add(&p->readable, 1);
}

static void test_pollers(void **state)
{
	struct counter c = { .fd = eventfd(0, EFD_NONBLOCK) };
	struct pol p = { .fd = eventfd(0, EFD_NONBLOCK) };
	struct evloop_poller def = { .fill = pol_fill, .dispatch = pol_dispatch, .ctx = &p };
	struct evloop *l;

	assert_int_equal(evloop_create(&l), 0);
	p.l = l;
	assert_false(evloop_in_thread(l));
	assert_int_equal(evloop_add(l, c.fd, on_ready, &c), 0);
	assert_int_equal(evloop_add_poller(l, &def), 0);
	assert_int_equal(evloop_start(l, "test-poll"), 0);
	/* Timeouts alone keep it filling (a poller's timers). */
	wait_for(&p.fills, 10);
	assert_int_equal(atomic_load(&p.in_thread), 1);
	assert_false(evloop_in_thread(l));
	/* Not watched: an event stays unread. */
	kick(p.fd);
	wait_for(&p.fills, 20);
	assert_int_equal(atomic_load(&p.readable), 0);
	atomic_store(&p.watch, 1);
	wait_for(&p.readable, 1);
	/* Plain handlers still run beside it. */
	kick(c.fd);
	wait_for(&c.drained, 1);
	evloop_destroy(l);
	close(c.fd);
	close(p.fd);
}

static void test_bad_arguments(void **state)
{
	struct evloop *l;

	(void)state;
	assert_int_equal(evloop_create(&l), 0);
	assert_int_equal(evloop_add(l, -1, on_ready, NULL), -EINVAL);
	assert_int_equal(evloop_add(l, 0, NULL, NULL), -EINVAL);
	/* Never started: stop and destroy still work. */
	evloop_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handlers_run_on_the_loop_thread),
		cmocka_unit_test(test_level_triggered),
		cmocka_unit_test(test_nothing_runs_after_stop),
		cmocka_unit_test(test_pollers),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
