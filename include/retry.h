/*
 * retry.h: which ends of an attempt are retried, and how long to wait.
 *
 * --retry-on is a list of nonzero, exit:N, exit:N-M, signal,
 * attempt-timeout and idle.  The delay before attempt n+1 is full jitter:
 * uniform in [0, min(backoff-max, backoff * 2^(n-1))].
 */
#ifndef JW_RETRY_H
#define JW_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jw_end {
	JW_END_EXIT,   /* exited with a code */
	JW_END_SIGNAL, /* died of a signal jobwrap did not send */
	JW_END_ATTEMPT_TIMEOUT,
	JW_END_IDLE,
	JW_END_OTHER, /* deadline, cancel, error: never retried */
};

struct jw_retry_on {
	char *text; /* as given, for --check-config */
	bool signal, attempt_timeout, idle;
	uint8_t codes[32]; /* bit N: exit status N */
};

/* 0, or -1 with a phrase in why; r is unchanged on error. */
int jw_retry_on_parse(const char *s, struct jw_retry_on *r, char *why,
    size_t whylen);
void jw_retry_on_free(struct jw_retry_on *r);
bool jw_retry_on_matches(const struct jw_retry_on *r, enum jw_end end,
    int code);
/* rnd: a uniformly random 64-bit number. */
uint64_t jw_backoff_ms(uint64_t base, uint64_t max, unsigned attempt,
    uint64_t rnd);

#endif
