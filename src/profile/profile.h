/* SPDX-License-Identifier: MIT */
/*
 * The guest sampling profiler (--profile[=HZ]): a thread kicks every vCPU
 * HZ times a second; the vCPU thread, back from KVM_RUN, reads RIP and the
 * CPL (cpu/vcpu.c) and hands them to profile_sample(), which keeps them in
 * that vCPU's own array (no lock: one writer per array, read after the
 * vCPUs are joined).  At the end: the functions with the most samples,
 * ring 0 by symbol, ring 3 apart; folded lines for flame-graph tools.
 * No guest cooperation: the kick is the signal + immediate_exit the VMM
 * already uses to stop vCPUs.
 */
#ifndef MINIVMM_PROFILE_H
#define MINIVMM_PROFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "profile/symbols.h"

struct vcpu;

struct profile_sample {
	uint64_t rip;
	uint64_t ns;  /* now_ns() when taken (the timeline places it) */
	uint8_t cpl;
};

struct profile_vcpu {
	struct profile_sample *v;
	size_t n, cap;
	uint64_t dropped; /* no memory for more */
};

struct profile {
	unsigned int hz;
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	struct profile_vcpu *per_vcpu;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int timer_fd, wake_fd;
	uint64_t ticks;
};

/* 0 or -errno. */
int profile_init(struct profile *p, unsigned int hz, struct vcpu *vcpus, unsigned int nr);
/* Start kicking (after the vCPUs started); stop before they are joined. */
int profile_start(struct profile *p);
void profile_stop(struct profile *p);
void profile_destroy(struct profile *p);

/* On vCPU thread id: one sample. */
void profile_sample(struct profile *p, unsigned int vcpu, uint64_t rip, unsigned int cpl);

/*
 * The report: samples per vCPU, ring 0 / ring 3 split, and the top
 * functions (syms may be NULL: addresses by 4 KiB page).  top: how many.
 */
void profile_report(const struct profile *p, const struct symbols *syms, unsigned int top,
		    FILE *out);
/* Folded stacks ("ring0;function count" per line), for flamegraph.pl and
 * speedscope: 0 or -errno. */
int profile_write_folded(const struct profile *p, const struct symbols *syms, const char *path);

#endif
