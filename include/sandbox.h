/*
 * sandbox.h: what the command runs under -- resource limits and a seccomp
 * filter -- prepared once by the supervisor and applied by each attempt's
 * child between fork and exec.
 */
#ifndef JW_SANDBOX_H
#define JW_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "syscalls.h"

/* --rlimit-NAME, in the contract's order. */
enum jw_rlimit_id {
	JW_RL_CORE,
	JW_RL_NOFILE,
	JW_RL_AS,
	JW_RL_CPU,
	JW_RL_NPROC,
	JW_RL_FSIZE,
	JW_RL_COUNT
};

#define JW_RL_UNLIMITED UINT64_MAX

struct jw_limit {
	bool set;
	uint64_t value; /* JW_RL_UNLIMITED, or bytes, count, s */
};

struct jw_sandbox {
	struct rlimit rl[JW_RL_COUNT];
	bool has[JW_RL_COUNT];
	struct sock_fprog prog; /* len 0: no filter */
};

/* "core", "nofile", ...; and RLIMIT_CORE, ... */
const char *jw_rlimit_name(enum jw_rlimit_id id);

/*
 * Build the filter for profile p (name NULL: none) and the limits.  The
 * filter also keeps the job from signalling jobwrap, its process group
 * or its parent, and from kill(-1).  0, or -1 with why and errno.
 */
int jw_sandbox_build(struct jw_sandbox *sb, const struct jw_limit lim[],
    const struct jw_seccomp *p, char *why, size_t whylen);

/* Where jw_sandbox_apply() failed. */
#define JW_SB_SECCOMP (-1) /* else the jw_rlimit_id that failed */

/*
 * In the child, last before exec: limits, PR_SET_NO_NEW_PRIVS, the
 * filter.  Async-signal-safe.  0, or -1 with errno and *what.
 */
int jw_sandbox_apply(const struct jw_sandbox *sb, int *what);

void jw_sandbox_free(struct jw_sandbox *sb);

#endif
