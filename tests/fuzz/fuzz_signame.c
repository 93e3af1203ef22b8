/*
 * fuzz_signame: jw_signal_parse() only ever answers -1 or a real signal
 * number, and whatever it accepts, the name jw_signal_name() gives back
 * (with or without "SIG", in any case) parses to the same number; names
 * always fit JW_SIGNAME_BUFSZ.
 */
#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "signame.h"

static void
round_trip(int sig)
{
	char buf[JW_SIGNAME_BUFSZ], lower[JW_SIGNAME_BUFSZ];
	const char *name = jw_signal_name(sig, buf, sizeof(buf));

	CHECK(name != NULL && strlen(name) < sizeof(buf) - 1);
	CHECK(jw_signal_parse(name) == sig);
	if (strncmp(name, "SIG", 3) == 0)
		CHECK(jw_signal_parse(name + 3) == sig);
	for (size_t i = 0; i <= strlen(name); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	CHECK(jw_signal_parse(lower) == sig);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	int sig = jw_signal_parse(s);

	CHECK(sig == -1 || (sig >= 1 && sig <= SIGRTMAX));
	if (sig != -1)
		round_trip(sig);
	/* Any int has a name of some kind, without overflowing buf. */
	if (size >= 4) {
		char buf[JW_SIGNAME_BUFSZ];
		int n;
		memcpy(&n, data, sizeof(n));
		CHECK(jw_signal_name(n, buf, sizeof(buf)) == buf);
		CHECK(strlen(buf) < sizeof(buf));
		if (n >= 1 && n <= SIGRTMAX)
			round_trip(n);
	}
	free(s);
	return 0;
}
