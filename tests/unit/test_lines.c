/* Unit tests: cutting a byte stream into lines for pattern matching. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lines.h"

struct got {
	char text[4096]; /* lines joined with '|' (short ones) */
	size_t n, lens[16];
};

static void
collect(void *ctx, const char *line, size_t len)
{
	struct got *g = ctx;
	size_t at = strlen(g->text);

	if (g->n < 16)
		g->lens[g->n] = len;
	g->n++;
	if (len < 100 && at + len + 2 < sizeof(g->text)) {
		memcpy(g->text + at, line, len);
		memcpy(g->text + at + len, "|", 2);
	}
}

static void
feed_in_pieces(const char *s, size_t piece, struct got *g)
{
	struct jw_lines l;
	size_t n = strlen(s);

	assert_int_equal(jw_lines_init(&l, collect, g, NULL), 0);
	for (size_t i = 0; i < n; i += piece)
		jw_lines_feed(&l, s + i, n - i < piece ? n - i : piece);
	jw_lines_end(&l);
	jw_lines_free(&l);
}

static void
test_split_any_way(void **state)
{
	const char *in = "one\ntwo\r\n\nthree\r\r\nlast";

	(void)state;
	for (size_t piece = 1; piece <= strlen(in); piece++) {
		struct got g = { 0 };
		feed_in_pieces(in, piece, &g);
		assert_string_equal(g.text, "one|two||three\r|last|");
		assert_int_equal(g.n, 5);
	}
}

static void
test_no_trailing_line(void **state)
{
	struct got g = { 0 };

	(void)state;
	feed_in_pieces("a\nb\n", 3, &g);
	assert_string_equal(g.text, "a|b|");
}

static void
test_long_line_matched_once_on_its_start(void **state)
{
	size_t big = JW_LINE_MAX * 3 + 17;
	char *s = malloc(big + 8);

	(void)state;
	assert_non_null(s);
	memset(s, 'x', big);
	memcpy(s + big, "\nok\n", 5);
	for (size_t piece = 1000; piece < big; piece = piece * 7 + 3) {
		struct got g = { 0 };
		feed_in_pieces(s, piece, &g);
		assert_int_equal(g.n, 2);
		assert_int_equal(g.lens[0], JW_LINE_MAX);
		assert_int_equal(g.lens[1], 2);
	}
	free(s);
}

static void
test_exactly_max_is_not_cut(void **state)
{
	char *s = malloc(JW_LINE_MAX + 2);
	struct got g = { 0 };

	(void)state;
	assert_non_null(s);
	memset(s, 'y', JW_LINE_MAX);
	s[JW_LINE_MAX] = '\n';
	s[JW_LINE_MAX + 1] = '\0';
	feed_in_pieces(s, 4096, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.lens[0], JW_LINE_MAX);
	free(s);
}

/* Lines that hold "ab", in order, joined with '|'. */
struct cands {
	char text[1 << 16];
};

static void
collect_ab(void *ctx, const char *line, size_t len)
{
	struct cands *c = ctx;

	if (memmem(line, len, "ab", 2) == NULL)
		return;
	strncat(c->text, line, len);
	strcat(c->text, "|");
}

static void
run_lines(const char *in, size_t n, size_t piece, const struct jw_literals *f,
    struct cands *c)
{
	struct jw_lines l;

	c->text[0] = '\0';
	assert_int_equal(jw_lines_init(&l, collect_ab, c, f), 0);
	for (size_t i = 0; i < n; i += piece)
		jw_lines_feed(&l, in + i, n - i < piece ? n - i : piece);
	jw_lines_end(&l);
	jw_lines_free(&l);
}

static void
test_filter_hands_over_every_candidate(void **state)
{
	static struct cands with, without;
	struct jw_literals f = { 0 };
	unsigned seed = 7;
	char in[2048];

	(void)state;
	assert_int_equal(jw_literals_add(&f, "ab"), 0);
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)rand_r(&seed) % sizeof(in);
		for (size_t i = 0; i < n; i++)
			in[i] = "ab\nxx"[rand_r(&seed) % 5];
		for (size_t piece = 1; piece < 70; piece += 13) {
			run_lines(in, n, piece, NULL, &without);
			run_lines(in, n, piece, &f, &with);
			assert_string_equal(with.text, without.text);
		}
	}
	jw_literals_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_any_way),
		cmocka_unit_test(test_no_trailing_line),
		cmocka_unit_test(test_long_line_matched_once_on_its_start),
		cmocka_unit_test(test_exactly_max_is_not_cut),
		cmocka_unit_test(test_filter_hands_over_every_candidate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
