// SPDX-License-Identifier: MIT
/*
 * --stats formatting without KVM: the exit-counter table, the exit and KVM
 * statistics as JSON (with and without a base to subtract), and summing
 * per-vCPU KVM statistics, all from hand-made counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <linux/kvm.h>

#include "cpu/emulate.h"
#include "cpu/exit.h"
#include "report/stats.h"

/* ---- stats_print_exits -------------------------------------------------- */

/* What stats_print_exits writes, as a malloc'd string. */
static char *print_exits(const char *label, const struct exit_stats *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	stats_print_exits(out, label, st);
	assert_int_equal(fclose(out), 0);
	assert_non_null(text);
	return text;
}

static void test_print_exits_all_zero(void **state)
{
	struct exit_stats st = { 0 };
	char *text = print_exits("vCPU 0", &st);

	/* Only the heading: no reason, access or emulation lines. */
	assert_string_equal(text, "  vCPU 0 exits seen by minivmm: 0\n");
	free(text);
}

static void test_print_exits_rows(void **state)
{
	struct exit_stats st = { 0 };
	char *text;

	st.by_reason[KVM_EXIT_HLT] = 7;
	st.by_reason[KVM_EXIT_IO] = 1000;
	st.by_reason[KVM_EXIT_MMIO] = 3;
	st.pio_accesses = 4096;  /* rep I/O: more accesses than exits */
	st.mmio_accesses = 3;
	st.unemulated[UNEMULATED_INT3] = 2;
	st.unemulated[UNEMULATED_POPCNT] = 1;
	text = print_exits("vCPU 1", &st);
	/* Reasons in KVM's order, names padded to one column. */
	assert_string_equal(text,
		"  vCPU 1 exits seen by minivmm: 1010\n"
		"    io                               1000\n"
		"    hlt                              7\n"
		"    mmio                             3\n"
		"    port I/O accesses                4096\n"
		"    MMIO accesses                    3\n"
		"    int3 -> #BP injected             2\n"
		"    popcnt -> computed by minivmm    1\n");
	free(text);
}

static void test_print_exits_unnamed_reason(void **state)
{
	struct exit_stats st = { 0 };
	char *text;

	/* A reason minivmm has no name for is counted, as "other". */
	st.by_reason[EXIT_REASON_MAX - 1] = 5;
	st.by_reason[KVM_EXIT_SHUTDOWN] = 1;
	text = print_exits("all", &st);
	assert_string_equal(text,
		"  all exits seen by minivmm: 6\n"
		"    shutdown                         1\n"
		"    other                            5\n");
	free(text);
}

static void test_print_exits_large_counts(void **state)
{
	struct exit_stats st = { 0 };
	char *text;

	st.by_reason[KVM_EXIT_IO] = UINT64_MAX - 1;
	st.by_reason[KVM_EXIT_HLT] = 1;
	text = print_exits("big", &st);
	assert_non_null(strstr(text, "exits seen by minivmm: 18446744073709551615\n"));
	assert_non_null(strstr(text, "    io                               18446744073709551614\n"));
	free(text);
}

/* ---- stats_exits_json --------------------------------------------------- */

static json_int_t int_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!v || !json_is_integer(v))
		fail_msg("no integer \"%s\" in the JSON object", key);
	return json_integer_value(v);
}

static void test_exits_json(void **state)
{
	struct exit_stats st = { 0 };
	json_t *o;

	st.by_reason[KVM_EXIT_IO] = 12;
	st.by_reason[KVM_EXIT_HLT] = 1;
	st.pio_accesses = 99;  /* not an exit reason: not in this object */
	o = stats_exits_json(&st, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(int_of(o, "io"), 12);
	assert_int_equal(int_of(o, "hlt"), 1);
	json_decref(o);

	memset(&st, 0, sizeof(st));
	o = stats_exits_json(&st, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
}

static void test_exits_json_minus_base(void **state)
{
	struct exit_stats base = { 0 }, st = { 0 };
	json_t *o;

	base.by_reason[KVM_EXIT_IO] = 10;
	base.by_reason[KVM_EXIT_HLT] = 4;
	base.by_reason[KVM_EXIT_MMIO] = 2;
	st.by_reason[KVM_EXIT_IO] = 25;
	st.by_reason[KVM_EXIT_HLT] = 4;   /* unchanged: left out */
	st.by_reason[KVM_EXIT_MMIO] = 2;  /* unchanged: left out */
	st.by_reason[KVM_EXIT_SHUTDOWN] = 1;
	o = stats_exits_json(&st, &base);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(int_of(o, "io"), 15);
	assert_int_equal(int_of(o, "shutdown"), 1);
	assert_null(json_object_get(o, "hlt"));
	json_decref(o);
}

/* ---- KVM statistics: hand-made kvm_stat_values --------------------------- */

#define KV_MAX 8

struct kv {
	struct kvm_stat_values v;
	char names[KV_MAX][64];
	uint64_t values[KV_MAX];
	bool cumulative[KV_MAX];
};

static void kv_add(struct kv *k, const char *name, uint64_t value, bool cumulative)
{
	assert_true(k->v.n < KV_MAX);
	k->v.names = k->names;
	k->v.values = k->values;
	k->v.cumulative = k->cumulative;
	snprintf(k->names[k->v.n], sizeof(k->names[0]), "%s", name);
	k->values[k->v.n] = value;
	k->cumulative[k->v.n] = cumulative;
	k->v.n++;
}

static void test_kvm_json_no_base(void **state)
{
	struct kv k = { 0 };
	json_t *o;

	kv_add(&k, "exits", 500, true);
	kv_add(&k, "pages_4k", 0, false);
	kv_add(&k, "max_mmu_page_hash_collisions", 3, false);
	o = stats_kvm_json(&k.v, NULL);
	assert_non_null(o);
	/* Without a base every value is there, zeros included. */
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(int_of(o, "exits"), 500);
	assert_int_equal(int_of(o, "pages_4k"), 0);
	assert_int_equal(int_of(o, "max_mmu_page_hash_collisions"), 3);
	json_decref(o);
}

static void test_kvm_json_minus_base(void **state)
{
	struct kv base = { 0 }, k = { 0 };
	json_t *o;

	kv_add(&base, "exits", 100, true);
	kv_add(&base, "halt_exits", 7, true);
	kv_add(&base, "pages_4k", 50, false);
	kv_add(&k, "exits", 160, true);
	kv_add(&k, "halt_exits", 7, true);   /* counter unchanged: left out */
	kv_add(&k, "pages_4k", 20, false);   /* a level, not a counter: as is */
	kv_add(&k, "io_exits", 9, true);     /* not in the base: all of it */
	o = stats_kvm_json(&k.v, &base.v);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(int_of(o, "exits"), 60);
	assert_int_equal(int_of(o, "pages_4k"), 20);
	assert_int_equal(int_of(o, "io_exits"), 9);
	assert_null(json_object_get(o, "halt_exits"));
	json_decref(o);
}

static void test_kvm_json_base_other_order(void **state)
{
	struct kv base = { 0 }, k = { 0 };
	json_t *o;

	/* Matched by name, not by position. */
	kv_add(&base, "b", 5, true);
	kv_add(&base, "a", 1, true);
	kv_add(&k, "a", 11, true);
	kv_add(&k, "b", 15, true);
	o = stats_kvm_json(&k.v, &base.v);
	assert_non_null(o);
	assert_int_equal(int_of(o, "a"), 10);
	assert_int_equal(int_of(o, "b"), 10);
	json_decref(o);

	/* An empty base subtracts nothing. */
	memset(&base, 0, sizeof(base));
	o = stats_kvm_json(&k.v, &base.v);
	assert_non_null(o);
	assert_int_equal(int_of(o, "a"), 11);
	assert_int_equal(int_of(o, "b"), 15);
	json_decref(o);
}

static void test_kvm_accumulate_copies_first(void **state)
{
	struct kvm_stat_values sum = { 0 };
	struct kv k = { 0 };

	kv_add(&k, "exits", 10, true);
	kv_add(&k, "pages_4k", 3, false);
	assert_int_equal(stats_kvm_accumulate(&sum, &k.v), 0);
	assert_int_equal(sum.n, 2);
	/* A copy: changing the source afterwards does not change the sum. */
	k.values[0] = 999;
	snprintf(k.names[1], sizeof(k.names[1]), "renamed");
	assert_string_equal(sum.names[0], "exits");
	assert_string_equal(sum.names[1], "pages_4k");
	assert_int_equal(sum.values[0], 10);
	assert_int_equal(sum.values[1], 3);
	assert_true(sum.cumulative[0]);
	assert_false(sum.cumulative[1]);
	stats_kvm_values_free(&sum);
	assert_int_equal(sum.n, 0);
	assert_null(sum.names);
}

static void test_kvm_accumulate_sums_vcpus(void **state)
{
	struct kvm_stat_values sum = { 0 };
	struct kv cpu0 = { 0 }, cpu1 = { 0 }, cpu2 = { 0 };

	kv_add(&cpu0, "exits", 10, true);
	kv_add(&cpu0, "halt_exits", 1, true);
	kv_add(&cpu1, "exits", 20, true);
	kv_add(&cpu1, "halt_exits", 2, true);
	kv_add(&cpu2, "exits", 30, true);
	kv_add(&cpu2, "halt_exits", 3, true);
	assert_int_equal(stats_kvm_accumulate(&sum, &cpu0.v), 0);
	assert_int_equal(stats_kvm_accumulate(&sum, &cpu1.v), 0);
	assert_int_equal(stats_kvm_accumulate(&sum, &cpu2.v), 0);
	assert_int_equal(sum.n, 2);
	assert_int_equal(sum.values[0], 60);
	assert_int_equal(sum.values[1], 6);
	/* The sources are untouched. */
	assert_int_equal(cpu0.values[0], 10);
	stats_kvm_values_free(&sum);
}

static void test_kvm_accumulate_mismatch(void **state)
{
	struct kvm_stat_values sum = { 0 };
	struct kv a = { 0 }, b = { 0 };

	kv_add(&a, "exits", 10, true);
	kv_add(&a, "halt_exits", 1, true);
	/* Another layout: a name that differs at its index is not added, and
	 * entries past the sum's are ignored. */
	kv_add(&b, "exits", 5, true);
	kv_add(&b, "io_exits", 100, true);
	kv_add(&b, "extra", 7, true);
	assert_int_equal(stats_kvm_accumulate(&sum, &a.v), 0);
	assert_int_equal(stats_kvm_accumulate(&sum, &b.v), 0);
	assert_int_equal(sum.n, 2);
	assert_int_equal(sum.values[0], 15);
	assert_int_equal(sum.values[1], 1);
	assert_string_equal(sum.names[1], "halt_exits");
	stats_kvm_values_free(&sum);
}

static void test_kvm_accumulate_then_json(void **state)
{
	struct kvm_stat_values sum = { 0 }, base = { 0 };
	struct kv c0 = { 0 }, c1 = { 0 }, b0 = { 0 }, b1 = { 0 };
	json_t *o;

	/* The `minivmm compare` shape: vCPU totals at the end minus at the start. */
	kv_add(&b0, "exits", 3, true);
	kv_add(&b1, "exits", 4, true);
	kv_add(&c0, "exits", 13, true);
	kv_add(&c1, "exits", 24, true);
	assert_int_equal(stats_kvm_accumulate(&base, &b0.v), 0);
	assert_int_equal(stats_kvm_accumulate(&base, &b1.v), 0);
	assert_int_equal(stats_kvm_accumulate(&sum, &c0.v), 0);
	assert_int_equal(stats_kvm_accumulate(&sum, &c1.v), 0);
	o = stats_kvm_json(&sum, &base);
	assert_non_null(o);
	assert_int_equal(int_of(o, "exits"), 30);
	json_decref(o);
	stats_kvm_values_free(&sum);
	stats_kvm_values_free(&base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_print_exits_all_zero),
		cmocka_unit_test(test_print_exits_rows),
		cmocka_unit_test(test_print_exits_unnamed_reason),
		cmocka_unit_test(test_print_exits_large_counts),
		cmocka_unit_test(test_exits_json),
		cmocka_unit_test(test_exits_json_minus_base),
		cmocka_unit_test(test_kvm_json_no_base),
		cmocka_unit_test(test_kvm_json_minus_base),
		cmocka_unit_test(test_kvm_json_base_other_order),
		cmocka_unit_test(test_kvm_accumulate_copies_first),
		cmocka_unit_test(test_kvm_accumulate_sums_vcpus),
		cmocka_unit_test(test_kvm_accumulate_mismatch),
		cmocka_unit_test(test_kvm_accumulate_then_json),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
