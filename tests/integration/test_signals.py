"""Signals: TERM/INT/HUP/QUIT to jobwrap cancel the run, a second one skips
the grace, USR1 asks for a heartbeat and a status now; the job's own
signal (-s) and the SIGKILL escalation (-k); what the child inherits."""
import signal
import subprocess
import time

import pytest

from conftest import (check_events, load_status, read_events, wait_event,
                      wait_for)


def finish(p, ev, st, input=None, timeout=10):
    out, err = p.communicate(input=input, timeout=timeout)
    events = read_events(ev)
    check_events(events)
    return out, err, events, load_status(st)


def names(events):
    return [e["event"] for e in events]


def find(events, name):
    return [e for e in events if e["event"] == name]


# ---- cancel --------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: s.name)
def test_cancel(jw, sig):
    p, _, ev, st = jw.start(["--", "sleep", "30"], stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    t0 = time.monotonic()
    p.send_signal(sig)
    _, _, events, status = finish(p, ev, st)
    assert time.monotonic() - t0 < 3
    assert p.returncode == 128 + sig
    assert names(events) == ["start", "spawn", "signal", "attempt_end",
                             "exit"]
    s = find(events, "signal")[0]
    assert (s["attempt"], s["signal"], s["target"], s["reason"]) == \
        (1, "SIGTERM", "group", "cancel")
    end = find(events, "attempt_end")[0]
    assert end["state"] == "cancelled"
    assert end["exit_code"] is None and end["signal"] == "SIGTERM"
    ex = events[-1]
    assert ex["state"] == "cancelled" and ex["exit_code"] == 128 + sig
    assert status["state"] == "cancelled"
    assert status["exit_code"] == 128 + sig
    assert sig.name in status["reason"]
    assert status["ended_at"] is not None


def test_cancel_uses_the_configured_signal(jw):
    p, _, ev, st = jw.start(["-s", "INT", "--", "sleep", "30"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 128 + signal.SIGTERM     # what jobwrap received
    assert find(events, "signal")[0]["signal"] == "SIGINT"  # what it sent
    assert find(events, "attempt_end")[0]["signal"] == "SIGINT"


def test_cancel_lets_the_child_clean_up(jw):
    """The child gets the signal, may finish its output and exit."""
    p, _, ev, st = jw.start(["--", "sh", "-c",
                             "trap 'echo cleaning; exit 0' TERM; "
                             "echo ready; while :; do sleep 0.05; done"],
                            stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, _, events, status = finish(p, ev, st)
    assert p.returncode == 143
    assert out == b"cleaning\n"
    end = find(events, "attempt_end")[0]
    assert end["state"] == "cancelled"
    assert end["exit_code"] == 0 and end["signal"] is None
    assert "signal" in names(events)
    assert [s["signal"] for s in find(events, "signal")] == ["SIGTERM"]
    assert status["state"] == "cancelled"


def test_cancel_kills_the_whole_tree(jw):
    p, _, ev, st = jw.start(["--", "sh", "-c",
                             "sleep 30 & setsid sh -c 'sleep 30 &'; "
                             "echo ready; wait"],
                            stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 143
    targets = {s["target"] for s in find(events, "signal")}
    assert targets == {"group", "tree"}
    assert {s["reason"] for s in find(events, "signal")} == {"cancel"}
    # the fixture fails the test if any of the sleeps survived


def test_cancel_escalates_after_kill_after(jw):
    p, _, ev, st = jw.start(["-k", "300ms", "--", "sh", "-c",
                             "trap '' TERM; echo ready; sleep 30"],
                            stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 143
    sigs = find(events, "signal")
    assert [(s["signal"], s["reason"]) for s in sigs] == \
        [("SIGTERM", "cancel"), ("SIGKILL", "kill_after")]
    assert sigs[1]["mono_ms"] - sigs[0]["mono_ms"] >= 250
    assert find(events, "attempt_end")[0]["signal"] == "SIGKILL"
    assert "SIGKILL" in status["reason"]


def test_second_cancel_skips_the_grace(jw):
    p, _, ev, st = jw.start(["-k", "30s", "--", "sh", "-c",
                             "trap '' TERM INT; echo ready; sleep 30"],
                            stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    wait_event(ev, "signal")
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, _, events, status = finish(p, ev, st)
    assert time.monotonic() - t0 < 3
    assert p.returncode == 143          # the first signal names the cancel
    sigs = find(events, "signal")
    assert [s["signal"] for s in sigs] == ["SIGTERM", "SIGKILL"]
    assert sigs[1]["reason"] == "cancel"   # what cut the grace short
    assert status["state"] == "cancelled"
    assert find(events, "attempt_end")[0]["signal"] == "SIGKILL"


def test_cancel_during_the_deadline_grace(jw):
    """A deadline began the end; a cancel then only shortens the grace."""
    p, _, ev, st = jw.start(["-t", "300ms", "-k", "30s", "--", "sh", "-c",
                             "trap '' TERM; sleep 30"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "timeout")
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 124
    assert status["state"] == "timeout"
    assert [(s["signal"], s["reason"]) for s in find(events, "signal")] == \
        [("SIGTERM", "deadline"), ("SIGKILL", "cancel")]   # cut short


def test_cancel_during_leftover_grace_keeps_the_outcome(jw, tmp_path):
    ready = tmp_path / "ready"
    p, _, ev, st = jw.start(["-k", "30s", "--", "sh", "-c",
                             f"sh -c \"trap '' TERM; touch {ready}; "
                             f"sleep 30\" & while [ ! -e {ready} ]; do "
                             "sleep 0.01; done; exit 5"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "signal")            # the leftover got SIGTERM
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 5
    assert status["state"] == "failed"
    assert [(s["signal"], s["reason"]) for s in find(events, "signal")] == \
        [("SIGTERM", "leftover"), ("SIGKILL", "cancel")]   # cut short


# ---- USR1 -----------------------------------------------------------------

def test_usr1_heartbeat_and_status_now(jw):
    p, _, ev, st = jw.start(["--heartbeat", "0", "--", "sh", "-c",
                             "printf abc; read x; exit 7"],
                            stdin=subprocess.PIPE)
    assert p.stdout.read(3) == b"abc"      # relayed: jobwrap counted it
    p.send_signal(signal.SIGUSR1)
    wait_event(ev, "heartbeat")
    wait_for(lambda: load_status(st)["events_seq"] >= 3)
    mid = load_status(st)
    _, _, events, status = finish(p, ev, st, input=b"\n")
    assert p.returncode == 7                # USR1 does not cancel
    hbs = find(events, "heartbeat")
    assert len(hbs) == 1
    hb = hbs[0]
    assert hb["attempt"] == 1 and hb["bytes_out"] == 3
    assert mid["events_seq"] == hb["seq"]
    assert mid["state"] == "running" and mid["bytes_out"] == 3
    assert status["state"] == "failed"


def test_usr1_twice_two_heartbeats(jw):
    p, _, ev, st = jw.start(["--heartbeat", "0", "--", "sh", "-c", "read x"],
                            stdin=subprocess.PIPE)
    wait_event(ev, "spawn")
    p.send_signal(signal.SIGUSR1)
    wait_event(ev, "heartbeat", 1)
    p.send_signal(signal.SIGUSR1)
    wait_event(ev, "heartbeat", 2)
    _, _, events, _ = finish(p, ev, st, input=b"\n")
    assert p.returncode == 0
    assert len(find(events, "heartbeat")) == 2


# ---- the job's signal and escalation on deadline ----------------------------

def test_deadline_kill_after_escalation(jw):
    r = jw.run(["-t", "300ms", "-k", "300ms", "--", "sh", "-c",
                "trap '' TERM; sleep 30"])
    assert r.rc == 124
    check_events(r.events)
    sigs = r.find("signal")
    assert [(s["signal"], s["target"], s["reason"]) for s in sigs] == \
        [("SIGTERM", "group", "deadline"), ("SIGKILL", "group", "kill_after")]
    assert sigs[1]["mono_ms"] - sigs[0]["mono_ms"] >= 250
    end = r.find("attempt_end")[0]
    assert end["state"] == "timeout" and end["signal"] == "SIGKILL"
    assert "--kill-after" in r.status["reason"]


def test_kill_after_zero_kills_at_once(jw):
    r = jw.run(["-t", "300ms", "-k", "0", "--", "sh", "-c",
                "trap '' TERM; sleep 30"])
    assert r.rc == 124
    assert r.duration < 3
    assert [s["signal"] for s in r.find("signal")] == ["SIGTERM", "SIGKILL"]


def test_custom_signal_reaches_a_handler(jw):
    r = jw.run(["-t", "300ms", "-s", "USR1", "--", "sh", "-c",
                "trap 'echo got-usr1; exit 3' USR1; "
                "while :; do sleep 0.05; done"])
    assert r.rc == 124
    assert r.out == b"got-usr1\n"
    end = r.find("attempt_end")[0]
    assert end["exit_code"] == 3 and end["signal"] is None
    assert r.find("signal")[0]["signal"] == "SIGUSR1"


def test_stopped_child_is_continued(jw):
    """A stopped job still acts on the signal: jobwrap sends SIGCONT."""
    r = jw.run(["-t", "300ms", "-k", "20s", "--", "sh", "-c",
                "kill -STOP $$; sleep 30"])
    assert r.rc == 124
    assert r.duration < 3
    assert [s["signal"] for s in r.find("signal")] == ["SIGTERM"]
    assert r.find("attempt_end")[0]["signal"] == "SIGTERM"


def test_stopped_child_cancelled(jw):
    p, _, ev, st = jw.start(["-k", "20s", "--", "sh", "-c",
                             "kill -STOP $$; sleep 30"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, _, events, status = finish(p, ev, st)
    assert time.monotonic() - t0 < 3
    assert p.returncode == 130
    assert status["state"] == "cancelled"


# ---- what the child inherits ------------------------------------------------

def proc_status_masks(text):
    m = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in ("SigBlk", "SigIgn"):
            m[k] = int(v.strip(), 16)
    return m


def test_child_signal_mask_and_dispositions_are_clean(jw):
    """jobwrap blocks signals for its signalfd; the child must not inherit
    that mask, nor SIGPIPE ignored."""
    r = jw.run(["--", "cat", "/proc/self/status"])
    assert r.rc == 0
    m = proc_status_masks(r.out.decode())
    assert m["SigBlk"] == 0, hex(m["SigBlk"])
    assert m["SigIgn"] == 0, hex(m["SigIgn"])


def test_child_dispositions_reset_even_if_parent_ignored(jw):
    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})

    r = jw.run(["--", "cat", "/proc/self/status"], preexec_fn=ignore)
    assert r.rc == 0
    m = proc_status_masks(r.out.decode())
    assert m["SigBlk"] == 0 and m["SigIgn"] == 0


def test_cancel_works_when_parent_ignored_term(jw):
    """jobwrap reads TERM from a signalfd with it blocked: an inherited
    SIG_IGN must not make it deaf."""
    def ignore():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    p, _, ev, st = jw.start(["--", "sleep", "30"], stdin=subprocess.DEVNULL,
                            preexec_fn=ignore)
    wait_event(ev, "spawn")
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 143
    assert status["state"] == "cancelled"


def test_child_is_in_its_own_process_group(jw):
    r = jw.run(["--", "sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"])
    pgid, pid = (int(x) for x in r.out.split())
    assert pgid == pid
    assert r.find("spawn")[0]["pgid"] == pid
