/*
 * fd3pipe COMMAND [ARG...]
 *
 * Benchmark helper: run COMMAND with fd 3 the write end of a pipe whose read
 * end this process drains until EOF (a live, fast reader, as a parent server
 * would be), then exit with COMMAND's status.  hyperfine -N cannot set up
 * redirections, so `jobwrap --events-fd 3` is timed as
 * `fd3pipe jobwrap --events-fd 3 ...` and the helper's own cost is removed by
 * subtracting `fd3pipe /bin/true`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static char buf[1 << 16];
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (argc < 2) {
		fputs("usage: fd3pipe COMMAND [ARG...]\n", stderr);
		return 2;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		perror("fd3pipe: pipe2");
		return 125;
	}
	if ((pid = fork()) == -1) {
		perror("fd3pipe: fork");
		return 125;
	}
	if (pid == 0) {
		/* dup2 clears FD_CLOEXEC on 3, unless p[1] already is 3. */
		if (p[1] == 3)
			(void)fcntl(3, F_SETFD, 0);
		else if (dup2(p[1], 3) == -1)
			_exit(125);
		execv(argv[1], argv + 1);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) > 0 ||
	    (n == -1 && errno == EINTR))
		;
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
