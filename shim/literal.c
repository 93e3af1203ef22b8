/* literal.c: required literal strings of an ERE, for a memmem() filter. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "literal.h"

/* Where the bracket expression starting at p ends (after ']'), or NULL. */
static const char *
skip_bracket(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p != '\0'; p++) {
		if (p[0] == '[' &&
		    (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			const char *e = strchr(p + 2, p[1]);
			while (e != NULL && e[1] != ']')
				e = strchr(e + 1, p[1]);
			if (e == NULL)
				return NULL;
			p = e + 1;
		} else if (*p == ']')
			return p + 1;
	}
	return NULL;
}

/* Where the group starting at p ends (after ')'), or NULL. */
static const char *
skip_group(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '[') {
			if ((p = skip_bracket(p)) == NULL)
				return NULL;
			p--;
		} else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return NULL;
}

/* The end of the top-level branch starting at p: '|' or the end. */
static const char *
branch_end(const char *p, const char *end)
{
	while (p < end && *p != '|') {
		if (*p == '\\' && p + 1 < end)
			p += 2;
		else if (*p == '[' || *p == '(') {
			const char *q = *p == '[' ? skip_bracket(p)
						  : skip_group(p);
			if (q == NULL || q > end)
				return NULL;
			p = q;
		} else
			p++;
	}
	return p;
}

static bool
quantifier(char c)
{
	return c == '*' || c == '?' || c == '{' || c == '+';
}

/*
 * The longest run of plain characters in a branch that every match of it
 * contains: not inside a group or bracket, not made optional or repeated.
 */
static void
longest_run(const char *p, const char *end, char *best, size_t *bestlen)
{
	char run[256];
	size_t n = 0;

	*bestlen = 0;
	while (p < end) {
		const char *next;
		int c = -1; /* a plain character, or -1: something else */

		if (*p == '\\' && p + 1 < end &&
		    strchr(".[]()*+?{}|^$\\/-", p[1]) != NULL) {
			c = (unsigned char)p[1];
			next = p + 2;
		} else if (*p == '\\')
			next = p + 2; /* \w, \b, a back reference */
		else if (*p == '[')
			next = skip_bracket(p);
		else if (*p == '(')
			next = skip_group(p);
		else if (*p == '{') {
			/* An interval: its digits are not characters to match. */
			next = memchr(p, '}', (size_t)(end - p));
			next = next ? next + 1 : NULL;
		} else if (strchr(".^$*+?}|)", *p) != NULL)
			next = p + 1;
		else {
			c = (unsigned char)*p;
			next = p + 1;
		}
		if (next == NULL || next > end) {
			n = 0; /* cannot follow it: trust nothing after */
			break;
		}
		/* A quantified character may be absent; stop the run before. */
		if (c != -1 && next < end && quantifier(*next) && *next != '+')
			c = -1;
		if (c != -1 && n < sizeof(run))
			run[n++] = (char)c;
		if (c == -1 || (next < end && *next == '+') ||
		    n == sizeof(run)) {
			if (n > *bestlen) {
				memcpy(best, run, n);
				*bestlen = n;
			}
			n = 0;
		}
		p = next;
	}
	if (n > *bestlen) {
		memcpy(best, run, n);
		*bestlen = n;
	}
}

/*
 * The inside of the first group of a branch that every match goes
 * through: at the top level, not made optional by *, ? or an interval.
 */
static bool
required_group(const char *p, const char *end, const char **in,
    const char **inend)
{
	while (p < end) {
		const char *q;

		if (*p == '\\') {
			p += 2;
			continue;
		}
		if (*p == '[') {
			if ((p = skip_bracket(p)) == NULL)
				return false;
			continue;
		}
		if (*p != '(') {
			p++;
			continue;
		}
		if ((q = skip_group(p)) == NULL || q > end)
			return false;
		if (q == end || (*q != '*' && *q != '?' && *q != '{')) {
			*in = p + 1;
			*inend = q - 1;
			return true;
		}
		p = q;
	}
	return false;
}

static int
add_string(struct jw_literals *l, const char *s, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->len[i] == n && memcmp(l->s[i], s, n) == 0)
			return 0;
	if (l->n == JW_LITERALS_MAX)
		return 1; /* too many to be worth it */
	if ((l->s[l->n] = malloc(n)) == NULL)
		return -1;
	memcpy(l->s[l->n], s, n);
	l->len[l->n++] = n;
	return 0;
}

/* 0 found (added), 1 none, -1 out of memory. */
static int
alternatives(struct jw_literals *l, const char *p, const char *end, int depth)
{
	char best[256];
	size_t n;

	if (depth > 4)
		return 1;
	while (p <= end) {
		const char *e = branch_end(p, end), *in, *inend;
		int rc;

		if (e == NULL)
			return 1;
		longest_run(p, e, best, &n);
		if (n > 0)
			rc = add_string(l, best, n);
		else if (required_group(p, e, &in, &inend))
			rc = alternatives(l, in, inend, depth + 1);
		else
			rc = 1;
		if (rc != 0)
			return rc;
		p = e + 1;
	}
	return 0;
}

int
jw_literals_add(struct jw_literals *l, const char *ere)
{
	struct jw_literals mine = { 0 };
	int rc;

	if (l->unusable)
		return 0;
	rc = alternatives(&mine, ere, ere + strlen(ere), 0);
	for (size_t i = 0; rc == 0 && i < mine.n; i++)
		rc = add_string(l, mine.s[i], mine.len[i]);
	jw_literals_free(&mine);
	if (rc != 0) {
		jw_literals_free(l);
		l->unusable = true; /* some line may match without any */
	}
	return rc == -1 ? -1 : 0;
}

void
jw_literals_free(struct jw_literals *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	memset(l, 0, sizeof(*l));
}

/*
 * One pass for all strings: 16 positions at a time, a position is a
 * candidate when its byte is a string's first and the byte len-1 further
 * is that string's last (GCC vectors: SSE2 on x86-64, NEON on arm64).
 * Candidates are then compared in full.
 */
typedef unsigned char v16 __attribute__((vector_size(16)));
typedef uint64_t v2 __attribute__((vector_size(16)));

static v16
load16(const char *p)
{
	v16 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static bool
starts_one(const struct jw_literals *l, const char *p, const char *end)
{
	for (size_t j = 0; j < l->n; j++)
		if ((size_t)(end - p) >= l->len[j] &&
		    memcmp(p, l->s[j], l->len[j]) == 0)
			return true;
	return false;
}

const char *
jw_literals_find(const struct jw_literals *l, const char *p, size_t n)
{
	const char *end = p + n, *q = p;
	size_t longest = 0;
	v16 first[JW_LITERALS_MAX], last[JW_LITERALS_MAX];

	if (l->n == 0)
		return NULL;
	for (size_t j = 0; j < l->n; j++) {
		first[j] = (v16){ 0 } + (unsigned char)l->s[j][0];
		last[j] = (v16){ 0 } + (unsigned char)l->s[j][l->len[j] - 1];
		if (l->len[j] > longest)
			longest = l->len[j];
	}
	for (; (size_t)(end - q) >= 16 + longest - 1; q += 16) {
		v16 head = load16(q), hit = { 0 };
		v2 any;
		for (size_t j = 0; j < l->n; j++)
			hit |= (v16)((head == first[j]) &
			    (load16(q + l->len[j] - 1) == last[j]));
		any = (v2)hit;
		if ((any[0] | any[1]) == 0)
			continue;
		for (int k = 0; k < 16; k++)
			if (hit[k] != 0 && starts_one(l, q + k, end))
				return q + k;
	}
	for (; q < end; q++)
		if (starts_one(l, q, end))
			return q;
	return NULL;
}
