/* tail.h: the last N bytes of a stream. */
#ifndef JW_TAIL_H
#define JW_TAIL_H

#include <stddef.h>

struct jw_tail {
	char *buf;
	size_t cap, start, len;
};

int jw_tail_init(struct jw_tail *t, size_t cap);
void jw_tail_add(struct jw_tail *t, const char *p, size_t n);
/* The kept bytes in order; *n set; caller frees.  NULL when out of memory. */
char *jw_tail_copy(const struct jw_tail *t, size_t *n);
void jw_tail_free(struct jw_tail *t);

#endif
