/* Unit tests: signal names and numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <cmocka.h>

#include "signame.h"

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(jw_signal_parse("TERM"), SIGTERM);
	assert_int_equal(jw_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(jw_signal_parse("term"), SIGTERM);
	assert_int_equal(jw_signal_parse("sigkill"), SIGKILL);
	assert_int_equal(jw_signal_parse("INT"), SIGINT);
	assert_int_equal(jw_signal_parse("USR1"), SIGUSR1);
	assert_int_equal(jw_signal_parse("CHLD"), SIGCHLD);
	assert_int_equal(jw_signal_parse("RTMIN"), SIGRTMIN);
	assert_int_equal(jw_signal_parse("RTMIN+2"), SIGRTMIN + 2);
	assert_int_equal(jw_signal_parse("RTMAX"), SIGRTMAX);
}

static void
test_numbers(void **state)
{
	(void)state;
	assert_int_equal(jw_signal_parse("15"), 15);
	assert_int_equal(jw_signal_parse("9"), 9);
	assert_int_equal(jw_signal_parse("1"), 1);
	assert_int_equal(jw_signal_parse("0"), -1); /* not a signal */
	assert_int_equal(jw_signal_parse("65"), -1);
	assert_int_equal(jw_signal_parse("15x"), -1);
	assert_int_equal(jw_signal_parse("-15"), -1);
}

static void
test_rejects(void **state)
{
	(void)state;
	assert_int_equal(jw_signal_parse(""), -1);
	assert_int_equal(jw_signal_parse("SIG"), -1);
	assert_int_equal(jw_signal_parse("FOO"), -1);
	assert_int_equal(jw_signal_parse("SIGSIGTERM"), -1);
	assert_int_equal(jw_signal_parse("RTMIN+99"), -1);
	assert_int_equal(jw_signal_parse("TERM "), -1);
}

static void
test_format(void **state)
{
	char buf[JW_SIGNAME_BUFSZ];

	(void)state;
	assert_string_equal(jw_signal_name(SIGTERM, buf, sizeof(buf)),
	    "SIGTERM");
	assert_string_equal(jw_signal_name(SIGKILL, buf, sizeof(buf)),
	    "SIGKILL");
	assert_string_equal(jw_signal_name(SIGRTMIN + 3, buf, sizeof(buf)),
	    "SIGRTMIN+3");
	for (int s = 1; s <= SIGRTMAX; s++) {
		const char *n = jw_signal_name(s, buf, sizeof(buf));
		if (s >= 32 && s < SIGRTMIN)
			continue; /* glibc-internal: printed as numbers */
		assert_int_equal(jw_signal_parse(n), s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
