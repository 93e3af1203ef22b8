/*
 * jwchild: a misbehaving child for jobwrap's integration tests.
 *
 *   flood N [out|err|both]  write N bytes (no newline) of the pattern
 *                           "byte i = i % 255, skipping 10", exit 0
 *   hex OUTHEX [ERRHEX]     write the decoded bytes to stdout (and stderr)
 *   ignore-term             ignore SIGTERM, print "ready", wait forever
 *   escape keep|close [ignore]
 *                           double fork + setsid; the grandchild keeps
 *                           stdout/stderr or closes every fd, optionally
 *                           ignores SIGTERM, and waits forever; the child
 *                           prints "G <pid>" and exits 0
 *   closeout                close stdout and stderr, wait forever
 *   selfsig N               die of signal N (no core file)
 *   tree N                  build a tree of N processes (some setsid, some
 *                           ignoring SIGTERM); each prints "P <pid>"; wait
 *   race                    fork A and exit; once reparented, A forks B,
 *                           which setsids and forks C; all ignore SIGTERM;
 *                           A, B, C print "A|B|C <pid>"
 *   fan N [setsid] [ignore] [exit]
 *                           fork N children that wait forever (each in
 *                           its own session, ignoring SIGTERM, if asked);
 *                           print "F <pid>" for each, then "ready"; then
 *                           wait forever, or exit 0
 *   hopper USEC             a TERM-ignoring setsid process forks and exits
 *                           every USEC microseconds (0: as fast as it can);
 *                           the child itself waits forever
 *
 * Exit 2 on usage errors, 3 when a write fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: jwchild MODE [ARG...] (see the source)\n");
	exit(2);
}

static void
write_all(int fd, const void *vp, size_t n)
{
	const char *p = vp;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		p += w;
		n -= (size_t)w;
	}
}

static void
say(const char *what, pid_t pid)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s %d\n", what, (int)pid);

	/* One write of less than PIPE_BUF: lines never interleave. */
	if (n > 0)
		write_all(1, line, (size_t)n);
}

static void __attribute__((noreturn)) wait_forever(void)
{
	for (;;)
		pause();
}

static void
ignore(int sig)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigaction(sig, &sa, NULL);
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static unsigned long long
number(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		usage();
	return v;
}

static int
flood(int argc, char **argv)
{
	static unsigned char block[255 * 256];
	unsigned long long left;
	const char *where = argc > 3 ? argv[3] : "out";
	int to_out = strcmp(where, "out") == 0 || strcmp(where, "both") == 0;
	int to_err = strcmp(where, "err") == 0 || strcmp(where, "both") == 0;

	if (argc < 3 || (!to_out && !to_err))
		usage();
	left = number(argv[2]);
	for (size_t i = 0; i < sizeof(block); i++) {
		unsigned v = (unsigned)(i % 255);
		block[i] = (unsigned char)(v >= 10 ? v + 1 : v);
	}
	/* sizeof(block) is a multiple of 255: every chunk starts the
	 * pattern afresh. */
	while (left > 0) {
		size_t n = left < sizeof(block) ? (size_t)left : sizeof(block);
		if (to_out)
			write_all(1, block, n);
		if (to_err)
			write_all(2, block, n);
		left -= n;
	}
	return 0;
}

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	usage();
}

static void
write_hex(int fd, const char *hex)
{
	size_t len = strlen(hex);
	unsigned char *buf;

	if (len % 2 != 0 || (buf = malloc(len / 2 + 1)) == NULL)
		usage();
	for (size_t i = 0; i < len / 2; i++)
		buf[i] = (unsigned char)(unhex(hex[2 * i]) * 16 +
		    unhex(hex[2 * i + 1]));
	write_all(fd, buf, len / 2);
	free(buf);
}

static int
hex(int argc, char **argv)
{
	if (argc < 3)
		usage();
	write_hex(1, argv[2]);
	if (argc > 3)
		write_hex(2, argv[3]);
	return 0;
}

static int
escape(int argc, char **argv)
{
	int keep, ign = argc > 3 && strcmp(argv[3], "ignore") == 0;
	int p[2];
	pid_t pid, g;

	if (argc < 3)
		usage();
	keep = strcmp(argv[2], "keep") == 0;
	if (!keep && strcmp(argv[2], "close") != 0)
		usage();
	if (pipe(p) == -1 || (pid = fork()) == -1)
		return 1;
	if (pid == 0) {
		close(p[0]);
		setsid();
		if ((g = fork()) != 0)
			_exit(g == -1);
		if (ign)
			ignore(SIGTERM);
		g = getpid();
		write_all(p[1], &g, sizeof(g));
		if (!keep)
			for (int fd = 0; fd < 1024; fd++)
				close(fd);
		else
			close(p[1]);
		wait_forever();
	}
	close(p[1]);
	if (read(p[0], &g, sizeof(g)) != (ssize_t)sizeof(g))
		return 1;
	say("G", g);
	return 0;
}

static int
closeout(void)
{
	write_all(1, "closing\n", 8);
	close(1);
	close(2);
	wait_forever();
}

static int
selfsig(int argc, char **argv)
{
	struct rlimit none = { 0, 0 };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int sig;

	if (argc < 3)
		usage();
	sig = (int)number(argv[2]);
	setrlimit(RLIMIT_CORE, &none);
	sigaction(sig, &dfl, NULL);
	kill(getpid(), sig);
	sleep_us(5 * 1000000);
	return 1;
}

/* This process is node number idx of n; its children are 3*idx+1..+3. */
static void __attribute__((noreturn))
tree_node(unsigned long long idx, unsigned long long n)
{
	if (idx % 3 == 2)
		setsid();
	if (idx % 4 == 3)
		ignore(SIGTERM);
	for (unsigned long long c = 3 * idx + 1; c <= 3 * idx + 3 && c < n;
	     c++) {
		pid_t pid = fork();
		if (pid == 0)
			tree_node(c, n);
	}
	say("P", getpid());
	wait_forever();
}

static int
tree(int argc, char **argv)
{
	if (argc < 3)
		usage();
	tree_node(0, number(argv[2]));
}

static int
race(void)
{
	pid_t parent = getpid(), a;

	/* Before the fork: the leftover sweep may come before A runs. */
	ignore(SIGTERM);
	if ((a = fork()) != 0)
		return a == -1;
	/* Wait until the child has exited and jobwrap adopted A. */
	for (int i = 0; i < 5000 && getppid() == parent; i++)
		sleep_us(200);
	say("A", getpid());
	if (fork() != 0)
		wait_forever();
	setsid();
	say("B", getpid());
	if (fork() == 0)
		say("C", getpid());
	wait_forever();
}

static int
fan(int argc, char **argv)
{
	unsigned long long n;
	int own = 0, ign = 0, leave = 0;

	if (argc < 3)
		usage();
	n = number(argv[2]);
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "setsid") == 0)
			own = 1;
		else if (strcmp(argv[i], "ignore") == 0)
			ign = 1;
		else if (strcmp(argv[i], "exit") == 0)
			leave = 1;
		else
			usage();
	}
	/* Blocked across fork: a SIGTERM sent as soon as we have said
	 * "ready" (or exited) must find the children ignoring it already. */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	for (unsigned long long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == -1)
			return 1;
		if (pid == 0) {
			if (own)
				setsid();
			if (ign)
				ignore(SIGTERM);
			sigprocmask(SIG_SETMASK, &old, NULL);
			wait_forever();
		}
		say("F", pid);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	write_all(1, "ready\n", 6);
	if (leave)
		return 0;
	wait_forever();
}

static int
hopper(int argc, char **argv)
{
	long us;

	if (argc < 3)
		usage();
	us = (long)number(argv[2]);
	if (fork() != 0)
		wait_forever();
	ignore(SIGTERM);
	setsid();
	say("H", getpid());
	for (;;) {
		pid_t pid = fork();
		if (pid > 0)
			_exit(0);
		if (us > 0)
			sleep_us(us);
	}
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "flood") == 0)
		return flood(argc, argv);
	if (strcmp(mode, "hex") == 0)
		return hex(argc, argv);
	if (strcmp(mode, "ignore-term") == 0) {
		ignore(SIGTERM);
		write_all(1, "ready\n", 6);
		wait_forever();
	}
	if (strcmp(mode, "escape") == 0)
		return escape(argc, argv);
	if (strcmp(mode, "closeout") == 0)
		return closeout();
	if (strcmp(mode, "selfsig") == 0)
		return selfsig(argc, argv);
	if (strcmp(mode, "tree") == 0)
		return tree(argc, argv);
	if (strcmp(mode, "race") == 0)
		return race();
	if (strcmp(mode, "fan") == 0)
		return fan(argc, argv);
	if (strcmp(mode, "hopper") == 0)
		return hopper(argc, argv);
	usage();
}
