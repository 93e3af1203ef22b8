"""The process that started jobwrap, and jobwrap itself, dying (issue 4).

jobwrap watches its parent *process* with a pidfd (--on-parent-death
kill|continue, default kill): with kill the run ends as parent_died (exit
129) after the usual TERM / kill-after / KILL; with continue it goes on
unattended.  The spawning *thread* exiting is no parent death (the reason
PR_SET_PDEATHSIG is not used on jobwrap itself).  When jobwrap itself is
SIGKILLed, its child dies with it (PR_SET_PDEATHSIG on the child) and what
is left of the process group is settled by `jobwrap --reap`.

The parents are small Python scripts.  Most run under a *harness*, a child
subreaper that reaps every orphan and prints "REAPED pid exitcode", so
jobwrap's own exit status is seen even after its parent is gone.  Every
process carries the test's JW_TEST_TAG, so the survivor check of conftest
covers them all.
"""
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import (BIN, TERMINAL, check_events, gone, helper, load_status,
                      pgid_of, read_events, tagged_pids, wait_event, wait_for)

PY = sys.executable

# The scripts below write each line with one write(2) (say()): several
# processes share the pipe, and print() under PYTHONUNBUFFERED writes a
# line in pieces.

# A child subreaper: runs argv, reaps it and every orphan handed to it,
# prints "HARNESS its-pid child-pid", then "REAPED pid code" for each
# process it reaps, and exits when it has no child left.
HARNESS = r"""
import ctypes, os, sys
def say(*w): os.write(1, (" ".join(map(str, w)) + "\n").encode())
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:            # PR_SET_CHILD_SUBREAPER
    sys.exit("prctl: %d" % ctypes.get_errno())
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
say("HARNESS", os.getpid(), pid)
while True:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    say("REAPED", pid, os.waitstatus_to_exitcode(st))
"""

# A parent: starts jobwrap (argv[2:]) with its output in the file argv[1],
# says who is who, and sleeps until it is killed.
PARENT = r"""
import os, subprocess, sys, time
def say(*w): os.write(1, (" ".join(map(str, w)) + "\n").encode())
out = open(sys.argv[1], "ab")
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out,
                     stderr=subprocess.STDOUT)
say("PARENT", os.getpid(), p.pid)
time.sleep(3600)
"""

# A parent whose thread starts jobwrap and exits; the process lives on and
# waits for jobwrap from its main thread.
THREAD_PARENT = r"""
import os, subprocess, sys, threading, time
def say(*w): os.write(1, (" ".join(map(str, w)) + "\n").encode())
out = open(sys.argv[1], "ab")
box = {}
def spawn():
    box["tid"] = threading.get_native_id()
    box["p"] = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
t = threading.Thread(target=spawn)
t.start()
t.join()
task = "/proc/self/task/%d" % box["tid"]
end = time.monotonic() + 5
while os.path.exists(task) and time.monotonic() < end:
    time.sleep(0.001)
say("THREAD_GONE", box["tid"], os.path.exists(task),
    len(os.listdir("/proc/self/task")), box["p"].poll())
say("JWRC", box["p"].wait())
"""

# Forks; the child waits until it has been handed to a subreaper, then
# execs jobwrap (argv[2:], output to argv[1]); the forking process exits at
# once.  jobwrap's first getppid() is the adopter, never the forker.
ADOPTED = r"""
import os, sys, time
def say(*w): os.write(1, (" ".join(map(str, w)) + "\n").encode())
me = os.getpid()
if os.fork() == 0:
    while os.getppid() == me:
        time.sleep(0.001)
    say("FORKER", me, "ADOPTER", os.getppid(), "JW", os.getpid())
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.execv(sys.argv[2], sys.argv[2:])
os._exit(0)
"""


class Harness:
    """A HARNESS process and its output lines, read by a thread.  The
    paths of the run (events, status, jobwrap's output) are made first,
    so the argv given to start() can name them."""

    def __init__(self, jw):
        self.jw = jw
        self.tag = uuid.uuid4().hex
        jw.tags.append(self.tag)
        self.ev = jw.tmp / f"{self.tag}.events"
        self.st = jw.tmp / f"{self.tag}.status"
        self.out = jw.tmp / f"{self.tag}.out"
        self.err = jw.tmp / f"{self.tag}.err"
        self.q = queue.Queue()
        self.lines = []
        self.used = set()

    def start(self, argv):
        with open(self.err, "wb") as err:
            self.p = subprocess.Popen([PY, "-c", HARNESS] + list(argv),
                                      env=self.jw.env(self.tag),
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=err)
        self.jw.procs.append(self.p)
        threading.Thread(target=self._read, daemon=True).start()
        _, pid, child = self.expect("HARNESS")
        self.pid, self.child = int(pid), int(child)
        return self

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.decode().split())
        self.q.put(None)

    def expect(self, word, timeout=10, pred=lambda line: True):
        """The first line not taken yet that starts with word and
        satisfies pred; waits for it."""
        end = time.monotonic() + timeout
        i = 0
        while True:
            for i in range(i, len(self.lines)):
                line = self.lines[i]
                if i not in self.used and line[0] == word and pred(line):
                    self.used.add(i)
                    return line
            i = len(self.lines)
            try:
                line = self.q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {word} line in {timeout}s: "
                                     f"{self.lines} {self.stderr()}") \
                    from None
            if line is None:
                self.q.put(None)    # for the next caller
                raise AssertionError(f"no {word} line: {self.lines} "
                                     f"{self.stderr()}")
            self.lines.append(line)

    def stderr(self):
        """What the harness and the parents wrote to stderr."""
        return self.err.read_text() if self.err.exists() else ""

    def reaped(self, pid, timeout=10):
        """Exit code of pid, once the harness has reaped it."""
        line = self.expect("REAPED", timeout, lambda l: l[1] == str(pid))
        return int(line[2])

    def finish(self, timeout=10):
        """Wait for the harness to run out of children and exit."""
        self.p.wait(timeout=timeout)
        while True:
            line = self.q.get(timeout=timeout)
            if line is None:
                return
            self.lines.append(line)

    def jobwrap(self, *args):
        """The jobwrap part of an argv: events and status in tmp."""
        return [BIN, "--events-file", str(self.ev), "--status-file",
                str(self.st)] + list(args)

    def status(self):
        return load_status(self.st)


def ran_to_the_end(h, events, status):
    """The record of a finished run is whole and consistent."""
    check_events(events)
    assert status["state"] in TERMINAL
    assert status["ended_at"] is not None
    assert events[-1]["state"] == status["state"]
    assert events[-1]["exit_code"] == status["exit_code"]
    assert events[-1]["status_file"] == str(h.st)
    assert status["events_seq"] == events[-1]["seq"] - 1


def with_parent(jw, *jobwrap_args):
    """Harness -> PARENT -> jobwrap; (harness, parent pid, jobwrap pid)."""
    h = Harness(jw)
    h.start([PY, "-c", PARENT, str(h.out)] + h.jobwrap(*jobwrap_args))
    _, parent, jwpid = h.expect("PARENT")
    assert int(parent) == h.child
    return h, int(parent), int(jwpid)


def output(h):
    return h.out.read_bytes() if h.out.exists() else b""


def words(h, word):
    """Pids printed by jwchild in jobwrap's output: lines "WORD pid"."""
    return [int(l.split()[1]) for l in output(h).decode().splitlines()
            if l.startswith(word + " ")]


# ---- --on-parent-death kill (the default) -------------------------------------

def test_parent_killed_run_ends_as_parent_died(jw):
    """The parent is SIGKILLed while the job (which ignores SIGTERM and
    has two more TERM-ignoring processes in sessions of their own) runs:
    TERM, SIGKILL after kill-after, state parent_died, exit 129, and no
    process of the job left."""
    h, parent, jwpid = with_parent(
        jw, "-k", "500ms", "--heartbeat", "0", "--",
        helper("jwchild"), "fan", "2", "setsid", "ignore")
    assert wait_for(lambda: b"ready" in output(h)), output(h)
    child = wait_event(h.ev, "spawn")[1]["pid"]
    job = [child] + words(h, "F")
    assert len(job) == 3 and not any(gone(p) for p in job)
    t0 = time.monotonic()
    os.kill(parent, signal.SIGKILL)
    assert h.reaped(parent) == -signal.SIGKILL
    rc = h.reaped(jwpid, timeout=10)
    wall = time.monotonic() - t0
    assert rc == 129, (rc, output(h))
    # The grace is honoured (the job ignores TERM), then it ends promptly.
    assert 0.45 <= wall < 0.5 + 2.0, wall
    h.finish()
    events, status = read_events(h.ev), h.status()
    ran_to_the_end(h, events, status)
    assert status["state"] == "parent_died" and status["exit_code"] == 129
    assert events[-1]["exit_code"] == 129
    assert f"(pid {parent})" in status["reason"], status["reason"]
    assert "--on-parent-death kill" in status["reason"]
    sigs = [e for e in events if e["event"] == "signal"]
    term = [s for s in sigs if s["signal"] == "SIGTERM"]
    kill = [s for s in sigs if s["signal"] == "SIGKILL"]
    assert term and kill and len(term) + len(kill) == len(sigs), sigs
    assert sigs[:len(term)] == term        # TERM (group, tree), then KILL
    assert all(s["reason"] == "parent_died" for s in term), term
    assert kill[0]["mono_ms"] - term[0]["mono_ms"] >= 490, sigs
    [end] = [e for e in events if e["event"] == "attempt_end"]
    assert end["state"] == "parent_died"
    assert all(gone(p) for p in job), [p for p in job if not gone(p)]
    assert tagged_pids(h.tag) == []


def test_spawning_thread_exit_is_not_parent_death(jw):
    """Servers fork from thread pools: the thread that started jobwrap
    exits at once, its process lives on.  The run is not disturbed (with
    PR_SET_PDEATHSIG on jobwrap it would die with the thread)."""
    h = Harness(jw)
    h.start([PY, "-c", THREAD_PARENT, str(h.out)] + h.jobwrap(
        "-k", "500ms", "--", "sh", "-c", "sleep 1.5; echo done"))
    _, tid, still_there, ntasks, polled = h.expect("THREAD_GONE")
    assert still_there == "False", "the spawning thread did not exit"
    assert ntasks == "1"
    assert polled == "None", "jobwrap ended as its thread exited"
    assert h.expect("JWRC", timeout=15)[1] == "0", output(h)
    h.finish()
    events, status = read_events(h.ev), h.status()
    ran_to_the_end(h, events, status)
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert status["duration_ms"] >= 1400
    assert "parent" not in status["reason"], status["reason"]
    assert not [e for e in events if e["event"] == "signal"]
    assert output(h) == b"done\n"


def test_parent_dies_during_retry_backoff(jw):
    """Killed in the middle of a 30 s backoff: the run ends at once as
    parent_died, and no further attempt is started."""
    h, parent, jwpid = with_parent(
        jw, "-t", "0", "--heartbeat", "0", "--retries", "5", "--retry-on",
        "nonzero", "--backoff", "30s", "--backoff-max", "30s", "--",
        "sh", "-c", "exit 1")
    # Full jitter: take the first backoff that is long enough to be
    # clearly in the middle of when the parent dies.
    for n in range(1, 6):
        events = wait_event(h.ev, "retry", count=n, timeout=10)
        retry = [e for e in events if e["event"] == "retry"][n - 1]
        if retry["delay_ms"] >= 3000:
            break
    else:
        pytest.fail("five backoffs under 3 s out of 30 s")
    t0 = time.monotonic()
    os.kill(parent, signal.SIGKILL)
    rc = h.reaped(jwpid, timeout=10)
    wall = time.monotonic() - t0
    assert rc == 129
    assert wall < 1.5, wall
    h.finish()
    events, status = read_events(h.ev), h.status()
    ran_to_the_end(h, events, status)
    assert status["state"] == "parent_died" and status["exit_code"] == 129
    assert len([e for e in events if e["event"] == "spawn"]) == n
    assert len([e for e in events if e["event"] == "retry"]) == n
    assert status["attempt"] == n
    assert f"before attempt {n + 1}" in status["reason"], status["reason"]
    assert f"(pid {parent})" in status["reason"]
    # The record came in well before the backoff would have ended.
    assert events[-1]["mono_ms"] < retry["mono_ms"] + retry["delay_ms"]
    assert tagged_pids(h.tag) == []


# ---- --on-parent-death continue -------------------------------------------------

def test_parent_killed_continue_runs_unattended(jw):
    h, parent, jwpid = with_parent(
        jw, "--on-parent-death", "continue", "-k", "500ms", "--heartbeat",
        "0", "--", "sh", "-c", "sleep 1.5; echo done")
    wait_event(h.ev, "spawn")
    os.kill(parent, signal.SIGKILL)
    assert h.reaped(parent) == -signal.SIGKILL
    # The status says so at once, while the run goes on.
    st = wait_for(lambda: (lambda s: s if "unattended" in s["reason"]
                           else None)(h.status()), timeout=5)
    assert st, h.status()
    assert st["state"] == "running" and st["ended_at"] is None
    assert f"(pid {parent})" in st["reason"]
    assert h.reaped(jwpid, timeout=15) == 0, output(h)
    h.finish()
    events, status = read_events(h.ev), h.status()
    ran_to_the_end(h, events, status)
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert status["duration_ms"] >= 1400
    reason = status["reason"]
    assert reason.startswith("the command exited with status 0"), reason
    assert "unattended" in reason and "--on-parent-death continue" in reason
    assert f"(pid {parent})" in reason
    assert not [e for e in events if e["event"] == "signal"]
    out = output(h).decode()
    assert "done\n" in out                  # the output still went out
    assert "the run goes on" in out and str(parent) in out   # a warning
    assert tagged_pids(h.tag) == []


# ---- a parent gone before jobwrap looks --------------------------------------------

def test_adopted_before_start_the_adopter_is_the_parent(jw):
    """jobwrap exec'd only after its forker has died and it was handed to
    a subreaper: its first getppid() is the adopter, which cannot be told
    from a process that started it.  The run goes on normally, watched:
    when the adopter dies, the run ends as parent_died."""
    h = Harness(jw)
    h.start([PY, "-c", HARNESS, PY, "-c", ADOPTED, str(h.out)] +
            h.jobwrap("-k", "500ms", "--heartbeat", "0", "--",
                      "sleep", "30"))
    adopter = h.child
    assert int(h.expect("HARNESS")[1]) == adopter
    _, forker, _, adopted_by, _, jwpid = h.expect("FORKER")
    forker, jwpid = int(forker), int(jwpid)
    assert int(adopted_by) == adopter
    assert h.reaped(forker) == 0
    wait_event(h.ev, "spawn")
    time.sleep(0.5)
    st = h.status()
    assert st["state"] == "running", st        # the dead forker is no parent
    assert st["jobwrap_pid"] == jwpid
    t0 = time.monotonic()
    os.kill(adopter, signal.SIGKILL)
    assert h.reaped(adopter) == -signal.SIGKILL
    assert h.reaped(jwpid, timeout=10) == 129
    assert time.monotonic() - t0 < 2.5
    h.finish()
    events, status = read_events(h.ev), h.status()
    ran_to_the_end(h, events, status)
    assert status["state"] == "parent_died"
    assert f"(pid {adopter})" in status["reason"], status["reason"]
    assert tagged_pids(h.tag) == []


@pytest.mark.parametrize("pause", ["", "sleep 0.001;", "sleep 0.005;",
                                   "sleep 0.05;"])
def test_parent_exits_as_jobwrap_starts(jw, pause):
    """A shell starts jobwrap in the background and exits at once: a race
    with jobwrap's first getppid().  Either jobwrap was adopted first (by
    the harness, a subreaper that lives on) and the run succeeds, or it
    saw its real parent die and the run ends as parent_died, with exit
    129, naming that parent.  Never a hang, never a half record, never a
    leftover process."""
    seen = []
    for _ in range(3):
        h = Harness(jw)
        h.start(["sh", "-c", f'"$@" >{h.out} 2>&1 & {pause} exit 0', "sh"] +
                h.jobwrap("-k", "500ms", "--heartbeat", "0", "--", "sh",
                          "-c", "sleep 0.3; echo done"))
        shell = h.child
        h.finish(timeout=15)
        events, status = read_events(h.ev), h.status()
        ran_to_the_end(h, events, status)
        rc = h.reaped(status["jobwrap_pid"], timeout=0)
        assert h.reaped(shell, timeout=0) == 0
        spawned = [e for e in events if e["event"] == "spawn"]
        seen.append((status["state"], len(spawned)))
        if status["state"] == "succeeded":
            assert rc == 0
            assert output(h) == b"done\n"
            assert "parent" not in status["reason"]
        else:
            assert status["state"] == "parent_died", status
            assert rc == 129
            assert f"(pid {shell})" in status["reason"], status["reason"]
            if not spawned:
                assert "before the command was started" in status["reason"]
                assert status["pid"] is None and status["attempt"] == 0
        assert tagged_pids(h.tag) == []
    print(pause or "no pause", seen)


# ---- jobwrap itself SIGKILLed -----------------------------------------------------

def test_jobwrap_killed_child_dies_group_left_for_reap(jw, tmp_path):
    """jobwrap is SIGKILLed: its child dies with it (PR_SET_PDEATHSIG),
    a grandchild in the process group does not.  --reap kills it, rewrites
    the status as orphaned (ended_at, a reason) and says so; a second
    --reap changes nothing."""
    p, tag, ev, st = jw.start(["--heartbeat", "0", "--", "sh", "-c",
                               "sleep 300 & echo $!; wait"],
                              stdin=subprocess.DEVNULL)
    grandchild = int(p.stdout.readline())
    spawn = wait_event(ev, "spawn")[1]
    child, pgid = spawn["pid"], spawn["pgid"]
    assert pgid_of(grandchild) == pgid
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=5)
    assert wait_for(lambda: gone(child), timeout=5), "child outlived jobwrap"
    time.sleep(0.2)
    assert not gone(grandchild) and pgid_of(grandchild) == pgid
    before = load_status(st)
    assert before["state"] == "running" and before["ended_at"] is None

    r = subprocess.run([BIN, "--reap", str(tmp_path)], capture_output=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"{tmp_path}/{st.name}: orphaned (killed 1 " \
                                "process)\n"
    assert wait_for(lambda: gone(grandchild), timeout=2)
    after = load_status(st)
    assert after["state"] == "orphaned"
    assert after["ended_at"] is not None and after["exit_code"] is None
    assert after["updated_at"] == after["ended_at"]
    assert after["ended_at"] > before["started_at"]
    assert f"jobwrap pid {p.pid}" in after["reason"]
    assert f"killed 1 leftover process of process group {pgid}" in \
        after["reason"], after["reason"]
    assert after["duration_ms"] >= 200
    for k in ("run_id", "command", "jobwrap_pid", "pid", "pgid",
              "started_at", "attempt"):
        assert after[k] == before[k], k
    # The events are the supervisor's alone: no exit was made up.
    assert [e["event"] for e in read_events(ev)] == ["start", "spawn"]

    data, mtime = st.read_bytes(), st.stat().st_mtime_ns
    r = subprocess.run([BIN, "--reap", str(tmp_path)], capture_output=True,
                       timeout=10)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert st.read_bytes() == data and st.stat().st_mtime_ns == mtime
    assert tagged_pids(tag) == []
