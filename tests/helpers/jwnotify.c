/*
 * jwnotify: a tiny sd_notify client in C for jobwrap's integration tests,
 * written the way libsystemd's sd_notify() does it.
 *
 *   jwnotify [-n] [-s SOCKET] MESSAGE...
 *
 * Each MESSAGE is sent as one datagram to $NOTIFY_SOCKET (or to SOCKET).
 * Then jwnotify waits (up to 3 s) until the receiver has read them all
 * (SIOCOUTQ is 0), so that the receiver can still check who sent them;
 * -n exits at once instead.
 * A leading '@' names an abstract socket (the '@' becomes a NUL byte).
 * In MESSAGE, "\n" is a newline, "\\" a backslash and "\xNN" the byte NN,
 * so 'READY=1\nSTATUS=x' is one datagram with two lines.
 *
 * Exit 0 when every datagram was sent, 1 when a send failed, 2 on usage
 * errors, 4 when there is no socket to send to.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the escapes of s in place; returns the decoded length. */
static size_t
decode(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; r++) {
		if (r[0] == '\\' && r[1] == 'n') {
			*w++ = '\n';
			r++;
		} else if (r[0] == '\\' && r[1] == '\\') {
			*w++ = '\\';
			r++;
		} else if (r[0] == '\\' && r[1] == 'x' && r[2] != '\0' &&
		    unhex(r[2]) >= 0 && r[3] != '\0' && unhex(r[3]) >= 0) {
			*w++ = (char)(unhex(r[2]) * 16 + unhex(r[3]));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	return (size_t)(w - s);
}

int
main(int argc, char **argv)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t plen;
	int argi = 1, fd, nowait = 0;

	if (argc > argi && strcmp(argv[argi], "-n") == 0) {
		nowait = 1;
		argi++;
	}
	if (argc > argi + 1 && strcmp(argv[argi], "-s") == 0) {
		path = argv[argi + 1];
		argi += 2;
	}
	if (argi >= argc) {
		fprintf(stderr,
		    "usage: jwnotify [-n] [-s SOCKET] MESSAGE...\n");
		return 2;
	}
	if (path == NULL || path[0] == '\0') {
		fprintf(stderr, "jwnotify: NOTIFY_SOCKET is not set\n");
		return 4;
	}
	if (path[0] != '@' && path[0] != '/') {
		fprintf(stderr, "jwnotify: bad socket name %s\n", path);
		return 4;
	}
	plen = strlen(path);
	if (plen >= sizeof(sa.sun_path)) {
		fprintf(stderr, "jwnotify: socket name too long\n");
		return 4;
	}
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@') {
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    plen);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    plen + 1);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		perror("jwnotify: socket");
		return 1;
	}
	for (int i = argi; i < argc; i++) {
		size_t n = decode(argv[i]);
		ssize_t w;

		do
			w = sendto(fd, argv[i], n, MSG_NOSIGNAL,
			    (struct sockaddr *)&sa, salen);
		while (w == -1 && errno == EINTR);
		if (w != (ssize_t)n) {
			perror("jwnotify: sendto");
			return 1;
		}
	}
	for (int i = 0; !nowait && i < 3000; i++) {
		struct timespec ms = { 0, 1000000 };
		int queued = 0;

		if (ioctl(fd, SIOCOUTQ, &queued) == -1 || queued == 0) {
			/* Read is not yet checked: give jobwrap a moment to
			 * look at who sent it before we exit and are reaped. */
			struct timespec linger = { 0, 20000000 };
			nanosleep(&linger, NULL);
			break;
		}
		nanosleep(&ms, NULL);
	}
	close(fd);
	return 0;
}
