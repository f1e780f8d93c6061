// SPDX-License-Identifier: MIT
/* The profiler's bookkeeping and report (src/profile/profile.c) with
 * samples fed by hand: grouping by symbol, ring 3 apart, pages without
 * symbols, the folded file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "profile/profile.h"

static const char map[] = "ffffffff81000000 T hot\n"
			  "ffffffff81000100 T cold\n";

static char *report(const struct profile *p, const struct symbols *s)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	profile_report(p, s, 10, f);
	fclose(f);
	return buf;
}

static void test_report(void **state)
{
	struct profile p;
	struct symbols s;
	char path[] = "/tmp/minivmm-folded-XXXXXX", line[128];
	char *r;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(symbols_parse((const uint8_t *)map, sizeof(map) - 1, &s), 0);
	assert_int_equal(profile_init(&p, 100, NULL, 2), 0);
	for (int i = 0; i < 6; i++)
		profile_sample(&p, 0, 0xffffffff81000010 + (uint64_t)i, 0);
	profile_sample(&p, 1, 0xffffffff81000100, 0);
	profile_sample(&p, 1, 0x401000, 3);
	profile_sample(&p, 1, 0x401010, 3);
	profile_sample(&p, 7, 0, 0); /* no such vCPU: ignored */
	r = report(&p, &s);
	assert_non_null(strstr(r, "100 Hz per vCPU, 9 samples; vCPU 0: 6, vCPU 1: 3"));
	assert_non_null(strstr(r, "ring 0  77.8%, ring 3  22.2%"));
	assert_non_null(strstr(r, "        6  66.7%     0  hot\n"));
	assert_non_null(strstr(r, "        2  22.2%     3  [user]\n"));
	assert_non_null(strstr(r, "        1  11.1%     0  cold\n"));
	assert_true(strstr(r, "hot") < strstr(r, "[user]"));
	/* Without symbols: ring 0 by page. */
	r = report(&p, NULL);
	assert_non_null(strstr(r, "        7  77.8%     0  [page 0xffffffff81000000]\n"));
	assert_non_null(strstr(r, "--profile-symbols"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(profile_write_folded(&p, &s, path), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "ring0;hot 6\n");
	fclose(f);
	unlink(path);
	assert_true(profile_write_folded(&p, &s, "/nonexistent/dir/file") < 0);
	profile_destroy(&p);
	symbols_free(&s);
}

static void test_empty(void **state)
{
	struct profile p;

	(void)state;
	assert_int_equal(profile_init(&p, 1000, NULL, 1), 0);
	assert_non_null(strstr(report(&p, NULL), "no samples"));
	profile_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
