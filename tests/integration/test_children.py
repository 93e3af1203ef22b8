"""Children that misbehave: jobwrap must still end on time, relay every
byte unchanged, report the truth, and leave nothing of the job alive.

Each test drives the real binary with real processes (tests/helpers/
jwchild.c and sh).  Besides the fixture's check that no process carrying
the run's tag survives, tests that learn the pids of the job's processes
check those directly the moment jobwrap has exited: "dead when jobwrap
exits" is the promise, not "dead eventually".
"""
import hashlib
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import check_events, helper, load_status, read_events, wait_for

CHILD = "jwchild"


def pattern(n):
    """What `jwchild flood N` writes: byte i is i % 255, skipping 10."""
    block = bytes(b for b in range(256) if b != 10)
    return (block * (n // len(block) + 1))[:n]


def live(pid):
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def pids(out, prefix):
    """Pids the helper printed as lines "PREFIX PID"."""
    found = []
    for line in out.decode().splitlines():
        tag, _, pid = line.partition(" ")
        if tag == prefix:
            found.append(int(pid))
    return found


def signals(res):
    """(signal, target, reason) of every signal event, in order."""
    return [(e["signal"], e["target"], e["reason"]) for e in res.find("signal")]


def escaped(data):
    """The contract's rendering of bytes in JSON: valid UTF-8 unchanged,
    each byte of an invalid sequence as the four characters \\xNN."""
    return data.decode("utf-8", "backslashreplace")


def check_end(res, state, rc):
    """Exit code, terminal status and the event stream agree."""
    check_events(res.events)
    assert res.rc == rc, res.err
    ex = res.events[-1]
    assert ex["state"] == state and ex["exit_code"] == rc
    st = res.status
    assert st["state"] == state and st["exit_code"] == rc, st
    assert st["ended_at"] is not None
    assert st["events_seq"] == len(res.events) - 1  # written before exit
    ends = res.find("attempt_end")
    assert len(ends) == 1 and ends[0]["state"] == state


# ---- signals the child ignores or dies of ----------------------------------

def test_child_ignoring_term_gets_sigkill_after_grace(jw):
    res = jw.run(["-t", "300ms", "-k", "400ms", "--heartbeat", "0", "--",
                  helper(CHILD), "ignore-term"])
    check_end(res, "timeout", 124)
    assert res.out == b"ready\n"
    assert signals(res) == [("SIGTERM", "group", "deadline"),
                            ("SIGKILL", "group", "kill_after")]
    term, kill = res.find("signal")
    assert 350 <= kill["mono_ms"] - term["mono_ms"] < 1400
    assert 300 <= res.find("timeout")[0]["mono_ms"] < 1000
    assert res.find("attempt_end")[0]["signal"] == "SIGKILL"
    assert "SIGKILL" in res.status["reason"]
    assert 0.7 <= res.duration < 3


def test_cancel_of_child_ignoring_term_escalates(jw):
    p, tag, ev, st = jw.start(["-k", "300ms", "--heartbeat", "0", "--",
                               helper(CHILD), "ignore-term"])
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGINT
    events = read_events(ev)
    check_events(events)
    sig = [(e["signal"], e["reason"]) for e in events if e["event"] == "signal"]
    assert sig == [("SIGTERM", "cancel"), ("SIGKILL", "kill_after")]
    assert events[-1]["state"] == "cancelled"


def test_never_exits_deadline(jw):
    res = jw.run(["-t", "300ms", "-k", "5s", "--", "sleep", "30"])
    check_end(res, "timeout", 124)
    assert [e["kind"] for e in res.find("timeout")] == ["deadline"]
    assert signals(res) == [("SIGTERM", "group", "deadline")]
    assert res.status["signal"] == "SIGTERM"
    assert 0.3 <= res.duration < 2.5


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL,
                                 signal.SIGABRT, signal.SIGUSR2])
def test_child_dies_of_signal(jw, sig):
    res = jw.run(["--", helper(CHILD), "selfsig", str(int(sig))])
    check_end(res, "signaled", 128 + sig)
    name = signal.Signals(sig).name
    assert res.status["signal"] == name
    assert res.events[-1]["signal"] == name
    assert res.find("attempt_end")[0]["signal"] == name
    assert res.find("attempt_end")[0]["exit_code"] is None
    assert name in res.status["reason"]
    assert signals(res) == []  # nothing was left to signal
    assert res.duration < 3


# ---- leftovers: processes that outlive the child ---------------------------

def test_grandchild_holding_stdout_does_not_keep_run_alive(jw):
    res = jw.run(["-k", "1s", "--", "sh", "-c", "sleep 30 & echo hi"])
    check_end(res, "succeeded", 0)
    assert res.out == b"hi\n"
    assert signals(res) == [("SIGTERM", "group", "leftover")]
    assert "left 1 process" in res.status["reason"]
    assert res.duration < 1 + 1.5


def test_grandchild_ignoring_term_holding_stdout_killed_after_grace(jw):
    res = jw.run(["-k", "500ms", "--", "sh", "-c",
                  "trap '' TERM; sleep 30 & echo hi"])
    check_end(res, "succeeded", 0)
    assert res.out == b"hi\n"
    assert signals(res) == [("SIGTERM", "group", "leftover"),
                            ("SIGKILL", "group", "kill_after")]
    assert 0.45 <= res.duration < 0.5 + 1.5


@pytest.mark.parametrize("fds", ["keep", "close"])
@pytest.mark.parametrize("term", ["obey", "ignore"])
def test_setsid_escapee_killed_as_tree(jw, fds, term):
    args = [helper(CHILD), "escape", fds] + (["ignore"] if term == "ignore"
                                             else [])
    res = jw.run(["-k", "500ms", "--heartbeat", "0", "--"] + args)
    assert res.rc == 0, res.err
    [gpid] = pids(res.out, "G")
    assert not live(gpid), f"escapee {gpid} outlived jobwrap"
    check_end(res, "succeeded", 0)
    want = [("SIGTERM", "tree", "leftover")]
    if term == "ignore":
        want.append(("SIGKILL", "tree", "kill_after"))
    assert signals(res) == want
    assert "left 1 process" in res.status["reason"]
    if term == "ignore":
        assert 0.45 <= res.duration < 0.5 + 1.5
    else:
        assert res.duration < 1.5


def test_fork_tree_of_fifty_all_dead_after_deadline(jw):
    # Nodes 2, 5, 8... setsid (outside the group), 3, 7, 11... ignore TERM.
    res = jw.run(["-t", "1s", "-k", "300ms", "--heartbeat", "0", "--",
                  helper(CHILD), "tree", "50"])
    made = pids(res.out, "P")
    assert len(set(made)) == 50, res.out
    left = [p for p in made if live(p)]
    assert left == [], f"tree processes outlived jobwrap: {left}"
    check_end(res, "timeout", 124)
    sig = signals(res)
    assert ("SIGTERM", "group", "deadline") in sig
    assert ("SIGTERM", "tree", "deadline") in sig
    assert sig[-1][0] == "SIGKILL" and sig[-1][2] == "kill_after"
    assert "did not die" not in res.status["reason"]
    assert 1.3 <= res.duration < 1.3 + 2


def test_fork_after_child_exit_race(jw):
    # The child exits; its orphan A waits to be adopted by jobwrap, then
    # forks B (setsid), which forks C.  All ignore SIGTERM.
    res = jw.run(["-k", "500ms", "--heartbeat", "0", "--",
                  helper(CHILD), "race"])
    got = {t: pids(res.out, t) for t in "ABC"}
    assert all(len(v) == 1 for v in got.values()), res.out
    left = [v[0] for v in got.values() if live(v[0])]
    assert left == [], f"processes outlived jobwrap: {left}"
    check_end(res, "succeeded", 0)
    sig = signals(res)
    assert sig[0][2] == "leftover"
    assert sig[-1][0] == "SIGKILL" and sig[-1][2] == "kill_after"
    assert res.duration < 0.5 + 2


@pytest.mark.parametrize("usec", [0, 1000])
def test_pid_hopper_is_caught(jw, usec):
    # A TERM-ignoring process in its own session forks and exits in a loop:
    # a new pid every few microseconds, each adopted by jobwrap.
    res = jw.run(["-t", "500ms", "-k", "300ms", "--heartbeat", "0", "--",
                  helper(CHILD), "hopper", str(usec)])
    check_end(res, "timeout", 124)
    assert "did not die" not in res.status["reason"]
    sig = signals(res)
    assert ("SIGTERM", "tree", "deadline") in sig
    assert sig[-1][:1] == ("SIGKILL",)
    assert res.duration < 0.8 + 2.5


# ---- output -----------------------------------------------------------------

def test_flood_without_newlines_is_byte_exact(jw):
    n = 50_000_000
    res = jw.run(["--", helper(CHILD), "flood", str(n)])
    check_end(res, "succeeded", 0)
    assert len(res.out) == n
    assert hashlib.sha256(res.out).digest() == \
        hashlib.sha256(pattern(n)).digest()
    assert res.status["bytes_out"] == n and res.status["dropped_out"] == 0
    assert res.status["bytes_err"] == 0
    assert res.err == b""


def test_flood_both_streams_at_once(jw):
    n = 8_000_000
    res = jw.run(["--", helper(CHILD), "flood", str(n), "both"])
    check_end(res, "succeeded", 0)
    want = pattern(n)
    assert len(res.out) == n and res.out == want
    assert len(res.err) == n and res.err == want
    st = res.status
    assert (st["bytes_out"], st["bytes_err"]) == (n, n)
    assert (st["dropped_out"], st["dropped_err"]) == (0, 0)
    # The tail is the last 4096 bytes, escaped.
    assert st["stderr_tail"] == escaped(want[-4096:])


INVALID = (b"\xff\xfe\x80\xbf\xc0\xaf\xc1\x81\xe0\x80\xaf\xed\xa0\x80"
           b"\xf4\x90\x80\x80\xf5\x80\xe2\x82 \xf0\x9f\x98 \xc3")
VALID = "caf\u00e9 \u20ac \U0001f600 \u0000 \\x41".encode()


def test_binary_output_is_relayed_byte_exact(jw):
    out = bytes(range(256)) + INVALID + VALID + b"\0\0"
    err = VALID + INVALID + bytes(reversed(range(256))) + b"\xe2\x82"
    res = jw.run(["--", helper(CHILD), "hex", out.hex(), err.hex()])
    check_end(res, "succeeded", 0)
    assert res.out == out
    assert res.err == err
    st = res.status
    assert (st["bytes_out"], st["bytes_err"]) == (len(out), len(err))
    assert st["stderr_tail"] == escaped(err)
    # Every line is JSON any strict parser takes: no raw invalid bytes.
    for line in Path(jw.tmp / f"{res.tag}.status").read_bytes().splitlines():
        line.decode("utf-8")


def test_stderr_tail_cut_inside_a_character(jw):
    # 7000 bytes: the last 4096 start with the final byte of a euro sign.
    err = b"x" * 1000 + "\u20ac".encode() * 2000
    res = jw.run(["--", helper(CHILD), "hex", "", err.hex()])
    check_end(res, "succeeded", 0)
    assert res.err == err
    tail = res.status["stderr_tail"]
    assert tail == escaped(err[-4096:])
    assert tail.startswith("\\xac\u20ac")


def test_invalid_utf8_in_command_is_escaped(jw):
    arg = b"\xff\xc3(\xe2\x82\xac"
    res = jw.run(["--", b"sh", b"-c", b"exit 0", arg])
    check_end(res, "succeeded", 0)
    want = ["sh", "-c", "exit 0", escaped(arg)]
    assert res.events[0]["command"] == want
    assert res.status["command"] == want


def test_child_closes_stdout_and_stderr_then_runs_to_deadline(jw):
    res = jw.run(["-t", "500ms", "-k", "2s", "--", helper(CHILD),
                  "closeout"])
    check_end(res, "timeout", 124)
    assert res.out == b"closing\n"
    assert signals(res) == [("SIGTERM", "group", "deadline")]
    assert 0.5 <= res.duration < 2.5


def test_instant_exits_in_a_loop(jw):
    for i in range(50):
        res = jw.run(["--", "true"])
        check_end(res, "succeeded", 0)
        assert res.names() == ["start", "spawn", "attempt_end", "exit"], i
        assert res.out == b"" and res.err == b""
        assert res.status["bytes_out"] == 0
        assert res.events[1]["pid"] == res.status["pid"]


def test_leftover_killed_keeps_child_exit_code(jw):
    res = jw.run(["-k", "300ms", "--", "sh", "-c",
                  "trap '' TERM; sleep 30 & exit 7"])
    check_end(res, "failed", 7)
    assert res.find("attempt_end")[0]["exit_code"] == 7
    assert res.status["signal"] is None  # the child was not signalled
    assert [s[0] for s in signals(res)] == ["SIGTERM", "SIGKILL"]


def test_many_escapees_adopted_at_once(jw):
    # 900 TERM-ignoring children, each in its own session, are orphaned
    # at once: jobwrap's own children list is longer than one 4 KiB read.
    n = 900
    res = jw.run(["-k", "400ms", "--heartbeat", "50ms", "--",
                  helper(CHILD), "fan", str(n), "setsid", "ignore", "exit"],
                 timeout=60)
    made = pids(res.out, "F")
    assert len(set(made)) == n and res.out.endswith(b"ready\n")
    left = [p for p in made if live(p)]
    assert left == [], f"{len(left)} escapees outlived jobwrap"
    check_end(res, "succeeded", 0)
    assert signals(res) == [("SIGTERM", "tree", "leftover"),
                            ("SIGKILL", "tree", "kill_after")]
    assert f"left {n} processes" in res.status["reason"]
    term, kill = res.find("signal")
    grace = [e["children"] for e in res.find("heartbeat")
             if term["seq"] < e["seq"] < kill["seq"]]
    assert grace and set(grace) == {n}, grace


@pytest.mark.parametrize("who", ["child", "leftover"])
def test_stopped_process_is_continued_to_take_term(jw, who):
    # A stopped process cannot act on SIGTERM: jobwrap sends SIGCONT after
    # it, so the job ends at once, not after the 5 s grace.
    if who == "child":
        args = ["-t", "300ms", "-k", "5s", "--", "sh", "-c",
                "kill -STOP $$; echo resumed"]
    else:
        args = ["-k", "5s", "--", "sh", "-c",
                'sh -c "kill -STOP \\$\\$; echo resumed" & sleep 0.2']
    res = jw.run(args)
    assert b"resumed" not in res.out
    assert [s[0] for s in signals(res)] == ["SIGTERM"]
    assert res.duration < 2.5
    if who == "child":
        check_end(res, "timeout", 124)
    else:
        check_end(res, "succeeded", 0)


def test_deadline_during_leftover_grace_ends_run_on_time(jw):
    # The child exits at once; its leftover ignores TERM and kill-after is
    # 5 s, but the hard deadline (500 ms) bounds the whole run.
    res = jw.run(["-t", "500ms", "-k", "5s", "--", "sh", "-c",
                  "trap '' TERM; sleep 30 & exit 0"])
    assert res.duration < 0.5 + 1.5
    assert [s[0] for s in signals(res)] == ["SIGTERM", "SIGKILL"]
    kill = res.find("signal")[1]
    assert 480 <= kill["mono_ms"] < 1200


@pytest.mark.parametrize("cut", ["deadline", "cancel"])
def test_grace_cut_short_is_reported_truthfully(jw, cut):
    job = ["sh", "-c", "trap '' TERM; sleep 30 & exit 0"]
    if cut == "deadline":
        res = jw.run(["-t", "500ms", "-k", "5s", "--"] + job)
    else:
        p, tag, ev, st = jw.start(["-k", "5s", "--"] + job,
                                  stdin=subprocess.DEVNULL)
        assert wait_for(lambda: ev.exists() and
                        b'"leftover"' in ev.read_bytes(), timeout=5)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
        res = type("R", (), {})()
        res.events = read_events(ev)
        res.status = load_status(st)
        res.find = lambda name: [e for e in res.events if e["event"] == name]
    check_events(res.events)
    kill = res.find("signal")[1]
    assert kill["signal"] == "SIGKILL"
    assert kill["mono_ms"] < 5000
    assert kill["reason"] == cut
    assert "after the 5s grace" not in res.status["reason"]
    if cut == "deadline":
        assert [e["kind"] for e in res.find("timeout")] == ["deadline"]
