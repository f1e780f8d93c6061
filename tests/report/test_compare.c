// SPDX-License-Identifier: MIT
/* minivmm compare without children: options, the stats parser, medians,
 * ratios and the checksum verdict, and the table/CSV/JSON/SVG writers. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/log.h"
#include "report/compare.h"

#define ARGV(...) ((char *[]){ "compare", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "compare", __VA_ARGS__ }) / sizeof(char *)))
#define parse(o, ...) compare_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o))

/* ---- options ---------------------------------------------------------- */

static void test_defaults(void **state)
{
	char *argv[] = { "compare", NULL };
	struct compare_opts o;

	assert_int_equal(compare_parse_args(1, argv, &o), 0);
	assert_int_equal(o.nr_workloads, 5);
	assert_string_equal(o.workloads[0], "tlb-4k");
	assert_string_equal(o.workloads[4], "demand");
	assert_int_equal(o.nr_modes, 3);
	assert_int_equal(o.modes[0], COMPARE_TDP);
	assert_int_equal(o.modes[2], COMPARE_SHADOW_LAZY);
	assert_int_equal(o.nr_layouts, 1);
	assert_int_equal(o.layouts[0].kind, MEM_LAYOUT_SPLIT);
	assert_int_equal(o.reps, 3);
	assert_int_equal(o.ram_size, BOARD_GiB);
	assert_string_equal(o.guest, "builtin:mmu");
	assert_null(o.append);
	assert_null(o.csv);
	assert_false(o.help);
}

static void test_options(void **state)
{
	struct compare_opts o;

	assert_int_equal(parse(&o, "--workloads=pt-churn,tlb-4k", "--modes", "shadow-lazy,tdp",
			       "--reps=5", "--layouts", "split,chunks:64M", "-m", "512M",
			       "--guest", "g.elf", "--append=ws=4M iters=2", "--csv", "a.csv",
			       "--json=a.json", "--svg", "a.svg", "--timeout=30"), 0);
	assert_int_equal(o.nr_workloads, 2);
	assert_string_equal(o.workloads[0], "pt-churn");
	assert_string_equal(o.workloads[1], "tlb-4k");
	assert_int_equal(o.nr_modes, 2);
	assert_int_equal(o.modes[0], COMPARE_SHADOW_LAZY);
	assert_int_equal(o.modes[1], COMPARE_TDP);
	assert_int_equal(o.reps, 5);
	assert_int_equal(o.nr_layouts, 2);
	assert_int_equal(o.layouts[1].kind, MEM_LAYOUT_CHUNKS);
	assert_int_equal(o.layouts[1].chunk_size, 64 * BOARD_MiB);
	assert_int_equal(o.ram_size, 512 * BOARD_MiB);
	assert_string_equal(o.guest, "g.elf");
	assert_string_equal(o.append, "ws=4M iters=2");
	assert_string_equal(o.csv, "a.csv");
	assert_string_equal(o.json, "a.json");
	assert_string_equal(o.svg, "a.svg");
	assert_int_equal(o.timeout_s, 30);
	assert_int_equal(parse(&o, "-h"), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, "--help"), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, "--reps", "1"), 0);
	assert_int_equal(o.reps, 1);
	assert_int_equal(parse(&o, "--reps=100"), 0);
}

static void test_bad_options(void **state)
{
	struct compare_opts o;

	assert_int_equal(parse(&o, "--frobnicate"), -EINVAL);
	assert_int_equal(parse(&o, "stray"), -EINVAL);
	assert_int_equal(parse(&o, "--reps=0"), -EINVAL);
	assert_int_equal(parse(&o, "--reps=101"), -EINVAL);
	assert_int_equal(parse(&o, "--reps=-1"), -EINVAL);
	assert_int_equal(parse(&o, "--reps=3x"), -EINVAL);
	assert_int_equal(parse(&o, "--reps="), -EINVAL);
	assert_int_equal(parse(&o, "--reps"), -EINVAL);
	assert_int_equal(parse(&o, "--workloads=tlb-4k,nope"), -EINVAL);
	assert_int_equal(parse(&o, "--workloads=tlb-4k,tlb-4k"), -EINVAL);
	assert_int_equal(parse(&o, "--workloads=tlb-4k,"), -EINVAL);
	assert_int_equal(parse(&o, "--workloads="), -EINVAL);
	assert_int_equal(parse(&o, "--modes=shadow"), -EINVAL);
	assert_int_equal(parse(&o, "--modes=tdp,tdp"), -EINVAL);
	assert_int_equal(parse(&o, "--layouts=split,bogus"), -EINVAL);
	assert_int_equal(parse(&o, "--layouts=chunks:64M,chunks:64M"), -EINVAL);
	assert_int_equal(parse(&o, "-m", "lots"), -EINVAL);
	assert_int_equal(parse(&o, "--help=yes"), -EINVAL);
	assert_int_equal(parse(&o, "--timeout=0"), -EINVAL);
}

/* The one line a refused command line logs, as users see it. */
static void assert_refused_with(const char *line, int argc, char **argv)
{
	struct compare_opts o;
	char *text = NULL, want[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	log_set_sink(f);
	assert_int_equal(compare_parse_args(argc, argv, &o), -EINVAL);
	log_set_sink(NULL);
	fclose(f);
	snprintf(want, sizeof(want), "minivmm: %s\n", line);
	assert_string_equal(text, want);
	free(text);
}

#define assert_message(line, ...) assert_refused_with((line), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_option_messages(void **state)
{
	struct compare_opts o;

	assert_message("compare: unknown option '--frobnicate' (see minivmm compare --help)",
		       "--frobnicate");
	assert_message("compare: unknown option '--=x' (see minivmm compare --help)", "--=x");
	assert_message("compare: unexpected argument 'stray' (see minivmm compare --help)",
		       "--reps", "2", "stray");
	assert_message("compare: unexpected argument '' (see minivmm compare --help)", "");
	assert_message("compare: option '--help' takes no value", "--help=yes");
	assert_message("compare: option '--reps' needs a value", "--reps");
	assert_message("compare: option '-m' needs a value", "--reps=2", "-m");
	assert_message("compare: --reps: '0' is not a number from 1 to 100", "-reps=0");
	/* QEMU-style single-dash long names, as everywhere in minivmm. */
	assert_int_equal(parse(&o, "-reps", "4", "-modes=tdp"), 0);
	assert_int_equal(o.reps, 4);
	assert_int_equal(o.nr_modes, 1);
}

/* ---- medians ---------------------------------------------------------- */

static void test_stat(void **state)
{
	double odd[] = { 5, 1, 3 }, even[] = { 4, 1, 3, 10 }, one[] = { 7 };
	struct compare_stat s;

	compare_stat_of(odd, 3, &s);
	assert_true(s.median == 3 && s.min == 1 && s.max == 5 && s.n == 3);
	compare_stat_of(even, 4, &s);
	assert_true(s.median == 3.5 && s.min == 1 && s.max == 10 && s.n == 4);
	compare_stat_of(one, 1, &s);
	assert_true(s.median == 7 && s.min == 7 && s.max == 7);
	compare_stat_of(NULL, 0, &s);
	assert_true(isnan(s.median) && isnan(s.min) && isnan(s.max) && s.n == 0);
}

/* ---- the child's stats document ------------------------------------------ */

/* The shape the child writes (see compare.h), as text. */
static const char sample_stats[] =
"{\n"
"  \"minivmm_stats\": 1, \"host_mmu\": \"pvm\", \"mmu\": \"shadow\", \"shadow_fill\": \"lazy\",\n"
"  \"layout\": \"split\", \"backing\": \"anon\", \"ram_bytes\": 1073741824,\n"
"  \"tsc_khz\": 2000000, \"exit_status\": 0,\n"
"  \"exits\": {\"io\": 123, \"mmio\": 45},\n"
"  \"kvm_vm\": {\"remote_tlb_flush\": 3}, \"kvm_vcpu\": {\"pf_fixed\": 99},\n"
"  \"shadow\": {\"trapped_writes\": 10, \"pages_peak\": 40, \"time_ns\": 5000000},\n"
"  \"phases\": [\n"
"    {\"name\": \"boot\", \"cycles\": 5, \"checksum\": \"0x0\", \"ops\": 1},\n"
"    {\"name\": \"tlb-4k\", \"cycles\": 4000000, \"checksum\": \"0x00000000deadbeef\",\n"
"     \"ops\": 1000000, \"exits\": {\"io\": 2, \"mmio\": 7},\n"
"     \"kvm\": {\"pf_fixed\": 12, \"exits\": 9},\n"
"     \"shadow\": {\"trapped_writes\": 7, \"hidden_faults\": 3, \"pages_peak\": 40,\n"
"                \"time_ns\": 2500000}}\n"
"  ]\n"
"}\n";

static void test_parse_stats(void **state)
{
	json_error_t err;
	json_t *root = json_loads(sample_stats, 0, &err);
	struct compare_run run = { .status = 0 };

	assert_non_null(root);
	assert_int_equal(compare_parse_stats(root, "tlb-4k", COMPARE_SHADOW_LAZY, &run), 0);
	assert_true(run.ok);
	assert_int_equal(run.cycles, 4000000);
	assert_int_equal(run.ops, 1000000);
	assert_int_equal(run.tsc_khz, 2000000);
	assert_string_equal(run.checksum, "0x00000000deadbeef");
	assert_string_equal(json_string_value(json_object_get(run.phase, "name")), "tlb-4k");
	json_decref(run.stats);

	/* The child must have run the mode asked for. */
	run = (struct compare_run){ .status = 0 };
	assert_int_equal(compare_parse_stats(root, "tlb-4k", COMPARE_SHADOW_EAGER, &run), -EINVAL);
	assert_false(run.ok);
	assert_non_null(strstr(run.error, "shadow-eager"));
	assert_int_equal(compare_parse_stats(root, "tlb-4k", COMPARE_TDP, &run), -EINVAL);
	assert_null(run.stats);
	/* No phase named after the workload. */
	assert_int_equal(compare_parse_stats(root, "demand", COMPARE_SHADOW_LAZY, &run), -EINVAL);
	assert_non_null(strstr(run.error, "demand"));
	json_object_set_new(root, "minivmm_stats", json_integer(2));
	assert_int_equal(compare_parse_stats(root, "tlb-4k", COMPARE_SHADOW_LAZY, &run), -EINVAL);
	json_decref(root);
	root = json_loads("[1, 2]", 0, &err);
	assert_int_equal(compare_parse_stats(root, "tlb-4k", COMPARE_TDP, &run), -EINVAL);
	json_decref(root);
}

/* ---- a comparison filled by hand ---------------------------------------- */

static json_t *stats_doc(enum compare_mode mode, const char *workload, uint64_t cycles,
			 const char *sum, uint64_t khz)
{
	json_t *phase = json_pack("{s:s, s:I, s:s, s:i, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}}",
		"name", workload, "cycles", (json_int_t)cycles, "checksum", sum, "ops", 1000,
		"exits", "io", 10, "mmio", 5, "hlt", 1,
		"kvm", "pf_fixed", 7, "exits", 16, "pf_guest", mode == COMPARE_TDP ? 0 : 4);

	if (mode != COMPARE_TDP)
		json_object_set_new(phase, "shadow", json_pack("{s:i, s:i, s:i, s:I}",
			"trapped_writes", 3, "hidden_faults", 4, "pages_peak", 9,
			"time_ns", (json_int_t)2000000));
	return json_pack("{s:i, s:s, s:s, s:o, s:I, s:[o]}", "minivmm_stats", 1,
		"host_mmu", "pvm", "mmu", mode == COMPARE_TDP ? "tdp" : "shadow",
		"shadow_fill", mode == COMPARE_TDP ? json_null() :
			json_string(mode == COMPARE_SHADOW_LAZY ? "lazy" : "eager"),
		"tsc_khz", (json_int_t)khz, "phases", phase);
}

static void fill(struct compare *c, unsigned int l, unsigned int w, unsigned int m,
		 unsigned int r, uint64_t cycles, const char *sum, uint64_t khz)
{
	json_t *doc = stats_doc(c->opts.modes[m], c->opts.workloads[w], cycles, sum, khz);
	struct compare_run *run = compare_run_at(c, l, w, m, r);

	assert_non_null(doc);
	run->status = 0;
	assert_int_equal(compare_parse_stats(doc, c->opts.workloads[w], c->opts.modes[m], run), 0);
	json_decref(doc);
}

/* One layout, workloads tlb-4k and pt-churn, modes tdp and shadow-lazy,
 * two reps; shadow-lazy is 3x slower; TSC at 1 GHz (1e6 kHz). */
static void make_compare(struct compare *c, const char *lazy_sum)
{
	struct compare_opts o;

	assert_int_equal(parse(&o, "--workloads=tlb-4k,pt-churn", "--modes=tdp,shadow-lazy",
			       "--reps=2"), 0);
	assert_int_equal(compare_init(c, &o), 0);
	snprintf(c->host_mmu, sizeof(c->host_mmu), "pvm");
	c->date = 0;
	for (unsigned int w = 0; w < 2; w++)
		for (unsigned int r = 0; r < 2; r++) {
			fill(c, 0, w, 0, r, 10000000 + r * 2000000, "0x1", 1000000);
			fill(c, 0, w, 1, r, 30000000 + r * 6000000, w ? lazy_sum : "0x1", 1000000);
		}
}

static void test_rows_and_ratio(void **state)
{
	struct compare c;
	struct compare_row row;
	struct compare_stat s;

	make_compare(&c, "0x1");
	assert_true(compare_time_in_ms(&c));
	assert_true(compare_all_ok(&c));
	compare_row_build(&c, 0, 1, 1, &row);
	/* 30 and 36 ms: median 33; tdp 10 and 12: median 11. */
	assert_int_equal(row.time.n, 2);
	assert_true(fabs(row.time.median - 33) < 1e-9);
	assert_true(fabs(row.time.min - 30) < 1e-9 && fabs(row.time.max - 36) < 1e-9);
	assert_false(row.mismatch);
	assert_true(fabs(row.ratio - 3) < 1e-9);
	compare_row_build(&c, 0, 1, 0, &row);
	assert_true(isnan(row.ratio));  /* tdp itself */
	/* Counters: absent keys count 0, a NULL key sums the section. */
	assert_true(compare_counter(&c, &row, "exits", NULL, &s));
	assert_true(s.median == 16);
	assert_true(compare_counter(&c, &row, "exits", "io", &s) && s.median == 10);
	assert_true(compare_counter(&c, &row, "kvm", "mmu_unsync", &s) && s.median == 0);
	assert_false(compare_counter(&c, &row, "shadow", "trapped_writes", &s));
	compare_row_build(&c, 0, 1, 1, &row);
	assert_true(compare_counter(&c, &row, "shadow", "time_ns", &s) && s.median == 2000000);
	compare_free(&c);
}

static void test_mismatch_refuses_ratio(void **state)
{
	struct compare c;
	struct compare_row row;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	make_compare(&c, "0x2");
	assert_true(compare_checksums_agree(&c, 0, 0));
	assert_false(compare_checksums_agree(&c, 0, 1));
	assert_false(compare_all_ok(&c));
	compare_row_build(&c, 0, 1, 1, &row);
	assert_true(row.mismatch);
	assert_true(isnan(row.ratio));
	compare_row_build(&c, 0, 0, 1, &row);  /* the other workload keeps its ratio */
	assert_false(row.mismatch);
	assert_true(fabs(row.ratio - 3) < 1e-9);

	f = open_memstream(&buf, &len);
	compare_print(f, &c);
	fclose(f);
	assert_non_null(strstr(buf, "checksum mismatch in pt-churn (no ratio):\n"
				    "  0x1 from tdp#1 tdp#2\n"
				    "  0x2 from shadow-lazy#1 shadow-lazy#2\n"));
	assert_null(strstr(buf, "mismatch in tlb-4k"));
	/* The ratio cell of pt-churn says mismatch, tlb-4k's says 3.00x. */
	assert_non_null(strstr(buf, "3.00x"));
	assert_non_null(strstr(buf, "mismatch "));
	free(buf);
	compare_free(&c);
}

static void test_failed_run_and_cycles(void **state)
{
	struct compare c;
	struct compare_row row;
	struct compare_run *run;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	make_compare(&c, "0x1");
	/* One rep of tdp tlb-4k failed: its median is the other rep's. */
	run = compare_run_at(&c, 0, 0, 0, 1);
	json_decref(run->stats);
	*run = (struct compare_run){ .status = 3, .error = "exit status 3" };
	compare_row_build(&c, 0, 0, 0, &row);
	assert_int_equal(row.time.n, 1);
	assert_true(row.time.median == 10);
	assert_false(compare_all_ok(&c));
	f = open_memstream(&buf, &len);
	compare_print(f, &c);
	fclose(f);
	assert_non_null(strstr(buf, "runs"));
	assert_non_null(strstr(buf, "1/2"));
	free(buf);
	/* A run that did not know its TSC rate turns every time into Mcycles. */
	run = compare_run_at(&c, 0, 1, 1, 0);
	run->tsc_khz = 0;
	assert_false(compare_time_in_ms(&c));
	compare_row_build(&c, 0, 1, 1, &row);
	assert_true(fabs(row.time.median - 33) < 1e-9);  /* 30 and 36 Mcycles */
	compare_free(&c);
}

static void test_print(void **state)
{
	struct compare c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	make_compare(&c, "0x1");
	f = open_memstream(&buf, &len);
	compare_print(f, &c);
	fclose(f);
	assert_non_null(strstr(buf, "host MMU pvm, 1 GiB of RAM, 2 reps"));
	assert_non_null(strstr(buf, "tdp (host: pvm)"));
	assert_null(strstr(buf, "EPT"));
	assert_non_null(strstr(buf, "shadow-lazy"));
	assert_non_null(strstr(buf, "3.00x"));
	assert_non_null(strstr(buf, "trapped writes"));
	assert_non_null(strstr(buf, "pf_fixed"));
	assert_null(strstr(buf, "mmu_unsync"));  /* no run reported it */
	assert_null(strstr(buf, "runs"));        /* every run succeeded */
	free(buf);
	compare_free(&c);
}

/* ---- CSV, JSON, SVG ------------------------------------------------------ */

static unsigned int count(const char *s, const char *what)
{
	unsigned int n = 0;

	for (; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

static void test_csv(void **state)
{
	struct compare c;
	char *buf = NULL, *line, *save;
	size_t len = 0;
	unsigned int lines = 0, commas = 0;
	FILE *f;

	make_compare(&c, "0x1");
	f = open_memstream(&buf, &len);
	assert_int_equal(compare_write_csv(f, &c), 0);
	fclose(f);
	assert_true(!strncmp(buf, "layout,workload,mode,rep,status,ok,", 35));
	assert_non_null(strstr(buf, ",kvm.pf_fixed"));
	assert_non_null(strstr(buf, ",kvm.pf_guest"));
	assert_non_null(strstr(buf, ",shadow.time_ns"));
	assert_non_null(strstr(buf, ",exits.hlt"));
	assert_non_null(strstr(buf, "\nsplit,pt-churn,shadow-lazy,2,0,1,1000000,36000000,36.000000,1000,0x1,"));
	/* A header and one line per run (2 workloads x 2 modes x 2 reps), all
	 * with the same number of fields. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!lines)
			commas = count(line, ",");
		else
			assert_int_equal(count(line, ","), commas);
		lines++;
	}
	assert_int_equal(lines, 1 + 8);
	free(buf);
	compare_free(&c);
}

static void test_json(void **state)
{
	struct compare c;
	json_t *j, *runs, *summary;
	char *dump;
	size_t i;
	json_t *s;
	unsigned int with_ratio = 0;

	make_compare(&c, "0x2");
	j = compare_to_json(&c);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "minivmm_compare")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "host_mmu")), "pvm");
	assert_string_equal(json_string_value(json_object_get(j, "time_unit")), "ms");
	assert_false(json_is_true(json_object_get(j, "ok")));
	runs = json_object_get(j, "runs");
	summary = json_object_get(j, "summary");
	assert_int_equal(json_array_size(runs), 8);
	assert_int_equal(json_array_size(summary), 4);
	/* Only tlb-4k's shadow-lazy row has a ratio: pt-churn's checksums disagree. */
	json_array_foreach(summary, i, s)
		with_ratio += json_is_real(json_object_get(s, "ratio"));
	assert_int_equal(with_ratio, 1);
	assert_int_equal(json_array_size(json_object_get(j, "ratios")), 1);
	assert_false(json_is_true(json_object_get(json_array_get(json_object_get(j, "checksums"), 1),
						  "agree")));
	assert_true(json_real_value(json_object_get(json_object_get(
		json_array_get(summary, 1), "counters"), "kvm.pf_guest")) == 4);
	dump = json_dumps(j, 0);  /* fails on a NaN, which jansson refuses */
	assert_non_null(dump);
	free(dump);
	json_decref(j);
	compare_free(&c);
}

/* Tags balance: every opening tag is closed or self-closing. */
static void assert_balanced(const char *svg)
{
	unsigned int open = 0, close = 0, selfclose = 0;
	int depth = 0;

	for (const char *p = svg; *p; p++) {
		if (*p != '<')
			continue;
		if (p[1] == '?')
			continue;
		if (p[1] == '/') {
			close++;
			depth--;
		} else {
			const char *end = strchr(p, '>');

			assert_non_null(end);
			if (end[-1] == '/') {
				selfclose++;
			} else {
				open++;
				depth++;
			}
		}
		assert_true(depth >= 0);
	}
	assert_int_equal(open, close);
	assert_int_equal(depth, 0);
	assert_true(selfclose > 0);
}

static void test_svg(void **state)
{
	struct compare c;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	make_compare(&c, "0x2");
	/* Text that must be escaped. */
	snprintf(c.host_mmu, sizeof(c.host_mmu), "a<b&c\"d'e>");
	f = open_memstream(&buf, &len);
	assert_int_equal(compare_write_svg(f, &c), 0);
	fclose(f);
	assert_true(!strncmp(buf, "<?xml", 5));
	assert_non_null(strstr(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(buf, "</svg>\n"));
	assert_null(strstr(buf, "a<b"));
	assert_non_null(strstr(buf, "a&lt;b&amp;c&quot;d&apos;e&gt;"));
	assert_non_null(strstr(buf, "checksum mismatch"));
	assert_non_null(strstr(buf, "3.00x tdp"));
	/* Four bars with a whisker each. */
	assert_int_equal(count(buf, "<path "), 4);
	assert_balanced(buf);
	free(buf);
	compare_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_option_messages),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_parse_stats),
		cmocka_unit_test(test_rows_and_ratio),
		cmocka_unit_test(test_mismatch_refuses_ratio),
		cmocka_unit_test(test_failed_run_and_cycles),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_svg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
