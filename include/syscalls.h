/*
 * syscalls.h: seccomp profiles as configured -- the built-in "contain",
 * "off", and [seccomp NAME] sections of the ini file -- turned into one
 * list of denied system calls.  Building the filter is sandbox.h's job.
 *
 * A section's keys:
 *   deny   = NAME|@GROUP ...   what is denied (default: @contain)
 *   allow  = NAME ...          exceptions to deny
 *   action = errno|kill|log    what a denied call does (errno)
 *   errno  = ENAME|N           the error it returns (EPERM)
 */
#ifndef JW_SYSCALLS_H
#define JW_SYSCALLS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum jw_sc_action { JW_SC_ERRNO, JW_SC_KILL, JW_SC_LOG };

/* A profile; deny and allow are lists of names, groups expanded. */
struct jw_seccomp {
	char *name; /* NULL: off */
	enum jw_sc_action action;
	int errnum;
	char **deny;	  /* NULL-terminated, sorted, unique */
	char **allow;	  /* as written, for the check below */
	int allow_line;	  /* where allow was set, 0: nowhere */
	const char *file; /* of a [seccomp NAME] section */
};

/* Is name a profile name a section may use?  0, or -1 with why. */
int jw_seccomp_name_ok(const char *name, char *why, size_t whylen);

/* The built-in profile "contain" (or "off": name NULL, nothing denied). */
int jw_seccomp_builtin(struct jw_seccomp *p, const char *name);

/* Start a [seccomp NAME] section: @contain denied until deny is set. */
int jw_seccomp_init(struct jw_seccomp *p, const char *name, const char *file);

/* Is key one of a section's?  1: takes a list, 2: one value, 0: no. */
int jw_seccomp_key(const char *key);

/* Set one key of a section; 0, or -1 with why. */
int jw_seccomp_set(struct jw_seccomp *p, const char *key, const char *value,
    char *why, size_t whylen);

/*
 * Apply allow to deny once the section is read; -1 with why when an
 * allowed call is not denied anyway (a typo would otherwise pass).
 */
int jw_seccomp_finish(struct jw_seccomp *p, char *why, size_t whylen);

void jw_seccomp_free(struct jw_seccomp *p);

/* {"action":..., "errno":..., "deny":[...]}, or null when off. */
json_t *jw_seccomp_json(const struct jw_seccomp *p);

/* The errno's name ("EPERM"), or its number as text. */
const char *jw_errno_name(int e, char *buf, size_t len);

#endif
