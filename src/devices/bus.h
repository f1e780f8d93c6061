/* SPDX-License-Identifier: MIT */
/*
 * An address bus: maps non-overlapping [base, base+len) ranges to devices.
 * Two instances per VM (port I/O and MMIO).  Ranges are inserted while the
 * machine is being built and never change afterwards, so lookups take no lock.
 *
 * Unclaimed accesses are defined here, once: reads return all-ones, writes
 * are dropped, and both are counted and reported (rate-limited).
 */
#ifndef MINIVMM_BUS_H
#define MINIVMM_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/log.h"

struct bus_range {
	uint64_t base;
	uint64_t len;
	struct device *dev;
};

struct bus {
	const char *name;          /* "pio" or "mmio", for messages */
	struct bus_range *ranges;  /* sorted by base */
	unsigned int nr_ranges;
	unsigned int cap;
	atomic_ulong unclaimed;    /* unclaimed accesses seen */
	struct log_ratelimit unclaimed_rl; /* set up by bus_init */
};

void bus_init(struct bus *bus, const char *name);
/* Frees the range table only; devices belong to whoever created them. */
void bus_destroy(struct bus *bus);

/* Returns 0, -EINVAL for an empty or overflowing range, -EEXIST when it
 * overlaps a range already inserted, -ENOMEM. */
int bus_insert(struct bus *bus, uint64_t base, uint64_t len,
	       struct device *dev) __attribute__((warn_unused_result));

/* The device whose range contains addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/* Perform one guest access of len bytes (1..8).  Returns true when every
 * byte was claimed by a device. */
bool bus_access(struct bus *bus, uint64_t addr, void *data, uint32_t len,
		bool is_write);

#endif
