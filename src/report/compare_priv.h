/* SPDX-License-Identifier: MIT */
/*
 * `minivmm compare` internals shared by compare.c (command line, running
 * the children) and compare_report.c (statistics and reports).  Not for
 * other modules: see compare.h.
 */
#ifndef MINIVMM_COMPARE_PRIV_H
#define MINIVMM_COMPARE_PRIV_H

#include <stddef.h>

#include "report/compare.h"

/* layouts x workloads x modes x reps: the length of c->runs. */
size_t compare_nr_runs(const struct compare *c);
/* The --mem-layout name of opts.layouts[l]. */
void compare_layout_name(const struct compare *c, unsigned int l, char *buf, size_t len);

#endif
