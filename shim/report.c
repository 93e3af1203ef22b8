/* report.c: the status document and event fields, from struct jw_run. */
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "jobwrap.h"
#include "json.h"
#include "run.h"
#include "signame.h"

static json_t *
signal_or_null(int sig)
{
	char buf[JW_SIGNAME_BUFSZ];

	return sig == 0 ? json_null()
			: json_string(jw_signal_name(sig, buf, sizeof(buf)));
}

static json_t *
int_or_null(bool set, long long v)
{
	return set ? json_integer(v) : json_null();
}

static json_t *
rusage_json(void)
{
	struct rusage ru;

	/* Waited-for descendants: every process of the job, once reaped. */
	if (getrusage(RUSAGE_CHILDREN, &ru) == -1)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "maxrss_kb",
	    (json_int_t)ru.ru_maxrss, "utime_ms",
	    (json_int_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
	    "stime_ms",
	    (json_int_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000);
}

static json_t *
tail_json(const struct jw_tail *t)
{
	size_t n;
	char *b;
	json_t *j;

	if (t == NULL || (b = jw_tail_copy(t, &n)) == NULL)
		return json_string("");
	j = jw_json_bytes(b, n);
	free(b);
	return j;
}

static json_t *
last_error_json(const struct jw_run *r)
{
	return r->last_error == NULL
	    ? json_null()
	    : jw_json_bytes(r->last_error, r->last_error_len);
}

json_t *
jw_report_status(const struct jw_run *r, uint64_t events_seq)
{
	char started[JW_RFC3339_BUFSZ], now[JW_RFC3339_BUFSZ];
	char ended[JW_RFC3339_BUFSZ];
	uint64_t end = r->ended ? r->ended_mono : jw_mono_ms();

	return json_pack(
	    "{s:i, s:s, s:s, s:o, s:i, s:o, s:o, s:i, s:s, s:s,"
	    " s:o, s:I, s:o, s:o, s:s, s:o, s:I, s:o, s:I, s:I, s:I, s:I,"
	    " s:I, s:I, s:o, s:I, s:o, s:o, s:o}",
	    "v", JW_SCHEMA_VERSION, "run_id", r->cfg->run_id, "state",
	    r->state ? r->state : JW_ST_RUNNING, "command",
	    jw_json_argv(r->cfg->argv), "jobwrap_pid", (int)r->jobwrap_pid,
	    "pid", int_or_null(r->pid != 0, r->pid), "pgid",
	    int_or_null(r->pid != 0, r->pid), "attempt", (int)r->attempt,
	    "started_at", jw_rfc3339(&r->started_at, started, sizeof(started)),
	    "updated_at", jw_rfc3339_now(now, sizeof(now)), "ended_at",
	    r->ended
		? json_string(jw_rfc3339(&r->ended_at, ended, sizeof(ended)))
		: json_null(),
	    "duration_ms", (json_int_t)(end - r->t0), "exit_code",
	    int_or_null(r->state != NULL, r->exit_code), "signal",
	    signal_or_null(r->child_signal), "reason", r->reason, "last_error",
	    last_error_json(r), "retries_seen", (json_int_t)r->retries_seen,
	    "stderr_tail", tail_json(r->stderr_tail), "bytes_out",
	    (json_int_t)r->bytes_out, "bytes_err", (json_int_t)r->bytes_err,
	    "dropped_out", (json_int_t)r->dropped_out, "dropped_err",
	    (json_int_t)r->dropped_err, "notify_dropped",
	    (json_int_t)r->notify_dropped, "events_seq", (json_int_t)events_seq,
	    "rusage", rusage_json(),
	    /* --cancel waits this long plus a margin for the end. */
	    "kill_after_ms", (json_int_t)r->cfg->kill_after_ms,
	    /* --reap tells the group from a later one with the same id. */
	    "boot_id", r->boot_id[0] ? json_string(r->boot_id) : json_null(),
	    "pgid_start_ticks",
	    r->pid_start ? json_integer((json_int_t)r->pid_start) : json_null(),
	    "job_tag", r->tag[0] ? json_string(r->tag) : json_null());
}

json_t *
jw_report_start(const struct jw_run *r)
{
	return json_pack("{s:o, s:i, s:o, s:o}", "command",
	    jw_json_argv(r->cfg->argv), "jobwrap_pid", (int)r->jobwrap_pid,
	    "deadline_ms",
	    int_or_null(r->deadline_ms != 0, (long long)r->deadline_ms),
	    "config", jw_config_json(r->cfg));
}

json_t *
jw_report_heartbeat(const struct jw_run *r, uint64_t now, size_t children)
{
	uint64_t elapsed = now - r->t0;
	uint64_t quiet_since = r->last_output > r->attempt_t0 ? r->last_output
							      : r->attempt_t0;

	return json_pack("{s:i, s:I, s:o, s:I, s:I, s:I, s:I, s:I}", "attempt",
	    (int)r->attempt, "elapsed_ms", (json_int_t)elapsed, "remaining_ms",
	    int_or_null(r->deadline_ms != 0,
		elapsed >= r->deadline_ms
		    ? 0
		    : (long long)(r->deadline_ms - elapsed)),
	    "since_output_ms", (json_int_t)(now - quiet_since), "bytes_out",
	    (json_int_t)r->bytes_out, "bytes_err", (json_int_t)r->bytes_err,
	    "retries_seen", (json_int_t)r->retries_seen, "children",
	    (json_int_t)children);
}

json_t *
jw_report_attempt_end(const struct jw_run *r, uint64_t now)
{
	return json_pack("{s:i, s:s, s:o, s:o, s:I, s:o}", "attempt",
	    (int)r->attempt, "state", r->state, "exit_code",
	    int_or_null(r->child_code >= 0, r->child_code), "signal",
	    signal_or_null(r->child_signal), "duration_ms",
	    (json_int_t)(now - r->attempt_t0), "last_error",
	    last_error_json(r));
}

json_t *
jw_report_exit(const struct jw_run *r, uint64_t now)
{
	return json_pack("{s:s, s:i, s:o, s:i, s:I, s:o}", "state", r->state,
	    "exit_code", r->exit_code, "signal",
	    signal_or_null(r->child_signal), "attempts", (int)r->attempt,
	    "duration_ms", (json_int_t)(now - r->t0), "status_file",
	    jw_json_str_or_null(r->cfg->status_file));
}
