/* spawn.h: start one attempt of the command. */
#ifndef JW_SPAWN_H
#define JW_SPAWN_H

#include <sys/types.h>

struct jw_child {
	pid_t	pid;		/* also its process group id */
	int	out;		/* read ends of its stdout and stderr pipes */
	int	err;
};

/* Where spawning failed, for the exit status (126/127 vs 125). */
enum jw_spawn_stage { JW_SPAWN_SETUP, JW_SPAWN_EXEC };

/*
 * Fork argv into a new process group with PR_SET_PDEATHSIG(SIGKILL), the
 * signal mask and dispositions reset, stdin inherited and stdout/stderr on
 * fresh pipes, and wait until it has exec'd.  envp NULL: our own
 * environment.  pid_slot: a string in envp the child completes with its
 * own pid (WATCHDOG_PID=), or NULL.  0, or -1 with *stage and *err (an
 * errno) telling what failed; nothing is left behind then.
 */
int	jw_spawn(char *const argv[], char *const envp[], char *pid_slot,
	    struct jw_child *c, enum jw_spawn_stage *stage, int *err);

#endif
