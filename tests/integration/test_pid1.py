"""jobwrap as PID 1 of a PID namespace (a container entrypoint).

As PID 1 it inherits every orphan of the namespace: each must be reaped (no
zombie piles up under it), cancel signals must still reach it (the kernel
drops signals to PID 1 that have no handler, unless they are blocked and
read, as jobwrap does), and it still writes its status and events.
"""
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import BIN, check_events, load_status, read_events, wait_for

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None or
                                os.geteuid() != 0,
                                reason="needs unshare(1) and root")


def children(pid):
    out = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (t / "children").read_text().split()]
    return out


def state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def jobwrap_in_ns(unshare_pid):
    """Host pid of jobwrap, the only child of unshare(1)."""
    kids = wait_for(lambda: children(unshare_pid), timeout=5)
    assert len(kids) == 1
    return kids[0]


def unshared(jw, job, *opts):
    """Popen unshare(1) running jobwrap as PID 1; the fixture's tag applies."""
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    ev = jw.tmp / "pid1.events"
    st = jw.tmp / "pid1.status"
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", BIN,
           "--events-file", str(ev), "--status-file", str(st), *opts,
           "--", "sh", "-c", job]
    p = subprocess.Popen(cmd, env=jw.env(tag), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    jw.procs.append(p)
    return p, ev, st


def test_orphans_are_reaped_as_pid1(jw):
    # Ten orphans exit while the job still runs: each must be reaped.
    job = "for i in 1 2 3 4 5 6 7 8 9 10; do (sleep 0.05 &) ; done; sleep 1"
    p, ev, st = unshared(jw, job, "--heartbeat", "0")
    jpid = jobwrap_in_ns(p.pid)
    time.sleep(0.6)
    zombies = [c for c in children(jpid) if state(c) == "Z"]
    assert zombies == []
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    events = read_events(ev)
    check_events(events)
    assert events[-1]["state"] == "succeeded"
    assert events[0]["jobwrap_pid"] == 1


def test_cancel_reaches_pid1(jw):
    p, ev, st = unshared(jw, "sleep 30", "-k", "2s")
    jpid = jobwrap_in_ns(p.pid)
    wait_for(lambda: ev.exists() and "spawn" in ev.read_text(), timeout=5)
    os.kill(jpid, signal.SIGTERM)
    p.communicate(timeout=20)
    # unshare(1) passes on the status of its child.
    assert p.returncode == 128 + signal.SIGTERM
    events = read_events(ev)
    check_events(events)
    assert events[-1]["state"] == "cancelled"
    assert '"state": "cancelled"' in st.read_text()


def test_pid1_under_contain(jw):
    # As PID 1 jobwrap still installs its filter: the job cannot signal
    # PID 1 (jobwrap) or kill(-1), while kill(0) (its own group) works,
    # and the run ends as the job decides.
    job = ("kill -0 1 2>/dev/null; echo one=$?; kill -0 -1 2>/dev/null; "
           "echo all=$?; kill -0 0; echo own=$?; "
           "grep ^Seccomp: /proc/self/status")
    p, ev, st = unshared(jw, job, "--heartbeat", "0")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out.decode().split() == ["one=1", "all=1", "own=0", "Seccomp:",
                                    "2"]
    events = read_events(ev)
    check_events(events)
    assert events[0]["config"]["seccomp"] == "contain"
    assert events[-1]["state"] == "succeeded"


def test_sigterm_to_pid1_with_a_job_that_ignores_it(jw):
    # docker stop: SIGTERM to PID 1, the job ignores it, SIGKILL after the
    # grace; the status still says cancelled, and nothing is left.
    p, ev, st = unshared(jw, "trap '' TERM; sleep 30 & wait", "-k", "300ms")
    jpid = jobwrap_in_ns(p.pid)
    wait_for(lambda: ev.exists() and "spawn" in ev.read_text(), timeout=5)
    os.kill(jpid, signal.SIGTERM)
    p.communicate(timeout=20)
    assert p.returncode == 128 + signal.SIGTERM
    events = read_events(ev)
    check_events(events)
    sigs = [e["signal"] for e in events if e["event"] == "signal"]
    assert sigs[0] == "SIGTERM" and sigs[-1] == "SIGKILL"
    assert load_status(st)["state"] == "cancelled"
