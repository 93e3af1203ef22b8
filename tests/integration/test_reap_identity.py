"""--reap kills only the run's own process group, told apart from a later
group with the same id by the boot id and the leader's start time that
the status records; --dry-run only looks (it never takes a lock)."""
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from conftest import BIN, gone, load_status, wait_event, wait_for

BOOT = Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def start_ticks(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
               .split()[19])


def alive(pid):
    return not gone(pid)


def fake_running(path, pgid, **extra):
    """A status of a run whose supervisor (a pid that is not there) died."""
    doc = {"v": 1, "run_id": uuid.uuid4().hex, "state": "running",
           "command": ["x"], "jobwrap_pid": 999999, "pid": pgid,
           "pgid": pgid, "attempt": 1,
           "started_at": "2026-01-01T00:00:00.000Z",
           "updated_at": "2026-01-01T00:00:00.000Z", "ended_at": None,
           "duration_ms": 0, "exit_code": None, "signal": None,
           "reason": "r", "last_error": None, "retries_seen": 0,
           "stderr_tail": "", "bytes_out": 0, "bytes_err": 0,
           "events_seq": 1, "rusage": {}}
    doc.update(extra)
    path.write_text(json.dumps(doc))


def reap(*args):
    return subprocess.run([BIN, "--reap", *args], capture_output=True,
                          text=True, timeout=30)


def stranger(jw):
    """A process that leads its own group, as a later job would."""
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    p = subprocess.Popen(["sleep", "60"], start_new_session=True,
                         env=jw.env(tag))
    jw.procs.append(p)
    return p


def test_a_reused_group_id_is_never_hit(jw, tmp_path):
    p = stranger(jw)
    st = tmp_path / "old.status"
    fake_running(st, p.pid, boot_id=BOOT,
                 pgid_start_ticks=start_ticks(p.pid) - 1)
    r = reap(str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{st}: orphaned (killed 0 processes)\n"
    assert alive(p.pid)
    doc = json.loads(st.read_text())
    assert doc["state"] == "orphaned"
    assert "belongs to a later process" in doc["reason"]


def test_a_status_from_another_boot_kills_nothing(jw, tmp_path):
    p = stranger(jw)
    st = tmp_path / "old.status"
    fake_running(st, p.pid, boot_id="00000000-0000-0000-0000-000000000000",
                 pgid_start_ticks=start_ticks(p.pid))
    r = reap("--dry-run", str(st))
    assert "would kill nothing: the machine has restarted" in r.stdout
    r = reap(str(st))
    assert r.returncode == 0 and alive(p.pid)
    assert "restarted" in json.loads(st.read_text())["reason"]


def test_the_group_is_killed_after_its_leader_died(jw):
    # jobwrap is SIGKILLed: its child (the leader) dies with it, the
    # members it started stay in the group until --reap kills them.
    p, tag, ev, st = jw.start(["--", "sh", "-c", "sleep 60 & sleep 60 & "
                               "echo started; wait"],
                              stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    wait_for(lambda: len(jw.survivors().get(tag, [])) >= 4)  # jw sh 2x sleep
    doc = load_status(st)
    p.send_signal(signal.SIGKILL)
    p.wait()
    wait_for(lambda: not alive(doc["pgid"]))
    members = [x for x in jw.survivors().get(tag, [])]
    assert len(members) == 2, members
    r = reap("--dry-run", str(st))
    assert r.stdout.startswith(f"{st}: would be orphaned (would kill 2 "
                               "processes:")
    assert all(alive(m) for m in members)
    r = reap(str(st))
    assert r.stdout == f"{st}: orphaned (killed 2 processes)\n", r.stderr
    assert wait_for(lambda: not any(alive(m) for m in members), timeout=5)


def test_dry_run_never_takes_a_lock(jw, tmp_path):
    # Taking it, even for a moment, could fail a supervisor starting on
    # the same status file; a missing lock file is not even created.
    st = tmp_path / "run.status"
    fake_running(st, 999998)
    r = reap("--dry-run", str(tmp_path))
    assert r.stdout == f"{st}: would be orphaned (would kill 0 processes)\n"
    assert not Path(f"{st}.lock").exists()
    assert json.loads(st.read_text())["state"] == "running"


def test_reap_finds_what_left_the_group_by_the_tag(jw):
    # A setsid escapee is tied to the run only by the tag in its
    # environment once the supervisor is dead; one that cleared its
    # environment is not (the documented limit), and is killed here.
    p, tag, ev, st = jw.start(["--", "sh", "-c",
                               "setsid sleep 60 & "
                               "setsid env -i /bin/sleep 61 & wait"],
                              stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn")
    doc = wait_for(lambda: (d := json.loads(st.read_text()))["pgid"] and d)
    assert doc["job_tag"] and len(doc["job_tag"]) == 16

    def sleeps():
        out = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    cmd = (d / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if cmd[:1] in ([b"sleep"], [b"/bin/sleep"]) and \
                        cmd[1:2] in ([b"60"], [b"61"]) and alive(int(d.name)):
                    out[cmd[1].decode()] = int(d.name)
        return out
    found = wait_for(lambda: len(sleeps()) == 2 and sleeps())
    assert found, sleeps()
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = reap(str(st))
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: not alive(found["60"]), timeout=5), \
        "the tagged escapee survived --reap"
    assert alive(found["61"])       # no tag: out of reach, as documented
    os.kill(found["61"], signal.SIGKILL)
