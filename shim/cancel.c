/*
 * cancel.c: --cancel, stop a live run the way its supervisor would, and
 * wait for its terminal status.
 *
 * The signal goes through a pidfd taken before the lock is checked: the
 * pid it names cannot be reused while we hold it, and the lock says the
 * process behind it is the run's supervisor.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "jobwrap.h"
#include "modes.h"
#include "runs.h"

#define WAIT_MARGIN_MS 5000

/* The directory part of path, for inotify. */
static void
dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* The terminal status, or NULL while it is still running. */
static json_t *
terminal(const char *path)
{
	char why[256];
	json_t *doc = jw_status_read(path, why, sizeof(why));

	if (doc != NULL && strcmp(jw_doc_str(doc, "state"), JW_ST_RUNNING) != 0)
		return doc;
	json_decref(doc);
	return NULL;
}

/*
 * Through the pidfd, which cannot hit a reused pid.  Under a seccomp
 * filter (a job cancelling a run of its own) pidfd_send_signal may be
 * refused: then kill(2), right after checking the lock again.
 */
static int
signal_supervisor(int pfd, pid_t pid, const char *path)
{
	if (pfd != -1 &&
	    syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0) == 0)
		return 0;
	if (pfd != -1 && errno != EPERM && errno != ENOSYS)
		return -1;
	if (jw_lock_holder(path) != pid) {
		errno = ESRCH;
		return -1;
	}
	return kill(pid, SIGTERM);
}

static int
print_doc(json_t *doc)
{
	char *line = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	if (line == NULL)
		return 1;
	printf("%s\n", line);
	free(line);
	return 0;
}

/* Wait for the status to be replaced by a terminal one. */
static int
wait_end(const char *path, int in, uint64_t wait_ms)
{
	uint64_t until = jw_mono_ms() + wait_ms;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	json_t *doc;

	for (;;) {
		uint64_t now = jw_mono_ms();
		struct pollfd p = { .fd = in, .events = POLLIN };

		if ((doc = terminal(path)) != NULL)
			return print_doc(doc);
		if (now >= until)
			break;
		if (poll(&p, 1,
			(int)(until - now > INT_MAX ? INT_MAX : until - now)) ==
			-1 &&
		    errno != EINTR)
			break;
		/* Any change in the directory: look again. */
		while (read(in, buf, sizeof(buf)) > 0)
			;
	}
	fprintf(stderr,
	    "jobwrap: %s: still running after %llu ms; its "
	    "supervisor got SIGTERM\n",
	    path, (unsigned long long)wait_ms);
	return 1;
}

int
jw_cancel(const struct jw_config *c)
{
	const char *path = c->argv[0];
	char why[256], dir[4096];
	long long pid, kill_after;
	uint64_t wait_ms;
	json_t *doc;
	pid_t holder;
	int pfd, in, rc;

	if ((doc = jw_status_read(path, why, sizeof(why))) == NULL) {
		fprintf(stderr, "jobwrap: %s: %s\n", path, why);
		return 1;
	}
	pid = jw_doc_int(doc, "jobwrap_pid");
	kill_after = jw_doc_int(doc, "kill_after_ms");
	if (strcmp(jw_doc_str(doc, "state"), JW_ST_RUNNING) != 0) {
		fprintf(stderr,
		    "jobwrap: %s: already ended: %s (nothing to "
		    "cancel)\n",
		    path, jw_doc_str(doc, "state"));
		json_decref(doc);
		return 1;
	}
	json_decref(doc);
	pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0) : -1;
	holder = jw_lock_holder(path);
	if (pid <= 0 || holder != (pid_t)pid) {
		if (pfd != -1)
			close(pfd);
		if ((doc = terminal(path)) != NULL) {
			/* It ended between our two looks. */
			fprintf(stderr,
			    "jobwrap: %s: already ended: %s "
			    "(nothing to cancel)\n",
			    path, jw_doc_str(doc, "state"));
			json_decref(doc);
		} else if (holder > 0)
			fprintf(stderr,
			    "jobwrap: %s: its lock is held by pid %d, "
			    "not by its supervisor (jobwrap pid %lld): not "
			    "cancelled\n",
			    path, (int)holder, pid);
		else
			fprintf(stderr,
			    "jobwrap: %s: its supervisor (jobwrap "
			    "pid %lld) is gone: the lock is free; settle it with "
			    "jobwrap --reap\n",
			    path, pid);
		return 1;
	}
	wait_ms = c->wait_given
	    ? c->wait_ms
	    : (uint64_t)(kill_after >= 0 ? kill_after : 10000) + WAIT_MARGIN_MS;
	dir_of(path, dir, sizeof(dir));
	/* Watch before signalling: the end may come at once. */
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in == -1 ||
	    inotify_add_watch(in, dir,
		IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) == -1) {
		fprintf(stderr, "jobwrap: %s: inotify: %s\n", dir,
		    strerror(errno));
		if (pfd != -1)
			close(pfd);
		if (in != -1)
			close(in);
		return 1;
	}
	if (signal_supervisor(pfd, (pid_t)pid, path) == -1 && errno != ESRCH) {
		fprintf(stderr,
		    "jobwrap: %s: cannot signal its supervisor "
		    "(pid %lld): %s\n",
		    path, pid, strerror(errno));
		if (pfd != -1)
			close(pfd);
		close(in);
		return 1;
	}
	if (pfd != -1)
		close(pfd);
	rc = wait_end(path, in, wait_ms);
	close(in);
	return rc;
}
