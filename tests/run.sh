#!/bin/sh
# Every test of `make check`: static analysis (tests/lint.sh: clang-format,
# cppcheck, clang-tidy), unit tests (cmocka, built with ASan+UBSan), a
# few seconds of each fuzz target (tests/fuzz/run.sh),
# the integration suite against shim/jobwrap, then against the ASan+UBSan
# build of jobwrap, then the example parents of tests/clients/ against
# both.  Ends with one line "check: N passed, N failed".
# usage: tests/run.sh PYTHON UNIT...
set -u
py=$1
shift
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {	# add the counts of a pytest or cmocka summary in $log
	p=$(grep -Eo '([0-9]+) passed' "$log" | tail -n 1 | grep -Eo '[0-9]+')
	f=$(grep -Eo '([0-9]+) (failed|error)' "$log" | awk '{s+=$1} END {print s+0}')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

echo "== lint"
sh tests/lint.sh >"$log" 2>&1
cat "$log"
p=$(sed -n 's/^lint: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log")
f=$(sed -n 's/^lint: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log")
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-1}))	# no summary: it did not even run

for u in "$@"; do
	echo "== unit: $u"
	if build/unit/"$u" >"$log" 2>&1; then :; else failed=$((failed + 1)); fi
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
done

# Each libFuzzer target of tests/fuzz/ for FUZZ_SMOKE seconds: one test.
for f in tests/fuzz/fuzz_*.c; do
	t=${f#tests/fuzz/fuzz_}
	t=${t%.c}
	echo "== fuzz: $t, ${FUZZ_SMOKE:-4}s"
	if sh tests/fuzz/run.sh "${FUZZ_SMOKE:-4}" "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done

echo "== integration: shim/jobwrap"
JOBWRAP=shim/jobwrap "$py" -m pytest -q -p no:cacheprovider tests/integration \
    2>&1 | tee "$log"
count
echo "== integration: build/san/jobwrap (ASan+UBSan)"
JOBWRAP=build/san/jobwrap "$py" -m pytest -q -p no:cacheprovider \
    -m "not nosan" tests/integration 2>&1 | tee "$log"
count

for bin in shim/jobwrap build/san/jobwrap; do
	echo "== clients: $bin"
	JOBWRAP=$bin "$py" -m pytest -q -p no:cacheprovider tests/clients \
	    2>&1 | tee "$log"
	count
done

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
