"""The status file is replaced atomically: a reader never sees it torn.

Parents poll the status file while the run goes on (dashboards, --inspect,
a restarted server).  Two reader processes hammer it (open, read,
json.loads, as fast as they can) while jobwrap rewrites it at every 10 ms
heartbeat and at every SIGUSR1 sent in a burst.  A reader must never get
a partial or invalid document, never find the file missing once it has
been written, and never see it go back in time.
"""
import json
import signal
import subprocess
import sys
import threading
import time

from conftest import (STATUS_FIELDS, TERMINAL, check_events, load_status,
                      read_events)

HAMMER = r'''
import json, os, sys
path, stop, fields = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
seen = False
reads = missing_after = 0
bad, problems, stamps = [], [], set()
last = None
terminal = None
while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        missing_after += seen
        continue
    try:
        doc = json.loads(data)
    except ValueError as e:
        bad.append(f"{e}: {data[:80]!r}...{data[-80:]!r} ({len(data)} bytes)")
        continue
    if not data.endswith(b"}\n"):
        bad.append(f"no final newline: ...{data[-80:]!r}")
    seen = True
    reads += 1
    absent = [k for k in fields if k not in doc]
    if absent:
        problems.append(f"fields missing: {absent}")
    key = (doc["updated_at"], doc["events_seq"])
    if last is not None and (key[0] < last[0] or key[1] < last[1]):
        problems.append(f"went back in time: {last} -> {key}")
    last = key
    stamps.add(key)
    if terminal is not None and doc["state"] != terminal:
        problems.append(f"terminal {terminal} became {doc['state']}")
    if doc["state"] != "running":
        terminal = doc["state"]
        if doc["ended_at"] is None:
            problems.append("terminal state without ended_at")
print(json.dumps({"reads": reads, "missing_after": missing_after,
                  "bad": bad[:5], "nbad": len(bad), "problems": problems[:5],
                  "versions": len(stamps), "final": terminal}))
'''


def hammered_run(jw, args, readers=2, usr1=True):
    """Run jobwrap while reader processes hammer its status file; returns
    (rc, stderr, reader reports, events, final status)."""
    stop = jw.tmp / "stop"
    p, tag, ev, st = jw.start(list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL)
    # Started right after jobwrap: most see the file appear.
    hammers = [subprocess.Popen([sys.executable, "-c", HAMMER, str(st),
                                 str(stop), ",".join(STATUS_FIELDS)],
                                stdout=subprocess.PIPE)
               for _ in range(readers)]
    done = threading.Event()

    def poke():
        # Bursts of SIGUSR1: "rewrite the status now", back to back.
        while not done.is_set():
            try:
                p.send_signal(signal.SIGUSR1)
            except ProcessLookupError:
                return
            time.sleep(0.003)

    t = None
    if usr1:
        # Not before jobwrap has its signalfd: the first event is after it.
        assert wait_for_file(ev)
        t = threading.Thread(target=poke)
        t.start()
    try:
        _, err = p.communicate(timeout=30)
    finally:
        done.set()
        if t is not None:
            t.join()
    time.sleep(0.1)  # the readers take the final version a few times
    stop.write_text("")
    reports = []
    for h in hammers:
        out, _ = h.communicate(timeout=30)
        assert h.returncode == 0
        reports.append(json.loads(out))
    events = read_events(ev)
    check_events(events)
    return p.returncode, err, reports, events, load_status(st)


def wait_for_file(path, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size > 0:
            return True
        time.sleep(0.001)
    return False


def check_reports(reports, final):
    for r in reports:
        assert r["nbad"] == 0, r["bad"]
        assert r["missing_after"] == 0, r
        assert r["problems"] == [], r["problems"]
        assert r["final"] == final, r
        assert r["reads"] > 200, r
        assert r["versions"] > 30, r  # it really was rewritten meanwhile


def test_status_never_torn_while_heartbeating(jw):
    rc, err, reports, events, status = hammered_run(
        jw, ["--heartbeat", "10ms", "--", "sleep", "1.2"])
    assert rc == 0, err
    assert status["state"] == "succeeded"
    check_reports(reports, "succeeded")
    assert len([e for e in events if e["event"] == "heartbeat"]) > 60


def test_status_never_torn_through_deadline_and_kill(jw):
    rc, err, reports, events, status = hammered_run(
        jw, ["--heartbeat", "10ms", "-t", "1s", "-k", "300ms", "--", "sh",
             "-c", "trap '' TERM; sleep 30"])
    assert rc == 124, err
    assert status["state"] == "timeout" and status["ended_at"] is not None
    assert set(status) >= set(STATUS_FIELDS)
    assert status["state"] in TERMINAL
    check_reports(reports, "timeout")
    sig = [(e["signal"], e["reason"]) for e in events
           if e["event"] == "signal"]
    assert sig == [("SIGTERM", "deadline"), ("SIGKILL", "kill_after")]
