/*
 * run.h: what is known about a run, as the supervisor records it.  The
 * report functions turn it into the status document and event fields;
 * they only read it.
 */
#ifndef JW_RUN_H
#define JW_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>

#include "config.h"
#include "procid.h"
#include "tail.h"

struct jw_run {
	const struct jw_config *cfg;
	pid_t jobwrap_pid;
	struct timespec started_at; /* CLOCK_REALTIME */
	uint64_t t0;		    /* CLOCK_MONOTONIC ms at start */
	uint64_t deadline_ms;	    /* 0: none */

	unsigned attempt; /* 0 before the first spawn */
	pid_t pid;	  /* current or last child, 0: none */
	/* What tells the child's process group from a later one with the
	 * same id, for --reap: empty / 0 when unknown. */
	char boot_id[JW_BOOT_ID_LEN + 1];
	unsigned long long pid_start; /* ticks since boot */
	/* Random, in the environment of the job's processes as
	 * JOBWRAP_JOB_<tag>, for --reap; empty: none (no status file). */
	char tag[17];
	uint64_t attempt_t0;
	uint64_t last_output; /* mono ms of the last byte read */

	/* The outcome: state NULL while running. */
	const char *state;
	int exit_code;	  /* jobwrap's, when state is set */
	int child_code;	  /* -1: did not exit normally */
	int child_signal; /* 0: none */
	char reason[768];
	bool ended;
	struct timespec ended_at;
	uint64_t ended_mono;

	uint64_t bytes_out, bytes_err;
	uint64_t dropped_out, dropped_err;
	uint64_t retries_seen;
	uint64_t notify_dropped;
	char *last_error; /* bytes of this attempt, or NULL */
	size_t last_error_len;
	const struct jw_tail *stderr_tail;
};

json_t *jw_report_status(const struct jw_run *r, uint64_t events_seq);
json_t *jw_report_start(const struct jw_run *r);
json_t *jw_report_heartbeat(const struct jw_run *r, uint64_t now,
    size_t children);
json_t *jw_report_attempt_end(const struct jw_run *r, uint64_t now);
json_t *jw_report_exit(const struct jw_run *r, uint64_t now);

#endif
