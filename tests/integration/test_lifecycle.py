"""Runs settled from outside (issue 4): --inspect, --reap, --cancel and
--follow against real runs, live ones, finished ones and ones whose
supervisor was SIGKILLed (its lock free, its status still `running`).

The lock is the only truth about liveness: a held lock is a live run that
nobody touches, a free lock under a `running` status is a dead supervisor.
"""
import fcntl
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (BIN, TERMINAL, check_events, gone, helper, load_status,
                      parse_event, pgid_of, read_events, tagged_pids,
                      validate_inspect, validate_status, wait_event, wait_for)

# Absolute: some runs and followers work from other directories.
JOBWRAP = os.path.abspath(BIN)

HEADER = ("RUN           STATE         ALIVE      PID    ELAPSED  EXIT  "
          "COMMAND")
ROW = re.compile(r"^(\S{1,12})\s+(\S+)\s+(yes|no)\s+(-?\d+)\s+(\S+)\s+(\S+)"
                 r"  (.*)$")


# ---- helpers ------------------------------------------------------------------

def cli(jw, *args, timeout=15, cwd=None):
    """Run a jobwrap mode (inspect, reap, cancel) to its end."""
    return subprocess.run([JOBWRAP] + [str(a) for a in args], capture_output=True,
                          timeout=timeout, env=jw.env("cli"), cwd=cwd,
                          stdin=subprocess.DEVNULL)


def load(path):
    return load_status(path)


def snapshot(path):
    return path.read_bytes(), path.stat().st_mtime_ns


def spawned(st):
    """Wait for the status written after the spawn; return it."""
    assert wait_for(lambda: st.exists() and load(st)["events_seq"] >= 2,
                    timeout=10), "no spawn"
    return load(st)


def live_run(jw, *cmd, args=()):
    """A run that goes on (no heartbeat: its status stays as it is)."""
    p, tag, ev, st = jw.start(["--heartbeat", "0"] + list(args) + ["--"] +
                              list(cmd), stdin=subprocess.DEVNULL)
    return p, ev, st, spawned(st)


def dead_run(jw, *cmd, args=()):
    """A run whose supervisor was SIGKILLed: status running, lock free.
    Its child died with it (PR_SET_PDEATHSIG)."""
    p, ev, st, status = live_run(jw, *cmd, args=args)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=5)
    assert wait_for(lambda: gone(status["pid"]), timeout=5)
    assert load(st)["state"] == "running"
    return p, ev, st, status


def finished_run(jw, *cmd, args=()):
    r = jw.run(["--heartbeat", "0"] + list(args) + ["--"] + list(cmd))
    st = jw.tmp / f"{r.tag}.status"
    assert r.status["state"] in TERMINAL
    return r, st


def rows(out):
    """The table of --inspect: header checked, rows parsed."""
    lines = out.decode().splitlines()
    assert lines[0] == HEADER, lines[0]
    parsed = []
    for line in lines[1:]:
        m = ROW.match(line)
        assert m, line
        parsed.append(m.groups())
    return parsed


def hold_lock(st):
    """Take st's lock as some other process would; returns the fd."""
    fd = os.open(f"{st}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def rewrite(st, **fields):
    """Change a status the way jobwrap writes it (temp file + rename)."""
    doc = load(st)
    doc.update(fields)
    tmp = st.parent / f".{st.name}.test"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.rename(tmp, st)


def stop(p, sig=signal.SIGTERM, timeout=10):
    p.send_signal(sig)
    p.wait(timeout=timeout)
    return p.returncode


# ---- --inspect -------------------------------------------------------------------

def test_inspect_table_of_files_and_directories(jw, tmp_path):
    fin, fin_st = finished_run(jw, "sh", "-c", "exit 3")
    dp, dev, dead_st, dead = dead_run(jw, "sleep", "300")
    lp, lev, live_st, live = live_run(jw, "sleep", "300")
    # Not status files: skipped in a directory.
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "other.json").write_text('{"v": 1, "x": 2}\n')

    r = cli(jw, "--inspect", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    table = rows(r.stdout)
    # One row per status, oldest first; events and lock files skipped.
    assert [t[0] for t in table] == [fin.status["run_id"][:12],
                                     dead["run_id"][:12],
                                     live["run_id"][:12]], table
    f, d, l = table
    assert f[1:4] == ("failed", "no", str(fin.status["jobwrap_pid"]))
    assert f[5] == "3" and f[6] == "sh -c exit 3"
    assert f[4] != "-"
    assert d[1:4] == ("running", "no", str(dead["jobwrap_pid"]))
    assert d[5] == "-" and d[6] == "sleep 300"
    assert l[1:4] == ("running", "yes", str(lp.pid))
    assert l[5] == "-" and l[6] == "sleep 300"

    # Files one by one, and in the order given (sorted by start).
    for st, want in ((fin_st, f), (dead_st, d), (live_st, l)):
        r = cli(jw, "--inspect", st)
        assert r.returncode == 0, r.stderr
        [row] = rows(r.stdout)
        assert row[:4] == want[:4] and row[5:] == want[5:]
    r = cli(jw, "--inspect", live_st, fin_st)
    assert [t[0] for t in rows(r.stdout)] == [f[0], l[0]]

    # A path that is not there: said on stderr, non-zero, the rest shown.
    r = cli(jw, "--inspect", tmp_path / "missing.status", fin_st)
    assert r.returncode != 0
    assert b"missing.status" in r.stderr
    assert [t[0] for t in rows(r.stdout)] == [f[0]]
    # Not a status file, named: refused the same way.
    r = cli(jw, "--inspect", tmp_path / "notes.txt")
    assert r.returncode != 0 and b"not a jobwrap status" in r.stderr
    assert r.stdout == b""

    assert stop(lp) == 143


def test_inspect_json_one_object_per_run(jw, tmp_path):
    fin, fin_st = finished_run(jw, "true")
    dp, dev, dead_st, dead = dead_run(jw, "sleep", "300")
    lp, lev, live_st, live = live_run(jw, "sleep", "300")
    r = cli(jw, "--inspect", "--json", tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 3
    docs = [validate_inspect(json.loads(x)) for x in lines]
    by_path = {d["path"]: d for d in docs}
    assert set(by_path) == {f"{tmp_path}/{s.name}"
                            for s in (fin_st, dead_st, live_st)}
    for st, alive in ((fin_st, False), (dead_st, False), (live_st, True)):
        d = dict(by_path[f"{tmp_path}/{st.name}"])
        assert d.pop("alive") is alive, st
        d.pop("path")
        assert d == load(st)            # the status itself, unchanged
    assert [d["run_id"] for d in docs] == [fin.status["run_id"],
                                           dead["run_id"], live["run_id"]]
    r = cli(jw, "--inspect", "--json", dead_st)
    [d] = [validate_inspect(json.loads(x))
           for x in r.stdout.decode().splitlines()]
    assert d["state"] == "running" and d["alive"] is False
    assert d["path"] == str(dead_st)
    assert stop(lp) == 143


def test_inspect_empty_directory(jw, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in ((), ("--json",)):
        r = cli(jw, "--inspect", *args, empty)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


# ---- --reap ----------------------------------------------------------------------

def test_reap_never_touches_terminal_or_locked_runs(jw, tmp_path):
    """Terminal statuses of every kind, a live run, and a dead run whose
    lock someone else holds: byte-identical, same mtime, nothing killed."""
    finals = [finished_run(jw, "true")[1],
              finished_run(jw, "sh", "-c", "exit 3")[1],
              finished_run(jw, "sleep", "30", args=("-t", "200ms"))[1],
              finished_run(jw, "/nonexistent/prog")[1]]
    cp, _, cst, _ = live_run(jw, "sleep", "300")
    assert stop(cp) == 143
    finals.append(cst)                                  # cancelled
    _, _, ost, _ = dead_run(jw, "sleep", "300")
    assert cli(jw, "--reap", ost).returncode == 0
    finals.append(ost)                                  # orphaned
    assert [load(s)["state"] for s in finals] == [
        "succeeded", "failed", "timeout", "spawn_failed", "cancelled",
        "orphaned"]
    lp, _, live_st, live = live_run(jw, "sleep", "300")
    _, _, held_st, _ = dead_run(jw, "sleep", "300")
    fd = hold_lock(held_st)
    try:
        keep = finals + [live_st, held_st]
        before = {s: snapshot(s) for s in keep}
        time.sleep(0.05)            # an mtime change would be visible
        for paths in ([tmp_path], keep):
            for mode in ((), ("--dry-run",)):
                r = cli(jw, "--reap", *mode, *paths)
                assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), \
                    (mode, r)
        assert {s: snapshot(s) for s in keep} == before
        assert not gone(live["pid"]) and not gone(lp.pid)
        cli_inspect = cli(jw, "--inspect", "--json", held_st)
        held = validate_inspect(json.loads(cli_inspect.stdout))
        assert held["alive"] is True
    finally:
        os.close(fd)
    # The lock was all that kept the dead run from being settled.
    r = cli(jw, "--reap", tmp_path)
    assert r.stdout.decode() == f"{tmp_path}/{held_st.name}: orphaned " \
                                "(killed 0 processes)\n", r
    assert load(held_st)["state"] == "orphaned"
    assert "no process of it left" in load(held_st)["reason"]
    # The live run was never disturbed: it ends the way it would have.
    assert stop(lp) == 143
    assert load(live_st)["state"] == "cancelled"


def test_reap_dry_run_changes_nothing_then_reap_is_idempotent(jw, tmp_path):
    p, tag, ev, st = jw.start(["--heartbeat", "0", "--", "sh", "-c",
                               "sleep 300 & echo $!; wait"],
                              stdin=subprocess.DEVNULL)
    grandchild = int(p.stdout.readline())
    spawn = spawned(st)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=5)
    assert wait_for(lambda: gone(spawn["pid"]), timeout=5)
    before = snapshot(st)
    lock_before = snapshot(st.parent / f"{st.name}.lock")
    time.sleep(0.05)
    want = f"{tmp_path}/{st.name}: would be orphaned (would kill 1 " \
           f"process: {grandchild})\n"
    for _ in range(2):
        r = cli(jw, "--reap", "--dry-run", tmp_path)
        assert (r.returncode, r.stdout.decode(), r.stderr) == \
            (0, want, b"")
    assert snapshot(st) == before
    assert snapshot(st.parent / f"{st.name}.lock") == lock_before
    assert not gone(grandchild) and pgid_of(grandchild) == spawn["pgid"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [ev.name, st.name, f"{st.name}.lock"])

    r = cli(jw, "--reap", st)
    assert (r.returncode, r.stdout.decode()) == \
        (0, f"{st}: orphaned (killed 1 process)\n"), r
    assert gone(grandchild)
    after = load(st)
    assert after["state"] == "orphaned" and after["ended_at"]
    assert f"killed 1 leftover process of process group {spawn['pgid']}" \
        in after["reason"]
    once = snapshot(st)
    time.sleep(0.05)
    for mode in ((), ("--dry-run",)):
        r = cli(jw, "--reap", *mode, tmp_path)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert snapshot(st) == once
    # No temporary file left behind.
    assert sorted(os.listdir(tmp_path)) == sorted(
        [ev.name, st.name, f"{st.name}.lock"])


@pytest.mark.parametrize("identity", ["recorded", "legacy"])
def test_reap_spares_processes_older_than_the_run(jw, tmp_path, identity):
    """PGID reuse: the dead run's recorded group id now names another
    group, whose leader started before the run did and which got a member
    after it.  The older leader is never killed.  With the group's
    identity recorded (boot id, leader's start ticks) reap sees the group
    is another's and kills nothing at all; a status without them (from an
    older jobwrap) falls back to 'started after the run did' and only the
    later member is killed."""
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    decoy = subprocess.Popen(["sh", "-c",
                              "read x; sleep 300 & echo $!; read y"],
                             start_new_session=True, env=jw.env(tag),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    jw.procs.append(decoy)
    try:
        time.sleep(0.3)         # the decoy group is clearly older
        _, _, st, status = dead_run(jw, "sleep", "300")
        time.sleep(0.1)
        decoy.stdin.write(b"go\n")
        decoy.stdin.flush()
        late = int(decoy.stdout.readline())     # younger than the run
        assert pgid_of(late) == decoy.pid
        if identity == "recorded":
            assert status.get("boot_id") and status.get("pgid_start_ticks")
            rewrite(st, pgid=decoy.pid)
            plan = "would kill nothing: its process group id now " \
                   "belongs to a later process"
            killed = 0
        else:
            rewrite(st, pgid=decoy.pid, boot_id=None, pgid_start_ticks=None)
            plan = f"would kill 1 process: {late}"
            killed = 1

        r = cli(jw, "--reap", "--dry-run", st)
        assert r.stdout.decode() == f"{st}: would be orphaned ({plan})\n", r
        r = cli(jw, "--reap", st)
        assert (r.returncode, r.stdout.decode()) == \
            (0, f"{st}: orphaned (killed {killed} process"
                f"{'' if killed == 1 else 'es'})\n"), r
        time.sleep(0.1)
        assert decoy.poll() is None, "reap killed a process older than " \
                                     "the run"
        assert pgid_of(decoy.pid) == decoy.pid
        assert gone(late) == (killed == 1)
        assert f"process group {decoy.pid}" in load(st)["reason"]
        assert load(st)["state"] == "orphaned"
    finally:
        try:
            os.killpg(decoy.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        decoy.wait()


def test_reap_racing_runs_that_are_starting(jw, tmp_path):
    """--reap runs over the directory again and again while runs start,
    run and end in it: a live run is never orphaned, each ends normally."""
    stop_reaping = threading.Event()
    said = []

    def reaper():
        while not stop_reaping.is_set():
            r = cli(jw, "--reap", tmp_path)
            said.append((r.returncode, r.stdout, r.stderr))

    t = threading.Thread(target=reaper)
    t.start()
    try:
        results = []
        for wave in range(4):
            procs = [jw.start(["--heartbeat", "0", "--", "sh", "-c",
                               "sleep 0.05"], stdin=subprocess.DEVNULL)
                     for _ in range(4)]
            for p, tag, ev, st in procs:
                p.wait(timeout=10)
                results.append((p.returncode, load(st), read_events(ev)))
    finally:
        stop_reaping.set()
        t.join(timeout=20)
    assert len(said) >= 5, "the reaper hardly ran"
    assert all(x == (0, b"", b"") for x in said), \
        [x for x in said if x != (0, b"", b"")]
    for rc, status, events in results:
        assert rc == 0, status
        assert status["state"] == "succeeded", status
        check_events(events)
        assert events[-1]["state"] == "succeeded"


# ---- --cancel --------------------------------------------------------------------

def test_cancel_live_run(jw):
    p, ev, st, status = live_run(jw, "sleep", "300")
    t0 = time.monotonic()
    r = cli(jw, "--cancel", "--wait", "5s", st)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 3
    printed = validate_status(json.loads(r.stdout))
    assert printed["state"] == "cancelled" and printed["exit_code"] == 143
    assert printed["signal"] == "SIGTERM"
    p.wait(timeout=5)
    assert p.returncode == 143
    assert printed == load(st)
    events = read_events(ev)
    check_events(events)
    assert events[-1]["state"] == "cancelled"
    assert gone(status["pid"])


def test_cancel_default_wait_covers_kill_after(jw):
    """Without --wait, cancel waits the run's kill-after (+5 s): a job that
    ignores TERM is still seen to its end."""
    p, tag, ev, st = jw.start(["--heartbeat", "0", "-k", "700ms", "--",
                               helper("jwchild"), "ignore-term"],
                              stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    assert load(st)["kill_after_ms"] == 700
    t0 = time.monotonic()
    r = cli(jw, "--cancel", st)
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert 0.6 <= wall < 4, wall
    printed = validate_status(json.loads(r.stdout))
    assert printed["state"] == "cancelled"
    p.wait(timeout=5)
    assert printed == load(st)
    sigs = [e["signal"] for e in read_events(ev) if e["event"] == "signal"]
    assert "SIGKILL" in sigs


def test_cancel_wait_too_short(jw):
    """--wait shorter than the grace: cancel says so and fails, the run
    still ends cancelled (the signal was sent)."""
    p, tag, ev, st = jw.start(["--heartbeat", "0", "-k", "1500ms", "--",
                               helper("jwchild"), "ignore-term"],
                              stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    t0 = time.monotonic()
    r = cli(jw, "--cancel", "--wait", "300ms", st)
    wall = time.monotonic() - t0
    assert r.returncode != 0 and r.stdout == b""
    assert b"still running after 300 ms" in r.stderr, r.stderr
    assert 0.25 <= wall < 1.3, wall
    p.wait(timeout=10)
    assert p.returncode == 143
    assert load(st)["state"] == "cancelled"


def test_cancel_finished_run_refused(jw):
    fin, st = finished_run(jw, "true")
    before = snapshot(st)
    r = cli(jw, "--cancel", st)
    assert r.returncode != 0 and r.stdout == b""
    assert b"already ended: succeeded (nothing to cancel)" in r.stderr, r
    assert snapshot(st) == before


def test_cancel_dead_supervisor_refused(jw, tmp_path):
    """Lock free: refused, pointing at --reap.  Not even when the recorded
    supervisor pid now names some other live process (PID reuse), and not
    when the lock is held by a process that is not the supervisor."""
    _, _, st, status = dead_run(jw, "sleep", "300")
    before = snapshot(st)
    r = cli(jw, "--cancel", "--wait", "1s", st)
    assert r.returncode != 0 and r.stdout == b""
    assert f"(jobwrap pid {status['jobwrap_pid']}) is gone".encode() in \
        r.stderr and b"--reap" in r.stderr, r.stderr
    assert snapshot(st) == before

    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    other = subprocess.Popen(["sleep", "300"], env=jw.env(tag))
    jw.procs.append(other)
    rewrite(st, jobwrap_pid=other.pid)
    r = cli(jw, "--cancel", "--wait", "1s", st)
    assert r.returncode != 0 and b"is gone" in r.stderr, r.stderr
    time.sleep(0.1)
    assert other.poll() is None, "cancel signalled an unrelated process"

    fd = hold_lock(st)
    try:
        r = cli(jw, "--cancel", "--wait", "1s", st)
    finally:
        os.close(fd)
    assert r.returncode != 0
    assert f"held by pid {os.getpid()}".encode() in r.stderr, r.stderr
    assert other.poll() is None
    other.kill()
    other.wait()


def test_cancel_racing_the_end_of_the_run(jw):
    """The child exits (stdin closed) just as cancel looks.  Whatever the
    timing, one of the documented outcomes (jobwrap(1), Cancelling a
    run): cancel refuses with `already ended` (exit 1, nothing on stdout;
    the run succeeded on its own), or it signalled the live supervisor and
    prints the terminal status, exit 0: `cancelled` (jobwrap exits 143),
    or `succeeded` when the child's exit came just before the signal.
    The printed status is always the one on disk; cancel never hangs and
    never calls the supervisor gone."""
    outcomes = []
    for pause in (0, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.03,
                  0.05) * 2:
        r, w = os.pipe()
        p, tag, ev, st = jw.start(["--heartbeat", "0", "-k", "1s", "--",
                                   "sh", "-c", "read x; exit 0"], stdin=r)
        os.close(r)
        spawned(st)
        # cancel starts; the child exits `pause` later, about when cancel
        # reads the status, takes the pidfd and looks at the lock.
        t0 = time.monotonic()
        cp = subprocess.Popen([JOBWRAP, "--cancel", "--wait", "5s", str(st)],
                              env=jw.env("cli"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        jw.procs.append(cp)
        time.sleep(pause)
        os.close(w)
        out, err = cp.communicate(timeout=15)
        c = subprocess.CompletedProcess(cp.args, cp.returncode, out, err)
        assert time.monotonic() - t0 < 4
        p.wait(timeout=10)
        final = load(st)
        events = read_events(ev)
        check_events(events)
        assert events[-1]["state"] == final["state"]
        if c.returncode == 0:
            assert validate_status(json.loads(c.stdout)) == final
            assert final["state"] in ("cancelled", "succeeded"), final
            assert p.returncode == (143 if final["state"] == "cancelled"
                                    else 0)
            assert c.stderr == b""
        else:
            assert c.returncode == 1 and c.stdout == b""
            assert b"already ended: succeeded" in c.stderr, c.stderr
            assert final["state"] == "succeeded" and p.returncode == 0
        outcomes.append((c.returncode, final["state"]))
    print(outcomes)


# ---- --follow --------------------------------------------------------------------

def follow(jw, tag, *args, cwd=None):
    p = subprocess.Popen([JOBWRAP, "--follow"] + [str(a) for a in args],
                         env=jw.env(tag), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd)
    jw.procs.append(p)
    return p


def test_follow_from_seq_until_exit(jw):
    p, tag, ev, st = jw.start(["--heartbeat", "50ms", "--", "sh", "-c",
                               "sleep 0.6"], stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    f = follow(jw, tag, "--from-seq", "2", ev)
    out, err = f.communicate(timeout=10)
    assert f.returncode == 0, err
    assert p.wait(timeout=5) == 0
    data = ev.read_bytes()
    events = read_events(ev)
    check_events(events)
    want = b"".join(line + b"\n" for line in data.splitlines()[1:])
    assert out == want
    assert parse_event(out.splitlines()[-1])["event"] == "exit"
    assert len([e for e in events if e["event"] == "heartbeat"]) >= 5


def test_follow_started_before_the_events_file_exists(jw, tmp_path):
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    ev = tmp_path / "later.events"
    st = tmp_path / "later.status"
    f = follow(jw, tag, ev)
    time.sleep(0.3)
    assert f.poll() is None, f.communicate()
    assert not ev.exists()
    p = subprocess.Popen([JOBWRAP, "--events-file", ev, "--status-file", st,
                          "--heartbeat", "50ms", "--", "sh", "-c",
                          "sleep 0.3"], env=jw.env(tag),
                         stdin=subprocess.DEVNULL)
    jw.procs.append(p)
    out, err = f.communicate(timeout=10)
    assert f.returncode == 0, err
    assert p.wait(timeout=5) == 0
    check_events(read_events(ev))
    assert out == ev.read_bytes()


def test_follow_supervisor_killed_exits_3(jw):
    p, tag, ev, st = jw.start(["--heartbeat", "50ms", "--", "sleep", "300"],
                              stdin=subprocess.DEVNULL)
    f = follow(jw, tag, ev)
    got = []
    while len([x for x in got if b'"heartbeat"' in x]) < 3:
        line = f.stdout.readline()
        assert line, f.stderr.read()
        got.append(line)
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=5)
    rest, err = f.communicate(timeout=5)
    assert time.monotonic() - t0 < 2
    assert f.returncode == 3, err
    out = b"".join(got) + rest
    assert out == ev.read_bytes()       # all there was, nothing more
    assert b'"exit"' not in out
    # After the fact: the same answer at once.
    f2 = follow(jw, tag, "--from-seq", "3", ev)
    out2, _ = f2.communicate(timeout=5)
    assert f2.returncode == 3
    assert out2 == b"".join(l + b"\n" for l in out.splitlines()[2:])


def test_follow_reattach_from_seq_exactly_once(jw):
    p, tag, ev, st = jw.start(["--heartbeat", "20ms", "--", "sh", "-c",
                               "sleep 1"], stdin=subprocess.DEVNULL)
    f1 = follow(jw, tag, ev)
    first = [f1.stdout.readline() for _ in range(6)]
    f1.kill()
    f1.wait()
    last = parse_event(first[-1])["seq"]
    f2 = follow(jw, tag, "--from-seq", last + 1, ev)
    rest, err = f2.communicate(timeout=10)
    assert f2.returncode == 0, err
    assert p.wait(timeout=5) == 0
    seqs = [parse_event(x)["seq"] for x in first + rest.splitlines(True)]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert b"".join(first) + rest == ev.read_bytes()
    assert parse_event(rest.splitlines()[-1])["event"] == "exit"


def test_follow_finished_run_prints_all_at_once(jw):
    fin, st = finished_run(jw, "true")
    ev = jw.tmp / f"{fin.tag}.events"
    f = follow(jw, fin.tag, ev)
    out, err = f.communicate(timeout=5)
    assert (f.returncode, err) == (0, b"")
    assert out == ev.read_bytes()


def test_follow_relative_status_path_from_another_directory(jw, tmp_path):
    """The start event names the status file as the supervisor was given
    it: relative to the supervisor's working directory.  A follower
    elsewhere, next to another run's status of the same name, must still
    follow the live run to its end (it used to exit 3 at once)."""
    here, there = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    there.mkdir()
    # Another, finished run in the follower's directory, same names.
    subprocess.run([JOBWRAP, "--status-file", "status", "--events-file",
                    "events", "--", "true"], cwd=there, check=True,
                   env=jw.env("cli"), stdin=subprocess.DEVNULL)
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    p = subprocess.Popen([JOBWRAP, "--status-file", "status", "--events-file",
                          "events", "--heartbeat", "50ms", "--", "sh", "-c",
                          "sleep 0.6"], cwd=here, env=jw.env(tag),
                         stdin=subprocess.DEVNULL)
    jw.procs.append(p)
    wait_event(here / "events", "spawn")
    f = follow(jw, tag, "../a/events", cwd=there)
    out, err = f.communicate(timeout=10)
    assert p.wait(timeout=5) == 0
    assert f.returncode == 0, (out, err)
    assert out == (here / "events").read_bytes()


# ---- many runs at once -----------------------------------------------------------

def test_hundred_runs_inspect_and_reap(jw, tmp_path):
    """100 live runs in one directory, a quarter of their supervisors
    SIGKILLed: --inspect shows 100 rows with the right ALIVE, one --reap
    settles exactly the dead ones (killing what they left), and nothing of
    any run survives."""
    runs = tmp_path / "runs"
    runs.mkdir()
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    env = jw.env(tag)
    procs, sts, outs = [], [], []
    for i in range(100):
        st, out = runs / f"r{i:03}.status", tmp_path / f"r{i:03}.out"
        with open(out, "wb") as o:
            p = subprocess.Popen([JOBWRAP, "--status-file", st, "--heartbeat",
                                  "0", "-k", "2s", "--", "sh", "-c",
                                  "sleep 300 & echo up; wait"], env=env,
                                 stdin=subprocess.DEVNULL, stdout=o,
                                 stderr=subprocess.STDOUT)
        jw.procs.append(p)
        procs.append(p)
        sts.append(st)
        outs.append(out)
    assert wait_for(lambda: all(o.read_bytes() == b"up\n" for o in outs),
                    timeout=30), [o for o in outs if o.read_bytes() != b"up\n"]
    dead = set(range(0, 100, 4))
    for i in dead:
        os.kill(procs[i].pid, signal.SIGKILL)
    for i in dead:
        procs[i].wait(timeout=5)
        child = load(sts[i])["pid"]
        assert wait_for(lambda: gone(child), timeout=5)
    before = {i: snapshot(sts[i]) for i in range(100)}

    t0 = time.monotonic()
    r = cli(jw, "--inspect", runs)
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert len(table) == 100
    by_id = {load(s)["run_id"][:12]: i for i, s in enumerate(sts)}
    for row in table:
        i = by_id[row[0]]
        assert row[1] == "running"
        assert row[2] == ("no" if i in dead else "yes"), (i, row)
    r = cli(jw, "--inspect", "--json", runs)
    docs = [validate_inspect(json.loads(x))
            for x in r.stdout.decode().splitlines()]
    assert sorted((d["path"], d["alive"]) for d in docs) == sorted(
        (f"{runs}/{s.name}", i not in dead) for i, s in enumerate(sts))

    r = cli(jw, "--reap", runs)
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.decode().splitlines()) == sorted(
        f"{runs}/{sts[i].name}: orphaned (killed 1 process)" for i in dead)
    assert wall < 10, wall
    for i in range(100):
        if i in dead:
            assert load(sts[i])["state"] == "orphaned"
        else:
            assert snapshot(sts[i]) == before[i], i
            assert procs[i].poll() is None
    r = cli(jw, "--inspect", runs)
    alive = {row[0]: (row[1], row[2]) for row in rows(r.stdout)}
    assert sorted(alive.values()) == sorted(
        [("orphaned", "no")] * 25 + [("running", "yes")] * 75)

    for i in range(100):
        if i not in dead:
            procs[i].terminate()
    for i in range(100):
        if i not in dead:
            assert procs[i].wait(timeout=10) == 143
            assert load(sts[i])["state"] == "cancelled"
    assert wait_for(lambda: tagged_pids(tag) == [], timeout=5), \
        tagged_pids(tag)
