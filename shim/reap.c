/*
 * reap.c: --reap, settle runs whose supervisor died without an end.
 *
 * Only under the run's own lock, so a live supervisor is never touched,
 * and only processes of the run's own process group are killed: the boot
 * id and the leader's start time in the status tell it from a later group
 * that got the same id.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "jobwrap.h"
#include "modes.h"
#include "procid.h"
#include "runs.h"
#include "status.h"

struct pids {
	pid_t v[64];
	size_t n; /* found; only the first 64 are kept */
};

static long long
now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 UTC with milliseconds to ms since the epoch, or -1. */
static long long
epoch_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;

	/* NOLINTBEGIN(cert-err34-c): digits jobwrap wrote itself. */
	if (s == NULL ||
	    sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
		&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	/* NOLINTEND(cert-err34-c) */
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

/*
 * Is pgid still the run's group?  Not after a reboot.  Nor when a live
 * process has pid pgid but another start time than the run's leader: a
 * group id stays taken while any member lives, so a live leader with the
 * id is the group's own leader, or the id was freed and reused.  NULL, or
 * why the group is another's.
 */
static const char *
group_is_another(const json_t *doc, pid_t pgid)
{
	const char *boot = jw_doc_str(doc, "boot_id");
	long long start = jw_doc_int(doc, "pgid_start_ticks");
	char mine[JW_BOOT_ID_LEN + 1];
	struct jw_procstat ps;

	if (boot != NULL && jw_boot_id(mine) == 0 && strcmp(boot, mine) != 0)
		return "the machine has restarted since the run started";
	if (start > 0 && jw_proc_stat(pgid, &ps) == 0 && ps.state != 'Z' &&
	    ps.start != (unsigned long long)start)
		return "its process group id now belongs to a later process";
	return NULL;
}

/* Does pid's environment hold needle ("JOBWRAP_JOB_<tag>=1")? */
static bool
has_tag(pid_t pid, const char *needle, size_t len)
{
	char path[64], buf[8192];
	size_t keep = 0;
	bool found = false, skip = false; /* in a string too long to match */
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	/* Strings end in NUL; one may straddle two reads: keep its head. */
	while (!found &&
	    ((n = read(fd, buf + keep, sizeof(buf) - keep)) > 0 ||
		(n == -1 && errno == EINTR))) {
		size_t end = keep + (size_t)(n > 0 ? n : 0), s = 0;
		for (size_t i = 0; i < end && !found; i++) {
			if (buf[i] != '\0')
				continue;
			found = !skip && i - s == len &&
			    memcmp(buf + s, needle, len) == 0;
			skip = false;
			s = i + 1;
		}
		if (skip || end - s > len) {
			skip = true;
			keep = 0;
		} else
			keep = end - s;
		memmove(buf, buf + s, keep);
	}
	close(fd);
	return found;
}

/*
 * Live processes of the run: those carrying its tag in their environment,
 * wherever they went, and the members of group pgid (0: none to look at;
 * with a tag, only while the group's leader lives) that started at or
 * after its leader (exact, in ticks since boot) or,
 * for a status without the leader's start time, after the run did (ms
 * since the epoch, one tick's slack).
 */
static void
leftovers(const json_t *doc, pid_t pgid, struct pids *out)
{
	long long boot = now_ms(CLOCK_REALTIME) - now_ms(CLOCK_BOOTTIME);
	long long tick = sysconf(_SC_CLK_TCK);
	long long leader = jw_doc_int(doc, "pgid_start_ticks");
	long long since = epoch_ms(jw_doc_str(doc, "started_at"));
	const char *tag = jw_doc_str(doc, "job_tag");
	char needle[64] = "";
	size_t nlen = 0;
	struct jw_procstat ps;
	struct dirent *d;
	pid_t self = getpid();
	DIR *dp;

	out->n = 0;
	if (tag != NULL && strlen(tag) < 32)
		nlen = (size_t)snprintf(needle, sizeof(needle),
		    "JOBWRAP_JOB_%s=1", tag);
	/*
	 * Without its leader, a group may be a later one whose leader left
	 * (a daemon's fork and exit): then the tag alone tells, if there is
	 * one.
	 */
	if (nlen > 0 && pgid > 1 &&
	    (jw_proc_stat(pgid, &ps) == -1 || ps.state == 'Z' ||
		ps.state == 'X'))
		pgid = 0;
	if (tick <= 0 || (pgid <= 1 && nlen == 0) ||
	    (dp = opendir("/proc")) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		pid_t pid = (pid_t)strtol(d->d_name, NULL, 10);
		bool member;
		if (pid <= 0 || pid == self || jw_proc_stat(pid, &ps) == -1 ||
		    ps.state == 'Z' || ps.state == 'X')
			continue;
		member = pgid > 1 && ps.pgid == pgid &&
		    (leader > 0 ? ps.start >= (unsigned long long)leader
				: boot + (long long)ps.start * 1000 / tick +
				    1000 / tick + 1 >=
				since);
		if (!member && (nlen == 0 || !has_tag(pid, needle, nlen)))
			continue;
		if (out->n < sizeof(out->v) / sizeof(out->v[0]))
			out->v[out->n] = pid;
		out->n++;
	}
	closedir(dp);
}

static int
mark_orphaned(struct jw_status *st, json_t *doc, size_t killed,
    const char *another, FILE *err)
{
	char now[JW_RFC3339_BUFSZ], why[512], reason[512];
	long long start = epoch_ms(jw_doc_str(doc, "started_at"));
	long long pid = jw_doc_int(doc, "jobwrap_pid");
	long long pgid = jw_doc_int(doc, "pgid");
	int rc;

	if (killed > 0)
		snprintf(reason, sizeof(reason),
		    "the supervisor (jobwrap pid "
		    "%lld) died without recording an end; --reap found its "
		    "lock free and killed %zu leftover process%s of process "
		    "group %lld or carrying the run's tag",
		    pid, killed, killed == 1 ? "" : "es", pgid);
	else if (another != NULL)
		snprintf(reason, sizeof(reason),
		    "the supervisor (jobwrap pid "
		    "%lld) died without recording an end; --reap found its "
		    "lock free and killed nothing: %s (process group %lld), "
		    "and no process carries the run's tag",
		    pid, another, pgid);
	else
		snprintf(reason, sizeof(reason),
		    "the supervisor (jobwrap pid "
		    "%lld) died without recording an end; --reap found its "
		    "lock free and no process of it left",
		    pid);
	jw_rfc3339_now(now, sizeof(now));
	if (json_object_set_new(doc, "state", json_string(JW_ST_ORPHANED)) ||
	    json_object_set_new(doc, "ended_at", json_string(now)) ||
	    json_object_set_new(doc, "updated_at", json_string(now)) ||
	    json_object_set_new(doc, "exit_code", json_null()) ||
	    json_object_set_new(doc, "reason", json_string(reason)) ||
	    (start >= 0 &&
		json_object_set_new(doc, "duration_ms",
		    json_integer(now_ms(CLOCK_REALTIME) - start)))) {
		fprintf(err, "jobwrap: out of memory\n");
		return -1;
	}
	if ((rc = jw_status_write(st, doc, why, sizeof(why))) == -1)
		fprintf(err, "jobwrap: %s\n", why);
	return rc;
}

static void
print_pids(const struct pids *p)
{
	for (size_t i = 0; i < p->n && i < sizeof(p->v) / sizeof(p->v[0]); i++)
		printf(" %d", (int)p->v[i]);
	if (p->n > sizeof(p->v) / sizeof(p->v[0]))
		printf(" ...");
}

/* The pids killed so far; true when pid is new. */
struct killed {
	pid_t v[4096];
	size_t n;
};

static bool
remember(struct killed *k, pid_t pid)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->v[i] == pid)
			return false;
	if (k->n < sizeof(k->v) / sizeof(k->v[0]))
		k->v[k->n++] = pid;
	return true;
}

static void
print_plan(const char *path, const struct pids *p, const char *another)
{
	printf("%s: would be orphaned (", path);
	if (another != NULL)
		printf("would kill nothing: %s)\n", another);
	else {
		printf("would kill %zu process%s%s", p->n,
		    p->n == 1 ? "" : "es", p->n ? ":" : "");
		print_pids(p);
		printf(")\n");
	}
}

/* Again until none is left: one may fork while we kill, and one killed
 * may not have died yet (counted once).  How many were killed. */
static size_t
kill_leftovers(const json_t *doc, pid_t pgid, struct pids *p)
{
	struct killed dead = { .n = 0 };
	size_t killed = 0;

	for (int round = 0; p->n > 0 && round < 100; round++) {
		for (size_t i = 0;
		     i < p->n && i < sizeof(p->v) / sizeof(p->v[0]); i++)
			if (kill(p->v[i], SIGKILL) == 0 &&
			    remember(&dead, p->v[i]))
				killed++;
		leftovers(doc, pgid, p);
	}
	return killed;
}

/*
 * --dry-run only looks, like --inspect: taking the lock, even for a
 * moment, could make a supervisor starting on this file fail.
 */
static int
plan_one(const char *path)
{
	struct pids p = { .n = 0 };
	const char *another;
	char why[512];
	json_t *doc;
	pid_t pgid;

	if ((doc = jw_status_read(path, why, sizeof(why))) == NULL ||
	    strcmp(jw_doc_str(doc, "state"), JW_ST_RUNNING) != 0) {
		json_decref(doc);
		return 0;
	}
	pgid = (pid_t)jw_doc_int(doc, "pgid");
	another = group_is_another(doc, pgid);
	leftovers(doc, another ? 0 : pgid, &p);
	print_plan(path, &p, p.n > 0 ? NULL : another);
	json_decref(doc);
	return 0;
}

/* Settle one run.  0, or 1 after a message. */
static int
reap_one(const char *path)
{
	struct jw_status st;
	struct pids p = { .n = 0 };
	const char *another;
	char why[512];
	json_t *doc;
	size_t killed = 0;
	pid_t pgid;
	int rc = 0;

	/* The lock first: only then is what the file says final. */
	if (jw_status_open(&st, path, why, sizeof(why)) == -1)
		return errno == EWOULDBLOCK
		    ? 0
		    : (fprintf(stderr, "jobwrap: %s\n", why), 1);
	doc = jw_status_read(path, why, sizeof(why));
	if (doc == NULL ||
	    strcmp(jw_doc_str(doc, "state"), JW_ST_RUNNING) != 0) {
		json_decref(doc);
		jw_status_close(&st);
		return 0; /* it ended meanwhile, or is gone */
	}
	pgid = (pid_t)jw_doc_int(doc, "pgid");
	another = group_is_another(doc, pgid);
	if (another != NULL)
		pgid = 0; /* the tag alone tells */
	leftovers(doc, pgid, &p);
	killed = kill_leftovers(doc, pgid, &p);
	if (mark_orphaned(&st, doc, killed, another, stderr) == 0)
		printf("%s: orphaned (killed %zu process%s)\n", path, killed,
		    killed == 1 ? "" : "es");
	else
		rc = 1;
	json_decref(doc);
	jw_status_close(&st);
	return rc;
}

int
jw_reap(const struct jw_config *c)
{
	struct jw_runs r = { 0 };
	int rc = jw_runs_load(c, &r);

	for (size_t i = 0; i < r.n; i++)
		if (r.v[i].holder == 0 &&
		    strcmp(jw_doc_str(r.v[i].doc, "state"), JW_ST_RUNNING) == 0)
			rc |= c->dry_run ? plan_one(r.v[i].path)
					 : reap_one(r.v[i].path);
	jw_runs_free(&r);
	return rc;
}
