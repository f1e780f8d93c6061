/* SPDX-License-Identifier: MIT */
/* The one clock minivmm measures its own work with (CLOCK_MONOTONIC). */
#ifndef MINIVMM_CLOCK_H
#define MINIVMM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
