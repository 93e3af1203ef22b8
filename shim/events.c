/* events.c: JSON Lines to an fd and a file, with one seq. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "jobwrap.h"
#include "json.h"
#include "log.h"
#include "wfd.h"

struct jw_events {
	const char *run_id;
	uint64_t t0;
	uint64_t seq;

	struct jw_wfd out; /* --events-fd, a private copy */
	int user_fd;	   /* the number the user gave, for messages */
	char *buf;	   /* its unsent bytes: buf[off..len) */
	size_t off, len, cap;
	uint64_t sent, queued;	/* byte counts since the start */
	uint64_t heartbeat_end; /* value of queued after the last one */

	int file;   /* --events-file */
	char *fbuf; /* lines not yet written to it */
	size_t flen, fcap;
	bool file_syncs; /* a regular file: fdatasync means something */
	const char *path;
	char failure[256];
};

static void
drop_fd(struct jw_events *ev, const char *why)
{
	if (ev->out.kind == JW_WFD_GONE)
		return;
	jw_warn("events fd %d: %s; it gets no more events", ev->user_fd, why);
	jw_wfd_close(&ev->out);
	free(ev->buf);
	ev->buf = NULL;
	ev->off = ev->len = ev->cap = 0;
}

struct jw_events *
jw_events_open(int fd, const char *path, const char *run_id, uint64_t t0,
    char *err, size_t errlen)
{
	struct jw_events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ev->run_id = run_id;
	ev->t0 = t0;
	ev->file = -1;
	ev->out = (struct jw_wfd){ -1, JW_WFD_GONE };
	if (path != NULL) {
		ev->path = path;
		ev->file = open(path,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
			O_NOCTTY,
		    0644);
		struct stat st;
		if (ev->file == -1 || fstat(ev->file, &st) == -1) {
			snprintf(err, errlen, "--events-file %s: %s", path,
			    strerror(errno));
			if (ev->file != -1)
				close(ev->file);
			free(ev);
			return NULL;
		}
		ev->file_syncs = S_ISREG(st.st_mode);
	}
	if (fd != -1) {
		ev->user_fd = fd;
		jw_wfd_open(&ev->out, fd);
		/* Our private copy replaces it: children must not hold it. */
		close(fd);
		if (ev->out.kind == JW_WFD_GONE)
			jw_warn("events fd %d: no reader; it gets no events",
			    fd);
	}
	return ev;
}

static void
write_file(struct jw_events *ev, const char *line, size_t len)
{
	while (ev->file != -1 && len > 0) {
		ssize_t n = write(ev->file, line, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(ev->failure, sizeof(ev->failure),
			    "cannot write the events file %s: %s", ev->path,
			    n == 0 ? "no space written" : strerror(errno));
			close(ev->file);
			ev->file = -1;
			return;
		}
		line += n;
		len -= (size_t)n;
	}
}

static void
flush_fd(struct jw_events *ev)
{
	while (ev->out.kind != JW_WFD_GONE && ev->off < ev->len) {
		ssize_t n = jw_wfd_write(&ev->out, ev->buf + ev->off,
		    ev->len - ev->off);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			drop_fd(ev, n == 0 ? "wrote nothing" : strerror(errno));
			return;
		}
		ev->off += (size_t)n;
		ev->sent += (uint64_t)n;
	}
	if (ev->off == ev->len)
		ev->off = ev->len = 0;
}

/* Lines wait until jw_events_flush(): one write per loop turn. */
static void
queue_file(struct jw_events *ev, const char *line, size_t len)
{
	if (ev->file == -1)
		return;
	if (ev->flen + len > ev->fcap) {
		size_t cap = ev->fcap ? ev->fcap : 4096;
		while (cap < ev->flen + len)
			cap *= 2;
		char *nb = realloc(ev->fbuf, cap);
		if (nb == NULL) {
			/* Write what waits and this line now, unbuffered. */
			write_file(ev, ev->fbuf, ev->flen);
			ev->flen = 0;
			write_file(ev, line, len);
			return;
		}
		ev->fbuf = nb;
		ev->fcap = cap;
	}
	memcpy(ev->fbuf + ev->flen, line, len);
	ev->flen += len;
}

static void
queue_fd(struct jw_events *ev, const char *line, size_t len)
{
	if (ev->out.kind == JW_WFD_GONE)
		return;
	ev->queued += len;
	if (ev->len - ev->off + len > JW_EVENTS_BUF_MAX) {
		drop_fd(ev, "reader too slow, 1 MiB of events unread");
		return;
	}
	if (ev->len + len > ev->cap) {
		if (ev->off > 0)
			memmove(ev->buf, ev->buf + ev->off, ev->len - ev->off);
		ev->len -= ev->off;
		ev->off = 0;
		size_t cap = ev->cap ? ev->cap : 4096;
		while (cap < ev->len + len)
			cap *= 2;
		char *nb = realloc(ev->buf, cap);
		if (nb == NULL) {
			drop_fd(ev, "out of memory");
			return;
		}
		ev->buf = nb;
		ev->cap = cap;
	}
	memcpy(ev->buf + ev->len, line, len);
	ev->len += len;
}

static json_t *
envelope(struct jw_events *ev, const char *name, char *ts, size_t tslen)
{
	return json_pack("{s:i, s:I, s:s, s:I, s:s, s:s}", "v",
	    JW_SCHEMA_VERSION, "seq", (json_int_t)ev->seq, "ts",
	    jw_rfc3339_now(ts, tslen), "mono_ms",
	    (json_int_t)(jw_mono_ms() - ev->t0), "run_id", ev->run_id, "event",
	    name);
}

uint64_t
jw_events_emit(struct jw_events *ev, const char *name, json_t *fields)
{
	char ts[JW_RFC3339_BUFSZ], *line = NULL;
	size_t len;
	json_t *obj;

	ev->seq++;
	obj = envelope(ev, name, ts, sizeof(ts));
	if (obj != NULL &&
	    (fields == NULL || json_object_update(obj, fields) == 0))
		line = jw_json_line(obj, JW_EVENT_LINE_MAX, &len);
	json_decref(obj);
	json_decref(fields);
	if (line == NULL) {
		/* Without the line seq would have a gap: fail the file loudly. */
		snprintf(ev->failure, sizeof(ev->failure),
		    "cannot encode event %s (out of memory)", name);
		return ev->seq;
	}
	queue_file(ev, line, len);
	queue_fd(ev, line, len);
	if (strcmp(name, JW_EV_HEARTBEAT) == 0)
		ev->heartbeat_end = ev->queued;
	free(line);
	return ev->seq;
}

bool
jw_events_heartbeat_due(const struct jw_events *ev)
{
	return ev->sent >= ev->heartbeat_end || ev->out.kind == JW_WFD_GONE;
}

uint64_t
jw_events_seq(const struct jw_events *ev)
{
	return ev->seq;
}

int
jw_events_poll_fd(const struct jw_events *ev)
{
	return ev->out.kind == JW_WFD_POLL || ev->out.kind == JW_WFD_SOCK
	    ? ev->out.fd
	    : -1;
}

bool
jw_events_want_write(const struct jw_events *ev)
{
	return ev->out.kind != JW_WFD_GONE && ev->off < ev->len;
}

void
jw_events_writable(struct jw_events *ev)
{
	flush_fd(ev);
}

void
jw_events_flush(struct jw_events *ev)
{
	write_file(ev, ev->fbuf, ev->flen);
	ev->flen = 0;
	flush_fd(ev);
}

void
jw_events_unpollable(struct jw_events *ev)
{
	jw_wfd_unpollable(&ev->out);
}

void
jw_events_sync(struct jw_events *ev)
{
	jw_events_flush(ev);
	if (ev->file != -1 && ev->file_syncs && fdatasync(ev->file) == -1 &&
	    !ev->failure[0])
		snprintf(ev->failure, sizeof(ev->failure),
		    "cannot sync the events file %s: %s", ev->path,
		    strerror(errno));
}

const char *
jw_events_failure(const struct jw_events *ev)
{
	return ev->failure[0] ? ev->failure : NULL;
}

void
jw_events_close(struct jw_events *ev, int timeout_ms)
{
	uint64_t until = jw_mono_ms() + (uint64_t)timeout_ms;

	if (ev == NULL)
		return;
	jw_events_flush(ev);
	for (;;) {
		flush_fd(ev);
		uint64_t now = jw_mono_ms();
		if (!jw_events_want_write(ev) || now >= until)
			break;
		struct pollfd p = { .fd = ev->out.fd, .events = POLLOUT };
		if (poll(&p, 1, (int)(until - now)) == -1 && errno != EINTR)
			break;
	}
	if (jw_events_want_write(ev))
		drop_fd(ev, "reader did not take the last events in time");
	jw_wfd_close(&ev->out);
	if (ev->file != -1 && close(ev->file) == -1 && !ev->failure[0])
		snprintf(ev->failure, sizeof(ev->failure),
		    "cannot close the events file %s: %s", ev->path,
		    strerror(errno));
	free(ev->buf);
	free(ev->fbuf);
	free(ev);
}
