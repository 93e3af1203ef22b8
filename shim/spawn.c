/* spawn.c: fork + exec, reporting exec errors through a CLOEXEC pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

struct failure {
	int	stage;
	int	err;
};

/* Only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn))
child_fail(int fd, int stage)
{
	struct failure f = { stage, errno };

	(void)!write(fd, &f, sizeof(f));
	_exit(127);
}

/*
 * Every disposition back to default.  glibc's sigaction() refuses the two
 * signals it keeps for itself (32, 33), but a parent can leave them
 * ignored (GNU make does) and ignored dispositions survive exec: the raw
 * system call resets those too.
 */
static void
reset_dispositions(void)
{
	struct {
		void		(*handler)(int);
		unsigned long	 flags;
		void		(*restorer)(void);
		uint64_t	 mask;
	} dfl = { SIG_DFL, 0, NULL, 0 };

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)syscall(SYS_rt_sigaction, sig, &dfl, NULL,
			    sizeof(dfl.mask));
}

static void __attribute__((noreturn))
child(char *const argv[], pid_t supervisor, int out[2], int err[2], int rep)
{
	sigset_t none;

	if (setpgid(0, 0) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		child_fail(rep, 0);
	/* The supervisor may have died before PDEATHSIG was armed. */
	if (getppid() != supervisor) {
		errno = ESRCH;
		child_fail(rep, 0);
	}
	reset_dispositions();
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1 ||
	    dup2(out[1], 1) == -1 || dup2(err[1], 2) == -1)
		child_fail(rep, 0);
	close(out[0]);
	close(out[1]);
	close(err[0]);
	close(err[1]);
	execvp(argv[0], argv);
	child_fail(rep, 1);
}

static ssize_t
read_report(int fd, struct failure *f)
{
	ssize_t n;

	while ((n = read(fd, f, sizeof(*f))) == -1 && errno == EINTR)
		;
	return n;
}

int
jw_spawn(char *const argv[], struct jw_child *c, enum jw_spawn_stage *stage,
    int *errp)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2] = { -1, -1 };
	pid_t me = getpid(), pid;
	struct failure f;
	ssize_t n;

	*stage = JW_SPAWN_SETUP;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    pipe2(rep, O_CLOEXEC) == -1)
		goto fail;
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0) {
		close(rep[0]);
		child(argv, me, out, err, rep[1]);
	}
	/* Both sides set the group, so neither order of running races. */
	(void)setpgid(pid, pid);
	close(rep[1]);
	rep[1] = -1;
	n = read_report(rep[0], &f);
	close(rep[0]);
	rep[0] = -1;
	if (n != 0) {
		/* It never ran the command: reap it here, it is ours alone. */
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		if (n == (ssize_t)sizeof(f)) {
			*stage = f.stage ? JW_SPAWN_EXEC : JW_SPAWN_SETUP;
			errno = f.err;
		} else if (n != -1)
			errno = EPROTO;
		goto fail;
	}
	close(out[1]);
	close(err[1]);
	c->pid = pid;
	c->out = out[0];
	c->err = err[0];
	/* Fewer wake-ups for chatty jobs; the default size works too. */
	(void)fcntl(c->out, F_SETPIPE_SZ, 1 << 20);
	(void)fcntl(c->err, F_SETPIPE_SZ, 1 << 20);
	return 0;
fail:
	*errp = errno;
	for (int i = 0; i < 2; i++) {
		if (out[i] != -1)
			close(out[i]);
		if (err[i] != -1)
			close(err[i]);
		if (rep[i] != -1)
			close(rep[i]);
	}
	errno = *errp;
	return -1;
}
