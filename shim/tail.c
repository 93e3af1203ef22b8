/* tail.c: a ring buffer of the newest bytes. */
#include <stdlib.h>
#include <string.h>

#include "tail.h"

int
jw_tail_init(struct jw_tail *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
	if (cap > 0 && (t->buf = malloc(cap)) == NULL)
		return -1;
	return 0;
}

void
jw_tail_add(struct jw_tail *t, const char *p, size_t n)
{
	if (t->cap == 0)
		return;
	if (n >= t->cap) {
		memcpy(t->buf, p + n - t->cap, t->cap);
		t->start = 0;
		t->len = t->cap;
		return;
	}
	for (size_t done = 0; done < n;) {
		size_t end = (t->start + t->len) % t->cap;
		size_t chunk = t->cap - end;
		if (chunk > n - done)
			chunk = n - done;
		memcpy(t->buf + end, p + done, chunk);
		done += chunk;
		t->len += chunk;
		if (t->len > t->cap) {
			t->start = (t->start + t->len - t->cap) % t->cap;
			t->len = t->cap;
		}
	}
}

char *
jw_tail_copy(const struct jw_tail *t, size_t *n)
{
	char *out = malloc(t->len + 1);

	if (out == NULL)
		return NULL;
	size_t first = t->cap - t->start < t->len ? t->cap - t->start : t->len;
	if (t->len > 0) {
		memcpy(out, t->buf + t->start, first);
		memcpy(out + first, t->buf, t->len - first);
	}
	*n = t->len;
	return out;
}

void
jw_tail_free(struct jw_tail *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
