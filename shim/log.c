/* log.c: best-effort diagnostics that never block. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void
jw_warn(const char *fmt, ...)
{
	char buf[1024];
	struct pollfd p = { .fd = 2, .events = POLLOUT };
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "jobwrap: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return;
	/* A line this short goes out whole on a writable pipe or tty. */
	while (write(2, buf, (size_t)n) == -1 && errno == EINTR)
		;
}
