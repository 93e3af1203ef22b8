/*
 * syscalls.c: seccomp profiles as lists of system call names.
 *
 * "contain" denies what lets a job reach past its own processes: into
 * other processes, the kernel, the file system tree, the clock.  What a
 * job needs to run and to manage its own children (fork, setsid, setpgid,
 * kill of its own processes, unshare for sandboxing tools) stays allowed:
 * escapes from the process group are caught by the supervisor anyway.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "syscalls.h"

struct group {
	const char *name;
	const char *const *calls;
};

/* Reading or writing another process: its memory, its file descriptors. */
static const char *const g_debug[] = { "ptrace", "process_vm_readv",
	"process_vm_writev", "pidfd_getfd", "perf_event_open", NULL };
/* Code into the running kernel, or a new kernel. */
static const char *const g_module[] = { "init_module", "finit_module",
	"delete_module", "kexec_load", "kexec_file_load", NULL };
static const char *const g_reboot[] = { "reboot", NULL };
/* The file system tree everybody sees (or the job's own namespace). */
static const char *const g_mount[] = { "mount", "umount", "umount2",
	"pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
	"fsmount", "fspick", "mount_setattr", NULL };
static const char *const g_swap[] = { "swapon", "swapoff", NULL };
/* The kernel keyrings are shared beyond the job (user and session). */
static const char *const g_keyring[] = { "add_key", "request_key", "keyctl",
	NULL };
/* The clock every process on the machine reads. */
static const char *const g_clock[] = { "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "stime", NULL };
/*
 * The kernel's attack surface and machine-wide state: BPF programs, the
 * kernel log, process accounting, raw I/O ports, file handles that bypass
 * directory permissions, and userfaultfd, a staple of kernel exploits.
 */
static const char *const g_system[] = { "bpf", "syslog", "acct", "iopl",
	"ioperm", "open_by_handle_at", "userfaultfd", "lookup_dcookie", NULL };

static const struct group groups[] = {
	{ "debug", g_debug },
	{ "module", g_module },
	{ "reboot", g_reboot },
	{ "mount", g_mount },
	{ "swap", g_swap },
	{ "keyring", g_keyring },
	{ "clock", g_clock },
	{ "system", g_system },
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static const char *const actions[] = { "errno", "kill", "log" };

/* ---- lists of names ---------------------------------------------- */

static void
list_free(char **l)
{
	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

static size_t
list_len(char *const *l)
{
	size_t n = 0;

	while (l != NULL && l[n] != NULL)
		n++;
	return n;
}

static int
list_has(char *const *l, const char *name)
{
	for (size_t i = 0; l != NULL && l[i] != NULL; i++)
		if (strcmp(l[i], name) == 0)
			return 1;
	return 0;
}

static int
list_add(char ***l, const char *name)
{
	size_t n = list_len(*l);
	char **m, *s;

	if (list_has(*l, name))
		return 0;
	if ((s = strdup(name)) == NULL)
		return -1;
	if ((m = realloc(*l, (n + 2) * sizeof(*m))) == NULL) {
		free(s);
		return -1;
	}
	m[n] = s;
	m[n + 1] = NULL;
	*l = m;
	return 0;
}

static int
add_group(char ***l, const struct group *g)
{
	for (const char *const *c = g->calls; *c != NULL; c++)
		if (list_add(l, *c) == -1)
			return -1;
	return 0;
}

/* @contain is every group; @NAME one of them. */
static int
add_token(char ***l, const char *tok, int groups_ok, char *why, size_t whylen)
{
	if (tok[0] == '@') {
		if (!groups_ok) {
			snprintf(why, whylen,
			    "%s: a group cannot be allowed; "
			    "name the calls",
			    tok);
			return -1;
		}
		for (size_t i = 0; i < NGROUPS; i++)
			if (strcmp(tok + 1, "contain") == 0 ||
			    strcmp(tok + 1, groups[i].name) == 0)
				if (add_group(l, &groups[i]) == -1)
					goto nomem;
		if (strcmp(tok + 1, "contain") == 0)
			return 0;
		for (size_t i = 0; i < NGROUPS; i++)
			if (strcmp(tok + 1, groups[i].name) == 0)
				return 0;
		snprintf(why, whylen,
		    "%s: unknown group (@contain, @debug, "
		    "@module, @reboot, @mount, @swap, @keyring, @clock, "
		    "@system)",
		    tok);
		return -1;
	}
	/* Known on any architecture: rules for the others then do nothing. */
	if (seccomp_syscall_resolve_name(tok) == __NR_SCMP_ERROR) {
		snprintf(why, whylen, "%s: unknown system call", tok);
		return -1;
	}
	if (list_add(l, tok) == 0)
		return 0;
nomem:
	snprintf(why, whylen, "out of memory");
	return -1;
}

/* Names separated by commas and/or white space. */
static int
parse_list(char ***l, const char *v, int groups_ok, char *why, size_t whylen)
{
	char tok[64];

	while (*v != '\0') {
		size_t n = strcspn(v, ", \t\r\n");
		if (n >= sizeof(tok)) {
			snprintf(why, whylen, "%.20s...: name too long", v);
			return -1;
		}
		if (n > 0) {
			memcpy(tok, v, n);
			tok[n] = '\0';
			if (add_token(l, tok, groups_ok, why, whylen) == -1)
				return -1;
		}
		v += n;
		v += strspn(v, ", \t\r\n");
	}
	return 0;
}

/* ---- errno names ------------------------------------------------- */

const char *
jw_errno_name(int e, char *buf, size_t len)
{
	const char *s = strerrorname_np(e);

	if (s != NULL)
		return s;
	snprintf(buf, len, "%d", e);
	return buf;
}

/* The kernel's errno values stop at 4095; 0 would fake success. */
static int
parse_errno(const char *v, int *e)
{
	char *end;
	long n;

	if (isdigit((unsigned char)v[0])) {
		n = strtol(v, &end, 10);
		if (*end != '\0' || n < 1 || n > 4095)
			return -1;
		*e = (int)n;
		return 0;
	}
	for (int i = 1; i < 4096; i++) {
		const char *s = strerrorname_np(i);
		if (s != NULL && strcmp(s, v) == 0) {
			*e = i;
			return 0;
		}
	}
	return -1;
}

/* ---- profiles ---------------------------------------------------- */

int
jw_seccomp_name_ok(const char *name, char *why, size_t whylen)
{
	if (strcmp(name, "off") == 0 || strcmp(name, "contain") == 0) {
		snprintf(why, whylen,
		    "\"%s\" is built in and cannot be "
		    "redefined",
		    name);
		return -1;
	}
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
			snprintf(why, whylen,
			    "a profile name is letters, digits, "
			    "'.', '_' and '-'");
			return -1;
		}
	if (*name == '\0') {
		snprintf(why, whylen, "empty profile name");
		return -1;
	}
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, so the start event and --check-config read the same each run. */
static int
sort_names(struct jw_seccomp *p)
{
	if (p->deny != NULL)
		qsort(p->deny, list_len(p->deny), sizeof(*p->deny), by_name);
	return 0;
}

int
jw_seccomp_builtin(struct jw_seccomp *p, const char *name)
{
	char why[64];

	memset(p, 0, sizeof(*p));
	p->errnum = EPERM;
	if (strcmp(name, "off") == 0)
		return 0;
	if (strcmp(name, "contain") != 0)
		return -1;
	if ((p->name = strdup(name)) == NULL ||
	    add_token(&p->deny, "@contain", 1, why, sizeof(why)) == -1) {
		jw_seccomp_free(p);
		return -1;
	}
	return sort_names(p);
}

int
jw_seccomp_init(struct jw_seccomp *p, const char *name, const char *file)
{
	if (jw_seccomp_builtin(p, "contain") == -1)
		return -1;
	free(p->name);
	if ((p->name = strdup(name)) == NULL) {
		jw_seccomp_free(p);
		return -1;
	}
	p->file = file;
	return 0;
}

int
jw_seccomp_key(const char *key)
{
	if (strcmp(key, "deny") == 0 || strcmp(key, "allow") == 0)
		return 1;
	if (strcmp(key, "action") == 0 || strcmp(key, "errno") == 0)
		return 2;
	return 0;
}

int
jw_seccomp_set(struct jw_seccomp *p, const char *key, const char *value,
    char *why, size_t whylen)
{
	if (strcmp(key, "deny") == 0) {
		char **l = NULL;
		if (parse_list(&l, value, 1, why, whylen) == -1) {
			list_free(l);
			return -1;
		}
		list_free(p->deny);
		p->deny = l;
		return 0;
	}
	if (strcmp(key, "allow") == 0)
		return parse_list(&p->allow, value, 0, why, whylen);
	if (strcmp(key, "action") == 0) {
		for (size_t i = 0; i < 3; i++)
			if (strcmp(value, actions[i]) == 0) {
				p->action = (enum jw_sc_action)i;
				return 0;
			}
		snprintf(why, whylen, "expected errno, kill or log");
		return -1;
	}
	if (strcmp(key, "errno") == 0) {
		if (parse_errno(value, &p->errnum) == 0)
			return 0;
		snprintf(why, whylen,
		    "expected an errno name such as EPERM or "
		    "ENOSYS, or a number from 1 to 4095");
		return -1;
	}
	snprintf(why, whylen, "unknown key (deny, allow, action, errno)");
	return -1;
}

int
jw_seccomp_finish(struct jw_seccomp *p, char *why, size_t whylen)
{
	for (size_t i = 0; p->allow != NULL && p->allow[i] != NULL; i++) {
		size_t n = list_len(p->deny), j;
		for (j = 0; j < n && strcmp(p->deny[j], p->allow[i]) != 0; j++)
			;
		if (j == n) {
			snprintf(why, whylen,
			    "allow = %s: not denied by this "
			    "profile",
			    p->allow[i]);
			return -1;
		}
		free(p->deny[j]);
		memmove(p->deny + j, p->deny + j + 1, (n - j) * sizeof(char *));
	}
	return sort_names(p);
}

void
jw_seccomp_free(struct jw_seccomp *p)
{
	free(p->name);
	list_free(p->deny);
	list_free(p->allow);
	p->name = NULL;
	p->deny = p->allow = NULL;
}

json_t *
jw_seccomp_json(const struct jw_seccomp *p)
{
	json_t *j, *deny;
	char buf[16];

	if (p->name == NULL)
		return json_null();
	if ((deny = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; p->deny != NULL && p->deny[i] != NULL; i++)
		if (json_array_append_new(deny, json_string(p->deny[i])) ==
		    -1) {
			json_decref(deny);
			return NULL;
		}
	j = json_pack("{s:s, s:s?, s:o}", "action", actions[p->action], "errno",
	    p->action == JW_SC_ERRNO
		? jw_errno_name(p->errnum, buf, sizeof(buf))
		: NULL,
	    "deny", deny);
	return j;
}
