/* log.h: jobwrap's own diagnostics on stderr. */
#ifndef JW_LOG_H
#define JW_LOG_H

/*
 * "jobwrap: message\n" on fd 2 if it can be written at once; dropped
 * otherwise, so a stalled stderr reader never stops supervision.  Events
 * and the status carry everything that matters; this is for people.
 */
void jw_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
