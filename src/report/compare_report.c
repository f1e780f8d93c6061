// SPDX-License-Identifier: MIT
/*
 * minivmm compare (compare.h), the part that reports.  Sections: statistics
 * over the reps (rows, ratios, checksum verdicts); the text report (aligned
 * tables); CSV; JSON; SVG.  It reads a filled-in struct compare (the unit
 * tests fill one by hand) and writes only to the FILE it is given.
 */
#include "report/compare.h"
#include "base/util.h"
#include "report/svg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- statistics over the reps -------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void compare_stat_of(double *v, unsigned int n, struct compare_stat *out)
{
	out->n = n;
	if (!n) {
		out->median = out->min = out->max = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	out->min = v[0];
	out->max = v[n - 1];
	out->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool compare_time_in_ms(const struct compare *c)
{
	for (size_t i = 0; i < compare_nr_runs(c); i++)
		if (c->runs[i].ok && !c->runs[i].tsc_khz)
			return false;
	return true;
}

/* ms = cycles / kHz; Mcycles when some run did not know its TSC rate. */
static double run_time(const struct compare_run *run, bool ms)
{
	return ms ? (double)run->cycles / (double)run->tsc_khz : (double)run->cycles / 1e6;
}

bool compare_checksums_agree(const struct compare *c, unsigned int l, unsigned int w)
{
	const char *first = NULL;

	for (unsigned int m = 0; m < c->opts.nr_modes; m++)
		for (unsigned int r = 0; r < c->opts.reps; r++) {
			const struct compare_run *run = compare_run_at(c, l, w, m, r);

			if (!run->ok)
				continue;
			if (first && strcmp(first, run->checksum))
				return false;
			first = run->checksum;
		}
	return true;
}

static void time_stat(const struct compare *c, unsigned int l, unsigned int w, unsigned int m,
		      struct compare_stat *out)
{
	double v[COMPARE_MAX_REPS];
	unsigned int n = 0;
	bool ms = compare_time_in_ms(c);

	for (unsigned int r = 0; r < c->opts.reps && n < COMPARE_MAX_REPS; r++) {
		const struct compare_run *run = compare_run_at(c, l, w, m, r);

		if (run->ok)
			v[n++] = run_time(run, ms);
	}
	compare_stat_of(v, n, out);
}

void compare_row_build(const struct compare *c, unsigned int l, unsigned int w,
		       unsigned int m, struct compare_row *out)
{
	struct compare_stat ref;
	int tdp = -1;

	out->layout = l;
	out->workload = w;
	out->mode = m;
	time_stat(c, l, w, m, &out->time);
	out->mismatch = !compare_checksums_agree(c, l, w);
	out->ratio = NAN;
	for (unsigned int i = 0; i < c->opts.nr_modes; i++)
		if (c->opts.modes[i] == COMPARE_TDP)
			tdp = (int)i;
	/* Different checksums mean the modes did different work: no ratio. */
	if (out->mismatch || tdp < 0 || c->opts.modes[m] == COMPARE_TDP || !out->time.n)
		return;
	time_stat(c, l, w, (unsigned int)tdp, &ref);
	if (ref.n && ref.median > 0)
		out->ratio = out->time.median / ref.median;
}

/* A phase counter of one run; key NULL sums the section.  The child leaves
 * zero deltas out, so an absent key in a present section counts 0. */
static bool run_counter(const struct compare_run *run, const char *section, const char *key,
			double *out)
{
	json_t *sec = run->ok ? json_object_get(run->phase, section) : NULL, *x;
	const char *k;

	if (!json_is_object(sec))
		return false;
	*out = 0;
	if (key) {
		x = json_object_get(sec, key);
		*out = json_is_number(x) ? json_number_value(x) : 0;
		return true;
	}
	json_object_foreach(sec, k, x)
		if (json_is_number(x))
			*out += json_number_value(x);
	return true;
}

bool compare_counter(const struct compare *c, const struct compare_row *row,
		     const char *section, const char *key, struct compare_stat *out)
{
	double v[COMPARE_MAX_REPS];
	unsigned int n = 0;

	for (unsigned int r = 0; r < c->opts.reps && n < COMPARE_MAX_REPS; r++)
		if (run_counter(compare_run_at(c, row->layout, row->workload, row->mode, r),
				section, key, &v[n]))
			n++;
	compare_stat_of(v, n, out);
	return n > 0;
}

bool compare_all_ok(const struct compare *c)
{
	for (size_t i = 0; i < compare_nr_runs(c); i++)
		if (!c->runs[i].ok)
			return false;
	for (unsigned int l = 0; l < c->opts.nr_layouts; l++)
		for (unsigned int w = 0; w < c->opts.nr_workloads; w++)
			if (!compare_checksums_agree(c, l, w))
				return false;
	return true;
}

/*
 * Every key of a phase section over the successful runs (of one row, or
 * of all rows when row is NULL), sorted.  The strings belong to set.
 */
struct names {
	json_t *set;
	const char **v;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool run_in_row(const struct compare *c, size_t i, const struct compare_row *row)
{
	const struct compare_opts *o = &c->opts;
	size_t m = i / o->reps % o->nr_modes, w = i / o->reps / o->nr_modes % o->nr_workloads;
	size_t l = i / o->reps / o->nr_modes / o->nr_workloads;

	return !row || (l == row->layout && w == row->workload && m == row->mode);
}

static int names_collect(const struct compare *c, const char *section,
			 const struct compare_row *row, struct names *out)
{
	const char *k;
	json_t *x;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	out->set = json_object();
	if (!out->set)
		return -ENOMEM;
	for (size_t r = 0; r < compare_nr_runs(c); r++) {
		const struct compare_run *run = &c->runs[r];
		json_t *sec = run->ok ? json_object_get(run->phase, section) : NULL;

		if (run_in_row(c, r, row) && json_is_object(sec))
			json_object_foreach(sec, k, x)
				json_object_set(out->set, k, json_true());
	}
	out->v = calloc(json_object_size(out->set) + 1, sizeof(*out->v));
	if (!out->v) {
		json_decref(out->set);
		return -ENOMEM;
	}
	json_object_foreach(out->set, k, x)
		out->v[i++] = k;
	out->n = i;
	qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

static void names_free(struct names *n)
{
	free(n->v);
	json_decref(n->set);
	memset(n, 0, sizeof(*n));
}

static void mode_label(const struct compare *c, unsigned int m, char *buf, size_t len)
{
	if (c->opts.modes[m] == COMPARE_TDP)
		snprintf(buf, len, "tdp (host: %s)", c->host_mmu[0] ? c->host_mmu : "unknown");
	else
		snprintf(buf, len, "%s", compare_mode_name(c->opts.modes[m]));
}

/* ---- the text report ---------------------------------------------------- */

#define TABLE_CELL 48

/* Cells of one aligned table; row 0 is the header, the first nr_left
 * columns are text (left-aligned), the rest numbers (right-aligned). */
struct table {
	unsigned int cols, rows, cap, nr_left;
	char (*cell)[TABLE_CELL];
};

static int table_init(struct table *t, unsigned int cols, unsigned int cap, unsigned int nr_left)
{
	t->cols = cols;
	t->rows = 0;
	t->cap = cap;
	t->nr_left = nr_left;
	t->cell = calloc((size_t)cols * cap, sizeof(*t->cell));
	return t->cell ? 0 : -ENOMEM;
}

/* Starts a row; NULL when full (sized up front, so only on a bug). */
static char (*table_row(struct table *t))[TABLE_CELL]
{
	return t->rows < t->cap ? &t->cell[(size_t)t->cols * t->rows++] : NULL;
}

static void table_print(FILE *out, const struct table *t)
{
	size_t w[32] = { 0 };

	for (unsigned int r = 0; r < t->rows; r++)
		for (unsigned int k = 0; k < t->cols && k < 32; k++) {
			size_t n = strlen(t->cell[(size_t)r * t->cols + k]);

			w[k] = n > w[k] ? n : w[k];
		}
	for (unsigned int r = 0; r < t->rows; r++) {
		for (unsigned int k = 0; k < t->cols && k < 32; k++) {
			const char *s = t->cell[(size_t)r * t->cols + k];
			bool last = k + 1 == t->cols;

			if (k < t->nr_left)
				fprintf(out, "%s%-*s", k ? "  " : "", last ? 0 : (int)w[k], s);
			else
				fprintf(out, "%s%*s", k ? "  " : "", (int)w[k], s);
		}
		fputc('\n', out);
	}
}

/* Digits after the point chosen by `ref` (the median), so that a row's
 * median, min and max line up. */
static void fmt_time_as(char *buf, size_t len, double v, double ref)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", ref >= 100 ? 1 : ref >= 1 ? 2 : 3, v);
}

static void fmt_time(char *buf, size_t len, double v)
{
	fmt_time_as(buf, len, v, v);
}

static void fmt_count(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, v == (double)(int64_t)v ? "%.0f" : "%.1f", v);
}

static void cell_counter(char *cell, const struct compare *c, const struct compare_row *row,
			 const char *section, const char *key, double scale)
{
	struct compare_stat s;

	if (!compare_counter(c, row, section, key, &s))
		snprintf(cell, TABLE_CELL, "-");
	else if (scale != 1)  /* a time, not a count */
		fmt_time(cell, TABLE_CELL, s.median * scale);
	else
		fmt_count(cell, TABLE_CELL, s.median);
}

static bool layout_has_failures(const struct compare *c, unsigned int l)
{
	const struct compare_opts *o = &c->opts;

	for (unsigned int w = 0; w < o->nr_workloads; w++)
		for (unsigned int m = 0; m < o->nr_modes; m++)
			for (unsigned int r = 0; r < o->reps; r++)
				if (!compare_run_at(c, l, w, m, r)->ok)
					return true;
	return false;
}

static void print_times(FILE *out, const struct compare *c, unsigned int l)
{
	static const char *const head[] = { "workload", "mode", "runs", "median", "min-max",
					    "ratio", "io exits", "mmio exits", "all exits" };
	const struct compare_opts *o = &c->opts;
	bool runs = layout_has_failures(c, l), ms = compare_time_in_ms(c);
	unsigned int skip = runs ? 0 : 1;  /* the runs column only when some failed */
	struct table t;
	char (*row)[TABLE_CELL];

	if (table_init(&t, 9 - skip, 1 + o->nr_workloads * o->nr_modes, 2))
		return;
	row = table_row(&t);
	for (unsigned int k = 0, i = 0; k < 9; k++)
		if (k != 2 || runs)
			snprintf(row[i++], TABLE_CELL, "%s%s", head[k],
				 k == 3 || k == 4 ? (ms ? " ms" : " Mcyc") : "");
	for (unsigned int w = 0; w < o->nr_workloads; w++)
		for (unsigned int m = 0; m < o->nr_modes; m++) {
			struct compare_row r;
			char a[24], b[24];
			unsigned int i = 0;

			compare_row_build(c, l, w, m, &r);
			row = table_row(&t);
			snprintf(row[i++], TABLE_CELL, "%s", o->workloads[w]);
			mode_label(c, m, row[i++], TABLE_CELL);
			if (runs)
				snprintf(row[i++], TABLE_CELL, "%u/%u", r.time.n, o->reps);
			if (!r.time.n) {
				snprintf(row[i++], TABLE_CELL, "failed");
				snprintf(row[i++], TABLE_CELL, "-");
			} else {
				fmt_time(row[i++], TABLE_CELL, r.time.median);
				fmt_time_as(a, sizeof(a), r.time.min, r.time.median);
				fmt_time_as(b, sizeof(b), r.time.max, r.time.median);
				snprintf(row[i++], TABLE_CELL, "%s-%s", a, b);
			}
			if (r.mismatch)
				snprintf(row[i++], TABLE_CELL, "mismatch");
			else if (isnan(r.ratio))
				snprintf(row[i++], TABLE_CELL, "-");
			else
				snprintf(row[i++], TABLE_CELL, "%.2fx", r.ratio);
			cell_counter(row[i++], c, &r, "exits", "io", 1);
			cell_counter(row[i++], c, &r, "exits", "mmio", 1);
			cell_counter(row[i++], c, &r, "exits", NULL, 1);
		}
	table_print(out, &t);
	free(t.cell);
}

/* Each workload whose runs disagree: every checksum with the runs that
 * reported it. */
static void print_mismatches(FILE *out, const struct compare *c, unsigned int l)
{
	const struct compare_opts *o = &c->opts;
	unsigned int n = o->nr_modes * o->reps;

	for (unsigned int w = 0; w < o->nr_workloads; w++) {
		if (compare_checksums_agree(c, l, w))
			continue;
		fprintf(out, "checksum mismatch in %s (no ratio):\n", o->workloads[w]);
		for (unsigned int i = 0; i < n; i++) {
			const struct compare_run *a = compare_run_at(c, l, w, i / o->reps, i % o->reps);
			bool seen = false;

			for (unsigned int j = 0; a->ok && j < i; j++) {
				const struct compare_run *b = compare_run_at(c, l, w, j / o->reps, j % o->reps);

				seen |= b->ok && !strcmp(a->checksum, b->checksum);
			}
			if (!a->ok || seen)
				continue;
			fprintf(out, "  %s from", a->checksum);
			for (unsigned int j = i; j < n; j++) {
				const struct compare_run *b = compare_run_at(c, l, w, j / o->reps, j % o->reps);

				if (b->ok && !strcmp(a->checksum, b->checksum))
					fprintf(out, " %s#%u", compare_mode_name(o->modes[j / o->reps]),
						j % o->reps + 1);
			}
			fputc('\n', out);
		}
	}
}

/* One column of a counter table: the heading, the counter, a scale. */
struct counter_col {
	const char *head, *key;
	double scale;
};

static const struct counter_col shadow_cols[] = {
	{ "trapped writes", "trapped_writes", 1 }, { "hidden faults", "hidden_faults", 1 },
	{ "true faults", "true_faults", 1 }, { "root loads", "root_loads", 1 },
	{ "root hits", "root_hits", 1 }, { "root misses", "root_misses", 1 },
	{ "root evictions", "root_evictions", 1 }, { "peak pages", "pages_peak", 1 },
	{ "vmm mmu ms", "time_ns", 1e-6 },
};
#define NR_SHADOW_COLS ARRAY_SIZE(shadow_cols)

/*
 * The medians of `section` counters for every workload and mode of layout l.
 * only_present: leave out rows without that section (tdp has no shadow),
 * and the whole table when no row is left.
 */
static void print_counter_table(FILE *out, const struct compare *c, unsigned int l,
				const char *section, const char *title,
				const struct counter_col *cols, unsigned int nr_cols,
				bool only_present)
{
	const struct compare_opts *o = &c->opts;
	struct compare_stat s;
	struct table t;
	char (*row)[TABLE_CELL];

	if (table_init(&t, 2 + nr_cols, 1 + o->nr_workloads * o->nr_modes, 2))
		return;
	row = table_row(&t);
	snprintf(row[0], TABLE_CELL, "workload");
	snprintf(row[1], TABLE_CELL, "mode");
	for (unsigned int k = 0; k < nr_cols; k++)
		snprintf(row[2 + k], TABLE_CELL, "%s", cols[k].head);
	for (unsigned int w = 0; w < o->nr_workloads; w++)
		for (unsigned int m = 0; m < o->nr_modes; m++) {
			struct compare_row r = { .layout = l, .workload = w, .mode = m };

			if (only_present && !compare_counter(c, &r, section, NULL, &s))
				continue;
			row = table_row(&t);
			snprintf(row[0], TABLE_CELL, "%s", o->workloads[w]);
			mode_label(c, m, row[1], TABLE_CELL);
			for (unsigned int k = 0; k < nr_cols; k++)
				cell_counter(row[2 + k], c, &r, section, cols[k].key, cols[k].scale);
		}
	if (!only_present || t.rows > 1) {
		fprintf(out, "\n%s\n", title);
		table_print(out, &t);
	}
	free(t.cell);
}

static void print_shadow(FILE *out, const struct compare *c, unsigned int l)
{
	print_counter_table(out, c, l, "shadow", "minivmm shadow MMU in the phase (medians)",
			    shadow_cols, NR_SHADOW_COLS, true);
}

/* The KVM statistics worth a column; the rest are in the CSV and JSON. */
static const char *const kvm_cols[] = {
	"pf_fixed", "pf_guest", "pf_spurious", "mmu_pte_write", "mmu_shadow_zapped",
	"mmu_unsync", "mmu_recycled", "tlb_flush", "invlpg", "exits", "insn_emulation",
	"io_exits", "mmio_exits",
};
#define NR_KVM_COLS ARRAY_SIZE(kvm_cols)

/* Only the statistics this host's KVM has. */
static void print_kvm(FILE *out, const struct compare *c, unsigned int l)
{
	struct counter_col show[NR_KVM_COLS];
	unsigned int nr_show = 0;
	struct names all;

	if (names_collect(c, "kvm", NULL, &all))
		return;
	for (unsigned int k = 0; k < NR_KVM_COLS; k++)
		if (bsearch(&kvm_cols[k], all.v, all.n, sizeof(*all.v), cmp_str))
			show[nr_show++] = (struct counter_col){ kvm_cols[k], kvm_cols[k], 1 };
	names_free(&all);
	if (nr_show)
		print_counter_table(out, c, l, "kvm",
				    "KVM statistics in the phase (median deltas; all of them in --csv/--json)",
				    show, nr_show, false);
}

static void print_header(FILE *out, const struct compare *c)
{
	const char *host = c->host_mmu[0] ? c->host_mmu : "unknown";
	char size[32], date[64];
	struct tm tm;

	mem_format_size(c->opts.ram_size, size, sizeof(size));
	localtime_r(&c->date, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", &tm);
	fprintf(out, "minivmm compare: host MMU %s, %s of RAM, %u rep%s per workload and mode, %s\n",
		host, size, c->opts.reps, c->opts.reps == 1 ? "" : "s", date);
	fprintf(out, "guest %s%s%s\n", c->opts.guest, c->opts.append ? ", bootargs: " : "",
		c->opts.append ? c->opts.append : "");
	/* tdp means whatever the host does with the guest's own page tables;
	 * only vmx+ept and svm+npt are two-dimensional paging in hardware. */
	if (!strcmp(host, "vmx+ept") || !strcmp(host, "svm+npt"))
		fprintf(out, "tdp: the guest's page tables under the host's %s\n",
			!strcmp(host, "vmx+ept") ? "EPT" : "NPT");
	else if (!strcmp(host, "pvm") || !strcmp(host, "kvm-shadow"))
		fprintf(out, "tdp: this host has no two-dimensional paging; KVM shadows the "
			"guest's page tables itself (%s)\n", host);
	if (!compare_time_in_ms(c))
		fprintf(out, "the TSC rate is unknown: times are in millions of cycles\n");
}

void compare_print(FILE *out, const struct compare *c)
{
	bool any_shadow = false, any_tdp = false;

	print_header(out, c);
	for (unsigned int m = 0; m < c->opts.nr_modes; m++) {
		any_tdp |= c->opts.modes[m] == COMPARE_TDP;
		any_shadow |= c->opts.modes[m] != COMPARE_TDP;
	}
	for (unsigned int l = 0; l < c->opts.nr_layouts; l++) {
		char name[48];

		compare_layout_name(c, l, name, sizeof(name));
		fprintf(out, "\nlayout %s: time in the measured phase (median and min-max of the reps)\n",
			name);
		print_times(out, c, l);
		print_mismatches(out, c, l);
		print_shadow(out, c, l);
		print_kvm(out, c, l);
	}
	if (any_tdp && any_shadow)
		fprintf(out, "\nratio = median time in the mode / median time in tdp, same workload "
			"and layout\n");
}

/* ---- CSV -------------------------------------------------------------- */

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static const char *const csv_sections[] = { "exits", "shadow", "kvm" };

static void csv_run(FILE *out, const struct compare *c, unsigned int l, unsigned int w,
		    unsigned int m, unsigned int r, const struct names *names)
{
	const struct compare_run *run = compare_run_at(c, l, w, m, r);
	char name[48];
	double v;

	compare_layout_name(c, l, name, sizeof(name));
	csv_field(out, name);
	fputc(',', out);
	csv_field(out, c->opts.workloads[w]);
	fprintf(out, ",%s,%u,%d,%d,", compare_mode_name(c->opts.modes[m]), r + 1, run->status,
		run->ok);
	if (run->ok) {
		fprintf(out, "%" PRIu64 ",%" PRIu64 ",", run->tsc_khz, run->cycles);
		if (run->tsc_khz)
			fprintf(out, "%.6f", run_time(run, true));
		fprintf(out, ",%" PRIu64 ",%s", run->ops, run->checksum);
	} else {
		fputs(",,,,", out);
	}
	fputc(',', out);
	if (run_counter(run, "exits", NULL, &v))
		fprintf(out, "%.0f", v);
	for (unsigned int s = 0; s < 3; s++)
		for (size_t k = 0; k < names[s].n; k++) {
			fputc(',', out);
			if (run_counter(run, csv_sections[s], names[s].v[k], &v))
				fprintf(out, "%.0f", v);
		}
	fputc('\n', out);
}

int compare_write_csv(FILE *out, const struct compare *c)
{
	const struct compare_opts *o = &c->opts;
	struct names names[3];
	int err = 0;

	for (unsigned int s = 0; s < 3; s++)
		if (names_collect(c, csv_sections[s], NULL, &names[s])) {
			while (s--)
				names_free(&names[s]);
			return -ENOMEM;
		}
	fputs("layout,workload,mode,rep,status,ok,tsc_khz,cycles,time_ms,ops,checksum,exits_total",
	      out);
	for (unsigned int s = 0; s < 3; s++)
		for (size_t k = 0; k < names[s].n; k++) {
			char col[128];

			snprintf(col, sizeof(col), "%s.%s", csv_sections[s], names[s].v[k]);
			fputc(',', out);
			csv_field(out, col);
		}
	fputc('\n', out);
	for (unsigned int l = 0; l < o->nr_layouts; l++)
		for (unsigned int w = 0; w < o->nr_workloads; w++)
			for (unsigned int m = 0; m < o->nr_modes; m++)
				for (unsigned int r = 0; r < o->reps; r++)
					csv_run(out, c, l, w, m, r, names);
	for (unsigned int s = 0; s < 3; s++)
		names_free(&names[s]);
	if (fflush(out) || ferror(out))
		err = -EIO;
	return err;
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *run_json(const struct compare *c, unsigned int l, unsigned int w,
			unsigned int m, unsigned int r)
{
	const struct compare_run *run = compare_run_at(c, l, w, m, r);
	char name[48];
	json_t *o;

	compare_layout_name(c, l, name, sizeof(name));
	o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:b}", "layout", name,
		      "workload", c->opts.workloads[w], "mode", compare_mode_name(c->opts.modes[m]),
		      "rep", (int)r + 1, "status", run->status, "ok", run->ok);
	if (!o)
		return NULL;
	if (!run->ok) {
		json_object_set_new(o, "error", json_string(run->error));
		return o;
	}
	json_object_set_new(o, "tsc_khz", json_integer((json_int_t)run->tsc_khz));
	json_object_set_new(o, "cycles", json_integer((json_int_t)run->cycles));
	json_object_set_new(o, "time_ms", run->tsc_khz ? json_real(run_time(run, true)) : json_null());
	json_object_set_new(o, "ops", json_integer((json_int_t)run->ops));
	json_object_set_new(o, "checksum", json_string(run->checksum));
	for (unsigned int s = 0; s < 3; s++) {
		json_t *sec = json_object_get(run->phase, csv_sections[s]);

		if (json_is_object(sec))
			json_object_set(o, csv_sections[s], sec);
	}
	return o;
}

static json_t *stat_json(const struct compare_stat *s)
{
	return json_pack("{s:o, s:o, s:o, s:i}", "median", num_or_null(s->median),
			 "min", num_or_null(s->min), "max", num_or_null(s->max), "n", (int)s->n);
}

/* Medians of every counter the row's runs reported, as "section.name". */
static json_t *counters_json(const struct compare *c, const struct compare_row *row)
{
	json_t *o = json_object();

	for (unsigned int s = 0; o && s < 3; s++) {
		struct names n;
		struct compare_stat st;
		char key[128];

		if (names_collect(c, csv_sections[s], row, &n))
			continue;
		for (size_t k = 0; k < n.n; k++) {
			snprintf(key, sizeof(key), "%s.%s", csv_sections[s], n.v[k]);
			if (compare_counter(c, row, csv_sections[s], n.v[k], &st))
				json_object_set_new(o, key, num_or_null(st.median));
		}
		names_free(&n);
	}
	return o;
}

static json_t *summary_json(const struct compare *c, unsigned int l, unsigned int w,
			    unsigned int m, json_t *ratios)
{
	struct compare_row r;
	char name[48], label[64];

	compare_row_build(c, l, w, m, &r);
	compare_layout_name(c, l, name, sizeof(name));
	mode_label(c, m, label, sizeof(label));
	if (!isnan(r.ratio))
		json_array_append_new(ratios, json_pack("{s:s, s:s, s:s, s:f}", "layout", name,
			"workload", c->opts.workloads[w], "mode", compare_mode_name(c->opts.modes[m]),
			"ratio", r.ratio));
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:b, s:o}", "layout", name,
			 "workload", c->opts.workloads[w], "mode", compare_mode_name(c->opts.modes[m]),
			 "label", label, "runs_ok", (int)r.time.n, "time", stat_json(&r.time),
			 "ratio", num_or_null(r.ratio), "checksum_mismatch", r.mismatch,
			 "counters", counters_json(c, &r));
}

static json_t *checksums_json(const struct compare *c, unsigned int l, unsigned int w)
{
	json_t *values = json_array();
	char name[48];

	for (unsigned int m = 0; m < c->opts.nr_modes; m++)
		for (unsigned int r = 0; r < c->opts.reps; r++) {
			const struct compare_run *run = compare_run_at(c, l, w, m, r);
			bool dup = false;
			size_t i;
			json_t *v;

			json_array_foreach(values, i, v)
				dup |= run->ok && !strcmp(json_string_value(v), run->checksum);
			if (run->ok && !dup)
				json_array_append_new(values, json_string(run->checksum));
		}
	compare_layout_name(c, l, name, sizeof(name));
	return json_pack("{s:s, s:s, s:b, s:o}", "layout", name, "workload", c->opts.workloads[w],
			 "agree", compare_checksums_agree(c, l, w), "values", values);
}

json_t *compare_to_json(const struct compare *c)
{
	const struct compare_opts *o = &c->opts;
	json_t *runs = json_array(), *summary = json_array(), *ratios = json_array();
	json_t *sums = json_array(), *layouts = json_array(), *workloads = json_array();
	json_t *modes = json_array();
	char date[32], name[48];
	struct tm tm;

	gmtime_r(&c->date, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (unsigned int l = 0; l < o->nr_layouts; l++) {
		compare_layout_name(c, l, name, sizeof(name));
		json_array_append_new(layouts, json_string(name));
	}
	for (unsigned int w = 0; w < o->nr_workloads; w++)
		json_array_append_new(workloads, json_string(o->workloads[w]));
	for (unsigned int m = 0; m < o->nr_modes; m++)
		json_array_append_new(modes, json_string(compare_mode_name(o->modes[m])));
	for (unsigned int l = 0; l < o->nr_layouts; l++)
		for (unsigned int w = 0; w < o->nr_workloads; w++) {
			json_array_append_new(sums, checksums_json(c, l, w));
			for (unsigned int m = 0; m < o->nr_modes; m++) {
				json_array_append_new(summary, summary_json(c, l, w, m, ratios));
				for (unsigned int r = 0; r < o->reps; r++)
					json_array_append_new(runs, run_json(c, l, w, m, r));
			}
		}
	return json_pack("{s:i, s:s, s:s, s:I, s:i, s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:o, "
			 "s:o, s:o, s:o}",
		"minivmm_compare", 1, "date", date,
		"host_mmu", c->host_mmu[0] ? c->host_mmu : "unknown",
		"ram_bytes", (json_int_t)o->ram_size, "reps", (int)o->reps, "guest", o->guest,
		"append", o->append ? json_string(o->append) : json_null(),
		"time_unit", compare_time_in_ms(c) ? "ms" : "Mcycles", "ok", compare_all_ok(c),
		"layouts", layouts, "workloads", workloads, "modes", modes, "runs", runs,
		"summary", summary, "ratios", ratios, "checksums", sums);
}

/* ---- SVG -------------------------------------------------------------- */

#define SVG_WIDTH 960
#define SVG_LEFT 200     /* group labels to the left of the bars */
#define SVG_RIGHT 190    /* value labels to the right of the longest whisker */
#define SVG_TOP 84
#define SVG_BAR 16
#define SVG_BAR_GAP 4
#define SVG_GROUP_GAP 16
#define SVG_PLOT (SVG_WIDTH - SVG_LEFT - SVG_RIGHT)

static const char *const svg_colors[COMPARE_NR_MODES] = { "#4e79a7", "#f28e2b", "#59a14f" };

static void svg_bar(FILE *out, const struct compare *c, const struct compare_row *r,
		    double axis, int y, const char *unit)
{
	double x0 = SVG_LEFT, sc = SVG_PLOT / axis;
	double xm = x0 + r->time.median * sc, xl = x0 + r->time.min * sc, xh = x0 + r->time.max * sc;
	char med[24], lo[24], hi[24], label[64];
	int cy = y + SVG_BAR / 2;

	mode_label(c, r->mode, label, sizeof(label));
	if (!r->time.n) {
		fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#c00\">", SVG_LEFT + 4, cy + 4);
		svg_text(out, label);
		fputs(": failed</text>\n", out);
		return;
	}
	fmt_time(med, sizeof(med), r->time.median);
	fmt_time_as(lo, sizeof(lo), r->time.min, r->time.median);
	fmt_time_as(hi, sizeof(hi), r->time.max, r->time.median);
	fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
		"<title>", x0, y, xm - x0 > 1 ? xm - x0 : 1, SVG_BAR,
		svg_colors[c->opts.modes[r->mode]]);
	svg_text(out, label);
	fprintf(out, ": median %s %s, min %s, max %s, %u run%s</title></rect>\n", med, unit, lo, hi,
		r->time.n, r->time.n == 1 ? "" : "s");
	fprintf(out, "<path d=\"M%.1f %dV%dM%.1f %dH%.1fM%.1f %dV%d\" stroke=\"#222\" "
		"fill=\"none\"/>\n", xl, cy - 4, cy + 4, xl, cy, xh, xh, cy - 4, cy + 4);
	fprintf(out, "<text x=\"%.1f\" y=\"%d\">%s %s", xh + 6, cy + 4, med, unit);
	if (r->mismatch)
		fputs(" <tspan fill=\"#c00\">checksum mismatch</tspan>", out);
	else if (!isnan(r->ratio))
		fprintf(out, " (%.2fx tdp)", r->ratio);
	fputs("</text>\n", out);
}

static void svg_legend_title(FILE *out, const struct compare *c, const char *unit)
{
	const char *host = c->host_mmu[0] ? c->host_mmu : "unknown";
	char size[32];
	int x = SVG_LEFT;

	mem_format_size(c->opts.ram_size, size, sizeof(size));
	fputs("<title>", out);
	svg_text(out, "minivmm compare, host MMU ");
	svg_text(out, host);
	fputs("</title>\n<text x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"bold\">", out);
	svg_text(out, "minivmm compare: median time per workload (host MMU: ");
	svg_text(out, host);
	fputs(")</text>\n<text x=\"16\" y=\"46\" fill=\"#444\">", out);
	fprintf(out, "%s of RAM, %u rep%s per bar, whiskers from min to max, in %s</text>\n", size,
		c->opts.reps, c->opts.reps == 1 ? "" : "s", unit);
	for (unsigned int m = 0; m < c->opts.nr_modes; m++) {
		char label[64];

		mode_label(c, m, label, sizeof(label));
		fprintf(out, "<rect x=\"%d\" y=\"58\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			"<text x=\"%d\" y=\"69\">", x, svg_colors[c->opts.modes[m]], x + 16);
		svg_text(out, label);
		fputs("</text>\n", out);
		x += 16 + 7 * (int)strlen(label) + 24;
	}
}

int compare_write_svg(FILE *out, const struct compare *c)
{
	const struct compare_opts *o = &c->opts;
	const char *unit = compare_time_in_ms(c) ? "ms" : "Mcycles";
	unsigned int groups = o->nr_layouts * o->nr_workloads;
	int group_h = (int)o->nr_modes * (SVG_BAR + SVG_BAR_GAP);
	int plot_h = (int)groups * group_h + (int)(groups - 1) * SVG_GROUP_GAP + 8;
	int bottom = SVG_TOP + plot_h, height = bottom + 56;
	double max = 0, step, axis;
	unsigned int ticks;

	for (unsigned int l = 0; l < o->nr_layouts; l++)
		for (unsigned int w = 0; w < o->nr_workloads; w++)
			for (unsigned int m = 0; m < o->nr_modes; m++) {
				struct compare_stat s;

				time_stat(c, l, w, m, &s);
				if (s.n && s.max > max)
					max = s.max;
			}
	step = svg_step(max);
	for (ticks = 1; ticks * step < max; ticks++)
		;
	axis = ticks * step;
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		SVG_WIDTH, height, SVG_WIDTH, height);
	svg_legend_title(out, c, unit);
	for (unsigned int i = 0; i <= ticks; i++) {
		double x = SVG_LEFT + SVG_PLOT * (double)i / ticks;

		fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x,
			SVG_TOP - 4, x, bottom, i ? "#ddd" : "#222", x, bottom + 16, step * i);
	}
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time in the measured phase "
		"(%s)</text>\n", SVG_LEFT + SVG_PLOT / 2, bottom + 38, unit);
	for (unsigned int g = 0; g < groups; g++) {
		unsigned int l = g / o->nr_workloads, w = g % o->nr_workloads;
		int y = SVG_TOP + (int)g * (group_h + SVG_GROUP_GAP);
		char name[48];

		compare_layout_name(c, l, name, sizeof(name));
		fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-weight=\"bold\">",
			SVG_LEFT - 8, y + group_h / 2 + 4);
		svg_text(out, o->workloads[w]);
		if (o->nr_layouts > 1) {
			fputs(" (", out);
			svg_text(out, name);
			fputc(')', out);
		}
		fputs("</text>\n", out);
		for (unsigned int m = 0; m < o->nr_modes; m++) {
			struct compare_row r;

			compare_row_build(c, l, w, m, &r);
			svg_bar(out, c, &r, axis, y + (int)m * (SVG_BAR + SVG_BAR_GAP), unit);
		}
	}
	fputs("</svg>\n", out);
	return fflush(out) || ferror(out) ? -EIO : 0;
}
