/* SPDX-License-Identifier: MIT */
/*
 * Run statistics printed by --stats: exits counted by the VMM, KVM's own
 * binary statistics (KVM_GET_STATS_FD) and the VMM's memory footprint.
 */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cpu/exit.h"
#include "cpu/kvm.h"
#include "mmu/memory.h"

/* Prints every non-zero KVM statistic of the VM (vcpu_fd < 0) or of one
 * vCPU under `label`. */
int stats_print_kvm(FILE *out, struct kvm *kvm, int vcpu_fd, const char *label);

void stats_print_exits(FILE *out, const char *label, const struct exit_stats *st);

/* The single-valued KVM statistics of the VM (vcpu_fd < 0) or of one vCPU
 * at one moment (histograms are left out). */
struct kvm_stat_values {
	unsigned int n;
	char (*names)[64];
	uint64_t *values;
	bool *cumulative;   /* a counter: deltas make sense */
};

int stats_kvm_snapshot(struct kvm *kvm, int vcpu_fd, struct kvm_stat_values *out);
void stats_kvm_values_free(struct kvm_stat_values *v);
/* Adds v's values into sum (same fd layout, e.g. several vCPUs); sum may be
 * empty ({0}), then it becomes a copy.  0 or -ENOMEM. */
int stats_kvm_accumulate(struct kvm_stat_values *sum, const struct kvm_stat_values *v);
/*
 * {name: value}.  With base, counters become v - base (matched by name) and
 * everything else keeps its value at v; zero deltas are left out.
 */
json_t *stats_kvm_json(const struct kvm_stat_values *v, const struct kvm_stat_values *base);
/* {exit reason: count} (minus base when given), non-zero reasons only. */
json_t *stats_exits_json(const struct exit_stats *st, const struct exit_stats *base);

/* Resident memory of this process outside guest RAM, and of guest RAM (KiB). */
int stats_rss_kib(const struct mem_map *mem, uint64_t *vmm_kib, uint64_t *guest_kib);

#endif
