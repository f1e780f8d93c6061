// SPDX-License-Identifier: MIT
/*
 * aio=threads: a small pool of threads doing blocking preadv/pwritev/
 * fdatasync/fallocate.  The baseline io_uring is measured against, and the
 * fallback where io_uring is unavailable.
 *
 * One mutex guards the FIFO of queued requests and the in-flight count;
 * a worker drops it while it does the I/O and calls done, so done may
 * submit again.  In flight counts a request from submit until its done
 * has returned, which is what drain waits for.
 */
#include "backends/block/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/block/req.h"
#include "base/log.h"
#include "base/sandbox.h"

#define THREADS_MAX 64

struct threads_backend {
	struct block_backend b;
	struct block_image img;
	pthread_mutex_t lock;
	pthread_cond_t work;         /* a request was queued, or stopping */
	pthread_cond_t idle;         /* in_flight dropped to 0 */
	struct blk_req *head, **tail;
	unsigned int in_flight;
	bool stopping;
	atomic_bool no_zero_range;   /* the file system refused ZERO_RANGE */
	unsigned int nr_threads;
	pthread_t threads[];
};

static struct threads_backend *to_tb(struct block_backend *b)
{
	return (struct threads_backend *)b;
}

/* READ, WRITE or zeroing writes, until done, the end of file, or an error. */
static int64_t run_transfer(struct threads_backend *tb, struct blk_req *r)
{
	bool read = r->io->op == BLOCK_READ;
	ssize_t n;
	int k;

	for (;;) {
		if (read)
			n = preadv(tb->img.fd, r->iov, (int)r->nr_iov, (off_t)r->pos);
		else
			n = pwritev(tb->img.fd, r->iov, (int)r->nr_iov, (off_t)r->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		k = blk_req_advance(r, (uint64_t)n);
		if (k <= 0)
			return k < 0 ? k : blk_req_result(r);
	}
}

static int falloc(struct threads_backend *tb, int mode, const struct block_io *io)
{
	int r;

	do {
		r = fallocate(tb->img.fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
			      (off_t)io->len);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int64_t run_request(struct threads_backend *tb, struct blk_req *r)
{
	int e;

	switch (r->io->op) {
	case BLOCK_READ:
	case BLOCK_WRITE:
		return run_transfer(tb, r);
	case BLOCK_FLUSH:
		if (tb->img.unsafe)
			return 0;
		return fdatasync(tb->img.fd) < 0 ? -errno : 0;
	case BLOCK_DISCARD:
		return falloc(tb, FALLOC_FL_PUNCH_HOLE, r->io);
	case BLOCK_WRITE_ZEROES:
		if (!atomic_load(&tb->no_zero_range)) {
			e = falloc(tb, FALLOC_FL_ZERO_RANGE, r->io);
			if (e != -EOPNOTSUPP)
				return e;
			atomic_store(&tb->no_zero_range, true);
		}
		blk_req_start_zeroing(r);
		return run_transfer(tb, r);
	}
	return -EINVAL;
}

static void *threads_worker(void *arg)
{
	struct threads_backend *tb = arg;
	struct blk_req *r;
	int64_t res;

	sandbox_enter(SANDBOX_BLOCK);
	pthread_mutex_lock(&tb->lock);
	for (;;) {
		while (!tb->head && !tb->stopping)
			pthread_cond_wait(&tb->work, &tb->lock);
		r = tb->head;
		if (!r)
			break;
		tb->head = r->next;
		if (!tb->head)
			tb->tail = &tb->head;
		pthread_mutex_unlock(&tb->lock);

		res = run_request(tb, r);
		r->io->done(r->io, res);
		blk_req_free(r);

		pthread_mutex_lock(&tb->lock);
		if (--tb->in_flight == 0)
			pthread_cond_broadcast(&tb->idle);
	}
	pthread_mutex_unlock(&tb->lock);
	return NULL;
}

static int threads_submit(struct block_backend *b, struct block_io *io)
{
	struct threads_backend *tb = to_tb(b);
	struct blk_req *r;
	int e = blk_req_check(&tb->img, io);

	if (e)
		return e;
	r = blk_req_new(io);
	if (!r)
		return -ENOMEM;
	pthread_mutex_lock(&tb->lock);
	*tb->tail = r;
	tb->tail = &r->next;
	tb->in_flight++;
	pthread_cond_signal(&tb->work);
	pthread_mutex_unlock(&tb->lock);
	return 0;
}

/* Requests start as soon as they are queued. */
static void threads_flush_queue(struct block_backend *b)
{
}

static void threads_wait_idle(struct threads_backend *tb)
{
	pthread_mutex_lock(&tb->lock);
	while (tb->in_flight)
		pthread_cond_wait(&tb->idle, &tb->lock);
	pthread_mutex_unlock(&tb->lock);
}

static int threads_drain(struct block_backend *b)
{
	struct threads_backend *tb = to_tb(b);

	threads_wait_idle(tb);
	if (tb->img.unsafe || tb->img.readonly)
		return 0;
	return fdatasync(tb->img.fd) < 0 ? -errno : 0;
}

static void threads_stop(struct threads_backend *tb, unsigned int nr_started)
{
	pthread_mutex_lock(&tb->lock);
	tb->stopping = true;
	pthread_cond_broadcast(&tb->work);
	pthread_mutex_unlock(&tb->lock);
	for (unsigned int i = 0; i < nr_started; i++)
		pthread_join(tb->threads[i], NULL);
}

static void threads_destroy(struct block_backend *b)
{
	struct threads_backend *tb = to_tb(b);

	threads_wait_idle(tb);
	threads_stop(tb, tb->nr_threads);
	image_close(&tb->img);
	pthread_cond_destroy(&tb->idle);
	pthread_cond_destroy(&tb->work);
	pthread_mutex_destroy(&tb->lock);
	free(tb);
}

static const struct block_backend_ops threads_ops = {
	.submit = threads_submit,
	.flush_queue = threads_flush_queue,
	.drain = threads_drain,
	.destroy = threads_destroy,
};

int block_threads_create(struct block_image *img, const struct block_backend_opts *opts,
			 struct block_backend **out)
{
	unsigned int n = opts && opts->nr_threads ? opts->nr_threads : BLOCK_THREADS_NR;
	struct threads_backend *tb;
	int e;

	if (n > THREADS_MAX)
		n = THREADS_MAX;
	tb = calloc(1, sizeof(*tb) + n * sizeof(tb->threads[0]));
	if (!tb)
		return -ENOMEM;
	pthread_mutex_init(&tb->lock, NULL);
	pthread_cond_init(&tb->work, NULL);
	pthread_cond_init(&tb->idle, NULL);
	tb->tail = &tb->head;
	tb->img = *img;
	for (tb->nr_threads = 0; tb->nr_threads < n; tb->nr_threads++) {
		e = pthread_create(&tb->threads[tb->nr_threads], NULL, threads_worker, tb);
		if (e) {
			log_err("drive file=%s: cannot start an I/O thread: %s", img->path,
				strerror(e));
			threads_stop(tb, tb->nr_threads);
			free(tb);
			return -e;
		}
	}
	tb->b = (struct block_backend){
		.ops = &threads_ops,
		.path = tb->img.path,
		.size = tb->img.size,
		.readonly = tb->img.readonly,
		.can_discard = tb->img.can_discard,
		.can_write_zeroes = !tb->img.readonly,
		.logical_block = tb->img.logical_block,
		.mem_align = tb->img.mem_align,
	};
	img->fd = -1;
	img->path = NULL;
	*out = &tb->b;
	return 0;
}
