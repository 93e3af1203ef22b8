/*
 * proctree.h: every process the job started, wherever it went.
 *
 * jobwrap is a child subreaper, so a descendant that leaves the process
 * group (setsid, double fork) is reparented to jobwrap instead of init and
 * stays in the tree below /proc/self/task/ T /children.
 */
#ifndef JW_PROCTREE_H
#define JW_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct jw_proc {
	pid_t pid;
	pid_t pgid;
};

struct jw_procs {
	struct jw_proc *v;
	size_t n, cap;
};

/* Become a child subreaper.  0 or -1 with errno. */
int jw_tree_subreaper(void);

/*
 * Collect the live (non-zombie) descendants of this process, parents
 * before children.  visit is sent to each before its own children are
 * read: SIGSTOP freezes it, SIGKILL ends it; either way it can no longer
 * fork, or reap a child and free its pid for reuse, while the walk goes
 * on; with a signal, passes repeat until one finds no new process, so
 * children handed to us mid-walk are caught.  0 only looks (one pass).
 * 0 or -1 (out of memory).
 */
int jw_tree_walk(struct jw_procs *p, int visit);
size_t jw_tree_count(void);
/*
 * Is pid a process of the job: in process group pgid, or a descendant of
 * this process?  A pid that is gone (reaped) is not.
 */
bool jw_tree_has(pid_t pid, pid_t pgid);
/* Send sig to every process in p (ESRCH ignored: it died meanwhile). */
void jw_tree_signal(const struct jw_procs *p, int sig);
void jw_procs_free(struct jw_procs *p);

#endif
