/*
 * ini_load.c: inih, fed by a reader that counts lines itself.
 *
 * inih splits a line longer than its buffer silently and shifts every later
 * line number; the reader below refuses such a line instead, and its line
 * counter is the one used in messages (inih's handler gets none).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "ini_load.h"

#define SECTION_MAX 49 /* inih truncates longer names silently */

/* A section: [jobwrap] (profile NULL), [profile NAME] or [seccomp NAME]. */
struct entry {
	int seccomp;
	char *profile;
	char *key; /* NULL: a [seccomp NAME] header */
	char *value;
	int line;
};

struct section {
	int seccomp;
	char *profile;
	int line;
};

struct reader {
	const struct ini_load *il;
	FILE *fp;
	int line;
	int indented;	   /* current line starts with white space */
	int err_line;	   /* first error we reported, 0: none */
	char *cur_profile; /* section being read; NULL: [jobwrap] */
	int cur_seccomp;   /* ... which is [seccomp NAME] */
	int in_section;
	struct entry *e;
	size_t ne, cape;
	struct section *s;
	size_t ns, caps;
};

static void fail(struct reader *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Report the first error only: later ones may be its consequences. */
static void
fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err_line != 0)
		return;
	r->err_line = r->line;
	fprintf(r->il->err, "jobwrap: %s:%d: ", r->il->path, r->line);
	va_start(ap, fmt);
	vfprintf(r->il->err, fmt, ap);
	va_end(ap);
	fputc('\n', r->il->err);
}

static int
same_name(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int
same_section(int sa, const char *a, int sb, const char *b)
{
	return sa == sb && same_name(a, b);
}

static int add_entry(struct reader *, const char *, const char *);

static int
valid_profile_name(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return 0;
	return 1;
}

/* A "[name]" line: check it the way inih will read it. */
static void
section_line(struct reader *r, const char *start)
{
	const char *end = strchr(start, ']');
	char name[256];
	size_t len;

	if (end == NULL) {
		/* Said here, or the keys below would be "outside a section". */
		fail(r, "syntax error: section header without ']'");
		return;
	}
	len = (size_t)(end - start - 1);
	if (len > SECTION_MAX) {
		fail(r, "section name longer than %d bytes", SECTION_MAX);
		return;
	}
	memcpy(name, start + 1, len);
	name[len] = '\0';
	free(r->cur_profile);
	r->cur_profile = NULL;
	r->in_section = 1;
	r->cur_seccomp = strncmp(name, "seccomp ", 8) == 0;
	if (strcmp(name, "jobwrap") != 0) {
		if ((strncmp(name, "profile ", 8) != 0 && !r->cur_seccomp) ||
		    !valid_profile_name(name + 8)) {
			fail(r,
			    "unknown section [%s] (expected [jobwrap], "
			    "[profile NAME] or [seccomp NAME], NAME of letters, "
			    "digits, '.', '_', '-')",
			    name);
			return;
		}
		if ((r->cur_profile = strdup(name + 8)) == NULL) {
			fail(r, "out of memory");
			return;
		}
	}
	for (size_t i = 0; i < r->ns; i++)
		if (same_section(r->s[i].seccomp, r->s[i].profile,
			r->cur_seccomp, r->cur_profile)) {
			fail(r, "duplicate section [%s] (first at line %d)",
			    name, r->s[i].line);
			return;
		}
	if (r->ns == r->caps) {
		size_t n = r->caps ? r->caps * 2 : 8;
		struct section *s = realloc(r->s, n * sizeof(*s));
		if (s == NULL) {
			fail(r, "out of memory");
			return;
		}
		r->s = s;
		r->caps = n;
	}
	r->s[r->ns].seccomp = r->cur_seccomp;
	r->s[r->ns].profile = r->cur_profile ? strdup(r->cur_profile) : NULL;
	r->s[r->ns++].line = r->line;
	if (r->cur_seccomp && add_entry(r, NULL, NULL) == -1)
		fail(r, "out of memory");
}

static char *
read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	size_t len;

	if (r->err_line != 0 || fgets(str, num, r->fp) == NULL)
		return NULL;
	r->line++;
	/* At most num - 2 bytes before the newline, also on a last line
	 * without one: one limit, whatever the file ends with. */
	len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' &&
	    (getc(r->fp) != EOF || len > (size_t)num - 2)) {
		fail(r, "line longer than %d bytes", num - 2);
		return NULL;
	}
	const char *p = str;
	if (r->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	r->indented = isspace((unsigned char)*p) && *p != '\n' && *p != '\r';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[')
		section_line(r, p);
	return r->err_line != 0 ? NULL : str;
}

static int
add_entry(struct reader *r, const char *key, const char *value)
{
	if (r->ne == r->cape) {
		size_t n = r->cape ? r->cape * 2 : 16;
		struct entry *e = realloc(r->e, n * sizeof(*e));
		if (e == NULL)
			return -1;
		r->e = e;
		r->cape = n;
	}
	struct entry *e = &r->e[r->ne];
	e->seccomp = r->cur_seccomp;
	e->profile = r->cur_profile ? strdup(r->cur_profile) : NULL;
	e->key = key ? strdup(key) : NULL;
	e->value = value ? strdup(value) : NULL;
	e->line = r->line;
	if ((key && e->key == NULL) || (value && e->value == NULL) ||
	    (r->cur_profile && e->profile == NULL)) {
		free(e->profile);
		free(e->key);
		free(e->value);
		return -1;
	}
	r->ne++;
	return 0;
}

/* An indented line after a list key adds to that key's value. */
static int
continue_list(struct entry *e, const char *value)
{
	size_t n = strlen(e->value), m = strlen(value);
	char *v = realloc(e->value, n + m + 2);

	if (v == NULL)
		return -1;
	v[n] = ' ';
	memcpy(v + n + 1, value, m + 1);
	e->value = v;
	return 0;
}

static int
key_known(const struct reader *r, const char *key)
{
	return r->cur_seccomp ? r->il->seccomp_key(key) != 0
			      : r->il->known_key(key);
}

static int
on_key(void *user, const char *section, const char *key, const char *value)
{
	struct reader *r = user;

	(void)section; /* checked by section_line() already */
	if (r->err_line != 0)
		return 1;
	if (!r->in_section) {
		fail(r, "key \"%s\" outside a section (start with [jobwrap])",
		    key);
		return 1;
	}
	for (size_t i = r->ne; i-- > 0;) {
		struct entry *e = &r->e[i];
		if (!same_section(e->seccomp, e->profile, r->cur_seccomp,
			r->cur_profile) ||
		    e->key == NULL || strcmp(e->key, key) != 0)
			continue;
		if (r->indented && i == r->ne - 1 && r->cur_seccomp &&
		    r->il->seccomp_key(key) == 1) {
			if (continue_list(e, value) == -1)
				fail(r, "out of memory");
		} else if (r->indented && i == r->ne - 1)
			fail(r,
			    "indented line continues the value of \"%s\", "
			    "which takes one value (remove the indentation)",
			    key);
		else
			fail(r, "duplicate key \"%s\" (first set at line %d)",
			    key, e->line);
		return 1;
	}
	if (!key_known(r, key))
		fail(r, "unknown key \"%s\"%s", key,
		    r->cur_seccomp
			? " (a [seccomp NAME] section has deny, allow, action and "
			  "errno)"
			: "");
	else if (add_entry(r, key, value) == -1)
		fail(r, "out of memory");
	return 1;
}

static int
profile_exists(const struct reader *r, const char *profile)
{
	for (size_t i = 0; i < r->ns; i++)
		if (!r->s[i].seccomp && same_name(r->s[i].profile, profile))
			return 1;
	return 0;
}

/*
 * The seccomp sections, then [jobwrap], then the chosen profile; other
 * profiles are only checked.
 */
static int
apply_entries(struct reader *r)
{
	const struct ini_load *il = r->il;

	for (size_t i = 0; i < r->ne; i++) {
		const struct entry *e = &r->e[i];
		if (e->seccomp &&
		    il->seccomp(il->arg, il->path, e->line, e->profile, e->key,
			e->value) == -1)
			return -1;
	}
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < r->ne; i++) {
			const struct entry *e = &r->e[i];
			if (e->seccomp)
				continue;
			int chosen = il->profile && e->profile &&
			    strcmp(il->profile, e->profile) == 0;
			int want = pass == 0 ? e->profile == NULL
			    : pass == 1	     ? chosen
					     : e->profile && !chosen;
			if (want &&
			    il->apply(il->arg, il->path, e->line, e->key,
				e->value, pass == 2) == -1)
				return -1;
		}
	return 0;
}

static void
reader_free(struct reader *r)
{
	for (size_t i = 0; i < r->ne; i++) {
		free(r->e[i].profile);
		free(r->e[i].key);
		free(r->e[i].value);
	}
	for (size_t i = 0; i < r->ns; i++)
		free(r->s[i].profile);
	free(r->e);
	free(r->s);
	free(r->cur_profile);
}

int
jw_ini_load(const struct ini_load *il)
{
	struct reader r = { .il = il };
	int rc = -1, bad;

	if ((r.fp = fopen(il->path, "re")) == NULL) {
		fprintf(il->err, "jobwrap: %s:0: cannot open: %s\n", il->path,
		    strerror(errno));
		return -1;
	}
	bad = ini_parse_stream(read_line, &r, on_key, &r);
	if (ferror(r.fp)) {
		fprintf(il->err, "jobwrap: %s:%d: read error\n", il->path,
		    r.line);
	} else if (bad > 0 && (r.err_line == 0 || bad < r.err_line)) {
		fprintf(il->err,
		    "jobwrap: %s:%d: syntax error (expected "
		    "[section], key = value or a comment)\n",
		    il->path, bad);
	} else if (bad == -2) {
		fprintf(il->err, "jobwrap: %s: out of memory\n", il->path);
	} else if (r.err_line == 0) {
		if (il->profile && !profile_exists(&r, il->profile))
			fprintf(il->err,
			    "jobwrap: %s:%d: no section [profile "
			    "%s] in this file\n",
			    il->path, r.line, il->profile);
		else
			rc = apply_entries(&r);
	}
	fclose(r.fp);
	reader_free(&r);
	return rc;
}
