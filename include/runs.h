/*
 * runs.h: runs as their status files show them, for the modes that look
 * at runs from outside (--inspect, --reap, --cancel).
 *
 * A run is alive while PATH.lock is flocked.  Looking never takes the
 * lock: /proc/locks lists every flock with its holder and the file's
 * device and inode, so a supervisor starting meanwhile never finds its
 * lock taken by an onlooker.
 */
#ifndef JW_RUNS_H
#define JW_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

struct jw_run_file {
	char *path;
	json_t *doc;  /* the status document */
	pid_t holder; /* who holds PATH.lock, 0: nobody */
};

struct jw_runs {
	struct jw_run_file *v;
	size_t n, cap;
};

/*
 * Add the runs at path: a status file, or every status file directly in
 * a directory (other files there are skipped).  0, or -1 after a message
 * on err (path unreadable, or a named file that is not a status).
 */
int jw_runs_add(struct jw_runs *r, const char *path, FILE *err);
/* Every operand of c (files or directories), sorted: 1 when one of them
 * could not be read, else 0. */
struct jw_config;
int jw_runs_load(const struct jw_config *c, struct jw_runs *r);
/* Sort by started_at, oldest first. */
void jw_runs_sort(struct jw_runs *r);
void jw_runs_free(struct jw_runs *r);

/* Read one status file: the document, or NULL with a phrase in why. */
json_t *jw_status_read(const char *path, char *why, size_t whylen);
/* The pid holding PATH.lock (flock), 0 when nobody does, -1 on error. */
pid_t jw_lock_holder(const char *status_path);

/* Convenience accessors; NULL or -1 when absent. */
const char *jw_doc_str(const json_t *doc, const char *key);
long long jw_doc_int(const json_t *doc, const char *key);

#endif
