/*
 * config.c: one table of options drives the command line, the ini keys,
 * validation, --check-config and the start event's "config".
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "duration.h"
#include "ini_load.h"
#include "jobwrap.h"
#include "json.h"
#include "signame.h"

enum otype {
	T_DURATION,
	T_SIGNAL,
	T_COUNT,
	T_FD,
	T_PATH,
	T_RUNID,
	T_BOOL,
	T_RETRYON,
	T_REGEX,
	T_CHOICE,  /* one word of arg ("a|b"), stored as its index */
	T_SECCOMP, /* a profile name */
	T_RLIMIT,  /* max: one of the units below */
};

/* Units of a T_RLIMIT; U_COUNT_CAPPED has no "unlimited". */
enum { U_COUNT, U_BYTES, U_SECONDS, U_COUNT_CAPPED };

#define F(m) offsetof(struct jw_config, m)

struct opt {
	const char *name; /* long option; ini key has '_' for '-' */
	int shortopt;
	enum otype type;
	size_t off;
	const char *def; /* NULL: unset */
	uint64_t max;	 /* T_COUNT */
	const char *arg;
};

static const struct opt opts[] = {
	{ "run-id", 0, T_RUNID, F(run_id), NULL, 0, "ID" },
	{ "timeout", 't', T_DURATION, F(timeout_ms), "1h", 0, "DUR" },
	{ "attempt-timeout", 0, T_DURATION, F(attempt_timeout_ms), "0", 0,
	    "DUR" },
	{ "kill-after", 'k', T_DURATION, F(kill_after_ms), "10s", 0, "DUR" },
	{ "signal", 's', T_SIGNAL, F(signal), "TERM", 0, "SIG" },
	{ "idle-timeout", 0, T_DURATION, F(idle_timeout_ms), "0", 0, "DUR" },
	{ "heartbeat", 0, T_DURATION, F(heartbeat_ms), "10s", 0, "DUR" },
	{ "retries", 0, T_COUNT, F(retries), "0", JW_RETRIES_MAX, "N" },
	{ "retry-on", 0, T_RETRYON, F(retry_on), "attempt-timeout,idle", 0,
	    "LIST" },
	{ "backoff", 0, T_DURATION, F(backoff_ms), "1s", 0, "DUR" },
	{ "backoff-max", 0, T_DURATION, F(backoff_max_ms), "60s", 0, "DUR" },
	{ "retry-pattern", 0, T_REGEX, F(retry_pattern), NULL, 0, "ERE" },
	{ "error-pattern", 0, T_REGEX, F(error_pattern), NULL, 0, "ERE" },
	{ "events-fd", 0, T_FD, F(events_fd), NULL, 0, "N" },
	{ "events-file", 0, T_PATH, F(events_file), NULL, 0, "PATH" },
	{ "status-file", 0, T_PATH, F(status_file), NULL, 0, "PATH" },
	{ "on-parent-death", 0, T_CHOICE, F(on_parent_death), "kill", 0,
	    "kill|continue" },
	{ "seccomp", 0, T_SECCOMP, F(seccomp), "contain", 0, "PROFILE" },
	{ "rlimit-core", 0, T_RLIMIT, F(rlimit[JW_RL_CORE]), NULL, U_BYTES,
	    "BYTES" },
	{ "rlimit-nofile", 0, T_RLIMIT, F(rlimit[JW_RL_NOFILE]), NULL,
	    U_COUNT_CAPPED, "N" },
	{ "rlimit-as", 0, T_RLIMIT, F(rlimit[JW_RL_AS]), NULL, U_BYTES,
	    "BYTES" },
	{ "rlimit-cpu", 0, T_RLIMIT, F(rlimit[JW_RL_CPU]), NULL, U_SECONDS,
	    "DUR" },
	{ "rlimit-nproc", 0, T_RLIMIT, F(rlimit[JW_RL_NPROC]), NULL, U_COUNT,
	    "N" },
	{ "rlimit-fsize", 0, T_RLIMIT, F(rlimit[JW_RL_FSIZE]), NULL, U_BYTES,
	    "BYTES" },
	{ "tail-bytes", 0, T_COUNT, F(tail_bytes), "4096", JW_TAIL_MAX, "N" },
	{ "notify", 0, T_BOOL, F(notify), "yes", 0, "yes|no" },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Options that are not settings: modes and their flags. */
enum {
	O_BASE = 256,
	O_CONFIG = 'c',
	O_PROFILE = 'p',
	O_HELP = O_BASE + (int)NOPTS,
	O_VERSION,
	O_CHECK,
	O_INSPECT,
	O_JSON,
	O_REAP,
	O_DRYRUN,
	O_CANCEL,
	O_WAIT,
	O_FOLLOW,
	O_FROMSEQ,
	O_NONOTIFY,
};

/* Where each setting came from, for --check-config. */
struct jw_origin {
	const char *file;
	int line; /* 0: default, -1: command line */
};

struct loader {
	struct jw_config *c;
	struct jw_config scratch; /* profiles not chosen are checked here */
	struct jw_origin *from;
	FILE *err;
	struct jw_seccomp *sc; /* the [seccomp NAME] sections */
	size_t nsc;
};

static void
ini_key(const struct opt *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s", o->name);
	for (char *p = buf; *p; p++)
		if (*p == '-')
			*p = '_';
}

static const struct opt *
opt_by_key(const char *key)
{
	char k[64];

	for (size_t i = 0; i < NOPTS; i++) {
		ini_key(&opts[i], k, sizeof(k));
		if (strcmp(k, key) == 0)
			return &opts[i];
	}
	return NULL;
}

static int
valid_run_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > JW_RUN_ID_MAX)
		return 0;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return 0;
	return 1;
}

static int
parse_count(const char *s, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long n;

	/* s is never NULL (--from-seq is required_argument: the analyzer
	 * does not know getopt_long always sets optarg then).
	 * NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return -1;
	*v = n;
	return 0;
}

static int
parse_bool(const char *v, bool *b)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*b = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return -1;
}

static void
pattern_free(struct jw_pattern *p)
{
	if (p->src != NULL)
		regfree(&p->re);
	free(p->src);
	p->src = NULL;
}

/* An empty value means no pattern, so a profile can drop one. */
static int
pattern_set(struct jw_pattern *p, const char *v, char *why, size_t whylen)
{
	regex_t re;
	char *src;
	int rc;

	if (*v == '\0') {
		pattern_free(p);
		return 0;
	}
	if ((rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB)) != 0) {
		size_t n = (size_t)snprintf(why, whylen,
		    "not a POSIX extended "
		    "regular expression: ");
		if (n < whylen)
			regerror(rc, &re, why + n, whylen - n);
		regfree(&re);
		return -1;
	}
	if ((src = strdup(v)) == NULL) {
		regfree(&re);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	pattern_free(p);
	p->src = src;
	p->re = re;
	return 0;
}

/* "unlimited", or a count; bytes may end in K, M, G or T (binary). */
static int
parse_limit(const char *v, uint64_t unit, struct jw_limit *l, char *why,
    size_t whylen)
{
	static const char suffix[] = "KMGT";
	const char *phrase, *p;
	uint64_t n, mult = 1;
	char num[32];
	size_t len = strlen(v);

	if (strcmp(v, "unlimited") == 0) {
		if (unit == U_COUNT_CAPPED) {
			snprintf(why, whylen,
			    "cannot be unlimited: the kernel "
			    "caps open files at fs.nr_open");
			return -1;
		}
		*l = (struct jw_limit){ true, JW_RL_UNLIMITED };
		return 0;
	}
	if (unit == U_SECONDS) {
		if (jw_duration_parse(v, &n, &phrase) == -1 || n == 0) {
			snprintf(why, whylen,
			    "expected CPU time of at least 1s "
			    "(30, 90s, 5m) or unlimited");
			return -1;
		}
		*l = (struct jw_limit){ true, (n + 999) / 1000 };
		return 0;
	}
	if (unit == U_BYTES && len > 0 &&
	    (p = strchr(suffix, toupper((unsigned char)v[len - 1]))) != NULL) {
		mult = 1ULL << (10 * (p - suffix + 1));
		len--;
	}
	if (len == 0 || len >= sizeof(num))
		goto bad;
	memcpy(num, v, len);
	num[len] = '\0';
	if (parse_count(num, UINT64_MAX / mult - 1, &n) == -1)
		goto bad;
	*l = (struct jw_limit){ true, n * mult };
	return 0;
bad:
	snprintf(why, whylen, "expected a whole number%s or unlimited",
	    unit == U_BYTES ? " of bytes (K, M, G, T: binary multiples)" : "");
	return -1;
}

static int
set_seccomp_name(char **field, const char *v, char *why, size_t whylen)
{
	char *s;

	if (strcmp(v, "off") != 0 && strcmp(v, "contain") != 0 &&
	    jw_seccomp_name_ok(v, why, whylen) == -1)
		return -1;
	if ((s = strdup(v)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*field);
	*field = s;
	return 0;
}

/* The index of v among the '|'-separated words of list, or -1. */
static int
choice_index(const char *list, const char *v)
{
	size_t n = strlen(v);
	int i = 0;

	for (const char *p = list; p != NULL; i++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return i;
		p = bar ? bar + 1 : NULL;
	}
	return -1;
}

/* The word of list at index i (into buf). */
static const char *
choice_word(const char *list, int i, char *buf, size_t len)
{
	const char *p = list;

	while (i-- > 0 && p != NULL)
		if ((p = strchr(p, '|')) != NULL)
			p++;
	if (p == NULL)
		return NULL;
	snprintf(buf, len, "%.*s", (int)strcspn(p, "|"), p);
	return buf;
}

/* Store value into c; on error write a phrase into why. */
static int
opt_set(struct jw_config *c, const struct opt *o, const char *v, char *why,
    size_t whylen)
{
	char *field = (char *)c + o->off;
	const char *phrase;
	uint64_t n;
	int sig, idx;

	switch (o->type) {
	case T_SECCOMP:
		return set_seccomp_name((char **)field, v, why, whylen);
	case T_RLIMIT:
		return parse_limit(v, o->max, (struct jw_limit *)field, why,
		    whylen);
	case T_DURATION:
		if (jw_duration_parse(v, &n, &phrase) == -1) {
			snprintf(why, whylen,
			    "%s (examples: 250ms, 30s, 1h30m)", phrase);
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	case T_SIGNAL:
		if ((sig = jw_signal_parse(v)) == -1) {
			snprintf(why, whylen, "not a signal name or number");
			return -1;
		}
		*(int *)field = sig;
		return 0;
	case T_COUNT:
		if (parse_count(v, o->max, &n) == -1) {
			snprintf(why, whylen,
			    "expected a whole number from 0 to %llu",
			    (unsigned long long)o->max);
			return -1;
		}
		*(uint64_t *)field = n;
		return 0;
	case T_FD:
		if (parse_count(v, 1 << 20, &n) == -1 || n < 3) {
			snprintf(why, whylen,
			    "expected a file descriptor number "
			    "of 3 or more (0-2 carry the command's own I/O)");
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	case T_PATH:
		if (*v == '\0') {
			snprintf(why, whylen, "empty path");
			return -1;
		}
		free(*(char **)field);
		if ((*(char **)field = strdup(v)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		return 0;
	case T_BOOL:
		if (parse_bool(v, (bool *)field) == -1) {
			snprintf(why, whylen, "expected yes or no");
			return -1;
		}
		return 0;
	case T_RETRYON:
		return jw_retry_on_parse(v, (struct jw_retry_on *)field, why,
		    whylen);
	case T_REGEX:
		return pattern_set((struct jw_pattern *)field, v, why, whylen);
	case T_CHOICE:
		if ((idx = choice_index(o->arg, v)) == -1) {
			snprintf(why, whylen, "expected one of %s", o->arg);
			return -1;
		}
		*(int *)field = idx;
		return 0;
	case T_RUNID:
		if (!valid_run_id(v)) {
			snprintf(why, whylen,
			    "expected 1 to %d printable characters "
			    "without spaces",
			    JW_RUN_ID_MAX);
			return -1;
		}
		snprintf(field, JW_RUN_ID_MAX + 1, "%s", v);
		return 0;
	}
	return -1;
}

static void
set_defaults(struct jw_config *c)
{
	char why[128];

	memset(c, 0, sizeof(*c));
	c->events_fd = -1;
	c->from_seq = 1;
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].def != NULL &&
		    opt_set(c, &opts[i], opts[i].def, why, sizeof(why)) == -1)
			abort(); /* the table itself is wrong */
}

/* The [seccomp NAME] sections are all read before any other key. */
static bool
seccomp_exists(const struct loader *L, const char *name, char *why,
    size_t whylen)
{
	if (strcmp(name, "off") == 0 || strcmp(name, "contain") == 0)
		return true;
	for (size_t i = 0; i < L->nsc; i++)
		if (strcmp(L->sc[i].name, name) == 0)
			return true;
	snprintf(why, whylen,
	    "no section [seccomp %s] in this file (built "
	    "in: off, contain)",
	    name);
	return false;
}

/* ini_load calls this for each key of the sections it applies. */
static int
apply_ini(void *arg, const char *file, int line, const char *key,
    const char *value, int dry)
{
	struct loader *L = arg;
	const struct opt *o = opt_by_key(key);
	char why[160];

	if (o == NULL) {
		fprintf(L->err, "jobwrap: %s:%d: unknown key \"%s\"\n", file,
		    line, key);
		return -1;
	}
	if (opt_set(dry ? &L->scratch : L->c, o, value, why, sizeof(why)) ==
		-1 ||
	    (o->type == T_SECCOMP &&
		!seccomp_exists(L, value, why, sizeof(why)))) {
		fprintf(L->err, "jobwrap: %s:%d: %s = %s: %s\n", file, line,
		    key, value, why);
		return -1;
	}
	if (!dry)
		L->from[o - opts] = (struct jw_origin){ file, line };
	return 0;
}

/* A [seccomp NAME] header (key NULL) or one of its keys. */
static int
apply_seccomp(void *arg, const char *file, int line, const char *name,
    const char *key, const char *value)
{
	struct loader *L = arg;
	struct jw_seccomp *p;
	char why[160];

	if (key == NULL) {
		if (jw_seccomp_name_ok(name, why, sizeof(why)) == -1) {
			fprintf(L->err, "jobwrap: %s:%d: [seccomp %s]: %s\n",
			    file, line, name, why);
			return -1;
		}
		p = realloc(L->sc, (L->nsc + 1) * sizeof(*p));
		if (p == NULL ||
		    jw_seccomp_init(&p[L->nsc], name, file) == -1) {
			if (p != NULL)
				L->sc = p;
			fprintf(L->err, "jobwrap: out of memory\n");
			return -1;
		}
		L->sc = p;
		L->nsc++;
		return 0;
	}
	p = &L->sc[L->nsc - 1]; /* ini_load gives the header first */
	if (jw_seccomp_set(p, key, value, why, sizeof(why)) == -1) {
		fprintf(L->err, "jobwrap: %s:%d: %s = %s: %s\n", file, line,
		    key, value, why);
		return -1;
	}
	if (strcmp(key, "allow") == 0)
		p->allow_line = line;
	return 0;
}

/* Every section is checked, the chosen one is moved into c->sc. */
static int
resolve_seccomp(struct loader *L)
{
	struct jw_config *c = L->c;
	const struct jw_origin *from = &L->from[opt_by_key("seccomp") - opts];
	char why[160];

	for (size_t i = 0; i < L->nsc; i++)
		if (jw_seccomp_finish(&L->sc[i], why, sizeof(why)) == -1) {
			fprintf(L->err, "jobwrap: %s:%d: %s\n", L->sc[i].file,
			    L->sc[i].allow_line, why);
			return -1;
		}
	if (jw_seccomp_builtin(&c->sc, c->seccomp) == 0)
		return 0;
	for (size_t i = 0; i < L->nsc; i++)
		if (strcmp(L->sc[i].name, c->seccomp) == 0) {
			c->sc = L->sc[i];
			memset(&L->sc[i], 0, sizeof(L->sc[i]));
			return 0;
		}
	if (from->line > 0)
		fprintf(L->err, "jobwrap: %s:%d: seccomp = %s: ", from->file,
		    from->line, c->seccomp);
	else
		fprintf(L->err, "jobwrap: --seccomp %s: ", c->seccomp);
	if (c->config_path != NULL)
		fprintf(L->err,
		    "no section [seccomp %s] in %s (built in: off, "
		    "contain)\n",
		    c->seccomp, c->config_path);
	else
		fprintf(L->err,
		    "no such profile (built in: off, contain; "
		    "others come from a [seccomp NAME] section of -c FILE)\n");
	return -1;
}

static void
free_sections(struct loader *L)
{
	for (size_t i = 0; i < L->nsc; i++)
		jw_seccomp_free(&L->sc[i]);
	free(L->sc);
}

static int
known_key(const char *key)
{
	return opt_by_key(key) != NULL;
}

static int
generate_run_id(struct jw_config *c)
{
	unsigned char r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(c->run_id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

static int
check_events_fd(int fd, FILE *err)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1) {
		fprintf(err,
		    "jobwrap: --events-fd %d: not an open file "
		    "descriptor\n",
		    fd);
		return -1;
	}
	if ((fl & O_ACCMODE) == O_RDONLY) {
		fprintf(err, "jobwrap: --events-fd %d: open for reading only\n",
		    fd);
		return -1;
	}
	return 0;
}

static struct option *
long_options(void)
{
	static const struct option modes[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "inspect", no_argument, NULL, O_INSPECT },
		{ "json", no_argument, NULL, O_JSON },
		{ "reap", no_argument, NULL, O_REAP },
		{ "dry-run", no_argument, NULL, O_DRYRUN },
		{ "cancel", no_argument, NULL, O_CANCEL },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ "from-seq", required_argument, NULL, O_FROMSEQ },
		{ "no-notify", no_argument, NULL, O_NONOTIFY },
	};
	size_t nm = sizeof(modes) / sizeof(modes[0]);
	struct option *lo = calloc(NOPTS + nm + 1, sizeof(*lo));

	if (lo == NULL)
		return NULL;
	for (size_t i = 0; i < NOPTS; i++) {
		/* --notify alone means yes; --notify=no works too. */
		int optarg_ok = strcmp(opts[i].name, "notify") == 0;
		lo[i] = (struct option){ opts[i].name,
			optarg_ok ? optional_argument : required_argument, NULL,
			O_BASE + (int)i };
	}
	memcpy(lo + NOPTS, modes, sizeof(modes));
	return lo;
}

static int
short_to_index(int ch)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].shortopt == ch)
			return (int)i;
	return -1;
}

/* Command-line settings are kept and applied after the ini file. */
struct cli_setting {
	int idx;
	const char *value;
};

static int
set_mode(struct jw_config *c, enum jw_mode m, FILE *err)
{
	if (c->mode != JW_MODE_RUN && c->mode != m) {
		fprintf(err,
		    "jobwrap: --inspect, --reap, --cancel, --follow and "
		    "--check-config go one at a time\n");
		return -1;
	}
	c->mode = m;
	return 0;
}

/* An option that belongs to a mode: checked once the mode is known. */
static int
mode_option(struct jw_config *c, int ch, const char *arg, FILE *err)
{
	const char *why;

	switch (ch) {
	case O_JSON:
		c->json = true;
		return 0;
	case O_DRYRUN:
		c->dry_run = true;
		return 0;
	case O_WAIT:
		if (jw_duration_parse(arg, &c->wait_ms, &why) == -1) {
			fprintf(err, "jobwrap: --wait %s: %s\n", arg, why);
			return -1;
		}
		c->wait_given = true;
		return 0;
	case O_FROMSEQ:
		if (parse_count(arg, UINT64_MAX, &c->from_seq) == -1 ||
		    c->from_seq == 0) {
			fprintf(err,
			    "jobwrap: --from-seq %s: expected a seq, a "
			    "whole number from 1\n",
			    arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int
mode_flag(struct jw_config *c, int ch, FILE *err)
{
	switch (ch) {
	case O_INSPECT:
		return set_mode(c, JW_MODE_INSPECT, err);
	case O_REAP:
		return set_mode(c, JW_MODE_REAP, err);
	case O_CANCEL:
		return set_mode(c, JW_MODE_CANCEL, err);
	case O_FOLLOW:
		return set_mode(c, JW_MODE_FOLLOW, err);
	case O_JSON:
	case O_DRYRUN:
	case O_WAIT:
	case O_FROMSEQ:
		return mode_option(c, ch, optarg, err);
	case O_HELP:
		c->mode = JW_MODE_HELP;
		return 0;
	case O_VERSION:
		c->mode = JW_MODE_VERSION;
		return 0;
	case O_CHECK:
		return set_mode(c, JW_MODE_CHECK_CONFIG, err);
	default:
		return -1;
	}
}

/* Each mode's own options, and its operands. */
static int
check_mode(const struct jw_config *c, FILE *err)
{
	static const char *names[] = {
		[JW_MODE_INSPECT] = "--inspect",
		[JW_MODE_REAP] = "--reap",
		[JW_MODE_CANCEL] = "--cancel",
		[JW_MODE_FOLLOW] = "--follow",
	};
	size_t n = 0;
	const char *bad = c->json && c->mode != JW_MODE_INSPECT ? "--json"
	    : c->dry_run && c->mode != JW_MODE_REAP		? "--dry-run"
	    : c->wait_given && c->mode != JW_MODE_CANCEL	? "--wait"
	    : c->from_seq != 1 && c->mode != JW_MODE_FOLLOW	? "--from-seq"
								: NULL;

	if (bad != NULL) {
		fprintf(err, "jobwrap: %s does not go with %s\n", bad,
		    c->mode < sizeof(names) / sizeof(names[0]) && names[c->mode]
			? names[c->mode]
			: "a supervised run");
		return -1;
	}
	if (c->mode < JW_MODE_INSPECT)
		return 0;
	while (c->argv[n] != NULL)
		n++;
	if (n == 0 ||
	    (n > 1 &&
		(c->mode == JW_MODE_CANCEL || c->mode == JW_MODE_FOLLOW))) {
		fprintf(err, "jobwrap: %s takes %s (see jobwrap --help)\n",
		    names[c->mode],
		    c->mode == JW_MODE_CANCEL ? "one status file"
			: c->mode == JW_MODE_FOLLOW
			? "one events file"
			: "status files or directories");
		return -1;
	}
	return 0;
}

static int
parse_argv(struct jw_config *c, int argc, char *argv[], struct cli_setting *set,
    size_t *nset, FILE *err)
{
	struct option *lo = long_options();
	int ch, li, rc = 0;

	if (lo == NULL) {
		fprintf(err, "jobwrap: out of memory\n");
		return -1;
	}
	opterr = 0;
	optind = 1;
	/* '+': stop at the command, whose own options are not ours. */
	while (rc == 0 &&
	    (ch = getopt_long(argc, argv, "+:c:p:t:k:s:hV", lo, &li)) != -1) {
		if (ch == 't' || ch == 'k' || ch == 's')
			ch = O_BASE + short_to_index(ch);
		if (ch >= O_BASE && ch < O_BASE + (int)NOPTS) {
			const char *v = optarg ? optarg : "yes";
			set[(*nset)++] = (struct cli_setting){ ch - O_BASE, v };
		} else if (ch == 'c')
			c->config_path = optarg;
		else if (ch == 'p')
			c->profile = optarg;
		else if (ch == 'h')
			c->mode = JW_MODE_HELP;
		else if (ch == 'V')
			c->mode = JW_MODE_VERSION;
		else if (ch == O_NONOTIFY)
			set[(*nset)++] = (struct cli_setting){
				(int)(opt_by_key("notify") - opts), "no"
			};
		else if (ch == ':') {
			fprintf(err, "jobwrap: %s needs a value\n",
			    argv[optind - 1]);
			rc = -1;
		} else if (ch == '?') {
			fprintf(err,
			    "jobwrap: unknown option %s (see jobwrap "
			    "--help)\n",
			    argv[optind - 1]);
			rc = -1;
		} else
			rc = mode_flag(c, ch, err);
	}
	free(lo);
	c->argv = argv + optind;
	return rc;
}

static int
apply_cli(struct loader *L, const struct cli_setting *set, size_t nset)
{
	char why[160];

	for (size_t i = 0; i < nset; i++) {
		const struct opt *o = &opts[set[i].idx];
		if (opt_set(L->c, o, set[i].value, why, sizeof(why)) == -1) {
			fprintf(L->err, "jobwrap: --%s %s: %s\n", o->name,
			    set[i].value, why);
			return -1;
		}
		L->from[set[i].idx] = (struct jw_origin){ NULL, -1 };
	}
	return 0;
}

static int
load_file(struct loader *L)
{
	struct jw_config *c = L->c;
	struct ini_load il = {
		.path = c->config_path,
		.profile = c->profile,
		.known_key = known_key,
		.apply = apply_ini,
		.arg = L,
		.seccomp_key = jw_seccomp_key,
		.seccomp = apply_seccomp,
		.err = L->err,
	};

	if (c->config_path == NULL && c->profile != NULL) {
		fprintf(L->err,
		    "jobwrap: --profile %s: no config file "
		    "(give -c FILE or set JOBWRAP_CONFIG)\n",
		    c->profile);
		return -1;
	}
	return c->config_path == NULL ? 0 : jw_ini_load(&il);
}

int
jw_config_load(struct jw_config *c, int argc, char *argv[], FILE *err)
{
	struct cli_setting *set = calloc((size_t)argc + 1, sizeof(*set));
	struct loader L = { .c = c, .err = err };
	size_t nset = 0;
	const char *env;
	int rc = JW_EXIT_INTERNAL, rc2;

	set_defaults(c);
	c->origins = L.from = calloc(NOPTS, sizeof(*L.from));
	if (set == NULL || L.from == NULL) {
		fprintf(err, "jobwrap: out of memory\n");
		goto out;
	}
	if (parse_argv(c, argc, argv, set, &nset, err) == -1)
		goto out;
	if (c->mode == JW_MODE_HELP || c->mode == JW_MODE_VERSION) {
		rc = 0;
		goto out;
	}
	if (c->config_path == NULL &&
	    (env = getenv("JOBWRAP_CONFIG")) != NULL && *env != '\0')
		c->config_path = env;
	set_defaults(&L.scratch);
	rc2 = load_file(&L);
	jw_config_free(&L.scratch);
	if (rc2 == -1 || apply_cli(&L, set, nset) == -1 ||
	    resolve_seccomp(&L) == -1)
		goto out;
	if (check_mode(c, err) == -1)
		goto out;
	if (c->mode == JW_MODE_RUN && c->argv[0] == NULL) {
		fprintf(err,
		    "jobwrap: no command given (usage: jobwrap "
		    "[OPTIONS] -- COMMAND [ARG...])\n");
		goto out;
	}
	if (c->events_fd != -1 && check_events_fd(c->events_fd, err) == -1)
		goto out;
	if (c->run_id[0] == '\0' && c->mode == JW_MODE_RUN &&
	    generate_run_id(c) == -1) {
		fprintf(err, "jobwrap: getrandom: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free_sections(&L);
	free(set);
	return rc;
}

void
jw_config_free(struct jw_config *c)
{
	free(c->events_file);
	free(c->status_file);
	free(c->seccomp);
	jw_seccomp_free(&c->sc);
	c->seccomp = NULL;
	jw_retry_on_free(&c->retry_on);
	pattern_free(&c->retry_pattern);
	pattern_free(&c->error_pattern);
	free(c->origins);
	c->events_file = c->status_file = NULL;
	c->origins = NULL;
}

/* The value of o in c as the ini file would spell it; NULL when unset. */
static const char *
opt_text(const struct jw_config *c, const struct opt *o, char *buf, size_t len)
{
	const char *field = (const char *)c + o->off;

	switch (o->type) {
	case T_SECCOMP:
		return *(char *const *)field;
	case T_RLIMIT: {
		const struct jw_limit *l = (const struct jw_limit *)field;
		if (!l->set)
			return NULL;
		if (l->value == JW_RL_UNLIMITED)
			return "unlimited";
		snprintf(buf, len, "%llu%s", (unsigned long long)l->value,
		    o->max == U_SECONDS ? "s" : "");
		return buf;
	}
	case T_DURATION:
		jw_duration_format(*(const uint64_t *)field, buf, len);
		return buf;
	case T_SIGNAL:
		jw_signal_name(*(const int *)field, buf, len);
		/* "TERM", as the contract spells it; "32" has no prefix. */
		return strncmp(buf, "SIG", 3) == 0 ? buf + 3 : buf;
	case T_COUNT:
		snprintf(buf, len, "%llu",
		    (unsigned long long)*(const uint64_t *)field);
		return buf;
	case T_FD:
		if (*(const int *)field == -1)
			return NULL;
		snprintf(buf, len, "%d", *(const int *)field);
		return buf;
	case T_PATH:
		return *(char *const *)field;
	case T_RUNID:
		return *field ? field : NULL;
	case T_BOOL:
		return *(const bool *)field ? "yes" : "no";
	case T_RETRYON:
		return ((const struct jw_retry_on *)field)->text;
	case T_REGEX:
		return ((const struct jw_pattern *)field)->src;
	case T_CHOICE:
		return choice_word(o->arg, *(const int *)field, buf, len);
	}
	return NULL;
}

/* The longest line ini_load.c reads back: inih's buffer holds the '\n'
 * and a NUL too. */
#define INI_LINE_MAX (INI_MAX_LINE - 2)

/*
 * Can "key = v" be read back as v?  inih trims white space, ends a line at
 * a newline and starts a comment at a ';' after white space.  (The whole
 * line must also fit INI_LINE_MAX.)
 */
static int
ini_safe(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || isspace((unsigned char)v[0]) ||
	    isspace((unsigned char)v[n - 1]) || v[0] == ';')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '\n' || v[i] == '\r' ||
		    (v[i] == ';' && isspace((unsigned char)v[i - 1])))
			return 0;
	return 1;
}

/*
 * A chosen [seccomp NAME], expanded: what it denies, allow applied.  The
 * list is cut into indented lines, which continue it, under inih's limit.
 */
static void
print_seccomp(const struct jw_seccomp *p, FILE *out)
{
	static const char *const actions[] = { "errno", "kill", "log" };
	char buf[16];
	size_t col = 0;

	fprintf(out, "[seccomp %s]\ndeny =", p->name);
	for (char **d = p->deny; d != NULL && *d != NULL; d++) {
		if (col > 60) {
			fprintf(out, "\n\t");
			col = 0;
		} else
			fputc(' ', out);
		fputs(*d, out);
		col += strlen(*d) + 1;
	}
	fprintf(out, "\naction = %s\n", actions[p->action]);
	if (p->action == JW_SC_ERRNO)
		fprintf(out, "errno = %s\n",
		    jw_errno_name(p->errnum, buf, sizeof(buf)));
}

void
jw_config_print(const struct jw_config *c, FILE *out)
{
	char key[64], buf[64];

	fprintf(out, "; effective configuration of jobwrap %s\n", JW_VERSION);
	if (c->config_path != NULL) {
		/* Also a comment must fit a line: keep the path's end. */
		size_t n = strlen(c->config_path), room = INI_LINE_MAX - 70;
		fprintf(out, "; file %s%s%s%s\n", n > room ? "..." : "",
		    c->config_path + (n > room ? n - room : 0),
		    c->profile ? ", profile " : "",
		    c->profile ? c->profile : "");
	}
	fprintf(out, "[jobwrap]\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const struct jw_origin *from = &c->origins[i];
		const char *v = opt_text(c, o, buf, sizeof(buf));
		const char *eq = " = ";
		size_t len, where = 0;

		ini_key(o, key, sizeof(key));
		/* A line must fit: "key=value" if "key = value" does not. */
		len = strlen(key) + strlen(eq) + (v ? strlen(v) : 0);
		if (len > INI_LINE_MAX) {
			eq = "=";
			len -= 2;
		}
		if (from->line > 0)
			where = (size_t)snprintf(NULL, 0, "\t; %s:%d",
			    from->file, from->line);
		else if (from->line == -1)
			where = strlen("\t; command line");
		if (v == NULL)
			fprintf(out, ";%s =\t; not set\n", key);
		else if (!ini_safe(v) || len > INI_LINE_MAX)
			fprintf(out,
			    ";%s =\t; set to a value an ini file cannot hold "
			    "(white space at an end, \" ;\", a newline, or "
			    "longer than a line)\n",
			    key);
		else if (where == 0 || len + where > INI_LINE_MAX)
			/* A default, or no room to say where it came from. */
			fprintf(out, "%s%s%s\n", key, eq, v);
		else if (from->line > 0)
			fprintf(out, "%s%s%s\t; %s:%d\n", key, eq, v,
			    from->file, from->line);
		else
			fprintf(out, "%s%s%s\t; command line\n", key, eq, v);
	}
	if (c->sc.name != NULL && strcmp(c->sc.name, "contain") != 0)
		print_seccomp(&c->sc, out);
}

json_t *
jw_config_json(const struct jw_config *c)
{
	json_t *j = json_object();
	char key[64], buf[64];

	for (size_t i = 0; j != NULL && i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		const char *v = opt_text(c, o, buf, sizeof(buf));
		json_t *jv;

		if (o->type == T_RUNID)
			continue; /* run_id is in every event already */
		ini_key(o, key, sizeof(key));
		if (v == NULL)
			jv = json_null();
		else if (o->type == T_RLIMIT && strcmp(v, "unlimited") != 0)
			jv = json_integer(
			    (json_int_t)((const struct jw_limit
						 *)((const char *)c + o->off))
				->value);
		else if (o->type == T_BOOL)
			jv = json_boolean(strcmp(v, "yes") == 0);
		else if (o->type == T_COUNT || o->type == T_FD)
			jv = json_integer(strtoll(v, NULL, 10));
		else
			jv = jw_json_str_or_null(v); /* paths: any bytes */
		if (json_object_set_new(j, key, jv) == -1) {
			json_decref(j);
			return NULL;
		}
	}
	/* What the profile denies: the name alone does not say. */
	if (j != NULL &&
	    json_object_set_new(j, "seccomp_filter", jw_seccomp_json(&c->sc)) ==
		-1) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void
jw_usage(FILE *out)
{
	fprintf(out,
	    "usage: jobwrap [OPTIONS] [--] COMMAND [ARG...]\n"
	    "       jobwrap --inspect [--json] PATH...\n"
	    "       jobwrap --reap [--dry-run] PATH...\n"
	    "       jobwrap --cancel [--wait DUR] STATUS_FILE\n"
	    "       jobwrap --follow [--from-seq N] EVENTS_FILE\n"
	    "       jobwrap --check-config [-c FILE] [-p NAME]\n"
	    "       jobwrap --help | --version\n"
	    "\n"
	    "Supervise COMMAND in its own process group under a hard deadline, relay its\n"
	    "output, emit JSON Lines events and keep a durable status file.\n"
	    "\n"
	    "  -c, --config FILE      ini file (else $JOBWRAP_CONFIG, else defaults)\n"
	    "  -p, --profile NAME     overlay section [profile NAME]\n"
	    "      --run-id ID        id put in every event and the status\n"
	    "  -t, --timeout DUR      hard deadline of the run; 0 = none (1h)\n"
	    "  -k, --kill-after DUR   grace between the signal and SIGKILL (10s)\n"
	    "  -s, --signal SIG       first signal sent to the job (TERM)\n"
	    "      --heartbeat DUR    heartbeat interval; 0 = none (10s)\n"
	    "      --events-fd N      write events to inherited fd N\n"
	    "      --events-file PATH append events to PATH\n"
	    "      --status-file PATH durable status; PATH.lock held while alive\n"
	    "      --tail-bytes N     stderr tail kept in the status (4096)\n"
	    "      --attempt-timeout DUR  deadline of one attempt; 0 = none (0)\n"
	    "      --idle-timeout DUR no output and no notify for DUR = hung (0)\n"
	    "      --retries N        extra attempts after a retryable end (0)\n"
	    "      --retry-on LIST    nonzero, exit:N, exit:N-M, signal, attempt-timeout,\n"
	    "                         idle (attempt-timeout,idle)\n"
	    "      --backoff DUR, --backoff-max DUR  delay before a retry, full jitter\n"
	    "                         (1s, 60s)\n"
	    "      --retry-pattern ERE  an output line matching it is a retry event\n"
	    "      --error-pattern ERE  an output line matching it becomes last_error\n"
	    "      --notify, --no-notify  offer an sd_notify socket to the job (on)\n"
	    "      --on-parent-death kill|continue  when the process that started\n"
	    "                         jobwrap dies (kill)\n"
	    "      --seccomp PROFILE  off, contain or a [seccomp NAME] of the ini (contain)\n"
	    "      --rlimit-core|nofile|as|cpu|nproc|fsize N  a resource limit of the\n"
	    "                         command (bytes: K, M, G, T; cpu: a duration)\n"
	    "\n"
	    "Durations: 250ms, 30s, 5m, 2h, 1h30m, 1.5s; a bare number is seconds.\n"
	    "Exit: the command's status; 124 deadline; 125 jobwrap failed; 126/127\n"
	    "cannot execute / not found; 128+N killed by or cancelled with signal N.\n"
	    "See jobwrap(1) and jobwrap.ini(5).\n");
}
