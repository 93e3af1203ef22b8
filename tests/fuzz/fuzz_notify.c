/*
 * fuzz_notify: sd_notify datagrams, as the supervisor hears them.
 *
 * jw_notify_parse(): the KEY=VALUE lines it reports are exactly those of
 * an independent split (lines at '\n', key up to the first '=', not
 * empty), in order, each pointing into the datagram.
 *
 * jw_said_datagram() (said.c, driven without a socket: jw_events_emit()
 * is replaced below): false exactly when the datagram has no KEY=VALUE
 * line; one retry event per X_RETRY; one notify event when something else
 * than WATCHDOG=1 or X_RETRY was said, whose ready, status and fields are
 * what the datagrams said; every event encodes to a JSON line that parses.
 * jw_said_line() gets every line too (a retry and an error pattern).
 *
 * Input: datagrams separated by two NUL bytes.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "events.h"
#include "fuzz.h"
#include "jobwrap.h"
#include "json.h"
#include "notify.h"
#include "run.h"
#include "said.h"

/* ---- the events said.c emits ------------------------------------ */

static struct {
	size_t retry_notify, retry_pattern, notify;
	json_t *last_notify; /* the last notify event's fields */
} seen;

uint64_t
jw_events_emit(struct jw_events *ev, const char *name, json_t *fields)
{
	static uint64_t seq;
	json_error_t e;
	json_t *back;
	char *line;
	size_t len;

	(void)ev;
	CHECK(fields != NULL && json_is_object(fields));
	CHECK(json_integer_value(json_object_get(fields, "attempt")) == 1);
	CHECK(json_object_set_new(fields, "event", json_string(name)) == 0);
	line = jw_json_line(fields, 65536, &len);
	CHECK(line != NULL && len <= 65536 && line[len - 1] == '\n');
	back = json_loads(line, JSON_ALLOW_NUL, &e);
	CHECK(back != NULL);
	if (strcmp(name, JW_EV_RETRY) == 0) {
		const char *src = json_string_value(
		    json_object_get(back, "source"));
		CHECK(src != NULL);
		if (strcmp(src, "notify") == 0)
			seen.retry_notify++;
		else {
			CHECK(strcmp(src, "pattern") == 0);
			seen.retry_pattern++;
		}
		json_decref(back);
	} else {
		CHECK(strcmp(name, JW_EV_NOTIFY) == 0);
		seen.notify++;
		json_decref(seen.last_notify);
		seen.last_notify = back;
	}
	free(line);
	json_decref(fields);
	return ++seq;
}

/* ---- the reference split ---------------------------------------- */

struct kv {
	const char *k, *v;
	size_t kl, vl;
};

/* The KEY=VALUE lines of [p, p + n), in order; their count. */
static size_t
ref_split(const char *p, size_t n, struct kv *out, size_t max)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '\n')
			continue;
		/* The line is [start, i). */
		for (size_t j = start; j < i; j++)
			if (p[j] == '=') {
				if (j > start && count < max)
					out[count] = (struct kv){ p + start,
						p + j + 1, j - start,
						i - j - 1 };
				count += j > start;
				break;
			}
		start = i + 1;
	}
	return count;
}

struct parsed {
	const char *base;
	size_t len, n, max;
	struct kv *want;
};

static void
on_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	struct parsed *p = ctx;
	const struct kv *w;

	CHECK(p->n < p->max);
	w = &p->want[p->n++];
	CHECK(k == w->k && kl == w->kl && v == w->v && vl == w->vl);
	CHECK(k >= p->base && v + vl <= p->base + p->len);
	CHECK(kl > 0 && memchr(k, '\n', kl) == NULL &&
	    memchr(k, '=', kl) == NULL && memchr(v, '\n', vl) == NULL);
}

static bool
is(const struct kv *kv, const char *key)
{
	return kv->kl == strlen(key) && memcmp(kv->k, key, kv->kl) == 0;
}

static bool
is_value(const struct kv *kv, const char *key, const char *val)
{
	return is(kv, key) && kv->vl == strlen(val) &&
	    memcmp(kv->v, val, kv->vl) == 0;
}

/* ---- one datagram ----------------------------------------------- */

static struct jw_config cfg;

static void
datagram(struct jw_said *d, const char *p, size_t n, bool *ready,
    json_t **status)
{
	size_t count = ref_split(p, n, NULL, 0), got;
	struct kv *want = calloc(count + 1, sizeof(*want));
	struct parsed pr = { p, n, 0, count, want };
	size_t retries = 0, notify0 = seen.notify;
	json_t *fields = json_object();
	bool news = false;

	CHECK(want != NULL && fields != NULL);
	ref_split(p, n, want, count);
	got = jw_notify_parse(p, n, on_kv, &pr);
	CHECK(got == count && pr.n == count);

	/* What said.c must make of it. */
	for (size_t i = 0; i < count; i++) {
		const struct kv *kv = &want[i];
		json_t *key;

		if (is_value(kv, "WATCHDOG", "1"))
			continue;
		if (is(kv, "X_RETRY")) {
			retries++;
			continue;
		}
		news = true;
		if (is(kv, "READY")) {
			*ready = *ready || is_value(kv, "READY", "1");
			continue;
		}
		if (is(kv, "STATUS")) {
			json_decref(*status);
			*status = jw_json_bytes(kv->v, kv->vl);
			continue;
		}
		key = jw_json_bytes(kv->k, kv->kl);
		CHECK(key != NULL);
		CHECK(json_object_set_new(fields, json_string_value(key),
			  jw_json_bytes(kv->v, kv->vl)) == 0);
		json_decref(key);
	}

	uint64_t r0 = d->run->retries_seen;
	size_t rn0 = seen.retry_notify;
	CHECK(jw_said_datagram(d, p, n) == (count > 0));
	CHECK(!d->failed);
	CHECK(d->run->retries_seen - r0 == retries);
	CHECK(seen.retry_notify - rn0 == retries);
	CHECK(d->ready == *ready);
	CHECK(json_equal(d->status, *status) || (!d->status && !*status));
	CHECK(seen.notify - notify0 == (news ? 1u : 0u));
	if (news) {
		json_t *ev = seen.last_notify;
		CHECK(json_is_true(json_object_get(ev, "ready")) == *ready);
		if (*status != NULL)
			CHECK(
			    json_equal(json_object_get(ev, "status"), *status));
		else
			CHECK(json_is_null(json_object_get(ev, "status")));
		CHECK(json_equal(json_object_get(ev, "fields"), fields));
	}
	json_decref(fields);
	free(want);

	/*
	 * The same bytes as output lines.  Like lines.c does, with a NUL
	 * after them: sanitizers' regexec() reads up to a NUL even with
	 * REG_STARTEND.
	 */
	char *text = malloc(n + 1);
	CHECK(text != NULL);
	memcpy(text, p, n);
	text[n] = '\0';
	for (size_t s = 0; s <= n;) {
		const char *nl = memchr(text + s, '\n', n - s);
		size_t e = nl ? (size_t)(nl - text) : n;
		size_t rp = seen.retry_pattern;
		jw_said_line(d, "stdout", text + s, e - s);
		CHECK(seen.retry_pattern - rp <= 1);
		CHECK(!d->failed);
		s = e + 1;
	}
	free(text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cfg.retry_pattern.src = "retry";
	cfg.error_pattern.src = "^[A-Za-z]*Error(: |$)";
	if (regcomp(&cfg.retry_pattern.re, cfg.retry_pattern.src,
		REG_EXTENDED | REG_NOSUB) != 0 ||
	    regcomp(&cfg.error_pattern.re, cfg.error_pattern.src,
		REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jw_run run = { .attempt = 1 };
	struct jw_said d;
	json_t *status = NULL;
	bool ready = false;
	size_t start = 0;

	jw_said_init(&d, &cfg, NULL, &run);
	for (size_t i = 0; i <= size; i++) {
		if (i < size &&
		    !(data[i] == 0 && i + 1 < size && data[i + 1] == 0))
			continue;
		/* An exact copy: ASan sees a read past its end. */
		size_t n = i - start;
		char *dg = malloc(n ? n : 1);
		CHECK(dg != NULL);
		memcpy(dg, data + start, n);
		datagram(&d, dg, n, &ready, &status);
		free(dg);
		start = i + 2;
		i++;
	}
	jw_said_free(&d);
	CHECK(run.last_error == NULL);
	json_decref(status);
	json_decref(seen.last_notify);
	seen.last_notify = NULL;
	return 0;
}
