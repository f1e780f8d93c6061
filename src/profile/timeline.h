/* SPDX-License-Identifier: MIT */
/*
 * The boot timeline (--timeline FILE): every console line the guest
 * prints, with its host time and the exits of all vCPUs up to then; at the
 * end, for each interval between two lines, the exits by reason and (with
 * --profile) the functions sampled most in it.  Written as JSON (FILE) and
 * as an SVG picture (FILE.svg): one row per line, a bar over the interval
 * that ended with it, labelled with the interval's top function.
 */
#ifndef MINIVMM_TIMELINE_H
#define MINIVMM_TIMELINE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/exit.h"
#include "profile/profile.h"
#include "profile/symbols.h"

#define TIMELINE_TEXT 120

struct timeline_line {
	uint64_t ns;                   /* now_ns() when the line ended */
	char text[TIMELINE_TEXT];
	struct exit_stats exits;       /* all vCPUs' totals then */
};

struct timeline {
	pthread_mutex_t lock;          /* vCPU threads print concurrently */
	uint64_t start_ns;
	struct timeline_line *v;
	size_t n, cap;
	char partial[TIMELINE_TEXT];
	size_t plen;
};

void timeline_init(struct timeline *t, uint64_t start_ns);
void timeline_destroy(struct timeline *t);

/* Console output; when it completes a line, totals() gives the exits so
 * far (called under the timeline's lock). */
void timeline_feed(struct timeline *t, const uint8_t *buf, size_t len, uint64_t now,
		   void (*totals)(void *ctx, struct exit_stats *out), void *ctx);

/*
 * path gets the JSON, path + ".svg" the picture.  end_ns/end_exits close
 * the last interval (the run's end); prof and syms may be NULL.  0, or
 * -errno (one line logged).
 */
int timeline_write(const struct timeline *t, const char *path, uint64_t end_ns,
		   const struct exit_stats *end_exits, const struct profile *prof,
		   const struct symbols *syms);

#endif
