/*
 * lines N [EVERY [EXIT]]
 *
 * Benchmark helper: write N short log lines to stderr,
 *   "log line 000123: all good\n"  (26 bytes each),
 * in 64 KiB writes, as a chatty job's logging would reach a pipe.  With
 * EVERY > 0, line i (counting from 1) is instead, when i % EVERY == 0,
 *   "Transient OpenAI error on attempt 1/3, retrying in 2s: bench\n"
 * and, when i % EVERY == EVERY / 2,
 *   "RuntimeError: bench\n"
 * which FPF's retry and error patterns (conf/fpf.ini) match: the benchmark
 * checks that jobwrap saw N / EVERY of each.  Exits EXIT (default 0): the
 * check runs with 1, since a successful attempt clears last_error.  Static,
 * like jobwrap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];
static size_t used;

static int
flush(void)
{
	size_t off = 0;

	while (off < used) {
		ssize_t n = write(2, buf + off, used - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	used = 0;
	return 0;
}

static int
put(const char *s, size_t n)
{
	if (used + n > sizeof(buf) && flush() == -1)
		return -1;
	memcpy(buf + used, s, n);
	used += n;
	return 0;
}

int
main(int argc, char **argv)
{
	static const char retry[] =
	    "Transient OpenAI error on attempt 1/3, retrying in 2s: bench\n";
	static const char error[] = "RuntimeError: bench\n";
	unsigned long n, every = 0;
	int status = 0;
	char line[64];

	if (argc < 2 || argc > 4) {
		fputs("usage: lines N [EVERY [EXIT]]\n", stderr);
		return 2;
	}
	n = strtoul(argv[1], NULL, 10);
	if (argc >= 3)
		every = strtoul(argv[2], NULL, 10);
	if (argc == 4)
		status = atoi(argv[3]);
	for (unsigned long i = 1; i <= n; i++) {
		int rc;

		if (every > 0 && i % every == 0)
			rc = put(retry, sizeof(retry) - 1);
		else if (every > 1 && i % every == every / 2)
			rc = put(error, sizeof(error) - 1);
		else {
			int len = snprintf(line, sizeof(line),
			    "log line %06lu: all good\n", i % 1000000);
			rc = put(line, (size_t)len);
		}
		if (rc == -1) {
			perror("lines: write");
			return 1;
		}
	}
	if (flush() == -1) {
		perror("lines: write");
		return 1;
	}
	return status;
}
