"""Parents that misbehave: they stop reading events, close pipes, read
slowly or not at all.  Supervision must not stall (deadlines on time),
the child must never block on or be killed by its parent's neglect, the
exit code stays the child's, and every byte either arrives or is counted
as dropped in the status.

Parents in practice: Python's subprocess (pipes), Node's child_process
(libuv gives the child unix socketpairs), shells (`jobwrap ... | head`).
"""
import fcntl
import hashlib
import os
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (BIN, check_events, helper, load_status, parse_event,
                      read_events, wait_for)

CHILD = "jwchild"

def pattern(n):
    """What `jwchild flood N` writes: byte i is i % 255, skipping 10."""
    block = bytes(b for b in range(256) if b != 10)
    return (block * (n // len(block) + 1))[:n]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def lines(data):
    """JSON lines of an events stream, every line complete."""
    assert data == b"" or data.endswith(b"\n"), "stream ends mid-line"
    return [parse_event(x) for x in data.splitlines()]


def read_slowly(fd, pause):
    """Everything until EOF, 32 KiB at a time with a pause after each."""
    got = bytearray()
    while True:
        b = os.read(fd, 32768)
        if not b:
            return got
        got += b
        time.sleep(pause)


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def finish(p, ev, st, timeout=20):
    """Wait for jobwrap; (rc, events, status, stderr)."""
    _, err = p.communicate(timeout=timeout)
    events = read_events(ev)
    check_events(events)
    return p.returncode, events, load_status(st), err


def wrapped(jw, shell, args, **kw):
    """Popen `sh -c SHELL sh JOBWRAP --events-file E --status-file S ARGS`,
    tagged like jw.start(): $@ in SHELL is the jobwrap command line."""
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    ev, st = jw.tmp / f"{tag}.events", jw.tmp / f"{tag}.status"
    cmd = ["sh", "-c", shell, "sh", BIN, "--events-file", str(ev),
           "--status-file", str(st)] + list(args)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, env=jw.env(tag), **kw)
    jw.procs.append(p)
    return p, ev, st


# ---- the events fd ----------------------------------------------------------

def test_events_reader_closed_before_start(jw):
    r, w = os.pipe()
    os.close(r)
    try:
        res = jw.run(["--events-fd", str(w), "--heartbeat", "20ms", "--",
                      "sh", "-c", "sleep 0.3; exit 3"], pass_fds=(w,))
    finally:
        os.close(w)
    assert res.rc == 3, res.err
    check_events(res.events)
    assert res.events[-1]["state"] == "failed"
    assert len(res.find("heartbeat")) >= 5  # the file gets every one
    assert res.status["state"] == "failed" and res.status["exit_code"] == 3


@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_events_reader_goes_away_mid_run(jw, kind):
    if kind == "pipe":
        r, w = os.pipe()
    else:
        a, b = socket.socketpair()
        r, w = a.detach(), b.detach()
    p, tag, ev, st = jw.start(["--events-fd", str(w), "--heartbeat", "20ms",
                               "--", "sh", "-c", "sleep 0.6; exit 3"],
                              pass_fds=(w,), stdin=subprocess.DEVNULL)
    os.close(w)
    got = b""
    while b'"spawn"' not in got:
        chunk = os.read(r, 4096)
        assert chunk, "events fd closed before spawn"
        got += chunk
    t_close = time.monotonic()
    os.close(r)
    rc, events, status, err = finish(p, ev, st)
    assert rc == 3, err  # not killed by SIGPIPE, not 125
    assert events[-1]["state"] == "failed"
    assert status["state"] == "failed"
    # Heartbeats went on after the reader left.
    hb = [e["mono_ms"] for e in events if e["event"] == "heartbeat"]
    assert len(hb) >= 15, hb
    assert time.monotonic() - t_close < 3


def test_events_never_read_tiny_pipe(jw):
    """A stuck reader with a 4 KiB pipe: deadline on time, heartbeats
    coalesced, whatever the fd got is an exact, gap-free prefix of the
    file, and the exit event waits at most 1 s for it."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    p, tag, ev, st = jw.start(["--events-fd", str(w), "--heartbeat", "10ms",
                               "-t", "1500ms", "-k", "300ms", "--",
                               "sleep", "30"],
                              pass_fds=(w,), stdin=subprocess.DEVNULL)
    os.close(w)
    t0 = time.monotonic()
    try:
        rc, events, status, err = finish(p, ev, st)
        wall = time.monotonic() - t0
        fd_data = read_all(r)
    finally:
        os.close(r)
    assert rc == 124, err
    [tmo] = [e for e in events if e["event"] == "timeout"]
    assert 1500 <= tmo["mono_ms"] < 1900, tmo
    assert events[-1]["mono_ms"] < 1500 + 300 + 600
    # Deadline + kill-after + at most 1 s for the exit event + margin.
    assert wall < 1.5 + 0.3 + 1 + 1.2, wall
    file_data = ev.read_bytes()
    assert len(fd_data) <= 4096
    assert file_data.startswith(fd_data), "fd is not a prefix of the file"
    got = lines(fd_data)
    assert [e["seq"] for e in got] == list(range(1, len(got) + 1))
    assert len(got) >= 2
    hb = [e for e in events if e["event"] == "heartbeat"]
    assert 0 < len(hb) < 75, len(hb)  # 150 were due: coalesced
    assert status["state"] == "timeout" and status["events_seq"] == \
        len(events) - 1


def test_events_read_only_after_the_end(jw):
    """The same stuck reader wakes up when the run is over: it gets every
    event, the same bytes as the file."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    p, tag, ev, st = jw.start(["--events-fd", str(w), "--heartbeat", "10ms",
                               "-t", "1s", "-k", "300ms", "--",
                               "sleep", "30"],
                              pass_fds=(w,), stdin=subprocess.DEVNULL)
    os.close(w)
    t0 = time.monotonic()

    def terminal():
        if p.poll() is not None:
            return True  # it cannot be waiting for us any more
        try:
            return load_status(st)["ended_at"] is not None
        except (OSError, ValueError):
            return False

    try:
        assert wait_for(terminal, timeout=10, step=0.005)
        fd_data = read_all(r)
    finally:
        os.close(r)
    rc, events, status, err = finish(p, ev, st)
    wall = time.monotonic() - t0
    assert rc == 124, err
    assert fd_data == ev.read_bytes()
    assert lines(fd_data)[-1]["event"] == "exit"
    assert wall < 1 + 0.3 + 1.2, wall


# ---- jobwrap's own stdout / stderr ------------------------------------------

@pytest.mark.parametrize("closed", ["out", "err", "both"])
def test_own_output_closed_before_start(jw, closed):
    n = 3_000_000
    redir = {"out": ">&-", "err": "2>&-", "both": ">&- 2>&-"}[closed]
    p, ev, st = wrapped(jw, f'exec "$@" {redir}',
                        ["--", helper(CHILD), "flood", str(n), "both"])
    rc, events, status, err = finish(p, ev, st)
    assert rc == 0, err
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert (status["bytes_out"], status["bytes_err"]) == (n, n)
    want = {"out": (n, 0), "err": (0, n), "both": (n, n)}[closed]
    assert (status["dropped_out"], status["dropped_err"]) == want
    if closed == "out":
        assert len(err) == n and sha(err) == sha(pattern(n))


@pytest.mark.parametrize("stream", ["out", "err"])
@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_own_output_reader_exits_early(jw, stream, kind):
    """`jobwrap -- producer | head -c 10`: the child writes 20 MB and exits
    0; it must not block or die of SIGPIPE, and the loss is counted."""
    n = 20_000_000
    kw = {}
    if kind == "socket":
        ours, theirs = socket.socketpair()
        kw["stdout" if stream == "out" else "stderr"] = theirs.fileno()
    p, tag, ev, st = jw.start(["--", helper(CHILD), "flood", str(n),
                               stream], stdin=subprocess.DEVNULL, **kw)
    t0 = time.monotonic()
    if kind == "socket":
        theirs.close()
        head = ours.recv(10)
        ours.close()
    else:
        f = p.stdout if stream == "out" else p.stderr
        head = f.read(10)
        f.close()
    assert head == pattern(10)
    p.wait(timeout=20)
    wall = time.monotonic() - t0
    events = read_events(ev)
    check_events(events)
    status = load_status(st)
    assert p.returncode == 0
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert status["signal"] is None
    assert status[f"bytes_{stream}"] == n
    dropped = status[f"dropped_{stream}"]
    assert 0 < dropped <= n - 10
    assert wall < 10


@pytest.mark.parametrize("kind", ["pipe", "socket"])
def test_slow_reader_gets_every_byte(jw, kind):
    n = 3_000_000
    kw = {}
    if kind == "socket":
        ours, theirs = socket.socketpair()
        kw["stdout"] = theirs.fileno()
    p, tag, ev, st = jw.start(["--heartbeat", "50ms", "--", helper(CHILD),
                               "flood", str(n)], stdin=subprocess.DEVNULL,
                              **kw)
    if kind == "socket":
        theirs.close()
        fd = ours.fileno()
    else:
        fd = p.stdout.fileno()
    got = read_slowly(fd, 0.005)
    p.wait(timeout=20)
    if kind == "socket":
        ours.close()
    events = read_events(ev)
    check_events(events)
    status = load_status(st)
    assert p.returncode == 0
    assert len(got) == n and sha(bytes(got)) == sha(pattern(n))
    assert status["bytes_out"] == n and status["dropped_out"] == 0
    # The loop never waited on the reader: heartbeats kept their pace.
    hb = [e["mono_ms"] for e in events if e["event"] == "heartbeat"]
    assert len(hb) >= 3
    gaps = [b - a for a, b in zip(hb, hb[1:])]
    assert max(gaps) < 400, gaps


def test_slow_reader_short_kill_after_gets_every_byte(jw):
    n = 2_000_000
    p, tag, ev, st = jw.start(["-k", "100ms", "--", helper(CHILD),
                               "flood", str(n)], stdin=subprocess.DEVNULL)
    fd = p.stdout.fileno()
    got = read_slowly(fd, 0.02)
    p.wait(timeout=20)
    status = load_status(st)
    assert p.returncode == 0
    assert status["bytes_out"] == n
    assert (len(got), status["dropped_out"]) == (n, 0)
    assert sha(bytes(got)) == sha(pattern(n))


def test_stdout_to_file_keeps_append_and_bytes(jw, tmp_path):
    """Output to a file goes through the parent's own description, so
    O_APPEND and the shared offset hold, byte-exact."""
    n = 5_000_000
    out = tmp_path / "out"
    out.write_bytes(b"before\n")
    with open(out, "ab") as f:
        p, tag, ev, st = jw.start(["--", helper(CHILD), "flood", str(n)],
                                  stdin=subprocess.DEVNULL, stdout=f)
        p.wait(timeout=20)
    status = load_status(st)
    assert p.returncode == 0
    assert (status["bytes_out"], status["dropped_out"]) == (n, 0)
    data = out.read_bytes()
    assert data[:7] == b"before\n"
    assert len(data) == 7 + n and sha(data[7:]) == sha(pattern(n))


def test_stdout_to_terminal_byte_exact(jw):
    """A terminal, raw: every byte arrives, none is counted as dropped."""
    import pty
    import tty
    n = 300_000
    master, slave = pty.openpty()
    tty.setraw(slave)
    p, tag, ev, st = jw.start(["--", helper(CHILD), "flood", str(n)],
                              stdin=subprocess.DEVNULL, stdout=slave)
    os.close(slave)
    got = bytearray()
    while len(got) < n:
        try:
            b = os.read(master, 65536)
        except OSError:        # EIO: the last writer closed the terminal
            break
        if not b:
            break
        got += b
    p.wait(timeout=20)
    os.close(master)
    status = load_status(st)
    assert p.returncode == 0
    assert (status["bytes_out"], status["dropped_out"]) == (n, 0)
    assert len(got) == n and sha(bytes(got)) == sha(pattern(n))


def test_stdout_never_read_deadline_on_time(jw):
    """Nobody reads jobwrap's stdout at all: the deadline still fires on
    time, and what was delivered plus what was dropped is what was read
    from the child, delivered bytes unchanged."""
    p, tag, ev, st = jw.start(["-t", "500ms", "-k", "300ms", "--heartbeat",
                               "50ms", "--", helper(CHILD), "flood",
                               "1000000000"], stdin=subprocess.DEVNULL)
    t0 = time.monotonic()
    p.wait(timeout=20)
    wall = time.monotonic() - t0
    out = p.stdout.read()
    events = read_events(ev)
    check_events(events)
    status = load_status(st)
    assert p.returncode == 124
    [tmo] = [e for e in events if e["event"] == "timeout"]
    assert 500 <= tmo["mono_ms"] < 900
    assert wall < 0.5 + 0.3 + 1.5, wall
    hb = [e["mono_ms"] for e in events if e["event"] == "heartbeat"]
    assert len(hb) >= 5
    delivered = status["bytes_out"] - status["dropped_out"]
    assert status["dropped_out"] > 0
    assert len(out) == delivered
    assert out == pattern(delivered)


def test_parent_signals_do_not_leak_sigpipe_to_child(jw):
    """jobwrap blocks SIGPIPE for itself; the child must get the default
    disposition back (a `yes | head` inside the job must end)."""
    res = jw.run(["-t", "5s", "--", "sh", "-c", "yes | head -c 3; echo"])
    assert res.rc == 0, res.err
    assert res.out == b"y\ny\n"
    assert res.duration < 3
