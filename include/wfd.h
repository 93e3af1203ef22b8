/*
 * wfd.h: write to an inherited file descriptor without ever blocking the
 * event loop and without changing the flags of a description the parent
 * shares (O_NONBLOCK on a shared terminal or pipe would leak to it).
 */
#ifndef JW_WFD_H
#define JW_WFD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum jw_wfd_kind {
	JW_WFD_GONE,  /* closed, or a pipe with no reader left */
	JW_WFD_POLL,  /* private non-blocking description: poll for EPOLLOUT */
	JW_WFD_SOCK,  /* socket: send(MSG_DONTWAIT) */
	JW_WFD_PLAIN, /* regular file or the like: writes do not wait long */
};

struct jw_wfd {
	int fd;
	enum jw_wfd_kind kind;
};

/* Set w up for inherited fd.  Always succeeds; the kind tells what it got. */
void jw_wfd_open(struct jw_wfd *w, int fd);
/* Like write(2): bytes written, or -1 with errno (EAGAIN: try later). */
ssize_t jw_wfd_write(struct jw_wfd *w, const void *p, size_t n);
/*
 * Move up to n bytes from the pipe in straight to w, as splice(2), never
 * waiting.  -1 with EAGAIN: in is empty or w is full (ask FIONREAD);
 * EINVAL: w cannot take a splice (a socket we may not make non-blocking,
 * a terminal), write(2) it.
 */
ssize_t jw_wfd_splice(struct jw_wfd *w, int in, size_t n);
/* Epoll refused the fd (EPERM): it never blocks, write it plainly. */
void jw_wfd_unpollable(struct jw_wfd *w);
void jw_wfd_close(struct jw_wfd *w);

#endif
