/* clock.h: the two clocks events carry. */
#ifndef JW_CLOCK_H
#define JW_CLOCK_H

#include <stdint.h>
#include <time.h>

#define JW_RFC3339_BUFSZ 32

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t jw_mono_ms(void);
/* "2026-11-22T08:10:02.123Z" for a CLOCK_REALTIME reading. */
const char *jw_rfc3339(const struct timespec *ts, char *buf, size_t len);
const char *jw_rfc3339_now(char *buf, size_t len);

#endif
