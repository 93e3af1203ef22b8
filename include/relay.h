/*
 * relay.h: copy one output stream of the child to jobwrap's own.
 *
 * Bytes go through unchanged.  A slow reader of jobwrap's output slows the
 * child (the pipe fills, as without jobwrap) but never the event loop: the
 * loop stops reading that pipe until the buffer is written.  When jobwrap's
 * own output is gone (EPIPE, closed), the child is still drained and the
 * bytes that could not be delivered are counted.
 *
 * A stream nobody looks into (no tail, no patterns) is spliced from pipe
 * to destination: the bytes never enter jobwrap's memory.
 */
#ifndef JW_RELAY_H
#define JW_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lines.h"
#include "tail.h"
#include "wfd.h"

#define JW_RELAY_BUF (128 * 1024)

struct jw_stream {
	int in; /* child's pipe, -1 when closed */
	struct jw_wfd out;
	char *buf;
	size_t off, len;	/* unsent: buf[off..len) */
	uint64_t bytes;		/* read from the child */
	uint64_t dropped;	/* could not be delivered */
	struct jw_tail *tail;	/* keeps the newest bytes, or NULL */
	struct jw_lines *lines; /* for pattern matching, or NULL */
	bool orphaned;		/* no writer of the job is left */
	bool splice;		/* pipe to destination, no copy */
	bool full;		/* splice: destination full */
};

/* Our own fd (1 or 2) as the destination; tail and lines see every byte
 * read (either may be NULL).  0, or -1 (out of memory). */
int jw_stream_init(struct jw_stream *s, int ourfd, struct jw_tail *tail,
    struct jw_lines *lines);
/* A new attempt's pipe; made non-blocking. */
void jw_stream_attach(struct jw_stream *s, int in);
/* One read; bytes read (0 at EOF, which closes in), or -1 (EAGAIN). */
ssize_t jw_stream_read(struct jw_stream *s);
bool jw_stream_want_read(const struct jw_stream *s);
bool jw_stream_want_write(const struct jw_stream *s);
void jw_stream_writable(struct jw_stream *s);
/* True when the pipe is closed and everything read was delivered or
 * counted as dropped. */
bool jw_stream_done(const struct jw_stream *s);
/* No process of the job can write any more: read what the pipe holds
 * (as the reader takes it), then close it instead of waiting for EOF.
 * Called again after each event; it reads only while there is room. */
void jw_stream_last_writer_gone(struct jw_stream *s);
/* Read what is there without waiting, drop what cannot be sent now,
 * close the pipe: the attempt is over. */
void jw_stream_abandon(struct jw_stream *s);
void jw_stream_free(struct jw_stream *s);

#endif
