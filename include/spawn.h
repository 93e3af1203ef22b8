/* spawn.h: start one attempt of the command. */
#ifndef JW_SPAWN_H
#define JW_SPAWN_H

#include <sys/types.h>

struct jw_child {
	pid_t pid; /* also its process group id */
	int out;   /* read ends of its stdout and stderr pipes */
	int err;
};

struct jw_sandbox;

struct jw_spawn {
	char *const *argv;
	char *const *envp; /* NULL: our own environment */
	char *pid_slot;	   /* a string in envp the child completes
			      with its own pid (WATCHDOG_PID=), or
			      NULL */
	const struct jw_sandbox *sandbox; /* applied last before exec */
};

/* Where spawning failed, for the exit status (126/127 vs 125). */
enum jw_spawn_stage {
	JW_SPAWN_SETUP,
	JW_SPAWN_EXEC,
	JW_SPAWN_RLIMIT,
	JW_SPAWN_SECCOMP
};

struct jw_spawn_error {
	enum jw_spawn_stage stage;
	int err;   /* an errno */
	int limit; /* JW_SPAWN_RLIMIT: its jw_rlimit_id */
};

/*
 * Fork sp->argv into a new process group with PR_SET_PDEATHSIG(SIGKILL),
 * the signal mask and dispositions reset, stdin inherited, stdout/stderr
 * on fresh pipes and the sandbox applied, and wait until it has exec'd.
 * 0, or -1 with *e telling what failed; nothing is left behind then.
 */
int jw_spawn(const struct jw_spawn *sp, struct jw_child *c,
    struct jw_spawn_error *e);

#endif
