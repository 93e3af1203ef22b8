/* proctree.c: walk and signal the descendants of the supervisor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "procid.h"
#include "proctree.h"

int
jw_tree_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static int
push(struct jw_procs *p, pid_t pid, pid_t pgid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct jw_proc *v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct jw_proc){ pid, pgid };
	return 0;
}

/* Its process group, or -1 when it is gone or a zombie. */
static pid_t
live_pgid(pid_t pid)
{
	struct jw_procstat ps;

	if (jw_proc_stat(pid, &ps) == -1 || ps.state == 'Z' || ps.state == 'X')
		return -1;
	return ps.pgid;
}

bool
jw_tree_has(pid_t pid, pid_t pgid)
{
	struct jw_procstat ps;
	pid_t me;

	if (pid <= 0)
		return false;
	/* One system call for the usual case: a member of the group. */
	if (pgid > 0 && getpgid(pid) == pgid)
		return true;
	me = getpid();
	/* Outside the group: its ancestors lead to us (we are a subreaper). */
	for (int depth = 0; depth < 4096 && pid > 1; depth++) {
		if (jw_proc_stat(pid, &ps) == -1)
			return false;
		if (ps.ppid == me)
			return true;
		pid = ps.ppid;
	}
	return false;
}

/*
 * Children of pid, from every thread's list, appended to out as pids
 * (pgid unknown yet).  Entries are "PID ", so a read that ends mid-list
 * keeps the unfinished number for the next read.
 */
static int
children_of(pid_t pid, struct jw_procs *out)
{
	char path[320], buf[4096];
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return 0; /* it died: its children come to us */
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
		    (int)pid, d->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			continue;
		ssize_t n;
		size_t keep = 0;
		while ((n = read(fd, buf + keep, sizeof(buf) - 1 - keep)) > 0 ||
		    (n == -1 && errno == EINTR)) {
			if (n == -1)
				continue;
			size_t len = keep + (size_t)n;
			buf[len] = '\0';
			char *end = strrchr(buf, ' ');
			size_t used = end ? (size_t)(end - buf) + 1 : 0;
			for (char *s = buf, *t; s < buf + used; s = t) {
				long v = strtol(s, &t, 10);
				if (t == s)
					break;
				if (v > 0 && push(out, (pid_t)v, -1) == -1)
					rc = -1;
			}
			keep = len - used;
			memmove(buf, buf + used, keep);
		}
		close(fd);
	}
	closedir(dir);
	return rc;
}

static bool
known(const struct jw_procs *p, pid_t pid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].pid == pid)
			return true;
	return false;
}

/*
 * One breadth-first pass from this process; the queue grows while it is
 * walked.  Returns how many processes it saw for the first time, live
 * ones added to p and dead ones to gone, or -1.
 *
 * A dead one counts: a process that forks and exits in a loop (a new pid
 * every few microseconds) is often dead by the time it is looked at, and
 * its successor, now our child, must be looked for in the next pass.
 */
static ssize_t
walk_once(struct jw_procs *p, struct jw_procs *gone, int visit)
{
	struct jw_procs queue = { 0 };
	size_t before = p->n + gone->n;
	int rc;

	rc = children_of(getpid(), &queue);
	for (size_t i = 0; rc == 0 && i < queue.n; i++) {
		pid_t pid = queue.v[i].pid, pgid;
		bool fresh = !known(p, pid);

		if (known(gone, pid))
			continue; /* a zombie stays one: no need to look */
		if ((pgid = live_pgid(pid)) == -1) {
			/* A zombie: its children are ours now, next pass. */
			if (fresh && push(gone, pid, -1) == -1)
				rc = -1;
			continue;
		}
		if (fresh && visit != 0)
			(void)kill(pid, visit);
		if (fresh && push(p, pid, pgid) == -1)
			rc = -1;
		if (rc == 0 && children_of(pid, &queue) == -1)
			rc = -1;
	}
	jw_procs_free(&queue);
	return rc == -1 ? -1 : (ssize_t)(p->n + gone->n - before);
}

/*
 * A process that exits while we walk hands its children to us after we
 * read our own list, so one pass can miss them.  Frozen or killed
 * processes cannot fork, so passes until one finds nothing new, alive or
 * dead, end soon; the cap only guards against a kernel that keeps
 * surprising us, and the caller walks again on the next SIGCHLD anyway.
 */
#define MAX_PASSES 64

int
jw_tree_walk(struct jw_procs *p, int visit)
{
	struct jw_procs gone = { 0 };
	ssize_t added;
	int pass = 0;

	p->n = 0;
	do
		added = walk_once(p, &gone, visit);
	while (added > 0 && visit != 0 && ++pass < MAX_PASSES);
	jw_procs_free(&gone);
	return added == -1 ? -1 : 0;
}

size_t
jw_tree_count(void)
{
	struct jw_procs p = { 0 };
	size_t n;

	(void)jw_tree_walk(&p, 0);
	n = p.n;
	jw_procs_free(&p);
	return n;
}

void
jw_tree_signal(const struct jw_procs *p, int sig)
{
	for (size_t i = 0; i < p->n; i++)
		(void)kill(p->v[i].pid, sig); /* ESRCH: already gone */
}

void
jw_procs_free(struct jw_procs *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}
