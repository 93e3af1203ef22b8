/* duration.c: parse and print durations with millisecond precision. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

static const struct unit {
	const char *name;
	uint64_t ms;
} units[] = {
	/* longest names first: "ms" before "m" */
	{ "ms", 1 },
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
};

static const struct unit *
unit_at(const char *p, size_t *len)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (strncmp(p, units[i].name, n) == 0) {
			*len = n;
			return &units[i];
		}
	}
	return NULL;
}

/*
 * One "<digits>[.<digits>]<unit>" component.  Decimal arithmetic, not
 * floating point, so "1.1s" is exactly 1100 ms.
 */
static int
component(const char **pp, uint64_t *ms, int bare_ok, const char **why)
{
	const char *p = *pp;
	uint64_t whole = 0, frac = 0, scale = 1;
	size_t ulen;

	if (!isdigit((unsigned char)*p)) {
		*why = "expected a number";
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > JW_DURATION_MAX_MS) {
			*why = "too large";
			return -1;
		}
	}
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p)) {
			*why = "expected digits after '.'";
			return -1;
		}
		for (; isdigit((unsigned char)*p); p++) {
			if (scale >= 1000000000ULL) {
				*why = "too many decimals";
				return -1;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	const struct unit *u = *p ? unit_at(p, &ulen) : NULL;
	if (u == NULL) {
		if (*p != '\0' || !bare_ok) {
			*why = "unknown unit (use ms, s, m or h)";
			return -1;
		}
		static const struct unit seconds = { "s", 1000 };
		u = &seconds;
		ulen = 0;
	}
	if (whole > JW_DURATION_MAX_MS / u->ms) {
		*why = "too large";
		return -1;
	}
	if ((frac * u->ms) % scale != 0) {
		*why = "finer than a millisecond";
		return -1;
	}
	*ms = whole * u->ms + frac * u->ms / scale;
	*pp = p + ulen;
	return 0;
}

int
jw_duration_parse(const char *s, uint64_t *ms, const char **why)
{
	const char *p = s;
	uint64_t total = 0, part;
	int first = 1;

	if (*p == '\0') {
		*why = "empty duration";
		return -1;
	}
	while (*p != '\0') {
		/* A bare number is seconds, but only on its own: "1h30" is a typo. */
		if (component(&p, &part, first, why) == -1)
			return -1;
		total += part;
		if (total > JW_DURATION_MAX_MS) {
			*why = "too large";
			return -1;
		}
		first = 0;
	}
	*ms = total;
	return 0;
}

void
jw_duration_format(uint64_t ms, char *buf, size_t len)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
	uint64_t frac = ms % 1000;
	size_t off = 0;

	if (ms == 0) {
		snprintf(buf, len, "0");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, len, "%llums", (unsigned long long)ms);
		return;
	}
	buf[0] = '\0';
	if (h > 0)
		off += (size_t)snprintf(buf + off, len - off, "%lluh",
		    (unsigned long long)h);
	if (m > 0 && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%llum",
		    (unsigned long long)m);
	if ((s > 0 || frac > 0) && off < len) {
		char f[8] = "";
		if (frac > 0) {
			snprintf(f, sizeof(f), ".%03llu",
			    (unsigned long long)frac);
			for (size_t i = strlen(f) - 1; f[i] == '0'; i--)
				f[i] = '\0';
		}
		snprintf(buf + off, len - off, "%llu%ss", (unsigned long long)s,
		    f);
	}
}
