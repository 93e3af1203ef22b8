/* outcome.c: state, exit status and reason from how a run ended. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "duration.h"
#include "jobwrap.h"
#include "outcome.h"
#include "signame.h"

static void
describe_child(const struct jw_ending *e, struct jw_run *r)
{
	r->child_code = -1;
	r->child_signal = 0;
	if (!e->wstatus_known)
		return;
	if (WIFEXITED(e->wstatus))
		r->child_code = WEXITSTATUS(e->wstatus);
	else if (WIFSIGNALED(e->wstatus))
		r->child_signal = WTERMSIG(e->wstatus);
}

static void
set(struct jw_run *r, const char *state, int code)
{
	r->state = state;
	r->exit_code = code;
}

/* "... and was stopped with SIGTERM": what jobwrap did about it. */
static const char *
stopped_with(const struct jw_config *c, char *buf, size_t len)
{
	return jw_signal_name(c->signal, buf, len);
}

/*
 * The kernel enforces --rlimit-cpu with SIGXCPU, then SIGKILL a second
 * later, and --rlimit-fsize with SIGXFSZ: say which limit it was.
 */
static int
limit_killed(const struct jw_config *c, const struct jw_ending *e,
    struct jw_run *r)
{
	const struct jw_limit *cpu = &c->rlimit[JW_RL_CPU];
	const struct jw_limit *fsize = &c->rlimit[JW_RL_FSIZE];
	char sig[JW_SIGNAME_BUFSZ];
	int s = r->child_signal;

	jw_signal_name(s, sig, sizeof(sig));
	if (cpu->set && cpu->value != JW_RL_UNLIMITED &&
	    (s == SIGXCPU ||
		(s == SIGKILL && e->cpu_ms >= cpu->value * 1000))) {
		snprintf(r->reason, sizeof(r->reason),
		    "the command used up its "
		    "CPU time limit of %llus (--rlimit-cpu) and was killed by "
		    "%s",
		    (unsigned long long)cpu->value, sig);
		return 1;
	}
	if (fsize->set && s == SIGXFSZ) {
		snprintf(r->reason, sizeof(r->reason),
		    "the command tried to "
		    "write a file past its size limit of %llu bytes "
		    "(--rlimit-fsize) and was killed by %s",
		    (unsigned long long)fsize->value, sig);
		return 1;
	}
	return 0;
}

/* The first sentence of the reason, and the state it stands for. */
static void
first_sentence(const struct jw_config *c, const struct jw_ending *e,
    struct jw_run *r)
{
	char sig[JW_SIGNAME_BUFSZ], dur[JW_DURATION_BUFSZ];
	unsigned next = r->attempt + 1;

	switch (e->cause) {
	case JW_C_ERROR:
		set(r, JW_ST_ERROR, JW_EXIT_INTERNAL);
		snprintf(r->reason, sizeof(r->reason),
		    "jobwrap failed and "
		    "stopped the job: %s",
		    e->error);
		return;
	case JW_C_DEADLINE:
		set(r, JW_ST_TIMEOUT, JW_EXIT_TIMEOUT);
		jw_duration_format(r->deadline_ms, dur, sizeof(dur));
		if (e->in_backoff)
			snprintf(r->reason, sizeof(r->reason),
			    "the run reached "
			    "its deadline of %s (--timeout) while waiting to "
			    "start attempt %u",
			    dur, next);
		else
			snprintf(r->reason, sizeof(r->reason),
			    "the run reached "
			    "its deadline of %s (--timeout) and was stopped "
			    "with %s",
			    dur, stopped_with(c, sig, sizeof(sig)));
		return;
	case JW_C_CANCEL:
		set(r, JW_ST_CANCELLED, JW_EXIT_SIGNAL_BASE + e->cancel_sig);
		snprintf(r->reason, sizeof(r->reason),
		    "jobwrap received %s "
		    "and cancelled the run",
		    jw_signal_name(e->cancel_sig, sig, sizeof(sig)));
		if (e->in_backoff)
			snprintf(r->reason + strlen(r->reason),
			    sizeof(r->reason) - strlen(r->reason),
			    " before attempt %u", next);
		return;
	case JW_C_PARENT_DIED:
		set(r, JW_ST_PARENT_DIED, JW_EXIT_PARENT_DIED);
		snprintf(r->reason, sizeof(r->reason),
		    "the process that "
		    "started jobwrap (pid %d) died",
		    e->parent);
		if (!e->in_backoff)
			jw_reason_append(r, ", and the run was stopped with %s",
			    stopped_with(c, sig, sizeof(sig)));
		else if (r->attempt == 0)
			jw_reason_append(r, " before the command was started");
		else
			jw_reason_append(r,
			    ", and the run ended before attempt "
			    "%u",
			    next);
		jw_reason_append(r, " (--on-parent-death kill)");
		return;
	case JW_C_ATTEMPT_TIMEOUT:
		set(r, JW_ST_TIMEOUT, JW_EXIT_TIMEOUT);
		jw_duration_format(c->attempt_timeout_ms, dur, sizeof(dur));
		snprintf(r->reason, sizeof(r->reason),
		    "attempt %u reached its "
		    "deadline of %s (--attempt-timeout) and was stopped with %s",
		    r->attempt, dur, stopped_with(c, sig, sizeof(sig)));
		return;
	case JW_C_IDLE:
		set(r, JW_ST_IDLE_TIMEOUT, JW_EXIT_TIMEOUT);
		jw_duration_format(c->idle_timeout_ms, dur, sizeof(dur));
		snprintf(r->reason, sizeof(r->reason),
		    "attempt %u wrote no "
		    "output and sent no notify message for %s "
		    "(--idle-timeout): taken as hung and stopped with %s",
		    r->attempt, dur, stopped_with(c, sig, sizeof(sig)));
		return;
	default:
		break;
	}
	if (r->child_code >= 0) {
		set(r, r->child_code == 0 ? JW_ST_SUCCEEDED : JW_ST_FAILED,
		    r->child_code);
		snprintf(r->reason, sizeof(r->reason),
		    "the command exited "
		    "with status %d",
		    r->child_code);
	} else {
		set(r, JW_ST_SIGNALED, JW_EXIT_SIGNAL_BASE + r->child_signal);
		if (limit_killed(c, e, r))
			return;
		snprintf(r->reason, sizeof(r->reason),
		    "the command was "
		    "killed by %s, which jobwrap did not send",
		    jw_signal_name(r->child_signal, sig, sizeof(sig)));
	}
}

void
jw_reason_append(struct jw_run *r, const char *fmt, ...)
{
	size_t n = strlen(r->reason);
	va_list ap;

	if (n >= sizeof(r->reason) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(r->reason + n, sizeof(r->reason) - n, fmt, ap);
	va_end(ap);
}

static void
describe_kill(const struct jw_config *c, const struct jw_ending *e,
    struct jw_run *r)
{
	char dur[JW_DURATION_BUFSZ];
	const char *why = e->kill_why ? e->kill_why : "kill_after";
	const char *by = strcmp(why, "deadline") == 0 ? "the deadline"
	    : strcmp(why, "parent_died") == 0 ? "the death of the parent"
	    : strcmp(why, "attempt_timeout") == 0
	    ? "the attempt deadline (--attempt-timeout)"
	    : strcmp(why, "cancel") == 0 ? "a cancel signal"
	    : strcmp(why, "error") == 0	 ? "a failure of jobwrap"
					 : NULL;

	jw_duration_format(c->kill_after_ms, dur, sizeof(dur));
	if (by == NULL)
		jw_reason_append(r,
		    "; SIGKILL was needed after the %s grace "
		    "(--kill-after)",
		    dur);
	else
		jw_reason_append(r,
		    "; %s cut the %s grace (--kill-after) short and "
		    "SIGKILL was sent",
		    by, dur);
}

void
jw_outcome(const struct jw_config *c, const struct jw_ending *e,
    struct jw_run *r)
{
	describe_child(e, r);
	first_sentence(c, e, r);
	if (e->leftovers > 0)
		jw_reason_append(r,
		    "; it left %zu process%s running, which jobwrap "
		    "stopped",
		    e->leftovers, e->leftovers == 1 ? "" : "es");
	if (e->escalated)
		describe_kill(c, e, r);
	if (e->survivors > 0)
		jw_reason_append(r, "; %zu process%s did not die after SIGKILL",
		    e->survivors, e->survivors == 1 ? "" : "es");
	if (r->attempt > 1)
		jw_reason_append(r, " (attempt %u of at most %llu)", r->attempt,
		    (unsigned long long)c->retries + 1);
}
