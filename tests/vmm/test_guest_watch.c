// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/guest_watch.h"

static const char stock[] =
	"Run /init as init process\r\n"
	"init[1]: segfault at ffffffff81200040 ip ffffffff81200040 sp 00007ffc2a5a6870 error 15\r\n"
	"Kernel panic - not syncing: Attempted to kill init!\r\n";

static void test_pattern(void **state)
{
	assert_true(guest_watch_is_syscall_fault(
		"init[1]: segfault at ffffffff81200040 ip ffffffff81200040 sp 0 error 15"));
	/* An ordinary user-space crash is the guest's business. */
	assert_false(guest_watch_is_syscall_fault(
		"sh[42]: segfault at 0 ip 0000000000401000 sp 00007ffc error 4"));
	assert_false(guest_watch_is_syscall_fault(
		"init[1]: segfault at ffffffff81200040 ip ffffffff81200044 sp 0"));
	assert_false(guest_watch_is_syscall_fault("segfault at"));
	assert_false(guest_watch_is_syscall_fault(""));
}

static void test_feed_reports_once_on_pvm(void **state)
{
	struct guest_watch w = { .host_is_pvm = true };
	const uint8_t *b = (const uint8_t *)stock;
	bool hit = false;

	/* Byte by byte, as the UART delivers it. */
	for (size_t i = 0; i < sizeof(stock) - 1; i++)
		hit |= guest_watch_feed(&w, b + i, 1);
	assert_true(hit);
	assert_false(guest_watch_feed(&w, b, sizeof(stock) - 1)); /* only once */
}

static void test_feed_silent_elsewhere(void **state)
{
	struct guest_watch w = { .host_is_pvm = false };
	char longline[1000];

	assert_false(guest_watch_feed(&w, (const uint8_t *)stock, sizeof(stock) - 1));
	/* Overlong lines are cut, never overflow. */
	memset(longline, 'x', sizeof(longline));
	w.host_is_pvm = true;
	assert_false(guest_watch_feed(&w, (const uint8_t *)longline, sizeof(longline)));
	assert_true(w.len < sizeof(w.line));
}

static void test_phases(void **state)
{
	static const char boot[] =
		"early junk\r\n"
		"[    0.000000] Linux version 6.1.0 (gcc) #1\r\n"
		"some kernel line mentioning Linux version again\r\n"
		"Run /init as init process\r\n"
		"Linux version in user space changes nothing\r\n";
	struct guest_watch w = { .linux_phases = true };
	enum boot_phase seen[sizeof(boot)];

	assert_int_equal(guest_watch_line_phase("Linux version 6.1.192-minivmm"), BOOT_PHASE_KERNEL);
	assert_int_equal(guest_watch_line_phase("Run /sbin/init as init process"), BOOT_PHASE_INIT);
	assert_int_equal(guest_watch_line_phase("Run /init"), -1);
	assert_int_equal(guest_watch_line_phase("Linux"), -1);
	assert_string_equal(boot_phase_name(BOOT_PHASE_EARLY), "early");
	assert_string_equal(boot_phase_name(BOOT_PHASE_INIT), "init");
	/* Byte by byte: each phase opens at the end of its line, never goes back. */
	for (size_t i = 0; i < sizeof(boot) - 1; i++) {
		guest_watch_feed(&w, (const uint8_t *)boot + i, 1);
		seen[i] = w.phase;
	}
	assert_int_equal(seen[strlen("early junk\r\n") + 5], BOOT_PHASE_EARLY);
	assert_int_equal(seen[strstr(boot, "some") - boot], BOOT_PHASE_KERNEL);
	assert_int_equal(w.phase, BOOT_PHASE_INIT);
	/* Not a Linux boot: no phases. */
	w = (struct guest_watch){ .linux_phases = false };
	guest_watch_feed(&w, (const uint8_t *)boot, sizeof(boot) - 1);
	assert_int_equal(w.phase, BOOT_PHASE_EARLY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_feed_reports_once_on_pvm),
		cmocka_unit_test(test_feed_silent_elsewhere),
		cmocka_unit_test(test_phases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
