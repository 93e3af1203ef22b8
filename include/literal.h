/*
 * literal.h: strings any match of a POSIX ERE must contain.
 *
 * Running regexec() on every line of a chatty job costs more than relaying
 * it.  If every match of a pattern contains one of a few literal strings,
 * lines without any of them can be skipped after one memmem() over a whole
 * read.  The analysis is conservative: when unsure, it finds nothing and
 * every line is matched.
 */
#ifndef JW_LITERAL_H
#define JW_LITERAL_H

#include <stdbool.h>
#include <stddef.h>

#define JW_LITERALS_MAX 8

struct jw_literals {
	size_t n;
	char *s[JW_LITERALS_MAX];
	size_t len[JW_LITERALS_MAX];
	bool unusable; /* a pattern has no such strings */
};

/* Can lines without any of the strings be skipped? */
#define JW_LITERALS_USABLE(l) (!(l)->unusable && (l)->n > 0)

/*
 * Add to l what every match of ere must contain.  With several patterns,
 * call once per pattern: a line that may match any of them contains one
 * of the strings.  A pattern without such strings empties l for good.
 * 0, or -1 when out of memory (l is then empty).
 */
int jw_literals_add(struct jw_literals *l, const char *ere);
void jw_literals_free(struct jw_literals *l);
/* The first place in [p, p+n) where one of the strings starts, or NULL. */
const char *jw_literals_find(const struct jw_literals *l, const char *p,
    size_t n);

#endif
