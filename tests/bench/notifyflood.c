/*
 * notifyflood K MODE EVERY
 *
 * Benchmark helper: send K sd_notify datagrams to $NOTIFY_SOCKET as fast as
 * the socket takes them (blocking sends: when the supervisor's queue is
 * full, this waits, nothing is lost on the way), and, after every EVERY
 * datagrams, write one 32-byte line to stdout:
 *   "out 000000123 ...............\n"
 * so that output and notify traffic compete for the supervisor's loop.
 * MODE: "watchdog" sends "WATCHDOG=1"; "status" sends "STATUS=step N"
 * (each is a notify event).  The benchmark checks that every output byte
 * came through (K / EVERY * 32 bytes) and that none of the datagrams was
 * dropped.  NOTIFY_SOCKET "@name" is an abstract socket.  Static, like
 * jobwrap.  Exit 0, or 1 with a message when a send or write fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_LEN 32

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("NOTIFY_SOCKET");
	unsigned long k, every;
	socklen_t salen;
	size_t plen;
	int fd, status;
	char msg[64], line[LINE_LEN + 1];

	if (argc != 4 ||
	    (strcmp(argv[2], "watchdog") != 0 &&
		strcmp(argv[2], "status") != 0)) {
		fputs("usage: notifyflood K watchdog|status EVERY\n", stderr);
		return 2;
	}
	k = strtoul(argv[1], NULL, 10);
	every = strtoul(argv[3], NULL, 10);
	status = strcmp(argv[2], "status") == 0;
	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (plen = strlen(path)) >= sizeof(sa.sun_path)) {
		fputs("notifyflood: no usable NOTIFY_SOCKET\n", stderr);
		return 1;
	}
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, salen) == -1) {
		perror("notifyflood: socket");
		return 1;
	}
	for (unsigned long i = 1; i <= k; i++) {
		int n = status
		    ? snprintf(msg, sizeof(msg), "STATUS=step %lu", i)
		    : snprintf(msg, sizeof(msg), "WATCHDOG=1");

		while (send(fd, msg, (size_t)n, 0) == -1)
			if (errno != EINTR) {
				perror("notifyflood: send");
				return 1;
			}
		if (every > 0 && i % every == 0) {
			snprintf(line, sizeof(line), "out %09lu %*s\n",
			    i % 1000000000, LINE_LEN - 15, "");
			memset(line + 14, '.', LINE_LEN - 15);
			if (write_all(1, line, LINE_LEN) == -1) {
				perror("notifyflood: write");
				return 1;
			}
		}
	}
	return 0;
}
