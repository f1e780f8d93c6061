// SPDX-License-Identifier: MIT
/*
 * blk_path's device side (blk_device.h).  The path measured runs from the
 * kick (queue_notify; the VM's I/O thread would first read the ioeventfd)
 * to the notification callback, which counts.  Where the driver sleeps
 * (completions on the backend's threads) the callback also writes an
 * eventfd to wake it, as the VM's MSI-X path writes the irqfd (vm_pci.c
 * msi_send); with -I it does so in poll mode too.
 *
 * In poll mode one thread does everything, as the VM's I/O thread does:
 * epoll on the backend's completion fd, block_backend_process, and the
 * guest's interrupt handler when the device notified (its refills kick,
 * which submits).  Otherwise the completions arrive on the backend's
 * threads and the driver sleeps on the notification's eventfd.  Either
 * way, a second without progress while requests are in flight is a lost
 * notification, and fails the run.
 */
#include "blk_device.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backends/block/backend.h"
#include "base/clock.h"

#define STALL_MS 1000

struct dev_run {
	struct blk_guest *g;
	struct block_backend *b;
	struct virtio_dev *d;
	bool poll_mode;
	bool write_irqfd;           /* the driver sleeps on it, or -I */
	int irqfd;
	atomic_bool irq_pending;
	atomic_uint_fast64_t irqs;
	atomic_bool broken;
};

static void on_queue(void *ctx, unsigned int q)
{
	struct dev_run *r = ctx;
	uint64_t one = 1;

	atomic_fetch_add_explicit(&r->irqs, 1, memory_order_relaxed);
	atomic_store(&r->irq_pending, true);
	if (r->write_irqfd && write(r->irqfd, &one, sizeof(one)) != sizeof(one) &&
	    errno != EAGAIN)
		perror("blk_path: irq eventfd");
}

static void on_needs_reset(void *ctx)
{
	atomic_store(&((struct dev_run *)ctx)->broken, true);
}

static int open_backend(struct dev_run *r, enum path_kind kind, const char *file, bool direct,
			const struct path_opts *o)
{
	struct drive_config cfg = {
		.readonly = true, .format_given = true, .aio_given = true,
		.cache = direct ? DRIVE_CACHE_NONE : DRIVE_CACHE_WRITEBACK,
		.aio = kind == PATH_THREADS ? DRIVE_AIO_THREADS : DRIVE_AIO_IO_URING,
	};
	struct block_backend_opts opts = { .poll_mode = kind == PATH_URING_POLL };

	snprintf(cfg.file, sizeof(cfg.file), "%s", file);
	if (block_backend_open(&cfg, &opts, &r->b))
		return -1;
	r->poll_mode = block_backend_poll_fd(r->b) >= 0;
	r->write_irqfd = !r->poll_mode || o->irqfd;
	return 0;
}

static int open_device(struct dev_run *r, const struct workload *w, unsigned int qd,
		       const struct path_opts *o)
{
	struct virtio_blk_params p = { .mem = &r->g->map, .backend = r->b, .nr_queues = 1,
				       .queue_size = BLK_GUEST_QSIZE };

	if (virtio_blk_create(&p, &r->d))
		return -1;
	r->d->notify = (struct virtio_notify){ .queue = on_queue, .needs_reset = on_needs_reset,
					       .ctx = r };
	blk_guest_setup(r->g, r->d, w, qd, !o->no_event_idx, !o->direct_chains);
	if (virtq_enable(&r->d->queues[0]) || r->d->ops->activate(r->d, blk_guest_features(r->g)))
		return -1;
	return 0;
}

/* Wait for the next event: the backend's fd in poll mode (then run the
 * completions), else the notification's eventfd.  0 or -1 (stalled). */
static int wait_event(struct dev_run *r, int ep)
{
	struct epoll_event ev;
	uint64_t n;
	int k;

	if (r->poll_mode) {
		do {
			k = epoll_wait(ep, &ev, 1, STALL_MS);
		} while (k < 0 && errno == EINTR);
		if (k <= 0)
			return -1;
		block_backend_process(r->b);
		return 0;
	}
	do {
		k = poll(&(struct pollfd){ .fd = r->irqfd, .events = POLLIN }, 1, STALL_MS);
	} while (k < 0 && errno == EINTR);
	if (k <= 0 || read(r->irqfd, &n, sizeof(n)) != sizeof(n))
		return -1;
	return 0;
}

/* Serve the queue for secs seconds, then let it run dry. */
static int serve(struct dev_run *r, double secs, uint64_t *done_in_time, uint64_t *elapsed)
{
	struct blk_guest *g = r->g;
	uint64_t t0, end;
	int ep = -1, err = 0;

	if (r->poll_mode) {
		struct epoll_event ev = { .events = EPOLLIN };

		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, block_backend_poll_fd(r->b), &ev))
			return -1;
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	blk_guest_start(g);
	for (;;) {
		if (g->refill && now_ns() >= end) {
			*elapsed = now_ns() - t0;
			*done_in_time = g->completed;
			g->refill = false;
		}
		if (!g->inflight || atomic_load(&r->broken))
			break;
		/* The handler's own kick may complete requests (page-cache
		 * hits) and notify again: then no need to wait. */
		if (atomic_exchange(&r->irq_pending, false)) {
			blk_guest_service(g);
			continue;
		}
		if (wait_event(r, ep)) {
			fprintf(stderr, "blk_path: no completion for %d ms with %u in flight\n",
				STALL_MS, g->inflight);
			err = -1;
			break;
		}
	}
	if (ep >= 0)
		close(ep);
	if (atomic_load(&r->broken)) {
		fprintf(stderr, "blk_path: the device set NEEDS_RESET\n");
		err = -1;
	}
	return err;
}

int path_run(struct blk_guest *g, enum path_kind kind, const char *file, bool direct,
	     const struct workload *w, unsigned int qd, double secs,
	     const struct path_opts *o, struct run_result *res)
{
	static struct dev_run r;
	uint64_t done = 0, elapsed = 1, cpu;
	int err = -1;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.g = g;
	r.irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r.irqfd < 0 || qd > BENCH_QD_MAX || open_backend(&r, kind, file, direct, o))
		goto out;
	if (open_device(&r, w, qd, o))
		goto out;
	cpu = bench_cpu_ns();
	err = serve(&r, secs, &done, &elapsed);
	if (!err) {
		res->iops = (double)done * 1e9 / (double)elapsed;
		res->cpu_us = (double)(bench_cpu_ns() - cpu) / 1e3 / (double)g->completed;
		res->kicks = (double)g->kicks / (double)g->completed;
		res->irqs = (double)atomic_load(&r.irqs) / (double)g->completed;
		res->errors = g->errors;
	}
out:
	if (err)
		fprintf(stderr, "blk_path: the %s path on %s failed\n",
			kind == PATH_THREADS ? "threads" : "io_uring", file);
	if (r.d)
		r.d->ops->destroy(r.d);      /* resets: drains the backend */
	if (r.b)
		block_destroy(r.b);
	if (r.irqfd >= 0)
		close(r.irqfd);
	return err;
}
