/* Unit tests: configuration precedence and errors with FILE:LINE. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char path[64];

/* Write text to a fresh temporary ini file; its name is in path. */
static const char *
ini(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/jwtest.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

struct outcome {
	int rc;
	char *err;
	struct jw_config c;
};

/* Load from a NULL-terminated argv (argv[0] added); stderr captured. */
static void
load(struct outcome *o, const char **args)
{
	static char *argv[32] = { "jobwrap" }; /* c.argv points into it */
	size_t n = 1, len;
	FILE *err = open_memstream(&o->err, &len);

	for (; *args; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	o->rc = jw_config_load(&o->c, (int)n, argv, err);
	fclose(err);
}

static void
done(struct outcome *o)
{
	jw_config_free(&o->c);
	free(o->err);
	if (path[0]) {
		unlink(path);
		path[0] = '\0';
	}
}

/* The run must fail with exactly "jobwrap: FILE:LINE: ..." naming want. */
static void
expect_error(const char *text, int line, const char *want)
{
	struct outcome o;
	char prefix[128];

	load(&o, (const char *[]){ "-c", ini(text), "--", "true", NULL });
	assert_int_equal(o.rc, 125);
	snprintf(prefix, sizeof(prefix), "jobwrap: %s:%d: ", path, line);
	if (strncmp(o.err, prefix, strlen(prefix)) != 0 ||
	    strstr(o.err, want) == NULL)
		fail_msg("want \"%s...%s\", got \"%s\"", prefix, want, o.err);
	done(&o);
}

static void
test_defaults(void **state)
{
	struct outcome o;

	(void)state;
	unsetenv("JOBWRAP_CONFIG");
	load(&o, (const char *[]){ "--", "true", NULL });
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.c.timeout_ms, 3600000);
	assert_int_equal(o.c.kill_after_ms, 10000);
	assert_int_equal(o.c.heartbeat_ms, 10000);
	assert_int_equal(o.c.signal, SIGTERM);
	assert_int_equal(o.c.tail_bytes, 4096);
	assert_int_equal(o.c.events_fd, -1);
	assert_null(o.c.status_file);
	assert_int_equal(strlen(o.c.run_id), 32); /* 128 random bits */
	assert_string_equal(o.c.argv[0], "true");
	done(&o);
}

static void
test_precedence(void **state)
{
	struct outcome o;
	const char *f = ini(
	    "[profile p]\ntimeout = 3s\nsignal = INT\n"
	    "[jobwrap]\ntimeout = 2s\nkill_after = 2s\nsignal = HUP\n"
	    "heartbeat = 2s\n");

	(void)state;
	/* default < [jobwrap] < [profile] < command line */
	load(&o,
	    (const char *[]){ "-c", f, "-p", "p", "-s", "USR2", "--", "true",
		NULL });
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.c.timeout_ms, 3000);	   /* profile */
	assert_int_equal(o.c.kill_after_ms, 2000); /* [jobwrap] */
	assert_int_equal(o.c.signal, SIGUSR2);	   /* command line */
	assert_int_equal(o.c.heartbeat_ms, 2000);
	assert_int_equal(o.c.tail_bytes, 4096); /* default */
	done(&o);
}

static void
test_env_config(void **state)
{
	struct outcome o;

	(void)state;
	setenv("JOBWRAP_CONFIG", ini("[jobwrap]\ntimeout = 7s\n"), 1);
	load(&o, (const char *[]){ "--", "true", NULL });
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.c.timeout_ms, 7000);
	unsetenv("JOBWRAP_CONFIG");
	done(&o);
}

static void
test_ini_errors(void **state)
{
	char longline[300];

	(void)state;
	expect_error("[jobwrap]\ntimeout = 5x\n", 2, "unknown unit");
	expect_error("[jobwrap]\n\nbogus = 1\n", 3, "unknown key \"bogus\"");
	expect_error("[jobwrap]\n[other]\n", 2, "unknown section [other]");
	expect_error("[jobwrap]\nsignal = FOO\n", 2, "not a signal");
	expect_error("[jobwrap]\ntimeout = 1s\ntimeout = 2s\n", 3,
	    "first set at line 2");
	expect_error("[jobwrap]\n[jobwrap]\n", 2, "duplicate section");
	expect_error("[jobwrap]\ntimeout = 1s\n  30s\n", 3, "indented line");
	expect_error("timeout = 1s\n", 1, "outside a section");
	expect_error("[jobwrap]\nno equals sign here\n", 2, "syntax error");
	expect_error("[jobwrap]\nseccomp = nosuch\n", 2,
	    "no section [seccomp nosuch]");
	expect_error("[seccomp x]\ndeny = ptrace nosuch\n", 2,
	    "unknown system call");
	expect_error("[jobwrap]\nrlimit_as = 1Q\n", 2, "bytes");
	expect_error("[jobwrap]\nretry_on = exit:0\n", 2, "retry_on");
	expect_error("[jobwrap]\n\nerror_pattern = (\n", 3,
	    "regular expression");
	expect_error("[profile a b]\n", 1, "unknown section");
	expect_error("[profile x]\n[jobwrap]\ntail_bytes = 99999999\n", 3,
	    "whole number");
	/* Profiles not chosen are checked too. */
	expect_error("[jobwrap]\n[profile x]\ntimeout = nope\n", 3,
	    "expected a number");
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "[jobwrap]\n; ", 12);
	memcpy(longline + sizeof(longline) - 1, "", 1);
	expect_error(longline, 2, "line longer than");
	/* Line numbers stay right after a long comment line is refused
	 * (inih alone would have split it and shifted every line). */
	expect_error("[jobwrap]\n; short\n\n\ntimeout = bad\n", 5,
	    "expected a number");
}

static void
test_missing_profile(void **state)
{
	struct outcome o;

	(void)state;
	load(&o,
	    (const char *[]){ "-c", ini("[jobwrap]\n\n[profile a]\n"), "-p",
		"b", "--", "true", NULL });
	assert_int_equal(o.rc, 125);
	assert_non_null(strstr(o.err, ":3: no section [profile b]"));
	done(&o);
	load(&o, (const char *[]){ "-p", "b", "--", "true", NULL });
	assert_int_equal(o.rc, 125);
	assert_non_null(strstr(o.err, "no config file"));
	done(&o);
}

static void
test_cli_errors(void **state)
{
	static const char *bad[][4] = {
		{ "-t", "5x", "--", "true" },
		{ "--timeout", "1h30", "--", "true" },
		{ "-s", "NOPE", "--", "true" },
		{ "--events-fd", "1", "--", "true" },
		{ "--events-fd", "999", "--", "true" }, /* not open */
		{ "--retries", "1001", "--", "true" },
		{ "--seccomp", "no such", "--", "true" },
		{ "--rlimit-nofile", "x", "--", "true" },
		{ "--bogus", "--", "true", NULL },
		{ "--notify=maybe", "--", "true", NULL },
		{ "--inspect", NULL, NULL, NULL },    /* no operand */
		{ "--follow", "a", "b", NULL },	      /* one file */
		{ "--json", "--", "true", NULL },     /* not with a run */
		{ "--inspect", "--reap", "x", NULL }, /* one mode */
		{ "--run-id", "has space", "--", "true" },
		{ "-t", NULL, NULL, NULL },
	};
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[5] = { bad[i][0], bad[i][1], bad[i][2],
			bad[i][3], NULL };
		load(&o, args);
		if (o.rc != 125 || strncmp(o.err, "jobwrap: ", 9) != 0)
			fail_msg("%s %s: rc %d, \"%s\"", bad[i][0],
			    bad[i][1] ? bad[i][1] : "", o.rc, o.err);
		done(&o);
	}
	load(&o, (const char *[]){ "-t", "5", NULL });
	assert_int_equal(o.rc, 125);
	assert_non_null(strstr(o.err, "no command"));
	done(&o);
}

static void
test_check_config_roundtrip(void **state)
{
	struct outcome a, b;
	char *text;
	size_t len;
	FILE *f;

	(void)state;
	load(&a,
	    (const char *[]){ "--check-config", "-t", "1h2m3.5s", "-k", "250ms",
		"-s", "9", "--heartbeat", "0", "--status-file", "/tmp/x.status",
		"--tail-bytes", "77", NULL });
	assert_int_equal(a.rc, 0);
	f = open_memstream(&text, &len);
	jw_config_print(&a.c, f);
	fclose(f);
	load(&b, (const char *[]){ "--check-config", "-c", ini(text), NULL });
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.c.timeout_ms, a.c.timeout_ms);
	assert_int_equal(b.c.kill_after_ms, 250);
	assert_int_equal(b.c.signal, SIGKILL);
	assert_int_equal(b.c.heartbeat_ms, 0);
	assert_int_equal(b.c.tail_bytes, 77);
	assert_string_equal(b.c.status_file, "/tmp/x.status");
	free(text);
	done(&b);
	jw_config_free(&a.c);
	free(a.err);
}

/* Print a's configuration and load it back into b. */
static void
print_and_load(struct outcome *a, struct outcome *b)
{
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	jw_config_print(&a->c, f);
	fclose(f);
	load(b, (const char *[]){ "--check-config", "-c", ini(text), NULL });
	if (b->rc != 0)
		fail_msg("printed:\n%s\ndoes not load back: %s", text, b->err);
	free(text);
}

/* Found by tests/fuzz/fuzz_config: a line of what --check-config
 * prints was longer than the ini reader takes (198 bytes) once " = "
 * and the "\t; FILE:LINE" comment were added to a long value.  Now such
 * a line is "key=value" without the comment. */
static void
test_check_config_long_lines(void **state)
{
	struct outcome a, b;
	char text[512], first[64], value[256];

	(void)state;
	/* "retry_pattern=" and 184 bytes: the longest line there is. */
	memset(value, 'y', 184);
	value[184] = '\0';
	snprintf(text, sizeof(text), "[jobwrap]\nretry_pattern=%s\n", value);
	load(&a, (const char *[]){ "--check-config", "-c", ini(text), NULL });
	assert_int_equal(a.rc, 0);
	snprintf(first, sizeof(first), "%s", path);
	path[0] = '\0';
	print_and_load(&a, &b);
	assert_string_equal(b.c.retry_pattern.src, value);
	done(&b);
	jw_config_free(&a.c);
	free(a.err);
	unlink(first);

	/* From the command line: room for " = " but not for the comment. */
	memset(value, 's', 180);
	value[180] = '\0';
	load(&a,
	    (const char *[]){ "--check-config", "--status-file", value, NULL });
	assert_int_equal(a.rc, 0);
	print_and_load(&a, &b);
	assert_string_equal(b.c.status_file, value);
	done(&b);
	jw_config_free(&a.c);
	free(a.err);

	/* Too long for any line: said so, and left out. */
	memset(value, 's', 200);
	value[200] = '\0';
	load(&a,
	    (const char *[]){ "--check-config", "--status-file", value, NULL });
	assert_int_equal(a.rc, 0);
	print_and_load(&a, &b);
	assert_null(b.c.status_file);
	done(&b);
	jw_config_free(&a.c);
	free(a.err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_env_config),
		cmocka_unit_test(test_ini_errors),
		cmocka_unit_test(test_missing_profile),
		cmocka_unit_test(test_cli_errors),
		cmocka_unit_test(test_check_config_roundtrip),
		cmocka_unit_test(test_check_config_long_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
