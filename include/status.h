/*
 * status.h: the durable status file and its lock.
 *
 * PATH is replaced atomically: PATH's directory gets a temporary file that
 * is written, fsynced and renamed over PATH, then the directory is fsynced.
 * rename(2) replaces a symlink at PATH instead of following it, and every
 * open uses O_NOFOLLOW.  PATH.lock is flocked (exclusive) while the owner
 * lives; it is close-on-exec and never unlinked (unlinking a lock file lets
 * two owners lock two different files).
 */
#ifndef JW_STATUS_H
#define JW_STATUS_H

#include <stddef.h>
#include <jansson.h>

struct jw_status {
	int dirfd;
	int lockfd;
	char *base; /* PATH's last component */
	char *tmp;  /* ".BASE.tmp" */
	char *lock; /* "BASE.lock" */
	const char *path;
};

/*
 * Open PATH's directory and take PATH.lock without waiting.
 * 0, or -1 with a sentence in err (EWOULDBLOCK: another owner holds it).
 */
int jw_status_open(struct jw_status *s, const char *path, char *err,
    size_t errlen);
/* Replace PATH with doc, durably.  0, or -1 with a sentence in err. */
int jw_status_write(struct jw_status *s, json_t *doc, char *err, size_t errlen);
/* Release the lock (by closing it) and everything else. */
void jw_status_close(struct jw_status *s);

#endif
