/* json.c: turn untrusted bytes into JSON that any parser accepts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ELLIPSIS "..."

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
		if (json_array_append_new(a, jw_json_str_or_null(argv[i])) ==
		    -1) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Rough encoded size of v, escapes ignored: it only ranks candidates. */
static size_t
approx(json_t *v)
{
	size_t n = 2, i;
	const char *k;
	json_t *sub;

	if (json_is_string(v))
		return json_string_length(v) + 2;
	if (json_is_object(v))
		json_object_foreach(v, k, sub) n += strlen(k) + 4 + approx(sub);
	else if (json_is_array(v))
		json_array_foreach(v, i, sub) n += approx(sub) + 1;
	else
		n = 8;
	return n;
}

static bool
is_marker(json_t *v)
{
	return json_is_string(v) && strcmp(json_string_value(v), ELLIPSIS) == 0;
}

/* Elements of array a other than a trailing marker of an earlier cut. */
static size_t
real_items(json_t *a)
{
	size_t n = json_array_size(a);

	return n > 0 && is_marker(json_array_get(a, n - 1)) ? n - 1 : n;
}

/*
 * What to shorten next: inside the biggest member, the biggest string, or
 * an array whose size comes from many small items (a long command line of
 * short arguments), not from one big one.
 */
static json_t *
victim(json_t *v)
{
	json_t *best = NULL, *sub, *r;
	size_t bestsz = 0, total = 0, i;
	const char *k;

	if (json_is_string(v))
		return json_string_length(v) > 2 * strlen(ELLIPSIS) ? v : NULL;
	if (json_is_object(v)) {
		json_object_foreach(v, k, sub)
		{
			size_t a = approx(sub);
			if (a > bestsz && (r = victim(sub)) != NULL) {
				best = r;
				bestsz = a;
			}
		}
		return best;
	}
	if (!json_is_array(v))
		return NULL;
	json_array_foreach(v, i, sub)
	{
		size_t a = approx(sub);
		total += a;
		if (a > bestsz) {
			best = sub;
			bestsz = a;
		}
	}
	/* An item with an eighth of the size is worth cutting itself. */
	if (best != NULL && bestsz * 8 > total && (r = victim(best)) != NULL)
		return r;
	if (real_items(v) >= 2)
		return v;
	return best != NULL ? victim(best) : NULL;
}

/* Drop the last items of a, at least one, until excess bytes are gone,
 * and end it with the marker; the first item always stays. */
static int
trim_array(json_t *a, size_t excess)
{
	size_t n = real_items(a), gone = 0;

	json_array_remove(a, n); /* an old marker; no-op when none */
	excess += strlen(ELLIPSIS) + 3;
	while (n > 1 && (gone == 0 || gone < excess)) {
		char *d = json_dumps(json_array_get(a, n - 1),
		    JSON_ENCODE_ANY | JSON_COMPACT);
		gone += (d != NULL ? strlen(d) : 1) + 1;
		free(d);
		json_array_remove(a, --n);
	}
	return json_array_append_new(a, json_string(ELLIPSIS));
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

/*
 * How many bytes of s to keep so that its encoding shrinks by excess.
 * Escapes make the encoding up to six times longer than the string, so
 * scale by this string's own ratio; a mixed string may need another round,
 * and each round leaves it strictly shorter, so the loop ends.
 */
static size_t
keep_for(json_t *s, size_t excess)
{
	size_t slen = json_string_length(s), enc, keep;
	char *d = json_dumps(s, JSON_ENCODE_ANY);

	if (d == NULL)
		return slen / 2;
	enc = strlen(d);
	free(d);
	excess += strlen(ELLIPSIS);
	if (excess >= enc)
		return 0;
	keep = (size_t)((double)slen * (double)(enc - excess) / (double)enc);
	/* With the ellipsis added back it must still end up shorter. */
	if (keep + strlen(ELLIPSIS) >= slen)
		keep = slen > 2 * strlen(ELLIPSIS) ? slen - 2 * strlen(ELLIPSIS)
						   : 0;
	return keep;
}

char *
jw_json_line(json_t *obj, size_t max, size_t *lenp)
{
	for (;;) {
		char *s = json_dumps(obj, JSON_COMPACT);
		size_t len;
		json_t *cut;

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
		if ((cut = victim(obj)) == NULL)
			return NULL;
		if ((json_is_array(cut)
			    ? trim_array(cut, len + 1 - max)
			    : shorten(cut, keep_for(cut, len + 1 - max))) == -1)
			return NULL;
	}
}
