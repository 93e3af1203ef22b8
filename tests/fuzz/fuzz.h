/*
 * fuzz.h: what every libFuzzer target of tests/fuzz/ shares.
 *
 * A property that does not hold is a finding: CHECK prints it and aborts,
 * so libFuzzer saves the input as crash-*.
 */
#ifndef JW_FUZZ_H
#define JW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: property violated: %s\n", \
			    __FILE__, __LINE__, #cond);                   \
			abort();                                          \
		}                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* data as a C string: up to its first NUL, in a buffer of exactly that
 * size, so that ASan sees a read past the end. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

#endif
