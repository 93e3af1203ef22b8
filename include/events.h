/*
 * events.h: the JSON Lines event stream, to an inherited fd and/or a file.
 *
 * Both sinks get the same lines with the same gap-free seq.  The fd never
 * stalls supervision: it is written without blocking, the unsent rest is
 * kept in a bounded buffer, a heartbeat is skipped while the previous one
 * is still unsent, and a reader that is gone (EPIPE) or too slow to keep
 * the buffer bounded only loses its sink.  The file is written whole or
 * its failure is reported: it must stay complete and replayable.
 */
#ifndef JW_EVENTS_H
#define JW_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define JW_EVENTS_BUF_MAX (1024 * 1024)

struct jw_events;

/* NULL after writing a reason into err (nothing opened is left open). */
struct jw_events *jw_events_open(int fd, const char *path, const char *run_id,
    uint64_t t0_mono, char *err, size_t errlen);
/*
 * Emit one event; fields (may be NULL) are consumed.  Returns its seq.
 * The line is written by the next jw_events_flush() (the loop calls it
 * once per turn, so a burst of events costs one write per sink).
 */
uint64_t jw_events_emit(struct jw_events *ev, const char *name, json_t *fields);
/* False while the previous heartbeat still waits in the fd buffer. */
bool jw_events_heartbeat_due(const struct jw_events *ev);
uint64_t jw_events_seq(const struct jw_events *ev);

/* The loop polls this fd (-1: none) for EPOLLOUT when want_write. */
int jw_events_poll_fd(const struct jw_events *ev);
bool jw_events_want_write(const struct jw_events *ev);
void jw_events_writable(struct jw_events *ev);
void jw_events_unpollable(struct jw_events *ev);

/* Write what was emitted: to the file completely, to the fd what it takes. */
void jw_events_flush(struct jw_events *ev);
/* Flush, then fdatasync the events file; a failure shows in
 * jw_events_failure(). */
void jw_events_sync(struct jw_events *ev);
/* Non-NULL once the events file could not be written. */
const char *jw_events_failure(const struct jw_events *ev);
/* Send what is queued for at most timeout_ms, then close everything. */
void jw_events_close(struct jw_events *ev, int timeout_ms);

#endif
