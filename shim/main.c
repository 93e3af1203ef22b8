/*
 * jobwrap: supervise one command to a complete, durable, truthful end.
 * See jobwrap(1) and ../shared/CONTRACT.md.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "jobwrap.h"
#include "modes.h"
#include "supervisor.h"

int
main(int argc, char *argv[])
{
	struct jw_config c;
	int rc;

	if ((rc = jw_config_load(&c, argc, argv, stderr)) != 0) {
		jw_config_free(&c);
		return rc;
	}
	switch (c.mode) {
	case JW_MODE_HELP:
		jw_usage(stdout);
		break;
	case JW_MODE_VERSION:
		printf("jobwrap %s\n", JW_VERSION);
		break;
	case JW_MODE_CHECK_CONFIG:
		jw_config_print(&c, stdout);
		break;
	case JW_MODE_RUN:
		rc = jw_supervise(&c);
		break;
	case JW_MODE_INSPECT:
		rc = jw_inspect(&c);
		break;
	case JW_MODE_REAP:
		rc = jw_reap(&c);
		break;
	case JW_MODE_CANCEL:
		rc = jw_cancel(&c);
		break;
	case JW_MODE_FOLLOW:
		rc = jw_follow(&c);
		break;
	}
	if (rc == 0 && (fflush(stdout) == EOF || ferror(stdout))) {
		perror("jobwrap: stdout");
		rc = JW_EXIT_INTERNAL;
	}
	jw_config_free(&c);
	return rc;
}
