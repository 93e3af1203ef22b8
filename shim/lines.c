/* lines.c: complete lines out of pipe reads, copying only partial ones. */
#include <stdlib.h>
#include <string.h>

#include "lines.h"
#include "literal.h"

int
jw_lines_init(struct jw_lines *l, jw_line_fn *fn, void *ctx,
    const struct jw_literals *filter)
{
	memset(l, 0, sizeof(*l));
	l->fn = fn;
	l->ctx = ctx;
	l->filter = filter != NULL && JW_LITERALS_USABLE(filter) ? filter
								 : NULL;
	l->buf = malloc(JW_LINE_MAX + 1);
	return l->buf == NULL ? -1 : 0;
}

/*
 * Lines are handed over with their length, but the buffered ones also end
 * in a NUL: sanitizers' regexec() wrappers read up to a NUL even with
 * REG_STARTEND.
 */
static void
deliver(struct jw_lines *l, const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	l->fn(l->ctx, p, n);
}

/* Append to the unfinished line; hand it over once it is too long. */
static void
keep(struct jw_lines *l, const char *p, size_t n)
{
	size_t room;

	if (l->skipping)
		return;
	room = JW_LINE_MAX - l->len;
	memcpy(l->buf + l->len, p, n < room ? n : room);
	l->len += n < room ? n : room;
	l->buf[l->len] = '\0';
	if (l->len == JW_LINE_MAX && n >= room) {
		/* Exactly full is not yet too long: a '\n' may follow. */
		if (n > room) {
			l->fn(l->ctx, l->buf, l->len);
			l->len = 0;
			l->skipping = true;
		}
	}
}

/*
 * At a line start with nothing pending: the start of the first line that
 * holds one of the filter's strings, or, when none does, the start of the
 * unfinished last line (maybe end).
 */
static const char *
next_candidate(const struct jw_lines *l, const char *p, const char *end)
{
	const char *hit = jw_literals_find(l->filter, p, (size_t)(end - p));
	const char *nl;

	if (hit == NULL) {
		nl = memrchr(p, '\n', (size_t)(end - p));
		return nl ? nl + 1 : p;
	}
	nl = memrchr(p, '\n', (size_t)(hit - p));
	return nl ? nl + 1 : p;
}

void
jw_lines_feed(struct jw_lines *l, const char *p, size_t n)
{
	const char *end = p + n, *nl;

	for (;;) {
		if (l->filter != NULL && l->len == 0 && !l->skipping)
			p = next_candidate(l, p, end);
		if (p >= end ||
		    (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (l->skipping)
			l->skipping = false;
		else if (l->len == 0 && nl - p > JW_LINE_MAX)
			l->fn(l->ctx, p, JW_LINE_MAX);
		else if (l->len == 0)
			deliver(l, p, (size_t)(nl - p)); /* no copy */
		else {
			keep(l, p, (size_t)(nl - p));
			if (!l->skipping)
				deliver(l, l->buf, l->len);
			l->skipping = false;
			l->len = 0;
		}
		p = nl + 1;
	}
	if (p < end)
		keep(l, p, (size_t)(end - p));
}

void
jw_lines_end(struct jw_lines *l)
{
	if (l->len > 0 && !l->skipping)
		deliver(l, l->buf, l->len);
	l->len = 0;
	l->skipping = false;
}

void
jw_lines_free(struct jw_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = 0;
}
