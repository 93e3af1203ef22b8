"""sd_notify (issue 3): the child's NOTIFY_SOCKET / WATCHDOG_USEC /
WATCHDOG_PID, --no-notify, clients in Python (stdlib socket) and C
(tests/helpers/jwnotify.c) sending READY=1, STATUS=, several keys in one
datagram, X_RETRY=, ERRNO=, custom keys; spoofed datagrams from outside the
job are dropped and counted; malformed datagrams never crash or stall."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import (BIN, check_events, helper, load_status, per_attempt,
                      read_events, wait_event)

PY = "/usr/bin/python3"
NOTIFY_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "..", "helpers", "notify.py")
SHOW_ENV = ('echo "$$|${NOTIFY_SOCKET-unset}|${WATCHDOG_USEC-unset}|'
            '${WATCHDOG_PID-unset}"')
EIO_TEXT = os.strerror(5)                       # "Input/output error"


def shown(r):
    """pid, NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID printed by SHOW_ENV."""
    return [line.split("|") for line in r.out.decode().splitlines()]


def child_env(pid):
    raw = open(f"/proc/{pid}/environ", "rb").read()
    return dict(kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv)


def addr(name):
    return "\0" + name[1:] if name.startswith("@") else name


def notifies(r):
    return [{k: e[k] for k in ("attempt", "ready", "status", "fields")}
            for e in r.find("notify")]


# ---- the child's environment ----------------------------------------------------

def test_notify_socket_is_set_and_abstract(jw):
    r1 = jw.run(["--", "sh", "-c", SHOW_ENV])
    r2 = jw.run(["--", "sh", "-c", SHOW_ENV])
    check_events(r1.events)
    (pid, sock, usec, wpid), = shown(r1)
    assert sock.startswith("@") and len(sock) > 1, sock
    assert (usec, wpid) == ("unset", "unset")     # no idle timeout
    assert int(pid) == r1.find("spawn")[0]["pid"]
    assert shown(r2)[0][1] != sock                 # unique to each run
    assert r1.events[0]["config"]["notify"] is True


def test_inherited_notify_variables_are_replaced_or_removed(jw):
    inherited = {"NOTIFY_SOCKET": "/run/systemd/notify",
                 "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}
    r = jw.run(["--", "sh", "-c", SHOW_ENV], env=inherited)
    (_, sock, usec, wpid), = shown(r)
    assert sock.startswith("@")
    assert (usec, wpid) == ("unset", "unset")


@pytest.mark.parametrize("idle,usec", [("2500ms", "2500000"),
                                       ("3s", "3000000"),
                                       ("1m", "60000000")])
def test_watchdog_variables_with_idle_timeout(jw, idle, usec):
    r = jw.run(["--idle-timeout", idle, "--", "sh", "-c", SHOW_ENV],
               env={"WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"})
    check_events(r.events)
    (pid, sock, got_usec, wpid), = shown(r)
    assert sock.startswith("@")
    assert got_usec == usec
    assert wpid == pid == str(r.find("spawn")[0]["pid"])


def test_watchdog_pid_is_each_attempts_child(jw, tmp_path):
    cmd = per_attempt(tmp_path, SHOW_ENV + "; exit 1", SHOW_ENV)
    r = jw.run(["--idle-timeout", "5s", "--retries", "1", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    rows = shown(r)
    spawns = r.find("spawn")
    assert [row[3] for row in rows] == [str(s["pid"]) for s in spawns]
    assert [row[0] for row in rows] == [row[3] for row in rows]


@pytest.mark.parametrize("how", [["--no-notify"], ["--notify", "--no-notify"],
                                 "notify = no", "notify = off",
                                 "notify = false", "notify = 0"],
                         ids=str)
def test_no_notify_leaves_the_environment_untouched(jw, tmp_path, how):
    if isinstance(how, list):
        args = how
    else:
        f = tmp_path / "j.ini"
        f.write_text(f"[jobwrap]\n{how}\n")
        args = ["-c", str(f)]
    inherited = {"NOTIFY_SOCKET": "/run/systemd/notify",
                 "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}
    r = jw.run(args + ["--idle-timeout", "5s", "--", "sh", "-c", SHOW_ENV],
               env=inherited)
    check_events(r.events)
    assert r.rc == 0
    (_, sock, usec, wpid), = shown(r)
    assert (sock, usec, wpid) == ("/run/systemd/notify", "5", "1")
    assert r.events[0]["config"]["notify"] is False
    r = jw.run(args + ["--", "sh", "-c", SHOW_ENV])
    assert shown(r)[0][1:] == ["unset", "unset", "unset"]


@pytest.mark.parametrize("value", ["yes", "true", "on", "1"])
def test_notify_yes_in_the_ini(jw, tmp_path, value):
    f = tmp_path / "j.ini"
    f.write_text(f"[jobwrap]\nnotify = {value}\n")
    r = jw.run(["-c", str(f), "--", "sh", "-c", SHOW_ENV])
    assert shown(r)[0][1].startswith("@")
    r = jw.run(["-c", str(f), "--no-notify", "--", "sh", "-c", SHOW_ENV])
    assert shown(r)[0][1] == "unset"              # command line wins


def test_bad_notify_value_in_the_ini(tmp_path):
    f = tmp_path / "j.ini"
    f.write_text("[jobwrap]\n\nnotify = maybe\n")
    env = {k: v for k, v in os.environ.items() if k != "JOBWRAP_CONFIG"}
    p = subprocess.run([BIN, "-c", str(f), "--", "true"], capture_output=True,
                       text=True, env=env, timeout=10)
    assert p.returncode == 125
    assert p.stderr.startswith(f"jobwrap: {f}:3: "), p.stderr


# ---- clients -------------------------------------------------------------------

SEQUENCE = ["READY=1", "STATUS=loading", "STATUS=half\\nX_PROGRESS=50\\n"
            "MODEL=gpt-x", "X_RETRY=rate-limited", "ERRNO=5"]
EXPECTED = [
    {"attempt": 1, "ready": True, "status": None, "fields": {}},
    {"attempt": 1, "ready": True, "status": "loading", "fields": {}},
    {"attempt": 1, "ready": True, "status": "half",
     "fields": {"X_PROGRESS": "50", "MODEL": "gpt-x"}},
    {"attempt": 1, "ready": True, "status": "half", "fields": {"ERRNO": "5"}},
]

CLIENTS = {
    "python": lambda: ["sh", "-c", '"$0" "$@"; exit 1', PY, NOTIFY_PY,
                       *SEQUENCE],
    "c": lambda: ["sh", "-c", '"$0" "$@"; exit 1', helper("jwnotify"),
                  *SEQUENCE],
    "c-one-per-process": lambda: [
        "sh", "-c", " && ".join(f"{helper('jwnotify')} '{m}'"
                                for m in SEQUENCE) + "; exit 1"],
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_client_sequence(jw, client):
    r = jw.run(["--"] + CLIENTS[client]())
    check_events(r.events)
    assert r.rc == 1, r.err
    assert notifies(r) == EXPECTED
    rts = r.find("retry")
    assert [(e["attempt"], e["source"], e["reason"]) for e in rts] == \
        [(1, "notify", "rate-limited")]
    names = [e["event"] for e in r.events if e["event"] in ("notify", "retry")]
    assert names == ["notify", "notify", "notify", "retry", "notify"]
    assert r.status["retries_seen"] == 1
    assert r.status["notify_dropped"] == 0
    want = f"ERRNO=5: {EIO_TEXT}"
    assert r.status["last_error"] == want
    assert r.find("attempt_end")[0]["last_error"] == want


@pytest.mark.parametrize("sender", ["python", "c"])
def test_direct_child_that_sends_and_exits_at_once(jw, sender):
    """The job itself (not a shell around it) sends and exits at once."""
    prog = [PY, NOTIFY_PY, "nowait"] if sender == "python" else \
        [helper("jwnotify"), "-n"]
    r = jw.run(["--"] + prog + ["READY=1\\nSTATUS=done\\nX_A=1"])
    check_events(r.events)
    assert r.rc == 0
    assert notifies(r) == [{"attempt": 1, "ready": True, "status": "done",
                            "fields": {"X_A": "1"}}]
    assert r.status["notify_dropped"] == 0


def test_watchdog_and_x_retry_alone_make_no_notify_event(jw):
    r = jw.run(["--", PY, NOTIFY_PY, "WATCHDOG=1", "X_RETRY=a",
                "WATCHDOG=1\\nX_RETRY=b", "READY=1\\nX_RETRY=c"])
    check_events(r.events)
    assert r.rc == 0
    assert [e["reason"] for e in r.find("retry")] == ["a", "b", "c"]
    assert notifies(r) == [{"attempt": 1, "ready": True, "status": None,
                            "fields": {}}]
    assert r.status["retries_seen"] == 3
    assert r.status["notify_dropped"] == 0


def test_ready_and_status_are_per_attempt(jw, tmp_path):
    first = f"{helper('jwnotify')} 'READY=1\\nSTATUS=one'; exit 1"
    second = (f"{helper('jwnotify')} 'X_K=v'; "
              f"{helper('jwnotify')} 'STATUS=two'; exit 0")
    cmd = per_attempt(tmp_path, first, second)
    r = jw.run(["--retries", "1", "--retry-on", "nonzero", "--backoff",
                "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 0
    assert notifies(r) == [
        {"attempt": 1, "ready": True, "status": "one", "fields": {}},
        {"attempt": 2, "ready": False, "status": None,
         "fields": {"X_K": "v"}},
        {"attempt": 2, "ready": False, "status": "two", "fields": {}}]


def test_errno_last_error_cleared_by_success(jw):
    r = jw.run(["--", helper("jwnotify"), "ERRNO=5"])
    check_events(r.events)
    assert r.rc == 0
    assert r.status["last_error"] is None
    assert r.find("attempt_end")[0]["last_error"] is None
    assert notifies(r)[0]["fields"] == {"ERRNO": "5"}


def test_errno_and_error_pattern_latest_wins(jw):
    jn = helper("jwnotify")
    r = jw.run(["--error-pattern", "^ERROR", "--", "sh", "-c",
                f"echo 'ERROR: x'; sleep 0.1; {jn} ERRNO=2; sleep 0.1; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] == f"ERRNO=2: {os.strerror(2)}"
    r = jw.run(["--error-pattern", "^ERROR", "--", "sh", "-c",
                f"{jn} ERRNO=2; sleep 0.1; echo 'ERROR: y'; sleep 0.1; "
                "exit 1"])
    check_events(r.events)
    assert r.status["last_error"] == "ERROR: y"


def test_x_retry_and_pattern_retries_both_count(jw):
    r = jw.run(["--retry-pattern", "^retrying", "--heartbeat", "100ms", "--",
                "sh", "-c", f"echo retrying; {helper('jwnotify')} X_RETRY=x;"
                " sleep 0.35"])
    check_events(r.events)
    assert sorted(e["source"] for e in r.find("retry")) == \
        ["notify", "pattern"]
    assert r.status["retries_seen"] == 2
    assert r.find("heartbeat")[-1]["retries_seen"] == 2
    assert r.events[-1]["attempts"] == 1


def test_sender_in_its_own_session_is_part_of_the_job(jw):
    """A descendant that left the process group (setsid) is still the job's:
    its datagram is accepted (it stays alive until jobwrap has read it)."""
    r = jw.run(["--", "sh", "-c", f"setsid {PY} {NOTIFY_PY} STATUS=escaped "
                "sleep:0.3; exit 0"])
    check_events(r.events)
    assert r.rc == 0
    assert [n["status"] for n in notifies(r)] == ["escaped"]
    assert r.status["notify_dropped"] == 0


# ---- spoofing ------------------------------------------------------------------

def spoof_in_process(name, msgs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for m in msgs:
        s.sendto(m.encode(), addr(name))
    s.close()


def spoof_python(name, msgs):
    subprocess.run([PY, NOTIFY_PY, "--socket", name] + msgs, check=True,
                   timeout=10)


def spoof_c(name, msgs):
    subprocess.run([helper("jwnotify"), "-s", name] + msgs, check=True,
                   timeout=10)


def spoof_other_job(name, msgs):
    """The child of another jobwrap run sends to this run's socket."""
    env = {k: v for k, v in os.environ.items() if k != "JOBWRAP_CONFIG"}
    p = subprocess.run([BIN, "--", helper("jwnotify"), "-s", name] + msgs,
                       env=env, timeout=10, capture_output=True)
    assert p.returncode == 0, p.stderr


SPOOFERS = {"test": spoof_in_process, "python": spoof_python, "c": spoof_c,
            "other-job": spoof_other_job}
SPOOF = ["READY=1", "STATUS=spoofed", "X_RETRY=spoofed", "ERRNO=1",
         "WATCHDOG=1", "X_EVIL=1"]


@pytest.mark.parametrize("spoofer", sorted(SPOOFERS))
def test_spoofed_datagrams_are_dropped_and_counted(jw, spoofer):
    p, _, ev, st = jw.start(["--", PY, NOTIFY_PY, "say:up", "sleep:0.8",
                             "STATUS=real", "sleep:0.1", "exit:1"],
                            stdin=subprocess.DEVNULL)
    events = wait_event(ev, "spawn")
    pid = [e for e in events if e["event"] == "spawn"][0]["pid"]
    name = child_env(pid)[b"NOTIFY_SOCKET"].decode()
    assert name.startswith("@")
    SPOOFERS[spoofer](name, SPOOF)
    out, _ = p.communicate(timeout=15)
    events = read_events(ev)
    check_events(events)
    assert p.returncode == 1
    assert out == b"up\n"
    notes = [e for e in events if e["event"] == "notify"]
    assert [(n["ready"], n["status"], n["fields"]) for n in notes] == \
        [(False, "real", {})]
    assert [e for e in events if e["event"] == "retry"] == []
    status = load_status(st)
    assert status["notify_dropped"] == len(SPOOF)
    assert status["retries_seen"] == 0
    assert status["last_error"] is None
    # and once the run is over, its socket is gone
    with pytest.raises(OSError):
        spoof_in_process(name, ["READY=1"])


def test_spoofed_watchdog_counts_while_real_ones_keep_it_alive(jw):
    p, _, ev, st = jw.start(["--idle-timeout", "400ms", "--", PY, NOTIFY_PY,
                             "every:0.1:10:WATCHDOG=1"],
                            stdin=subprocess.DEVNULL)
    events = wait_event(ev, "spawn")
    pid = [e for e in events if e["event"] == "spawn"][0]["pid"]
    name = child_env(pid)[b"NOTIFY_SOCKET"].decode()
    for _ in range(5):
        spoof_in_process(name, ["WATCHDOG=1", "READY=1"])
        time.sleep(0.05)
    p.communicate(timeout=15)
    check_events(read_events(ev))
    assert p.returncode == 0
    assert load_status(st)["notify_dropped"] == 10


# ---- malformed datagrams -------------------------------------------------------

def test_malformed_datagrams_never_crash_or_stall(jw):
    steps = ["READY=1",
             "noequals",                          # dropped: no valid line
             "empty",                             # dropped
             "big:5000",                          # dropped: > 4096 bytes
             "big:4097",                          # dropped
             "\\n\\n\\n",                          # dropped: no valid line
             "=\\n=\\n",                           # no key: not a field
             "A=1\\nno equals here\\n\\xff\\xfe\\nB=2",
             "C=\\xff\\x00\\x01tail",
             "fdcheck",
             "big:4096",                          # accepted: at the limit
             "say:after",
             "STATUS=still fine",
             "exit:0"]
    r = jw.run(["--idle-timeout", "5s", "--", PY, NOTIFY_PY] + steps)
    check_events(r.events)
    assert r.rc == 0, r.err
    assert r.duration < 5
    assert r.out == b"fd closed\nafter\n"        # passed fds are closed
    notes = notifies(r)
    assert notes[0]["ready"] is True
    assert notes[-1]["status"] == "still fine"
    fields = [n["fields"] for n in notes]
    assert {"A": "1", "B": "2"} in fields
    assert {"X_FD": "1"} in fields
    big = [f for f in fields if "X_BIG" in f]
    assert len(big) == 1 and big[0]["X_BIG"] == "a" * (4096 - 6)
    c = [f for f in fields if "C" in f]
    assert len(c) == 1 and c[0]["C"].startswith("\\xff")
    assert r.status["notify_dropped"] >= 5
    assert r.status["state"] == "succeeded"


def test_binary_garbage_datagrams(jw):
    steps = [f"garbage:{n}" for n in (1, 7, 100, 1000, 4096, 4097, 65000)]
    r = jw.run(["--idle-timeout", "5s", "--", PY, NOTIFY_PY] + steps +
               ["STATUS=alive", "say:done"])
    check_events(r.events)
    assert r.rc == 0, r.err
    assert r.out == b"done\n"
    assert notifies(r)[-1]["status"] == "alive"
    assert r.status["notify_dropped"] >= 2        # 4097 and 65000 bytes
    for e in r.events:                            # valid JSON strings
        json.dumps(e)


def test_flood_of_datagrams_does_not_stall_output(jw):
    code = ("import os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "a = '\\0' + os.environ['NOTIFY_SOCKET'][1:]\n"
            "for i in range(3000):\n"
            "    s.sendto(b'WATCHDOG=1', a)\n"
            "    if i % 100 == 0: print(i, flush=True)\n")
    r = jw.run(["--idle-timeout", "5s", "--", PY, "-c", code])
    check_events(r.events)
    assert r.rc == 0, r.err
    assert r.out == b"".join(b"%d\n" % i for i in range(0, 3000, 100))
    assert r.status["notify_dropped"] == 0
