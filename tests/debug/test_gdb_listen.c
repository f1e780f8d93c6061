// SPDX-License-Identifier: MIT
/* The -gdb spellings: what is accepted, what is refused and why. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "debug/gdb_listen.h"

static void test_accepted(void **state)
{
	struct gdb_listen l;
	char why[160];

	assert_int_equal(gdb_listen_parse(GDB_DEFAULT_LISTEN, &l, why, sizeof(why)), 0);
	assert_false(l.is_unix);
	assert_string_equal(l.host, "127.0.0.1");
	assert_string_equal(l.port, "1234");
	assert_int_equal(gdb_listen_parse("tcp::0", &l, why, sizeof(why)), 0);
	assert_string_equal(l.host, "127.0.0.1");	/* empty host: loopback */
	assert_string_equal(l.port, "0");
	assert_int_equal(gdb_listen_parse("tcp:0.0.0.0:65535", &l, why, sizeof(why)), 0);
	assert_string_equal(l.host, "0.0.0.0");
	assert_int_equal(gdb_listen_parse("tcp:localhost:9", &l, why, sizeof(why)), 0);
	assert_string_equal(l.host, "localhost");
	assert_int_equal(gdb_listen_parse("tcp:[::1]:1234", &l, why, sizeof(why)), 0);
	assert_string_equal(l.host, "::1");
	assert_int_equal(gdb_listen_parse("unix:/tmp/x.sock", &l, why, sizeof(why)), 0);
	assert_true(l.is_unix);
	assert_string_equal(l.path, "/tmp/x.sock");
}

static void refused(const char *spec, const char *reason)
{
	struct gdb_listen l;
	char why[160] = "";

	assert_int_equal(gdb_listen_parse(spec, &l, why, sizeof(why)), -EINVAL);
	if (!strstr(why, reason))
		fail_msg("'%s': '%s' does not say '%s'", spec, why, reason);
}

static void test_refused(void **state)
{
	char longpath[200];

	refused("1234", "is not tcp:HOST:PORT or unix:PATH");
	refused("udp::1234", "is not tcp:HOST:PORT");
	refused("tcp:1234", "expected tcp:HOST:PORT");
	refused("tcp:host:", "is not a port number");
	refused("tcp:host:65536", "is not a port number");
	refused("tcp:host:-1", "is not a port number");
	refused("tcp:host:+1", "is not a port number");
	refused("tcp:host:12x", "is not a port number");
	refused("tcp:[::1:1234", "expected [ADDRESS]:PORT");
	refused("tcp:[::1]1234", "expected [ADDRESS]:PORT");
	refused("unix:", "expected unix:PATH");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = 'u', longpath[1] = 'n', longpath[2] = 'i', longpath[3] = 'x';
	longpath[4] = ':';
	longpath[sizeof(longpath) - 1] = 0;
	refused(longpath, "too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
