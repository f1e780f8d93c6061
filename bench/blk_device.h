/* SPDX-License-Identifier: MIT */
/*
 * The device side of blk_path: a block backend opened as `-drive
 * file=F,format=raw,readonly=on,cache=...,aio=...` would open it, the
 * virtio-blk device model on the guest's memory, and the loop that serves
 * them for one measurement.
 */
#ifndef MINIVMM_BENCH_BLK_DEVICE_H
#define MINIVMM_BENCH_BLK_DEVICE_H

#include <stdbool.h>

#include "blk_bench.h"
#include "blk_guest.h"

enum path_kind {
	PATH_URING_POLL,     /* io_uring, completions reaped by the loop (the VM's way) */
	PATH_THREADS,        /* aio=threads */
	PATH_URING_THREAD,   /* io_uring with its own completion thread */
};

struct path_opts {
	bool no_event_idx;   /* do not negotiate VIRTIO_F_EVENT_IDX */
	bool direct_chains;  /* three descriptors per request, no indirect table */
	bool irqfd;          /* poll mode too: an eventfd write per notification */
};

/* One measurement of qd reads in flight for secs seconds: 0, or -1 with a
 * message (the backend or device could not be set up, the queue broke, or
 * it stalled: a lost notification). */
int path_run(struct blk_guest *g, enum path_kind kind, const char *file, bool direct,
	     const struct workload *w, unsigned int qd, double secs,
	     const struct path_opts *o, struct run_result *res);

#endif
