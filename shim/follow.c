/*
 * follow.c: --follow, print an events file from a seq on, then what is
 * appended, until the run's exit event.
 *
 * inotify tells when the file grows (or appears); a pidfd on the
 * supervisor named by the start event tells when nothing more can come.
 * No polling loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jobwrap.h"
#include "modes.h"
#include "runs.h"

#define EXIT_NO_END 3 /* the supervisor died without an exit event */

struct follow {
	const char *path;
	uint64_t from;
	int fd;	    /* the events file, -1 until it exists */
	int in;	    /* inotify */
	int pidfd;  /* the supervisor, -1 until known */
	bool dead;  /* ... and it is gone */
	bool ended; /* the exit event was read */
	char *part; /* an unfinished last line */
	size_t plen, pcap;
};

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

/* Is pid still the run's supervisor?  The status lock says so best. */
static bool
supervisor_alive(const json_t *start, pid_t pid)
{
	const char *st = jw_doc_str(json_object_get(start, "config"),
	    "status_file");
	char path[64], comm[32] = "", where[4096];
	pid_t holder;
	FILE *f;

	/* A relative path is the supervisor's, from its working directory,
	 * not from ours: the same name here may be another run's status. */
	if (st != NULL && st[0] != '/')
		st = (size_t)snprintf(where, sizeof(where), "/proc/%d/cwd/%s",
			 (int)pid, st) < sizeof(where)
		    ? where
		    : NULL;
	if (st != NULL && access(st, F_OK) == 0 &&
	    (holder = jw_lock_holder(st)) >= 0)
		return holder == pid;
	/* No status file to ask: at least the process must be a jobwrap. */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "jobwrap", 7) == 0;
}

static void
on_start(struct follow *f, const json_t *ev)
{
	long long pid = jw_doc_int(ev, "jobwrap_pid");

	if (pid <= 0 || f->pidfd != -1 || f->dead)
		return;
	f->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	/* Taken before the check, the pidfd cannot name a reused pid. */
	if (f->pidfd == -1 || !supervisor_alive(ev, (pid_t)pid))
		f->dead = true;
}

/* One complete line: print it if its seq is wanted. */
static int
on_line(struct follow *f, const char *line, size_t len)
{
	json_error_t e;
	json_t *ev = json_loadb(line, len, 0, &e);
	long long seq = jw_doc_int(ev, "seq");
	const char *name = jw_doc_str(ev, "event");

	if (ev == NULL || seq < 0 || name == NULL) {
		json_decref(ev);
		fprintf(stderr, "jobwrap: %s: not an events line: %.60s\n",
		    f->path, line);
		return -1;
	}
	if ((uint64_t)seq >= f->from &&
	    (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF ||
		fflush(stdout) == EOF)) {
		json_decref(ev);
		return -1;
	}
	if (strcmp(name, JW_EV_START) == 0)
		on_start(f, ev);
	else if (strcmp(name, JW_EV_EXIT) == 0)
		f->ended = true;
	json_decref(ev);
	return 0;
}

/* Read what was appended; -1 on an error. */
static int
drain(struct follow *f)
{
	char buf[65536];
	ssize_t n;

	while (!f->ended && (n = read(f->fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "jobwrap: %s: %s\n", f->path,
			    strerror(errno));
			return -1;
		}
		if (f->plen + (size_t)n > f->pcap) {
			size_t cap = f->pcap ? f->pcap : 65536;
			while (cap < f->plen + (size_t)n)
				cap *= 2;
			char *p = realloc(f->part, cap);
			if (p == NULL)
				return -1;
			f->part = p;
			f->pcap = cap;
		}
		memcpy(f->part + f->plen, buf, (size_t)n);
		f->plen += (size_t)n;
		char *s = f->part, *nl;
		while (!f->ended &&
		    (nl = memchr(s, '\n', f->plen - (size_t)(s - f->part)))) {
			if (on_line(f, s, (size_t)(nl - s)) == -1)
				return -1;
			s = nl + 1;
		}
		f->plen -= (size_t)(s - f->part);
		memmove(f->part, s, f->plen);
	}
	return 0;
}

static int
open_events(struct follow *f)
{
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd == -1 && errno != ENOENT) {
		fprintf(stderr, "jobwrap: %s: %s\n", f->path, strerror(errno));
		return -1;
	}
	if (f->fd != -1 && inotify_add_watch(f->in, f->path, IN_MODIFY) == -1) {
		fprintf(stderr, "jobwrap: %s: inotify: %s\n", f->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Sleep until the file grows, appears, or the supervisor dies. */
static int
wait_more(struct follow *f)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = { { f->in, POLLIN, 0 }, { f->pidfd, POLLIN, 0 } };

	if (poll(p, f->pidfd != -1 ? 2 : 1, -1) == -1 && errno != EINTR) {
		fprintf(stderr, "jobwrap: poll: %s\n", strerror(errno));
		return -1;
	}
	while (read(f->in, buf, sizeof(buf)) > 0)
		;
	if (f->pidfd != -1 && (p[1].revents & POLLIN))
		f->dead = true;
	return 0;
}

static int
follow_loop(struct follow *f)
{
	for (;;) {
		if (f->fd == -1 && open_events(f) == -1)
			return 1;
		if (f->fd != -1 && drain(f) == -1)
			return 1;
		if (f->ended)
			return 0;
		if (f->dead) {
			/* What it wrote before dying is all there is. */
			if (f->fd != -1 && drain(f) == -1)
				return 1;
			return f->ended ? 0 : EXIT_NO_END;
		}
		if (wait_more(f) == -1)
			return 1;
	}
}

int
jw_follow(const struct jw_config *c)
{
	struct follow f = { .path = c->argv[0],
		.from = c->from_seq,
		.fd = -1,
		.pidfd = -1 };
	char dir[4096];
	int rc;

	dir_of(f.path, dir, sizeof(dir));
	/* The directory first: the file may appear at any time. */
	f.in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (f.in == -1 ||
	    inotify_add_watch(f.in, dir, IN_CREATE | IN_MOVED_TO) == -1) {
		fprintf(stderr, "jobwrap: %s: inotify: %s\n", dir,
		    strerror(errno));
		if (f.in != -1)
			close(f.in);
		return 1;
	}
	rc = follow_loop(&f);
	if (f.fd != -1)
		close(f.fd);
	if (f.pidfd != -1)
		close(f.pidfd);
	close(f.in);
	free(f.part);
	return rc;
}
