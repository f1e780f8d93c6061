// SPDX-License-Identifier: MIT
/* The option table reader: spellings, values, and hostile command lines,
 * with the exact error lines the users of it print. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/log.h"
#include "base/options.h"
#include "base/util.h"

enum { ID_MEM, ID_KERNEL, ID_STATS, ID_HELP, ID_H, ID_EMPTY };

static const struct opt_def defs[] = {
	{ "m", ID_MEM, OPT_ARG_REQUIRED },
	{ "kernel", ID_KERNEL, OPT_ARG_REQUIRED },
	{ "stats", ID_STATS, OPT_ARG_OPTIONAL },
	{ "help", ID_HELP, OPT_ARG_NONE },
	{ "h", ID_H, OPT_ARG_NONE },
	/* Against the rules (names are non-empty): must never match. */
	{ "", ID_EMPTY, OPT_ARG_OPTIONAL },
};

static const struct opt_table table = {
	.defs = defs, .nr_defs = ARRAY_SIZE(defs),
	.prefix = "", .help = "--help",
};

static const struct opt_table prefixed = {
	.defs = defs, .nr_defs = ARRAY_SIZE(defs),
	.prefix = "sub: ", .help = "minivmm sub --help",
};

/* What the code under test logged: the log sink is a fresh memstream
 * for each opt_next call. */
static char *logged;
static size_t logged_len;
static FILE *log_file;

static void log_close(void)
{
	log_set_sink(NULL);
	if (log_file)
		fclose(log_file);
	free(logged);
	log_file = NULL;
	logged = NULL;
}

static void log_clear(void)
{
	log_close();
	log_file = open_memstream(&logged, &logged_len);
	assert_non_null(log_file);
	log_set_sink(log_file);
}

static int setup(void **state)
{
	(void)state;
	log_clear();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_close();
	return 0;
}

static const char *log_text(void)
{
	fflush(log_file);
	return logged && logged_len ? logged : "";
}

/* next(&t, i, "a", "b") runs opt_next on { "prog", "a", "b", NULL } at index i. */
#define ARGV(...) ((char *[]){ "prog", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "prog", __VA_ARGS__ }) / sizeof(char *)))

struct result {
	int ret, i;
	const struct opt_def *def;
	const char *value;
};

static struct result next_at(const struct opt_table *t, int argc, char **argv, int i)
{
	struct result r = { .i = i };

	log_clear();
	r.ret = opt_next(t, argc, argv, &r.i, &r.def, &r.value);
	return r;
}

#define next(t, ...) next_at((t), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), 1)

static void assert_option(struct result r, int id, const char *value, int i)
{
	assert_int_equal(r.ret, 1);
	assert_non_null(r.def);
	assert_int_equal(r.def->id, id);
	if (value)
		assert_string_equal(r.value, value);
	else
		assert_null(r.value);
	assert_int_equal(r.i, i);
	assert_string_equal(log_text(), "");
}

static void assert_error(struct result r, const char *line)
{
	char want[256];

	assert_int_equal(r.ret, -EINVAL);
	snprintf(want, sizeof(want), "minivmm: %s\n", line);
	assert_string_equal(log_text(), want);
}

static void test_find(void **state)
{
	(void)state;
	assert_int_equal(opt_find(&table, "kernel", 6)->id, ID_KERNEL);
	assert_int_equal(opt_find(&table, "kernel=x", 6)->id, ID_KERNEL);
	assert_int_equal(opt_find(&table, "h", 1)->id, ID_H);
	assert_int_equal(opt_find(&table, "help", 4)->id, ID_HELP);
	assert_null(opt_find(&table, "kern", 4));     /* no prefix matching */
	assert_null(opt_find(&table, "kernelx", 7));
	assert_null(opt_find(&table, "KERNEL", 6));   /* case-sensitive */
	assert_null(opt_find(&table, "", 0));         /* the empty name never matches */
	assert_null(opt_find(&table, "x", 0));
}

static void test_spellings(void **state)
{
	(void)state;
	assert_option(next(&table, "--kernel", "k.elf"), ID_KERNEL, "k.elf", 2);
	assert_option(next(&table, "-kernel", "k.elf"), ID_KERNEL, "k.elf", 2);
	assert_option(next(&table, "--kernel=k.elf"), ID_KERNEL, "k.elf", 1);
	assert_option(next(&table, "-kernel=k.elf", "next"), ID_KERNEL, "k.elf", 1);
	assert_option(next(&table, "-m", "1G"), ID_MEM, "1G", 2);
	assert_option(next(&table, "--m=1G"), ID_MEM, "1G", 1);
	assert_option(next(&table, "-h"), ID_H, NULL, 1);
	assert_option(next(&table, "--help", "stray"), ID_HELP, NULL, 1);
	assert_option(next(&table, "-help"), ID_HELP, NULL, 1);
}

static void test_values(void **state)
{
	(void)state;
	/* "=" inside a value belongs to it; a value may start with a dash or be empty. */
	assert_option(next(&table, "--kernel=a=b=c"), ID_KERNEL, "a=b=c", 1);
	assert_option(next(&table, "--kernel", "--help"), ID_KERNEL, "--help", 2);
	assert_option(next(&table, "--kernel", "-"), ID_KERNEL, "-", 2);
	assert_option(next(&table, "--kernel", ""), ID_KERNEL, "", 2);
	assert_option(next(&table, "--kernel="), ID_KERNEL, "", 1);
	/* An optional value attaches only with "=". */
	assert_option(next(&table, "--stats", "json"), ID_STATS, NULL, 1);
	assert_option(next(&table, "--stats"), ID_STATS, NULL, 1);
	assert_option(next(&table, "--stats=json"), ID_STATS, "json", 1);
	assert_option(next(&table, "-stats="), ID_STATS, "", 1);
}

static void test_not_options(void **state)
{
	struct result r;

	(void)state;
	r = next(&table, "file.elf");
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.i, 1);
	assert_null(r.def);
	assert_null(r.value);
	assert_int_equal(next(&table, "").ret, 0);
	assert_int_equal(next(&table, "-").ret, 0);
	assert_int_equal(next(&table, "m=1G").ret, 0);
	assert_string_equal(log_text(), "");
}

static void test_unknown(void **state)
{
	(void)state;
	assert_error(next(&table, "--frobnicate"), "unknown option '--frobnicate' (see --help)");
	assert_error(next(&table, "--"), "unknown option '--' (see --help)");
	assert_error(next(&table, "--="), "unknown option '--=' (see --help)");
	assert_error(next(&table, "--=x"), "unknown option '--=x' (see --help)");
	assert_error(next(&table, "-=x"), "unknown option '-=x' (see --help)");
	assert_error(next(&table, "---m", "1G"), "unknown option '---m' (see --help)");
	assert_error(next(&table, "--kern", "k"), "unknown option '--kern' (see --help)");
	assert_error(next(&table, "--KERNEL=k"), "unknown option '--KERNEL=k' (see --help)");
	assert_error(next(&table, "-x"), "unknown option '-x' (see --help)");
	assert_error(next(&prefixed, "--x=1"),
		     "sub: unknown option '--x=1' (see minivmm sub --help)");
}

static void test_value_refused(void **state)
{
	(void)state;
	assert_error(next(&table, "--help=me"), "option '--help' takes no value");
	assert_error(next(&table, "-h="), "option '-h' takes no value");
	assert_error(next(&table, "-h=a=b"), "option '-h' takes no value");
	assert_error(next(&prefixed, "--help=1"), "sub: option '--help' takes no value");
}

static void test_missing_value(void **state)
{
	struct result r;

	(void)state;
	r = next(&table, "--kernel");
	assert_error(r, "option '--kernel' needs a value");
	assert_int_equal(r.i, 1); /* nothing read past argc */
	assert_error(next(&table, "-m"), "option '-m' needs a value");
	assert_error(next_at(&table, ARGC("-m", "1G", "-kernel"), ARGV("-m", "1G", "-kernel"), 3),
		     "option '-kernel' needs a value");
	assert_error(next(&prefixed, "-m"), "sub: option '-m' needs a value");
}

static void test_long_names(void **state)
{
	size_t n = 64 * 1024;
	char *arg = malloc(n + 16);
	char *argv[3] = { "prog", arg, NULL };
	struct result r;

	(void)state;
	assert_non_null(arg);
	/* A name of 64 KiB: unknown, reported on one (truncated) line. */
	memset(arg, 'k', n);
	memcpy(arg, "--", 2);
	arg[n] = '\0';
	r = next_at(&table, 2, argv, 1);
	assert_int_equal(r.ret, -EINVAL);
	assert_non_null(strstr(log_text(), "minivmm: unknown option '--kkkk"));
	assert_ptr_equal(strchr(log_text(), '\n'), log_text() + strlen(log_text()) - 1);
	/* A known name with a huge value, and a huge name with "=". */
	memcpy(arg, "--kernel=", 9);
	assert_option(next_at(&table, 2, argv, 1), ID_KERNEL, arg + 9, 1);
	memset(arg, 'h', n);
	memcpy(arg, "--", 2);
	arg[n / 2] = '=';
	assert_int_equal(next_at(&table, 2, argv, 1).ret, -EINVAL);
	/* A known flag followed by a huge value is still refused, named short. */
	memcpy(arg, "--help=", 7);
	assert_error(next_at(&table, 2, argv, 1), "option '--help' takes no value");
	free(arg);
}

static void test_walk(void **state)
{
	char **argv = ARGV("-m", "1G", "pos", "--stats", "--kernel=k", "-kernel", "-m", "-h");
	int argc = ARGC("-m", "1G", "pos", "--stats", "--kernel=k", "-kernel", "-m", "-h");
	int ids[8], nr = 0, positional = 0;

	(void)state;
	for (int i = 1; i < argc; i++) {
		const struct opt_def *def;
		const char *value;
		int ret = opt_next(&table, argc, argv, &i, &def, &value);

		assert_true(ret >= 0);
		if (ret == 0)
			positional++;
		else
			ids[nr++] = def->id;
	}
	assert_int_equal(positional, 1);
	assert_int_equal(nr, 5);
	assert_int_equal(ids[0], ID_MEM);
	assert_int_equal(ids[1], ID_STATS);
	assert_int_equal(ids[2], ID_KERNEL);
	assert_int_equal(ids[3], ID_KERNEL); /* its value is "-m" */
	assert_int_equal(ids[4], ID_H);
}

static void test_unexpected(void **state)
{
	(void)state;
	log_clear();
	assert_int_equal(opt_unexpected(&table, "stray"), -EINVAL);
	assert_string_equal(log_text(), "minivmm: unexpected argument 'stray' (see --help)\n");
	log_clear();
	assert_int_equal(opt_unexpected(&prefixed, ""), -EINVAL);
	assert_string_equal(log_text(),
			    "minivmm: sub: unexpected argument '' (see minivmm sub --help)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spellings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unexpected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
