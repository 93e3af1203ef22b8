/*
 * said.h: what the job says about itself, made visible.
 *
 * Output lines that match --retry-pattern or --error-pattern, and the
 * sd_notify datagrams it sends, become events (retry, notify) and the
 * run's retries_seen and last_error.  Whether a datagram may be heard at
 * all (it comes from the job) is the supervisor's call.
 */
#ifndef JW_SAID_H
#define JW_SAID_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "events.h"
#include "run.h"

struct jw_said {
	const struct jw_config *cfg;
	struct jw_events *ev;
	struct jw_run *run; /* retries_seen, last_error, attempt */
	bool ready;	    /* READY=1 in this attempt */
	json_t *status;	    /* the latest STATUS= of this attempt */
	bool failed;	    /* out of memory: something was lost */
};

void jw_said_init(struct jw_said *d, const struct jw_config *cfg,
    struct jw_events *ev, struct jw_run *run);
/* A new attempt: it has said nothing yet. */
void jw_said_forget(struct jw_said *d);
/* The attempt succeeded: its errors are history (last_error cleared). */
void jw_said_recovered(struct jw_said *d);
/* A complete line of the job's stdout or stderr (stream names which). */
void jw_said_line(struct jw_said *d, const char *stream, const char *line,
    size_t len);
/* A datagram from the job; false when it holds no KEY=VALUE line. */
bool jw_said_datagram(struct jw_said *d, const char *p, size_t len);
void jw_said_free(struct jw_said *d);

#endif
