#!/bin/sh
# Static analysis, part of `make check` (and alone: `make lint`):
# clang-format (layout, .clang-format), cppcheck (.cppcheck-suppressions)
# and clang-tidy (.clang-tidy), each one check that passes or fails.  The
# files each tool looks at are LINT_FORMAT, LINT_CPPCHECK and LINT_TIDY,
# which the Makefile sets.  Ends with one line "lint: N passed, N failed".
# usage: tests/lint.sh
set -u
: "${LINT_FORMAT:?set by the Makefile}" "${LINT_CPPCHECK:?}" "${LINT_TIDY:?}"
passed=0
failed=0

run() {		# run NAME COMMAND...: one check
	name=$1
	shift
	echo "== lint: $name"
	start=$(date +%s)
	if "$@"; then
		passed=$((passed + 1))
		r=passed
	else
		failed=$((failed + 1))
		r=FAILED
	fi
	echo "$name: $r ($(($(date +%s) - start)) s)"
}

# The compiler's view of the files: the Makefile's ALL_CFLAGS without
# the warnings, which are gcc's business.  One clang-tidy per file, as
# many at a time as there are CPUs, the largest files first so that none
# is left to run alone at the end; its "N warnings generated." (in system
# headers, not shown) is noise.
tidy() {
	out=$(mktemp)
	# shellcheck disable=SC2011,SC2046,SC2086	# our own plain names
	ls -S $LINT_TIDY | xargs -P "$(nproc)" -I{} \
	    clang-tidy --quiet {} -- -std=gnu11 -D_GNU_SOURCE -Iinclude \
	    $(pkg-config --cflags inih jansson libseccomp) >"$out" 2>&1
	rc=$?
	grep -v '^[0-9]* warnings\{0,1\} generated\.$' "$out"
	rm -f "$out"
	return $rc
}

# shellcheck disable=SC2086	# the lists are globs, split on purpose
run clang-format clang-format --dry-run --Werror $LINT_FORMAT
# shellcheck disable=SC2086
run cppcheck cppcheck -q --error-exitcode=1 --std=c11 -D_GNU_SOURCE \
    -Iinclude --enable=warning,style,performance,portability \
    --library=posix --inline-suppr \
    --suppressions-list=.cppcheck-suppressions $LINT_CPPCHECK
run clang-tidy tidy

echo "lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
