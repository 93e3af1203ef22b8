/*
 * procid.h: what tells one process from another that had the same pid:
 * the boot it belongs to and its start time in clock ticks since boot.
 */
#ifndef JW_PROCID_H
#define JW_PROCID_H

#include <sys/types.h>

#define JW_BOOT_ID_LEN 36

struct jw_procstat {
	char state; /* 'R', 'S', ..., 'Z' */
	pid_t ppid;
	pid_t pgid;
	unsigned long long start; /* ticks since boot */
};

/* This boot's id (/proc/sys/kernel/random/boot_id).  0 or -1. */
int jw_boot_id(char buf[JW_BOOT_ID_LEN + 1]);

/* From /proc/PID/stat.  0, or -1 when it is gone or unreadable. */
int jw_proc_stat(pid_t pid, struct jw_procstat *ps);

#endif
