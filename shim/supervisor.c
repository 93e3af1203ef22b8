/*
 * supervisor.c: one event loop, one child at a time, one terminal record.
 *
 * Sources: a signalfd (SIGCHLD, cancel signals, SIGUSR1), timerfds (hard
 * deadline, heartbeat, kill escalation), the child's stdout and stderr
 * pipes, jobwrap's own stdout and stderr when they cannot take more, and
 * the events fd when its reader is behind.  Nothing sleeps; between
 * heartbeats an idle job causes no wake-up.
 *
 * An attempt ends in phases.  RUN: the child lives.  ENDING: the child
 * exited, or a deadline or cancel came; what is left of the job got
 * `signal` and has kill-after to go, while the pipes drain.  KILLING:
 * kill-after is over; everything left gets SIGKILL, again after each
 * reaped process, until jobwrap has no child left.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "events.h"
#include "jobwrap.h"
#include "log.h"
#include "proctree.h"
#include "relay.h"
#include "run.h"
#include "signame.h"
#include "spawn.h"
#include "status.h"
#include "supervisor.h"

/* After SIGKILL only an uninterruptible sleep delays death; wait this long. */
#define SIGKILL_WAIT_MS	5000
#define EXIT_FLUSH_MS	1000

enum phase { P_RUN, P_ENDING, P_KILLING, P_DONE };
enum cause { C_NONE, C_EXITED, C_DEADLINE, C_CANCEL, C_ERROR };
enum tag {
	W_SIGNAL, W_DEADLINE, W_HEARTBEAT, W_KILL,
	W_OUT_IN, W_ERR_IN, W_OUT_OUT, W_ERR_OUT, W_EVENTS, W_COUNT
};

struct watch {
	int		 fd;
	uint32_t	 mask;		/* what epoll has now; 0: not added */
};

struct sup {
	const struct jw_config *cfg;
	struct jw_run	 run;
	int		 ep, sigfd, tdeadline, theartbeat, tkill;
	struct watch	 w[W_COUNT];
	struct jw_events *ev;
	struct jw_status st;
	bool		 has_status;
	struct jw_stream out, err;
	struct jw_tail	 tail;

	enum phase	 phase;
	enum cause	 cause;
	int		 cancel_sig;
	bool		 spawned;	/* this attempt has a child */
	bool		 reaped;	/* ... and it has been waited for */
	bool		 children;	/* jobwrap still has children */
	int		 wstatus;
	bool		 wstatus_known;
	bool		 escalated;	/* SIGKILL was sent */
	const char	*kill_why;	/* ... because of this (a signal reason) */
	bool		 deadline_passed;
	size_t		 leftovers;	/* processes left when the child exited */
	size_t		 survivors;	/* still there after SIGKILL_WAIT_MS */
	char		 error[512];	/* C_ERROR: what failed */
};

static void	fail(struct sup *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	begin_ending(struct sup *, enum cause, const char *);

/* ---- epoll and timers ---------------------------------------------- */

static void
watch(struct sup *s, enum tag t, int fd, uint32_t mask)
{
	struct watch *w = &s->w[t];
	struct epoll_event e = { .events = mask, .data.u32 = t };
	int op;

	if (w->fd != fd && w->mask != 0) {
		/* The old fd may be closed already: the kernel dropped it. */
		(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, w->fd, NULL);
		w->mask = 0;
	}
	w->fd = fd;
	if (fd == -1 || w->mask == mask)
		return;
	op = mask == 0 ? EPOLL_CTL_DEL : w->mask == 0 ? EPOLL_CTL_ADD :
	    EPOLL_CTL_MOD;
	if (epoll_ctl(s->ep, op, fd, &e) == 0) {
		w->mask = mask;
		return;
	}
	if (errno == EPERM && t == W_OUT_OUT)
		jw_wfd_unpollable(&s->out.out);
	else if (errno == EPERM && t == W_ERR_OUT)
		jw_wfd_unpollable(&s->err.out);
	else if (errno == EPERM && t == W_EVENTS)
		jw_events_unpollable(s->ev);
	else
		fail(s, "epoll_ctl: %s", strerror(errno));
}

/* Interest follows state: read a pipe only while its buffer has room,
 * poll an output only while something waits to be written. */
static void
sync_watches(struct sup *s)
{
	watch(s, W_OUT_IN, s->out.in,
	    jw_stream_want_read(&s->out) ? EPOLLIN : 0);
	watch(s, W_ERR_IN, s->err.in,
	    jw_stream_want_read(&s->err) ? EPOLLIN : 0);
	watch(s, W_OUT_OUT, s->out.out.fd,
	    jw_stream_want_write(&s->out) ? EPOLLOUT : 0);
	watch(s, W_ERR_OUT, s->err.out.fd,
	    jw_stream_want_write(&s->err) ? EPOLLOUT : 0);
	watch(s, W_EVENTS, jw_events_poll_fd(s->ev),
	    jw_events_want_write(s->ev) ? EPOLLOUT : 0);
}

static void
arm(struct sup *s, int fd, uint64_t ms, uint64_t interval_ms, bool absolute)
{
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 },
		.it_interval = { (time_t)(interval_ms / 1000),
		    (long)(interval_ms % 1000) * 1000000 },
	};

	/* A zero it_value disarms: "now" is 1 ns. */
	if (ms == 0 && !absolute)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(fd, absolute ? TFD_TIMER_ABSTIME : 0, &its, NULL)
	    == -1)
		fail(s, "timerfd_settime: %s", strerror(errno));
}

static void
disarm(struct sup *s, int fd)
{
	struct itimerspec off = { 0 };

	if (timerfd_settime(fd, 0, &off, NULL) == -1)
		fail(s, "timerfd_settime: %s", strerror(errno));
}

static void
drain_timer(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
}

static int
setup_loop(struct sup *s, char *err, size_t errlen)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGPIPE);	/* blocked: EPIPE instead */
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		goto fail;
	sigdelset(&set, SIGPIPE);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->tdeadline = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->theartbeat = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->tkill = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->sigfd == -1 || s->ep == -1 || s->tdeadline == -1 ||
	    s->theartbeat == -1 || s->tkill == -1)
		goto fail;
	for (int t = 0; t < W_COUNT; t++)
		s->w[t] = (struct watch){ -1, 0 };
	watch(s, W_SIGNAL, s->sigfd, EPOLLIN);
	watch(s, W_DEADLINE, s->tdeadline, EPOLLIN);
	watch(s, W_HEARTBEAT, s->theartbeat, EPOLLIN);
	watch(s, W_KILL, s->tkill, EPOLLIN);
	if (s->error[0] == '\0')
		return 0;
	snprintf(err, errlen, "%s", s->error);
	return -1;
fail:
	snprintf(err, errlen, "cannot set up the event loop: %s",
	    strerror(errno));
	return -1;
}

/* ---- reports -------------------------------------------------------- */

static void
sync_counters(struct sup *s)
{
	s->run.bytes_out = s->out.bytes;
	s->run.bytes_err = s->err.bytes;
	s->run.dropped_out = s->out.dropped;
	s->run.dropped_err = s->err.dropped;
}

static void
emit(struct sup *s, const char *name, json_t *fields)
{
	if (fields == NULL)
		fail(s, "cannot build event %s: out of memory", name);
	jw_events_emit(s->ev, name, fields);
}

static int
write_status(struct sup *s)
{
	char err[512];
	json_t *doc;
	int rc;

	if (!s->has_status)
		return 0;
	sync_counters(s);
	if ((doc = jw_report_status(&s->run, jw_events_seq(s->ev))) == NULL) {
		fail(s, "cannot build the status: out of memory");
		return -1;
	}
	rc = jw_status_write(&s->st, doc, err, sizeof(err));
	json_decref(doc);
	if (rc == -1)
		fail(s, "%s", err);
	return rc;
}

static void
heartbeat(struct sup *s, bool forced)
{
	uint64_t now = jw_mono_ms();

	sync_counters(s);
	/* A reader that has not taken the last one gets the next one later:
	 * heartbeats carry totals, so skipping one loses nothing. */
	if (forced || jw_events_heartbeat_due(s->ev))
		emit(s, JW_EV_HEARTBEAT,
		    jw_report_heartbeat(&s->run, now, jw_tree_count()));
	write_status(s);
}

static void
emit_signal(struct sup *s, int sig, const char *target, const char *why)
{
	char name[JW_SIGNAME_BUFSZ];

	emit(s, JW_EV_SIGNAL, json_pack("{s:i, s:s, s:s, s:s}",
	    "attempt", (int)s->run.attempt,
	    "signal", jw_signal_name(sig, name, sizeof(name)),
	    "target", target, "reason", why));
}

/* ---- errors ---------------------------------------------------------- */

/*
 * jobwrap itself failed: the run ends as "error" (exit 125) with the
 * message as its reason.  The first failure is the one reported.
 */
static void
fail(struct sup *s, const char *fmt, ...)
{
	va_list ap;

	if (s->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	jw_warn("%s", s->error);
	if (s->phase == P_RUN && s->spawned)
		begin_ending(s, C_ERROR, "error");
	else if (s->cause == C_NONE)
		s->cause = C_ERROR;
}

/* ---- killing the job ------------------------------------------------- */

/*
 * Signal everything of the job.  The process group goes first, in one
 * atomic kill, while its leader is unreaped (the leader pins the id); then
 * the walk finds every descendant, also those outside the group.  For
 * SIGKILL the walk kills each process as it finds it; for a catchable
 * signal it freezes each, so nothing forks away meanwhile, and SIGCONT
 * afterwards lets a stopped process act on the signal.
 */
static void
signal_job(struct sup *s, int sig, const char *why, bool announce)
{
	struct jw_procs all = { 0 };
	pid_t pgid = s->run.pid;
	bool group = false, tree = false;

	if (s->spawned && !s->reaped) {
		(void)kill(-pgid, sig);
		group = true;
	}
	if (jw_tree_walk(&all, sig == SIGKILL ? SIGKILL : SIGSTOP) == -1)
		fail(s, "cannot list the job's processes: out of memory");
	for (size_t i = 0; i < all.n; i++) {
		if (all.v[i].pgid != pgid) {
			if (sig != SIGKILL)
				(void)kill(all.v[i].pid, sig);
			tree = true;
		} else if (!group && s->spawned) {
			/* A live member pins the group id: it is not reused. */
			(void)kill(-pgid, sig);
			group = true;
		}
	}
	if (sig != SIGKILL)
		jw_tree_signal(&all, SIGCONT);
	jw_procs_free(&all);
	if (announce && group)
		emit_signal(s, sig, "group", why);
	if (announce && tree)
		emit_signal(s, sig, "tree", why);
}

/* why: "kill_after" when the grace ran out, else what cut it short. */
static void
begin_killing(struct sup *s, const char *why)
{
	if (s->phase == P_KILLING || s->phase == P_DONE)
		return;
	s->phase = P_KILLING;
	s->escalated = s->children || !s->reaped;
	s->kill_why = why;
	if (s->escalated)
		signal_job(s, SIGKILL, why, true);
	arm(s, s->tkill, SIGKILL_WAIT_MS, 0, false);
}

static void
begin_ending(struct sup *s, enum cause cause, const char *why)
{
	uint64_t now;

	if (s->phase != P_RUN) {
		/* A second reason to stop does not wait for the grace. */
		if (cause != C_EXITED)
			begin_killing(s, why);
		return;
	}
	now = jw_mono_ms();
	s->phase = P_ENDING;
	s->cause = cause;
	if (cause == C_EXITED)
		s->leftovers = s->children ? jw_tree_count() : 0;
	if (!s->reaped || s->children)
		signal_job(s, s->cfg->signal, why, true);
	if (s->cfg->kill_after_ms == 0)
		begin_killing(s, why);
	else	/* from now: the walk above must not stretch the grace */
		arm(s, s->tkill, now + s->cfg->kill_after_ms, 0, true);
}

/* ---- event handlers -------------------------------------------------- */

static void
reap(struct sup *s)
{
	int st;

	for (;;) {
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p == -1 && errno == EINTR)
			continue;
		if (p == 0) {
			s->children = true;
			break;
		}
		if (p == -1) {
			s->children = false;	/* ECHILD: nothing is left */
			break;
		}
		if (s->spawned && p == s->run.pid && !s->reaped) {
			s->reaped = true;
			s->wstatus = st;
			s->wstatus_known = true;
		}
	}
	if (s->spawned && s->reaped && s->phase == P_RUN)
		begin_ending(s, C_EXITED, "leftover");
	else if (s->phase == P_KILLING && s->children)
		signal_job(s, SIGKILL, s->kill_why, false);
}

static void
on_signal(struct sup *s)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(s->sigfd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD)
			reap(s);
		else if (sig == SIGUSR1)
			heartbeat(s, true);
		else {
			if (s->cancel_sig == 0 && s->phase == P_RUN)
				s->cancel_sig = sig;
			begin_ending(s, C_CANCEL, "cancel");
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		fail(s, "read signalfd: %s", strerror(errno));
}

static void
on_deadline(struct sup *s)
{
	drain_timer(s->tdeadline);
	s->deadline_passed = true;
	/* Also while the job is being stopped: it cuts the grace short. */
	emit(s, JW_EV_TIMEOUT, json_pack("{s:i, s:s}",
	    "attempt", (int)s->run.attempt, "kind", "deadline"));
	begin_ending(s, C_DEADLINE, "deadline");
}

static void
on_kill_timer(struct sup *s)
{
	drain_timer(s->tkill);
	if (s->phase == P_ENDING) {
		begin_killing(s, "kill_after");
		return;
	}
	/* P_KILLING: whatever is still there cannot be killed; stop waiting
	 * for it (a slow reader of what the job wrote is still served). */
	if (s->children || !s->reaped) {
		s->survivors = jw_tree_count();
		s->children = false;
		s->reaped = true;
	}
}

static void
on_read(struct sup *s, struct jw_stream *st)
{
	if (jw_stream_read(st) > 0)
		s->run.last_output = jw_mono_ms();
}

static void
dispatch(struct sup *s, uint32_t tag)
{
	switch (tag) {
	case W_SIGNAL:
		on_signal(s);
		break;
	case W_DEADLINE:
		on_deadline(s);
		break;
	case W_HEARTBEAT:
		drain_timer(s->theartbeat);
		heartbeat(s, false);
		break;
	case W_KILL:
		on_kill_timer(s);
		break;
	case W_OUT_IN:
		on_read(s, &s->out);
		break;
	case W_ERR_IN:
		on_read(s, &s->err);
		break;
	case W_OUT_OUT:
		jw_stream_writable(&s->out);
		break;
	case W_ERR_OUT:
		jw_stream_writable(&s->err);
		break;
	case W_EVENTS:
		jw_events_writable(s->ev);
		break;
	}
}

/* ---- the outcome ----------------------------------------------------- */

static bool
attempt_over(struct sup *s)
{
	if (s->phase == P_RUN || s->phase == P_DONE || !s->reaped ||
	    s->children)
		return false;
	if (s->phase == P_KILLING) {
		/* Everything is dead: a writer still holding a pipe is not
		 * part of the job; what is in the pipe now is all there is. */
		jw_stream_last_writer_gone(&s->out);
		jw_stream_last_writer_gone(&s->err);
	}
	/* Delivery to a slow reader goes on until the hard deadline. */
	if (s->deadline_passed) {
		jw_stream_abandon(&s->out);
		jw_stream_abandon(&s->err);
	}
	return jw_stream_done(&s->out) && jw_stream_done(&s->err);
}

static void
describe_child(struct sup *s)
{
	struct jw_run *r = &s->run;

	r->child_code = -1;
	r->child_signal = 0;
	if (!s->wstatus_known)
		return;
	if (WIFEXITED(s->wstatus))
		r->child_code = WEXITSTATUS(s->wstatus);
	else if (WIFSIGNALED(s->wstatus))
		r->child_signal = WTERMSIG(s->wstatus);
}

static size_t
describe_kill(const struct sup *s, char *buf, size_t len)
{
	char dur[JW_DURATION_BUFSZ];
	const char *by = strcmp(s->kill_why, "deadline") == 0 ? "the deadline" :
	    strcmp(s->kill_why, "cancel") == 0 ? "a cancel signal" :
	    strcmp(s->kill_why, "error") == 0 ? "a failure of jobwrap" : NULL;

	jw_duration_format(s->cfg->kill_after_ms, dur, sizeof(dur));
	if (by == NULL)
		return (size_t)snprintf(buf, len, "; SIGKILL was needed after "
		    "the %s grace (--kill-after)", dur);
	return (size_t)snprintf(buf, len, "; %s cut the %s grace "
	    "(--kill-after) short and SIGKILL was sent", by, dur);
}

static void
set_outcome(struct sup *s)
{
	struct jw_run *r = &s->run;
	char name[JW_SIGNAME_BUFSZ], dur[JW_DURATION_BUFSZ];
	size_t n;

	describe_child(s);
	if (s->cause == C_ERROR) {
		r->state = JW_ST_ERROR;
		r->exit_code = JW_EXIT_INTERNAL;
		snprintf(r->reason, sizeof(r->reason), "jobwrap failed and "
		    "stopped the job: %s", s->error);
	} else if (s->cause == C_DEADLINE) {
		r->state = JW_ST_TIMEOUT;
		r->exit_code = JW_EXIT_TIMEOUT;
		jw_duration_format(r->deadline_ms, dur, sizeof(dur));
		snprintf(r->reason, sizeof(r->reason), "the run reached its "
		    "deadline of %s (--timeout) and was stopped with %s", dur,
		    jw_signal_name(s->cfg->signal, name, sizeof(name)));
	} else if (s->cause == C_CANCEL) {
		r->state = JW_ST_CANCELLED;
		r->exit_code = JW_EXIT_SIGNAL_BASE + s->cancel_sig;
		snprintf(r->reason, sizeof(r->reason), "jobwrap received %s "
		    "and cancelled the run",
		    jw_signal_name(s->cancel_sig, name, sizeof(name)));
	} else if (r->child_code >= 0) {
		r->state = r->child_code == 0 ? JW_ST_SUCCEEDED : JW_ST_FAILED;
		r->exit_code = r->child_code;
		snprintf(r->reason, sizeof(r->reason), "the command exited "
		    "with status %d", r->child_code);
	} else {
		r->state = JW_ST_SIGNALED;
		r->exit_code = JW_EXIT_SIGNAL_BASE + r->child_signal;
		snprintf(r->reason, sizeof(r->reason), "the command was "
		    "killed by %s, which jobwrap did not send",
		    jw_signal_name(r->child_signal, name, sizeof(name)));
	}
	n = strlen(r->reason);
	if (s->leftovers > 0)
		n += (size_t)snprintf(r->reason + n, sizeof(r->reason) - n,
		    "; it left %zu process%s running, which jobwrap stopped",
		    s->leftovers, s->leftovers == 1 ? "" : "es");
	if (s->escalated && n < sizeof(r->reason))
		n += describe_kill(s, r->reason + n, sizeof(r->reason) - n);
	if (s->survivors > 0 && n < sizeof(r->reason))
		snprintf(r->reason + n, sizeof(r->reason) - n, "; %zu "
		    "process%s did not die after SIGKILL", s->survivors,
		    s->survivors == 1 ? "" : "es");
}

static void
mark_ended(struct sup *s)
{
	s->run.ended = true;
	s->run.ended_mono = jw_mono_ms();
	clock_gettime(CLOCK_REALTIME, &s->run.ended_at);
}

/*
 * A failure of jobwrap itself outranks how the command ended: the record
 * would otherwise claim a success that the events or status cannot back.
 */
static void
apply_failure(struct sup *s)
{
	struct jw_run *r = &s->run;
	char was[sizeof(r->reason)];

	if (jw_events_failure(s->ev) != NULL)
		fail(s, "%s", jw_events_failure(s->ev));
	if (s->error[0] == '\0' || strcmp(r->state, JW_ST_ERROR) == 0)
		return;
	snprintf(was, sizeof(was), "%s", r->reason);
	r->state = JW_ST_ERROR;
	r->exit_code = JW_EXIT_INTERNAL;
	snprintf(r->reason, sizeof(r->reason), "jobwrap failed: %.300s "
	    "(before that: %.400s)", s->error, was);
}

/* The events file durably, the terminal status durably, then the exit
 * event, then nothing. */
static int
finish(struct sup *s)
{
	s->phase = P_DONE;
	mark_ended(s);
	jw_events_sync(s->ev);
	apply_failure(s);
	if (write_status(s) == -1)
		apply_failure(s);
	emit(s, JW_EV_EXIT, jw_report_exit(&s->run, s->run.ended_mono));
	jw_events_sync(s->ev);
	if (jw_events_failure(s->ev) != NULL &&
	    strcmp(s->run.state, JW_ST_ERROR) != 0) {
		/* The exit line itself was lost: correct the record. */
		apply_failure(s);
		write_status(s);
	}
	return s->run.exit_code;
}

static int
end_attempt(struct sup *s)
{
	disarm(s, s->tkill);
	set_outcome(s);
	sync_counters(s);
	emit(s, JW_EV_ATTEMPT_END, jw_report_attempt_end(&s->run, jw_mono_ms()));
	return finish(s);
}

/* ---- starting -------------------------------------------------------- */

static int
spawn_failed(struct sup *s, enum jw_spawn_stage stage, int err)
{
	struct jw_run *r = &s->run;

	emit(s, JW_EV_SPAWN_FAILED, json_pack("{s:i, s:i, s:s}",
	    "attempt", (int)r->attempt, "errno", err, "error", strerror(err)));
	r->state = JW_ST_SPAWN_FAILED;
	r->exit_code = stage == JW_SPAWN_SETUP ? JW_EXIT_INTERNAL :
	    err == ENOENT ? JW_EXIT_NOTFOUND : JW_EXIT_NOEXEC;
	snprintf(r->reason, sizeof(r->reason), "cannot %s \"%s\": %s",
	    stage == JW_SPAWN_SETUP ? "start a process for" : "execute",
	    s->cfg->argv[0], strerror(err));
	return finish(s);
}

/* -1: it never ran; the run is finished and *rc is the exit status. */
static int
spawn_attempt(struct sup *s, int *rc)
{
	struct jw_child c;
	enum jw_spawn_stage stage;
	int err;

	/* Forget the last attempt's fds before new ones may reuse numbers. */
	sync_watches(s);
	s->run.attempt++;
	s->run.attempt_t0 = jw_mono_ms();
	if (jw_spawn(s->cfg->argv, &c, &stage, &err) == -1) {
		*rc = spawn_failed(s, stage, err);
		return -1;
	}
	s->spawned = true;
	s->reaped = false;
	s->children = true;
	s->run.pid = c.pid;
	jw_stream_attach(&s->out, c.out);
	jw_stream_attach(&s->err, c.err);
	emit(s, JW_EV_SPAWN, json_pack("{s:i, s:i, s:i}",
	    "attempt", (int)s->run.attempt, "pid", (int)c.pid,
	    "pgid", (int)c.pid));
	snprintf(s->run.reason, sizeof(s->run.reason), "attempt %u is "
	    "running (pid %d)", s->run.attempt, (int)c.pid);
	write_status(s);
	return 0;
}

static int
open_outputs(struct sup *s, char *err, size_t errlen)
{
	const struct jw_config *c = s->cfg;

	if (jw_tail_init(&s->tail, c->tail_bytes) == -1 ||
	    jw_stream_init(&s->out, 1, NULL) == -1 ||
	    jw_stream_init(&s->err, 2, &s->tail) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->run.stderr_tail = &s->tail;
	s->ev = jw_events_open(c->events_fd, c->events_file, c->run_id,
	    s->run.t0, err, errlen);
	if (s->ev == NULL)
		return -1;
	if (c->status_file != NULL) {
		if (jw_status_open(&s->st, c->status_file, err, errlen) == -1)
			return -1;
		s->has_status = true;
	}
	return 0;
}

static void
init_run(struct sup *s, const struct jw_config *c)
{
	memset(s, 0, sizeof(*s));
	s->cfg = c;
	s->ep = s->sigfd = s->tdeadline = s->theartbeat = s->tkill = -1;
	s->out.in = s->err.in = -1;
	s->out.out.fd = s->err.out.fd = -1;
	s->st.dirfd = s->st.lockfd = -1;
	s->run.cfg = c;
	s->run.jobwrap_pid = getpid();
	s->run.t0 = jw_mono_ms();
	clock_gettime(CLOCK_REALTIME, &s->run.started_at);
	s->run.deadline_ms = c->timeout_ms;
	s->run.child_code = -1;
	snprintf(s->run.reason, sizeof(s->run.reason), "jobwrap has started "
	    "and is about to start the command");
}

static void
cleanup(struct sup *s)
{
	int fds[] = { s->ep, s->sigfd, s->tdeadline, s->theartbeat, s->tkill };

	jw_events_close(s->ev, EXIT_FLUSH_MS);
	s->ev = NULL;
	if (s->has_status)
		jw_status_close(&s->st);
	jw_stream_free(&s->out);
	jw_stream_free(&s->err);
	jw_tail_free(&s->tail);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] != -1)
			close(fds[i]);
}

static int
run_loop(struct sup *s)
{
	struct epoll_event evs[16];
	int n;

	while (s->phase != P_DONE) {
		sync_watches(s);
		n = epoll_wait(s->ep, evs, 16, -1);
		if (n == -1 && errno != EINTR) {
			fail(s, "epoll_wait: %s", strerror(errno));
			signal_job(s, SIGKILL, "error", true);
			return end_attempt(s);	/* cannot wait any more */
		}
		for (int i = 0; i < n; i++)
			dispatch(s, evs[i].data.u32);
		if (jw_events_failure(s->ev) != NULL)
			fail(s, "%s", jw_events_failure(s->ev));
		if (attempt_over(s))
			return end_attempt(s);
	}
	return s->run.exit_code;
}

int
jw_supervise(const struct jw_config *c)
{
	struct sup s;
	char err[512];
	int rc;

	init_run(&s, c);
	if (jw_tree_subreaper() == -1) {
		jw_warn("cannot become a child subreaper: %s", strerror(errno));
		return JW_EXIT_INTERNAL;
	}
	if (setup_loop(&s, err, sizeof(err)) == -1 ||
	    open_outputs(&s, err, sizeof(err)) == -1) {
		jw_warn("%s", err);
		cleanup(&s);
		return JW_EXIT_INTERNAL;
	}
	if (write_status(&s) == -1) {
		cleanup(&s);
		return JW_EXIT_INTERNAL;
	}
	emit(&s, JW_EV_START, jw_report_start(&s.run));
	if (c->timeout_ms > 0)
		arm(&s, s.tdeadline, s.run.t0 + c->timeout_ms, 0, true);
	if (c->heartbeat_ms > 0)
		arm(&s, s.theartbeat, c->heartbeat_ms, c->heartbeat_ms, false);
	if (s.error[0] != '\0') {
		set_outcome(&s);
		rc = finish(&s);
	}
	else if (spawn_attempt(&s, &rc) == 0)
		rc = run_loop(&s);
	cleanup(&s);
	return rc;
}
