/* Unit tests: JSON from arbitrary bytes, and the 64 KiB line limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

/* Encode bytes, dump, parse back: the decoded string is returned. */
static char *
roundtrip(const char *p, size_t n, size_t *outlen)
{
	json_t *s = jw_json_bytes(p, n), *back;
	json_t *arr = json_array();
	json_error_t e;
	char *text, *out;

	assert_non_null(s);
	json_array_append_new(arr, s);
	text = json_dumps(arr, JSON_COMPACT);
	assert_non_null(text);
	back = json_loads(text, JSON_ALLOW_NUL, &e);
	if (back == NULL)
		fail_msg("output does not parse: %s", e.text);
	*outlen = json_string_length(json_array_get(back, 0));
	out = malloc(*outlen + 1);
	memcpy(out, json_string_value(json_array_get(back, 0)), *outlen + 1);
	json_decref(back);
	json_decref(arr);
	free(text);
	return out;
}

static void
expect(const char *in, size_t n, const char *want, size_t wantlen)
{
	size_t len;
	char *got = roundtrip(in, n, &len);

	assert_int_equal(len, wantlen);
	assert_memory_equal(got, want, wantlen);
	free(got);
}

#define EXPECT(in, want) expect(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void
test_valid_utf8_kept(void **state)
{
	(void)state;
	EXPECT("hello", "hello");
	EXPECT("caf\xc3\xa9", "caf\xc3\xa9");
	EXPECT("\xe2\x82\xac", "\xe2\x82\xac");		/* euro */
	EXPECT("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* emoji */
	EXPECT("\xef\xbf\xbf", "\xef\xbf\xbf");
}

static void
test_invalid_bytes_escaped(void **state)
{
	(void)state;
	EXPECT("\xff", "\\xff");
	EXPECT("a\x80z", "a\\x80z");
	EXPECT("\xc3", "\\xc3");			    /* truncated */
	EXPECT("\xc0\xaf", "\\xc0\\xaf");		    /* overlong */
	EXPECT("\xe0\x80\xaf", "\\xe0\\x80\\xaf");	    /* overlong */
	EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80");	    /* surrogate */
	EXPECT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	EXPECT("\xe2\x82", "\\xe2\\x82");
	EXPECT("\xe2\x82"
	       "A",
	    "\\xe2\\x82A");
}

static void
test_control_and_nul(void **state)
{
	(void)state;
	EXPECT("a\0b", "a\0b");
	EXPECT("\n\t\r\x01\x1f\x7f\"\\", "\n\t\r\x01\x1f\x7f\"\\");
}

static void
test_every_byte(void **state)
{
	char in[256];
	size_t len;

	(void)state;
	for (int i = 0; i < 256; i++)
		in[i] = (char)i;
	free(roundtrip(in, sizeof(in), &len));
	assert_true(len >= 128);
}

static void
test_line_fits_64k(void **state)
{
	size_t n = 1 << 20, len;
	char *big = malloc(n), *line;
	json_t *obj, *back;
	json_error_t e;

	(void)state;
	/* Control characters encode as six bytes each: the worst case. */
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 3 == 0) ? '\x01' : (char)(0xe0 + i % 2);
	obj = json_pack("{s:s, s:o, s:o}", "event", "start", "line",
	    jw_json_bytes(big, n), "small", jw_json_bytes("ok", 2));
	line = jw_json_line(obj, 65536, &len);
	assert_non_null(line);
	assert_true(len <= 65536);
	assert_int_equal(line[len - 1], '\n');
	assert_int_equal(strlen(line), len);
	back = json_loads(line, 0, &e);
	assert_non_null(back);
	assert_string_equal(json_string_value(json_object_get(back, "small")),
	    "ok");
	const char *l = json_string_value(json_object_get(back, "line"));
	assert_non_null(l);
	assert_true(strlen(l) > 3);
	assert_string_equal(l + strlen(l) - 3, "...");
	json_decref(back);
	json_decref(obj);
	free(line);
	free(big);
}

static void
test_line_cut_keeps_utf8(void **state)
{
	size_t n = 100000, len;
	char *big = malloc(n + 1), *line;
	json_t *obj, *back;
	json_error_t e;

	(void)state;
	for (size_t i = 0; i + 3 <= n; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	n -= n % 3;
	obj = json_pack("{s:o}", "s", jw_json_bytes(big, n));
	line = jw_json_line(obj, 65536, &len);
	assert_non_null(line);
	assert_true(len <= 65536);
	assert_true(len > 60000); /* cut by the excess, not halved */
	back = json_loads(line, 0, &e);
	assert_non_null(back);
	json_decref(back);
	json_decref(obj);
	free(line);
	free(big);
}

/* Plain text first, escapes last: the first cut's estimate is wrong, and
 * the loop must still end with a line that fits. */
static void
test_line_mixed_strings_terminate(void **state)
{
	size_t n = 300000, len;
	char *a = malloc(n), *line;
	json_t *obj;

	(void)state;
	memset(a, 'x', n / 2);
	memset(a + n / 2, '\x02', n - n / 2);
	obj = json_pack("{s:o, s:o, s:o}", "a", jw_json_bytes(a, n), "b",
	    jw_json_bytes(a + n / 2, n / 2), "c", jw_json_bytes(a, 70000));
	for (size_t max = 65536; max >= 512; max /= 4) {
		line = jw_json_line(obj, max, &len);
		assert_non_null(line);
		assert_true(len <= max);
		free(line);
	}
	json_decref(obj);
	free(a);
}

/* 20000 arguments of 4 bytes: no string is worth cutting, the array is. */
static void
test_line_many_short_items(void **state)
{
	json_t *argv = json_array(), *obj, *back;
	json_error_t e;
	char item[8];
	size_t len;
	char *line;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(item, sizeof(item), "%04d", i % 10000);
		json_array_append_new(argv, json_string(item));
	}
	obj = json_pack("{s:s, s:o}", "event", "start", "command", argv);
	line = jw_json_line(obj, 65536, &len);
	assert_non_null(line);
	assert_true(len <= 65536);
	assert_true(len > 60000); /* trimmed, not emptied */
	back = json_loads(line, 0, &e);
	assert_non_null(back);
	json_t *cmd = json_object_get(back, "command");
	assert_string_equal(json_string_value(json_array_get(cmd, 0)), "0000");
	assert_string_equal(json_string_value(
				json_array_get(cmd, json_array_size(cmd) - 1)),
	    "...");
	json_decref(back);
	json_decref(obj);
	free(line);
}

static void
test_small_line_untouched(void **state)
{
	json_t *obj = json_pack("{s:s, s:i}", "a", "b", "n", 1);
	size_t len;
	char *line = jw_json_line(obj, 65536, &len);

	(void)state;
	assert_string_equal(line, "{\"a\":\"b\",\"n\":1}\n");
	assert_int_equal(len, strlen(line));
	free(line);
	json_decref(obj);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_utf8_kept),
		cmocka_unit_test(test_invalid_bytes_escaped),
		cmocka_unit_test(test_control_and_nul),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_line_fits_64k),
		cmocka_unit_test(test_line_cut_keeps_utf8),
		cmocka_unit_test(test_line_mixed_strings_terminate),
		cmocka_unit_test(test_line_many_short_items),
		cmocka_unit_test(test_small_line_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
