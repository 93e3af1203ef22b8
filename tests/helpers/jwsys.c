/*
 * jwsys: make system calls a seccomp filter should stop, for the tests.
 *
 *   jwsys call NAME...   each call with harmless arguments (-1 pointers,
 *                        fds and pids: they fail with EFAULT, EBADF,
 *                        EINVAL... when not filtered)
 *   jwsys x32 NAME...    the same through the x32 ABI
 *   jwsys signal         signal 0 to jobwrap (the parent), its process
 *                        group, every process (-1), and pidfd_open on it
 *
 * Prints "NAME ok" or "NAME ERRNO" per call, e.g. "mount EPERM".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32_BIT 0x40000000L

static const struct {
	const char *name;
	long nr;
	long x32; /* x32 numbers differ for some calls */
} calls[] = {
	{ "ptrace", SYS_ptrace, 521 },
	{ "process_vm_readv", SYS_process_vm_readv, 539 },
	{ "process_vm_writev", SYS_process_vm_writev, 540 },
	{ "pidfd_getfd", SYS_pidfd_getfd, SYS_pidfd_getfd },
	{ "perf_event_open", SYS_perf_event_open, SYS_perf_event_open },
	{ "init_module", SYS_init_module, SYS_init_module },
	{ "finit_module", SYS_finit_module, SYS_finit_module },
	{ "delete_module", SYS_delete_module, SYS_delete_module },
	{ "kexec_load", SYS_kexec_load, 528 },
	{ "kexec_file_load", SYS_kexec_file_load, SYS_kexec_file_load },
	{ "reboot", SYS_reboot, SYS_reboot },
	{ "mount", SYS_mount, SYS_mount },
	{ "umount2", SYS_umount2, SYS_umount2 },
	{ "pivot_root", SYS_pivot_root, SYS_pivot_root },
	{ "move_mount", SYS_move_mount, SYS_move_mount },
	{ "open_tree", SYS_open_tree, SYS_open_tree },
	{ "fsopen", SYS_fsopen, SYS_fsopen },
	{ "fsconfig", SYS_fsconfig, SYS_fsconfig },
	{ "fsmount", SYS_fsmount, SYS_fsmount },
	{ "fspick", SYS_fspick, SYS_fspick },
	{ "mount_setattr", SYS_mount_setattr, SYS_mount_setattr },
	{ "swapon", SYS_swapon, SYS_swapon },
	{ "swapoff", SYS_swapoff, SYS_swapoff },
	{ "add_key", SYS_add_key, SYS_add_key },
	{ "request_key", SYS_request_key, SYS_request_key },
	{ "keyctl", SYS_keyctl, SYS_keyctl },
	{ "settimeofday", SYS_settimeofday, SYS_settimeofday },
	{ "clock_settime", SYS_clock_settime, SYS_clock_settime },
	{ "clock_adjtime", SYS_clock_adjtime, SYS_clock_adjtime },
	{ "adjtimex", SYS_adjtimex, SYS_adjtimex },
	{ "bpf", SYS_bpf, SYS_bpf },
	{ "syslog", SYS_syslog, SYS_syslog },
	{ "acct", SYS_acct, SYS_acct },
	{ "iopl", SYS_iopl, SYS_iopl },
	{ "ioperm", SYS_ioperm, SYS_ioperm },
	{ "open_by_handle_at", SYS_open_by_handle_at, SYS_open_by_handle_at },
	{ "userfaultfd", SYS_userfaultfd, SYS_userfaultfd },
	{ "lookup_dcookie", SYS_lookup_dcookie, SYS_lookup_dcookie },
	/* Allowed by contain: a control. */
	{ "getppid", SYS_getppid, SYS_getppid },
};

static void
report(const char *name, long rc)
{
	if (rc == -1)
		printf("%s %s\n", name, strerrorname_np(errno));
	else
		printf("%s ok\n", name);
}

static int
call(const char *name, int x32)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		if (strcmp(calls[i].name, name) != 0)
			continue;
		long nr = x32 ? (calls[i].x32 | X32_BIT) : calls[i].nr;
		report(name, syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L));
		return 0;
	}
	fprintf(stderr, "jwsys: unknown call %s\n", name);
	return 2;
}

static void
signals(void)
{
	pid_t jobwrap = getppid();

	report("kill-jobwrap", kill(jobwrap, 0));
	report("kill-group", kill(-getpgid(jobwrap), 0));
	report("kill-all", kill(-1, 0));
	report("tgkill-jobwrap", syscall(SYS_tgkill, jobwrap, jobwrap, 0));
	report("pidfd-jobwrap", syscall(SYS_pidfd_open, jobwrap, 0));
	report("kill-self", kill(getpid(), 0));
}

int
main(int argc, char *argv[])
{
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "signal") == 0) {
		signals();
		return 0;
	}
	if (argc < 3 ||
	    (strcmp(argv[1], "call") != 0 && strcmp(argv[1], "x32") != 0)) {
		fprintf(stderr,
		    "usage: jwsys call|x32 NAME... | jwsys signal\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		rc |= call(argv[i], strcmp(argv[1], "x32") == 0);
	return rc;
}
