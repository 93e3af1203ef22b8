#!/bin/sh
# Run libFuzzer targets of tests/fuzz/ for SECONDS each; the seed corpus
# tests/fuzz/corpus/TARGET/ is only read, what the fuzzer finds goes to
# build/fuzz/corpus/TARGET/ and a crash, leak or timeout to
# build/fuzz/TARGET-crash-*.  Prints "fuzz TARGET: ok|FAILED ..." per
# target and exits 1 when one failed.
# usage: tests/fuzz/run.sh SECONDS TARGET...
set -u
secs=$1
shift
status=0
for t in "$@"; do
	bin=build/fuzz/$t
	work=build/fuzz/corpus/$t
	log=build/fuzz/$t.log
	mkdir -p "$work"
	dict=
	[ -f tests/fuzz/$t.dict ] && dict=-dict=tests/fuzz/$t.dict
	# -timeout: one input taking 10 s is a hang; -rss_limit_mb: a leak
	# or blow-up; leaks are reported by LeakSanitizer at each input.
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz/"$t"- \
	    $dict "$work" tests/fuzz/corpus/"$t" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		persec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
		cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1)
		echo "fuzz $t: ok, ${runs:-?} runs in ${secs}s" \
		    "(${persec:-?}/s, ${cov:-cov: ?})"
	else
		echo "fuzz $t: FAILED, see $log:"
		grep -E 'ERROR|property violated|SUMMARY|Test unit written' \
		    "$log" | head -n 8
		status=1
	fi
done
exit $status
