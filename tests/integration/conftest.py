"""Shared fixtures for the integration tests: they drive the real binary.

Every run started through `jw.run()` / `jw.start()` carries a unique tag in
its environment (JW_TEST_TAG).  After the test, every process on the machine
whose environment holds that tag and is not a zombie is a survivor: the test
fails and the survivor is killed.  Zombies are not counted: PID 1 in these
VMs does not reap orphans.

Every event and status the tests see is validated against the JSON Schemas
in include/jobwrap/ (read_events, complete_events, JW.run, and
validate_event / validate_status / load_status for tests that read them
themselves).
"""
import datetime
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("JOBWRAP", str(ROOT / "shim" / "jobwrap"))
HELPERS = ROOT / "build" / "helpers"
SANITIZED = "san" in Path(BIN).parts

EVENT_COMMON = ("v", "seq", "ts", "mono_ms", "run_id", "event")
STATUS_FIELDS = (
    "v", "run_id", "state", "command", "jobwrap_pid", "pid", "pgid",
    "attempt", "started_at", "updated_at", "ended_at", "duration_ms",
    "exit_code", "signal", "reason", "last_error", "retries_seen",
    "stderr_tail", "bytes_out", "bytes_err", "events_seq", "rusage",
)
TERMINAL = {"succeeded", "failed", "signaled", "timeout", "idle_timeout",
            "cancelled", "parent_died", "spawn_failed", "error", "orphaned"}


# ---- the JSON Schemas of include/jobwrap/ -------------------------------

SCHEMA_DIR = ROOT / "include" / "jobwrap"
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(s):
    # The schema's pattern fixes the shape; this checks the calendar.
    if isinstance(s, str):
        datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return True


def load_schema(name):
    """include/jobwrap/NAME.schema.json, checked against its metaschema."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


EVENT_SCHEMA = load_schema("events")
STATUS_SCHEMA = load_schema("status")
_VALIDATORS = {
    "event": jsonschema.Draft202012Validator(EVENT_SCHEMA,
                                             format_checker=_FORMATS),
    "status": jsonschema.Draft202012Validator(STATUS_SCHEMA,
                                              format_checker=_FORMATS),
}


def _validate(kind, doc):
    err = jsonschema.exceptions.best_match(_VALIDATORS[kind].iter_errors(doc))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise AssertionError(f"{kind} violates its schema at {where}: "
                             f"{err.message}\n{kind}: {doc!r}")
    return doc


def validate_event(event):
    """event (a parsed line) against events.schema.json; returns it."""
    return _validate("event", event)


def validate_status(doc):
    """A status document against status.schema.json; returns it."""
    return _validate("status", doc)


def validate_inspect(doc):
    """A line of --inspect --json: a status plus path and alive."""
    rest = dict(doc)
    assert isinstance(rest.pop("path", None), str), doc
    assert isinstance(rest.pop("alive", None), bool), doc
    validate_status(rest)
    return doc


# Lines validated already: tests poll a growing events file (wait_event).
_VALID_LINES = set()


def parse_event(line):
    """One events line, parsed and validated (once per distinct line)."""
    event = json.loads(line)
    if line not in _VALID_LINES:
        validate_event(event)
        _VALID_LINES.add(line)
    return event


def load_status(path):
    """A status file, parsed and validated."""
    return validate_status(json.loads(Path(path).read_text()))


def helper(name):
    """Path of a compiled helper program from tests/helpers/."""
    p = HELPERS / name
    assert p.exists(), f"{p} missing: run make test"
    return str(p)


def tagged_pids(tag):
    """Live (non-zombie) processes whose environment holds tag."""
    needle = f"JW_TEST_TAG={tag}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            stat = (d / "stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        if needle in env.split(b"\0") and state not in ("Z", "X"):
            found.append(int(d.name))
    return found


def read_events(path):
    """Parse an events file; every line must be one complete JSON object."""
    data = Path(path).read_bytes()
    assert data == b"" or data.endswith(b"\n"), "events file ends mid-line"
    return [parse_event(line) for line in data.splitlines()]


def check_events(events, run_id=None):
    """Contract invariants of a complete event stream."""
    assert events, "no events"
    for i, e in enumerate(events):
        for k in EVENT_COMMON:
            assert k in e, f"event {e} lacks {k}"
        assert e["v"] == 1
        assert e["seq"] == i + 1, f"seq gap at {i}: {e}"
        if run_id is not None:
            assert e["run_id"] == run_id
        assert e["ts"].endswith("Z") and len(e["ts"]) == 24, e["ts"]
    assert events[0]["event"] == "start"
    assert events[-1]["event"] == "exit"
    assert [e["event"] for e in events].count("exit") == 1
    monos = [e["mono_ms"] for e in events]
    assert monos == sorted(monos)


class Result:
    def __init__(self, rc, out, err, events, status, duration, tag):
        self.rc, self.out, self.err = rc, out, err
        self.events, self.status = events, status
        self.duration, self.tag = duration, tag

    def names(self):
        return [e["event"] for e in self.events]

    def find(self, name):
        return [e for e in self.events if e["event"] == name]


class JW:
    """Runs jobwrap with an events file and a status file in tmp_path."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.tags = []
        self.procs = []

    def env(self, tag, extra=None):
        env = dict(os.environ)
        env.pop("JOBWRAP_CONFIG", None)
        env["JW_TEST_TAG"] = tag
        if SANITIZED:
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if extra:
            env.update(extra)
        return env

    def start(self, args, events=True, status=True, env=None, **kw):
        """Popen jobwrap; returns (proc, tag, events_path, status_path)."""
        tag = uuid.uuid4().hex
        self.tags.append(tag)
        ev = self.tmp / f"{tag}.events"
        st = self.tmp / f"{tag}.status"
        pre = []
        if events:
            pre += ["--events-file", str(ev)]
        if status:
            pre += ["--status-file", str(st)]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen([BIN] + pre + list(args), env=self.env(tag, env),
                             **kw)
        self.procs.append(p)
        return p, tag, ev, st

    def run(self, args, timeout=60, input=None, **kw):
        """Run to the end; the events and status are parsed and checked."""
        t0 = time.monotonic()
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
        p, tag, ev, st = self.start(args, stdin=stdin, **kw)
        out, err = p.communicate(input=input, timeout=timeout)
        dur = time.monotonic() - t0
        events = read_events(ev) if ev.exists() else []
        status = load_status(st) if st.exists() else None
        return Result(p.returncode, out, err, events, status, dur, tag)

    def survivors(self):
        return {t: tagged_pids(t) for t in self.tags if tagged_pids(t)}

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        left = self.survivors()
        for pids in left.values():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        return left


@pytest.fixture
def jw(tmp_path):
    j = JW(tmp_path)
    yield j
    _VALID_LINES.clear()
    left = j.cleanup()
    assert not left, f"processes of the job survived: {left}"


def wait_for(pred, timeout=10.0, step=0.01):
    """Poll pred() until true (test-side only; jobwrap never polls)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def complete_events(path):
    """Events written so far (whole lines only), for polling during a run."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [parse_event(line) for line in data.split(b"\n")[:-1]]


def wait_event(path, name, count=1, timeout=10):
    """Wait until the events file holds count events called name; fail the
    test if it does not in time.  Returns the events so far."""
    ok = wait_for(lambda: len([e for e in complete_events(path)
                               if e["event"] == name]) >= count,
                  timeout=timeout)
    assert ok, f"no {name} event: {complete_events(path)}"
    return complete_events(path)


def per_attempt(tmp_path, *snippets):
    """A `sh -c` command that runs snippets[n-1] in its n-th run (the last
    snippet from then on): attempts are told apart by a counter file."""
    f = tmp_path / f"attempt-{uuid.uuid4().hex}"
    cases = "".join(f"{i}) {s} ;;\n" for i, s in enumerate(snippets[:-1], 1))
    script = (f"n=$(($(cat {f} 2>/dev/null || echo 0) + 1)); echo $n > {f}\n"
              f"case $n in\n{cases}*) {snippets[-1]} ;;\nesac\n")
    return ["sh", "-c", script]


def proc_stat(pid):
    """Fields of /proc/PID/stat after the name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def gone(pid):
    """pid has exited (a zombie nobody reaps counts as gone)."""
    st = proc_stat(pid)
    return st is None or st[0] in ("Z", "X")


def pgid_of(pid):
    return int(proc_stat(pid)[2])
