/* inspect.c: --inspect, a table or JSON lines of the runs at some paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "duration.h"
#include "jobwrap.h"
#include "modes.h"
#include "runs.h"

/* Milliseconds since an RFC 3339 UTC time, or -1. */
static long long
ms_since(const char *rfc3339)
{
	struct tm tm = { 0 };
	struct timespec now;
	int ms = 0;

	/* NOLINTBEGIN(cert-err34-c): digits jobwrap wrote itself. */
	if (rfc3339 == NULL ||
	    sscanf(rfc3339, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
		&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	/* NOLINTEND(cert-err34-c) */
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	clock_gettime(CLOCK_REALTIME, &now);
	return ((long long)now.tv_sec - (long long)timegm(&tm)) * 1000 +
	    now.tv_nsec / 1000000 - ms;
}

static void
elapsed(const json_t *doc, char *buf, size_t len)
{
	const char *state = jw_doc_str(doc, "state");
	long long ms = strcmp(state, JW_ST_RUNNING) == 0
	    ? ms_since(jw_doc_str(doc, "started_at"))
	    : jw_doc_int(doc, "duration_ms");

	if (ms < 0) {
		snprintf(buf, len, "-");
		return;
	}
	/* Whole seconds read better in a table. */
	jw_duration_format(ms >= 1000 ? (uint64_t)ms / 1000 * 1000
				      : (uint64_t)ms,
	    buf, len);
}

static void
command_text(const json_t *doc, char *buf, size_t len)
{
	json_t *argv = json_object_get(doc, "command"), *a;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(argv, i, a)
	{
		const char *s = json_string_value(a);
		if (s == NULL)
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    i ? " " : "", s);
		if (n >= len)
			break;
	}
	if (n >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

static void
print_row(const struct jw_run_file *f)
{
	const json_t *d = f->doc;
	char el[JW_DURATION_BUFSZ], cmd[61], code[16];
	long long pid = jw_doc_int(d, "jobwrap_pid");
	long long ex = jw_doc_int(d, "exit_code");
	const char *id = jw_doc_str(d, "run_id");

	elapsed(d, el, sizeof(el));
	command_text(d, cmd, sizeof(cmd));
	snprintf(code, sizeof(code), ex < 0 ? "-" : "%lld", ex);
	printf("%-12.12s  %-12s  %-5s  %7lld  %9s  %4s  %s\n", id,
	    jw_doc_str(d, "state"), f->holder > 0 ? "yes" : "no", pid, el, code,
	    cmd);
}

static int
print_json(const struct jw_run_file *f)
{
	json_t *d = json_deep_copy(f->doc);
	char *line;

	if (d == NULL ||
	    json_object_set_new(d, "path", json_string(f->path)) == -1 ||
	    json_object_set_new(d, "alive", json_boolean(f->holder > 0)) ==
		-1 ||
	    (line = json_dumps(d, JSON_COMPACT)) == NULL) {
		json_decref(d);
		fprintf(stderr, "jobwrap: out of memory\n");
		return 1;
	}
	printf("%s\n", line);
	free(line);
	json_decref(d);
	return 0;
}

int
jw_inspect(const struct jw_config *c)
{
	struct jw_runs r = { 0 };
	int rc = jw_runs_load(c, &r);

	if (!c->json && r.n > 0)
		printf("%-12s  %-12s  %-5s  %7s  %9s  %4s  %s\n", "RUN",
		    "STATE", "ALIVE", "PID", "ELAPSED", "EXIT", "COMMAND");
	for (size_t i = 0; i < r.n; i++) {
		if (c->json)
			rc |= print_json(&r.v[i]);
		else
			print_row(&r.v[i]);
	}
	jw_runs_free(&r);
	return rc;
}
