/*
 * supervisor.c: one event loop, one child at a time, one terminal record.
 *
 * Sources: a signalfd (SIGCHLD, cancel signals, SIGUSR1), timerfds (hard
 * deadline, heartbeat, kill escalation, attempt deadline, idle, backoff),
 * the child's stdout and stderr pipes, the notify socket, jobwrap's own
 * stdout and stderr when they cannot take more, and the events fd when its
 * reader is behind.  Nothing sleeps; between heartbeats an idle job causes
 * no wake-up (the idle timer is moved lazily, when it fires).
 *
 * An attempt ends in phases.  RUN: the child lives.  ENDING: the child
 * exited, or a deadline or cancel came; what is left of the job got
 * `signal` and has kill-after to go, while the pipes drain.  KILLING:
 * kill-after is over; everything left gets SIGKILL, again after each
 * reaped process, until jobwrap has no child left.  Then the attempt is
 * over: either BACKOFF until the next one, or DONE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "events.h"
#include "jobwrap.h"
#include "json.h"
#include "lines.h"
#include "log.h"
#include "notify.h"
#include "outcome.h"
#include "proctree.h"
#include "relay.h"
#include "run.h"
#include "said.h"
#include "signame.h"
#include "spawn.h"
#include "status.h"
#include "supervisor.h"

/* After SIGKILL only an uninterruptible sleep delays death; wait this long. */
#define SIGKILL_WAIT_MS 5000
#define EXIT_FLUSH_MS	1000

enum phase { P_RUN, P_ENDING, P_KILLING, P_BACKOFF, P_DONE };
enum tag {
	W_SIGNAL,
	W_DEADLINE,
	W_HEARTBEAT,
	W_KILL,
	W_ATTEMPT,
	W_IDLE,
	W_BACKOFF,
	W_NOTIFY,
	W_PARENT,
	W_OUT_IN,
	W_ERR_IN,
	W_OUT_OUT,
	W_ERR_OUT,
	W_EVENTS,
	W_COUNT
};

struct sup;

/* What the pattern matcher needs to know about a line's origin. */
struct origin {
	struct sup *s;
	const char *stream; /* "stdout" or "stderr" */
	struct jw_lines lines;
};

struct watch {
	int fd;
	uint32_t mask; /* what epoll has now; 0: not added */
};

struct sup {
	const struct jw_config *cfg;
	struct jw_run run;
	int ep, sigfd, tdeadline, theartbeat, tkill;
	int tattempt, tidle, tbackoff;
	int parentfd; /* pidfd of the process that started us */
	pid_t parent;
	int parent_err;	   /* why there is no pidfd */
	bool pdeath_armed; /* ... and PDEATH_SIG stands in */
	bool unattended;   /* it died and the run went on */
	struct watch w[W_COUNT];
	struct jw_events *ev;
	struct jw_status st;
	bool has_status;
	struct jw_stream out, err;
	struct jw_tail tail;
	struct origin oout, oerr;  /* lines, when there are patterns */
	struct jw_literals filter; /* what a matching line must hold */
	struct jw_notify notify;
	struct jw_childenv env;
	struct jw_sandbox sandbox; /* built before the first attempt */
	bool sandbox_built;
	uint64_t last_activity; /* output or notify, for --idle-timeout */
	struct jw_said said;

	enum phase phase;
	struct jw_ending end; /* how this attempt is ending */
	enum jw_cause stop;   /* a cancel or the parent's death came
				 while it was ending: no retry */
	bool spawned;	      /* this attempt has a child */
	bool reaped;	      /* ... and it has been waited for */
	bool children;	      /* jobwrap still has children */
	bool deadline_passed;
	char error[512]; /* what failed, when jobwrap did */
};

/*
 * The parent-death signal, when no pidfd can be had on the parent: under
 * jobwrap's own seccomp filter (jobwrap under jobwrap) pidfd_open on the
 * supervisor is refused.  It fires when the parent *thread* exits, which
 * is sound there: jobwrap is single-threaded.
 */
#define PDEATH_SIG (SIGRTMIN + 5)

static void fail(struct sup *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void begin_ending(struct sup *, enum jw_cause, const char *);
static void spawn_attempt(struct sup *);
static void on_notify(struct sup *, size_t);
static void on_parent_death(struct sup *);

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
	op = mask == 0	   ? EPOLL_CTL_DEL
	    : w->mask == 0 ? EPOLL_CTL_ADD
			   : EPOLL_CTL_MOD;
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
		.it_value = { (time_t)(ms / 1000),
		    (long)(ms % 1000) * 1000000 },
		.it_interval = { (time_t)(interval_ms / 1000),
		    (long)(interval_ms % 1000) * 1000000 },
	};

	/* A zero it_value disarms: "now" is 1 ns. */
	if (ms == 0 && !absolute)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(fd, absolute ? TFD_TIMER_ABSTIME : 0, &its, NULL) ==
	    -1)
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
	sigaddset(&set, PDEATH_SIG);
	sigaddset(&set, SIGPIPE); /* blocked: EPIPE instead */
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		goto fail;
	sigdelset(&set, SIGPIPE);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->tdeadline = timerfd_create(CLOCK_MONOTONIC,
	    TFD_CLOEXEC | TFD_NONBLOCK);
	s->theartbeat = timerfd_create(CLOCK_MONOTONIC,
	    TFD_CLOEXEC | TFD_NONBLOCK);
	s->tkill = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->tattempt = timerfd_create(CLOCK_MONOTONIC,
	    TFD_CLOEXEC | TFD_NONBLOCK);
	s->tidle = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	s->tbackoff = timerfd_create(CLOCK_MONOTONIC,
	    TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->sigfd == -1 || s->ep == -1 || s->tdeadline == -1 ||
	    s->theartbeat == -1 || s->tkill == -1 || s->tattempt == -1 ||
	    s->tidle == -1 || s->tbackoff == -1)
		goto fail;
	for (int t = 0; t < W_COUNT; t++)
		s->w[t] = (struct watch){ -1, 0 };
	watch(s, W_SIGNAL, s->sigfd, EPOLLIN);
	watch(s, W_DEADLINE, s->tdeadline, EPOLLIN);
	watch(s, W_HEARTBEAT, s->theartbeat, EPOLLIN);
	watch(s, W_KILL, s->tkill, EPOLLIN);
	watch(s, W_ATTEMPT, s->tattempt, EPOLLIN);
	watch(s, W_IDLE, s->tidle, EPOLLIN);
	watch(s, W_BACKOFF, s->tbackoff, EPOLLIN);
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
	s->run.notify_dropped = s->notify.dropped;
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

	/* A status never names an event seq the events file lacks. */
	jw_events_flush(s->ev);
	if (jw_events_failure(s->ev) != NULL)
		fail(s, "%s", jw_events_failure(s->ev));
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

	emit(s, JW_EV_SIGNAL,
	    json_pack("{s:i, s:s, s:s, s:s}", "attempt", (int)s->run.attempt,
		"signal", jw_signal_name(sig, name, sizeof(name)), "target",
		target, "reason", why));
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
		begin_ending(s, JW_C_ERROR, "error");
	else if (s->end.cause == JW_C_NONE || s->phase == P_BACKOFF)
		s->end.cause = JW_C_ERROR; /* the loop ends a backoff at once */
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
	if (s->phase != P_RUN && s->phase != P_ENDING)
		return;
	s->phase = P_KILLING;
	s->end.escalated = s->children || !s->reaped;
	s->end.kill_why = why;
	if (s->end.escalated)
		signal_job(s, SIGKILL, why, true);
	arm(s, s->tkill, SIGKILL_WAIT_MS, 0, false);
}

static void
begin_ending(struct sup *s, enum jw_cause cause, const char *why)
{
	uint64_t now;

	if (s->phase == P_BACKOFF) {
		/* No job to stop: the loop ends the run. */
		if (s->end.cause == JW_C_NONE)
			s->end.cause = cause;
		return;
	}
	if (s->phase != P_RUN) {
		/* A second reason to stop does not wait for the grace. */
		if (cause != JW_C_EXITED)
			begin_killing(s, why);
		if ((cause == JW_C_CANCEL || cause == JW_C_PARENT_DIED) &&
		    s->stop == JW_C_NONE)
			s->stop = cause;
		return;
	}
	now = jw_mono_ms();
	s->phase = P_ENDING;
	s->end.cause = cause;
	if (cause == JW_C_EXITED)
		s->end.leftovers = s->children ? jw_tree_count() : 0;
	if (!s->reaped || s->children)
		signal_job(s, s->cfg->signal, why, true);
	if (s->cfg->kill_after_ms == 0)
		begin_killing(s, why);
	else /* from now: the walk above must not stretch the grace */
		arm(s, s->tkill, now + s->cfg->kill_after_ms, 0, true);
}

/* ---- event handlers -------------------------------------------------- */

static void
reap(struct sup *s)
{
	struct rusage ru;
	int st;

	/* A sender that exits right after sending (systemd-notify does) can
	 * only be checked until it is reaped: read what it sent first. */
	if (s->notify.fd != -1)
		on_notify(s, SIZE_MAX);

	for (;;) {
		pid_t p = wait4(-1, &st, WNOHANG, &ru);
		if (p == -1 && errno == EINTR)
			continue;
		if (p == 0) {
			s->children = true;
			break;
		}
		if (p == -1) {
			s->children = false; /* ECHILD: nothing is left */
			break;
		}
		if (s->spawned && p == s->run.pid && !s->reaped) {
			s->reaped = true;
			s->end.wstatus = st;
			s->end.wstatus_known = true;
			s->end.cpu_ms = (uint64_t)(ru.ru_utime.tv_sec +
					    ru.ru_stime.tv_sec) *
				1000 +
			    (uint64_t)(ru.ru_utime.tv_usec +
				ru.ru_stime.tv_usec) /
				1000;
		}
	}
	if (s->spawned && s->reaped && s->phase == P_RUN)
		begin_ending(s, JW_C_EXITED, "leftover");
	else if (s->phase == P_KILLING && s->children)
		signal_job(s, SIGKILL, s->end.kill_why, false);
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
		else if (sig == PDEATH_SIG) {
			/* Sent also when a thread of the parent exits, or by
			 * anyone: only a new parent means it died. */
			if (s->pdeath_armed && s->parent != 0 &&
			    getppid() != s->parent)
				on_parent_death(s);
		} else {
			if (s->end.cancel_sig == 0)
				s->end.cancel_sig = sig;
			begin_ending(s, JW_C_CANCEL, "cancel");
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		fail(s, "read signalfd: %s", strerror(errno));
}

static bool
deadline_reached(const struct sup *s)
{
	return s->cfg->timeout_ms > 0 &&
	    jw_mono_ms() >= s->run.t0 + s->cfg->timeout_ms;
}

static void
on_deadline(struct sup *s)
{
	drain_timer(s->tdeadline);
	if (s->deadline_passed)
		return; /* seen already, from the backoff timer */
	s->deadline_passed = true;
	/* Also while the job is being stopped: it cuts the grace short. */
	emit(s, JW_EV_TIMEOUT,
	    json_pack("{s:i, s:s}", "attempt", (int)s->run.attempt, "kind",
		"deadline"));
	begin_ending(s, JW_C_DEADLINE, "deadline");
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
		s->end.survivors = jw_tree_count();
		s->children = false;
		s->reaped = true;
	}
}

static void
on_read(struct sup *s, struct jw_stream *st)
{
	if (jw_stream_read(st) > 0)
		s->last_activity = s->run.last_output = jw_mono_ms();
}

/*
 * The process that started us is gone.  A pidfd tells about the whole
 * process: PR_SET_PDEATHSIG would fire when the thread that forked us
 * ends, and servers fork from thread pools.
 */
static void
on_parent_death(struct sup *s)
{
	watch(s, W_PARENT, s->parentfd, 0);
	if (s->parentfd != -1)
		close(s->parentfd);
	s->parentfd = -1;
	s->pdeath_armed = false;
	if (s->cfg->on_parent_death == JW_PDEATH_CONTINUE) {
		jw_warn("the process that started jobwrap (pid %d) died; the "
			"run goes on (--on-parent-death continue)",
		    (int)s->parent);
		s->unattended = true;
		jw_reason_append(&s->run,
		    "; the process that started jobwrap "
		    "(pid %d) died, the run goes on unattended",
		    (int)s->parent);
		write_status(s);
		return;
	}
	s->end.parent = (int)s->parent;
	begin_ending(s, JW_C_PARENT_DIED, "parent_died");
}

static void
on_attempt_timer(struct sup *s)
{
	drain_timer(s->tattempt);
	if (s->phase != P_RUN && s->phase != P_ENDING)
		return;
	emit(s, JW_EV_TIMEOUT,
	    json_pack("{s:i, s:s}", "attempt", (int)s->run.attempt, "kind",
		"attempt"));
	begin_ending(s, JW_C_ATTEMPT_TIMEOUT, "attempt_timeout");
}

/* The timer is only moved when it fires: no system call per read. */
static void
on_idle_timer(struct sup *s)
{
	uint64_t idle = s->cfg->idle_timeout_ms;

	drain_timer(s->tidle);
	if (s->phase != P_RUN)
		return;
	/* Output waiting for our own slow reader: the job is held up by
	 * us, not hung. */
	if (jw_stream_want_write(&s->out) || jw_stream_want_write(&s->err))
		s->last_activity = jw_mono_ms();
	if (jw_mono_ms() - s->last_activity < idle) {
		arm(s, s->tidle, s->last_activity + idle, 0, true);
		return;
	}
	emit(s, JW_EV_TIMEOUT,
	    json_pack("{s:i, s:s}", "attempt", (int)s->run.attempt, "kind",
		"idle"));
	begin_ending(s, JW_C_IDLE, "idle");
}

/* ---- what the job tells: output patterns and sd_notify ------------- */

static void
said_check(struct sup *s)
{
	if (s->said.failed)
		fail(s, "cannot record what the job said: out of memory");
}

static void
on_line(void *ctx, const char *line, size_t len)
{
	struct origin *o = ctx;

	jw_said_line(&o->s->said, o->stream, line, len);
	said_check(o->s);
}

static bool
from_job(void *ctx, pid_t pid)
{
	const struct sup *s = ctx;

	/* Between attempts nobody may speak: there is no job. */
	return jw_tree_has(pid,
	    (s->phase == P_BACKOFF || s->phase == P_DONE) ? 0 : s->run.pid);
}

static void
on_datagram(struct sup *s, const struct jw_notify_msg *m)
{
	if (!m->from_job || !jw_said_datagram(&s->said, m->data, m->len)) {
		s->notify.dropped++;
		return;
	}
	s->last_activity = jw_mono_ms();
	said_check(s);
}

/* A bounded batch per wake-up: output keeps its turn in a flood. */
#define NOTIFY_BATCH 256

static void
on_notify(struct sup *s, size_t batch)
{
	struct jw_notify_msg m;
	int rc = 1;

	for (size_t i = 0; i < batch && rc == 1; i++)
		if ((rc = jw_notify_recv(&s->notify, &m)) == 1)
			on_datagram(s, &m);
	if (rc == -1)
		fail(s, "cannot read the notify socket: %s", strerror(errno));
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
	case W_ATTEMPT:
		on_attempt_timer(s);
		break;
	case W_IDLE:
		on_idle_timer(s);
		break;
	case W_BACKOFF:
		drain_timer(s->tbackoff);
		/* Both may have fired while we were stopped: the deadline
		 * wins, and no attempt starts past it. */
		if (deadline_reached(s))
			on_deadline(s);
		if (s->phase == P_BACKOFF && s->end.cause == JW_C_NONE)
			spawn_attempt(s);
		break;
	case W_NOTIFY:
		on_notify(s, NOTIFY_BATCH);
		break;
	case W_PARENT:
		on_parent_death(s);
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
set_outcome(struct sup *s)
{
	s->end.error = s->error;
	s->end.in_backoff = s->phase == P_BACKOFF || !s->spawned;
	jw_outcome(s->cfg, &s->end, &s->run);
	if (s->unattended)
		jw_reason_append(&s->run,
		    "; the process that started jobwrap "
		    "(pid %d) died during the run, which went on unattended "
		    "(--on-parent-death continue)",
		    (int)s->parent);
	if (strcmp(s->run.state, JW_ST_SUCCEEDED) == 0)
		jw_said_recovered(&s->said);
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
	snprintf(r->reason, sizeof(r->reason),
	    "jobwrap failed: %.300s "
	    "(before that: %.400s)",
	    s->error, was);
}

/* The events file durably, the terminal status durably, then the exit
 * event, then nothing. */
static void
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
}

/* ---- retries ---------------------------------------------------------- */

static enum jw_end
end_kind(const struct sup *s)
{
	switch (s->end.cause) {
	case JW_C_EXITED:
		return s->run.child_code >= 0 ? JW_END_EXIT : JW_END_SIGNAL;
	case JW_C_ATTEMPT_TIMEOUT:
		return JW_END_ATTEMPT_TIMEOUT;
	case JW_C_IDLE:
		return JW_END_IDLE;
	default:
		return JW_END_OTHER;
	}
}

/* What retry-on item an end is, as the retry event's reason says it. */
static void
end_name(const struct sup *s, char *buf, size_t len)
{
	char name[JW_SIGNAME_BUFSZ];

	switch (end_kind(s)) {
	case JW_END_EXIT:
		snprintf(buf, len, "exit:%d", s->run.child_code);
		break;
	case JW_END_SIGNAL:
		snprintf(buf, len, "signal:%s",
		    jw_signal_name(s->run.child_signal, name, sizeof(name)));
		break;
	case JW_END_ATTEMPT_TIMEOUT:
		snprintf(buf, len, "attempt-timeout");
		break;
	default:
		snprintf(buf, len, "idle");
		break;
	}
}

static uint64_t
random64(void)
{
	uint64_t r = 0;

	/* Cannot fail for 8 bytes once the pool is ready; jitter is not a
	 * secret, so a failure only loses randomness. */
	while (getrandom(&r, sizeof(r), 0) == -1 && errno == EINTR)
		;
	return r;
}

/* The delay before the next attempt, or false with the reason amended. */
static bool
retry_delay(struct sup *s, uint64_t *delay)
{
	const struct jw_config *c = s->cfg;
	char a[JW_DURATION_BUFSZ], b[JW_DURATION_BUFSZ];
	uint64_t now = jw_mono_ms(), end = s->run.t0 + c->timeout_ms;

	if (!jw_retry_on_matches(&c->retry_on, end_kind(s), s->run.child_code))
		return false;
	if (s->run.attempt > c->retries) {
		if (c->retries > 0)
			jw_reason_append(&s->run,
			    "; not retried: all %llu "
			    "retries (--retries) were used",
			    (unsigned long long)c->retries);
		return false;
	}
	if (s->end.survivors > 0) {
		jw_reason_append(&s->run,
		    "; not retried: processes of this "
		    "attempt are still there");
		return false;
	}
	*delay = jw_backoff_ms(c->backoff_ms, c->backoff_max_ms, s->run.attempt,
	    random64());
	if (c->timeout_ms > 0 && now + *delay >= end) {
		jw_duration_format(end > now ? end - now : 0, a, sizeof(a));
		jw_duration_format(*delay, b, sizeof(b));
		jw_reason_append(&s->run,
		    "; not retried: the deadline (--timeout) is "
		    "%s away, and the backoff drawn was %s",
		    a, b);
		return false;
	}
	return true;
}

/* Forget the ended attempt's outcome: the run is running again. */
static void
reset_attempt(struct sup *s)
{
	struct jw_run *r = &s->run;

	s->end.cause = JW_C_NONE;
	s->spawned = s->reaped = s->end.wstatus_known = s->end.escalated =
	    false;
	s->end.kill_why = NULL;
	s->end.leftovers = s->end.survivors = 0;
	r->state = NULL;
	r->child_code = -1;
	r->child_signal = 0;
	r->pid = 0;
}

/*
 * The attempt was already ending (say, idle) when a cancel or the parent's
 * death came: that ends the run, as it would have a moment earlier.
 */
static bool
stopped_instead_of_retry(struct sup *s)
{
	const char *was = s->run.state;

	if (s->stop == JW_C_NONE ||
	    !jw_retry_on_matches(&s->cfg->retry_on, end_kind(s),
		s->run.child_code))
		return false;
	s->end.cause = s->stop;
	set_outcome(s);
	jw_reason_append(&s->run,
	    "; this came while attempt %u was ending "
	    "(%s), which was then not retried",
	    s->run.attempt, was);
	return true;
}

static bool
schedule_retry(struct sup *s)
{
	char why[64], dur[JW_DURATION_BUFSZ];
	uint64_t delay;

	if (!retry_delay(s, &delay))
		return false;
	end_name(s, why, sizeof(why));
	emit(s, JW_EV_RETRY,
	    json_pack("{s:i, s:s, s:s, s:I}", "attempt", (int)s->run.attempt,
		"source", "jobwrap", "reason", why, "delay_ms",
		(json_int_t)delay));
	jw_duration_format(delay, dur, sizeof(dur));
	/* The attempt's own sentence stays, then what happens next. */
	jw_reason_append(&s->run,
	    "; attempt %u starts in %s (--retries %llu, "
	    "--retry-on %s)",
	    s->run.attempt + 1, dur, (unsigned long long)s->cfg->retries,
	    s->cfg->retry_on.text);
	reset_attempt(s);
	s->phase = P_BACKOFF;
	write_status(s);
	arm(s, s->tbackoff, delay, 0, false);
	return true;
}

static void
end_attempt(struct sup *s)
{
	disarm(s, s->tkill);
	disarm(s, s->tattempt);
	disarm(s, s->tidle);
	set_outcome(s);
	sync_counters(s);
	emit(s, JW_EV_ATTEMPT_END,
	    jw_report_attempt_end(&s->run, jw_mono_ms()));
	if (s->error[0] != '\0' || stopped_instead_of_retry(s) ||
	    !schedule_retry(s))
		finish(s);
}

/* A cancel, the deadline or a failure came between two attempts. */
static void
end_backoff(struct sup *s)
{
	disarm(s, s->tbackoff);
	set_outcome(s);
	finish(s);
}

/* ---- starting -------------------------------------------------------- */

static void
spawn_failed(struct sup *s, int err, int code, const char *error)
{
	struct jw_run *r = &s->run;

	emit(s, JW_EV_SPAWN_FAILED,
	    json_pack("{s:i, s:i, s:s}", "attempt", (int)r->attempt, "errno",
		err, "error", error));
	r->state = JW_ST_SPAWN_FAILED;
	r->exit_code = code;
	finish(s);
}

/* The reason in the record, and the exit status, by where it failed. */
static void
spawn_error(struct sup *s, const struct jw_spawn_error *e)
{
	const struct jw_config *c = s->cfg;
	struct jw_run *r = &s->run;
	const char *cmd = c->argv[0];
	char val[32];
	int code = JW_EXIT_INTERNAL;

	switch (e->stage) {
	case JW_SPAWN_EXEC:
		code = e->err == ENOENT ? JW_EXIT_NOTFOUND : JW_EXIT_NOEXEC;
		snprintf(r->reason, sizeof(r->reason),
		    "cannot execute \"%s\": "
		    "%s",
		    cmd, strerror(e->err));
		break;
	case JW_SPAWN_RLIMIT:
		if (c->rlimit[e->limit].value == JW_RL_UNLIMITED)
			snprintf(val, sizeof(val), "unlimited");
		else
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)c->rlimit[e->limit].value);
		snprintf(r->reason, sizeof(r->reason),
		    "cannot set the limit "
		    "--rlimit-%s %s for \"%s\": %s%s",
		    jw_rlimit_name(e->limit), val, cmd, strerror(e->err),
		    e->err == EPERM ? " (above the "
				      "hard limit jobwrap itself runs under)"
				    : "");
		break;
	case JW_SPAWN_SECCOMP:
		snprintf(r->reason, sizeof(r->reason),
		    "cannot install the "
		    "seccomp filter \"%s\" for \"%s\": %s; the command was not "
		    "run unfiltered",
		    c->sc.name, cmd, strerror(e->err));
		break;
	default:
		snprintf(r->reason, sizeof(r->reason),
		    "cannot start a process "
		    "for \"%s\": %s",
		    cmd, strerror(e->err));
		break;
	}
	spawn_failed(s, e->err, code,
	    e->stage == JW_SPAWN_EXEC || e->stage == JW_SPAWN_SETUP
		? strerror(e->err)
		: r->reason);
}

/* Once per run: libseccomp is slow, the program it makes is not. */
static int
build_sandbox(struct sup *s)
{
	struct jw_run *r = &s->run;

	if (s->sandbox_built)
		return 0;
	if (jw_sandbox_build(&s->sandbox, s->cfg->rlimit, &s->cfg->sc,
		r->reason, sizeof(r->reason)) == -1) {
		int e = errno;
		jw_reason_append(r, "; the command was not run unfiltered");
		spawn_failed(s, e, JW_EXIT_INTERNAL, r->reason);
		return -1;
	}
	s->sandbox_built = true;
	return 0;
}

static void
arm_attempt_timers(struct sup *s)
{
	const struct jw_config *c = s->cfg;

	s->last_activity = s->run.attempt_t0;
	if (c->attempt_timeout_ms > 0)
		arm(s, s->tattempt, c->attempt_timeout_ms, 0, false);
	if (c->idle_timeout_ms > 0)
		arm(s, s->tidle, c->idle_timeout_ms, 0, false);
}

/* It has exec'd, and is not reaped: its /proc entry is there to read. */
static void
record_identity(struct sup *s)
{
	struct jw_procstat ps;

	s->run.pid_start = jw_proc_stat(s->run.pid, &ps) == 0 ? ps.start : 0;
	if (s->run.boot_id[0] == '\0' && jw_boot_id(s->run.boot_id) == -1)
		s->run.boot_id[0] = '\0';
}

/* Start the next attempt; a spawn failure finishes the run. */
static void
spawn_attempt(struct sup *s)
{
	char *slot = jw_childenv_pid_slot(&s->env);
	struct jw_spawn sp = { s->cfg->argv, s->env.envp, slot, &s->sandbox };
	struct jw_spawn_error e;
	struct jw_child c;

	/* Forget the last attempt's fds before new ones may reuse numbers. */
	sync_watches(s);
	s->phase = P_RUN;
	jw_said_forget(&s->said); /* last_error stays until now */
	s->run.attempt++;
	s->run.attempt_t0 = jw_mono_ms();
	if (slot != NULL)
		snprintf(slot, sizeof(s->env.pid), "WATCHDOG_PID=");
	if (build_sandbox(s) == -1)
		return;
	if (jw_spawn(&sp, &c, &e) == -1) {
		spawn_error(s, &e);
		return;
	}
	s->spawned = true;
	s->reaped = false;
	s->children = true;
	s->run.pid = c.pid;
	record_identity(s);
	jw_stream_attach(&s->out, c.out);
	jw_stream_attach(&s->err, c.err);
	arm_attempt_timers(s);
	emit(s, JW_EV_SPAWN,
	    json_pack("{s:i, s:i, s:i}", "attempt", (int)s->run.attempt, "pid",
		(int)c.pid, "pgid", (int)c.pid));
	snprintf(s->run.reason, sizeof(s->run.reason),
	    "attempt %u is "
	    "running (pid %d)",
	    s->run.attempt, (int)c.pid);
	if (s->unattended)
		jw_reason_append(&s->run,
		    "; the process that started jobwrap "
		    "(pid %d) died, the run goes on unattended",
		    (int)s->parent);
	write_status(s);
}

/* Blocked first: unblocked, a real-time signal would kill us. */
static void
arm_pdeath(struct sup *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, PDEATH_SIG);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == 0 &&
	    prctl(PR_SET_PDEATHSIG, PDEATH_SIG) == 0)
		s->pdeath_armed = true;
}

/*
 * Take hold of the parent at once, before anything slow (the first status
 * write fsyncs): a parent that dies before getppid() cannot be told from
 * whoever adopted us, so the window is kept as short as possible.
 */
static void
grab_parent(struct sup *s)
{
	s->parent = getppid();
	s->parent_err = 0;
	if (s->parent == 0)
		return; /* started from outside our pid namespace */
	s->parentfd = (int)syscall(SYS_pidfd_open, s->parent, 0);
	if (s->parentfd == -1)
		s->parent_err = errno;
	if (s->parentfd == -1 && errno == EPERM)
		arm_pdeath(s);
}

/*
 * Watch the parent grabbed earlier.  0, 1 when it is already gone (the
 * pidfd found no such process, or getppid() changed: we were adopted),
 * -1 with a message.
 */
static int
watch_parent(struct sup *s, char *err, size_t errlen)
{
	if (s->parent == 0)
		return 0;
	if (s->pdeath_armed)
		return getppid() != s->parent;
	if (s->parentfd == -1 && s->parent_err != ESRCH) {
		/* With continue, watching only adds a note to the reason. */
		if (s->cfg->on_parent_death == JW_PDEATH_CONTINUE)
			return 0;
		snprintf(err, errlen,
		    "cannot watch the parent process (pid "
		    "%d): pidfd_open: %s (--on-parent-death continue does "
		    "without)",
		    (int)s->parent, strerror(s->parent_err));
		return -1;
	}
	if (s->parentfd == -1 || getppid() != s->parent)
		return 1;
	watch(s, W_PARENT, s->parentfd, EPOLLIN);
	return 0;
}

/* The parent died before we could watch it: as if it died just now. */
static void
parent_gone_at_start(struct sup *s)
{
	s->pdeath_armed = false;
	if (s->cfg->on_parent_death == JW_PDEATH_CONTINUE) {
		jw_warn("the process that started jobwrap (pid %d) is gone; "
			"the run goes on (--on-parent-death continue)",
		    (int)s->parent);
		s->unattended = true;
		return;
	}
	s->end.cause = JW_C_PARENT_DIED;
	s->end.parent = (int)s->parent;
}

static int
open_notify(struct sup *s, char *err, size_t errlen)
{
	const struct jw_config *c = s->cfg;

	s->notify.fd = -1;
	if (!c->notify)
		return 0;
	if (jw_notify_open(&s->notify, from_job, s, err, errlen) == -1)
		return -1;
	watch(s, W_NOTIFY, s->notify.fd, EPOLLIN);
	return 0;
}

/*
 * With a status file, every process of the job carries the run's tag in
 * its environment: --reap finds them by it once the supervisor is dead,
 * in the process group or out of it, even if the status never got to
 * name the group.
 */
static int
build_env(struct sup *s, char *err, size_t errlen)
{
	if (jw_childenv_build(&s->env, s->cfg->notify ? s->notify.addr : NULL,
		s->cfg->idle_timeout_ms * 1000,
		s->run.tag[0] != '\0' ? s->run.tag : NULL) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
open_outputs(struct sup *s, char *err, size_t errlen)
{
	const struct jw_config *c = s->cfg;
	bool patterns = c->retry_pattern.src != NULL ||
	    c->error_pattern.src != NULL;

	s->oout = (struct origin){ .s = s, .stream = "stdout" };
	s->oerr = (struct origin){ .s = s, .stream = "stderr" };
	if ((c->retry_pattern.src != NULL &&
		jw_literals_add(&s->filter, c->retry_pattern.src) == -1) ||
	    (c->error_pattern.src != NULL &&
		jw_literals_add(&s->filter, c->error_pattern.src) == -1) ||
	    jw_tail_init(&s->tail, c->tail_bytes) == -1 ||
	    (patterns &&
		(jw_lines_init(&s->oout.lines, on_line, &s->oout, &s->filter) ==
			-1 ||
		    jw_lines_init(&s->oerr.lines, on_line, &s->oerr,
			&s->filter) == -1)) ||
	    jw_stream_init(&s->out, 1, NULL,
		patterns ? &s->oout.lines : NULL) == -1 ||
	    jw_stream_init(&s->err, 2, &s->tail,
		patterns ? &s->oerr.lines : NULL) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->run.stderr_tail = &s->tail;
	if (open_notify(s, err, errlen) == -1 ||
	    build_env(s, err, errlen) == -1)
		return -1;
	s->ev = jw_events_open(c->events_fd, c->events_file, c->run_id,
	    s->run.t0, err, errlen);
	if (s->ev == NULL)
		return -1;
	jw_said_init(&s->said, c, s->ev, &s->run);
	if (c->status_file != NULL) {
		if (jw_status_open(&s->st, c->status_file, err, errlen) == -1)
			return -1;
		s->has_status = true;
	}
	return 0;
}

/*
 * 64 random bits: unique to this supervisor, so --reap kills only ours.
 * Unlike a backoff's jitter, a tag must be random or absent: a fixed one
 * would be shared with every run that fell back to it.  Without one,
 * --reap goes by the process group alone.
 */
static void
make_tag(char tag[17])
{
	uint64_t r;
	ssize_t n;

	while ((n = getrandom(&r, sizeof(r), 0)) == -1 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(r))
		snprintf(tag, 17, "%016llx", (unsigned long long)r);
	else {
		jw_warn("getrandom: %s; the job's processes get no tag, "
			"and --reap will find them by their process group only",
		    n == -1 ? strerror(errno) : "short read");
		tag[0] = '\0';
	}
}

static void
init_run(struct sup *s, const struct jw_config *c)
{
	memset(s, 0, sizeof(*s));
	s->cfg = c;
	s->ep = s->sigfd = s->tdeadline = s->theartbeat = s->tkill = -1;
	s->tattempt = s->tidle = s->tbackoff = s->parentfd = -1;
	s->out.in = s->err.in = -1;
	s->out.out.fd = s->err.out.fd = -1;
	s->st.dirfd = s->st.lockfd = -1;
	s->notify.fd = -1;
	s->run.cfg = c;
	s->run.jobwrap_pid = getpid();
	s->run.t0 = jw_mono_ms();
	clock_gettime(CLOCK_REALTIME, &s->run.started_at);
	s->run.deadline_ms = c->timeout_ms;
	s->run.child_code = -1;
	if (c->status_file != NULL)
		make_tag(s->run.tag);
	snprintf(s->run.reason, sizeof(s->run.reason),
	    "jobwrap has started "
	    "and is about to start the command");
}

static void
cleanup(struct sup *s)
{
	int fds[] = { s->ep, s->sigfd, s->tdeadline, s->theartbeat, s->tkill,
		s->tattempt, s->tidle, s->tbackoff, s->parentfd };

	jw_events_close(s->ev, EXIT_FLUSH_MS);
	s->ev = NULL;
	if (s->has_status)
		jw_status_close(&s->st);
	jw_stream_free(&s->out);
	jw_stream_free(&s->err);
	jw_tail_free(&s->tail);
	jw_lines_free(&s->oout.lines);
	jw_lines_free(&s->oerr.lines);
	jw_literals_free(&s->filter);
	jw_notify_close(&s->notify);
	jw_childenv_free(&s->env);
	jw_sandbox_free(&s->sandbox);
	jw_said_free(&s->said);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] != -1)
			close(fds[i]);
}

static int
run_loop(struct sup *s)
{
	struct epoll_event evs[16];
	int n;

	jw_events_flush(s->ev);
	while (s->phase != P_DONE) {
		sync_watches(s);
		n = epoll_wait(s->ep, evs, 16, -1);
		if (n == -1 && errno != EINTR) {
			fail(s, "epoll_wait: %s", strerror(errno));
			if (s->phase == P_BACKOFF)
				end_backoff(s);
			else {
				signal_job(s, SIGKILL, "error", true);
				end_attempt(s); /* cannot wait any more */
			}
			break;
		}
		for (int i = 0; i < n; i++)
			dispatch(s, evs[i].data.u32);
		jw_events_flush(s->ev);
		if (jw_events_failure(s->ev) != NULL)
			fail(s, "%s", jw_events_failure(s->ev));
		if (s->phase == P_BACKOFF && s->end.cause != JW_C_NONE)
			end_backoff(s);
		else if (attempt_over(s))
			end_attempt(s);
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
	grab_parent(&s);
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
	switch (watch_parent(&s, err, sizeof(err))) {
	case -1:
		fail(&s, "%s", err);
		break;
	case 1:
		parent_gone_at_start(&s);
		break;
	}
	if (s.error[0] != '\0' || s.end.cause != JW_C_NONE) {
		set_outcome(&s);
		finish(&s);
	} else {
		spawn_attempt(&s);
		run_loop(&s);
	}
	rc = s.run.exit_code;
	cleanup(&s);
	return rc;
}
