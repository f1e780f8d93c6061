// SPDX-License-Identifier: MIT
/*
 * The io_uring backend's poll mode (the VM's I/O thread reaps completions):
 * its fd is the ring's, readable exactly while completions wait;
 * flush_queue runs what completed inside the submit; a done callback may
 * submit and flush again; and the completion side is serialised, so that
 * process on one thread and flush_queue and drain on another see every
 * request done exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block/backend.h"

#define IMG_SIZE (1024u * 1024)
#define NR_CHAIN 100
#define NR_LOOP  256
#define LOOP_LEN 4096u

static char dir[64];

struct tio {
	struct block_io io;
	struct block_backend *b;
	atomic_uint done;            /* how many times done ran */
	int64_t result;
	unsigned int chain;          /* test_done_resubmits: requests still to chain */
	struct tio *next;
};

static void tio_done(struct block_io *io, int64_t result)
{
	struct tio *t = (struct tio *)io;

	t->result = result;
	atomic_fetch_add(&t->done, 1);
}

static struct block_backend *open_poll(const char *name, enum drive_cache cache)
{
	struct drive_config cfg = { .cache = cache, .aio = DRIVE_AIO_IO_URING,
				    .aio_given = true, .format_given = true };
	struct block_backend_opts opts = { .poll_mode = true };
	struct block_backend *b;
	uint8_t *buf = calloc(1, IMG_SIZE);
	int fd;

	snprintf(cfg.file, sizeof(cfg.file), "%s/%s", dir, name);
	fd = open(cfg.file, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_non_null(buf);
	assert_int_equal(write(fd, buf, IMG_SIZE), IMG_SIZE);
	close(fd);
	free(buf);
	assert_int_equal(block_backend_open(&cfg, &opts, &b), 0);
	assert_true(block_backend_poll_fd(b) >= 0);
	return b;
}

static bool readable(struct block_backend *b, int timeout_ms)
{
	struct pollfd p = { .fd = block_backend_poll_fd(b), .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);

	assert_true(n >= 0);
	return n == 1 && (p.revents & POLLIN);
}

static void flush_req(struct tio *t, struct block_backend *b, block_done_fn done)
{
	memset(t, 0, sizeof(*t));
	t->b = b;
	t->io = (struct block_io){ .op = BLOCK_FLUSH, .done = done };
	assert_int_equal(block_submit(b, &t->io), 0);
}

/* cache=unsafe turns FLUSH into a NOP, which always completes inside the
 * submit: flush_queue runs its done, and leaves nothing to wake the loop. */
static void test_inline_completion(void **state)
{
	struct block_backend *b = open_poll("inline.img", DRIVE_CACHE_UNSAFE);
	struct tio t;

	flush_req(&t, b, tio_done);
	assert_int_equal(atomic_load(&t.done), 0);      /* queued, not submitted */
	block_flush_queue(b);
	assert_int_equal(atomic_load(&t.done), 1);
	assert_int_equal(t.result, 0);
	assert_false(readable(b, 0));
	block_destroy(b);
}

/* An fdatasync goes to io_uring's workers: the fd turns readable when it
 * is done, process runs it, and then the fd is quiet again. */
static void test_fd_is_level_triggered(void **state)
{
	struct block_backend *b = open_poll("async.img", DRIVE_CACHE_WRITEBACK);
	struct tio t;

	flush_req(&t, b, tio_done);
	block_flush_queue(b);
	while (!atomic_load(&t.done)) {
		assert_true(readable(b, 10000));
		block_backend_process(b);
	}
	assert_int_equal(atomic_load(&t.done), 1);
	assert_int_equal(t.result, 0);
	assert_false(readable(b, 0));
	block_destroy(b);
}

/* Each done queues the next request and flushes from inside the callback:
 * no deadlock, each done once, the whole chain inside one flush_queue. */
static void chain_done(struct block_io *io, int64_t result)
{
	struct tio *t = (struct tio *)io;

	tio_done(io, result);
	if (!t->chain)
		return;
	flush_req(t->next, t->b, chain_done);
	t->next->chain = t->chain - 1;
	t->next->next = t->next + 1;
	block_flush_queue(t->b);
}

static void test_done_resubmits(void **state)
{
	struct block_backend *b = open_poll("chain.img", DRIVE_CACHE_UNSAFE);
	static struct tio t[NR_CHAIN];

	flush_req(&t[0], b, chain_done);
	t[0].chain = NR_CHAIN - 1;
	t[0].next = &t[1];
	block_flush_queue(b);
	for (int i = 0; i < NR_CHAIN; i++) {
		assert_int_equal(atomic_load(&t[i].done), 1);
		assert_int_equal(t[i].result, 0);
	}
	assert_false(readable(b, 0));
	assert_int_equal(block_drain(b), 0);
	block_destroy(b);
}

/* An event loop thread processes completions while this thread submits,
 * flushes (reaping what it can) and drains: every request done once. */
struct loop {
	struct block_backend *b;
	atomic_bool stop;
};

static void *loop_thread(void *arg)
{
	struct loop *l = arg;

	while (!atomic_load(&l->stop))
		if (readable(l->b, 10))
			block_backend_process(l->b);
	return NULL;
}

static void test_drain_beside_loop(void **state)
{
	struct loop l = { .b = open_poll("loop.img", DRIVE_CACHE_WRITEBACK) };
	static uint8_t buf[NR_LOOP][LOOP_LEN];
	static struct iovec v[NR_LOOP];
	static struct tio t[NR_LOOP];
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, loop_thread, &l), 0);
	for (int i = 0; i < NR_LOOP; i++) {
		memset(buf[i], i + 1, LOOP_LEN);
		v[i] = (struct iovec){ buf[i], LOOP_LEN };
		t[i].io = (struct block_io){ .op = i % 16 ? BLOCK_WRITE : BLOCK_FLUSH,
					     .offset = (uint64_t)i * LOOP_LEN,
					     .len = i % 16 ? LOOP_LEN : 0,
					     .iov = i % 16 ? &v[i] : NULL,
					     .nr_iov = i % 16 ? 1 : 0, .done = tio_done };
		assert_int_equal(block_submit(l.b, &t[i].io), 0);
		if (i % 8 == 7)
			block_flush_queue(l.b);
	}
	assert_int_equal(block_drain(l.b), 0);
	for (int i = 0; i < NR_LOOP; i++) {
		assert_int_equal(atomic_load(&t[i].done), 1);
		assert_int_equal(t[i].result, i % 16 ? (int64_t)LOOP_LEN : 0);
	}
	atomic_store(&l.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(readable(l.b, 0));
	block_destroy(l.b);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/var/tmp/minivmm-uring-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_completion),
		cmocka_unit_test(test_fd_is_level_triggered),
		cmocka_unit_test(test_done_resubmits),
		cmocka_unit_test(test_drain_beside_loop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
