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

struct jw_pids {
	pid_t	*v;
	size_t	 n, cap;
};

/* Become a child subreaper.  0 or -1 with errno. */
int	jw_tree_subreaper(void);

/*
 * Collect the live (non-zombie) descendants of this process.  With freeze,
 * each is SIGSTOPped before its own children are read, so none can fork or
 * reap (and free a pid for reuse) while the walk goes on.  0 or -1.
 */
int	jw_tree_collect(struct jw_pids *p, bool freeze);
size_t	jw_tree_count(void);

/* Send sig to every pid in p (ESRCH ignored: it died meanwhile). */
void	jw_tree_signal(const struct jw_pids *p, int sig);
/* Group id of pid, or -1 when it is gone. */
pid_t	jw_tree_pgid(pid_t pid);
void	jw_pids_free(struct jw_pids *p);

#endif
