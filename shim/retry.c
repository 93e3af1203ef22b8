/* retry.c: the retry policy, as pure functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

static int
parse_code(const char *s, const char *end, int *v)
{
	int n = 0;

	if (s == end || end - s > 3)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	*v = n;
	return n >= 1 && n <= 255 ? 0 : -1;
}

static void
set_codes(struct jw_retry_on *r, int lo, int hi)
{
	for (int c = lo; c <= hi; c++)
		r->codes[c / 8] |= (uint8_t)(1u << (c % 8));
}

/* One item, [s, end), white space trimmed by the caller. */
static int
parse_item(struct jw_retry_on *r, const char *s, const char *end)
{
	size_t n = (size_t)(end - s);
	const char *dash;
	int lo, hi;

	if (n == 7 && memcmp(s, "nonzero", 7) == 0)
		set_codes(r, 1, 255);
	else if (n == 6 && memcmp(s, "signal", 6) == 0)
		r->signal = true;
	else if (n == 15 && memcmp(s, "attempt-timeout", 15) == 0)
		r->attempt_timeout = true;
	else if (n == 4 && memcmp(s, "idle", 4) == 0)
		r->idle = true;
	else if (n > 5 && memcmp(s, "exit:", 5) == 0) {
		s += 5;
		dash = memchr(s, '-', (size_t)(end - s));
		if (parse_code(s, dash ? dash : end, &lo) == -1 ||
		    (dash && parse_code(dash + 1, end, &hi) == -1))
			return -1;
		if (!dash)
			hi = lo;
		if (hi < lo)
			return -1;
		set_codes(r, lo, hi);
	} else
		return -1;
	return 0;
}

int
jw_retry_on_parse(const char *s, struct jw_retry_on *r, char *why,
    size_t whylen)
{
	struct jw_retry_on t = { 0 };
	const char *p = s;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		const char *a = p, *b;

		if (end == NULL)
			end = p + strlen(p);
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a == b || parse_item(&t, a, b) == -1) {
			snprintf(why, whylen,
			    "\"%.*s\" is not one of nonzero, "
			    "exit:N, exit:N-M (N, M from 1 to 255), signal, "
			    "attempt-timeout, idle",
			    (int)(b - a), a);
			return -1;
		}
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0') {
			snprintf(why, whylen,
			    "empty item after the last comma");
			return -1;
		}
	}
	if (p == s) {
		snprintf(why, whylen,
		    "empty list (to never retry, leave "
		    "--retries at 0)");
		return -1;
	}
	if ((t.text = strdup(s)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	jw_retry_on_free(r);
	*r = t;
	return 0;
}

void
jw_retry_on_free(struct jw_retry_on *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

bool
jw_retry_on_matches(const struct jw_retry_on *r, enum jw_end end, int code)
{
	switch (end) {
	case JW_END_EXIT:
		return code >= 1 && code <= 255 &&
		    (r->codes[code / 8] & (1u << (code % 8))) != 0;
	case JW_END_SIGNAL:
		return r->signal;
	case JW_END_ATTEMPT_TIMEOUT:
		return r->attempt_timeout;
	case JW_END_IDLE:
		return r->idle;
	default:
		return false;
	}
}

uint64_t
jw_backoff_ms(uint64_t base, uint64_t max, unsigned attempt, uint64_t rnd)
{
	uint64_t cap = base;

	for (unsigned i = 1; i < attempt && cap < max; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > max)
		cap = max;
	return cap == UINT64_MAX ? rnd : rnd % (cap + 1);
}
