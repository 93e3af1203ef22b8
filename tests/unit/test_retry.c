/* Unit tests: --retry-on parsing and matching, full-jitter backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "retry.h"

static bool
parses(const char *s)
{
	struct jw_retry_on r = { 0 };
	char why[256];
	int rc = jw_retry_on_parse(s, &r, why, sizeof(why));

	jw_retry_on_free(&r);
	return rc == 0;
}

static void
test_parse(void **state)
{
	(void)state;
	assert_true(parses("nonzero"));
	assert_true(parses("attempt-timeout,idle"));
	assert_true(parses(" exit:3 , exit:10-20,signal "));
	assert_true(parses("exit:255"));
	assert_true(parses("exit:1-255"));
	assert_false(parses(""));
	assert_false(parses(","));
	assert_false(parses("idle,"));
	assert_false(parses(",idle"));
	assert_false(parses("idle,,signal"));
	assert_false(parses("exit:0"));
	assert_false(parses("exit:256"));
	assert_false(parses("exit:1000"));
	assert_false(parses("exit:5-4"));
	assert_false(parses("exit:-4"));
	assert_false(parses("exit:4-"));
	assert_false(parses("exit:x"));
	assert_false(parses("Nonzero"));
	assert_false(parses("timeout"));
}

static void
test_keeps_old_value_on_error(void **state)
{
	struct jw_retry_on r = { 0 };
	char why[256];

	(void)state;
	assert_int_equal(jw_retry_on_parse("exit:7", &r, why, sizeof(why)), 0);
	assert_int_equal(jw_retry_on_parse("bogus", &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "bogus"));
	assert_string_equal(r.text, "exit:7");
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 7));
	jw_retry_on_free(&r);
}

static void
test_matches(void **state)
{
	struct jw_retry_on r = { 0 };
	char why[256];

	(void)state;
	assert_int_equal(jw_retry_on_parse("exit:3,exit:10-12,idle", &r, why,
			     sizeof(why)),
	    0);
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 3));
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 10));
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 12));
	assert_false(jw_retry_on_matches(&r, JW_END_EXIT, 0));
	assert_false(jw_retry_on_matches(&r, JW_END_EXIT, 4));
	assert_false(jw_retry_on_matches(&r, JW_END_EXIT, 13));
	assert_false(jw_retry_on_matches(&r, JW_END_SIGNAL, 0));
	assert_false(jw_retry_on_matches(&r, JW_END_ATTEMPT_TIMEOUT, 0));
	assert_true(jw_retry_on_matches(&r, JW_END_IDLE, 0));
	assert_false(jw_retry_on_matches(&r, JW_END_OTHER, 3));
	jw_retry_on_free(&r);
	assert_int_equal(jw_retry_on_parse("nonzero,signal,attempt-timeout", &r,
			     why, sizeof(why)),
	    0);
	assert_false(jw_retry_on_matches(&r, JW_END_EXIT, 0));
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 1));
	assert_true(jw_retry_on_matches(&r, JW_END_EXIT, 255));
	assert_true(jw_retry_on_matches(&r, JW_END_SIGNAL, 0));
	assert_true(jw_retry_on_matches(&r, JW_END_ATTEMPT_TIMEOUT, 0));
	assert_false(jw_retry_on_matches(&r, JW_END_IDLE, 0));
	jw_retry_on_free(&r);
}

static void
test_backoff(void **state)
{
	(void)state;
	/* The cap doubles per attempt up to the maximum; rnd picks in it. */
	assert_int_equal(jw_backoff_ms(1000, 60000, 1, UINT64_MAX),
	    UINT64_MAX % 1001);
	assert_int_equal(jw_backoff_ms(1000, 60000, 1, 1000), 1000);
	assert_int_equal(jw_backoff_ms(1000, 60000, 1, 1001), 0);
	assert_int_equal(jw_backoff_ms(1000, 60000, 3, 4000), 4000);
	assert_int_equal(jw_backoff_ms(1000, 60000, 3, 4001), 0);
	assert_int_equal(jw_backoff_ms(1000, 60000, 7, 60000), 60000);
	assert_int_equal(jw_backoff_ms(1000, 60000, 7, 60001), 0);
	/* Huge attempt numbers neither overflow nor pass the maximum. */
	for (uint64_t rnd = 0; rnd < 100000; rnd += 997)
		assert_true(jw_backoff_ms(1000, 60000, 1000, rnd) <= 60000);
	assert_true(
	    jw_backoff_ms(UINT64_MAX / 3, UINT64_MAX, 200, 12345) == 12345);
	/* A maximum below the base caps even the first delay. */
	assert_true(jw_backoff_ms(5000, 100, 1, 99999) <= 100);
	assert_int_equal(jw_backoff_ms(0, 60000, 5, 777), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_keeps_old_value_on_error),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
