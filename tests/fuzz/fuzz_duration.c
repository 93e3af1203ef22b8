/*
 * fuzz_duration: jw_duration_parse() against an independent reference
 * parser (same grammar, 128-bit arithmetic), and the round trip
 * parse(format(ms)) == ms with format() canonical.
 *
 * Grammar: one or more COMPONENTs, COMPONENT = DIGITS [ "." 1*9DIGIT ] UNIT,
 * UNIT = ms | h | m | s; a single component may leave the unit out
 * (seconds).  The value must be a whole number of milliseconds and at
 * most JW_DURATION_MAX_MS.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"

typedef unsigned __int128 u128;

#define CAP ((u128)JW_DURATION_MAX_MS * 1000 + 1) /* "too large" */

static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The reference: true and *ms, or false. */
static bool
ref_parse(const char *s, uint64_t *ms)
{
	u128 total = 0;
	bool first = true;

	if (*s == '\0')
		return false;
	while (*s != '\0') {
		u128 whole = 0, frac = 0, scale = 1, unit, v;
		int nfrac = 0;

		if (!digit(*s))
			return false;
		for (; digit(*s); s++)
			if ((whole = whole * 10 + (u128)(*s - '0')) > CAP)
				whole = CAP; /* saturate: too large anyway */
		if (*s == '.') {
			s++;
			if (!digit(*s))
				return false;
			for (; digit(*s); s++, nfrac++) {
				frac = frac * 10 + (u128)(*s - '0');
				scale *= 10;
			}
			if (nfrac > 9)
				return false;
		}
		if (strncmp(s, "ms", 2) == 0)
			unit = 1, s += 2;
		else if (*s == 'h')
			unit = 3600000, s++;
		else if (*s == 'm')
			unit = 60000, s++;
		else if (*s == 's')
			unit = 1000, s++;
		else if (*s == '\0' && first)
			unit = 1000;
		else
			return false;
		if (frac * unit % scale != 0)
			return false;
		v = whole * unit + frac * unit / scale;
		total += v;
		if (total > JW_DURATION_MAX_MS)
			return false;
		first = false;
	}
	*ms = (uint64_t)total;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), buf[JW_DURATION_BUFSZ];
	char again[JW_DURATION_BUFSZ];
	const char *why = NULL;
	uint64_t ms = 0, ref = 0, back = 0;
	int rc = jw_duration_parse(s, &ms, &why);
	bool ok = ref_parse(s, &ref);

	CHECK((rc == 0) == ok);
	if (rc == -1) {
		CHECK(why != NULL && *why != '\0');
	} else {
		CHECK(ms == ref);
		CHECK(ms <= JW_DURATION_MAX_MS);
		jw_duration_format(ms, buf, sizeof(buf));
		CHECK(strlen(buf) < sizeof(buf) - 1); /* not truncated */
		CHECK(jw_duration_parse(buf, &back, &why) == 0);
		CHECK(back == ms);
		jw_duration_format(back, again, sizeof(again));
		CHECK(strcmp(buf, again) == 0);
	}
	/* format() of any value in range, taken from the input's bytes. */
	if (size >= 8) {
		uint64_t v;
		memcpy(&v, data + size - 8, 8);
		v %= JW_DURATION_MAX_MS + 1;
		jw_duration_format(v, buf, sizeof(buf));
		CHECK(strlen(buf) < sizeof(buf) - 1);
		CHECK(jw_duration_parse(buf, &back, &why) == 0 && back == v);
		CHECK(ref_parse(buf, &back) && back == v);
	}
	free(s);
	return 0;
}
