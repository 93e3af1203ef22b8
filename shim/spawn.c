/*
 * spawn.c: start the command in its own process group, reporting errors
 * before exec through a CLOEXEC pipe.
 *
 * The child is cloned with CLONE_VM | CLONE_VFORK, as posix_spawn does:
 * no page tables to copy and no copy-on-write faults afterwards, which is
 * most of a supervisor's start-up cost.  We are suspended until it has
 * exec'd or exited, so it borrows our memory safely; it only makes
 * system calls and writes its own stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "spawn.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

struct failure {
	int stage;
	int err;
	int limit;
};

/* Only async-signal-safe calls from here to exec. */
static void __attribute__((noreturn)) child_fail(int fd, int stage, int limit)
{
	struct failure f = { stage, errno, limit };

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
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = { SIG_DFL, 0, NULL, 0 };

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)syscall(SYS_rt_sigaction, sig, &dfl, NULL,
			    sizeof(dfl.mask));
}

/* Async-signal-safe: no printf between clone and exec. */
static void
append_pid(char *s)
{
	char digits[24];
	int n = 0;
	pid_t pid = getpid();

	while (*s != '\0')
		s++;
	do
		digits[n++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	while (n > 0)
		*s++ = digits[--n];
	*s = '\0';
}

struct start {
	const struct jw_spawn *sp;
	pid_t supervisor;
	int out[2], err[2], rep[2];
};

static int
child(void *arg)
{
	const struct start *a = arg;
	const struct jw_spawn *sp = a->sp;
	int rep = a->rep[1], what;
	sigset_t none;

	close(a->rep[0]);

	if (setpgid(0, 0) == -1 || prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		child_fail(rep, JW_SPAWN_SETUP, 0);
	/* The supervisor may have died before PDEATHSIG was armed. */
	if (getppid() != a->supervisor) {
		errno = ESRCH;
		child_fail(rep, JW_SPAWN_SETUP, 0);
	}
	reset_dispositions();
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1 ||
	    dup2(a->out[1], 1) == -1 || dup2(a->err[1], 2) == -1)
		child_fail(rep, JW_SPAWN_SETUP, 0);
	if (sp->pid_slot != NULL)
		append_pid(sp->pid_slot);
	if (sp->sandbox != NULL && jw_sandbox_apply(sp->sandbox, &what) == -1)
		child_fail(rep,
		    what == JW_SB_SECCOMP ? JW_SPAWN_SECCOMP : JW_SPAWN_RLIMIT,
		    what);
	/* The pipes are CLOEXEC; only the duplicates survive exec. */
	if (sp->envp != NULL)
		execvpe(sp->argv[0], sp->argv, sp->envp);
	else
		execvp(sp->argv[0], sp->argv);
	child_fail(rep, JW_SPAWN_EXEC, 0);
}

/*
 * execvp() keeps PATH and the name on the stack, and PATH may be as long
 * as one environment string (128 KiB).
 */
#define CHILD_STACK (256 * 1024)

static pid_t
start_child(struct start *a)
{
	void *stack;
	pid_t pid;
	int e;

	stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
#ifdef __SANITIZE_ADDRESS__
	/* The last child exec'd without returning: its frames are still
	 * poisoned in the shadow we share, maybe at this very address. */
	__asan_unpoison_memory_region(stack, CHILD_STACK);
#endif
	pid = clone(child, (char *)stack + CHILD_STACK,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, a);
	e = errno;
	(void)munmap(stack, CHILD_STACK);
	errno = e;
	return pid;
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
jw_spawn(const struct jw_spawn *sp, struct jw_child *c,
    struct jw_spawn_error *e)
{
	struct start a = { sp, getpid(), { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int *out = a.out, *err = a.err, *rep = a.rep;
	struct failure f;
	pid_t pid;
	ssize_t n;

	e->stage = JW_SPAWN_SETUP;
	e->limit = 0;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    pipe2(rep, O_CLOEXEC) == -1)
		goto fail;
	if ((pid = start_child(&a)) == -1)
		goto fail;
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
			e->stage = (enum jw_spawn_stage)f.stage;
			e->limit = f.limit;
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
	e->err = errno;
	for (int i = 0; i < 2; i++) {
		if (out[i] != -1)
			close(out[i]);
		if (err[i] != -1)
			close(err[i]);
		if (rep[i] != -1)
			close(rep[i]);
	}
	errno = e->err;
	return -1;
}
