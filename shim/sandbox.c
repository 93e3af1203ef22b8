/*
 * sandbox.c: resource limits and the seccomp filter of the command.
 *
 * libseccomp takes most of a millisecond to generate a filter; the child
 * of each attempt runs in borrowed memory (CLONE_VM) and must stay small.
 * So the supervisor generates the BPF program once, exports it, and the
 * child only hands it to the kernel (tens of microseconds, see below).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>

#include <seccomp.h>

#include "sandbox.h"

static const struct {
	const char *name;
	int resource;
} limits[JW_RL_COUNT] = {
	[JW_RL_CORE] = { "core", RLIMIT_CORE },
	[JW_RL_NOFILE] = { "nofile", RLIMIT_NOFILE },
	[JW_RL_AS] = { "as", RLIMIT_AS },
	[JW_RL_CPU] = { "cpu", RLIMIT_CPU },
	[JW_RL_NPROC] = { "nproc", RLIMIT_NPROC },
	[JW_RL_FSIZE] = { "fsize", RLIMIT_FSIZE },
};

const char *
jw_rlimit_name(enum jw_rlimit_id id)
{
	return limits[id].name;
}

/*
 * Soft and hard limit alike, so the job cannot raise them -- except the
 * CPU limit: SIGXCPU at the soft limit says what happened, and SIGKILL a
 * second later (the hard limit) ends a job that ignores it.
 */
/* v + 1, but not past the hard limit we run under: v itself may be it. */
static rlim_t
cpu_hard(rlim_t v)
{
	struct rlimit cur;

	if (getrlimit(RLIMIT_CPU, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
	    cur.rlim_max <= v)
		return v;
	return v + 1;
}

static void
set_limits(struct jw_sandbox *sb, const struct jw_limit lim[])
{
	for (int i = 0; i < JW_RL_COUNT; i++) {
		rlim_t v = lim[i].value == JW_RL_UNLIMITED
		    ? RLIM_INFINITY
		    : (rlim_t)lim[i].value;
		sb->has[i] = lim[i].set;
		sb->rl[i].rlim_cur = sb->rl[i].rlim_max = v;
		if (i == JW_RL_CPU && v != RLIM_INFINITY)
			sb->rl[i].rlim_max = cpu_hard(v);
	}
}

/*
 * The kernel runs the filter for whatever ABI a call comes through; an
 * x32 or i386 call on x86_64 must meet the same rules, not the default.
 */
static int
add_arches(scmp_filter_ctx ctx)
{
	static const uint32_t x86_64[] = { SCMP_ARCH_X86, SCMP_ARCH_X32 };
	static const uint32_t aarch64[] = { SCMP_ARCH_ARM };
	uint32_t native = seccomp_arch_native();
	const uint32_t *a = native == SCMP_ARCH_X86_64 ? x86_64
	    : native == SCMP_ARCH_AARCH64	       ? aarch64
						       : NULL;
	size_t n = native == SCMP_ARCH_X86_64 ? 2 : a != NULL ? 1 : 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = seccomp_arch_add(ctx, a[i])) != 0 && rc != -EEXIST)
			return rc;
	return 0;
}

static uint32_t
action_of(const struct jw_seccomp *p)
{
	switch (p->action) {
	case JW_SC_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case JW_SC_LOG:
		return SCMP_ACT_LOG;
	default:
		return SCMP_ACT_ERRNO((uint32_t)p->errnum);
	}
}

/*
 * The calls the protection below guards.  A profile that denies one of
 * them outright covers the protection too, unless its action only logs:
 * then the call is left to the protection (libseccomp keeps one action
 * per call, and drops a conditional rule next to an unconditional one).
 */
static const char *const guarded[] = { "kill", "tkill", "tgkill",
	"rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
	"pidfd_send_signal", "prlimit64", "setpgid", "fcntl", "fcntl64",
	"ioctl" };

static int
is_guarded(const char *name)
{
	for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
		if (strcmp(guarded[i], name) == 0)
			return 1;
	return 0;
}

/* Denied outright, with an action that stops the call. */
static int
denied(const struct jw_seccomp *p, const char *name)
{
	if (p->action == JW_SC_LOG)
		return 0;
	for (char **d = p->deny; d != NULL && *d != NULL; d++)
		if (strcmp(*d, name) == 0)
			return 1;
	return 0;
}

#define MAXT 6

/* Who the job must leave alone: pids, and process groups as -pgid. */
struct targets {
	pid_t pids[MAXT]; /* jobwrap, its parent */
	size_t np;
	pid_t groups[MAXT]; /* jobwrap's group and its parent's */
	size_t ng;
};

/*
 * call gets EPERM when argument arg (an int: the upper half must not
 * matter) is one of v[], and, with cmd >= 0, argument 1 is cmd.
 */
static int
protect(scmp_filter_ctx ctx, const struct jw_seccomp *p, const char *call,
    unsigned arg, long cmd, const pid_t *v, size_t n)
{
	int nr = seccomp_syscall_resolve_name(call), rc;
	struct scmp_arg_cmp c[2];
	unsigned nc;

	if (nr == __NR_SCMP_ERROR || denied(p, call))
		return 0;
	for (size_t i = 0; i < n; i++) {
		nc = 0;
		if (cmd >= 0)
			c[nc++] = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmd);
		c[nc++] = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, 0xffffffffu,
		    (uint32_t)v[i]);
		if ((rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr,
			 nc, c)) != 0)
			return rc;
	}
	return 0;
}

/* call gets EPERM when argument 1 is cmd, or always (cmd < 0). */
static int
refuse(scmp_filter_ctx ctx, const struct jw_seccomp *p, const char *call,
    long cmd)
{
	int nr = seccomp_syscall_resolve_name(call);

	if (nr == __NR_SCMP_ERROR || denied(p, call))
		return 0;
	return cmd < 0 ? seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)
		       : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
			     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmd));
}

static void
find_targets(struct targets *t)
{
	pid_t self = getpid(), group = getpgrp(), parent = getppid();
	pid_t pgroup = parent > 0 ? getpgid(parent) : -1;

	memset(t, 0, sizeof(*t));
	t->pids[t->np++] = self;
	/* 0: started from outside our pid namespace; kill(0) is the job's. */
	if (parent > 0)
		t->pids[t->np++] = parent;
	if (group > 1)
		t->groups[t->ng++] = group;
	if (pgroup > 1 && pgroup != group)
		t->groups[t->ng++] = pgroup;
}

/*
 * A same-user job could otherwise kill its supervisor (and with it the
 * record of the run), the server that started it, or every process of
 * the user with kill(-1): by a signal, by having the kernel send one
 * (SIGIO to the owner of a descriptor, SIGXFSZ after lowering a limit),
 * or by joining the supervisor's process group and signalling its own.
 */
static int
protect_supervisor(scmp_filter_ctx ctx, const struct jw_seccomp *p)
{
	static const char *const by_pid[] = { "tkill", "tgkill",
		"rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
		"prlimit64" };
	struct targets t;
	pid_t kill_t[2 * MAXT + 1], owner[2 * MAXT];
	size_t nk = 0, no = 0;
	int rc = 0;

	find_targets(&t);
	kill_t[nk++] = -1;
	for (size_t i = 0; i < t.np; i++)
		kill_t[nk++] = owner[no++] = t.pids[i];
	for (size_t i = 0; i < t.ng; i++)
		kill_t[nk++] = owner[no++] = -t.groups[i];
	if ((rc = protect(ctx, p, "kill", 0, -1, kill_t, nk)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(by_pid) / sizeof(by_pid[0]); i++)
		if ((rc = protect(ctx, p, by_pid[i], 0, -1, t.pids, t.np)) != 0)
			return rc;
	/* Joining a group jobwrap or its parent is in: kill(0) then hits. */
	if ((rc = protect(ctx, p, "setpgid", 1, -1, t.groups, t.ng)) != 0)
		return rc;
	/* F_SETOWN takes a pid, or a group as -pgid; the others, pointers
	 * the filter cannot read, go altogether (they are rare). */
	if ((rc = protect(ctx, p, "fcntl", 2, F_SETOWN, owner, no)) != 0 ||
	    (rc = protect(ctx, p, "fcntl64", 2, F_SETOWN, owner, no)) != 0 ||
	    (rc = refuse(ctx, p, "fcntl", F_SETOWN_EX)) != 0 ||
	    (rc = refuse(ctx, p, "fcntl64", F_SETOWN_EX)) != 0 ||
	    (rc = refuse(ctx, p, "ioctl", FIOSETOWN)) != 0 ||
	    (rc = refuse(ctx, p, "ioctl", SIOCSPGRP)) != 0)
		return rc;
	/*
	 * A pidfd needs no pidfd_open: open("/proc/PID") gives one too, and
	 * its number says nothing of whose it is.  So no job signals through
	 * pidfds; Go and others fall back to kill(2), which is checked.
	 */
	return refuse(ctx, p, "pidfd_send_signal", -1);
}

static int
add_denials(scmp_filter_ctx ctx, const struct jw_seccomp *p, const char **bad)
{
	uint32_t act = action_of(p);
	int rc;

	for (char **d = p->deny; d != NULL && *d != NULL; d++) {
		if (p->action == JW_SC_LOG && is_guarded(*d))
			continue; /* the protection's, see guarded[] */
		*bad = *d;
		rc = seccomp_rule_add(ctx, act,
		    seccomp_syscall_resolve_name(*d), 0);
		if (rc != 0)
			return rc;
	}
	*bad = NULL;
	return protect_supervisor(ctx, p);
}

/* The program, out of libseccomp and into our own memory. */
static int export(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("jobwrap-seccomp", MFD_CLOEXEC), rc;
	off_t size;
	size_t got = 0;
	char *buf = NULL;

	if (fd == -1)
		return -errno;
	if ((rc = seccomp_export_bpf(ctx, fd)) != 0)
		goto out;
	if ((size = lseek(fd, 0, SEEK_END)) == -1 || size == 0 ||
	    (buf = malloc((size_t)size)) == NULL) {
		rc = size == 0 ? -EPROTO : -errno;
		goto out;
	}
	while (got < (size_t)size) {
		ssize_t n = pread(fd, buf + got, (size_t)size - got,
		    (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? -EPROTO : -errno;
			goto out;
		}
		got += (size_t)n;
	}
	prog->filter = (struct sock_filter *)(void *)buf;
	prog->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int
jw_sandbox_build(struct jw_sandbox *sb, const struct jw_limit lim[],
    const struct jw_seccomp *p, char *why, size_t whylen)
{
	scmp_filter_ctx ctx;
	const char *bad = NULL, *step;
	int rc;

	memset(sb, 0, sizeof(*sb));
	set_limits(sb, lim);
	if (p->name == NULL)
		return 0;
	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL) {
		snprintf(why, whylen,
		    "cannot build the seccomp filter \"%s\": "
		    "libseccomp failed to start",
		    p->name);
		errno = ENOMEM;
		return -1;
	}
	/*
	 * A binary tree of syscall numbers, not libseccomp's default list:
	 * at load, the kernel runs the filter once per call number to cache
	 * the always-allowed ones, and down a list of some 150 instructions
	 * that took 150 us; the tree takes half.
	 */
	step = "optimize";
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) == 0) {
		step = "add architectures to";
		rc = add_arches(ctx);
	}
	if (rc == 0) {
		step = "add a rule to";
		if ((rc = add_denials(ctx, p, &bad)) == 0) {
			step = "export";
			rc = export(ctx, &sb->prog);
		}
	}
	seccomp_release(ctx);
	if (rc == 0)
		return 0;
	snprintf(why, whylen, "cannot %s the seccomp filter \"%s\"%s%s: %s",
	    step, p->name, bad ? " for " : "", bad ? bad : "", strerror(-rc));
	errno = -rc;
	return -1;
}

int
jw_sandbox_apply(const struct jw_sandbox *sb, int *what)
{
	for (int i = 0; i < JW_RL_COUNT; i++) {
		if (sb->has[i] &&
		    setrlimit(limits[i].resource, &sb->rl[i]) == -1) {
			*what = i;
			return -1;
		}
	}
	if (sb->prog.len == 0)
		return 0;
	*what = JW_SB_SECCOMP;
	/* Without it, only a privileged process may install a filter; with
	 * it, set-uid programs in the job gain nothing either. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb->prog);
}

void
jw_sandbox_free(struct jw_sandbox *sb)
{
	free(sb->prog.filter);
	sb->prog.filter = NULL;
	sb->prog.len = 0;
}
