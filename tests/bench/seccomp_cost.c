/*
 * seccomp_cost.c: what the built-in "contain" filter costs, measured on
 * jobwrap's own code (build/obj/sandbox.o and syscalls.o, linked statically
 * like shim/jobwrap):
 *
 *   build  jw_sandbox_build(): libseccomp generates the filter and exports
 *          the BPF program to memory.  The supervisor does it once per run.
 *          Timed COLD times, each as the first build of a freshly forked
 *          process (libseccomp's code not yet faulted in: what a run
 *          pays), then BUILDS times in a row in this process (warm).
 *   load   jw_sandbox_apply(): PR_SET_NO_NEW_PRIVS and seccomp(2) with the
 *          exported program.  The child of every attempt does it between
 *          fork and exec.  Timed LOADS times, each in a freshly forked child
 *          (a process takes one filter: no stacking), around the call only;
 *          the child sends the nanoseconds back through a pipe and exits.
 *   floor  the same with a one-instruction filter (allow everything), also
 *          LOADS times: what any filter costs to load here, whatever its
 *          length.
 *
 * Usage: seccomp_cost [-j OUT.json] BUILDS COLD LOADS
 * Prints median and p95 of each to stdout; -j also writes every sample.
 * Exits 0, or 1 when something cannot be measured.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "sandbox.h"
#include "syscalls.h"

#define FAILED INT64_MIN /* a child's sample when its call failed */

static struct jw_seccomp profile;
static struct jw_limit no_limits[JW_RL_COUNT]; /* none, as by default */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "seccomp_cost: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* One jw_sandbox_build(); its time in ns, or FAILED. */
static int64_t
build_once(unsigned short *len)
{
	struct jw_sandbox sb;
	char why[256];
	int64_t t0, t1;

	t0 = now_ns();
	if (jw_sandbox_build(&sb, no_limits, &profile, why, sizeof(why)) ==
	    -1) {
		fprintf(stderr, "seccomp_cost: %s\n", why);
		return FAILED;
	}
	t1 = now_ns();
	if (len != NULL)
		*len = sb.prog.len;
	jw_sandbox_free(&sb);
	return t1 - t0;
}

static void __attribute__((noreturn)) send_ns(int fd, int64_t ns)
{
	ssize_t n;

	do
		n = write(fd, &ns, sizeof(ns));
	while (n == -1 && errno == EINTR);
	_exit(n == (ssize_t)sizeof(ns) ? 0 : 1);
}

/*
 * Fork; the child runs what (COLD_BUILD or LOAD) once, timed, and sends
 * the ns back.  Returns them, or FAILED.
 */
enum child_job { COLD_BUILD, LOAD };

static int64_t
in_child(enum child_job what, const struct jw_sandbox *sb, int fds[2])
{
	int64_t ns = FAILED;
	ssize_t n;
	pid_t pid;
	int st, where;

	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		int64_t t0;

		close(fds[0]);
		(void)now_ns(); /* the vDSO page, the stack: faulted */
		if (what == COLD_BUILD)
			send_ns(fds[1], build_once(NULL));
		t0 = now_ns();
		if (jw_sandbox_apply(sb, &where) == -1)
			send_ns(fds[1], FAILED);
		send_ns(fds[1], now_ns() - t0);
	}
	do
		n = read(fds[0], &ns, sizeof(ns));
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(ns))
		ns = FAILED;
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ns = FAILED;
	return ns;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank on a sorted copy. */
static void
summary(const char *label, const int64_t *v, size_t n)
{
	int64_t *s = malloc(n * sizeof(*s));
	double med;
	size_t p95;

	if (s == NULL)
		die("malloc");
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_i64);
	med = n % 2 ? (double)s[n / 2]
		    : ((double)s[n / 2 - 1] + (double)s[n / 2]) / 2;
	p95 = (n * 95 + 99) / 100;
	printf("%-6s n=%-5zu median %9.1f us  p95 %9.1f us  min %9.1f us  "
	       "max %9.1f us\n",
	    label, n, med / 1e3, (double)s[p95 - 1] / 1e3, (double)s[0] / 1e3,
	    (double)s[n - 1] / 1e3);
	free(s);
}

static void
json_list(FILE *f, const char *key, const int64_t *v, size_t n, int last)
{
	fprintf(f, " \"%s\": [", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%lld", i ? ", " : "", (long long)v[i]);
	fprintf(f, "]%s\n", last ? "" : ",");
}

/* A number from a /proc or /sys file's first line, or -1. */
static long
read_long(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "r");
	size_t klen = key != NULL ? strlen(key) : 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (key == NULL || strncmp(line, key, klen) == 0) {
			v = strtol(line + klen, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static size_t
count_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000) {
		fprintf(stderr, "seccomp_cost: bad count \"%s\"\n", s);
		exit(2);
	}
	return (size_t)v;
}

int
main(int argc, char **argv)
{
	const char *json = NULL;
	size_t nbuild, ncold, nload, ndeny = 0;
	int64_t *build, *cold, *load, *floor_;
	static struct sock_filter allow[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct jw_sandbox sb, one = { .prog = { 1, allow } };
	unsigned short len = 0;
	char why[256];
	int fds[2], opt;

	while ((opt = getopt(argc, argv, "j:")) != -1) {
		if (opt != 'j')
			goto usage;
		json = optarg;
	}
	if (argc - optind != 3) {
usage:
		fprintf(stderr,
		    "usage: seccomp_cost [-j OUT.json] BUILDS "
		    "COLD LOADS\n");
		return 2;
	}
	nbuild = count_arg(argv[optind]);
	ncold = count_arg(argv[optind + 1]);
	nload = count_arg(argv[optind + 2]);
	if ((build = calloc(nbuild, sizeof(*build))) == NULL ||
	    (cold = calloc(ncold, sizeof(*cold))) == NULL ||
	    (load = calloc(nload, sizeof(*load))) == NULL ||
	    (floor_ = calloc(nload, sizeof(*floor_))) == NULL)
		die("calloc");
	if (jw_seccomp_builtin(&profile, "contain") == -1) {
		fprintf(stderr, "seccomp_cost: no built-in profile contain\n");
		return 1;
	}
	for (char **d = profile.deny; d != NULL && *d != NULL; d++)
		ndeny++;
	if (pipe2(fds, O_CLOEXEC) == -1)
		die("pipe2");

	/* Cold first: this process has not run libseccomp yet. */
	for (size_t i = 0; i < ncold; i++)
		if ((cold[i] = in_child(COLD_BUILD, NULL, fds)) == FAILED) {
			fprintf(stderr, "seccomp_cost: cold build %zu failed\n",
			    i);
			return 1;
		}
	for (size_t i = 0; i < nbuild; i++)
		if ((build[i] = build_once(&len)) == FAILED)
			return 1;

	/* The program every child loads: built once, as the supervisor does. */
	if (jw_sandbox_build(&sb, no_limits, &profile, why, sizeof(why)) ==
	    -1) {
		fprintf(stderr, "seccomp_cost: %s\n", why);
		return 1;
	}
	/* Interleaved: a load change on the machine hits both alike. */
	for (size_t i = 0; i < nload; i++)
		if ((load[i] = in_child(LOAD, &sb, fds)) == FAILED ||
		    (floor_[i] = in_child(LOAD, &one, fds)) == FAILED) {
			fprintf(stderr,
			    "seccomp_cost: load %zu failed (the "
			    "child's jw_sandbox_apply or its report)\n",
			    i);
			return 1;
		}

	printf("contain: %zu denied calls, %u BPF instructions\n", ndeny,
	    (unsigned)len);
	summary("cold", cold, ncold);
	summary("build", build, nbuild);
	summary("load", load, nload);
	summary("floor", floor_, nload);

	if (json != NULL) {
		FILE *f = fopen(json, "w");

		if (f == NULL)
			die(json);
		fprintf(f,
		    "{\n \"profile\": \"contain\",\n \"denied\": %zu,\n"
		    " \"bpf_insns\": %u,\n \"bpf_jit_enable\": %ld,\n"
		    " \"own_seccomp_filters\": %ld,\n",
		    ndeny, (unsigned)len,
		    read_long("/proc/sys/net/core/bpf_jit_enable", NULL),
		    read_long("/proc/self/status", "Seccomp_filters:"));
		json_list(f, "cold_build_ns", cold, ncold, 0);
		json_list(f, "build_ns", build, nbuild, 0);
		json_list(f, "load_ns", load, nload, 0);
		json_list(f, "floor_ns", floor_, nload, 1);
		fprintf(f, "}\n");
		if (fclose(f) == EOF)
			die(json);
	}
	jw_sandbox_free(&sb);
	jw_seccomp_free(&profile);
	free(build);
	free(cold);
	free(load);
	free(floor_);
	return 0;
}
