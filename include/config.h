/*
 * config.h: argv + ini -> one validated, immutable configuration.
 *
 * Precedence: built-in default < [jobwrap] < [profile NAME] < command line.
 * Every supervision option has an ini key of the same name with '_' for '-'.
 */
#ifndef JW_CONFIG_H
#define JW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <regex.h>
#include <jansson.h>

#include "retry.h"
#include "sandbox.h"
#include "syscalls.h"

enum jw_mode {
	JW_MODE_RUN,
	JW_MODE_CHECK_CONFIG,
	JW_MODE_HELP,
	JW_MODE_VERSION,
	JW_MODE_INSPECT,
	JW_MODE_REAP,
	JW_MODE_CANCEL,
	JW_MODE_FOLLOW,
};

#define JW_RUN_ID_MAX  128
#define JW_TAIL_MAX    (1024 * 1024)
#define JW_RETRIES_MAX 1000

/* --on-parent-death, in the order the option lists them. */
enum { JW_PDEATH_KILL, JW_PDEATH_CONTINUE };

/* An ERE from the configuration, compiled when it is read. */
struct jw_pattern {
	char *src; /* NULL: none */
	regex_t re;
};

struct jw_config {
	enum jw_mode mode;
	const char *config_path; /* NULL: built-in defaults only */
	const char *profile;

	char run_id[JW_RUN_ID_MAX + 1];
	uint64_t timeout_ms;	     /* 0 = none */
	uint64_t attempt_timeout_ms; /* 0 = none */
	uint64_t idle_timeout_ms;    /* 0 = none */
	uint64_t kill_after_ms;
	uint64_t heartbeat_ms; /* 0 = none */
	int signal;
	int events_fd; /* -1 = none */
	char *events_file;
	char *status_file;
	uint64_t tail_bytes;
	uint64_t retries;
	struct jw_retry_on retry_on;
	uint64_t backoff_ms, backoff_max_ms;
	struct jw_pattern retry_pattern, error_pattern;
	bool notify;
	int on_parent_death;  /* JW_PDEATH_* */
	char *seccomp;	      /* off, contain or a [seccomp NAME] */
	struct jw_seccomp sc; /* ... resolved: what it denies */
	struct jw_limit rlimit[JW_RL_COUNT];

	char *const *argv; /* the command, or a mode's operands */

	/* Options of the modes (--inspect, --reap, --cancel, --follow). */
	bool json;	  /* --inspect --json */
	bool dry_run;	  /* --reap --dry-run */
	uint64_t wait_ms; /* --cancel --wait; 0: not given */
	bool wait_given;
	uint64_t from_seq; /* --follow --from-seq, 1 by default */

	struct jw_origin *origins; /* private to config.c */
};

/*
 * Fill c from argv and the ini file.  Returns 0, or the exit status to use
 * (125 for any error, after printing "FILE:LINE: message" or an option
 * error on err).
 */
int jw_config_load(struct jw_config *c, int argc, char *argv[], FILE *err);
void jw_config_free(struct jw_config *c);

/* The effective configuration as an ini file that loads back the same. */
void jw_config_print(const struct jw_config *c, FILE *out);
/* The same as a JSON object (the start event's "config"). */
json_t *jw_config_json(const struct jw_config *c);

void jw_usage(FILE *out);

#endif
