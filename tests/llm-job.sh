#!/bin/sh
# An LLM-like job for `make demo`, shaped like the FilePromptForge CLI: it
# announces its run, streams "tokens" on stdout, logs on stderr, and talks
# sd_notify when jobwrap offers a socket.  Like a Python API client, it
# catches SIGTERM, says so and exits 143.
#
# The first attempt goes wrong the way the seeds' runs did: a request times
# out, the job logs its own retry ("Transient OpenAI failure on attempt
# 1/3, retrying in 2s: ..."), and the retried request then hangs without a
# sound, no heartbeat, no output.  Only jobwrap's idle timeout ends it.
# The second attempt streams its answer and exits 0.
#
# jobwrap does not tell the job its attempt number: the job leaves a marker
# file in the directory $LLM_JOB_STATE (tests/demo.sh sets it and removes
# the marker first).  Without LLM_JOB_STATE every run is a first attempt.
exec 9>&2	# stderr, also while it is redirected below
trap 'echo "llm-job: SIGTERM: closing the connection" >&9; exit 143' TERM

marker=${LLM_JOB_STATE:+$LLM_JOB_STATE/llm-job.attempted}

# sd_notify: one datagram to $NOTIFY_SOCKET (an abstract socket, "@...").
# The sender stays alive a moment after sending: jobwrap checks that the
# sender's pid belongs to the job, which it cannot do once the process is
# gone and reaped (systemd-notify has the same race).
notify() {
	[ -n "${NOTIFY_SOCKET:-}" ] || return 0
	/usr/bin/python3 - "$1" <<'EOF' || :
import os, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(sys.argv[1].encode(), addr)
time.sleep(0.2)
EOF
}

echo "[RUN_START] id=$$ model=demo-llm"
echo "llm-job: NOTIFY_SOCKET=${NOTIFY_SOCKET:-unset}" \
    "WATCHDOG_USEC=${WATCHDOG_USEC:-unset}" >&2
notify "READY=1
STATUS=request 1/3: generating"

if [ -z "$marker" ] || [ ! -e "$marker" ]; then
	[ -n "$marker" ] && : >"$marker"
	for i in 1 2 3; do
		echo "token chunk $i: the quick brown fox"
		sleep 0.3
	done
	# What a Python client logs when a call times out and it retries.
	echo "openai.APITimeoutError: Request timed out." >&2
	echo "Transient OpenAI failure on attempt 1/3, retrying in 2s:" \
	    "Request timed out." >&2
	# Request 2/3 hangs: no output, no heartbeat, no notify.  (In the
	# background and waited for, so that SIGTERM runs the trap at once; the
	# shell's own "Terminated" report of the killed sleep goes nowhere.)
	{ sleep 600 & wait $!; } 2>/dev/null
	exit 1
fi

i=0
while [ $i -lt 5 ]; do
	i=$((i + 1))
	echo "token chunk $i: jumps over the lazy dog"
	sleep 0.4
done
notify "STATUS=done: 5 chunks"
echo "llm-job: request 1/3 done, answer written" >&2
exit 0
