#!/usr/bin/python3
"""Soak test of jobwrap (issue 6, item 6): `make soak`, not in `make check`.

Runs SOAK_RUNS supervisions (default 1000), SOAK_JOBS at a time (default
4).  Each run draws from its own generator, seeded with SOAK_SEED and its
index, so a run can be replayed alone (SOAK_SEED=S SOAK_ONLY=17,42):

- a child behaviour: exits 0 or non-zero at once, dies of a signal, sleeps,
  never exits, ignores SIGTERM, forks grandchildren that keep stdout or
  escape with setsid, floods output without newlines, writes binary
  output, closes stdout and waits, stops itself, builds a process tree,
  hops PIDs (a fork-and-exit chain, rate-capped), sends sd_notify
  messages, prints retry and error patterns, fails its first attempts,
  burns CPU, cannot be found or executed;
- options: the deadline (always set: every run ends by itself), the
  attempt and idle timeouts, kill-after, the first signal, retries and
  their triggers and backoff, heartbeats, notify, the seccomp profile;
  where jobwrap's stdout and the events fd go (nowhere, a pipe whose
  reader is gone, a pipe that is read);
- a fate for the supervisor: left alone (with SIGUSR1 pokes), SIGTERM, two
  SIGTERMs, SIGKILL, SIGTERM then SIGKILL during the grace, all at a
  random time (a fifth of them in the first 5 ms, two fifths in the first
  100 ms); or its parent (a shell between this harness and jobwrap)
  SIGKILLed with --on-parent-death kill or continue, once jobwrap has
  written its first status (before that, it cannot tell its parent from
  whoever adopts it: README, "Known limitations").

SOAK_DIR keeps the files there (else a temporary directory, removed when
there is no violation, or kept with SOAK_KEEP=1); JOBWRAP names the binary
(a copy of it is run, so that the tree's may be relinked meanwhile).

Every run has its status and events file in one run directory and a
unique tag in its environment (JW_SOAK_TAG), so every process of it is
found through /proc/*/environ.  This harness is a child subreaper: what a
killed supervisor leaves is reparented here, and reaped here.

Checks (each failure is a violation, printed with the run's index, its
draws and its files; the exit status is then 1):

- after each run whose supervisor was not SIGKILLed, no process of the run
  is alive (zombies are not counted);
- after each run whose supervisor was SIGKILLed, what is left of it, in
  its process group or out of it (setsid), is left to --reap, which finds
  it by the run's tag (JOBWRAP_JOB_<tag> in its environment); those that
  left the group are counted as escapees;
- `jobwrap --reap DIR` runs every SOAK_REAP_EVERY seconds (2; 0: never)
  while the runs go on, as a server's would: it must never touch the run
  of a live supervisor (an `orphaned` run whose supervisor was not
  SIGKILLed is a violation);
- after all runs, `jobwrap --reap DIR` settles every status still
  `running`; then no process with a soak tag is alive; every status file
  is terminal; every events file is whole lines of JSON, seq 1, 2, 3...
  without a gap, `start` first, at most one `exit` and that last; it ends
  in `exit`, or its status is `orphaned` and its supervisor was
  SIGKILLed;
- a supervisor that was not SIGKILLed exited by itself (not by a signal,
  except a SIGTERM before it had written anything), within its deadline +
  kill-after + 3 s, with the exit status its status file and its `exit`
  event give, and the exit event's seq is the status's events_seq + 1;
- a status file missing is allowed only if the supervisor was killed by
  this harness (and then there are no events); `cancelled` only after a
  SIGTERM, `parent_died` only after the parent was killed with
  --on-parent-death kill; exit codes fit the state;
- the lines read from --events-fd are a prefix of the events file.
"""
import ctypes
import fcntl
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.path.abspath(os.environ.get("JOBWRAP",
                                     str(ROOT / "shim" / "jobwrap")))
JWCHILD = str(ROOT / "build" / "helpers" / "jwchild")
JWNOTIFY = str(ROOT / "build" / "helpers" / "jwnotify")

RUNS = int(os.environ.get("SOAK_RUNS", "1000"))
JOBS = int(os.environ.get("SOAK_JOBS", "4"))
SEED = (os.environ.get("SOAK_SEED")
        or str(random.SystemRandom().randrange(10**9)))
ONLY = [int(x) for x in os.environ.get("SOAK_ONLY", "").split(",") if x]
KEEP = os.environ.get("SOAK_KEEP", "") not in ("", "0")
REAP_EVERY = float(os.environ.get("SOAK_REAP_EVERY", "2"))

TERMINAL = {"succeeded", "failed", "signaled", "timeout", "idle_timeout",
            "cancelled", "parent_died", "spawn_failed", "error", "orphaned"}
SLACK = 3.0             # seconds over deadline + kill-after before "late"
HANG = 30.0             # seconds over deadline + kill-after before "hung"
TAGVAR = b"JW_SOAK_TAG="

FATES = [  # name, weight
    ("alone", 28), ("term", 15), ("term2", 5), ("kill", 20), ("term-kill", 5),
    ("parent-kill", 15), ("parent-continue", 12),
]
SIGKILL_FATES = {"kill", "term-kill"}
PARENT_FATES = {"parent-kill", "parent-continue"}


# ---------------------------------------------------------------- processes

class Reaper:
    """Reaps every child of this process (we are a subreaper, so also
    every orphan handed to us) and keeps the exit status of the pids a run
    waits for.  Spawn and registration happen under one lock, so a child
    that exits at once is still known when it is reaped."""

    def __init__(self):
        self.cond = threading.Condition()
        self.watched = set()
        self.exited = {}
        self.orphans = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def spawn(self, argv, env, actions):
        with self.cond:
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions,
                                 setpgroup=0,
                                 setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
            self.watched.add(pid)
            self.cond.notify_all()
        return pid

    def watch(self, pid):
        with self.cond:
            self.watched.add(pid)

    def _loop(self):
        while True:
            try:
                pid, st = os.waitpid(-1, 0)
            except ChildProcessError:
                with self.cond:
                    if self.stopping:
                        return
                    self.cond.wait(0.05)
                continue
            t = time.monotonic()
            with self.cond:
                if pid in self.watched:
                    self.watched.discard(pid)
                    self.exited[pid] = (st, t)
                    self.cond.notify_all()
                else:
                    self.orphans += 1

    def poll(self, pid):
        with self.cond:
            return self.exited.get(pid)

    def wait(self, pid, timeout, gone=None, peek=False):
        """(wait status, monotonic time) once pid is reaped (kept for a
        later wait if peek); None on timeout, or when gone() says it was
        reaped by someone else."""
        end = time.monotonic() + timeout
        with self.cond:
            while pid not in self.exited:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))
                if pid not in self.exited and gone is not None and gone():
                    # Reaped by us but not recorded yet, or by another?
                    self.cond.wait(0.2)
                    if pid not in self.exited:
                        self.watched.discard(pid)
                        return None
            return self.exited[pid] if peek else self.exited.pop(pid)


def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:        # PR_SET_CHILD_SUBREAPER
        sys.exit(f"soak: prctl(PR_SET_CHILD_SUBREAPER): errno "
                 f"{ctypes.get_errno()}")


def scan(prefix):
    """{tag: [(pid, pgid, sid, comm)]} of live (non-zombie) processes whose
    environment has JW_SOAK_TAG=<tag> with tag starting with prefix.  One
    pass can miss a process that forks and exits meanwhile (a hopper):
    callers that must not miss one scan again."""
    needle = TAGVAR + prefix.encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            if needle not in env:
                continue
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            continue
        for var in env.split(b"\0"):
            if var.startswith(needle):
                tag = var[len(TAGVAR):].decode()
                found.setdefault(tag, []).append(
                    (int(name), int(fields[2]), int(fields[3]), comm))
    return found


def scan_hard(prefix, passes=3, gap=0.03):
    """scan(), several passes: a process seen in any of them."""
    found = {}
    for n in range(passes):
        if n:
            time.sleep(gap)
        for tag, procs in scan(prefix).items():
            have = {p[0] for p in found.setdefault(tag, [])}
            found[tag] += [p for p in procs if p[0] not in have]
    return found


def kill_procs(prefix, select=lambda tag, p: True, rounds=300):
    """SIGKILL the processes of tags starting with prefix that select()
    picks, and their process groups (never ours), until three passes in a
    row find none; a group once seen is killed again each round, so a
    process that forks and exits cannot slip between two passes.
    Returns what was killed."""
    mine = os.getpgrp()
    killed, groups, empty = {}, set(), 0
    for _ in range(rounds):
        procs = [p for t, ps in scan(prefix).items() for p in ps
                 if select(t, p)]
        empty = 0 if procs else empty + 1
        if empty >= 3:
            break
        for p in procs:
            killed.setdefault(p[0], p)
            if p[1] > 1 and p[1] != mine:
                groups.add(p[1])
        for g in groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except OSError:
                pass
        for p in procs:
            try:
                os.kill(p[0], signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
    return list(killed.values())


def kill_tag(tag, select=lambda p: True):
    """kill_procs() for one run's tag (run 1's tag is a prefix of run 10's)."""
    return kill_procs(tag, lambda t, p: t == tag and select(p))


def kill_session():
    """Kill every process of this soak (on an interrupt, at the end)."""
    return kill_procs(SESSION + "-")


def drain(fd, box):
    """Read fd to EOF into box["data"] (a thread)."""
    chunks = []
    try:
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
        box["data"] = b"".join(chunks)


# ------------------------------------------------------------------ draws

def pick(rng, table):
    return rng.choices([t[0] for t in table], [t[1] for t in table])[0]


def dur(s):
    return f"{int(s * 1000)}ms"


def randhex(rng, n):
    return bytes(rng.randrange(256) for _ in range(n)).hex()


def behaviour(rng, aux, i):
    """(name, argv, extra options, note); argv runs until it ends or the
    deadline.  Durations are short: most runs take well under a second."""
    name = pick(rng, [
        ("true", 10), ("exit", 8), ("selfsig", 5), ("sleep", 10),
        ("never", 5), ("ignore-term", 7), ("escape", 7), ("flood", 6),
        ("binary", 5), ("closeout", 4), ("stopped", 3), ("tree", 5),
        ("race", 3), ("fan", 5), ("hopper", 3), ("notify", 5),
        ("patterns", 4), ("flaky", 5), ("busy", 2), ("trickle", 3),
        ("notfound", 2), ("noexec", 1),
    ])
    opts = []
    if name == "true":
        return name, ["/bin/true"], opts
    if name == "exit":
        return name, ["/bin/sh", "-c", f"exit {rng.randint(1, 125)}"], opts
    if name == "selfsig":
        sig = rng.choice([6, 9, 10, 11, 15])
        return name, [JWCHILD, "selfsig", str(sig)], opts
    if name == "sleep":
        return name, ["/bin/sleep", f"{rng.uniform(0, 0.8):.3f}"], opts
    if name == "never":
        return name, ["/bin/sleep", "3600"], opts
    if name == "ignore-term":
        return name, [JWCHILD, "ignore-term"], opts
    if name == "escape":
        a = [JWCHILD, "escape", rng.choice(["keep", "close"])]
        if rng.random() < 0.5:
            a.append("ignore")
        return name, a, opts
    if name == "flood":
        where = rng.choice(["out", "out", "err", "both"])
        top = 4 << 20 if where == "out" else 1 << 20
        return name, [JWCHILD, "flood", str(rng.randrange(top)), where], opts
    if name == "binary":
        return name, [JWCHILD, "hex", randhex(rng, rng.randrange(2048)),
                      randhex(rng, rng.randrange(1024))], opts
    if name == "closeout":
        return name, [JWCHILD, "closeout"], opts
    if name == "stopped":
        if rng.random() < 0.5:
            return name, ["/bin/sh", "-c", "kill -STOP $$"], opts
        return name, ["/bin/sh", "-c",
                      "/bin/sh -c 'kill -STOP $$' & exit 0"], opts
    if name == "tree":
        return name, [JWCHILD, "tree", str(rng.randint(3, 25))], opts
    if name == "race":
        return name, [JWCHILD, "race"], opts
    if name == "fan":
        a = [JWCHILD, "fan", str(rng.randint(1, 20))]
        a += [w for w in ("setsid", "ignore", "exit") if rng.random() < 0.5]
        return name, a, opts
    if name == "hopper":
        return name, [JWCHILD, "hopper", str(rng.randint(2000, 20000))], opts
    if name == "notify":
        n = JWNOTIFY
        code = rng.choice([0, 0, 1, 75])
        script = (f"{n} 'READY=1\\nSTATUS=working'; {n} X_RETRY=rate-limited; "
                  f"{n} ERRNO=5 'FOO=bar'; sleep {rng.uniform(0, 0.3):.3f}; "
                  f"{n} WATCHDOG=1; {n} -n STATUS=done; exit {code}")
        return name, ["/bin/sh", "-c", script], opts
    if name == "patterns":
        opts = ["--retry-pattern", "^RETRY", "--error-pattern", "ERROR: .*"]
        script = ("echo 'ERROR: first'; echo 'RETRY: later' >&2; "
                  "printf 'ERROR: no newline'; "
                  f"exit {rng.choice([0, 3])}")
        return name, ["/bin/sh", "-c", script], opts
    if name == "flaky":
        f = aux / f"{i}.attempts"
        first = rng.choice(["exit 75", "sleep 3600", "kill -SEGV $$",
                            "exec 1>&- 2>&-; sleep 3600"])
        script = (f"n=$(($(cat {f} 2>/dev/null || echo 0) + 1)); "
                  f"echo $n > {f}; "
                  f"if [ $n -lt {rng.randint(2, 3)} ]; then {first}; fi; "
                  "echo ok; exit 0")
        opts = ["--retries", str(rng.randint(1, 3)), "--retry-on",
                "nonzero,signal,attempt-timeout,idle",
                "--attempt-timeout", dur(rng.uniform(0.1, 0.4))]
        return name, ["/bin/sh", "-c", script], opts
    if name == "busy":
        return name, ["/bin/sh", "-c", "while :; do :; done"], opts
    if name == "trickle":
        n = rng.randint(2, 12)
        script = (f"i=0; while [ $i -lt {n} ]; do printf .; sleep 0.05; "
                  "i=$((i+1)); done")
        return name, ["/bin/sh", "-c", script], opts
    if name == "notfound":
        return name, ["/nonexistent/soak-command"], opts
    if name == "noexec":
        return name, ["/etc/hostname"], opts
    raise AssertionError(name)


def options(rng, own):
    """jobwrap options; own: the behaviour's, which win."""
    o = {}
    deadline = (rng.uniform(0.3, 1.2) if rng.random() < 0.75
                else rng.uniform(1.2, 2.5))
    o["-t"] = dur(deadline)
    kill_after = rng.choice([0, rng.uniform(0.02, 0.4),
                             rng.uniform(0.02, 0.4)])
    o["-k"] = dur(kill_after)
    if rng.random() < 0.15:
        o["-s"] = rng.choice(["INT", "HUP", "USR1", "KILL", "QUIT"])
    if rng.random() < 0.6:
        o["--heartbeat"] = dur(rng.uniform(0.02, 0.3))
    else:
        o["--heartbeat"] = "0"
    if rng.random() < 0.3:
        o["--attempt-timeout"] = dur(rng.uniform(0.1, 0.8))
    if rng.random() < 0.3:
        o["--idle-timeout"] = dur(rng.uniform(0.1, 0.6))
    if rng.random() < 0.4:
        o["--retries"] = str(rng.randint(1, 3))
        o["--retry-on"] = ",".join(rng.sample(
            ["nonzero", "signal", "attempt-timeout", "idle", "exit:75",
             "exit:1-9"], rng.randint(1, 3)))
        o["--backoff"] = dur(rng.uniform(0.005, 0.2))
        o["--backoff-max"] = dur(rng.uniform(0.2, 0.4))
    if rng.random() < 0.2:
        o["--no-notify"] = None
    if rng.random() < 0.2:
        o["--seccomp"] = "off"
    if rng.random() < 0.2:
        o["--tail-bytes"] = str(rng.choice([0, 1, 100, 65536]))
    it = iter(own)
    for k in it:
        o[k] = next(it)
    argv = []
    for k, v in o.items():
        argv += [k] if v is None else [k, v]
    kill_after = kill_after if o.get("-s") != "KILL" else 0
    return argv, deadline, kill_after


def draw(i):
    rng = random.Random(f"{SEED}:{i}")
    d = {"i": i}
    d["behaviour"], d["cmd"], own = behaviour(rng, AUX, i)
    d["opts"], d["deadline"], d["kill_after"] = options(rng, own)
    d["fate"] = pick(rng, FATES)
    d["stdout"] = pick(rng, [("null", 6), ("closed", 2), ("read", 2)])
    d["events_fd"] = pick(rng, [("none", 7), ("closed", 1), ("read", 2)])
    horizon = d["deadline"] + d["kill_after"]
    x = rng.random()
    if x < 0.2:
        d["delay"] = rng.uniform(0, 0.005)     # while jobwrap starts
    elif x < 0.6:
        d["delay"] = rng.uniform(0.005, 0.1)   # most commands still run
    else:
        d["delay"] = rng.uniform(0.1, horizon * 1.1)
    d["delay2"] = rng.uniform(0, max(d["kill_after"], 0.01) * 1.2)
    d["pokes"] = ([round(rng.uniform(0, d["deadline"]), 3)
                   for _ in range(rng.randint(1, 3))]
                  if rng.random() < 0.3 else [])
    return d


# -------------------------------------------------------------------- runs

class Run:
    def __init__(self, d):
        self.__dict__.update(d)
        self.tag = f"{SESSION}-{self.i}"
        self.status = RUNDIR / f"{self.i}.status"
        self.events = RUNDIR / f"{self.i}.events"
        self.log = AUX / f"{self.i}.log"
        self.violations = []
        self.notes = []
        self.wstatus = None     # jobwrap's wait status, if seen
        self.wall = None
        self.killed = False     # jobwrap died of our SIGKILL
        self.sent = []          # signals that reached a live jobwrap
        self.escapees = []
        self.fd_events = None

    def bad(self, msg):
        self.violations.append(msg)

    def describe(self):
        return (f"run {self.i} (SOAK_SEED={SEED} SOAK_ONLY={self.i}): "
                f"behaviour {self.behaviour}, fate {self.fate}, "
                f"delay {self.delay:.4f}s, stdout {self.stdout}, "
                f"events-fd {self.events_fd}\n  argv: "
                + " ".join(a if len(a) < 80 else a[:60] + f"...({len(a)})"
                           for a in self.argv()))

    def argv(self):
        a = [BIN, "--run-id", f"soak-{self.i}", "--status-file",
             str(self.status), "--events-file", str(self.events)]
        if self.events_fd != "none":
            a += ["--events-fd", "3"]
        if self.fate == "parent-continue":
            a += ["--on-parent-death", "continue"]
        elif self.fate == "parent-kill":
            a += ["--on-parent-death", "kill"]
        return a + self.opts + ["--"] + self.cmd


def status_doc(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def signal_fd(pidfd, sig):
    if pidfd is None:
        return False
    try:
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False


def high(fd):
    """fd moved to 10 or above: the spawn's dup2s onto 1, 2 and 3 must not
    overwrite a source fd (another thread may have freed fd 3)."""
    h = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return h


def supervise(r):
    env = dict(BASE_ENV)
    env["JW_SOAK_TAG"] = r.tag
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    mine = []           # our copies of the child's ends, closed after spawn
    readers = []
    logfd = high(os.open(r.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                         os.O_CLOEXEC, 0o644))
    mine.append(logfd)
    out_box, ev_box = {}, {}
    for what, target, box in (("stdout", 1, out_box),
                              ("events_fd", 3, ev_box)):
        how = getattr(r, what)
        if what == "stdout" and how == "null":
            actions.append((os.POSIX_SPAWN_OPEN, 1, "/dev/null",
                            os.O_WRONLY, 0))
            continue
        if how == "none":
            continue
        rd, wr = os.pipe()
        wr = high(wr)
        actions.append((os.POSIX_SPAWN_DUP2, wr, target))
        mine.append(wr)
        if how == "closed":
            mine.append(rd)     # the reader is gone before jobwrap starts
        else:
            t = threading.Thread(target=drain, args=(rd, box), daemon=True)
            readers.append((t, box))
    actions.append((os.POSIX_SPAWN_DUP2, logfd, 2))
    argv = r.argv()
    if r.fate in PARENT_FATES:
        argv = ["/bin/sh", "-c", '"$@"; exit $?', "sh"] + argv
    t0 = time.monotonic()
    pid = REAPER.spawn(argv, env, actions)
    for fd in mine:
        os.close(fd)
    for t, _ in readers:
        t.start()
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = None        # already reaped: it exited at once
    try:
        if r.fate in PARENT_FATES:
            jw = parent_fate(r, pid, pidfd)
        else:
            jw = own_fate(r, pid, pidfd)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if jw is not None:
        r.wstatus, t1 = jw
        r.wall = t1 - t0
        code = os.waitstatus_to_exitcode(r.wstatus)
        r.killed = code == -signal.SIGKILL
    for t, box in readers:
        t.join(5)
        if t.is_alive():
            r.bad("a pipe of jobwrap's (stdout or events fd) still open 5 s "
                  "after it exited")
    if r.events_fd == "read":
        r.fd_events = ev_box.get("data")
    after_run(r)


def guarded(r):
    """supervise(), with a harness error recorded as a violation."""
    try:
        supervise(r)
    except Exception:
        r.bad("harness error: " + traceback.format_exc())
        kill_tag(r.tag)


def own_fate(r, pid, pidfd):
    """jobwrap is our child: leave it alone, or signal it."""
    limit = r.deadline + r.kill_after + HANG
    if r.fate == "alone":
        t0 = time.monotonic()
        for at in sorted(r.pokes):
            # Only once it has a status: before its signal handling is set
            # up, SIGUSR1 would kill it (as it would any program).
            if REAPER.wait(pid, max(0, t0 + at - time.monotonic()),
                           peek=True) is not None:
                break
            if r.status.exists() and signal_fd(pidfd, signal.SIGUSR1):
                r.sent.append("USR1")
    else:
        if REAPER.wait(pid, r.delay, peek=True) is None:
            first = signal.SIGKILL if r.fate == "kill" else signal.SIGTERM
            if signal_fd(pidfd, first):
                r.sent.append(first.name)
            if r.fate in ("term2", "term-kill"):
                if REAPER.poll(pid) is None:
                    time.sleep(r.delay2)
                second = (signal.SIGTERM if r.fate == "term2"
                          else signal.SIGKILL)
                if REAPER.poll(pid) is None and signal_fd(pidfd, second):
                    r.sent.append(second.name)
    got = REAPER.wait(pid, limit)
    if got is None:
        r.bad(f"jobwrap (pid {pid}) still running {limit:.1f}s after its "
              "start: hung; SIGKILLed")
        signal_fd(pidfd, signal.SIGKILL)
        got = REAPER.wait(pid, 10)
    return got


def jobwrap_child(shpid):
    """The pid of the shell's child (jobwrap), once the shell has one."""
    try:
        with open(f"/proc/{shpid}/task/{shpid}/children") as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def parent_fate(r, shpid, pidfd):
    """A shell is jobwrap's parent; it is SIGKILLed after jobwrap has
    written its first status (and so taken hold of its parent)."""
    limit = r.deadline + r.kill_after + HANG
    end = time.monotonic() + 10
    jw = None
    while time.monotonic() < end:
        if REAPER.poll(shpid) is not None:
            break       # jobwrap is over already (reaped by the shell)
        jw = jw or jobwrap_child(shpid)
        if jw is not None and r.status.exists():
            break
        time.sleep(0.001)
    if jw is None or REAPER.poll(shpid) is not None:
        got = REAPER.wait(shpid, limit)
        r.notes.append("jobwrap ended before its parent was killed")
        if got is None:
            r.bad("the parent shell did not end")
            return None
        # The shell's exit status is jobwrap's (or 128+N).
        return got
    REAPER.watch(jw)
    try:
        jwfd = os.pidfd_open(jw)
    except ProcessLookupError:
        jwfd = None
    try:
        if REAPER.wait(shpid, r.delay, peek=True) is None:
            if signal_fd(pidfd, signal.SIGKILL):
                r.sent.append("parent SIGKILL")
        sh = REAPER.wait(shpid, 10)

        def gone():
            # reaped by the shell (it ended before the SIGKILL landed)?
            return jwfd is None or not os.path.exists(f"/proc/{jw}")
        got = REAPER.wait(jw, limit, gone)
        if got is None and not gone():
            r.bad(f"jobwrap (pid {jw}) still running {limit:.1f}s after its "
                  "start: hung; SIGKILLed")
            signal_fd(jwfd, signal.SIGKILL)
            got = REAPER.wait(jw, 10)
        if got is None and sh is not None and \
                os.waitstatus_to_exitcode(sh[0]) != -signal.SIGKILL:
            r.notes.append("jobwrap ended before its parent was killed")
            return sh
        return got
    finally:
        if jwfd is not None:
            os.close(jwfd)


def after_run(r):
    """Right after the supervisor is gone: nothing of the run may be left,
    unless the supervisor was SIGKILLed.  Then:
    - a process in another session (it called setsid) has left the job's
      process group: --reap cannot find it (README, "Known limitations");
      it is killed here and counted as an escapee;
    - a process in the process group the status records is left for
      --reap, which must kill it;
    - a process of this session in another group is in the job's group
      all the same (the command's children do not call setpgid), but the
      status does not name that group, so --reap cannot find it: the
      supervisor died between starting the command and recording it."""
    if not r.killed:
        left = scan_hard(r.tag, passes=2).get(r.tag, [])
        if left:
            r.bad(f"processes of the run alive after jobwrap exited: {left}")
            kill_tag(r.tag)
        return
    time.sleep(0.02)        # PR_SET_PDEATHSIG lands on the command
    # What is left is --reap's to find, by the run's tag: counted only.
    r.escapees = [p for p in scan(r.tag).get(r.tag, []) if p[2] != MYSID]


def complete_events(path):
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


# ----------------------------------------------------------------- checks

def load_events(r):
    try:
        data = r.events.read_bytes()
    except FileNotFoundError:
        return []
    if data and not data.endswith(b"\n"):
        if r.killed:
            r.notes.append("events file ends mid-line (SIGKILLed mid-write)")
            data = data[:data.rfind(b"\n") + 1]
        else:
            r.bad("events file ends mid-line")
    events = []
    for n, line in enumerate(data.splitlines(), 1):
        try:
            e = json.loads(line)
        except ValueError:
            r.bad(f"events line {n} is not JSON: {line[:200]!r}")
            return events
        if not isinstance(e, dict):
            r.bad(f"events line {n} is not an object")
            return events
        events.append(e)
    return events


def check(r):
    events = load_events(r)
    doc = status_doc(r.status)
    code = (os.waitstatus_to_exitcode(r.wstatus)
            if r.wstatus is not None else None)

    for n, e in enumerate(events, 1):
        if e.get("v") != 1 or e.get("run_id") != f"soak-{r.i}" or \
                "event" not in e:
            r.bad(f"event {n} lacks v/run_id/event: {e}")
            break
        if e.get("seq") != n:
            r.bad(f"seq gap: line {n} has seq {e.get('seq')}")
            break
    names = [e.get("event") for e in events]
    if events and names[0] != "start":
        r.bad(f"first event is {names[0]}, not start")
    if names.count("exit") > 1 or ("exit" in names and names[-1] != "exit"):
        r.bad(f"exit not once and last: {names}")
    ends = bool(events) and names[-1] == "exit"

    if doc is None:
        if r.status.exists():
            r.bad("status file is not JSON")
        elif code not in (-signal.SIGKILL, -signal.SIGTERM):
            r.bad(f"no status file, and jobwrap was not killed (exit {code})")
        elif events:
            r.bad("no status file, but events")
        else:
            r.final = "no status (killed before it)"
        if code == -signal.SIGTERM and doc is None:
            r.notes.append("SIGTERM before jobwrap handled signals")
        return
    state = doc.get("state")
    r.final = state
    if state not in TERMINAL:
        r.bad(f"status not terminal after --reap: {state}")
        return
    if state == "orphaned":
        if not r.killed:
            r.bad(f"orphaned, but its supervisor was not SIGKILLed "
                  f"(exit {code})")
        if ends:
            r.bad("orphaned, but the events end in exit")
        return
    if code is not None and code < 0 and not r.killed:
        r.bad(f"jobwrap died of signal {-code} with a status file")
    if not ends:
        if not r.killed:
            r.bad(f"no exit event, and jobwrap was not SIGKILLed "
                  f"(exit {code}); last events {names[-3:]}")
        else:
            r.notes.append("SIGKILLed between its terminal status and exit")
        return
    ex = events[-1]
    if ex.get("state") != state or ex.get("exit_code") != doc.get("exit_code"):
        r.bad(f"exit event {ex.get('state')}/{ex.get('exit_code')} vs status "
              f"{state}/{doc.get('exit_code')}")
    if doc.get("events_seq") is not None and \
            doc["events_seq"] + 1 != ex.get("seq"):
        r.bad(f"status events_seq {doc['events_seq']}, "
              f"exit seq {ex.get('seq')}")
    if code is not None and code >= 0 and code != doc.get("exit_code"):
        r.bad(f"jobwrap exited {code}, its status says {doc.get('exit_code')}")
    xc = doc.get("exit_code")
    want = {"succeeded": 0, "timeout": 124, "idle_timeout": 124,
            "parent_died": 129, "cancelled": 143}.get(state)
    if want is not None and xc != want:
        r.bad(f"state {state} with exit code {xc}, not {want}")
    if state == "cancelled" and "SIGTERM" not in r.sent:
        r.bad("cancelled, but no SIGTERM was sent")
    if state == "parent_died" and r.fate != "parent-kill":
        r.bad(f"parent_died with fate {r.fate}")
    if not r.killed and r.wall is not None and \
            r.wall > r.deadline + r.kill_after + SLACK:
        r.bad(f"jobwrap took {r.wall:.2f}s, deadline {r.deadline:.2f}s + "
              f"kill-after {r.kill_after:.2f}s")
    if r.fd_events is not None:
        try:
            file_bytes = r.events.read_bytes()
        except OSError:
            file_bytes = b""
        if not file_bytes.startswith(r.fd_events):
            (AUX / f"{r.i}.fd-events").write_bytes(r.fd_events)
            r.bad("the events read from --events-fd are not a prefix of the "
                  "events file")


# ------------------------------------------------------------------- main

def reap_dir():
    """jobwrap --reap RUNDIR: (exit status, output lines)."""
    rdr, wtr = os.pipe()
    wtr = high(wtr)
    pid = REAPER.spawn([BIN, "--reap", str(RUNDIR)], BASE_ENV,
                       [(os.POSIX_SPAWN_DUP2, wtr, 1)])
    os.close(wtr)
    box = {}
    drain(rdr, box)
    got = REAPER.wait(pid, 60)
    code = os.waitstatus_to_exitcode(got[0]) if got else None
    return code, box["data"].decode(errors="replace").splitlines()


def main():
    global SESSION, RUNDIR, AUX, REAPER, BASE_ENV, BIN, MYSID
    for p in (BIN, JWCHILD, JWNOTIFY):
        if not os.access(p, os.X_OK):
            sys.exit(f"soak: {p} missing: make shim/jobwrap build/helpers/...")
    set_subreaper()
    MYSID = os.getsid(0)
    SESSION = uuid.uuid4().hex[:12]
    base = Path(os.environ.get("SOAK_DIR")
                or tempfile.mkdtemp(prefix="jw-soak-"))
    RUNDIR, AUX = base / "runs", base / "aux"
    RUNDIR.mkdir(parents=True, exist_ok=True)
    AUX.mkdir(exist_ok=True)
    # A copy: the binary in the tree may be relinked while the soak runs.
    shutil.copy2(BIN, base / "jobwrap")
    BIN = str(base / "jobwrap")
    BASE_ENV = {k: v for k, v in os.environ.items()
                if k not in ("JOBWRAP_CONFIG", "NOTIFY_SOCKET")}
    REAPER = Reaper()
    indexes = ONLY or list(range(RUNS))
    print(f"soak: {len(indexes)} runs, {JOBS} at a time, SOAK_SEED={SEED}, "
          f"in {base}", flush=True)

    runs = [Run(draw(i)) for i in indexes]
    # --reap now and then while runs go on, as a server would: it must
    # never touch a live supervisor's run.
    stop, reaped_early, reap_errors = threading.Event(), [], []

    def reap_now_and_then():
        while REAP_EVERY > 0 and not stop.wait(REAP_EVERY):
            code, out = reap_dir()
            reaped_early.extend(ln for ln in out if ": orphaned" in ln)
            if code != 0:
                reap_errors.append(f"jobwrap --reap exited {code}: {out}")
    periodic = threading.Thread(target=reap_now_and_then, daemon=True)
    periodic.start()
    t0 = time.monotonic()
    done = 0
    pool = ThreadPoolExecutor(JOBS)
    try:
        for _ in pool.map(guarded, runs):
            done += 1
            if done % 100 == 0:
                print(f"soak: {done} runs, {time.monotonic() - t0:.0f}s",
                      flush=True)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        stop.set()
        kill_session()
        raise
    pool.shutdown()
    t_runs = time.monotonic() - t0

    stop.set()
    periodic.join()
    running_before = sum(
        1 for r in runs
        if (status_doc(r.status) or {}).get("state") == "running")
    reap_code, reap_out = reap_dir()
    reaped = [ln for ln in reap_out if ": orphaned" in ln]
    reap_killed = sum(int(ln.split("killed ")[1].split()[0])
                      for ln in reaped + reaped_early if "killed " in ln)
    time.sleep(0.3)
    survivors = scan_hard(SESSION + "-")
    wall = time.monotonic() - t0

    general = list(reap_errors)
    if reap_code != 0:
        general.append(f"jobwrap --reap exited {reap_code}: {reap_out}")
    if len(reaped) != running_before:
        general.append(f"{running_before} statuses were running before "
                       f"--reap, it orphaned {len(reaped)}")
    by_i = {r.i: r for r in runs}
    for tag, procs in survivors.items():
        r = by_i[int(tag.rsplit("-", 1)[1])]
        r.bad(f"survived --reap: {procs}")
        kill_tag(tag)
    for r in runs:
        r.final = None
        check(r)

    report(runs, t_runs, wall, reaped, reaped_early, reap_killed, general,
           base)
    REAPER.stopping = True
    bad = general or any(r.violations for r in runs)
    if not bad and not KEEP and not os.environ.get("SOAK_DIR"):
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


def report(runs, t_runs, wall, reaped, reaped_early, reap_killed, general,
           base):
    def counts(key):
        c = {}
        for r in runs:
            k = key(r)
            c[k] = c.get(k, 0) + 1
        return ", ".join(f"{k} {v}" for k, v in
                         sorted(c.items(), key=lambda kv: -kv[1]))

    walls = [r.wall for r in runs if r.wall is not None]
    nviol = sum(len(r.violations) for r in runs) + len(general)
    escaped = sum(len(r.escapees) for r in runs)
    print()
    print(f"soak: SOAK_SEED={SEED}, {len(runs)} runs, {JOBS} at a time, "
          f"{os.cpu_count()} CPUs")
    print(f"  wall time      {wall:.1f} s ({t_runs:.1f} s of runs), "
          f"{len(runs) / wall:.2f} runs/s")
    print(f"  fates          {counts(lambda r: r.fate)}")
    print(f"  signal landed  "
          f"{counts(lambda r: '+'.join(r.sent) if r.sent else 'none')}")
    print(f"  SIGKILLed      {sum(r.killed for r in runs)} supervisors")
    print(f"  final states   {counts(lambda r: r.final)}")
    print(f"  behaviours     {counts(lambda r: r.behaviour)}")
    print(f"  --reap         orphaned {len(reaped_early)} runs during the "
          f"soak (every {REAP_EVERY:g} s) and {len(reaped)} after it, killed "
          f"{reap_killed} processes")
    print(f"  escapees       {escaped} processes of "
          f"{sum(1 for r in runs if r.escapees)} "
          "SIGKILLed runs had left the process group (setsid): left to "
          "--reap, which finds them by the run's tag")
    if walls:
        print(f"  jobwrap wall   max {max(walls):.3f} s, mean "
              f"{statistics.mean(walls):.3f} s, median "
              f"{statistics.median(walls):.3f} s ({len(walls)} seen)")
    print(f"  orphans reaped by the harness {REAPER.orphans}")
    notes = {}
    for r in runs:
        for n in r.notes:
            notes[n] = notes.get(n, 0) + 1
    for n, c in sorted(notes.items()):
        print(f"  note           {c} × {n}")
    print(f"  violations     {nviol}")
    for g in general:
        print(f"VIOLATION: {g}")
    for r in runs:
        if r.violations:
            print("VIOLATION: " + r.describe())
            for v in r.violations:
                print(f"  - {v}")
            print(f"  files: {r.status} {r.events} {r.log}")
    if nviol:
        print(f"soak: files kept in {base}")


if __name__ == "__main__":
    sys.exit(main())
