/* Unit tests: duration parsing and canonical formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "duration.h"

static uint64_t
ok(const char *s)
{
	const char *why = NULL;
	uint64_t ms = 12345;

	if (jw_duration_parse(s, &ms, &why) != 0)
		fail_msg("\"%s\" rejected: %s", s, why);
	return ms;
}

static void
bad(const char *s)
{
	const char *why = NULL;
	uint64_t ms;

	if (jw_duration_parse(s, &ms, &why) == 0)
		fail_msg("\"%s\" accepted as %llu ms", s,
		    (unsigned long long)ms);
	assert_non_null(why);
}

static void
test_contract_examples(void **state)
{
	(void)state;
	assert_int_equal(ok("250ms"), 250);
	assert_int_equal(ok("30s"), 30000);
	assert_int_equal(ok("5m"), 300000);
	assert_int_equal(ok("2h"), 7200000);
	assert_int_equal(ok("1h30m"), 5400000);
	assert_int_equal(ok("1.5s"), 1500);
	assert_int_equal(ok("10"), 10000); /* bare number: seconds */
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("0.25"), 250);
}

static void
test_exact_decimals(void **state)
{
	(void)state;
	/* 1.1 * 1000 is not 1100 in binary floating point. */
	assert_int_equal(ok("1.1s"), 1100);
	assert_int_equal(ok("0.001s"), 1);
	assert_int_equal(ok("1.5m"), 90000);
	assert_int_equal(ok("0.5h"), 1800000);
	assert_int_equal(ok("1h2m3.5s"), 3723500);
	assert_int_equal(ok("1m1m"), 120000);
}

static void
test_rejects(void **state)
{
	(void)state;
	bad("");
	bad("s");
	bad("5x");
	bad("-1s");
	bad("1.s");
	bad(".5s");
	bad("1h30");  /* bare number after a unit: a typo */
	bad("1.5ms"); /* finer than a millisecond */
	bad("0.0001s");
	bad(" 5s");
	bad("5s ");
	bad("5 s");
	bad("1e3");
	bad("99999999999999999999999s");
	bad("3660d");
	bad("100000h"); /* more than ten years */
}

static void
test_format_roundtrip(void **state)
{
	static const uint64_t v[] = {
		0,
		1,
		250,
		999,
		1000,
		1001,
		1500,
		59999,
		60000,
		61000,
		3600000,
		3723500,
		5400000,
		86400000,
		JW_DURATION_MAX_MS,
	};
	char buf[JW_DURATION_BUFSZ];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		jw_duration_format(v[i], buf, sizeof(buf));
		assert_int_equal(ok(buf), v[i]);
	}
	jw_duration_format(5400000, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m");
	jw_duration_format(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1.5s");
	jw_duration_format(250, buf, sizeof(buf));
	assert_string_equal(buf, "250ms");
	jw_duration_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	jw_duration_format(3600000, buf, sizeof(buf));
	assert_string_equal(buf, "1h");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_examples),
		cmocka_unit_test(test_exact_decimals),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
