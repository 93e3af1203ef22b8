#!/bin/sh
# An LLM-like job for `make demo`: it announces its run, streams "tokens"
# on stdout, logs a slow call's progress on stderr every second, and runs
# longer than the demo's deadline on purpose.  Like a Python API client, it
# catches SIGTERM, says so and exits 143.
trap 'echo "llm-job: SIGTERM: closing the connection" >&2; exit 143' TERM
echo "[RUN_START] id=$$ model=demo-llm"
i=0
while :; do
	i=$((i + 1))
	echo "llm-job: request 1/3 still waiting (${i}s elapsed)" >&2
	echo "token chunk $i: the quick brown fox"
	sleep 1
done
