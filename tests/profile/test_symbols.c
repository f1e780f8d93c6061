// SPDX-License-Identifier: MIT
/* Guest symbols (src/profile/symbols.c): a System.map, this test's own ELF
 * file, and what is neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "profile/symbols.h"

static void test_system_map(void **state)
{
	static const char map[] =
		"ffffffff81000000 T _stext\n"
		"ffffffff81000100 t helper\n"
		"ffffffff81001000 D some_data\n"        /* not text: skipped */
		"ffffffff81002000 W weak_fn\r\n"
		"0000000000000000 A absolute\n"          /* address 0: skipped */
		"garbage line\n"
		"ffffffff81000050 T middle\n";           /* out of order */
	struct symbols s;
	const struct symbol *sym;

	(void)state;
	assert_int_equal(symbols_parse((const uint8_t *)map, sizeof(map) - 1, &s), 0);
	assert_int_equal(s.n, 4);
	sym = symbols_find(&s, 0xffffffff81000010);
	assert_non_null(sym);
	assert_string_equal(sym->name, "_stext");
	assert_string_equal(symbols_find(&s, 0xffffffff81000050)->name, "middle");
	assert_string_equal(symbols_find(&s, 0xffffffff81000fff)->name, "helper");
	assert_string_equal(symbols_find(&s, 0xffffffff81002004)->name, "weak_fn");
	assert_null(symbols_find(&s, 0xffffffff80ffffff));      /* below all */
	assert_null(symbols_find(&s, 0xffffffff81002000 + (2u << 20))); /* too far */
	symbols_free(&s);
}

static void test_not_symbols(void **state)
{
	static const char text[] = "hello world\nno symbols here\n";
	static const uint8_t elf_header_only[64] = { 0x7F, 'E', 'L', 'F', 2 };
	struct symbols s;

	(void)state;
	assert_int_equal(symbols_parse((const uint8_t *)text, sizeof(text) - 1, &s), -EINVAL);
	assert_int_equal(symbols_parse(elf_header_only, sizeof(elf_header_only), &s), -EINVAL);
	assert_int_equal(symbols_parse((const uint8_t *)"", 0, &s), -EINVAL);
	assert_true(symbols_load("/nonexistent/vmlinux", &s) < 0);
}

/* The test binary is an ELF with a symbol table: its own function shows
 * up with its size (link-time addresses: PIE offsets do not matter). */
static void test_own_elf(void **state)
{
	struct symbols s;
	const struct symbol *me = NULL;

	(void)state;
	assert_int_equal(symbols_load("/proc/self/exe", &s), 0);
	for (size_t i = 0; i < s.n; i++)
		if (!strcmp(s.v[i].name, "test_own_elf"))
			me = &s.v[i];
	assert_non_null(me);
	assert_true(me->size > 0);
	assert_ptr_equal(symbols_find(&s, me->addr + me->size / 2), me);
	assert_true(symbols_find(&s, me->addr + me->size) != me);
	symbols_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_map),
		cmocka_unit_test(test_not_symbols),
		cmocka_unit_test(test_own_elf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
