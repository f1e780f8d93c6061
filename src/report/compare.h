/* SPDX-License-Identifier: MIT */
/*
 * `minivmm compare`: runs every workload of the MMU test guest in several
 * MMU modes, R times each, optionally under several memory layouts, one
 * child minivmm per run, and reports them side by side (table, CSV, JSON,
 * SVG).  compare_main() is the only part that spawns processes; everything
 * it reports is built by the pure functions below from a struct compare,
 * which the unit tests fill by hand.
 */
#ifndef MINIVMM_COMPARE_H
#define MINIVMM_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "mmu/memory.h"

enum compare_mode {
	COMPARE_TDP,          /* --mmu=tdp: the guest's tables, the host's MMU */
	COMPARE_SHADOW_EAGER, /* --mmu=shadow --shadow-fill=eager */
	COMPARE_SHADOW_LAZY,  /* --mmu=shadow --shadow-fill=lazy */
	COMPARE_NR_MODES,
};

#define COMPARE_NR_WORKLOADS 5
#define COMPARE_MAX_LAYOUTS 8
#define COMPARE_MAX_REPS 100

/* tlb-4k, tlb-2m, pt-churn, as-switch, demand: the MMU guest's workloads. */
extern const char *const compare_workload_names[COMPARE_NR_WORKLOADS];
/* "tdp", "shadow-eager", "shadow-lazy" */
const char *compare_mode_name(enum compare_mode m);

struct compare_opts {
	const char *workloads[COMPARE_NR_WORKLOADS];
	unsigned int nr_workloads;
	enum compare_mode modes[COMPARE_NR_MODES];
	unsigned int nr_modes;
	struct mem_layout_spec layouts[COMPARE_MAX_LAYOUTS];
	unsigned int nr_layouts;
	unsigned int reps;
	uint64_t ram_size;
	const char *guest;      /* -kernel of every child */
	const char *append;     /* extra guest bootargs, or NULL */
	const char *csv, *json, *svg;
	unsigned int timeout_s; /* per child run */
	bool help;
};

void compare_usage(FILE *out);
/* argv[0] is "compare".  0, or -EINVAL with one line logged. */
int compare_parse_args(int argc, char **argv, struct compare_opts *o);

struct compare_run {
	int status;           /* child exit status, 128+N for signal N; -1 not run */
	bool ok;              /* exited 0 and reported its workload's phase */
	char error[160];      /* why not ok */
	uint64_t cycles, ops, tsc_khz;
	char checksum[40];
	json_t *stats;        /* the child's stats file (a reference we hold) */
	json_t *phase;        /* the measured phase, inside stats */
};

struct compare {
	struct compare_opts opts;
	char host_mmu[32];
	time_t date;
	struct compare_run *runs; /* see compare_run_at */
};

/* 0 or -ENOMEM; every run starts as "not run". */
int compare_init(struct compare *c, const struct compare_opts *o);
void compare_free(struct compare *c);
/* l, w, m, r index opts.layouts, opts.workloads, opts.modes and the reps. */
/* layouts x workloads x modes x reps: the length of c->runs. */
size_t compare_nr_runs(const struct compare *c);
/* The --mem-layout name of opts.layouts[l]. */
void compare_layout_name(const struct compare *c, unsigned int l, char *buf, size_t len);
struct compare_run *compare_run_at(const struct compare *c, unsigned int l, unsigned int w,
				   unsigned int m, unsigned int r);

/*
 * Takes what it needs from a child's stats document for the run of
 * `workload` in `mode`: checks the format and that the child ran the mode
 * asked for, finds the phase named after the workload.  On success run->ok
 * is set and run holds a reference to root; otherwise run->error says why.
 */
/* Longest --append a child is given. */
#define COMPARE_APPEND_MAX 900
/* Mark a run failed with a reason; returns -EINVAL. */
int compare_run_fail(struct compare_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string's value, or dflt. */
const char *compare_str_or(const json_t *j, const char *dflt);
int compare_parse_stats(json_t *root, const char *workload, enum compare_mode mode,
			struct compare_run *run);

/* Median (mean of the middle two for even counts), min and max of v[0..n),
 * which it sorts; NAN when n == 0. */
struct compare_stat {
	double median, min, max;
	unsigned int n;
};
void compare_stat_of(double *v, unsigned int n, struct compare_stat *out);

/* Times are ms when every successful run knew its TSC rate, Mcycles if not. */
bool compare_time_in_ms(const struct compare *c);

struct compare_row {
	unsigned int layout, workload, mode;  /* indices into opts */
	struct compare_stat time;             /* over the successful reps */
	bool mismatch;    /* the workload's checksums disagree (this layout) */
	double ratio;     /* median / median of tdp; NAN when there is none */
};

/* All successful runs of workload w under layout l report one checksum. */
bool compare_checksums_agree(const struct compare *c, unsigned int l, unsigned int w);
void compare_row_build(const struct compare *c, unsigned int l, unsigned int w,
		       unsigned int m, struct compare_row *out);
/* Median of a phase counter over the row's successful runs: section is
 * "exits", "kvm" or "shadow", key NULL sums the section.  False when no
 * run has the section (shadow in tdp mode). */
bool compare_counter(const struct compare *c, const struct compare_row *row,
		     const char *section, const char *key, struct compare_stat *out);

/* Every run succeeded and no workload's checksums disagree. */
bool compare_all_ok(const struct compare *c);

void compare_print(FILE *out, const struct compare *c);
/* One line per run; 0 or -EIO. */
int compare_write_csv(FILE *out, const struct compare *c);
/* Runs, per-row summary with ratios, and the checksum verdicts. */
json_t *compare_to_json(const struct compare *c);
/* Grouped horizontal bars of the median times, min-max whiskers; 0 or -EIO. */
int compare_write_svg(FILE *out, const struct compare *c);

/* `minivmm compare ...`; argv[0] = "compare".  Spawns self_exe for every
 * run.  Returns the exit status: 0, 1 (a run failed, checksums disagree,
 * an output file could not be written) or 2 (bad command line). */
int compare_main(int argc, char **argv, const char *self_exe);

#endif
