"""Idle timeout (issue 3): a silent child is taken as hung (timeout kind
idle, state idle_timeout, exit 124); output on either stream and accepted
notify datagrams (WATCHDOG=1) keep it alive, spoofed ones do not; idle is
retried by default; heartbeats carry since_output_ms."""
import os
import socket
import subprocess
import time

import pytest

from conftest import (check_events, helper, load_status, per_attempt,
                      read_events, wait_event)

PY = "/usr/bin/python3"
HELPERS_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "helpers")
NOTIFY_PY = os.path.join(HELPERS_SRC, "notify.py")


def child_env(pid):
    raw = open(f"/proc/{pid}/environ", "rb").read()
    return dict(kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv)


def test_silent_child_is_idle(jw):
    r = jw.run(["--idle-timeout", "300ms", "-k", "1s", "--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert 0.25 < r.duration < 3
    assert r.names() == ["start", "spawn", "timeout", "signal",
                         "attempt_end", "exit"]
    spawn, tout = r.find("spawn")[0], r.find("timeout")[0]
    assert (tout["attempt"], tout["kind"]) == (1, "idle")
    # the idle clock starts at spawn
    assert 280 <= tout["mono_ms"] - spawn["mono_ms"] < 1500
    sig = r.find("signal")[0]
    assert (sig["signal"], sig["target"], sig["reason"]) == \
        ("SIGTERM", "group", "idle")
    end = r.find("attempt_end")[0]
    assert end["state"] == "idle_timeout"
    assert end["exit_code"] is None and end["signal"] == "SIGTERM"
    ex = r.events[-1]
    assert (ex["state"], ex["exit_code"], ex["attempts"]) == \
        ("idle_timeout", 124, 1)
    st = r.status
    assert st["state"] == "idle_timeout" and st["exit_code"] == 124
    assert ("attempt 1 wrote no output and sent no notify message for 300ms"
            " (--idle-timeout)") in st["reason"], st["reason"]


def test_idle_after_some_output(jw):
    r = jw.run(["--idle-timeout", "300ms", "--", "sh", "-c",
                "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done; sleep 30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.out == b"1\n2\n3\n4\n5\n"
    spawn, tout = r.find("spawn")[0], r.find("timeout")[0]
    # the last output came ~500 ms after spawn: idle counts from there
    assert tout["mono_ms"] - spawn["mono_ms"] >= 700
    assert tout["kind"] == "idle"


@pytest.mark.parametrize("how", [
    "echo tick",
    "printf . >&2",                               # any byte, no newline
])
def test_regular_output_is_not_cut(jw, how):
    r = jw.run(["--idle-timeout", "400ms", "--", "sh", "-c",
                f"i=0; while [ $i -lt 12 ]; do {how}; sleep 0.1; "
                "i=$((i+1)); done"])
    check_events(r.events)
    assert r.rc == 0, r.status["reason"]
    assert r.find("timeout") == []
    assert r.status["state"] == "succeeded"
    assert r.duration >= 1.1


def test_output_of_a_grandchild_counts(jw):
    r = jw.run(["--idle-timeout", "400ms", "--", "sh", "-c",
                "(for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.1; "
                "done) & wait"])
    check_events(r.events)
    assert r.rc == 0
    assert r.find("timeout") == []


WATCHDOG_KEEPERS = {
    "python": [PY, NOTIFY_PY, "every:0.1:12:WATCHDOG=1"],
    "c": ["sh", "-c", "i=0; while [ $i -lt 12 ]; do "
          f"{helper('jwnotify')} WATCHDOG=1 || exit 9; sleep 0.1; "
          "i=$((i+1)); done"],
    "status": [PY, NOTIFY_PY, "every:0.1:12:STATUS=working"],
}


@pytest.mark.parametrize("keeper", sorted(WATCHDOG_KEEPERS))
def test_silent_child_kept_alive_by_watchdog(jw, keeper):
    r = jw.run(["--idle-timeout", "400ms", "--"] + WATCHDOG_KEEPERS[keeper])
    check_events(r.events)
    assert r.rc == 0, (r.err, r.status["reason"])
    assert r.out == b"" and r.err == b""          # really silent
    assert r.find("timeout") == []
    assert r.duration >= 1.1
    assert r.status["notify_dropped"] == 0
    if keeper == "status":
        assert len(r.find("notify")) == 12
    else:
        # WATCHDOG=1 alone is no notify event
        assert r.find("notify") == []


def test_watchdog_stops_then_idle(jw):
    r = jw.run(["--idle-timeout", "300ms", "--", PY, NOTIFY_PY,
                "every:0.1:6:WATCHDOG=1", "sleep:30"])
    check_events(r.events)
    assert r.rc == 124
    spawn, tout = r.find("spawn")[0], r.find("timeout")[0]
    assert tout["kind"] == "idle"
    assert tout["mono_ms"] - spawn["mono_ms"] >= 750


def test_spoofed_watchdog_does_not_keep_a_child_alive(jw):
    p, _, ev, st = jw.start(["--idle-timeout", "600ms", "--",
                             "sleep", "30"], stdin=subprocess.DEVNULL)
    events = wait_event(ev, "spawn")
    pid = [e for e in events if e["event"] == "spawn"][0]["pid"]
    name = child_env(pid)[b"NOTIFY_SOCKET"].decode()
    assert name.startswith("@")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sent = 0
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < 5:
        try:
            s.sendto(b"WATCHDOG=1", "\0" + name[1:])
            sent += 1
        except OSError:
            break                                 # socket gone: run ended
        time.sleep(0.05)
    p.communicate(timeout=15)
    s.close()
    assert p.returncode == 124
    assert time.monotonic() - t0 < 3
    events = read_events(ev)
    check_events(events)
    assert [e["kind"] for e in events if e["event"] == "timeout"] == ["idle"]
    status = load_status(st)
    assert status["state"] == "idle_timeout"
    assert 1 <= status["notify_dropped"] <= sent


# ---- retries -------------------------------------------------------------------

def test_idle_is_retried_by_default(jw):
    r = jw.run(["--idle-timeout", "200ms", "--retries", "2", "--backoff",
                "10ms", "-k", "1s", "--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert [e["kind"] for e in r.find("timeout")] == ["idle"] * 3
    assert [e["reason"] for e in r.find("retry")] == ["idle", "idle"]
    assert [e["state"] for e in r.find("attempt_end")] == \
        ["idle_timeout"] * 3
    assert [e["reason"] for e in r.find("signal")] == ["idle"] * 3
    assert r.events[-1]["attempts"] == 3
    assert r.status["state"] == "idle_timeout"
    assert "attempt 3 wrote no output" in r.status["reason"]
    assert r.duration < 5


def test_idle_then_success(jw, tmp_path):
    cmd = per_attempt(tmp_path, "sleep 30", "echo ok")
    r = jw.run(["--idle-timeout", "200ms", "--retries", "1", "--backoff",
                "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 0 and r.out == b"ok\n"
    assert r.status["state"] == "succeeded"
    assert [e["state"] for e in r.find("attempt_end")] == \
        ["idle_timeout", "succeeded"]


def test_idle_not_in_retry_on(jw):
    r = jw.run(["--idle-timeout", "200ms", "--retries", "3", "--retry-on",
                "nonzero,attempt-timeout", "--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.find("retry") == []
    assert r.status["state"] == "idle_timeout"


def test_idle_clock_restarts_with_each_attempt(jw, tmp_path):
    # attempt 1 talks for 0.5 s then fails; attempt 2 is silent at once
    cmd = per_attempt(tmp_path,
                      "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done; "
                      "exit 1", "sleep 30")
    r = jw.run(["--idle-timeout", "300ms", "--retries", "1", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 124
    spawn2 = r.find("spawn")[1]
    tout = r.find("timeout")[0]
    assert tout["attempt"] == 2
    assert 280 <= tout["mono_ms"] - spawn2["mono_ms"] < 1500


# ---- since_output_ms -------------------------------------------------------------

def test_since_output_ms_in_heartbeats(jw):
    r = jw.run(["--heartbeat", "100ms", "--", "sh", "-c",
                "sleep 0.1; echo a; sleep 0.7; echo b >&2; sleep 0.45"])
    check_events(r.events)
    assert r.rc == 0
    spawn = r.find("spawn")[0]
    hbs = r.find("heartbeat")
    assert len(hbs) >= 8, len(hbs)
    since = [h["since_output_ms"] for h in hbs]
    for h in hbs:
        assert type(h["since_output_ms"]) is int
        assert 0 <= h["since_output_ms"] <= h["mono_ms"] - spawn["mono_ms"] + 5
        assert h["attempt"] == 1
    # the silence after "a" grows to ~700 ms, then "b" resets it
    peak = max(range(len(since)), key=lambda i: since[i])
    assert since[peak] >= 500, since
    assert peak < len(since) - 1, since
    assert since[-1] < since[peak], since
    for a, b in zip(since[:peak], since[1:peak + 1]):
        if b >= a:
            continue
        assert b < 150, since                    # only output lowers it


def test_since_output_ms_counts_from_spawn_when_silent(jw):
    r = jw.run(["--heartbeat", "100ms", "--", "sleep", "0.55"])
    check_events(r.events)
    spawn = r.find("spawn")[0]
    hbs = r.find("heartbeat")
    assert len(hbs) >= 3
    for h in hbs:
        elapsed = h["mono_ms"] - spawn["mono_ms"]
        assert elapsed - 60 <= h["since_output_ms"] <= elapsed + 5, \
            (h, spawn)


def test_since_output_ms_per_attempt(jw, tmp_path):
    cmd = per_attempt(tmp_path, "sleep 0.5; exit 1", "sleep 0.45")
    r = jw.run(["--heartbeat", "100ms", "--retries", "1", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 0
    spawn2 = r.find("spawn")[1]
    hbs2 = [h for h in r.find("heartbeat") if h["attempt"] == 2]
    assert hbs2
    for h in hbs2:
        assert h["since_output_ms"] <= h["mono_ms"] - spawn2["mono_ms"] + 5
