#!/bin/sh
# jobwrap benchmark: start-up overhead, relay throughput, peak RSS, deadline
# accuracy and tree-kill time, side by side with timeout(1), tini and
# dumb-init, in one run.  Prints a Markdown table to stdout and writes it to
# build/bench.md.  Always exits 0 once the figures are in, even when a target
# is missed (the table says **MISS**); exits non-zero only when it cannot
# measure.  Run from anywhere: `make bench` or `sh tests/bench/run.sh`.
# Needs: hyperfine, tini, dumb-init, coreutils, cc, /usr/bin/python3.
# Takes a little under two minutes.
set -eu

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
JW=build/bench/jobwrap		# a snapshot of shim/jobwrap, see below
PY=/usr/bin/python3		# Debian's, not the pyenv one on PATH
HELP=tests/bench/bench.py
OUTDIR=build/bench
MD=build/bench.md
TAG="jwbench-$$-$(date +%s%N)"	# in the environment of tree-kill children

RUNS=${BENCH_RUNS:-500}		# start-up: hyperfine -N runs per command
ROUNDS=${BENCH_ROUNDS:-5}	# ... split into this many interleaved rounds
WARMUP=${BENCH_WARMUP:-20}
RELAY_RUNS=${BENCH_RELAY_RUNS:-5}
DEADLINE_RUNS=${BENCH_DEADLINE_RUNS:-10}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for t in hyperfine tini dumb-init timeout dd cat cc; do
	command -v "$t" >/dev/null 2>&1 || die "missing $t (make deps-bench)"
done
[ -x "$PY" ] || die "missing $PY"
[ "$RUNS" -ge "$ROUNDS" ] || die "BENCH_RUNS < BENCH_ROUNDS"
if [ ! -x shim/jobwrap ]; then
	say "building shim/jobwrap"
	make --no-print-directory shim/jobwrap >&2
fi

TMP=$(mktemp -d /dev/shm/jwbench.XXXXXX)
cleanup() {
	# Kill by PID whatever still carries our tag (timeout(1) leaves the
	# tree's sleeps behind), then drop the scratch directory.
	"$PY" "$HELP" reap "$TAG" || :
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$OUTDIR"
# Others may rebuild shim/jobwrap while this runs: time one fixed binary.
cp shim/jobwrap "$JW.$$" && mv -f "$JW.$$" "$JW"
"$JW" --version >/dev/null || die "$JW does not run"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# fd3pipe: gives a command fd 3 = a pipe that it drains (hyperfine -N runs
# commands without a shell, so it cannot redirect).  Static, like jobwrap,
# so that its own cost is small and steady; it is subtracted anyway.
cc -std=gnu11 -O2 -Wall -Wextra -static -o "$OUTDIR/fd3pipe" \
	tests/bench/fd3pipe.c
FD3="$OUTDIR/fd3pipe"

# hyperfine's progress goes to stderr: stdout carries only the table.
hf() { hyperfine --style basic "$@" >&2; }

# ---- 1. start-to-exit overhead over /bin/true -------------------------------
# All with hyperfine -N (no shell).  "full" is measured two ways:
#  - file: --events-file and --status-file on /dev/shm, run directly, so its
#    overhead is median - median(/bin/true) like every other row;
#  - fd: the brief's `--events-fd 3 --status-file`, with fd 3 a pipe drained
#    by a live reader (fd3pipe).  fd3pipe costs a fork+exec of its own, so
#    that row's overhead is median(fd3pipe jobwrap ...) -
#    median(fd3pipe /bin/true): the same helper cost on both sides.
#    (`3>/dev/null` through sh would not be a pipe, and a shell adds
#    ~1 ms of noise of its own.)
C_TRUE="/bin/true"
C_TIMEOUT="timeout 10 /bin/true"
C_TINI="tini -s -- /bin/true"
C_TINIS="tini-static -s -- /bin/true"
C_DUMB="dumb-init /bin/true"
C_JW="$JW --heartbeat 0 -- /bin/true"
C_JWFILE="$JW --events-file $TMP/start.events --status-file $TMP/jwbench.status -- /bin/true"
C_FD3TRUE="$FD3 /bin/true"
C_JWFD="$FD3 $JW --events-fd 3 --status-file $TMP/jwbench.status -- /bin/true"

# Each must work before it is timed.
for c in "$C_TIMEOUT" "$C_TINI" "$C_DUMB" "$C_JW" "$C_JWFILE" "$C_FD3TRUE" \
    "$C_JWFD"; do
	# shellcheck disable=SC2086  # word splitting is the point
	$c >/dev/null || die "does not run: $c"
done
[ -s "$TMP/start.events" ] || die "no events written by: $C_JWFILE"
grep -q '"state": *"succeeded"' "$TMP/jwbench.status" ||
	die "no terminal status written by: $C_JWFD"
HAVE_TINIS=0
if command -v tini-static >/dev/null 2>&1; then HAVE_TINIS=1; fi

# hyperfine times one command after the other; to keep a load change on the
# machine from landing on one command only, the runs are split into
# $ROUNDS rounds that each time every command, and the report pools them.
say "1/5 start-to-exit overhead ($RUNS runs each, in $ROUNDS rounds)"
set -- "$C_TRUE" "$C_TIMEOUT" "$C_TINI"
[ $HAVE_TINIS = 1 ] && set -- "$@" "$C_TINIS"
set -- "$@" "$C_DUMB" "$C_JW" "$C_JWFILE" "$C_FD3TRUE" "$C_JWFD"
r=1
while [ $r -le "$ROUNDS" ]; do
	hf -N --runs $((RUNS / ROUNDS)) --warmup "$WARMUP" \
		--export-json "$TMP/startup-$r.json" "$@"
	r=$((r + 1))
done

# ---- 2. relay throughput ----------------------------------------------------
# Through sh (hyperfine's default shell): pipelines.  A shell start (~2 ms)
# is noise against ~1 s runs.
DD="dd if=/dev/zero bs=1M count=2048 status=none"
RELAY_BYTES=$((2048 * 1024 * 1024))
R_DIRECT="$DD | cat >/dev/null"
R_CATHOP="$DD | cat | cat >/dev/null"
R_JW="$JW --heartbeat 0 -- $DD | cat >/dev/null"
got=$($JW --heartbeat 0 -- $DD | wc -c)
[ "$got" -eq "$RELAY_BYTES" ] || die "jobwrap relayed $got of $RELAY_BYTES bytes"
RELAY_CHECK="$got of $RELAY_BYTES bytes"

say "2/5 relay throughput ($RELAY_RUNS runs each, interleaved)"
r=1
while [ $r -le "$RELAY_RUNS" ]; do
	hf --runs 1 --warmup $((r == 1)) --export-json "$TMP/relay-$r.json" \
		"$R_DIRECT" "$R_CATHOP" "$R_JW"
	r=$((r + 1))
done

# ---- 3. peak RSS ------------------------------------------------------------
say "3/5 peak RSS of the wrapper processes"
"$PY" "$HELP" rss "$TMP/rss.json" "$JW" "$TMP"

# ---- 4. deadline accuracy ---------------------------------------------------
D_JW="$JW -t 1 -k 1 -- sleep 10"
D_TIMEOUT="timeout 1 sleep 10"
say "4/5 deadline accuracy ($DEADLINE_RUNS runs each)"
r=1
while [ $r -le "$DEADLINE_RUNS" ]; do
	hf -N -i --runs 1 --export-json "$TMP/deadline-$r.json" \
		"$D_JW" "$D_TIMEOUT"
	r=$((r + 1))
done

# ---- 5. killing a 100-process tree ------------------------------------------
say "5/5 killing a 100-process tree"
"$PY" "$HELP" tree "$TMP/tree.json" "$JW" "$TAG" "$TMP"

# ---- report -----------------------------------------------------------------
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no -- shim include Makefile 2>/dev/null)" ]; then
	REV="$REV+dirty"
fi
PEERS="hyperfine $(hyperfine --version | cut -d' ' -f2), \
tini $(tini --version | cut -d' ' -f3), \
dumb-init $(dumb-init --version 2>&1 | cut -d' ' -f2), \
coreutils $(timeout --version | head -n 1 | awk '{print $NF}')"
JWFILE=$(file -b "$JW" 2>/dev/null | cut -d, -f1,4 || echo "?")
export BM_DATE="$(date -u '+%Y-%m-%d %H:%M:%S UTC')" BM_KERNEL="$(uname -r)" \
	BM_CPU="$CPU" BM_NPROC="$(nproc)" BM_REV="$REV" BM_PEERS="$PEERS" \
	BM_JWFILE="$JWFILE" BM_HAVE_TINIS="$HAVE_TINIS" \
	BM_LOAD="$LOAD0 at start, $LOAD1 at end" BM_ROUNDS="$ROUNDS" \
	C_TRUE C_TIMEOUT C_TINI C_TINIS C_DUMB C_JW C_JWFILE C_FD3TRUE C_JWFD \
	R_DIRECT R_CATHOP R_JW RELAY_BYTES RELAY_CHECK D_JW D_TIMEOUT
"$PY" - "$TMP/meta.json" <<'EOF'
import json, os, sys
e = os.environ
startup = {"true": e["C_TRUE"], "timeout": e["C_TIMEOUT"],
           "tini": e["C_TINI"], "dumbinit": e["C_DUMB"], "jw": e["C_JW"],
           "jw_file": e["C_JWFILE"], "fd3_true": e["C_FD3TRUE"],
           "jw_fd": e["C_JWFD"]}
if e["BM_HAVE_TINIS"] == "1":
    startup["tini_static"] = e["C_TINIS"]
json.dump({"date": e["BM_DATE"], "kernel": e["BM_KERNEL"], "cpu": e["BM_CPU"],
           "nproc": e["BM_NPROC"], "jobwrap_rev": e["BM_REV"],
           "load": e["BM_LOAD"], "rounds": int(e["BM_ROUNDS"]),
           "jobwrap_file": e["BM_JWFILE"], "peers": e["BM_PEERS"],
           "startup_cmds": startup,
           "relay_cmds": {"direct": e["R_DIRECT"], "cathop": e["R_CATHOP"],
                          "jw": e["R_JW"]},
           "relay_bytes": int(e["RELAY_BYTES"]),
           "relay_check": e["RELAY_CHECK"],
           "deadline_cmds": {"jw": e["D_JW"], "timeout": e["D_TIMEOUT"]}},
          open(sys.argv[1], "w"), indent=1)
EOF
"$PY" "$HELP" report "$TMP" "$MD"
say "written to $ROOT/$MD"
exit 0
