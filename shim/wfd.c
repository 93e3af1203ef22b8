/* wfd.c: non-blocking writes to descriptors jobwrap inherited. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wfd.h"

/*
 * Opening /proc/self/fd/N of a pipe, FIFO or terminal yields a new open
 * file description of the same object, so O_NONBLOCK stays ours.  A pipe
 * whose reader is gone answers ENXIO: nobody will ever read it.
 */
static void
reopen_private(struct jw_wfd *w, int fd)
{
	char path[32];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (nfd != -1) {
		w->fd = nfd;
		w->kind = JW_WFD_POLL;
	} else if (errno == ENXIO) {
		w->fd = -1;
		w->kind = JW_WFD_GONE;
	} else {
		/* No /proc (odd containers): a blocking write beats none. */
		w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		w->kind = w->fd == -1 ? JW_WFD_GONE : JW_WFD_PLAIN;
	}
}

void
jw_wfd_open(struct jw_wfd *w, int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		w->fd = -1;
		w->kind = JW_WFD_GONE;
		return;
	}
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		reopen_private(w, fd);
		return;
	}
	/* Files keep their offset and O_APPEND only on the same description. */
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (w->fd == -1)
		w->kind = JW_WFD_GONE;
	else
		w->kind = S_ISSOCK(st.st_mode) ? JW_WFD_SOCK : JW_WFD_PLAIN;
}

ssize_t
jw_wfd_write(struct jw_wfd *w, const void *p, size_t n)
{
	ssize_t r;

	for (;;) {
		switch (w->kind) {
		case JW_WFD_GONE:
			errno = EPIPE;
			return -1;
		case JW_WFD_SOCK:
			r = send(w->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		default:
			r = write(w->fd, p, n);
			break;
		}
		if (r != -1 || errno != EINTR)
			return r;
	}
}

ssize_t
jw_wfd_splice(struct jw_wfd *w, int in, size_t n)
{
	ssize_t r;

	if (w->kind == JW_WFD_GONE) {
		errno = EPIPE;
		return -1;
	}
	if (w->kind == JW_WFD_SOCK) {
		errno = EINVAL;
		return -1;
	}
	while (
	    (r = splice(in, NULL, w->fd, NULL, n, SPLICE_F_NONBLOCK)) == -1 &&
	    errno == EINTR)
		;
	return r;
}

void
jw_wfd_unpollable(struct jw_wfd *w)
{
	w->kind = JW_WFD_PLAIN;
}

void
jw_wfd_close(struct jw_wfd *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	w->kind = JW_WFD_GONE;
}
