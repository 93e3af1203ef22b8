/* status.c: atomic, durable replacement of a small JSON file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status.h"

static char *
join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

static int
split_path(struct jw_status *s, const char *path)
{
	char *d1 = strdup(path), *d2 = strdup(path);
	int rc = -1;

	if (d1 == NULL || d2 == NULL)
		goto out;
	s->base = strdup(basename(d1));
	s->dirfd = open(dirname(d2), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->base == NULL || s->dirfd == -1)
		goto out;
	s->tmp = join(".", s->base, ".tmp");
	s->lock = join("", s->base, ".lock");
	rc = (s->tmp && s->lock) ? 0 : -1;
out:
	free(d1);
	free(d2);
	return rc;
}

int
jw_status_open(struct jw_status *s, const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->dirfd = s->lockfd = -1;
	s->path = path;
	if (split_path(s, path) == -1) {
		snprintf(err, errlen,
		    "--status-file %s: cannot open its "
		    "directory: %s",
		    path, strerror(errno));
		goto fail;
	}
	s->lockfd = openat(s->dirfd, s->lock,
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (s->lockfd == -1) {
		snprintf(err, errlen, "cannot open %s.lock: %s", path,
		    strerror(errno));
		goto fail;
	}
	while (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen,
			    "%s.lock is held: another jobwrap "
			    "is running with this status file",
			    path);
		else
			snprintf(err, errlen, "cannot lock %s.lock: %s", path,
			    strerror(errno));
		goto fail;
	}
	return 0;
fail:
	jw_status_close(s);
	return -1;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
jw_status_write(struct jw_status *s, json_t *doc, char *err, size_t errlen)
{
	char *text = json_dumps(doc, JSON_INDENT(2));
	const char *step = "encode";
	int fd = -1;

	if (text == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	/* The lock makes the name ours: whatever is there is stale (or
	 * planted), and O_EXCL never writes through it. */
	step = "remove the stale temporary file of";
	if (unlinkat(s->dirfd, s->tmp, 0) == -1 && errno != ENOENT)
		goto fail;
	step = "create the temporary file for";
	fd = openat(s->dirfd, s->tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0644);
	if (fd == -1)
		goto fail;
	step = "write";
	if (write_all(fd, text, strlen(text)) == -1 ||
	    write_all(fd, "\n", 1) == -1)
		goto fail;
	/* The umask may have made it stricter: that is allowed. */
	step = "fsync";
	if (fsync(fd) == -1)
		goto fail;
	step = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "rename into place";
	if (renameat(s->dirfd, s->tmp, s->dirfd, s->base) == -1)
		goto fail;
	step = "fsync the directory of";
	if (fsync(s->dirfd) == -1)
		goto fail;
	free(text);
	return 0;
fail:
	snprintf(err, errlen, "cannot %s the status file %s: %s", step, s->path,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	free(text);
	return -1;
}

void
jw_status_close(struct jw_status *s)
{
	if (s->lockfd != -1)
		close(s->lockfd);
	if (s->dirfd != -1)
		close(s->dirfd);
	free(s->base);
	free(s->tmp);
	free(s->lock);
	memset(s, 0, sizeof(*s));
	s->dirfd = s->lockfd = -1;
}
