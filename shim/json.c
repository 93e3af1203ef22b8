/* json.c: turn untrusted bytes into JSON that any parser accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ELLIPSIS	"..."

/* Length of the valid UTF-8 sequence at p, or 0 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF). */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

json_t *
jw_json_bytes(const void *vp, size_t n)
{
	const unsigned char *p = vp;
	char *out;
	size_t o = 0;
	json_t *j;

	if (n > (SIZE_MAX - 1) / 4)
		return NULL;
	if ((out = malloc(n * 4 + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0) {
			snprintf(out + o, 5, "\\x%02x", p[i]);
			o += 4;
			i++;
		} else {
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
		}
	}
	j = json_stringn(out, o);
	free(out);
	return j;
}

json_t *
jw_json_str_or_null(const char *s)
{
	return s == NULL ? json_null() : jw_json_bytes(s, strlen(s));
}

json_t *
jw_json_argv(char *const argv[])
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && argv != NULL && argv[i] != NULL; i++)
		if (json_array_append_new(a, jw_json_str_or_null(argv[i])) == -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The longest string anywhere inside v. */
static json_t *
longest_string(json_t *v, size_t *best)
{
	json_t *found = NULL, *sub, *r;
	const char *key;
	size_t i;

	if (json_is_string(v)) {
		if (json_string_length(v) > *best) {
			*best = json_string_length(v);
			return v;
		}
		return NULL;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, key, sub)
			if ((r = longest_string(sub, best)) != NULL)
				found = r;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, sub)
			if ((r = longest_string(sub, best)) != NULL)
				found = r;
	}
	return found;
}

/* Cut s to at most keep bytes at a UTF-8 boundary and mark the cut. */
static int
shorten(json_t *s, size_t keep)
{
	const char *v = json_string_value(s);
	size_t len = json_string_length(s);
	char *buf;
	int rc;

	if (keep > len)
		keep = len;
	while (keep > 0 && ((unsigned char)v[keep] & 0xC0) == 0x80)
		keep--;
	if ((buf = malloc(keep + sizeof(ELLIPSIS))) == NULL)
		return -1;
	memcpy(buf, v, keep);
	memcpy(buf + keep, ELLIPSIS, sizeof(ELLIPSIS));
	rc = json_string_setn(s, buf, keep + strlen(ELLIPSIS));
	free(buf);
	return rc;
}

char *
jw_json_line(json_t *obj, size_t max, size_t *lenp)
{
	for (;;) {
		char *s = json_dumps(obj, JSON_COMPACT);
		size_t len, best = strlen(ELLIPSIS) * 2;
		json_t *victim;

		if (s == NULL)
			return NULL;
		len = strlen(s);
		if (len + 1 <= max) {
			char *line = realloc(s, len + 2);
			if (line == NULL) {
				free(s);
				return NULL;
			}
			line[len] = '\n';
			line[len + 1] = '\0';
			*lenp = len + 1;
			return line;
		}
		free(s);
		/* Each byte cut shortens the encoding by at least one byte, so
		 * cutting the excess (plus the ellipsis) from the longest string
		 * fits in one round unless that string was shorter than that. */
		if ((victim = longest_string(obj, &best)) == NULL)
			return NULL;
		size_t excess = len + 1 - max + strlen(ELLIPSIS);
		size_t slen = json_string_length(victim);
		if (shorten(victim, slen > excess ? slen - excess : 0) == -1)
			return NULL;
	}
}
