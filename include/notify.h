/*
 * notify.h: the sd_notify socket offered to the job.
 *
 * An abstract unix datagram socket (no file to clean up; it vanishes with
 * jobwrap) named @jobwrap/RANDOM/PID, with SO_PASSCRED so that every
 * datagram carries the sender's pid: the supervisor accepts only
 * datagrams from processes of the job.
 */
#ifndef JW_NOTIFY_H
#define JW_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* sd_notify's own limit (systemd reads at most this much, too). */
#define JW_NOTIFY_MAX 4096

/*
 * Datagrams are read in batches: the kernel queues only a few per socket
 * (net.unix.max_dgram_qlen, 10 by default) and wakes a blocked sender for
 * each one taken, so draining the queue in one call saves most of the
 * context switches of a flood.
 */
#define JW_NOTIFY_BATCH 16

struct jw_notify_batch;

/* Is pid a process of the job?  Asked as soon as a batch is read. */
typedef bool jw_notify_check_fn(void *ctx, pid_t pid);

struct jw_notify {
	int fd;	       /* -1: notify off */
	char addr[64]; /* as NOTIFY_SOCKET spells it */
	struct jw_notify_batch *b;
	uint64_t dropped; /* not from the job, or malformed */
	jw_notify_check_fn *check;
	void *check_ctx;
};

/* The child's environment: ours, with NOTIFY_SOCKET and WATCHDOG_*. */
struct jw_childenv {
	char **envp;
	char sock[96];
	char usec[48];
	char pid[40]; /* "WATCHDOG_PID=", the child appends */
	char tag[48]; /* "JOBWRAP_JOB_<tag>=1", for --reap */
};

struct jw_notify_msg {
	pid_t pid;     /* the sender, 0: unknown */
	bool from_job; /* what the check said on arrival */
	const char *data;
	size_t len;
};

typedef void jw_notify_kv_fn(void *ctx, const char *key, size_t klen,
    const char *val, size_t vlen);

/*
 * 0, or -1 with a message in err.  check tells whether a sender is of the
 * job; it is asked for a whole batch right after it is read, because a
 * sender that exits at once can only be checked until it is reaped.
 */
int jw_notify_open(struct jw_notify *n, jw_notify_check_fn *check, void *ctx,
    char *err, size_t errlen);
void jw_notify_close(struct jw_notify *n);
/* One datagram: 1 and *m, 0 when none is waiting, -1 on a socket error
 * or when out of memory (errno).  Truncated datagrams are counted as dropped and skipped. */
int jw_notify_recv(struct jw_notify *n, struct jw_notify_msg *m);
/* Calls fn for each KEY=VALUE line; returns how many there were. */
size_t jw_notify_parse(const char *p, size_t len, jw_notify_kv_fn *fn,
    void *ctx);

/*
 * Build e->envp from environ: NOTIFY_SOCKET, WATCHDOG_USEC and
 * WATCHDOG_PID replaced by ours (addr NULL: notify off, none of them
 * changed; watchdog_usec 0: no WATCHDOG_*), and JOBWRAP_JOB_<tag>=1 added
 * (tag NULL: none; those of outer jobwraps stay).  envp stays NULL when
 * nothing changes.  0, or -1 when out of memory.
 */
int jw_childenv_build(struct jw_childenv *e, const char *addr,
    uint64_t watchdog_usec, const char *tag);
/* The slot the child completes with its pid, or NULL. */
char *jw_childenv_pid_slot(struct jw_childenv *e);
void jw_childenv_free(struct jw_childenv *e);

#endif
