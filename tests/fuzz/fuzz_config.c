/*
 * fuzz_config: the input is an ini file, loaded the way
 * `jobwrap -c FILE [-p NAME] --check-config` loads it: ini_load.c (the
 * line reader, sections, continuation lines), every option's validation
 * and the [seccomp NAME] sections (syscalls.c).
 *
 * Properties: the loader returns 0 or 125 and frees everything; a loaded
 * configuration is within its documented bounds; its jw_config_json()
 * encodes and parses; and jw_config_print() -- "an ini file that loads
 * back the same" -- does: loading the printed text gives the same
 * jw_config_json() and prints the same settings again.
 *
 * The file lives in a memfd (no file is written); the loader's messages go
 * to /dev/null.  A first line ";p:NAME" (an ini comment) adds -p NAME.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "duration.h"
#include "fuzz.h"

static FILE *devnull;

/* A memfd holding p[0..n), and its name in path. */
static int
memfile(const void *p, size_t n, char *path, size_t len)
{
	int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);

	CHECK(fd != -1);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, (const char *)p + off, n - off);
		CHECK(w > 0);
		off += (size_t)w;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* jw_config_load() with -c path [-p profile] --check-config. */
static int
load(struct jw_config *c, char **argv, char *path, char *profile)
{
	int argc = 0;

	argv[argc++] = "jobwrap";
	argv[argc++] = "-c";
	argv[argc++] = path;
	if (profile != NULL) {
		argv[argc++] = "-p";
		argv[argc++] = profile;
	}
	argv[argc++] = "--check-config";
	argv[argc] = NULL;
	return jw_config_load(c, argc, argv, devnull);
}

static void
check_bounds(const struct jw_config *c)
{
	CHECK(c->mode == JW_MODE_CHECK_CONFIG);
	CHECK(c->timeout_ms <= JW_DURATION_MAX_MS);
	CHECK(c->attempt_timeout_ms <= JW_DURATION_MAX_MS);
	CHECK(c->idle_timeout_ms <= JW_DURATION_MAX_MS);
	CHECK(c->kill_after_ms <= JW_DURATION_MAX_MS);
	CHECK(c->heartbeat_ms <= JW_DURATION_MAX_MS);
	CHECK(c->backoff_ms <= JW_DURATION_MAX_MS);
	CHECK(c->backoff_max_ms <= JW_DURATION_MAX_MS);
	CHECK(c->signal >= 1 && c->signal <= SIGRTMAX);
	CHECK(c->events_fd == -1 || c->events_fd >= 3);
	CHECK(c->tail_bytes <= JW_TAIL_MAX);
	CHECK(c->retries <= JW_RETRIES_MAX);
	CHECK(c->on_parent_death == JW_PDEATH_KILL ||
	    c->on_parent_death == JW_PDEATH_CONTINUE);
	CHECK(c->seccomp != NULL);
	CHECK(strlen(c->run_id) <= JW_RUN_ID_MAX);
	CHECK(c->events_file == NULL || *c->events_file != '\0');
	CHECK(c->status_file == NULL || *c->status_file != '\0');
	/* The chosen profile: "off" has no name, the others do. */
	CHECK((c->sc.name == NULL) == (strcmp(c->seccomp, "off") == 0));
	if (c->sc.name != NULL)
		CHECK(strcmp(c->sc.name, c->seccomp) == 0);
	for (size_t i = 0; c->sc.deny != NULL && c->sc.deny[i] != NULL; i++)
		if (i > 0) /* sorted and unique */
			CHECK(strcmp(c->sc.deny[i - 1], c->sc.deny[i]) < 0);
}

static char *
print(const struct jw_config *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	CHECK(f != NULL);
	jw_config_print(c, f);
	CHECK(fclose(f) == 0);
	return text;
}

/* The settings of a printed configuration: comments (where each came
 * from, which file) dropped. */
static void
strip(char *s)
{
	char *o = s;

	while (*s) {
		size_t n = strcspn(s, "\n"), keep = n;
		/* A value holds no "\t;" (ini_safe()): the comment does. */
		char *tab = memmem(s, n, "\t;", 2);
		if (strncmp(s, "; ", 2) == 0)
			keep = 0;
		else if (tab != NULL)
			keep = (size_t)(tab - s);
		memmove(o, s, keep);
		o += keep;
		if (keep > 0)
			*o++ = '\n';
		s += n + (s[n] == '\n');
	}
	*o = '\0';
}

/*
 * glibc's regcomp() copies a subexpression for each '+' (x+ is xx*) and
 * for each count of an interval, so its memory grows exponentially with
 * nested repetitions: "a+++++++++++++++++++++++++" takes 6.5 GB.  That
 * is glibc's, not jobwrap's (and patterns come from the configuration,
 * not from the job), so inputs whose patterns could be that big are left
 * out: at most 2^16 copies, counting every '+' and interval of the input
 * as nested.
 */
static bool
regex_too_big(const uint8_t *p, size_t n)
{
	double copies = 1;

	for (size_t i = 0; i < n && copies <= 65536; i++) {
		if (p[i] == '+')
			copies *= 2;
		else if (p[i] == '{') {
			double num = 0, max = 0; /* its biggest count */
			for (size_t j = i + 1; j < n && p[j] != '}'; j++) {
				num = p[j] >= '0' && p[j] <= '9'
				    ? num * 10 + (p[j] - '0')
				    : 0;
				max = num > max ? num : max;
			}
			copies *= max + 1;
		}
	}
	return copies > 65536;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("JOBWRAP_CONFIG");
	devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], path2[64], profile[64], *prof = NULL, *argv[8];
	char *argv2[8], *text, *text2;
	struct jw_config c, c2;
	json_t *j, *j2;
	size_t len, len2;
	int fd, fd2, rc;

	if (regex_too_big(data, size))
		return 0;
	if (size > 3 && memcmp(data, ";p:", 3) == 0) {
		size_t n = 0;
		while (3 + n < size && n < sizeof(profile) - 1 &&
		    data[3 + n] != '\n' && data[3 + n] != '\0')
			n++;
		memcpy(profile, data + 3, n);
		profile[n] = '\0';
		prof = profile;
	}
	fd = memfile(data, size, path, sizeof(path));
	rc = load(&c, argv, path, prof);
	CHECK(rc == 0 || rc == 125);
	if (rc != 0) {
		jw_config_free(&c);
		close(fd);
		return 0;
	}
	check_bounds(&c);
	j = jw_config_json(&c);
	CHECK(j != NULL);
	text = json_dumps(j, JSON_COMPACT);
	CHECK(text != NULL);
	free(text);

	/* What --check-config prints loads back the same. */
	text = print(&c, &len);
	if (strstr(text, "a value an ini file cannot hold") == NULL) {
		fd2 = memfile(text, len, path2, sizeof(path2));
		rc = load(&c2, argv2, path2, NULL);
		if (rc != 0) {
			/* Say why, then fail. */
			fprintf(stderr, "printed:\n%s\n", text);
			jw_config_load(&c2, 4, argv2, stderr);
		}
		CHECK(rc == 0);
		j2 = jw_config_json(&c2);
		CHECK(j2 != NULL);
		CHECK(json_equal(j, j2));
		text2 = print(&c2, &len2);
		strip(text);
		strip(text2);
		CHECK(strcmp(text, text2) == 0);
		free(text2);
		json_decref(j2);
		jw_config_free(&c2);
		close(fd2);
	}
	free(text);
	json_decref(j);
	jw_config_free(&c);
	close(fd);
	return 0;
}
