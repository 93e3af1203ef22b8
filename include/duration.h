/* duration.h: "1h30m", "250ms", "1.5s", a bare number of seconds. */
#ifndef JW_DURATION_H
#define JW_DURATION_H

#include <stdint.h>
#include <stddef.h>

/* Longest duration accepted: ten years, far beyond any job. */
#define JW_DURATION_MAX_MS (10ULL * 366 * 24 * 3600 * 1000)
#define JW_DURATION_BUFSZ  32

/* Parse s into milliseconds.  Returns 0, or -1 with *why set to a phrase. */
int jw_duration_parse(const char *s, uint64_t *ms, const char **why);
/* Canonical form that parses back to the same value ("1h2m3.5s", "0"). */
void jw_duration_format(uint64_t ms, char *buf, size_t len);

#endif
