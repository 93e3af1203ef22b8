/*
 * jobwrap.h: the public constants of jobwrap's external contract.
 *
 * Parents in C may include this file; parents in other languages read the
 * same names from the JSON Schemas in include/jobwrap/.  A test checks that this
 * header, the schemas and the binary agree.
 */
#ifndef JOBWRAP_H
#define JOBWRAP_H

#define JW_VERSION	  "0.1.0"
#define JW_SCHEMA_VERSION 1

/* Exit status, as timeout(1) where it overlaps. */
#define JW_EXIT_TIMEOUT	    124 /* deadline, attempt deadline or idle */
#define JW_EXIT_INTERNAL    125 /* jobwrap itself failed */
#define JW_EXIT_NOEXEC	    126 /* found but not executable */
#define JW_EXIT_NOTFOUND    127 /* not found */
#define JW_EXIT_SIGNAL_BASE 128 /* + signal number */
/* The parent died (--on-parent-death kill): 128 + SIGHUP, a hang-up. */
#define JW_EXIT_PARENT_DIED 129

/* Events. */
#define JW_EV_START	   "start"
#define JW_EV_SPAWN	   "spawn"
#define JW_EV_SPAWN_FAILED "spawn_failed"
#define JW_EV_HEARTBEAT	   "heartbeat"
#define JW_EV_NOTIFY	   "notify"
#define JW_EV_RETRY	   "retry"
#define JW_EV_TIMEOUT	   "timeout"
#define JW_EV_SIGNAL	   "signal"
#define JW_EV_ATTEMPT_END  "attempt_end"
#define JW_EV_EXIT	   "exit"

/* One event line, newline included, is never longer than this. */
#define JW_EVENT_LINE_MAX 65536

/* States of a run (status "state", exit event "state"). */
#define JW_ST_RUNNING	   "running"
#define JW_ST_SUCCEEDED	   "succeeded"
#define JW_ST_FAILED	   "failed"
#define JW_ST_SIGNALED	   "signaled"
#define JW_ST_TIMEOUT	   "timeout"
#define JW_ST_IDLE_TIMEOUT "idle_timeout"
#define JW_ST_CANCELLED	   "cancelled"
#define JW_ST_PARENT_DIED  "parent_died"
#define JW_ST_SPAWN_FAILED "spawn_failed"
#define JW_ST_ERROR	   "error"
#define JW_ST_ORPHANED	   "orphaned"

#endif /* JOBWRAP_H */
