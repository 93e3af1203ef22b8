/* runs.c: status files found on disk, and whether their owner lives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config.h"
#include "runs.h"

const char *
jw_doc_str(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

long long
jw_doc_int(const json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static bool
is_status(const json_t *doc)
{
	return json_is_object(doc) &&
	    json_is_integer(json_object_get(doc, "v")) &&
	    jw_doc_str(doc, "run_id") != NULL &&
	    jw_doc_str(doc, "state") != NULL;
}

json_t *
jw_status_read(const char *path, char *why, size_t whylen)
{
	json_error_t e;
	json_t *doc;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	/* A status is replaced by rename, never rewritten in place: any
	 * open file is a complete document. */
	doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &e);
	close(fd);
	if (doc == NULL || !is_status(doc)) {
		snprintf(why, whylen, "not a jobwrap status file%s%s",
		    doc == NULL ? ": " : "", doc == NULL ? e.text : "");
		json_decref(doc);
		return NULL;
	}
	return doc;
}

pid_t
jw_lock_holder(const char *status_path)
{
	char lock[4096], line[256];
	struct stat st;
	pid_t holder = 0;
	FILE *f;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", status_path) >=
	    sizeof(lock))
		return -1;
	if (stat(lock, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((f = fopen("/proc/locks", "re")) == NULL)
		return -1;
	/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" */
	while (holder == 0 && fgets(line, sizeof(line), f) != NULL) {
		char type[16], kind[16], mode[16];
		unsigned maj, min;
		unsigned long ino;
		int pid;

		/* NOLINTBEGIN(cert-err34-c): the kernel's numbers fit. */
		if (sscanf(line, "%*[^:]: %15s %15s %15s %d %x:%x:%lu", type,
			kind, mode, &pid, &maj, &min, &ino) == 7 &&
		    strcmp(type, "FLOCK") == 0 && ino == st.st_ino &&
		    maj == major(st.st_dev) && min == minor(st.st_dev))
			holder = pid > 0 ? pid : -1;
		/* NOLINTEND(cert-err34-c) */
	}
	fclose(f);
	return holder;
}

static int
push(struct jw_runs *r, const char *path, json_t *doc)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct jw_run_file *v = realloc(r->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n] = (struct jw_run_file){ strdup(path), doc, 0 };
	if (r->v[r->n].path == NULL)
		return -1;
	r->v[r->n].holder = jw_lock_holder(path);
	r->n++;
	return 0;
}

static bool
skipped_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n > 5 && strcmp(name + n - 5, ".lock") == 0);
}

static int
add_dir(struct jw_runs *r, const char *dir, FILE *err)
{
	char path[4096], why[256];
	struct dirent *d;
	DIR *dp = opendir(dir);
	int rc = 0;

	if (dp == NULL) {
		fprintf(err, "jobwrap: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (d = readdir(dp)) != NULL) {
		struct stat st;
		json_t *doc;

		if (skipped_name(d->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
			d->d_name) >= sizeof(path) ||
		    lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if ((doc = jw_status_read(path, why, sizeof(why))) == NULL)
			continue; /* events files and the like */
		if (push(r, path, doc) == -1) {
			json_decref(doc);
			fprintf(err, "jobwrap: out of memory\n");
			rc = -1;
		}
	}
	closedir(dp);
	return rc;
}

int
jw_runs_add(struct jw_runs *r, const char *path, FILE *err)
{
	char why[256];
	struct stat st;
	json_t *doc;

	if (stat(path, &st) == -1) {
		fprintf(err, "jobwrap: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return add_dir(r, path, err);
	if ((doc = jw_status_read(path, why, sizeof(why))) == NULL) {
		fprintf(err, "jobwrap: %s: %s\n", path, why);
		return -1;
	}
	if (push(r, path, doc) == -1) {
		json_decref(doc);
		fprintf(err, "jobwrap: out of memory\n");
		return -1;
	}
	return 0;
}

static int
by_start(const void *a, const void *b)
{
	const char *x = jw_doc_str(((const struct jw_run_file *)a)->doc,
	    "started_at");
	const char *y = jw_doc_str(((const struct jw_run_file *)b)->doc,
	    "started_at");

	/* RFC 3339 UTC with fixed width sorts as text. */
	return strcmp(x ? x : "", y ? y : "");
}

void
jw_runs_sort(struct jw_runs *r)
{
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(r->v[0]), by_start);
}

void
jw_runs_free(struct jw_runs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].path);
		json_decref(r->v[i].doc);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int
jw_runs_load(const struct jw_config *c, struct jw_runs *r)
{
	int rc = 0;

	for (char *const *p = c->argv; *p != NULL; p++)
		if (jw_runs_add(r, *p, stderr) == -1)
			rc = 1;
	jw_runs_sort(r);
	return rc;
}
