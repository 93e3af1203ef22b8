/* proctree.c: walk and signal the descendants of the supervisor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "proctree.h"

int
jw_tree_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static int
push(struct jw_pids *p, pid_t pid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		pid_t *v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = pid;
	return 0;
}

/* Read a small /proc file; -1 when the process is gone. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	while ((n = read(fd, buf, len - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static bool
is_zombie(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL)
		return true;		/* gone counts as dead */
	return p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

pid_t
jw_tree_pgid(pid_t pid)
{
	char path[64], buf[512], *p;
	int ppid, pgid;
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d %d", &state, &ppid, &pgid) != 3)
		return -1;
	return pgid;
}

/*
 * Children of pid, from every thread's list.  A children file larger than
 * the buffer is read in pieces: entries are "PID " so a piece ends cleanly
 * when the last space is kept.
 */
static int
children_of(pid_t pid, struct jw_pids *out)
{
	char path[320], buf[4096];
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return 0;		/* it died: its children come to us */
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
				if (v > 0 && push(out, (pid_t)v) == -1)
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

int
jw_tree_collect(struct jw_pids *p, bool freeze)
{
	struct jw_pids all = { 0 };
	int rc;

	p->n = 0;
	rc = children_of(getpid(), &all);
	/* Breadth first: all.v grows while it is walked. */
	for (size_t i = 0; rc == 0 && i < all.n; i++) {
		pid_t pid = all.v[i];
		if (is_zombie(pid))
			continue;
		if (freeze)
			(void)kill(pid, SIGSTOP);
		if (push(p, pid) == -1 || children_of(pid, &all) == -1)
			rc = -1;
	}
	jw_pids_free(&all);
	return rc;
}

size_t
jw_tree_count(void)
{
	struct jw_pids p = { 0 };
	size_t n;

	(void)jw_tree_collect(&p, false);
	n = p.n;
	jw_pids_free(&p);
	return n;
}

void
jw_tree_signal(const struct jw_pids *p, int sig)
{
	for (size_t i = 0; i < p->n; i++)
		(void)kill(p->v[i], sig);	/* ESRCH: already gone */
}

void
jw_pids_free(struct jw_pids *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}
