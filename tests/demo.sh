#!/bin/sh
# `make demo`: jobwrap, with the default configuration (conf/jobwrap.ini)
# and a few options, supervises an LLM-like job (tests/llm-job.sh) whose
# first attempt logs a retry of its own and then hangs in silence: the idle
# timeout cuts it, jobwrap retries, and the second attempt succeeds.  The
# job's own output is prefixed "job|"; jobwrap's events arrive on fd 3 and
# are shown one line each by tests/demo-view.py.  Takes about 8 s.
set -u
mkdir -p build/demo
status=build/demo/status.json
# The job finds out it is on a later attempt from a marker file it leaves
# here (jobwrap does not tell it): a fresh demo starts without one.
LLM_JOB_STATE=build/demo
export LLM_JOB_STATE
rm -f "$LLM_JOB_STATE/llm-job.attempted"
# The FPF profile's patterns (conf/fpf.ini): the job's own retries, and the
# last line of a Python traceback.
retry_pattern='Transient OpenAI (error|failure) on attempt [0-9]+/[0-9]+, retrying in'
error_pattern='^[A-Za-z0-9_.]*Error(: |$)'
echo "\$ LLM_JOB_STATE=build/demo \\"
echo "  jobwrap -c conf/jobwrap.ini -t 60s -k 2s --heartbeat 1s \\"
echo "      --idle-timeout 3s --retries 2 --retry-on idle --backoff 500ms \\"
echo "      --retry-pattern '$retry_pattern' \\"
echo "      --error-pattern '$error_pattern' \\"
echo "      --events-fd 3 --status-file $status -- tests/llm-job.sh"
echo
{
	shim/jobwrap -c conf/jobwrap.ini -t 60s -k 2s --heartbeat 1s \
	    --idle-timeout 3s --retries 2 --retry-on idle --backoff 500ms \
	    --retry-pattern "$retry_pattern" --error-pattern "$error_pattern" \
	    --events-fd 3 --status-file "$status" -- tests/llm-job.sh \
	    3>&1 1>&4 2>&4 | /usr/bin/python3 -u tests/demo-view.py
} 4>&1 | sed -u 's/^\([^ ]\)/  job| \1/'
echo
echo "jobwrap exited; the final status ($status):"
sed 's/^/  /' "$status"
