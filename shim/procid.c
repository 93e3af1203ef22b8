/*
 * procid.c: a pid alone names a process only until it is reused; the
 * boot id and the start time make the name last.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procid.h"

/* A small /proc file, whole.  Its length, or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	while ((n = read(fd, buf, len - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int
jw_boot_id(char buf[JW_BOOT_ID_LEN + 1])
{
	char b[64];

	if (read_small("/proc/sys/kernel/random/boot_id", b, sizeof(b)) <
	    JW_BOOT_ID_LEN)
		return -1;
	memcpy(buf, b, JW_BOOT_ID_LEN);
	buf[JW_BOOT_ID_LEN] = '\0';
	return 0;
}

int
jw_proc_stat(pid_t pid, struct jw_procstat *ps)
{
	char path[64], buf[1024], *p;
	int pp, pg;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	/* The name may hold ')' and spaces: fields start after the last
	 * ')'.  Then: state ppid pgrp ..., field 22 is starttime.
	 * NOLINTBEGIN(cert-err34-c): the kernel's numbers fit. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
		"%c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
		"%*d %*d %*d %*d %llu",
		&ps->state, &pp, &pg, &ps->start) != 4)
		return -1;
	/* NOLINTEND(cert-err34-c) */
	ps->ppid = pp;
	ps->pgid = pg;
	return 0;
}
