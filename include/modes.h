/*
 * modes.h: looking at runs from outside.  Each returns jobwrap's exit
 * status (see jobwrap(1)).
 */
#ifndef JW_MODES_H
#define JW_MODES_H

#include "config.h"

int jw_inspect(const struct jw_config *c); /* --inspect */
int jw_reap(const struct jw_config *c);	   /* --reap */
int jw_cancel(const struct jw_config *c);  /* --cancel */
int jw_follow(const struct jw_config *c);  /* --follow */

#endif
