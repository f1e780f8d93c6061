/* SPDX-License-Identifier: MIT */
/*
 * What a block device model (virtio-blk) sees of the disk image behind it:
 * asynchronous requests on iovecs that point straight into guest memory,
 * completed by a callback.  Implementations live in src/backends/block/
 * (io_uring, a thread pool); tests use an in-memory fake.
 */
#ifndef MINIVMM_DEVICES_BLOCK_H
#define MINIVMM_DEVICES_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum block_op {
	BLOCK_READ,
	BLOCK_WRITE,
	BLOCK_FLUSH,          /* fdatasync unless the backend is cache=unsafe */
	BLOCK_DISCARD,        /* fallocate(PUNCH_HOLE | KEEP_SIZE) */
	BLOCK_WRITE_ZEROES,   /* fallocate(ZERO_RANGE), else written zeroes */
};

struct block_io;
/* Called once per queued request, on the backend's completion thread (or,
 * in poll mode, inside process(), or inside flush_queue() for requests that
 * completed while it submitted them): result is the byte count for READ and
 * WRITE (short only for a READ that met the end of the file, e.g. when the
 * image shrank behind our back), 0, or -errno.  It may submit and
 * flush_queue again, but never drain or destroy. */
typedef void (*block_done_fn)(struct block_io *io, int64_t result);

struct block_io {
	enum block_op op;
	uint64_t offset;             /* bytes; READ/WRITE/DISCARD/WRITE_ZEROES */
	uint64_t len;                /* DISCARD/WRITE_ZEROES; READ/WRITE: sum of iov */
	const struct iovec *iov;     /* READ/WRITE; valid until done */
	unsigned int nr_iov;         /* 1..IOV_MAX */
	block_done_fn done;
	void *ctx;                   /* the caller's */
};

struct block_backend;

struct block_backend_ops {
	/* Queue one request; 0, or -errno when it cannot be queued (then done
	 * is not called): -EINVAL for a malformed request (unknown op, no
	 * iovecs, len not their sum or 0, a range past size, with O_DIRECT an
	 * offset, length or buffer off the alignment below), -EROFS for
	 * WRITE, DISCARD or WRITE_ZEROES on a read-only image.  May be called
	 * from any thread.  A FLUSH covers the writes completed before it was
	 * queued, not those still in flight (as a disk's cache flush). */
	int (*submit)(struct block_backend *b, struct block_io *io);
	/* Push queued requests to the kernel (a batch per kick); requests
	 * may not start before it. */
	void (*flush_queue)(struct block_backend *b);
	/* Wait for every request in flight (their done has returned), then
	 * fdatasync (unless unsafe or read-only).  Not from a done callback. */
	int (*drain)(struct block_backend *b);
	/* Waits for requests in flight like drain, without the fdatasync. */
	void (*destroy)(struct block_backend *b);
	/* Poll mode only (NULL otherwise): an fd that is readable while
	 * completions wait (level-triggered), and the call that runs their
	 * done callbacks.  drain then completes requests itself.  The
	 * backend serialises its completion side, so these, flush_queue and
	 * drain may be called from any thread; the poll-mode owner is
	 * usually the one event loop that calls them all. */
	int (*poll_fd)(struct block_backend *b);
	void (*process)(struct block_backend *b);
};

struct block_backend {
	const struct block_backend_ops *ops;
	const char *path;            /* for messages */
	uint64_t size;               /* bytes, a multiple of 512 */
	bool readonly;
	bool can_discard, can_write_zeroes;
	unsigned int logical_block;  /* 512, or the O_DIRECT alignment */
	unsigned int mem_align;      /* buffer address alignment (1: any) */
};

static inline int block_submit(struct block_backend *b, struct block_io *io)
{
	return b->ops->submit(b, io);
}

static inline void block_flush_queue(struct block_backend *b)
{
	b->ops->flush_queue(b);
}

static inline int block_drain(struct block_backend *b)
{
	return b->ops->drain(b);
}

static inline void block_destroy(struct block_backend *b)
{
	b->ops->destroy(b);
}

#endif
