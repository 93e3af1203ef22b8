"""The JSON Lines event stream: envelope, each event's fields, the order of
events for each way a run ends, the 64 KiB line limit, the same seq on
--events-fd and --events-file, and heartbeats."""
import datetime
import os
import re
import subprocess

import pytest

from conftest import check_events, parse_event, read_events

LINE_MAX = 65536
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONFIG_KEYS = {"timeout", "kill_after", "signal", "heartbeat", "events_fd",
               "events_file", "status_file", "tail_bytes", "attempt_timeout",
               "idle_timeout", "retries", "retry_on", "backoff", "backoff_max",
               "retry_pattern", "error_pattern", "notify", "on_parent_death",
               "seccomp", "seccomp_filter", "rlimit_core", "rlimit_nofile",
               "rlimit_as", "rlimit_cpu", "rlimit_nproc", "rlimit_fsize"}


def check_lines(path):
    """Every line of the file is complete JSON of at most 64 KiB."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    for line in lines:
        assert len(line) + 1 <= LINE_MAX, len(line)
        parse_event(line)
    return lines


# ---- envelope --------------------------------------------------------------

def test_envelope_of_every_event(jw):
    before = datetime.datetime.now(datetime.timezone.utc)
    r = jw.run(["--run-id", "parent-42", "--", "sh", "-c", "echo hi"])
    after = datetime.datetime.now(datetime.timezone.utc)
    assert r.rc == 0
    check_events(r.events, run_id="parent-42")
    slack = datetime.timedelta(seconds=2)
    for e in r.events:
        assert type(e["v"]) is int and e["v"] == 1
        assert TS.match(e["ts"]), e["ts"]
        ts = datetime.datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        ts = ts.replace(tzinfo=datetime.timezone.utc)
        assert before - slack <= ts <= after + slack
        assert type(e["mono_ms"]) is int and e["mono_ms"] >= 0
    tss = [e["ts"] for e in r.events]
    assert tss == sorted(tss)
    # mono_ms counts from jobwrap's start, not from some boot-time epoch
    assert r.events[-1]["mono_ms"] <= r.duration * 1000 + 100


def test_generated_run_id_is_128_bit_hex_and_unique(jw):
    ids = set()
    for _ in range(2):
        r = jw.run(["--", "true"])
        check_events(r.events)
        rid = r.events[0]["run_id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        assert {e["run_id"] for e in r.events} == {rid}
        assert r.status["run_id"] == rid
        ids.add(rid)
    assert len(ids) == 2


# ---- start -----------------------------------------------------------------

def test_start_event(jw):
    r = jw.run(["--", "sh", "-c", "exit 0", "arg one", ""])
    check_events(r.events)
    s = r.events[0]
    assert s["command"] == ["sh", "-c", "exit 0", "arg one", ""]
    assert s["deadline_ms"] == 3600000              # default 1h
    cfg = s["config"]
    assert set(cfg) == CONFIG_KEYS, set(cfg) ^ CONFIG_KEYS
    assert cfg["timeout"] == "1h"
    assert cfg["kill_after"] == "10s"
    assert cfg["signal"] == "TERM"
    assert cfg["heartbeat"] == "10s"
    assert cfg["events_fd"] is None
    assert cfg["tail_bytes"] == 4096
    assert cfg["events_file"].endswith(".events")
    assert cfg["status_file"].endswith(".status")


def test_start_jobwrap_pid(jw):
    p, _, ev, _ = jw.start(["--", "true"], stdin=subprocess.DEVNULL)
    p.communicate(timeout=10)
    events = read_events(ev)
    assert events[0]["jobwrap_pid"] == p.pid


def test_start_config_canonical_values(jw):
    r = jw.run(["-t", "90m", "-k", "1500ms", "--heartbeat", "0.25s",
                "-s", "sigint", "--tail-bytes", "7", "--", "true"])
    check_events(r.events)
    s = r.events[0]
    assert s["deadline_ms"] == 90 * 60 * 1000
    cfg = s["config"]
    assert cfg["timeout"] == "1h30m"
    assert cfg["kill_after"] == "1.5s"
    assert cfg["heartbeat"] == "250ms"
    assert cfg["signal"] == "INT"
    assert cfg["tail_bytes"] == 7


def test_no_deadline_is_null(jw):
    r = jw.run(["-t", "0", "--heartbeat", "0", "--", "true"])
    check_events(r.events)
    s = r.events[0]
    assert s["deadline_ms"] is None
    assert s["config"]["timeout"] == "0"
    assert s["config"]["heartbeat"] == "0"


def test_start_config_has_no_run_id(jw):
    """run_id is in the envelope; config holds only ini key names."""
    r = jw.run(["--run-id", "abc", "--", "true"])
    assert "run_id" not in r.events[0]["config"]


# ---- spawn, attempt_end, exit ---------------------------------------------

def test_success_sequence_and_fields(jw):
    r = jw.run(["--", "sh", "-c", "echo $$; exit 0"])
    assert r.rc == 0
    check_events(r.events)
    assert r.names() == ["start", "spawn", "attempt_end", "exit"]
    sp = r.find("spawn")[0]
    assert sp["attempt"] == 1
    assert sp["pid"] == int(r.out) and sp["pgid"] == sp["pid"]
    end = r.find("attempt_end")[0]
    assert end == {**{k: end[k] for k in ("v", "seq", "ts", "mono_ms",
                                          "run_id", "event")},
                   "attempt": 1, "state": "succeeded", "exit_code": 0,
                   "signal": None, "duration_ms": end["duration_ms"],
                   "last_error": None}
    assert type(end["duration_ms"]) is int and end["duration_ms"] >= 0
    ex = r.events[-1]
    assert ex["state"] == "succeeded" and ex["exit_code"] == 0
    assert ex["signal"] is None and ex["attempts"] == 1
    assert ex["duration_ms"] >= end["duration_ms"]
    assert ex["status_file"] == r.events[0]["config"]["status_file"]


def test_durations_measure_the_run(jw):
    r = jw.run(["--", "sleep", "0.3"])
    end, ex = r.find("attempt_end")[0], r.events[-1]
    assert 250 <= end["duration_ms"] <= 3000
    assert 250 <= ex["duration_ms"] <= 3000


def test_exit_status_file_null_without_status(jw):
    p, _, ev, st = jw.start(["--", "true"], status=False,
                            stdin=subprocess.DEVNULL)
    p.communicate(timeout=10)
    assert p.returncode == 0
    events = read_events(ev)
    check_events(events)
    assert events[-1]["status_file"] is None
    assert events[0]["config"]["status_file"] is None


def test_spawn_failed_sequence(jw):
    r = jw.run(["--", "/nonexistent/cmd", "x"])
    assert r.rc == 127
    check_events(r.events)
    assert r.names() == ["start", "spawn_failed", "exit"]
    sf = r.find("spawn_failed")[0]
    assert sf["attempt"] == 1 and sf["errno"] == 2
    assert isinstance(sf["error"], str) and sf["error"]
    assert r.events[-1]["state"] == "spawn_failed"


def test_failed_child_events(jw):
    r = jw.run(["--", "sh", "-c", "exit 9"])
    assert r.names() == ["start", "spawn", "attempt_end", "exit"]
    end = r.find("attempt_end")[0]
    assert end["state"] == "failed" and end["exit_code"] == 9


def test_signaled_child_events(jw):
    r = jw.run(["--", "sh", "-c", "kill -KILL $$"])
    assert r.names() == ["start", "spawn", "attempt_end", "exit"]
    end = r.find("attempt_end")[0]
    assert end["state"] == "signaled"
    assert end["exit_code"] is None and end["signal"] == "SIGKILL"
    assert r.events[-1]["signal"] == "SIGKILL"


def test_timeout_sequence(jw):
    r = jw.run(["-t", "300ms", "--", "sleep", "30"])
    assert r.rc == 124
    check_events(r.events)
    assert r.names() == ["start", "spawn", "timeout", "signal",
                         "attempt_end", "exit"]
    assert r.events[0]["deadline_ms"] == 300
    to = r.find("timeout")[0]
    assert to["attempt"] == 1 and to["kind"] == "deadline"
    assert 250 <= to["mono_ms"] <= 3000
    sig = r.find("signal")[0]
    assert sig["attempt"] == 1
    assert (sig["signal"], sig["target"], sig["reason"]) == \
        ("SIGTERM", "group", "deadline")
    end = r.find("attempt_end")[0]
    assert end["state"] == "timeout"
    assert end["exit_code"] is None and end["signal"] == "SIGTERM"
    ex = r.events[-1]
    assert ex["state"] == "timeout" and ex["exit_code"] == 124


def test_first_signal_is_configurable(jw):
    r = jw.run(["-t", "200ms", "-s", "INT", "--", "sleep", "30"])
    assert r.rc == 124
    sig = r.find("signal")[0]
    assert sig["signal"] == "SIGINT" and sig["reason"] == "deadline"
    assert r.find("attempt_end")[0]["signal"] == "SIGINT"


def test_leftover_in_group(jw):
    r = jw.run(["--", "sh", "-c", "sleep 30 & exit 4"])
    assert r.rc == 4
    check_events(r.events)
    assert r.names() == ["start", "spawn", "signal", "attempt_end", "exit"]
    sig = r.find("signal")[0]
    assert (sig["signal"], sig["target"], sig["reason"]) == \
        ("SIGTERM", "group", "leftover")
    assert r.find("attempt_end")[0]["state"] == "failed"
    assert "1 process" in r.status["reason"]


def test_leftover_outside_group_is_tree(jw):
    """An orphan in a new session is outside the group: target "tree"."""
    r = jw.run(["--", "sh", "-c",
                "setsid sh -c 'sleep 30 & exit 0'; exit 0"])
    assert r.rc == 0
    check_events(r.events)
    sigs = r.find("signal")
    assert [(s["signal"], s["target"], s["reason"]) for s in sigs] == \
        [("SIGTERM", "tree", "leftover")]
    assert "1 process " in r.status["reason"]


def test_leftovers_in_and_outside_group(jw):
    r = jw.run(["--", "sh", "-c", "sleep 30 & "
                "setsid sh -c 'sleep 30 & sleep 30 & exit 0'; exit 0"])
    assert r.rc == 0
    check_events(r.events)
    assert [(s["target"], s["reason"]) for s in r.find("signal")] == \
        [("group", "leftover"), ("tree", "leftover")]
    assert "3 processes" in r.status["reason"]


def test_kill_after_escalation(jw):
    r = jw.run(["-t", "300ms", "-k", "300ms", "--", "sh", "-c",
                "trap '' TERM; sleep 30"])
    assert r.rc == 124
    check_events(r.events)
    sigs = r.find("signal")
    assert [(s["signal"], s["reason"]) for s in sigs] == \
        [("SIGTERM", "deadline"), ("SIGKILL", "kill_after")]
    assert sigs[1]["mono_ms"] - sigs[0]["mono_ms"] >= 250
    assert r.find("attempt_end")[0]["signal"] == "SIGKILL"


# ---- line limit and encoding ---------------------------------------------

def test_huge_arguments_fit_in_one_line(jw):
    """200 KB of command line: the start event is shortened, not split."""
    big = ["x" * 100_000, "y" * 100_000]
    r = jw.run(["--", "sh", "-c", "exit 0", "arg0"] + big)
    assert r.rc == 0
    lines = check_lines(jw.tmp / f"{r.tag}.events")
    check_events(r.events)
    start = r.events[0]
    assert len(lines[0]) + 1 <= LINE_MAX
    cmd = start["command"]
    assert cmd[:4] == ["sh", "-c", "exit 0", "arg0"]
    assert len(cmd) == 6
    for full, got in zip(big, cmd[4:]):
        assert got.endswith("...")
        assert full.startswith(got[:-3])
    # the line is cut to the limit, not far below it
    assert len(lines[0]) > LINE_MAX // 2
    # the status file is no JSON line: it keeps the whole command
    assert r.status["command"][4:] == big


@pytest.mark.parametrize("arg", ["\x01" * 100_000, '"' * 100_000,
                                 "\u00e9" * 60_000, "\u20ac" * 40_000],
                         ids=["control", "quote", "2-byte", "3-byte"])
def test_huge_escaped_argument_fits(jw, arg):
    r = jw.run(["--", "sh", "-c", "exit 0", "a", arg])
    assert r.rc == 0
    check_lines(jw.tmp / f"{r.tag}.events")
    check_events(r.events)
    got = r.events[0]["command"][4]
    assert got.endswith("...") and arg.startswith(got[:-3])


def test_many_short_arguments_fit(jw):
    args = ["%04d" % i for i in range(20000)]
    r = jw.run(["--", "true"] + args)
    assert r.rc == 0
    check_lines(jw.tmp / f"{r.tag}.events")
    check_events(r.events)
    assert r.events[0]["command"][0] == "true"


def test_invalid_utf8_argument_is_escaped(jw):
    r = jw.run([b"--", b"sh", b"-c", b"exit 0", b"a\xffb\xc3"])
    assert r.rc == 0
    check_events(r.events)
    assert r.events[0]["command"][3] == "a\\xffb\\xc3"


def test_unicode_argument_kept(jw):
    r = jw.run(["--", "sh", "-c", "exit 0", "h\u00e9llo \u2603 \U0001f600"])
    assert r.events[0]["command"][3] == "h\u00e9llo \u2603 \U0001f600"


# ---- --events-fd -----------------------------------------------------------

# UBSan: the first event queued for the fd calls memmove(NULL, NULL, 0)
# (shim/events.c queue_fd), and the sanitized build exits 1 at once.


def test_events_fd_and_file_have_the_same_lines(jw):
    rfd, wfd = os.pipe()
    fdnum = wfd
    try:
        p, _, ev, _ = jw.start(["--events-fd", str(wfd), "--heartbeat",
                                "50ms", "--", "sh", "-c",
                                "echo out; sleep 0.3"],
                               pass_fds=(wfd,), stdin=subprocess.DEVNULL)
        os.close(wfd)
        wfd = -1
        chunks = []
        while True:
            b = os.read(rfd, 65536)
            if not b:
                break
            chunks.append(b)
        p.communicate(timeout=10)
    finally:
        os.close(rfd)
        if wfd != -1:
            os.close(wfd)
    assert p.returncode == 0
    from_fd = b"".join(chunks)
    from_file = ev.read_bytes()
    assert from_fd == from_file
    events = read_events(ev)
    check_events(events)
    assert "heartbeat" in [e["event"] for e in events]
    assert events[0]["config"]["events_fd"] == fdnum


def test_events_fd_only(jw):
    rfd, wfd = os.pipe()
    p, _, ev, _ = jw.start(["--events-fd", str(wfd), "--", "true"],
                           events=False, pass_fds=(wfd,),
                           stdin=subprocess.DEVNULL)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    p.communicate(timeout=10)
    assert p.returncode == 0
    events = [parse_event(x) for x in data.splitlines()]
    check_events(events)
    assert events[0]["config"]["events_file"] is None


def test_events_fd_not_inherited_by_child(jw):
    rfd, wfd = os.pipe()
    p, _, ev, _ = jw.start(["--events-fd", str(wfd), "--", "sh", "-c",
                            "ls /proc/$$/fd"],
                           pass_fds=(wfd,), stdin=subprocess.DEVNULL)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        f.read()
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 0
    fds = {int(x) for x in out.split()}
    assert fds <= {0, 1, 2}, fds


def test_events_fd_reader_gone_run_goes_on(jw):
    rfd, wfd = os.pipe()
    os.close(rfd)
    r = jw.run(["--events-fd", str(wfd), "--heartbeat", "50ms", "--",
                "sh", "-c", "sleep 0.2; exit 6"], pass_fds=(wfd,))
    os.close(wfd)
    assert r.rc == 6
    check_events(r.events)      # the file is still complete
    assert r.events[-1]["exit_code"] == 6


def test_events_file_is_appended(jw, tmp_path):
    ev = tmp_path / "shared.events"
    ev.write_bytes(b'{"old":1}\n')
    r = jw.run(["--events-file", str(ev), "--", "true"], events=False)
    assert r.rc == 0
    lines = ev.read_bytes().splitlines()
    assert lines[0] == b'{"old":1}'
    check_events([parse_event(x) for x in lines[1:]])


def test_events_file_may_be_a_fifo(jw, tmp_path):
    """A named pipe as --events-file: either refused before anything
    starts, or the run succeeds; never error after the command ran."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    marker = tmp_path / "ran"
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        r = jw.run(["--events-file", str(fifo), "--", "touch", str(marker)],
                   events=False)
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            data = b""
    finally:
        os.close(fd)
    if r.rc == 125:
        assert not marker.exists(), "refused after the command ran"
        return
    assert r.rc == 0, r.err
    assert r.status["state"] == "succeeded"
    check_events([parse_event(x) for x in data.splitlines()])


# ---- heartbeats -------------------------------------------------------------

def test_heartbeat_cadence(jw):
    r = jw.run(["--heartbeat", "200ms", "--", "sleep", "1"])
    assert r.rc == 0
    check_events(r.events)
    hbs = r.find("heartbeat")
    assert 2 <= len(hbs) <= 8, len(hbs)
    names = r.names()
    assert names.index("spawn") < names.index("heartbeat")
    assert names.index("heartbeat") < names.index("attempt_end")
    el = [h["elapsed_ms"] for h in hbs]
    assert el == sorted(el)
    assert el[0] >= 150
    assert len(set(el)) == len(el)      # no burst of duplicates


def test_heartbeat_fields(jw):
    r = jw.run(["-t", "10s", "--heartbeat", "150ms", "--", "sh", "-c",
                "printf abc; printf de >&2; sleep 0.5"])
    assert r.rc == 0
    hbs = r.find("heartbeat")
    assert hbs
    keys = {"attempt", "elapsed_ms", "remaining_ms", "since_output_ms",
            "bytes_out", "bytes_err", "retries_seen", "children"}
    for h in hbs:
        assert keys <= set(h), keys - set(h)
        assert h["attempt"] == 1
        assert h["remaining_ms"] + h["elapsed_ms"] == 10000
        assert h["retries_seen"] == 0
        assert h["children"] >= 1
        assert 0 <= h["since_output_ms"] <= h["elapsed_ms"]
    last = hbs[-1]
    assert last["bytes_out"] == 3 and last["bytes_err"] == 2
    # output stopped at the start: the quiet time grows with the run
    assert last["since_output_ms"] >= 100


def test_heartbeat_without_deadline(jw):
    r = jw.run(["-t", "0", "--heartbeat", "100ms", "--", "sleep", "0.35"])
    hbs = r.find("heartbeat")
    assert hbs
    assert all(h["remaining_ms"] is None for h in hbs)


def test_no_heartbeat_when_zero(jw):
    r = jw.run(["--heartbeat", "0", "--", "sleep", "0.4"])
    assert r.rc == 0
    assert r.find("heartbeat") == []
