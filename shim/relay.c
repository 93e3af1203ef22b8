/* relay.c: child pipe -> buffer -> jobwrap's stdout or stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "relay.h"

int
jw_stream_init(struct jw_stream *s, int ourfd, struct jw_tail *tail,
    struct jw_lines *lines)
{
	s->in = -1;
	s->off = s->len = 0;
	s->bytes = s->dropped = 0;
	s->tail = tail;
	s->orphaned = false;
	s->lines = lines;
	s->splice = tail == NULL && lines == NULL;
	s->full = false;
	jw_wfd_open(&s->out, ourfd);
	/* One more byte for a NUL after what was read (see lines.c). */
	s->buf = malloc(JW_RELAY_BUF + 1);
	return s->buf == NULL ? -1 : 0;
}

void
jw_stream_attach(struct jw_stream *s, int in)
{
	int fl = fcntl(in, F_GETFL);

	/* Our own end of our own pipe: nobody else shares the flag. */
	if (fl != -1)
		(void)fcntl(in, F_SETFL, fl | O_NONBLOCK);
	s->in = in;
	s->orphaned = false;
	s->full = false;
}

static void
drop_pending(struct jw_stream *s)
{
	s->dropped += s->len - s->off;
	s->off = s->len = 0;
}

static void
flush(struct jw_stream *s)
{
	while (s->off < s->len) {
		ssize_t n = jw_wfd_write(&s->out, s->buf + s->off,
		    s->len - s->off);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* EPIPE and friends: nobody will read it again. */
			jw_wfd_close(&s->out);
			drop_pending(s);
			return;
		}
		s->off += (size_t)n;
	}
	s->off = s->len = 0;
}

/* The stream of this attempt ends here: its last line is complete. */
static void
close_in(struct jw_stream *s)
{
	close(s->in);
	s->in = -1;
	if (s->lines != NULL)
		jw_lines_end(s->lines);
}

/* A pipe holds at most this much (see spawn.c). */
#define SPLICE_MAX (1 << 20)

static ssize_t
splice_some(struct jw_stream *s)
{
	ssize_t n = jw_wfd_splice(&s->out, s->in, SPLICE_MAX);
	int avail = 0;

	if (n > 0) {
		s->bytes += (uint64_t)n;
		return n;
	}
	if (n == 0) {
		close_in(s);
		return 0;
	}
	if (errno == EAGAIN) {
		/* Bytes waiting in our pipe: the destination is full. */
		s->full = ioctl(s->in, FIONREAD, &avail) == 0 && avail > 0;
		errno = EAGAIN;
		return -1;
	}
	/* Whatever went wrong, read(2) and write(2) handle and count it. */
	s->splice = false;
	return jw_stream_read(s);
}

ssize_t
jw_stream_read(struct jw_stream *s)
{
	ssize_t n;

	if (s->splice && s->len == 0)
		return splice_some(s);

	while (
	    (n = read(s->in, s->buf + s->len, JW_RELAY_BUF - s->len)) == -1 &&
	    errno == EINTR)
		;
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		close_in(s);
		return 0;
	}
	if (n == -1)
		return -1;
	s->buf[s->len + (size_t)n] = '\0';
	if (s->tail != NULL)
		jw_tail_add(s->tail, s->buf + s->len, (size_t)n);
	if (s->lines != NULL)
		jw_lines_feed(s->lines, s->buf + s->len, (size_t)n);
	s->bytes += (uint64_t)n;
	s->len += (size_t)n;
	flush(s);
	return n;
}

/* An empty pipe whose writers are all outside the job is at its end. */
static void
pump_orphan(struct jw_stream *s)
{
	while (s->orphaned && s->in != -1 && jw_stream_want_read(s))
		if (jw_stream_read(s) == -1 && !s->full)
			close_in(s);
}

void
jw_stream_last_writer_gone(struct jw_stream *s)
{
	s->orphaned = true;
	pump_orphan(s);
}

bool
jw_stream_want_read(const struct jw_stream *s)
{
	return s->in != -1 && s->len < JW_RELAY_BUF && !s->full;
}

bool
jw_stream_want_write(const struct jw_stream *s)
{
	return s->off < s->len || s->full;
}

void
jw_stream_writable(struct jw_stream *s)
{
	s->full = false;
	flush(s);
	pump_orphan(s);
}

bool
jw_stream_done(const struct jw_stream *s)
{
	return s->in == -1 && s->off == s->len;
}

void
jw_stream_abandon(struct jw_stream *s)
{
	/* What cannot be sent now is read, to be counted as dropped. */
	s->splice = s->full = false;
	while (s->in != -1) {
		if (s->len == JW_RELAY_BUF)
			drop_pending(s);
		if (jw_stream_read(s) == -1)
			break;
	}
	if (s->in != -1)
		close_in(s);
	drop_pending(s);
}

void
jw_stream_free(struct jw_stream *s)
{
	if (s->in != -1)
		close(s->in);
	jw_wfd_close(&s->out);
	free(s->buf);
	s->buf = NULL;
}
