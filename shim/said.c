/* said.c: pattern matches and sd_notify datagrams to events. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobwrap.h"
#include "json.h"
#include "notify.h"
#include "said.h"

void
jw_said_init(struct jw_said *d, const struct jw_config *cfg,
    struct jw_events *ev, struct jw_run *run)
{
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->ev = ev;
	d->run = run;
}

static void
clear_error(struct jw_run *r)
{
	free(r->last_error);
	r->last_error = NULL;
	r->last_error_len = 0;
}

void
jw_said_forget(struct jw_said *d)
{
	d->ready = false;
	json_decref(d->status);
	d->status = NULL;
	clear_error(d->run);
}

void
jw_said_recovered(struct jw_said *d)
{
	clear_error(d->run);
}

void
jw_said_free(struct jw_said *d)
{
	json_decref(d->status);
	d->status = NULL;
	clear_error(d->run);
}

static void
say(struct jw_said *d, const char *name, json_t *fields)
{
	if (fields == NULL)
		d->failed = true;
	else
		jw_events_emit(d->ev, name, fields);
}

static void
set_error(struct jw_said *d, const char *p, size_t n)
{
	char *copy = malloc(n ? n : 1);

	if (copy == NULL) {
		d->failed = true;
		return;
	}
	memcpy(copy, p, n);
	clear_error(d->run);
	d->run->last_error = copy;
	d->run->last_error_len = n;
}

static bool
matches(const struct jw_pattern *pat, const char *line, size_t len)
{
	regmatch_t m = { 0, (regoff_t)len };

	return pat->src != NULL &&
	    regexec(&pat->re, line, 1, &m, REG_STARTEND) == 0;
}

void
jw_said_line(struct jw_said *d, const char *stream, const char *line,
    size_t len)
{
	if (matches(&d->cfg->retry_pattern, line, len)) {
		d->run->retries_seen++;
		say(d, JW_EV_RETRY,
		    json_pack("{s:i, s:s, s:s, s:s, s:o}", "attempt",
			(int)d->run->attempt, "source", "pattern", "reason",
			"pattern", "stream", stream, "line",
			jw_json_bytes(line, len)));
	}
	if (matches(&d->cfg->error_pattern, line, len))
		set_error(d, line, len);
}

/* One datagram being read. */
struct datagram {
	struct jw_said *d;
	json_t *fields;
	bool news; /* more than WATCHDOG=1 and X_RETRY */
};

static bool
key_is(const char *k, size_t kl, const char *name)
{
	return kl == strlen(name) && memcmp(k, name, kl) == 0;
}

static void
errno_error(struct jw_said *d, const char *v, size_t vl)
{
	char buf[160], num[16];
	long e;

	snprintf(num, sizeof(num), "%.*s", (int)(vl < 15 ? vl : 15), v);
	e = strtol(num, NULL, 10);
	snprintf(buf, sizeof(buf), "ERRNO=%s: %s", num,
	    e > 0 && e < 4096 ? strerror((int)e) : "not an errno value");
	set_error(d, buf, strlen(buf));
}

static void
on_key(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct datagram *g = ctx;
	struct jw_said *d = g->d;
	json_t *key;

	if (key_is(k, kl, "WATCHDOG") && vl == 1 && v[0] == '1')
		return; /* being heard is the whole message */
	if (key_is(k, kl, "X_RETRY")) {
		d->run->retries_seen++;
		say(d, JW_EV_RETRY,
		    json_pack("{s:i, s:s, s:o}", "attempt",
			(int)d->run->attempt, "source", "notify", "reason",
			jw_json_bytes(v, vl)));
		return;
	}
	g->news = true;
	if (key_is(k, kl, "READY")) {
		d->ready = d->ready || (vl == 1 && v[0] == '1');
		return;
	}
	if (key_is(k, kl, "STATUS")) {
		json_decref(d->status);
		if ((d->status = jw_json_bytes(v, vl)) == NULL)
			d->failed = true;
		return;
	}
	if (key_is(k, kl, "ERRNO"))
		errno_error(d, v, vl);
	/* Keys may be any bytes too: escaped like values. */
	key = jw_json_bytes(k, kl);
	if (key == NULL || g->fields == NULL ||
	    json_object_set_new(g->fields, json_string_value(key),
		jw_json_bytes(v, vl)) == -1)
		d->failed = true;
	json_decref(key);
}

bool
jw_said_datagram(struct jw_said *d, const char *p, size_t len)
{
	struct datagram g = { d, json_object(), false };

	if (jw_notify_parse(p, len, on_key, &g) == 0) {
		json_decref(g.fields);
		return false;
	}
	if (!g.news) {
		json_decref(g.fields);
		return true;
	}
	say(d, JW_EV_NOTIFY,
	    json_pack("{s:i, s:b, s:O?, s:o}", "attempt", (int)d->run->attempt,
		"ready", d->ready, "status", d->status, "fields", g.fields));
	return true;
}
