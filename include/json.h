/* json.h: jansson helpers for text that comes from the outside world. */
#ifndef JW_JSON_H
#define JW_JSON_H

#include <stddef.h>
#include <jansson.h>

/*
 * A JSON string from arbitrary bytes: valid UTF-8 is kept, every byte that
 * is not part of a valid sequence becomes the four characters \xNN.
 * NUL and control characters are kept (the encoder escapes them).
 */
json_t *jw_json_bytes(const void *p, size_t n);

/*
 * Compact one-line form of obj, '\n'-terminated, at most max bytes with the
 * newline.  Until it fits, the biggest string is shortened (at a character
 * boundary, ending in "...") or, when an array is big because of many small
 * items, its last items are replaced by one "..." item; obj is modified.
 * NULL on failure.
 */
char *jw_json_line(json_t *obj, size_t max, size_t *len);

/* Small builders that never return NULL for NULL input. */
json_t *jw_json_str_or_null(const char *s);
json_t *jw_json_argv(char *const argv[]);

#endif
