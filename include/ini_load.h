/*
 * ini_load.h: read a jobwrap ini file with inih, strictly.
 *
 * Sections: [jobwrap], [profile NAME] and [seccomp NAME].  Unknown
 * sections and keys,
 * duplicate sections and keys, indented continuation lines, lines too long
 * for inih and syntax errors are all "FILE:LINE: message" errors.  Every
 * section's values are checked; [jobwrap] is applied, then the profile.
 * An indented line continues the value of a key that takes a list.
 */
#ifndef JW_INI_LOAD_H
#define JW_INI_LOAD_H

#include <stdio.h>

struct ini_load {
	const char *path;
	const char *profile; /* NULL: none */
	int (*known_key)(const char *key);
	/* apply: 0 or -1 (after printing the error); dry: check only */
	int (*apply)(void *arg, const char *file, int line, const char *key,
	    const char *value, int dry);
	/* [seccomp NAME]: 1 key takes a list, 2 one value, 0 unknown */
	int (*seccomp_key)(const char *key);
	/* Every [seccomp NAME] section, chosen or not, first of all:
	 * key NULL for the header, then its keys. */
	int (*seccomp)(void *arg, const char *file, int line, const char *name,
	    const char *key, const char *value);
	void *arg;
	FILE *err;
};

/* 0, or -1 after printing "jobwrap: FILE:LINE: message" on err. */
int jw_ini_load(const struct ini_load *il);

#endif
