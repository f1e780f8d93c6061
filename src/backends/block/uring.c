// SPDX-License-Identifier: MIT
/*
 * aio=io_uring: requests become SQEs on the image's descriptor (readv and
 * writev straight on the caller's iovecs, fsync with DATASYNC, fallocate
 * for discard and write-zeroes); completions are reaped by an own thread,
 * or, in poll mode, by the caller's event loop, which polls the ring's own
 * descriptor (readable while completions wait, as QEMU's block/io_uring.c
 * does), and by flush_queue right after it submitted: reads that hit the
 * page cache complete inside the submit, and reaping them there saves the
 * loop a wake-up for each batch.
 *
 * Locking: sq_lock serialises the submission side (get an SQE, prep it,
 * submit), which any thread may use; cq_lock the completion side (reaping
 * and the done callbacks), which liburing allows alongside a submitter.
 * Lock order: cq_lock, then sq_lock or lock.  A short transfer, EINTR or
 * EAGAIN puts the request back on the ring from the completion side for
 * the rest.
 *
 * io_uring ties work it hands to its async workers to the submitting
 * thread, and cancels it (-ECANCELED) when that thread exits.  The VMM
 * submits from its long-lived I/O thread, but submit is open to any
 * thread, so a cancelled request is reissued from the completion side
 * (a few times: nothing else here cancels, and READ/WRITE are idempotent).
 * in_flight (atomic; lock and idle only wake drain) counts a request from
 * submit until its done has returned: what drain waits for.
 */
#include "backends/block/backend.h"

#include <errno.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/block/req.h"
#include "base/log.h"
#include "base/sandbox.h"

#define URING_DEPTH_MAX 4096u
#define URING_CQ_FACTOR 8u            /* CQ entries per SQ entry */
#define URING_CANCEL_RETRIES 3u

struct uring_backend {
	struct block_backend b;
	struct block_image img;
	struct io_uring ring;
	pthread_mutex_t sq_lock;
	pthread_mutex_t cq_lock;
	pthread_mutex_t lock;
	pthread_cond_t idle;             /* in_flight dropped to 0 */
	atomic_uint in_flight;
	atomic_bool no_zero_range;       /* the file system refused ZERO_RANGE */
	bool poll_mode;
	bool fixed_file;                 /* the image is registered file 0 */
	pthread_t thread;
};

/* Buffered transfers this large go to io-wq at once (IOSQE_ASYNC). */
#define URING_ASYNC_MIN (128u << 10)

static struct uring_backend *to_ub(struct block_backend *b)
{
	return (struct uring_backend *)b;
}

static void prep(struct uring_backend *ub, struct io_uring_sqe *sqe, struct blk_req *r)
{
	int fd = ub->fixed_file ? 0 : ub->img.fd;

	if (r->zeroing || r->io->op == BLOCK_WRITE) {
		io_uring_prep_writev(sqe, fd, r->iov, r->nr_iov, r->pos);
	} else if (r->io->op == BLOCK_READ) {
		io_uring_prep_readv(sqe, fd, r->iov, r->nr_iov, r->pos);
	} else if (r->io->op == BLOCK_FLUSH) {
		/* A NOP keeps cache=unsafe flushes on the completion path. */
		if (ub->img.unsafe)
			io_uring_prep_nop(sqe);
		else
			io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	} else {
		int mode = (r->io->op == BLOCK_DISCARD ? FALLOC_FL_PUNCH_HOLE :
			    FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;

		io_uring_prep_fallocate(sqe, fd, mode, (off_t)r->io->offset, (off_t)r->io->len);
	}
	if (ub->fixed_file && sqe->opcode != IORING_OP_NOP)
		sqe->flags |= IOSQE_FIXED_FILE;
	/* Through the page cache a large transfer is a memcpy the submitter
	 * would do inline, one after the other; with others in flight,
	 * io-wq's workers copy them in parallel instead (bench/blk_path,
	 * writeback 1m-seq QD8: 0.75x the thread pool inline, 1.1x this way).
	 * Alone, the hand-off would only add latency (QD1: 0.2x). */
	if (!ub->img.direct && r->io->len - r->done >= URING_ASYNC_MIN &&
	    (r->io->op == BLOCK_READ || r->io->op == BLOCK_WRITE) &&
	    atomic_load(&ub->in_flight) > 1)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, r);
}

/* Pushes the SQ to the kernel; sq_lock held.  A failed enter leaves the
 * SQEs in the ring for the next one. */
static void submit_locked(struct uring_backend *ub)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(5);
	int e;

	do {
		e = io_uring_submit(&ub->ring);
	} while (e == -EINTR);
	if (e < 0 && log_ratelimit_ok(&rl, "io_uring submit"))
		log_warn("drive file=%s: io_uring submit: %s", ub->img.path, strerror(-e));
}

/* r == NULL queues the NOP that stops the completion thread. */
static int queue_req(struct uring_backend *ub, struct blk_req *r, bool submit_now)
{
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&ub->sq_lock);
	sqe = io_uring_get_sqe(&ub->ring);
	if (!sqe) {                         /* SQ full: make room */
		submit_locked(ub);
		sqe = io_uring_get_sqe(&ub->ring);
	}
	if (!sqe) {
		pthread_mutex_unlock(&ub->sq_lock);
		return -EBUSY;
	}
	if (r) {
		prep(ub, sqe, r);
	} else {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
	}
	if (submit_now)
		submit_locked(ub);
	pthread_mutex_unlock(&ub->sq_lock);
	return 0;
}

/* The last one out wakes drain, which checks the count under lock. */
static void put_in_flight(struct uring_backend *ub)
{
	if (atomic_fetch_sub(&ub->in_flight, 1) == 1) {
		pthread_mutex_lock(&ub->lock);
		pthread_cond_broadcast(&ub->idle);
		pthread_mutex_unlock(&ub->lock);
	}
}

static void finish(struct uring_backend *ub, struct blk_req *r, int64_t res)
{
	r->io->done(r->io, res);
	blk_req_free(r);
	put_in_flight(ub);
}

static void requeue(struct uring_backend *ub, struct blk_req *r)
{
	int e = queue_req(ub, r, true);

	if (e)
		finish(ub, r, e);
}

static void complete(struct uring_backend *ub, struct blk_req *r, int res)
{
	int k;

	if (res == -EINTR || res == -EAGAIN ||
	    (res == -ECANCELED && r->retries++ < URING_CANCEL_RETRIES)) {
		requeue(ub, r);
	} else if (res == -EOPNOTSUPP && r->io->op == BLOCK_WRITE_ZEROES && !r->zeroing) {
		atomic_store(&ub->no_zero_range, true);
		blk_req_start_zeroing(r);
		requeue(ub, r);
	} else if (res < 0) {
		finish(ub, r, res);
	} else if (!blk_req_transfers(r)) {
		finish(ub, r, 0);
	} else {
		k = blk_req_advance(r, (uint64_t)res);
		if (k > 0)
			requeue(ub, r);
		else
			finish(ub, r, k < 0 ? k : blk_req_result(r));
	}
}

/* Handles every CQE there is, cq_lock held; false when the stop NOP was
 * among them. */
static bool reap_locked(struct uring_backend *ub)
{
	struct io_uring_cqe *cqe;
	bool go_on = true;
	struct blk_req *r;
	int res;

	while (io_uring_peek_cqe(&ub->ring, &cqe) == 0) {
		r = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&ub->ring, cqe);
		if (r)
			complete(ub, r, res);
		else
			go_on = false;
	}
	return go_on;
}

static void *uring_thread(void *arg)
{
	struct uring_backend *ub = arg;
	struct io_uring_cqe *cqe;
	int e;

	sandbox_enter(SANDBOX_BLOCK);
	for (;;) {
		e = io_uring_wait_cqe(&ub->ring, &cqe);
		if (e == -EINTR || e == -EAGAIN)
			continue;
		if (e < 0) {
			log_err("drive file=%s: io_uring wait: %s", ub->img.path, strerror(-e));
			break;
		}
		pthread_mutex_lock(&ub->cq_lock);
		e = reap_locked(ub);
		pthread_mutex_unlock(&ub->cq_lock);
		if (!e)
			break;
	}
	return NULL;
}

static int uring_submit(struct block_backend *b, struct block_io *io)
{
	struct uring_backend *ub = to_ub(b);
	struct blk_req *r;
	int e = blk_req_check(&ub->img, io);

	if (e)
		return e;
	r = blk_req_new(io);
	if (!r)
		return -ENOMEM;
	if (io->op == BLOCK_WRITE_ZEROES && atomic_load(&ub->no_zero_range))
		blk_req_start_zeroing(r);
	atomic_fetch_add(&ub->in_flight, 1);
	e = queue_req(ub, r, false);
	if (e) {
		put_in_flight(ub);
		blk_req_free(r);
	}
	return e;
}

static void push_sq(struct uring_backend *ub)
{
	pthread_mutex_lock(&ub->sq_lock);
	if (io_uring_sq_ready(&ub->ring))
		submit_locked(ub);
	pthread_mutex_unlock(&ub->sq_lock);
}

/* Poll mode also runs what completed inside the submit, unless another
 * thread is reaping (it will see them), or this is a done callback's call
 * (its reap loop will). */
static void uring_flush_queue(struct block_backend *b)
{
	struct uring_backend *ub = to_ub(b);

	push_sq(ub);
	if (ub->poll_mode && io_uring_cq_ready(&ub->ring) &&
	    pthread_mutex_trylock(&ub->cq_lock) == 0) {
		reap_locked(ub);
		pthread_mutex_unlock(&ub->cq_lock);
	}
}

static unsigned int nr_in_flight(struct uring_backend *ub)
{
	return atomic_load(&ub->in_flight);
}

/* Every request's done has returned.  Poll mode reaps here, holding
 * cq_lock throughout so that no other thread takes a completion this
 * waits for. */
static void wait_idle(struct uring_backend *ub)
{
	struct io_uring_cqe *cqe;

	if (!ub->poll_mode) {
		push_sq(ub);
		pthread_mutex_lock(&ub->lock);
		while (nr_in_flight(ub))
			pthread_cond_wait(&ub->idle, &ub->lock);
		pthread_mutex_unlock(&ub->lock);
		return;
	}
	pthread_mutex_lock(&ub->cq_lock);
	while (nr_in_flight(ub)) {
		int e;

		push_sq(ub);
		e = io_uring_wait_cqe(&ub->ring, &cqe);
		if (e < 0 && e != -EINTR && e != -EAGAIN) {
			log_err("drive file=%s: io_uring wait: %s", ub->img.path, strerror(-e));
			break;
		}
		reap_locked(ub);
	}
	pthread_mutex_unlock(&ub->cq_lock);
}

static int uring_drain(struct block_backend *b)
{
	struct uring_backend *ub = to_ub(b);

	wait_idle(ub);
	if (ub->img.unsafe || ub->img.readonly)
		return 0;
	return fdatasync(ub->img.fd) < 0 ? -errno : 0;
}

/* Level-triggered: readable exactly while completions wait in the CQ. */
static int uring_poll_fd(struct block_backend *b)
{
	return to_ub(b)->ring.ring_fd;
}

static void uring_process(struct block_backend *b)
{
	struct uring_backend *ub = to_ub(b);

	pthread_mutex_lock(&ub->cq_lock);
	reap_locked(ub);
	pthread_mutex_unlock(&ub->cq_lock);
}

static void destroy_locks(struct uring_backend *ub)
{
	pthread_cond_destroy(&ub->idle);
	pthread_mutex_destroy(&ub->lock);
	pthread_mutex_destroy(&ub->cq_lock);
	pthread_mutex_destroy(&ub->sq_lock);
}

static void uring_free(struct uring_backend *ub)
{
	io_uring_queue_exit(&ub->ring);
	destroy_locks(ub);
	free(ub);
}

static void uring_destroy(struct block_backend *b)
{
	struct uring_backend *ub = to_ub(b);

	wait_idle(ub);
	if (!ub->poll_mode) {
		while (queue_req(ub, NULL, true))
			;                       /* the ring is empty by now */
		pthread_join(ub->thread, NULL);
	}
	/* The ring's reference would keep the image's lock past close (the
	 * ring is torn down asynchronously). */
	if (ub->fixed_file)
		io_uring_unregister_files(&ub->ring);
	image_close(&ub->img);
	uring_free(ub);
}

static const struct block_backend_ops uring_ops = {
	.submit = uring_submit,
	.flush_queue = uring_flush_queue,
	.drain = uring_drain,
	.destroy = uring_destroy,
};

static const struct block_backend_ops uring_poll_ops = {
	.submit = uring_submit,
	.flush_queue = uring_flush_queue,
	.drain = uring_drain,
	.destroy = uring_destroy,
	.poll_fd = uring_poll_fd,
	.process = uring_process,
};

/* The opcodes this backend needs (fallocate arrived last, in Linux 5.6). */
static bool has_opcodes(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				   IORING_OP_FALLOCATE, IORING_OP_NOP };
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok = p != NULL;

	for (size_t i = 0; ok && i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = io_uring_opcode_supported(p, ops[i]);
	io_uring_free_probe(p);
	return ok;
}

static int ring_init(struct uring_backend *ub, unsigned int depth, const char *path)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE,
		.cq_entries = depth * URING_CQ_FACTOR,
	};
	int e = io_uring_queue_init_params(depth, &ub->ring, &p);

	if (e == -ENOSYS || e == -EPERM || e == -EACCES) {
		log_warn("drive file=%s: io_uring is unavailable (%s)", path, strerror(-e));
		return -ENOSYS;
	}
	if (e < 0) {
		log_err("drive file=%s: io_uring setup: %s", path, strerror(-e));
		return e;
	}
	if (!has_opcodes(&ub->ring)) {
		log_warn("drive file=%s: this kernel's io_uring lacks readv, writev, fsync "
			 "or fallocate", path);
		io_uring_queue_exit(&ub->ring);
		return -ENOSYS;
	}
	return 0;
}

static int start_completions(struct uring_backend *ub)
{
	int e;

	if (ub->poll_mode)
		return 0;
	e = pthread_create(&ub->thread, NULL, uring_thread, ub);
	if (e)
		log_err("drive file=%s: cannot start the completion thread: %s",
			ub->img.path, strerror(e));
	return -e;
}

int block_uring_create(struct block_image *img, const struct block_backend_opts *opts,
		       struct block_backend **out)
{
	unsigned int depth = opts && opts->queue_depth ? opts->queue_depth : BLOCK_URING_DEPTH;
	struct uring_backend *ub = calloc(1, sizeof(*ub));
	int e;

	if (!ub)
		return -ENOMEM;
	depth = depth > URING_DEPTH_MAX ? URING_DEPTH_MAX : depth;
	ub->poll_mode = opts && opts->poll_mode;
	pthread_mutex_init(&ub->sq_lock, NULL);
	pthread_mutex_init(&ub->cq_lock, NULL);
	pthread_mutex_init(&ub->lock, NULL);
	pthread_cond_init(&ub->idle, NULL);
	e = ring_init(ub, depth, img->path);
	if (e) {
		destroy_locks(ub);
		free(ub);
		return e;
	}
	ub->img = *img;
	/* A registered file spares the kernel a file lookup and reference
	 * per request; without it (ENOMEM, an old kernel) the fd serves. */
	ub->fixed_file = io_uring_register_files(&ub->ring, &ub->img.fd, 1) == 0;
	e = start_completions(ub);
	if (e) {
		uring_free(ub);
		return e;
	}
	ub->b = (struct block_backend){
		.ops = ub->poll_mode ? &uring_poll_ops : &uring_ops,
		.path = ub->img.path,
		.size = ub->img.size,
		.readonly = ub->img.readonly,
		.can_discard = ub->img.can_discard,
		.can_write_zeroes = !ub->img.readonly,
		.logical_block = ub->img.logical_block,
		.mem_align = ub->img.mem_align,
	};
	img->fd = -1;
	img->path = NULL;
	*out = &ub->b;
	return 0;
}
