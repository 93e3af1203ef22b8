"""Exit status of jobwrap: one test per row of the table, as built.

child's code | 124 deadline | 125 jobwrap failure, config or usage error |
126 exec error other than ENOENT | 127 ENOENT | 128+N child died of a signal
jobwrap did not send ("signaled") | 128+N cancelled by signal N ("cancelled").
The state in the exit event and the status tells the rows apart where the
numbers collide (a child may exit 124 or 130 on its own).
"""
import os
import signal
import stat
import subprocess

import pytest

from conftest import BIN, check_events, load_status, wait_for


def finished(r, rc, state):
    """The run ended with jobwrap exit rc and state in events and status."""
    assert r.rc == rc, (r.rc, r.err)
    check_events(r.events)
    ex = r.events[-1]
    assert ex["event"] == "exit"
    assert ex["exit_code"] == rc
    assert ex["state"] == state
    assert r.status["state"] == state
    assert r.status["exit_code"] == rc
    return ex


# ---- the child's own code -------------------------------------------------

@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_child_exit_code_is_passed_through(jw, code):
    r = jw.run(["--", "sh", "-c", f"exit {code}"])
    ex = finished(r, code, "succeeded" if code == 0 else "failed")
    end = r.find("attempt_end")[0]
    assert end["exit_code"] == code and end["signal"] is None
    assert ex["signal"] is None


@pytest.mark.parametrize("code", [124, 125, 126, 127, 130, 137])
def test_child_exiting_with_a_reserved_code_is_still_failed(jw, code):
    """The number collides with jobwrap's own codes; the state does not."""
    r = jw.run(["--", "sh", "-c", f"exit {code}"])
    finished(r, code, "failed")
    end = r.find("attempt_end")[0]
    assert end["exit_code"] == code and end["signal"] is None
    assert "timeout" not in r.names() and "signal" not in r.names()


# ---- 124: deadline --------------------------------------------------------

def test_deadline_exits_124(jw):
    r = jw.run(["-t", "300ms", "--", "sleep", "30"])
    ex = finished(r, 124, "timeout")
    assert r.find("timeout")[0]["kind"] == "deadline"
    assert ex["signal"] == "SIGTERM"        # the child's death, sent by us
    assert r.duration < 5


def test_deadline_ignoring_child_still_124(jw):
    r = jw.run(["-t", "300ms", "-k", "200ms", "--", "sh", "-c",
                "trap '' TERM; sleep 30"])
    ex = finished(r, 124, "timeout")
    assert ex["signal"] == "SIGKILL"


# ---- 125: jobwrap itself --------------------------------------------------

def test_no_command_is_125(jw):
    r = jw.run([])
    assert r.rc == 125
    assert "no command" in r.err.decode()
    assert r.events == [] and r.status is None      # nothing was started


def test_only_double_dash_is_125(jw):
    r = jw.run(["--"])
    assert r.rc == 125
    assert r.events == [] and r.status is None


def test_unknown_option_is_125(jw, tmp_path):
    marker = tmp_path / "ran"
    r = jw.run(["--no-such-option", "--", "touch", str(marker)])
    assert r.rc == 125
    assert "--no-such-option" in r.err.decode()
    assert not marker.exists()


def test_option_without_value_is_125():
    p = subprocess.run([BIN, "-t"], capture_output=True, text=True)
    assert p.returncode == 125
    assert "-t" in p.stderr


def test_config_error_is_125(jw, tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[jobwrap]\ntimeout = soon\n")
    marker = tmp_path / "ran"
    r = jw.run(["-c", str(ini), "--", "touch", str(marker)])
    assert r.rc == 125
    assert f"{ini}:2:" in r.err.decode()
    assert not marker.exists()
    assert r.events == [] and r.status is None


def test_unknown_seccomp_profile_is_125(jw, tmp_path):
    marker = tmp_path / "ran"
    r = jw.run(["--seccomp", "nosuch", "--", "touch", str(marker)])
    assert r.rc == 125
    assert "--seccomp nosuch" in r.err.decode()
    assert not marker.exists()


def test_unusable_status_directory_is_125(jw, tmp_path):
    marker = tmp_path / "ran"
    r = jw.run(["--status-file", str(tmp_path / "missing" / "st"), "--",
                "touch", str(marker)])
    assert r.rc == 125
    assert not marker.exists()


def test_status_file_held_by_another_jobwrap_is_125(jw, tmp_path):
    st = tmp_path / "shared.status"
    p1, _, ev1, _ = jw.start(["--status-file", str(st), "--", "sleep", "30"],
                             status=False, stdin=subprocess.DEVNULL)
    assert wait_for(lambda: b'"spawn"' in (ev1.read_bytes()
                                          if ev1.exists() else b""))
    r = jw.run(["--status-file", str(st), "--", "true"], status=False)
    assert r.rc == 125
    assert "held" in r.err.decode()
    p1.send_signal(signal.SIGTERM)
    assert p1.wait(timeout=10) == 128 + signal.SIGTERM


@pytest.mark.parametrize("job", ["true", "sleep 0.3", "sleep 30 & exit 0",
                                 "exec >&- 2>&-; sleep 0.2"])
def test_events_file_write_failure_is_125(jw, job):
    """The events file is jobwrap's own record: losing it is a jobwrap
    failure however the command ended (the loop may notice it before or
    after the command exits)."""
    r = jw.run(["--events-file", "/dev/full", "--", "sh", "-c", job],
               events=False)
    assert r.rc == 125, r.err
    assert r.status["state"] == "error"
    assert r.status["exit_code"] == 125
    assert "/dev/full" in r.status["reason"]


# ---- 126 / 127: exec errors ------------------------------------------------

def spawn_failed(r, rc, err_no):
    assert r.rc == rc, (r.rc, r.err)
    check_events(r.events)
    assert r.names() == ["start", "spawn_failed", "exit"]
    sf = r.find("spawn_failed")[0]
    assert sf["attempt"] == 1
    assert sf["errno"] == err_no
    assert sf["error"] == os.strerror(err_no)
    ex = r.events[-1]
    assert ex["state"] == "spawn_failed" and ex["exit_code"] == rc
    assert ex["attempts"] == 1 and ex["signal"] is None
    assert r.status["state"] == "spawn_failed"
    assert r.status["exit_code"] == rc
    assert r.status["pid"] is None and r.status["pgid"] is None
    assert r.status["ended_at"] is not None


def test_not_executable_file_is_126(jw, tmp_path):
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\nexit 0\n")
    f.chmod(0o644)
    r = jw.run(["--", str(f)])
    spawn_failed(r, 126, 13)
    assert str(f) in r.status["reason"]


def test_directory_is_126(jw, tmp_path):
    r = jw.run(["--", str(tmp_path)])
    spawn_failed(r, 126, 13)


def test_missing_command_is_127(jw):
    r = jw.run(["--", "jobwrap-test-no-such-command"])
    spawn_failed(r, 127, 2)
    assert "jobwrap-test-no-such-command" in r.status["reason"]


def test_missing_path_is_127(jw, tmp_path):
    r = jw.run(["--", str(tmp_path / "nope")])
    spawn_failed(r, 127, 2)


def test_missing_interpreter_is_127(jw, tmp_path):
    """execve says ENOENT for a script whose #! interpreter is missing."""
    f = tmp_path / "script"
    f.write_text("#!/nonexistent/interpreter\n")
    f.chmod(0o755)
    r = jw.run(["--", str(f)])
    spawn_failed(r, 127, 2)


# ---- 128+N: died of a signal jobwrap did not send -------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV,
                                 signal.SIGTERM, signal.SIGINT,
                                 signal.SIGABRT])
def test_child_killed_by_signal_is_128_plus_n(jw, sig):
    r = jw.run(["--", "sh", "-c", f"kill -{sig.name[3:]} $$"])
    ex = finished(r, 128 + sig, "signaled")
    assert ex["signal"] == sig.name
    end = r.find("attempt_end")[0]
    assert end["state"] == "signaled"
    assert end["exit_code"] is None and end["signal"] == sig.name
    assert r.status["signal"] == sig.name
    assert sig.name in r.status["reason"]
    assert "signal" not in r.names()        # jobwrap sent nothing


def test_child_killed_from_outside_is_signaled(jw):
    p, _, ev, st = jw.start(["--", "sh", "-c", "echo $$; exec sleep 30"],
                            stdin=subprocess.DEVNULL)
    pid = int(p.stdout.readline())
    os.kill(pid, signal.SIGKILL)
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGKILL
    status = load_status(st)
    assert status["state"] == "signaled"
    assert status["signal"] == "SIGKILL"


# ---- 128+N: cancelled by signal N -----------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP, signal.SIGQUIT])
def test_cancel_by_signal_is_128_plus_n(jw, sig):
    p, _, ev, st = jw.start(["--", "sleep", "30"], stdin=subprocess.DEVNULL)
    assert wait_for(lambda: b'"spawn"' in (ev.read_bytes()
                                          if ev.exists() else b""))
    p.send_signal(sig)
    p.communicate(timeout=10)
    assert p.returncode == 128 + sig
    status = load_status(st)
    assert status["state"] == "cancelled"
    assert status["exit_code"] == 128 + sig


# ---- the file modes that make 126 -----------------------------------------

def test_executable_bit_matters(jw, tmp_path):
    """Same file: 126 without the x bit, its own code with it."""
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\nexit 5\n")
    f.chmod(0o644)
    assert jw.run(["--", str(f)]).rc == 126
    f.chmod(f.stat().st_mode | stat.S_IXUSR)
    assert jw.run(["--", str(f)]).rc == 5
