/*
 * fuzz_json: the JSON encoder of untrusted bytes (json.h).
 *
 * jw_json_bytes(): for any bytes, the string holds exactly what an
 * independent UTF-8 decoder says -- every valid sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) kept, every other
 * byte as the four characters \xNN -- so valid UTF-8 comes back identical;
 * the dumped text parses with jansson and decodes back to that string.
 *
 * jw_json_line(): for an event made of the same bytes (a string, and an
 * argv array of the NUL-separated pieces) and a limit from the input,
 * the line fits the limit, is one line ending in '\n', parses, keeps the
 * event name, and is the event unchanged when it fitted already.
 *
 * Input: 2 bytes of limit, then the bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json.h"

/* Length of the valid UTF-8 sequence at p, or 0, by decoding it. */
static size_t
ref_seq(const uint8_t *p, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xE0) == 0xC0)
		len = 2, cp = p[0] & 0x1Fu, min = 0x80;
	else if ((p[0] & 0xF0) == 0xE0)
		len = 3, cp = p[0] & 0x0Fu, min = 0x800;
	else if ((p[0] & 0xF8) == 0xF0)
		len = 4, cp = p[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* What jw_json_bytes() must hold; *valid: the input was all UTF-8. */
static char *
ref_bytes(const uint8_t *p, size_t n, size_t *outlen, bool *valid)
{
	char *out = malloc(n * 4 + 1);
	size_t o = 0;

	if (out == NULL)
		abort();
	*valid = true;
	for (size_t i = 0; i < n;) {
		size_t len = ref_seq(p + i, n - i);
		if (len == 0) {
			static const char hex[] = "0123456789abcdef";
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 15];
			*valid = false;
			i++;
		} else {
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
		}
	}
	*outlen = o;
	return out;
}

/* Dump v (in an array) with flags, parse it back: the decoded string. */
static void
check_round_trip(json_t *s, size_t flags, const char *want, size_t wantlen)
{
	json_t *arr = json_array(), *back, *bs;
	json_error_t e;
	char *text;

	CHECK(arr != NULL && json_array_append(arr, s) == 0);
	text = json_dumps(arr, flags);
	CHECK(text != NULL);
	back = json_loads(text, JSON_ALLOW_NUL, &e);
	CHECK(back != NULL);
	bs = json_array_get(back, 0);
	CHECK(json_is_string(bs));
	CHECK(json_string_length(bs) == wantlen);
	CHECK(memcmp(json_string_value(bs), want, wantlen) == 0);
	/* Strictly one JSON text; ENSURE_ASCII: nothing but ASCII. */
	if (flags & JSON_ENSURE_ASCII)
		for (const char *t = text; *t; t++)
			CHECK((unsigned char)*t < 0x80);
	json_decref(back);
	json_decref(arr);
	free(text);
}

/* The NUL-separated pieces of p, as a NULL-terminated argv. */
static char **
pieces(const uint8_t *p, size_t n)
{
	size_t count = 1, k = 0;
	char **argv, *copy = malloc(n + 1);

	if (copy == NULL)
		abort();
	memcpy(copy, p, n);
	copy[n] = '\0';
	for (size_t i = 0; i < n; i++)
		count += p[i] == '\0';
	if ((argv = calloc(count + 2, sizeof(*argv))) == NULL)
		abort();
	argv[k++] = copy; /* the first piece; freeing it frees all */
	for (size_t i = 0; i < n; i++)
		if (copy[i] == '\0')
			argv[k++] = copy + i + 1;
	return argv;
}

static void
check_line(const uint8_t *p, size_t n, size_t max)
{
	char **argv = pieces(p, n);
	json_t *obj = json_pack("{s:s, s:o, s:o, s:i}", "event", "fuzz", "line",
		   jw_json_bytes(p, n), "argv", jw_json_argv(argv), "seq", 42),
	       *orig, *back;
	json_error_t e;
	char *full, *line;
	size_t len = 0, fulllen;

	CHECK(obj != NULL);
	CHECK((orig = json_deep_copy(obj)) != NULL);
	full = json_dumps(obj, JSON_COMPACT);
	CHECK(full != NULL);
	fulllen = strlen(full) + 1;
	line = jw_json_line(obj, max, &len);
	/* Every string and array can be cut down to a few dozen bytes. */
	if (max >= 256)
		CHECK(line != NULL);
	if (line != NULL) {
		CHECK(len <= max);
		CHECK(len >= 2 && line[len - 1] == '\n');
		CHECK(strlen(line) == len);
		CHECK(memchr(line, '\n', len - 1) == NULL);
		back = json_loads(line, JSON_ALLOW_NUL, &e);
		CHECK(back != NULL && json_is_object(back));
		CHECK(json_is_string(json_object_get(back, "event")));
		CHECK(strcmp(json_string_value(json_object_get(back, "event")),
			  "fuzz") == 0);
		CHECK(json_integer_value(json_object_get(back, "seq")) == 42);
		CHECK(json_is_array(json_object_get(back, "argv")));
		CHECK(json_is_string(json_object_get(back, "line")));
		if (fulllen <= max) {
			CHECK(len == fulllen);
			CHECK(json_equal(back, orig));
		} else {
			CHECK(!json_equal(back, orig));
		}
		json_decref(back);
	}
	json_decref(orig);
	json_decref(obj);
	free(full);
	free(line);
	free(argv[0]);
	free(argv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max, wantlen;
	bool valid;
	json_t *s;
	char *want;

	if (size < 2)
		return 0;
	max = ((size_t)data[0] << 8 | data[1]) % 8192;
	data += 2;
	size -= 2;

	s = jw_json_bytes(data, size);
	CHECK(s != NULL && json_is_string(s));
	want = ref_bytes(data, size, &wantlen, &valid);
	CHECK(json_string_length(s) == wantlen);
	CHECK(memcmp(json_string_value(s), want, wantlen) == 0);
	if (valid)
		CHECK(wantlen == size && memcmp(want, data, size) == 0);
	check_round_trip(s, JSON_COMPACT, want, wantlen);
	check_round_trip(s, JSON_ENSURE_ASCII, want, wantlen);
	json_decref(s);
	free(want);

	check_line(data, size, max);
	return 0;
}
