/*
 * lines.h: cut a byte stream into lines for pattern matching.
 *
 * A line is what comes before '\n', without it and without one '\r' before
 * it.  A line longer than JW_LINE_MAX is handed over once, cut at
 * JW_LINE_MAX; the rest of it, up to its '\n', is skipped.  What is left
 * without a '\n' at the end of the stream is a line too (jw_lines_end).
 */
#ifndef JW_LINES_H
#define JW_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "literal.h"

#define JW_LINE_MAX (64 * 1024)

typedef void jw_line_fn(void *ctx, const char *line, size_t len);

struct jw_lines {
	char *buf; /* an unfinished line */
	size_t len;
	bool skipping; /* inside a line already handed over */
	jw_line_fn *fn;
	void *ctx;
	const struct jw_literals *filter; /* lines without any: skipped */
};

/* filter: NULL, or strings a line needs to be worth handing over (the
 * first line after a partial one is always handed over).  0, or -1 when
 * out of memory. */
int jw_lines_init(struct jw_lines *l, jw_line_fn *fn, void *ctx,
    const struct jw_literals *filter);
void jw_lines_feed(struct jw_lines *l, const char *p, size_t n);
/* The stream ended: hand over the unfinished line, if any, and reset. */
void jw_lines_end(struct jw_lines *l);
void jw_lines_free(struct jw_lines *l);

#endif
