/*
 * sandbox.c: resource limits and the seccomp filter of the command.
 *
 * libseccomp takes most of a millisecond to generate a filter; the child
 * of each attempt runs in borrowed memory (CLONE_VM) and must stay small.
 * So the supervisor generates the BPF program once, exports it, and the
 * child only hands it to the kernel (tens of microseconds, see below).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

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
			sb->rl[i].rlim_max = v + 1;
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

static int
denied(const struct jw_seccomp *p, const char *name)
{
	for (char **d = p->deny; d != NULL && *d != NULL; d++)
		if (strcmp(*d, name) == 0)
			return 1;
	return 0;
}

/* A call whose first argument (a pid) is one of targets[] gets EPERM. */
static int
protect(scmp_filter_ctx ctx, const struct jw_seccomp *p, const char *call,
    const pid_t *targets, size_t n)
{
	int nr = seccomp_syscall_resolve_name(call), rc;

	if (nr == __NR_SCMP_ERROR || denied(p, call))
		return 0; /* denied outright already */
	for (size_t i = 0; i < n; i++) {
		/* The kernel reads an int: the upper half must not matter. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
			(uint32_t)targets[i]));
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * A same-user job could otherwise kill its supervisor (and with it the
 * record of the run), the server that started it, or every process of
 * the user with kill(-1).
 */
static int
protect_supervisor(scmp_filter_ctx ctx, const struct jw_seccomp *p)
{
	static const char *const by_pid[] = { "tkill", "tgkill",
		"rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open" };
	pid_t self = getpid(), group = getpgrp(), parent = getppid();
	pid_t kill_t[4], pid_t_[2];
	size_t nk = 0, np = 0;
	int rc;

	kill_t[nk++] = self;
	kill_t[nk++] = -1;
	pid_t_[np++] = self;
	if (group > 1)
		kill_t[nk++] = -group;
	/* 0: started from outside our pid namespace; kill(0) is the job's. */
	if (parent > 0) {
		kill_t[nk++] = parent;
		pid_t_[np++] = parent;
	}
	if ((rc = protect(ctx, p, "kill", kill_t, nk)) != 0)
		return rc;
	/*
	 * A pidfd needs no pidfd_open: open("/proc/PID") gives one too, and
	 * its number says nothing of whose it is.  So no job signals through
	 * pidfds; Go and others fall back to kill(2), which is checked.
	 */
	if (!denied(p, "pidfd_send_signal") &&
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		 seccomp_syscall_resolve_name("pidfd_send_signal"), 0)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(by_pid) / sizeof(by_pid[0]); i++)
		if ((rc = protect(ctx, p, by_pid[i], pid_t_, np)) != 0)
			return rc;
	return 0;
}

static int
add_denials(scmp_filter_ctx ctx, const struct jw_seccomp *p, const char **bad)
{
	uint32_t act = action_of(p);
	int rc;

	for (char **d = p->deny; d != NULL && *d != NULL; d++) {
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
