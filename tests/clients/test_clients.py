"""The example parents of tests/clients/ (the README's), against the real
binary ($JOBWRAP, else shim/jobwrap).

Every process started here carries a unique JW_TEST_TAG in its environment;
a test fails if a process with its tag (zombies aside) is alive afterwards,
as in tests/integration/.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jsonschema
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from parent import open_db  # noqa: E402

ROOT = HERE.parents[1]
BIN = os.path.abspath(os.environ.get("JOBWRAP", ROOT / "shim" / "jobwrap"))
PY = sys.executable
NODE = shutil.which("node")

# What the parents read is checked against the schemas of include/jobwrap/.
SCHEMAS = {n: jsonschema.Draft202012Validator(json.loads(
    (ROOT / "include" / "jobwrap" / f"{n}.schema.json").read_text()))
    for n in ("events", "status")}


def valid(kind, doc):
    SCHEMAS[kind].validate(doc)
    return doc

# A job that makes many events: a heartbeat every 100 ms and a retry event
# for each of its 20 lines, 100 ms apart.
CHATTY = ["--heartbeat", "100ms", "--retry-pattern", "^retry", "-t", "30s",
          "--", "sh", "-c",
          'i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo "retry $i"; '
          'sleep 0.1; done']


def tagged_pids(tag):
    """Live (non-zombie) processes whose environment holds tag."""
    needle = f"JW_TEST_TAG={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in env.split(b"\0") and state not in ("Z", "X"):
            found.append(int(d.name))
    return found


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while not (v := pred()) and time.monotonic() < end:
        time.sleep(0.01)
    return v


class Clients:
    """Runs the clients with JOBWRAP and a tag in their environment."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.tag = uuid.uuid4().hex
        self.env = dict(os.environ, JOBWRAP=BIN, JW_TEST_TAG=self.tag)
        self.env.pop("JOBWRAP_CONFIG", None)
        self.db = tmp / "server.sqlite"
        open_db(self.db).close()    # the server's database exists first
        self.rundir = tmp / "runs"
        self.rundir.mkdir()
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, env=self.env, cwd=self.tmp,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def run(self, argv, timeout=30):
        p = self.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err

    def parent(self, run_id, args, out):
        """parent.py in the background, its output to the file out."""
        return self.start([PY, HERE / "parent.py", self.db, self.rundir,
                           run_id] + args, stdout=out, stderr=out)

    def reattach(self):
        rc, out, err = self.run([PY, HERE / "reattach.py", self.db,
                                 self.rundir])
        assert rc == 0, err
        return out

    def query(self, sql, *args):
        db = sqlite3.connect(self.db, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def last_seq(self, run_id):
        rows = self.query("SELECT last_seq FROM runs WHERE run_id = ?",
                          run_id)
        return rows[0][0] if rows else 0

    def status(self, run_id):
        return valid("status", json.loads(
            (self.rundir / f"{run_id}.status").read_text()))

    def events_file(self, run_id):
        data = (self.rundir / f"{run_id}.events").read_bytes()
        assert data.endswith(b"\n")
        return [valid("events", json.loads(line))
                for line in data.splitlines()]

    def pids(self, comm):
        """Our live processes running comm."""
        def named(pid):
            try:
                return Path(f"/proc/{pid}/comm").read_text().strip() == comm
            except OSError:
                return False
        return [pid for pid in tagged_pids(self.tag) if named(pid)]

    def kill_supervisor(self, run_id):
        """SIGKILL the run's jobwrap (ours: it carries the tag)."""
        pid = self.status(run_id)["jobwrap_pid"]
        assert pid in tagged_pids(self.tag)
        os.kill(pid, signal.SIGKILL)
        # Dead (a zombie at most) means its lock is released.
        assert wait_for(lambda: pid not in tagged_pids(self.tag))

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # A child of a killed supervisor needs a moment to get PDEATHSIG.
        wait_for(lambda: not tagged_pids(self.tag), 2)
        left = tagged_pids(self.tag)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return left


@pytest.fixture
def cl(tmp_path):
    c = Clients(tmp_path)
    yield c
    left = c.cleanup()
    assert not left, f"processes of the job survived: {left}"


def seqs_printed(out, run_id):
    """Seqs in the "RUN_ID SEQ EVENT" lines the Python clients print."""
    return [int(m[1]) for m in re.finditer(rf"^{run_id} (\d+) \w+$", out,
                                           re.M)]


def test_python_parent_killed_then_reattached(cl):
    """The parent dies mid-run (--on-parent-death continue keeps the run
    going); the restarted parent follows from last seq + 1.  Between them
    every event is recorded exactly once, and the run ends as it would
    have."""
    with open(cl.tmp / "parent.out", "w") as out:
        p = cl.parent("job-1", ["--on-parent-death", "continue"] + CHATTY,
                      out)
    assert wait_for(lambda: cl.last_seq("job-1") >= 10), \
        (cl.tmp / "parent.out").read_text()
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = [s for (s,) in cl.query(
        "SELECT seq FROM events WHERE run_id = 'job-1' ORDER BY seq")]
    last = cl.last_seq("job-1")
    assert before == list(range(1, last + 1))
    assert cl.status("job-1")["state"] == "running"

    out = cl.reattach()
    after = seqs_printed(out, "job-1")
    events = cl.events_file("job-1")
    n = len(events)
    assert after and after[0] == last + 1, out
    assert before + after == list(range(1, n + 1))
    # The database holds the very events of the file, once each.
    rows = cl.query("SELECT body FROM events WHERE run_id = 'job-1' "
                    "ORDER BY seq")
    assert [json.loads(b) for (b,) in rows] == events
    assert events[-1]["event"] == "exit"
    assert events[-1]["exit_code"] == 0
    assert len([e for e in events if e["event"] == "retry"]) == 20
    assert cl.query("SELECT state, exit_code, last_seq FROM runs") == \
        [("succeeded", 0, n)]
    st = cl.status("job-1")
    assert st["state"] == "succeeded" and "unattended" in st["reason"]


def test_reattach_settles_a_run_whose_supervisor_died(cl):
    """Parent and supervisor both gone: --reap kills what is left of the
    job and records the run as orphaned; the database follows."""
    job = ["--on-parent-death", "continue", "--heartbeat", "100ms", "--",
           "sh", "-c", "sleep 60 & sleep 60 & wait"]
    with open(cl.tmp / "parent.out", "w") as out:
        p = cl.parent("job-2", job, out)
    assert wait_for(lambda: len(cl.pids("sleep")) == 2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    cl.kill_supervisor("job-2")
    # The job's processes outlive their supervisor until the reap.
    assert len(cl.pids("sleep")) == 2

    out = cl.reattach()
    assert re.search(r"job-2\.status: orphaned \(killed [1-9]\d* process",
                     out), out
    assert not tagged_pids(cl.tag)
    assert cl.status("job-2")["state"] == "orphaned"
    assert cl.query("SELECT state, exit_code FROM runs") == \
        [("orphaned", None)]
    # The run is settled: a second startup finds nothing to do.
    assert cl.reattach() == ""


def test_reattach_settles_a_run_that_ended_with_its_parent(cl):
    """With the default --on-parent-death kill, the run ends when its
    parent dies (parent_died, 129); the restarted parent takes that end
    from the status file."""
    with open(cl.tmp / "parent.out", "w") as out:
        p = cl.parent("job-3", ["--heartbeat", "100ms", "--", "sleep", "60"],
                      out)
    assert wait_for(lambda: cl.last_seq("job-3") >= 3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert wait_for(lambda: cl.status("job-3")["state"] != "running")
    st = cl.status("job-3")
    assert (st["state"], st["exit_code"]) == ("parent_died", 129)

    assert cl.reattach() == ""
    assert cl.query("SELECT state, exit_code FROM runs") == \
        [("parent_died", 129)]
    assert cl.events_file("job-3")[-1]["event"] == "exit"


@pytest.mark.skipif(NODE is None, reason="node is not installed "
                    "(apt-get install nodejs): the Node client is not tested")
@pytest.mark.parametrize("command, state, code", [
    (["sh", "-c", "sleep 0.35; exit 3"], "failed", 3),
    (["/nonexistent/command"], "spawn_failed", 127),
])
def test_node_parent(cl, command, state, code):
    """parent.js reads start ... exit from fd 3, seqs without a gap, the
    same events as the file, and exits with the run's status."""
    ev = cl.tmp / "node.events"
    rc, out, err = cl.run([NODE, HERE / "parent.js", "--heartbeat", "100ms",
                           "--events-file", ev, "--"] + command)
    assert rc == code, (out, err)
    printed = re.findall(r"^(\d+) (\w+)$", out, re.M)
    events = [valid("events", json.loads(line))
              for line in ev.read_bytes().splitlines()]
    assert printed == [(str(e["seq"]), e["event"]) for e in events]
    assert [int(s) for s, _ in printed] == list(range(1, len(events) + 1))
    assert printed[0][1] == "start" and printed[-1][1] == "exit"
    assert f"ended: {state}, exit code {code}" in out
    if state == "failed":
        assert len([e for e in events if e["event"] == "heartbeat"]) >= 2
