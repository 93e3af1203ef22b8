"""Retries (issue 3): --retries, --retry-on items, attempt numbering, the
outcome of the last attempt, backoff (full jitter, never past the hard
deadline), the retry event, cancel and deadline during a backoff, each
attempt fully killed before the next, --attempt-timeout, and config errors
of retry_on."""
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BIN, check_events, complete_events, helper, load_status,
                      per_attempt, read_events, wait_event, wait_for)

FAST = ["--backoff", "10ms"]


def env():
    return {k: v for k, v in os.environ.items() if k != "JOBWRAP_CONFIG"}


def finish(p, ev, st, timeout=20):
    out, err = p.communicate(timeout=timeout)
    events = read_events(ev)
    check_events(events)
    return out, err, events, load_status(st)


def find(events, name):
    return [e for e in events if e["event"] == name]


def by_attempt(events):
    """{attempt: [event names]} for the per-attempt events."""
    out = {}
    for e in events:
        if "attempt" in e:
            out.setdefault(e["attempt"], []).append(e["event"])
    return out


# ---- which ends are retried -----------------------------------------------

RETRY_ON = [
    # (retry_on, child's sh snippet, retried?, retry reason)
    ("nonzero", "exit 3", True, "exit:3"),
    ("nonzero", "exit 255", True, "exit:255"),
    ("exit:3", "exit 3", True, "exit:3"),
    ("exit:3", "exit 4", False, None),
    ("exit:2-5", "exit 2", True, "exit:2"),
    ("exit:2-5", "exit 5", True, "exit:5"),
    ("exit:2-5", "exit 6", False, None),
    ("exit:2-5", "exit 1", False, None),
    ("exit:1,exit:7", "exit 7", True, "exit:7"),
    (" signal , exit:9 ", "exit 9", True, "exit:9"),
    ("signal", "kill -KILL $$", True, "signal:SIGKILL"),
    ("signal", "kill -TERM $$", True, "signal:SIGTERM"),
    ("signal", "exit 3", False, None),
    # a death by signal has no exit code: it is not "nonzero"
    ("nonzero", "kill -KILL $$", False, None),
    ("exit:137", "kill -KILL $$", False, None),
    # the default: attempt-timeout,idle
    (None, "exit 3", False, None),
    ("nonzero", "exit 0", False, None),
    ("attempt-timeout,idle", "exit 1", False, None),
]


@pytest.mark.parametrize("retry_on,snippet,retried,reason", RETRY_ON,
                         ids=[f"{r[0]}|{r[1]}" for r in RETRY_ON])
def test_retry_on_items(jw, retry_on, snippet, retried, reason):
    args = ["--retries", "1"] + FAST
    if retry_on is not None:
        args += ["--retry-on", retry_on]
    r = jw.run(args + ["--", "sh", "-c", snippet])
    check_events(r.events)
    retries = r.find("retry")
    ends = r.find("attempt_end")
    if retried:
        assert [e["attempt"] for e in r.find("spawn")] == [1, 2]
        assert len(retries) == 1, r.events
        rt = retries[0]
        assert rt["attempt"] == 1 and rt["source"] == "jobwrap"
        assert rt["reason"] == reason
        assert type(rt["delay_ms"]) is int and 0 <= rt["delay_ms"] <= 10
        assert r.events[-1]["attempts"] == 2
        assert len(ends) == 2 and ends[0]["state"] == ends[1]["state"]
        assert "all 1 retries (--retries) were used" in r.status["reason"]
        assert "(attempt 2 of at most 2)" in r.status["reason"]
    else:
        assert retries == [], r.events
        assert r.events[-1]["attempts"] == 1
        assert len(ends) == 1
    assert r.status["attempt"] == r.events[-1]["attempts"]
    # the exit status is the (last) attempt's own
    if snippet.startswith("exit "):
        assert r.rc == int(snippet.split()[1])
    else:
        sig = getattr(signal, "SIG" + snippet.split()[1][1:])
        assert r.rc == 128 + sig


def test_attempt_numbering_and_the_last_attempt_decides(jw, tmp_path):
    cmd = per_attempt(tmp_path, "echo one; exit 3", "echo two; exit 4",
                      "echo three; exit 0")
    r = jw.run(["--retries", "5", "--retry-on", "nonzero"] + FAST +
               ["--"] + cmd)
    check_events(r.events)
    assert r.rc == 0
    assert r.out == b"one\ntwo\nthree\n"
    assert r.names() == ["start",
                         "spawn", "attempt_end", "retry",
                         "spawn", "attempt_end", "retry",
                         "spawn", "attempt_end", "exit"]
    assert by_attempt(r.events) == {
        1: ["spawn", "attempt_end", "retry"],
        2: ["spawn", "attempt_end", "retry"],
        3: ["spawn", "attempt_end"]}
    spawns = r.find("spawn")
    assert len({s["pid"] for s in spawns}) == 3
    assert len({s["pgid"] for s in spawns}) == 3      # fresh group each
    assert all(s["pid"] == s["pgid"] for s in spawns)
    ends = r.find("attempt_end")
    assert [(e["state"], e["exit_code"]) for e in ends] == \
        [("failed", 3), ("failed", 4), ("succeeded", 0)]
    assert [e["reason"] for e in r.find("retry")] == ["exit:3", "exit:4"]
    ex = r.events[-1]
    assert (ex["state"], ex["exit_code"], ex["attempts"]) == \
        ("succeeded", 0, 3)
    st = r.status
    assert (st["state"], st["exit_code"], st["attempt"]) == \
        ("succeeded", 0, 3)
    assert st["pid"] == spawns[-1]["pid"]
    assert "attempt 3 of at most 6" in st["reason"]


def test_last_attempt_killed_by_a_signal(jw, tmp_path):
    cmd = per_attempt(tmp_path, "exit 3", "kill -KILL $$")
    r = jw.run(["--retries", "3", "--retry-on", "nonzero"] + FAST +
               ["--"] + cmd)
    check_events(r.events)
    assert r.rc == 128 + signal.SIGKILL
    assert r.events[-1]["state"] == "signaled"
    assert r.events[-1]["attempts"] == 2
    assert r.status["state"] == "signaled"
    assert r.status["signal"] == "SIGKILL"
    assert r.status["attempt"] == 2


def test_last_attempt_fails_after_a_signal(jw, tmp_path):
    cmd = per_attempt(tmp_path, "kill -KILL $$", "exit 5")
    r = jw.run(["--retries", "3", "--retry-on", "signal"] + FAST +
               ["--"] + cmd)
    check_events(r.events)
    assert r.rc == 5
    assert r.status["state"] == "failed" and r.status["exit_code"] == 5
    assert r.status["signal"] is None
    ends = r.find("attempt_end")
    assert (ends[0]["state"], ends[0]["signal"]) == ("signaled", "SIGKILL")
    assert (ends[1]["state"], ends[1]["exit_code"]) == ("failed", 5)


def test_retries_zero_is_one_attempt(jw):
    r = jw.run(["--retries", "0", "--retry-on", "nonzero", "--", "false"])
    check_events(r.events)
    assert r.rc == 1
    assert r.find("retry") == []
    assert r.events[-1]["attempts"] == 1


def test_child_killed_from_outside_is_retried_as_signal(jw):
    p, _, ev, st = jw.start(["--retries", "1", "--retry-on", "signal"] +
                            FAST + ["--", "sleep", "30"],
                            stdin=subprocess.DEVNULL)
    events = wait_event(ev, "spawn")
    os.kill(find(events, "spawn")[0]["pid"], signal.SIGTERM)
    events = wait_event(ev, "spawn", count=2)
    os.kill(find(events, "spawn")[1]["pid"], signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 128 + signal.SIGTERM
    assert [e["reason"] for e in find(events, "retry")] == ["signal:SIGTERM"]
    assert status["state"] == "signaled"


@pytest.mark.parametrize("retry_on", ["signal", "signal,nonzero"])
def test_cancel_is_never_retried(jw, retry_on):
    p, _, ev, st = jw.start(["--retries", "3", "--retry-on", retry_on] +
                            FAST + ["--", "sleep", "30"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert p.returncode == 128 + signal.SIGTERM
    assert find(events, "retry") == []
    assert events[-1]["attempts"] == 1
    assert status["state"] == "cancelled"


def test_cancel_while_a_retryable_attempt_is_ending(jw):
    # The attempt is in its grace after an idle timeout (the job ignores
    # SIGTERM) when the cancel comes: SIGKILL at once, and no attempt 2.
    p, _, ev, st = jw.start(["--idle-timeout", "300ms", "-k", "20s",
                             "--retries", "2"] + FAST +
                            ["--", "sh", "-c", "trap '' TERM; sleep 30"],
                            stdin=subprocess.DEVNULL)
    wait_event(ev, "timeout")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    _, _, events, status = finish(p, ev, st)
    assert time.monotonic() - t0 < 5         # not the 20 s grace
    assert p.returncode == 128 + signal.SIGTERM
    assert find(events, "retry") == [] and find(events, "spawn")[-1][
        "attempt"] == 1
    assert find(events, "attempt_end")[0]["state"] == "idle_timeout"
    assert status["state"] == "cancelled" and events[-1]["attempts"] == 1
    assert "not retried" in status["reason"]


def test_parent_death_while_a_retryable_attempt_is_ending(jw):
    # The same with the parent dying (--on-parent-death kill).
    tag = "pd-" + os.urandom(6).hex()
    jw.tags.append(tag)
    ev, st = jw.tmp / "pd.events", jw.tmp / "pd.status"
    parent = subprocess.Popen(
        ["sh", "-c", f"{BIN} --events-file {ev} --status-file {st} "
         "--idle-timeout 300ms -k 20s --retries 2 --backoff 10ms -- "
         "sh -c \"trap '' TERM; sleep 30\" & exec sleep 30"],
        env=jw.env(tag), stdin=subprocess.DEVNULL)
    jw.procs.append(parent)
    wait_event(ev, "timeout")
    parent.kill()
    parent.wait()
    wait_event(ev, "exit", timeout=10)
    events = read_events(ev)
    check_events(events)
    assert find(events, "retry") == []
    assert events[-1]["state"] == "parent_died"
    assert events[-1]["exit_code"] == 129
    wait_for(lambda: not jw.survivors(), timeout=5)


def test_hard_deadline_is_never_retried(jw):
    r = jw.run(["-t", "400ms", "--retries", "3", "--retry-on",
                "nonzero,signal,attempt-timeout,idle"] + FAST +
               ["--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.find("retry") == []
    assert [t["kind"] for t in r.find("timeout")] == ["deadline"]
    assert r.events[-1]["attempts"] == 1
    assert r.status["state"] == "timeout"
    assert r.duration < 5


def test_spawn_failure_is_never_retried(jw):
    r = jw.run(["--retries", "3", "--retry-on", "nonzero"] + FAST +
               ["--", "/nonexistent/jw-no-such-command"])
    check_events(r.events)
    assert r.rc == 127
    assert r.find("retry") == []
    assert len(r.find("spawn_failed")) == 1


# ---- backoff ---------------------------------------------------------------

def test_backoff_never_exceeds_the_deadline(jw):
    r = jw.run(["-t", "1s", "--retries", "50", "--backoff", "10ms",
                "--retry-on", "nonzero", "--", "false"])
    check_events(r.events)
    deadline = r.events[0]["deadline_ms"]
    assert deadline == 1000
    assert r.duration < 2.0                     # ended by ~1 s
    spawns = r.find("spawn")
    retries = r.find("retry")
    assert len(spawns) >= 2
    assert len(spawns) == len(retries) + 1
    assert r.events[-1]["attempts"] == len(spawns)
    for s in spawns:
        assert s["mono_ms"] < deadline, s       # no attempt past the deadline
    for rt, nxt in zip(retries, spawns[1:]):
        remaining = deadline - rt["mono_ms"]
        assert rt["delay_ms"] < remaining + 2, (rt, remaining)
        # the backoff is really waited
        assert nxt["mono_ms"] >= rt["mono_ms"] + rt["delay_ms"] - 2, \
            (rt, nxt)
    if spawns[-1]["mono_ms"] >= deadline - 20:
        # the last attempt started just before the deadline: it may be
        # cut by it (allowed), but no other outcome
        assert r.rc in (1, 124)
    else:
        assert r.rc == 1, r.status["reason"]
        assert r.status["state"] == "failed"
        assert r.find("timeout") == []
        assert "not retried: the deadline (--timeout) is" in \
            r.status["reason"], r.status["reason"]
        assert "backoff drawn was" in r.status["reason"]


def test_backoff_is_bounded_by_backoff_and_backoff_max(jw):
    r = jw.run(["-t", "0", "--retries", "6", "--backoff", "20ms",
                "--backoff-max", "50ms", "--retry-on", "nonzero",
                "--", "false"])
    check_events(r.events)
    assert r.rc == 1
    retries = r.find("retry")
    assert [rt["attempt"] for rt in retries] == [1, 2, 3, 4, 5, 6]
    spawns = r.find("spawn")
    for rt, nxt in zip(retries, spawns[1:]):
        n = rt["attempt"]
        cap = min(50, 20 * 2 ** (n - 1))
        assert 0 <= rt["delay_ms"] <= cap, (n, rt)
        gap = nxt["mono_ms"] - rt["mono_ms"]
        assert rt["delay_ms"] - 2 <= gap <= rt["delay_ms"] + 500, (rt, nxt)
    assert r.duration < 5


def test_backoff_is_jittered(jw):
    """Full jitter: delays are not all the same nor all at the cap."""
    r = jw.run(["-t", "0", "--retries", "8", "--backoff", "50ms",
                "--backoff-max", "50ms", "--retry-on", "nonzero",
                "--", "false"])
    check_events(r.events)
    delays = [rt["delay_ms"] for rt in r.find("retry")]
    assert len(delays) == 8
    assert all(0 <= d <= 50 for d in delays), delays
    assert len(set(delays)) >= 3, delays


def test_backoff_zero_retries_at_once(jw):
    r = jw.run(["-t", "0", "--retries", "20", "--backoff", "0",
                "--retry-on", "nonzero", "--", "false"])
    check_events(r.events)
    assert r.rc == 1
    assert [rt["delay_ms"] for rt in r.find("retry")] == [0] * 20
    assert r.events[-1]["attempts"] == 21
    assert r.duration < 5


def test_backoff_max_below_backoff(jw):
    r = jw.run(["-t", "0", "--retries", "5", "--backoff", "10s",
                "--backoff-max", "20ms", "--retry-on", "nonzero",
                "--", "false"])
    check_events(r.events)
    assert r.rc == 1
    assert all(0 <= rt["delay_ms"] <= 20 for rt in r.find("retry"))
    assert r.duration < 5


def test_many_retries_do_not_overflow_the_backoff(jw):
    """backoff * 2^(n-1) for n up to 100: capped, never wrapped around."""
    r = jw.run(["-t", "0", "--retries", "100", "--backoff", "1ms",
                "--backoff-max", "2ms", "--retry-on", "nonzero",
                "--", "false"], timeout=60)
    check_events(r.events)
    assert r.rc == 1
    delays = [rt["delay_ms"] for rt in r.find("retry")]
    assert len(delays) == 100
    assert all(0 <= d <= 2 for d in delays), delays
    assert r.events[-1]["attempts"] == 101
    assert "all 100 retries (--retries) were used" in r.status["reason"]


def wait_long_backoff(ev, min_delay):
    """Wait for a retry event with a delay of at least min_delay ms;
    returns it, or None when the run ended first."""
    found = wait_for(lambda: [e for e in complete_events(ev)
                              if (e["event"] == "retry"
                                  and e["delay_ms"] >= min_delay)
                              or e["event"] == "exit"], timeout=30, step=0.005)
    assert found, complete_events(ev)
    return None if found[0]["event"] == "exit" else found[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=lambda s: s.name)
def test_status_and_cancel_during_backoff(jw, sig):
    p, _, ev, st = jw.start(["-t", "0", "--retries", "20", "--backoff",
                             "30s", "--backoff-max", "60s", "--retry-on",
                             "nonzero", "--", "false"],
                            stdin=subprocess.DEVNULL)
    rt = wait_long_backoff(ev, 3000)
    assert rt is not None
    n = rt["attempt"]
    # the status says we are waiting for attempt n+1
    status = wait_for(lambda: (lambda s: s if s.get("reason") and
                               f"attempt {n + 1} starts in" in s["reason"]
                               else None)(load_status(st)),
                      timeout=2)
    assert status, st.read_text()
    assert status["state"] == "running"
    assert status["attempt"] == n
    assert status["pid"] is None and status["pgid"] is None
    assert status["ended_at"] is None
    assert "--retries 20" in status["reason"]
    assert "--retry-on nonzero" in status["reason"]
    t0 = time.monotonic()
    p.send_signal(sig)
    _, _, events, status = finish(p, ev, st)
    assert time.monotonic() - t0 < 2
    assert p.returncode == 128 + sig
    assert [s["attempt"] for s in find(events, "spawn")] == \
        list(range(1, n + 1))                   # no new attempt
    assert events[-1]["state"] == "cancelled"
    assert events[-1]["attempts"] == n
    assert status["state"] == "cancelled"
    assert status["exit_code"] == 128 + sig
    assert f"before attempt {n + 1}" in status["reason"], status["reason"]
    assert sig.name in status["reason"]


def stop_during_backoff(jw, deadline_s, results):
    """One run: jobwrap gets SIGSTOP during a backoff and SIGCONT only
    after its deadline has passed.  Appends (events, status, rc, n) where
    n is the attempt whose backoff was interrupted (None: no backoff long
    enough came before the deadline)."""
    p, _, ev, st = jw.start(["-t", f"{deadline_s}s", "--retries", "100",
                             "--backoff", "400ms", "--backoff-max", "400ms",
                             "--retry-on", "nonzero", "--", "false"],
                            stdin=subprocess.DEVNULL)
    t0 = time.monotonic()
    seen = 0
    stopped = None
    while stopped is None:
        rt = wait_for(lambda: [e for e in complete_events(ev)
                               if (e["event"] == "retry"
                                   and e["attempt"] > seen)
                               or e["event"] == "exit"],
                      timeout=10, step=0.002)
        if not rt or rt[0]["event"] != "retry":
            break
        rt = rt[0]
        seen = rt["attempt"]
        if rt["delay_ms"] < 250 or \
                time.monotonic() - t0 > deadline_s - 0.4:
            continue
        time.sleep(0.05)                        # well inside the backoff
        p.send_signal(signal.SIGSTOP)
        if any(e["event"] == "spawn" and e["attempt"] == seen + 1
               for e in complete_events(ev)):
            p.send_signal(signal.SIGCONT)       # too late: next backoff
            continue
        stopped = rt
    try:
        time.sleep(max(0.0, deadline_s + 0.3 - (time.monotonic() - t0)))
    finally:
        p.send_signal(signal.SIGCONT)
    _, _, events, status = finish(p, ev, st)
    results.append((events, status, p.returncode,
                    stopped["attempt"] if stopped else None))


def test_deadline_during_backoff(jw):
    """No attempt starts past the deadline, even when jobwrap only gets to
    run again after both its backoff and its deadline have expired.  The
    order of the two expiries is up to jobwrap's loop: ten runs at once."""
    results = []
    threads = [threading.Thread(target=stop_during_backoff,
                                args=(jw, 2, results)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 10
    conclusive = [r for r in results if r[3] is not None]
    assert len(conclusive) >= 5, [r[3] for r in results]
    bad = []
    for events, status, rc, n in conclusive:
        spawned = [s["attempt"] for s in find(events, "spawn")]
        deadline = events[0]["deadline_ms"]
        late = [s for s in find(events, "spawn") if s["mono_ms"] >= deadline]
        ok = (rc == 124 and spawned == list(range(1, n + 1)) and not late
              and events[-1]["state"] == "timeout"
              and events[-1]["attempts"] == n
              and status["state"] == "timeout"
              and status["exit_code"] == 124
              and f"while waiting to start attempt {n + 1}"
              in status["reason"]
              and all(t["kind"] == "deadline"
                      for t in find(events, "timeout")))
        if not ok:
            bad.append((n, rc, spawned, [s["mono_ms"] for s in late],
                        status["reason"]))
    assert not bad, f"{len(bad)} of {len(conclusive)} runs: {bad}"


# ---- each attempt is fully gone before the next ---------------------------

CHECK_GONE = (
    'for p in $(grep "^[FG] " {f} | cut -d" " -f2); do '
    ' if [ -e /proc/$p ] && ! grep -q "^[0-9]* ([^)]*) Z" /proc/$p/stat;'
    ' then echo "ALIVE $p"; fi; '
    'done; echo checked; exit 0')


@pytest.mark.parametrize("leave", ["escape close ignore",
                                   "fan 2 setsid ignore exit",
                                   "fan 2 ignore exit"])
def test_nothing_of_an_attempt_survives_into_the_next(jw, tmp_path, leave):
    f = tmp_path / "pids"
    first = f"{helper('jwchild')} {leave} > {f}; exit 3"
    cmd = per_attempt(tmp_path, first, CHECK_GONE.format(f=f))
    r = jw.run(["-k", "300ms", "--retries", "1", "--retry-on", "nonzero"] +
               FAST + ["--"] + cmd)
    check_events(r.events)
    pids = [int(line.split()[1]) for line in f.read_text().splitlines()
            if line[:2] in ("F ", "G ")]
    assert pids, "attempt 1 left nothing behind"
    assert r.rc == 0, r.err
    assert r.out == b"checked\n", r.out          # no "ALIVE pid"
    # the leftovers ignored SIGTERM: they got SIGKILL, and all of it
    # happened before attempt 2 was spawned
    names = [(e["event"], e.get("attempt")) for e in r.events]
    spawn2 = names.index(("spawn", 2))
    sigs = [e for e in r.events[:spawn2] if e["event"] == "signal"]
    assert [s["signal"] for s in sigs][-1] == "SIGKILL", sigs
    assert all(s["attempt"] == 1 for s in sigs)
    assert names.index(("attempt_end", 1)) < names.index(("retry", 1)) \
        < spawn2
    assert r.find("signal")[-1] in sigs          # none in attempt 2


# ---- attempt timeout ----------------------------------------------------------

def test_attempt_timeout_retried(jw):
    r = jw.run(["--attempt-timeout", "300ms", "--retries", "1", "-k", "1s"]
               + FAST + ["--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert 0.5 < r.duration < 4
    assert by_attempt(r.events) == {
        1: ["spawn", "timeout", "signal", "attempt_end", "retry"],
        2: ["spawn", "timeout", "signal", "attempt_end"]}
    for t in r.find("timeout"):
        assert t["kind"] == "attempt"
    for s in r.find("signal"):
        assert (s["signal"], s["reason"]) == ("SIGTERM", "attempt_timeout")
    for e in r.find("attempt_end"):
        assert e["state"] == "timeout"
        assert e["signal"] == "SIGTERM" and e["exit_code"] is None
        assert 250 <= e["duration_ms"] < 2000
    assert r.find("retry")[0]["reason"] == "attempt-timeout"
    ex = r.events[-1]
    assert (ex["state"], ex["exit_code"], ex["attempts"]) == \
        ("timeout", 124, 2)
    st = r.status
    assert st["state"] == "timeout" and st["exit_code"] == 124
    assert "attempt 2 reached its deadline of 300ms (--attempt-timeout)" \
        in st["reason"], st["reason"]


def test_signal_sent_by_jobwrap_is_not_retried_as_signal(jw):
    """The attempt timeout's SIGTERM is jobwrap's own: retry-on signal does
    not cover it."""
    r = jw.run(["--attempt-timeout", "200ms", "--retries", "2",
                "--retry-on", "signal", "--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.find("retry") == []
    assert r.events[-1]["attempts"] == 1


def test_attempt_timeout_then_success(jw, tmp_path):
    cmd = per_attempt(tmp_path, "sleep 30", "echo ok")
    r = jw.run(["--attempt-timeout", "300ms", "--retries", "2"] + FAST +
               ["--"] + cmd)
    check_events(r.events)
    assert r.rc == 0 and r.out == b"ok\n"
    assert r.events[-1]["attempts"] == 2
    assert r.status["state"] == "succeeded"


def test_attempt_timeout_not_in_retry_on(jw):
    r = jw.run(["--attempt-timeout", "200ms", "--retries", "3",
                "--retry-on", "nonzero", "--", "sleep", "30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.find("retry") == []
    assert r.status["state"] == "timeout"
    assert r.duration < 3


def test_attempt_timeout_shorter_than_the_deadline_counts_from_spawn(jw):
    """Each attempt gets its own attempt deadline, measured from its spawn."""
    r = jw.run(["--attempt-timeout", "300ms", "--retries", "2",
                "--backoff", "200ms", "--backoff-max", "200ms",
                "--", "sleep", "30"])
    check_events(r.events)
    spawns = r.find("spawn")
    touts = r.find("timeout")
    assert len(spawns) == len(touts) == 3
    for s, t in zip(spawns, touts):
        assert 280 <= t["mono_ms"] - s["mono_ms"] < 1000, (s, t)


# ---- config errors ------------------------------------------------------------

BAD_RETRY_ON = ["bogus", "", "exit:0", "exit:5-3", "exit:256", "exit:0-3",
                "exit:3-256", "exit:x", "exit:", "nonzero,bogus", "Nonzero",
                "timeout"]


@pytest.mark.parametrize("value", BAD_RETRY_ON)
def test_bad_retry_on_in_ini(tmp_path, value):
    f = tmp_path / "j.ini"
    f.write_text(f"[jobwrap]\nretries = 2\nretry_on = {value}\n")
    marker = tmp_path / "ran"
    p = subprocess.run([BIN, "-c", str(f), "--", "touch", str(marker)],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    assert not marker.exists()
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    prefix = f"jobwrap: {f}:3: retry_on = {value}".rstrip()
    assert lines[0].startswith(prefix), lines[0]
    assert len(lines[0]) > len(prefix) + 5      # says what is wrong


@pytest.mark.parametrize("value", BAD_RETRY_ON)
def test_bad_retry_on_on_the_command_line(tmp_path, value):
    marker = tmp_path / "ran"
    p = subprocess.run([BIN, "--retry-on", value, "--", "touch",
                        str(marker)],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    assert not marker.exists()
    assert p.stderr.startswith(f"jobwrap: --retry-on {value}"), p.stderr


@pytest.mark.parametrize("value", ["-1", "1001", "x", "1.5", ""])
def test_bad_retries(tmp_path, value):
    p = subprocess.run([BIN, "--retries", value, "--", "true"],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    f = tmp_path / "j.ini"
    f.write_text(f"[jobwrap]\nretries = {value}\n")
    p = subprocess.run([BIN, "-c", str(f), "--", "true"],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    assert p.stderr.startswith(f"jobwrap: {f}:2: "), p.stderr


@pytest.mark.parametrize("value", ["nonzero", "exit:1-255", "exit:255",
                                   "exit:7-7", " nonzero , signal ",
                                   "signal,attempt-timeout,idle,exit:3"])
def test_good_retry_on(tmp_path, value):
    f = tmp_path / "j.ini"
    f.write_text(f"[jobwrap]\nretry_on = {value}\nretries = 1000\n")
    p = subprocess.run([BIN, "-c", str(f), "--", "true"],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert (p.returncode, p.stderr) == (0, "")
    p = subprocess.run([BIN, "--retry-on", value, "--", "true"],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert (p.returncode, p.stderr) == (0, "")
