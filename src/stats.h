/* SPDX-License-Identifier: MIT */
/*
 * Run statistics printed by --stats: exits counted by the VMM, KVM's own
 * binary statistics (KVM_GET_STATS_FD) and the VMM's memory footprint.
 */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "exit.h"
#include "memory.h"

/* Prints every non-zero statistic of one KVM stats fd under `label`. */
int stats_print_kvm(FILE *out, int stats_fd, const char *label);
/* Reads one named statistic (first element); -ENOENT when absent. */
int stats_read_kvm(int stats_fd, const char *name, uint64_t *value);

void stats_print_exits(FILE *out, const char *label, const struct exit_stats *st);

/* Resident memory of this process outside guest RAM, and of guest RAM (KiB). */
int stats_rss_kib(const struct mem_map *mem, uint64_t *vmm_kib, uint64_t *guest_kib);

#endif
