/* signame.h: signal names and numbers. */
#ifndef JW_SIGNAME_H
#define JW_SIGNAME_H

#include <stddef.h>

#define JW_SIGNAME_BUFSZ 16

/* "TERM", "SIGTERM", "term", "15", "RTMIN+2": the number, or -1. */
int jw_signal_parse(const char *s);
/* "SIGTERM", "SIGRTMIN+2"; buf holds at least JW_SIGNAME_BUFSZ bytes. */
const char *jw_signal_name(int sig, char *buf, size_t len);

#endif
