"""The status file: its fields at start, while running, at heartbeats and at
the end; atomic replacement (mode, no symlink following, no temp file
left); PATH.lock held exactly while jobwrap lives; the stderr tail."""
import datetime
import fcntl
import os
import re
import subprocess
import time

import pytest

from conftest import (STATUS_FIELDS, TERMINAL, check_events, load_status,
                      parse_event, read_events, wait_event, wait_for)

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ALL_FIELDS = set(STATUS_FIELDS) | {"dropped_out", "dropped_err",
                                   "notify_dropped", "kill_after_ms",
                                   "boot_id", "pgid_start_ticks", "job_tag"}


def test_identity_of_the_process_group(jw):
    # What --reap needs to tell this group from a later one with its id.
    p, _, ev, st = jw.start(["--", "sleep", "30"], stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    s = wait_for(lambda: (d := load(st)) and d["pid"] and d)
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    assert s["boot_id"] == boot
    start = int(open(f"/proc/{s['pgid']}/stat").read().rsplit(")", 1)[1]
                .split()[19])
    assert s["pgid_start_ticks"] == start
    p.terminate()
    p.wait()


def load(path):
    return load_status(path)


def parse_ts(s):
    assert TS.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def lock_is_free(path):
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def spawn_written(st):
    """The status written right after the spawn event (events_seq 2)."""
    assert wait_for(lambda: st.exists() and load(st)["events_seq"] >= 2)
    return load(st)


def is_sentence(s):
    return isinstance(s, str) and len(s) > 10 and " " in s


# ---- the final status ------------------------------------------------------

def test_final_status_fields(jw):
    r = jw.run(["--run-id", "job-7", "--", "sh", "-c",
                "printf 1234567; printf ab >&2; exit 3"])
    assert r.rc == 3
    st = r.status
    assert set(st) == ALL_FIELDS, set(st) ^ ALL_FIELDS
    assert st["v"] == 1
    assert st["run_id"] == "job-7"
    assert st["state"] == "failed" and st["state"] in TERMINAL
    assert st["command"] == ["sh", "-c",
                             "printf 1234567; printf ab >&2; exit 3"]
    spawn = r.find("spawn")[0]
    assert st["jobwrap_pid"] == r.events[0]["jobwrap_pid"]
    assert st["pid"] == spawn["pid"] and st["pgid"] == spawn["pgid"]
    assert st["attempt"] == 1
    started, updated = parse_ts(st["started_at"]), parse_ts(st["updated_at"])
    ended = parse_ts(st["ended_at"])
    assert started <= ended <= updated
    assert parse_ts(r.events[0]["ts"]) >= started
    assert type(st["duration_ms"]) is int and st["duration_ms"] >= 0
    assert st["exit_code"] == 3 and st["signal"] is None
    assert is_sentence(st["reason"]) and "3" in st["reason"]
    assert st["last_error"] is None
    assert st["retries_seen"] == 0
    assert st["stderr_tail"] == "ab"
    assert st["bytes_out"] == 7 and st["bytes_err"] == 2
    assert st["dropped_out"] == 0 and st["dropped_err"] == 0
    assert set(st["rusage"]) == {"maxrss_kb", "utime_ms", "stime_ms"}
    assert all(type(v) is int and v >= 0 for v in st["rusage"].values())
    assert st["rusage"]["maxrss_kb"] > 0


def test_final_events_seq_is_attempt_end(jw):
    r = jw.run(["--", "true"])
    check_events(r.events)
    end = r.find("attempt_end")[0]
    assert r.status["events_seq"] == end["seq"]
    assert r.events[-1]["seq"] == r.status["events_seq"] + 1
    assert r.status["state"] == r.events[-1]["state"]
    assert r.status["exit_code"] == r.events[-1]["exit_code"]


def test_final_status_of_spawn_failure(jw):
    r = jw.run(["--", "/nonexistent/prog"])
    assert r.rc == 127
    st = r.status
    assert st["state"] == "spawn_failed"
    assert st["pid"] is None and st["pgid"] is None
    assert st["exit_code"] == 127 and st["ended_at"] is not None
    assert "/nonexistent/prog" in st["reason"] and is_sentence(st["reason"])
    assert st["events_seq"] == r.find("spawn_failed")[0]["seq"]
    assert r.events[-1]["seq"] == st["events_seq"] + 1


def test_final_status_of_timeout(jw):
    r = jw.run(["-t", "200ms", "--", "sleep", "30"])
    st = r.status
    assert st["state"] == "timeout" and st["exit_code"] == 124
    assert st["signal"] == "SIGTERM"
    assert is_sentence(st["reason"]) and "deadline" in st["reason"]
    assert 150 <= st["duration_ms"] <= 3000


def test_final_status_of_signaled_child(jw):
    r = jw.run(["--", "sh", "-c", "kill -USR2 $$"])
    st = r.status
    assert st["state"] == "signaled" and st["exit_code"] == 128 + 12
    assert st["signal"] == "SIGUSR2"
    assert "SIGUSR2" in st["reason"]


def test_status_path_in_exit_event(jw, tmp_path):
    st = tmp_path / "named.status"
    r = jw.run(["--status-file", str(st), "--", "true"], status=False)
    assert r.rc == 0
    assert r.events[-1]["status_file"] == str(st)
    assert load(st)["state"] == "succeeded"


# ---- at start, while running, at heartbeats ---------------------------------

def full_fifo(path):
    """A FIFO whose buffer is full; the returned fd keeps it open both ways.
    jobwrap, given it as --events-file, blocks writing its first event."""
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        while True:
            os.write(fd, b"\n" * 4096)
    except BlockingIOError:
        pass
    return fd


def drain_until_exit(fd, p, timeout=10):
    """Read the FIFO until jobwrap exits; returns what it wrote."""
    chunks = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunks.append(os.read(fd, 65536))
            continue
        except BlockingIOError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.005)
    return b"".join(chunks)


def test_status_at_start(jw, tmp_path):
    """Written before the start event: running, attempt 0, no pid.

    The events file is a FIFO whose buffer is already full, so jobwrap
    blocks writing the start event, right after the first status write."""
    fd = full_fifo(tmp_path / "events.fifo")
    try:
        p, _, _, st = jw.start(["--events-file", str(tmp_path / "events.fifo"),
                                "--", "true"],
                               events=False, stdin=subprocess.DEVNULL)
        assert wait_for(lambda: st.exists())
        first = load(st)
        data = drain_until_exit(fd, p)
        p.communicate(timeout=10)
    finally:
        os.close(fd)
    assert first["state"] == "running"
    assert first["attempt"] == 0
    assert first["pid"] is None and first["pgid"] is None
    assert first["ended_at"] is None and first["exit_code"] is None
    assert first["events_seq"] == 0
    assert first["jobwrap_pid"] == p.pid
    assert first["command"] == ["true"]
    assert first["stderr_tail"] == "" and first["bytes_out"] == 0
    assert set(first) == ALL_FIELDS
    events = [parse_event(x) for x in data.split(b"\n") if x]
    check_events(events)
    assert events[0]["run_id"] == first["run_id"]
    assert load(st)["state"] in TERMINAL


def test_status_at_start_reason_is_a_sentence(jw, tmp_path):
    fd = full_fifo(tmp_path / "events.fifo")
    try:
        p, _, _, st = jw.start(["--events-file", str(tmp_path / "events.fifo"),
                                "--", "true"],
                               events=False, stdin=subprocess.DEVNULL)
        assert wait_for(lambda: st.exists())
        first = load(st)
        drain_until_exit(fd, p)
        p.communicate(timeout=10)
    finally:
        os.close(fd)
    assert is_sentence(first["reason"]), first["reason"]


def test_status_while_running(jw):
    p, _, ev, st = jw.start(["--heartbeat", "0", "--", "sh", "-c",
                             "echo $$; read x"], stdin=subprocess.PIPE)
    pid = int(p.stdout.readline())
    running = spawn_written(st)
    out, _ = p.communicate(input=b"\n", timeout=10)
    assert p.returncode == 0
    assert running["state"] == "running"
    assert running["pid"] == pid and running["pgid"] == pid
    assert running["attempt"] == 1
    assert running["jobwrap_pid"] == p.pid
    assert running["ended_at"] is None
    assert running["exit_code"] is None
    assert running["signal"] is None
    assert running["events_seq"] == 2          # start, spawn
    assert is_sentence(running["reason"])
    final = load(st)
    assert final["state"] == "succeeded"
    assert final["started_at"] == running["started_at"]
    assert final["run_id"] == running["run_id"]


def test_status_rewritten_at_heartbeat(jw):
    p, _, ev, st = jw.start(["--heartbeat", "100ms", "--", "sh", "-c",
                             "printf abc; printf xy >&2; read x"],
                            stdin=subprocess.PIPE)
    assert wait_for(lambda: st.exists() and load(st)["events_seq"] >= 4)
    snap = load(st)
    p.communicate(input=b"\n", timeout=10)
    events = read_events(ev)
    check_events(events)
    assert events[snap["events_seq"] - 1]["event"] == "heartbeat"
    assert snap["state"] == "running"
    assert snap["bytes_out"] == 3 and snap["bytes_err"] == 2
    assert snap["stderr_tail"] == "xy"
    assert parse_ts(snap["updated_at"]) >= parse_ts(snap["started_at"])
    assert snap["duration_ms"] >= 100


# ---- the lock ---------------------------------------------------------------

def test_lock_held_while_running_and_free_after(jw):
    p, _, ev, st = jw.start(["--", "sh", "-c", "read x"],
                            stdin=subprocess.PIPE)
    assert wait_event(ev, "spawn")
    lock = st.parent / (st.name + ".lock")
    assert lock.exists()
    fd = os.open(lock, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    p.communicate(input=b"\n", timeout=10)
    assert p.returncode == 0
    assert lock_is_free(lock)


def test_lock_is_not_inherited_by_the_child(jw):
    r = jw.run(["--", "sh", "-c", "ls -l /proc/$$/fd/"])
    assert r.rc == 0
    assert b".lock" not in r.out
    assert b".status" not in r.out


def test_second_jobwrap_on_same_status_is_refused(jw, tmp_path):
    st = tmp_path / "one.status"
    marker = tmp_path / "second-ran"
    p1, _, ev1, _ = jw.start(["--status-file", str(st), "--", "sh", "-c",
                              "read x"], status=False, stdin=subprocess.PIPE)
    spawn_written(st)
    before = st.read_bytes()
    r = jw.run(["--status-file", str(st), "--", "touch", str(marker)],
               status=False, timeout=5)
    assert r.rc == 125
    assert "held" in r.err.decode()
    assert r.duration < 2
    assert not marker.exists()
    assert st.read_bytes() == before        # the live run's record
    p1.communicate(input=b"\n", timeout=10)
    assert p1.returncode == 0
    assert load(st)["state"] == "succeeded"
    # once the first is gone, the file is free again
    r2 = jw.run(["--status-file", str(st), "--", "true"], status=False)
    assert r2.rc == 0


# ---- atomic replacement -----------------------------------------------------

def test_mode_0644(jw):
    r = jw.run(["--", "true"])
    st = jw.tmp / f"{r.tag}.status"
    assert st.stat().st_mode & 0o777 == 0o644


def test_mode_follows_stricter_umask(jw):
    r = jw.run(["--", "true"], umask=0o077)
    st = jw.tmp / f"{r.tag}.status"
    assert r.rc == 0
    assert st.stat().st_mode & 0o777 == 0o600


def test_status_never_written_through_symlink(jw, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    st = tmp_path / "link.status"
    st.symlink_to(victim)
    r = jw.run(["--status-file", str(st), "--", "true"], status=False)
    assert r.rc == 0
    assert victim.read_text() == "precious\n"
    assert not st.is_symlink() and st.is_file()
    assert load(st)["state"] == "succeeded"


def test_lock_symlink_is_refused(jw, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    st = tmp_path / "s.status"
    (tmp_path / "s.status.lock").symlink_to(victim)
    marker = tmp_path / "ran"
    r = jw.run(["--status-file", str(st), "--", "touch", str(marker)],
               status=False)
    assert r.rc == 125
    assert victim.read_text() == "precious\n"
    assert not marker.exists()


def test_no_temporary_file_left(jw, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    r = jw.run(["--status-file", str(d / "st"), "--heartbeat", "50ms", "--",
                "sleep", "0.2"], status=False)
    assert r.rc == 0
    assert sorted(os.listdir(d)) == ["st", "st.lock"]


def test_stale_temporary_file_is_replaced(jw, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / ".st.tmp").write_text("stale")
    r = jw.run(["--status-file", str(d / "st"), "--", "true"], status=False)
    assert r.rc == 0
    assert load(d / "st")["state"] == "succeeded"
    assert sorted(os.listdir(d)) == ["st", "st.lock"]


def test_previous_status_is_replaced(jw, tmp_path):
    st = tmp_path / "again.status"
    st.write_text('{"state": "running", "old": true}\n')
    r = jw.run(["--status-file", str(st), "--", "true"], status=False)
    assert r.rc == 0
    doc = load(st)
    assert "old" not in doc and doc["state"] == "succeeded"


# ---- stderr tail, byte counts -----------------------------------------------

def test_stderr_tail_keeps_the_last_bytes(jw):
    r = jw.run(["--tail-bytes", "10", "--", "sh", "-c",
                "printf abcdefghijklmnopqrstuvwxyz >&2"])
    assert r.rc == 0
    assert r.err.endswith(b"abcdefghijklmnopqrstuvwxyz")   # relayed whole
    assert r.status["stderr_tail"] == "qrstuvwxyz"
    assert r.status["bytes_err"] == 26


def test_stderr_tail_across_many_writes(jw):
    r = jw.run(["--tail-bytes", "100", "--", "sh", "-c",
                "i=0; while [ $i -lt 300 ]; do echo line$i >&2; "
                "i=$((i+1)); done"])
    want = "".join(f"line{i}\n" for i in range(300))[-100:]
    assert r.status["stderr_tail"] == want


def test_stderr_tail_default_is_4096(jw):
    r = jw.run(["--", "sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x >&2; "
                "printf END >&2"])
    tail = r.status["stderr_tail"]
    assert len(tail) == 4096 and tail.endswith("END")


def test_stderr_tail_zero(jw):
    r = jw.run(["--tail-bytes", "0", "--", "sh", "-c", "echo oops >&2"])
    assert r.status["stderr_tail"] == ""
    assert r.status["bytes_err"] == 5


def test_stderr_tail_invalid_utf8(jw):
    r = jw.run(["--", "sh", "-c", "printf 'a\\377b\\303\\251c' >&2"])
    assert r.status["stderr_tail"] == "a\\xffb\u00e9c"


def test_stderr_tail_cut_inside_a_character(jw):
    """The tail is bytes: a cut UTF-8 character shows as \\xNN escapes."""
    r = jw.run(["--tail-bytes", "2", "--", "sh", "-c",
                "printf '\\303\\251!' >&2"])
    assert r.status["stderr_tail"] == "\\xa9!"


def test_stdout_not_in_tail(jw):
    r = jw.run(["--", "sh", "-c", "echo out; echo err >&2"])
    assert r.status["stderr_tail"] == "err\n"
    assert r.status["bytes_out"] == 4


def test_dropped_output_is_counted(jw):
    """jobwrap's own stdout is gone: the child is drained, not blocked."""
    rd, wr = os.pipe()
    os.close(rd)
    try:
        p, _, ev, st = jw.start(["--", "sh", "-c",
                                 "head -c 200000 /dev/zero; echo done >&2"],
                                stdin=subprocess.DEVNULL, stdout=wr)
    finally:
        os.close(wr)
    err = p.stderr.read()
    p.wait(timeout=10)
    assert p.returncode == 0, err
    doc = load(st)
    assert doc["state"] == "succeeded"
    assert doc["bytes_out"] == 200000
    assert doc["dropped_out"] == 200000
    assert doc["dropped_err"] == 0
    assert err.endswith(b"done\n")
