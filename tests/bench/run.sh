#!/bin/sh
# jobwrap benchmark: start-up overhead, relay throughput, peak RSS, deadline
# accuracy and tree-kill time, side by side with timeout(1), tini and
# dumb-init, then the cost of output patterns, of sd_notify datagrams and of
# the seccomp filter, in one run.  Prints a Markdown table to stdout and
# writes it to build/bench.md.  Always exits 0 once the figures are in, even
# when a target is missed (the table says **MISS**); exits non-zero only when
# it cannot measure.  Run from anywhere: `make bench` or
# `sh tests/bench/run.sh`.
# Needs: hyperfine, tini, dumb-init, coreutils, cc, make, /usr/bin/python3
# (and the build dependencies: section 8 links jobwrap's objects).
# Takes a little over two minutes.
#
# Some sections only: BENCH_SECTIONS="6 7" (numbers as in the report), best
# with BENCH_MD=elsewhere.md so that the full report is not overwritten.
set -eu

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
JW=build/bench/jobwrap		# a snapshot of shim/jobwrap, see below
PY=/usr/bin/python3		# Debian's, not the pyenv one on PATH
HELP=tests/bench/bench.py
OUTDIR=build/bench
MD=${BENCH_MD:-build/bench.md}
TAG="jwbench-$$-$(date +%s%N)"	# in the environment of tree-kill children

RUNS=${BENCH_RUNS:-500}		# start-up: hyperfine -N runs per command
ROUNDS=${BENCH_ROUNDS:-5}	# ... split into this many interleaved rounds
WARMUP=${BENCH_WARMUP:-20}
RELAY_RUNS=${BENCH_RELAY_RUNS:-5}
DEADLINE_RUNS=${BENCH_DEADLINE_RUNS:-10}
PATTERN_RUNS=${BENCH_PATTERN_RUNS:-10}	# 6: interleaved runs per command
LINES=${BENCH_LINES:-1000000}	# 6: lines on stderr per run
NOTIFY_K=${BENCH_NOTIFY_K:-200000}	# 7: datagrams per run
NOTIFY_RUNS=${BENCH_NOTIFY_RUNS:-3}	# 7: runs per kind of datagram
SC_BUILDS=${BENCH_SC_BUILDS:-200}	# 8: warm filter builds, in a row
SC_COLD=${BENCH_SC_COLD:-50}	# 8: cold builds, one per fresh process
SC_LOADS=${BENCH_SC_LOADS:-1000}	# 8: filter loads, one per fresh child
SECTIONS=${BENCH_SECTIONS:-1 2 3 4 5 6 7 8}

say() { printf 'bench: %s\n' "$*" >&2; }
want() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
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
# lines and notifyflood: the jobs of sections 6 and 7, static for the same
# reason.
for h in fd3pipe lines notifyflood; do
	cc -std=gnu11 -O2 -Wall -Wextra -static -o "$OUTDIR/$h" \
		"tests/bench/$h.c"
done
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

HAVE_TINIS=0
if command -v tini-static >/dev/null 2>&1; then HAVE_TINIS=1; fi

if want 1; then
# Each must work before it is timed.
for c in "$C_TIMEOUT" "$C_TINI" "$C_DUMB" "$C_JW" "$C_JWFILE" "$C_FD3TRUE" \
    "$C_JWFD"; do
	# shellcheck disable=SC2086  # word splitting is the point
	$c >/dev/null || die "does not run: $c"
done
[ -s "$TMP/start.events" ] || die "no events written by: $C_JWFILE"
grep -q '"state": *"succeeded"' "$TMP/jwbench.status" ||
	die "no terminal status written by: $C_JWFD"

# hyperfine times one command after the other; to keep a load change on the
# machine from landing on one command only, the runs are split into
# $ROUNDS rounds that each time every command, and the report pools them.
say "1/8 start-to-exit overhead ($RUNS runs each, in $ROUNDS rounds)"
set -- "$C_TRUE" "$C_TIMEOUT" "$C_TINI"
[ $HAVE_TINIS = 1 ] && set -- "$@" "$C_TINIS"
set -- "$@" "$C_DUMB" "$C_JW" "$C_JWFILE" "$C_FD3TRUE" "$C_JWFD"
r=1
while [ $r -le "$ROUNDS" ]; do
	hf -N --runs $((RUNS / ROUNDS)) --warmup "$WARMUP" \
		--export-json "$TMP/startup-$r.json" "$@"
	r=$((r + 1))
done
fi

# ---- 2. relay throughput ----------------------------------------------------
# Through sh (hyperfine's default shell): pipelines.  A shell start (~2 ms)
# is noise against ~1 s runs.
DD="dd if=/dev/zero bs=1M count=2048 status=none"
RELAY_BYTES=$((2048 * 1024 * 1024))
R_DIRECT="$DD | cat >/dev/null"
R_CATHOP="$DD | cat | cat >/dev/null"
R_JW="$JW --heartbeat 0 -- $DD | cat >/dev/null"
RELAY_CHECK=
if want 2; then
got=$($JW --heartbeat 0 -- $DD | wc -c)
[ "$got" -eq "$RELAY_BYTES" ] || die "jobwrap relayed $got of $RELAY_BYTES bytes"
RELAY_CHECK="$got of $RELAY_BYTES bytes"

say "2/8 relay throughput ($RELAY_RUNS runs each, interleaved)"
r=1
while [ $r -le "$RELAY_RUNS" ]; do
	hf --runs 1 --warmup $((r == 1)) --export-json "$TMP/relay-$r.json" \
		"$R_DIRECT" "$R_CATHOP" "$R_JW"
	r=$((r + 1))
done
fi

# ---- 3. peak RSS ------------------------------------------------------------
if want 3; then
	say "3/8 peak RSS of the wrapper processes"
	"$PY" "$HELP" rss "$TMP/rss.json" "$JW" "$TMP"
fi

# ---- 4. deadline accuracy ---------------------------------------------------
D_JW="$JW -t 1 -k 1 -- sleep 10"
D_TIMEOUT="timeout 1 sleep 10"
if want 4; then
say "4/8 deadline accuracy ($DEADLINE_RUNS runs each)"
r=1
while [ $r -le "$DEADLINE_RUNS" ]; do
	hf -N -i --runs 1 --export-json "$TMP/deadline-$r.json" \
		"$D_JW" "$D_TIMEOUT"
	r=$((r + 1))
done
fi

# ---- 5. killing a 100-process tree ------------------------------------------
if want 5; then
	say "5/8 killing a 100-process tree"
	"$PY" "$HELP" tree "$TMP/tree.json" "$JW" "$TAG" "$TMP"
fi

# ---- 6. output patterns: relay of short lines with and without them ---------
# One million short log lines on stderr (tests/bench/lines.c, 64 KiB writes),
# through sh like section 2.  "patterns" sets FPF's retry and error patterns
# (conf/fpf.ini): each has a string every match contains, so most lines are
# skipped after one memmem per read.  "no literal" is an error pattern
# without such a string: every line reaches regexec (info).  One line in
# LINES_EVERY matches each pattern; the check run counts them.
LINES_EVERY=10000
LINES_BIN="$OUTDIR/lines"
RP='Transient OpenAI (error|failure) on attempt [0-9]+/[0-9]+, retrying in'
EP='^[A-Za-z0-9_.]*Error(: |$)'
EP_SLOW='^[A-Za-z0-9_.]*(Error|Exception)(: |$)'
L_JOB="$LINES_BIN $LINES $LINES_EVERY"
L_DIRECT="$L_JOB 2>&1 | cat >/dev/null"
L_JW="$JW --heartbeat 0 -- $L_JOB 2>&1 | cat >/dev/null"
# shellcheck disable=SC2089,SC2090  # quoted for hyperfine's shell
L_JWPAT="$JW --heartbeat 0 --retry-pattern '$RP' --error-pattern '$EP' -- $L_JOB 2>&1 | cat >/dev/null"
# shellcheck disable=SC2089,SC2090
L_JWSLOW="$JW --heartbeat 0 --retry-pattern '$RP' --error-pattern '$EP_SLOW' -- $L_JOB 2>&1 | cat >/dev/null"
LINES_CHECK=
LINES_BYTES=0
if want 6; then
	# shellcheck disable=SC2086  # word splitting is the point
	lbytes=$($L_JOB 2>&1 | wc -c)
	# shellcheck disable=SC2086
	got=$($JW --heartbeat 0 -- $L_JOB 2>&1 | wc -c)
	[ "$got" -eq "$lbytes" ] || die "jobwrap relayed $got of $lbytes bytes of lines"
	# Exit 1: a successful attempt would clear last_error.
	# shellcheck disable=SC2086
	got=$($JW --heartbeat 0 --retry-pattern "$RP" --error-pattern "$EP" \
	    --status-file "$TMP/lines.status" -- $L_JOB 1 2>&1 | wc -c)
	[ "$got" -eq "$lbytes" ] ||
		die "jobwrap with patterns relayed $got of $lbytes bytes of lines"
	LINES_CHECK=$("$PY" "$HELP" linescheck "$TMP/lines.status" \
	    $((LINES / LINES_EVERY)) "RuntimeError: bench") ||
		die "patterns: $LINES_CHECK"
	LINES_CHECK="$got of $lbytes bytes with patterns; $LINES_CHECK"
	LINES_BYTES=$lbytes

	say "6/8 output patterns ($PATTERN_RUNS runs each, interleaved)"
	r=1
	while [ $r -le "$PATTERN_RUNS" ]; do
		hf --runs 1 --warmup $((r == 1)) \
			--export-json "$TMP/lines-$r.json" \
			"$L_DIRECT" "$L_JW" "$L_JWPAT" "$L_JWSLOW"
		r=$((r + 1))
	done
fi

# ---- 7. sd_notify datagrams -------------------------------------------------
# tests/bench/notifyflood.c sends NOTIFY_K datagrams as fast as jobwrap takes
# them (blocking sends) and writes a 32-byte line to stdout after every 100:
# datagrams/s handled, every output byte through, none dropped.
if want 7; then
	say "7/8 sd_notify datagrams ($NOTIFY_K per run, $NOTIFY_RUNS runs each)"
	"$PY" "$HELP" notify "$TMP/notify.json" "$JW" "$OUTDIR/notifyflood" \
		"$TMP" "$NOTIFY_K" "$NOTIFY_RUNS"
fi

# ---- 8. the seccomp filter: what "contain" costs over --seccomp off ---------
# Whole runs with the default profile (contain) and with --seccomp off, with
# hyperfine -N in interleaved rounds like section 1 (the peers again, for
# scale).  Then the filter's two costs, measured directly on jobwrap's own
# code by tests/bench/seccomp_cost.c (linked with build/obj/sandbox.o and
# syscalls.o): the build (libseccomp generates and exports the program; the
# supervisor, once per run) and the load (jw_sandbox_apply: PR_SET_NO_NEW_PRIVS
# and seccomp(2); the child of every attempt, between fork and exec).
S_OFF="$JW --seccomp off -- /bin/true"
S_ON="$JW -- /bin/true"
SC_BIN="$OUTDIR/seccomp_cost"
if want 8; then
	make --no-print-directory "$SC_BIN" >&2 || die "cannot build $SC_BIN"
	for c in "$S_OFF" "$S_ON"; do
		# shellcheck disable=SC2086  # word splitting is the point
		$c >/dev/null || die "does not run: $c"
	done
	say "8/8 seccomp filter: whole runs ($RUNS runs each, in $ROUNDS rounds)"
	set -- "$C_TRUE" "$S_OFF" "$S_ON" "$C_TIMEOUT" "$C_TINI" "$C_DUMB"
	r=1
	while [ $r -le "$ROUNDS" ]; do
		hf -N --runs $((RUNS / ROUNDS)) --warmup "$WARMUP" \
			--export-json "$TMP/seccomp-run-$r.json" "$@"
		r=$((r + 1))
	done
	say "8/8 seccomp filter: $SC_COLD cold and $SC_BUILDS warm builds," \
		"$SC_LOADS loads"
	"$SC_BIN" -j "$TMP/seccomp.json" "$SC_BUILDS" "$SC_COLD" \
		"$SC_LOADS" >&2 || die "$SC_BIN failed"
fi

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
# shellcheck disable=SC2090  # L_JWPAT and L_JWSLOW: commands for a shell
export BM_DATE="$(date -u '+%Y-%m-%d %H:%M:%S UTC')" BM_KERNEL="$(uname -r)" \
	BM_CPU="$CPU" BM_NPROC="$(nproc)" BM_REV="$REV" BM_PEERS="$PEERS" \
	BM_JWFILE="$JWFILE" BM_HAVE_TINIS="$HAVE_TINIS" \
	BM_LOAD="$LOAD0 at start, $LOAD1 at end" BM_ROUNDS="$ROUNDS" \
	C_TRUE C_TIMEOUT C_TINI C_TINIS C_DUMB C_JW C_JWFILE C_FD3TRUE C_JWFD \
	S_OFF S_ON \
	R_DIRECT R_CATHOP R_JW RELAY_BYTES RELAY_CHECK D_JW D_TIMEOUT \
	L_DIRECT L_JW L_JWPAT L_JWSLOW LINES LINES_EVERY LINES_CHECK LINES_BYTES \
	RP EP EP_SLOW
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
           "deadline_cmds": {"jw": e["D_JW"], "timeout": e["D_TIMEOUT"]},
           "lines_cmds": {"direct": e["L_DIRECT"], "jw": e["L_JW"],
                          "jw_pat": e["L_JWPAT"], "jw_slow": e["L_JWSLOW"]},
           "lines": int(e["LINES"]), "lines_every": int(e["LINES_EVERY"]),
           "lines_check": e["LINES_CHECK"],
           "lines_bytes": int(e["LINES_BYTES"]),
           "patterns": {"retry": e["RP"], "error": e["EP"],
                        "error_slow": e["EP_SLOW"]},
           "seccomp_cmds": {"true": e["C_TRUE"], "off": e["S_OFF"],
                            "contain": e["S_ON"], "timeout": e["C_TIMEOUT"],
                            "tini": e["C_TINI"], "dumbinit": e["C_DUMB"]}},
          open(sys.argv[1], "w"), indent=1)
EOF
"$PY" "$HELP" report "$TMP" "$MD"
say "written to $ROOT/$MD"
exit 0
