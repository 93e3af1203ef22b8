/*
 * outcome.h: how an attempt or the run ended, in the record's words.
 *
 * The supervisor collects the facts (struct jw_ending) while the attempt
 * ends; jw_outcome() turns them into the state, exit status and reason a
 * person can act on.
 */
#ifndef JW_OUTCOME_H
#define JW_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "run.h"

enum jw_cause {
	JW_C_NONE,
	JW_C_EXITED,
	JW_C_DEADLINE,
	JW_C_CANCEL,
	JW_C_ERROR,
	JW_C_ATTEMPT_TIMEOUT,
	JW_C_IDLE,
	JW_C_PARENT_DIED,
};

struct jw_ending {
	enum jw_cause cause; /* the first reason to end wins */
	bool in_backoff;     /* no attempt was running (between
				two, or before the first) */
	int cancel_sig;
	int parent;	   /* JW_C_PARENT_DIED: its pid */
	const char *error; /* JW_C_ERROR: what failed */
	bool wstatus_known;
	int wstatus;	      /* of the command, from waitpid */
	uint64_t cpu_ms;      /* ... and the CPU time it used */
	size_t leftovers;     /* processes left when it exited */
	bool escalated;	      /* SIGKILL was sent */
	const char *kill_why; /* ... because of this (a signal reason) */
	size_t survivors;     /* still there long after SIGKILL */
};

/* Add to r's reason, as far as it has room. */
void jw_reason_append(struct jw_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set r's state, exit_code, child_code, child_signal and reason. */
void jw_outcome(const struct jw_config *c, const struct jw_ending *e,
    struct jw_run *r);

#endif
