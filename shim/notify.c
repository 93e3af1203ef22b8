/* notify.c: receive and parse sd_notify datagrams. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* POSIX has the application declare it; glibc also does with _GNU_SOURCE. */
extern char **environ; /* NOLINT(readability-redundant-declaration) */

/* Room for the credentials and for descriptors someone may pass. */
#define CMSG_ROOM \
	(CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int)))

struct jw_notify_batch {
	struct mmsghdr msgs[JW_NOTIFY_BATCH];
	struct iovec iov[JW_NOTIFY_BATCH];
	union {
		char buf[CMSG_ROOM];
		struct cmsghdr align;
	} cm[JW_NOTIFY_BATCH];
	char data[JW_NOTIFY_BATCH][JW_NOTIFY_MAX];
	pid_t pid[JW_NOTIFY_BATCH];
	bool from_job[JW_NOTIFY_BATCH];
	unsigned n, next; /* received, handed out */
};

static int
random_hex(char *out, size_t bytes)
{
	unsigned char r[16];
	size_t got = 0;

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	while (got < bytes) {
		ssize_t n = getrandom(r + got, bytes - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
jw_notify_open(struct jw_notify *n, jw_notify_check_fn *check, void *ctx,
    char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char hex[33];
	int one = 1;
	socklen_t len;

	n->fd = -1;
	n->dropped = 0;
	n->b = NULL; /* allocated when the first datagram comes */
	n->check = check;
	n->check_ctx = ctx;
	if (random_hex(hex, 8) == -1)
		goto fail;
	snprintf(n->addr, sizeof(n->addr), "@jobwrap/%s/%d", hex,
	    (int)getpid());
	/* Abstract: sun_path starts with a NUL, the name is not terminated. */
	memcpy(sa.sun_path + 1, n->addr + 1, strlen(n->addr) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(n->addr));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd == -1 ||
	    setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    bind(n->fd, (struct sockaddr *)&sa, len) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen,
	    "cannot open the notify socket: %s (or run "
	    "with --no-notify)",
	    strerror(errno));
	jw_notify_close(n);
	return -1;
}

void
jw_notify_close(struct jw_notify *n)
{
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
	free(n->b);
	n->b = NULL;
}

/* The sender's pid; descriptors passed along are closed. */
static pid_t
read_cmsgs(struct msghdr *mh)
{
	pid_t pid = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	     c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof(u));
			pid = u.pid;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				    sizeof(fd));
				close(fd);
			}
		}
	}
	return pid;
}

/* Read what is waiting, up to a batch: the count, or -1 (errno). */
static int
refill(struct jw_notify *n)
{
	struct jw_notify_batch *b = n->b;
	int got;

	for (unsigned i = 0; i < JW_NOTIFY_BATCH; i++) {
		b->iov[i] = (struct iovec){ b->data[i], JW_NOTIFY_MAX };
		b->msgs[i].msg_hdr = (struct msghdr){
			.msg_iov = &b->iov[i],
			.msg_iovlen = 1,
			.msg_control = b->cm[i].buf,
			.msg_controllen = sizeof(b->cm[i].buf),
		};
	}
	while ((got = recvmmsg(n->fd, b->msgs, JW_NOTIFY_BATCH,
		    MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL)) == -1 &&
	    errno == EINTR)
		;
	b->n = got > 0 ? (unsigned)got : 0;
	b->next = 0;
	for (unsigned i = 0; i < b->n; i++) {
		b->pid[i] = read_cmsgs(&b->msgs[i].msg_hdr);
		b->from_job[i] = n->check(n->check_ctx, b->pid[i]);
	}
	if (got == -1 && errno == EAGAIN)
		return 0;
	return got;
}

int
jw_notify_recv(struct jw_notify *n, struct jw_notify_msg *m)
{
	struct jw_notify_batch *b = n->b;

	/* Not zeroed: 80 KiB of page faults for jobs that never notify. */
	if (b == NULL) {
		if ((b = n->b = malloc(sizeof(*b))) == NULL)
			return -1;
		b->n = b->next = 0;
	}
	for (;;) {
		struct mmsghdr *h;
		int got;

		if (b->next == b->n && (got = refill(n)) <= 0)
			return got;
		h = &b->msgs[b->next];
		m->pid = b->pid[b->next];
		m->from_job = b->from_job[b->next];
		m->data = b->data[b->next++];
		m->len = h->msg_len;
		if ((h->msg_hdr.msg_flags & MSG_TRUNC) == 0)
			return 1;
		n->dropped++; /* longer than sd_notify allows */
	}
}

size_t
jw_notify_parse(const char *p, size_t len, jw_notify_kv_fn *fn, void *ctx)
{
	const char *end = p + len;
	size_t count = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *eq;

		eq = memchr(p, '=', (size_t)(le - p));
		if (eq != NULL && eq > p) {
			fn(ctx, p, (size_t)(eq - p), eq + 1,
			    (size_t)(le - eq - 1));
			count++;
		}
		p = nl ? nl + 1 : end;
	}
	return count;
}

static bool
ours(const char *var)
{
	return strncmp(var, "NOTIFY_SOCKET=", 14) == 0 ||
	    strncmp(var, "WATCHDOG_USEC=", 14) == 0 ||
	    strncmp(var, "WATCHDOG_PID=", 13) == 0;
}

int
jw_childenv_build(struct jw_childenv *e, const char *addr,
    uint64_t watchdog_usec, const char *tag)
{
	size_t n = 0, k = 0;

	e->envp = NULL;
	e->pid[0] = '\0';
	if (addr == NULL && tag == NULL)
		return 0;
	while (environ[n] != NULL)
		n++;
	if ((e->envp = calloc(n + 5, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (addr == NULL || !ours(environ[i]))
			e->envp[k++] = environ[i];
	if (tag != NULL) {
		snprintf(e->tag, sizeof(e->tag), "JOBWRAP_JOB_%s=1", tag);
		e->envp[k++] = e->tag;
	}
	if (addr != NULL) {
		snprintf(e->sock, sizeof(e->sock), "NOTIFY_SOCKET=%s", addr);
		e->envp[k++] = e->sock;
	}
	if (addr != NULL && watchdog_usec > 0) {
		snprintf(e->usec, sizeof(e->usec), "WATCHDOG_USEC=%llu",
		    (unsigned long long)watchdog_usec);
		snprintf(e->pid, sizeof(e->pid), "WATCHDOG_PID=");
		e->envp[k++] = e->usec;
		e->envp[k++] = e->pid;
	}
	e->envp[k] = NULL;
	return 0;
}

char *
jw_childenv_pid_slot(struct jw_childenv *e)
{
	return e->envp != NULL && e->pid[0] != '\0' ? e->pid : NULL;
}

void
jw_childenv_free(struct jw_childenv *e)
{
	free(e->envp);
	e->envp = NULL;
	e->pid[0] = '\0';
}
