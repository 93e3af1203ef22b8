/*
 * Unit tests: required literals of an ERE.  The property that matters:
 * whenever regexec() matches a line, the line holds one of the strings.
 * It is checked against glibc's own regexec on generated lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "literal.h"

/* The strings found for ere, joined with '|', or "" for no filter. */
static const char *
found(const char *ere)
{
	static char out[512];
	struct jw_literals l = { 0 };

	out[0] = '\0';
	assert_int_equal(jw_literals_add(&l, ere), 0);
	for (size_t i = 0; JW_LITERALS_USABLE(&l) && i < l.n; i++) {
		strncat(out, l.s[i], l.len[i]);
		if (i + 1 < l.n)
			strcat(out, "|");
	}
	jw_literals_free(&l);
	return out;
}

static void
test_extraction(void **state)
{
	(void)state;
	assert_string_equal(found("Transient OpenAI (error|failure) on"),
	    "Transient OpenAI ");
	assert_string_equal(found("^(RuntimeError|Traceback)"),
	    "RuntimeError|Traceback");
	assert_string_equal(found("abc*d"), "ab");
	assert_string_equal(found("ab?cdef"), "cdef");
	assert_string_equal(found("ab+cd"), "ab");
	assert_string_equal(found("x{2,3}yz"), "yz");
	assert_string_equal(found("a\\.b\\[c"), "a.b[c");
	assert_string_equal(found("\\wfoo"), "foo");
	assert_string_equal(found("[abc]xyz[d]"), "xyz");
	assert_string_equal(found("[]x]yy"), "yy");
	assert_string_equal(found("[[:digit:]]+ items"), " items");
	assert_string_equal(found("(a|b)cde"), "cde");
	assert_string_equal(found("one|two|three"), "one|two|three");
	assert_string_equal(found("^((aa|bb)|cc)$"), "aa|bb|cc");
	assert_string_equal(found("^[A-Za-z0-9_.]*(Error|Exception)(: |$)"),
	    "Error|Exception");
	assert_string_equal(found("x*(ab|cd)*(ef|gh)"), "ef|gh");
	assert_string_equal(found("(ab|c?)(de|fg)"), "");
	/* Nothing required: every line is matched. */
	assert_string_equal(found("."), "");
	assert_string_equal(found("a*"), "");
	assert_string_equal(found("(abc)*"), "");
	assert_string_equal(found("(abc)?x?"), "");
	assert_string_equal(found("abc|.*"), "");
	assert_string_equal(found("(ab|c*)"), "");
	assert_string_equal(found("\\(x\\)?"), "(x");
}

static void
test_two_patterns_union_and_give_up(void **state)
{
	struct jw_literals l = { 0 };

	(void)state;
	assert_int_equal(jw_literals_add(&l, "retrying"), 0);
	assert_int_equal(jw_literals_add(&l, "Error|Fatal"), 0);
	assert_true(JW_LITERALS_USABLE(&l));
	assert_int_equal(l.n, 3);
	assert_int_equal(jw_literals_add(&l, "x*"), 0);
	assert_false(JW_LITERALS_USABLE(&l));
	assert_int_equal(jw_literals_add(&l, "more"), 0);
	assert_false(JW_LITERALS_USABLE(&l));
	jw_literals_free(&l);
}

static void
test_find(void **state)
{
	struct jw_literals l = { 0 };
	const char *s = "aaa bbb Traceback RuntimeError";

	(void)state;
	assert_int_equal(jw_literals_add(&l, "RuntimeError|Traceback"), 0);
	assert_ptr_equal(jw_literals_find(&l, s, strlen(s)), s + 8);
	assert_null(jw_literals_find(&l, s, 10));
	assert_ptr_equal(jw_literals_find(&l, s + 9, strlen(s) - 9), s + 18);
	jw_literals_free(&l);
}

/* Lines from a small alphabet that patterns below are made of. */
static void
random_line(char *buf, size_t len, unsigned *seed)
{
	static const char abc[] = "abcdeXY.[]()|*+?^$ 01\\";

	for (size_t i = 0; i < len; i++)
		buf[i] = abc[(size_t)rand_r(seed) % (sizeof(abc) - 1)];
	buf[len] = '\0';
}

static int
holds_one(const struct jw_literals *l, const char *line)
{
	return jw_literals_find(l, line, strlen(line)) != NULL;
}

static void
test_property_against_regexec(void **state)
{
	static const char *pats[] = {
		"abc",
		"a(b|c)d",
		"ab*c",
		"ab+c",
		"a?bc",
		"(ab|cd)e",
		"^(ab|ba)",
		"x|abc|ba",
		"a\\.b",
		"[ab]cd",
		"a[^b]c",
		"(a|b)+c",
		"ab{2}c",
		"ab{0,1}c",
		"\\(ab\\)",
		"a\\|b",
		"ab|cd",
		"((ab)|(cd))e",
		"a.c",
		"^abc$",
		"(abc|abd)e+",
		"ab(c|d)*e",
		"e(ab)?cd",
		"[]a]bc",
		"a b",
		"a\\+b",
		"[ab]*(cd|ba)(e|$)",
		"x?(a|b)+c",
		"(a*|b)(cd|e)",
		"((a|b)c)?d",
		"(a(b|c))d*",
		"(ab){2}",
		"(ab|x)(c|)",
		"^.*(a|b)(c|d)",
	};
	unsigned seed = 12345;
	char line[40];

	(void)state;
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		struct jw_literals l = { 0 };
		regex_t re;
		assert_int_equal(regcomp(&re, pats[i],
				     REG_EXTENDED | REG_NOSUB),
		    0);
		assert_int_equal(jw_literals_add(&l, pats[i]), 0);
		for (int k = 0; k < 20000; k++) {
			random_line(line, (size_t)(rand_r(&seed) % 12), &seed);
			if (regexec(&re, line, 0, NULL, 0) == 0 &&
			    JW_LITERALS_USABLE(&l) && !holds_one(&l, line))
				fail_msg("/%s/ matches \"%s\", which holds "
					 "none of its literals",
				    pats[i], line);
		}
		regfree(&re);
		jw_literals_free(&l);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extraction),
		cmocka_unit_test(test_two_patterns_union_and_give_up),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_property_against_regexec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
