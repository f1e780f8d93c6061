/* SPDX-License-Identifier: MIT */
/*
 * Creating the host side of a drive: a struct block_backend (the
 * interface in devices/block.h) on io_uring or on a thread pool.
 */
#ifndef MINIVMM_BACKENDS_BLOCK_BACKEND_H
#define MINIVMM_BACKENDS_BLOCK_BACKEND_H

#include "backends/block/image.h"
#include "devices/block.h"

#define BLOCK_URING_DEPTH    128   /* submission queue entries */
#define BLOCK_THREADS_NR     4

struct block_backend_opts {
	unsigned int queue_depth;    /* io_uring SQ entries; 0: BLOCK_URING_DEPTH */
	unsigned int nr_threads;     /* thread pool size; 0: BLOCK_THREADS_NR */
	/* io_uring: no completion thread; the caller's event loop polls
	 * block_backend_poll_fd() and calls block_backend_process(). */
	bool poll_mode;
};

/*
 * Both take the image over on success (img->fd becomes -1; destroy closes
 * it); on failure the image stays the caller's.  0 or -errno.
 * block_uring_create returns -ENOSYS, with a log_warn line, when the kernel
 * has no usable io_uring (not built in, disabled by sysctl or seccomp, or
 * lacking an opcode), so the caller can fall back to the threads.
 */
__attribute__((warn_unused_result))
int block_uring_create(struct block_image *img, const struct block_backend_opts *opts,
		       struct block_backend **out);
__attribute__((warn_unused_result))
int block_threads_create(struct block_image *img, const struct block_backend_opts *opts,
			 struct block_backend **out);

/*
 * Opens cfg's image and the backend aio= asks for; when io_uring is the
 * default (not spelled out) and unavailable, falls back to the threads.
 */
__attribute__((warn_unused_result))
int block_backend_open(const struct drive_config *cfg, const struct block_backend_opts *opts,
		       struct block_backend **out);

/* The poll mode's fd (readable when completions wait), or -1. */
static inline int block_backend_poll_fd(struct block_backend *b)
{
	return b->ops->poll_fd ? b->ops->poll_fd(b) : -1;
}

/* Poll mode: run the done callbacks of every completed request. */
static inline void block_backend_process(struct block_backend *b)
{
	if (b->ops->process)
		b->ops->process(b);
}

#endif
