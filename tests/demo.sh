#!/bin/sh
# `make demo`: jobwrap, with the default configuration (conf/jobwrap.ini),
# supervises an LLM-like job that is slower than its 5 s deadline.  The
# job's own output is prefixed "job|"; jobwrap's events arrive on fd 3.
set -u
mkdir -p build/demo
status=build/demo/status.json
echo "\$ jobwrap -c conf/jobwrap.ini -t 5s -k 2s --heartbeat 1s \\"
echo "      --events-fd 3 --status-file $status -- tests/llm-job.sh"
echo
{
	shim/jobwrap -c conf/jobwrap.ini -t 5s -k 2s --heartbeat 1s \
	    --events-fd 3 --status-file "$status" -- tests/llm-job.sh \
	    3>&1 1>&4 2>&4 | /usr/bin/python3 -u tests/demo-view.py
} 4>&1 | sed -u 's/^\([^ ]\)/  job| \1/'
echo
echo "jobwrap exited; the final status ($status):"
sed 's/^/  /' "$status"
