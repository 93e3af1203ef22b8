/* supervisor.h: run the command to one terminal record. */
#ifndef JW_SUPERVISOR_H
#define JW_SUPERVISOR_H

#include "config.h"

/* Supervise c->argv as the contract says; returns jobwrap's exit status. */
int jw_supervise(const struct jw_config *c);

#endif
