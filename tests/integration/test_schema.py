"""The JSON Schemas of include/jobwrap/, the public header include/jobwrap.h
and the binary agree.

The header's names (JW_EV_*, JW_ST_*, JW_SCHEMA_VERSION, JW_VERSION,
JW_EXIT_*) are compared with the schemas' enums and with what the binary
does: one set of runs drives jobwrap into every state and every event the
header names, and every enum of the schemas that says what jobwrap emits
(retry sources, timeout kinds, signal targets and reasons) is seen in full.
Everything those runs write or print is validated on the way (conftest).
"""
import copy
import json
import os
import re
import signal
import subprocess

import jsonschema
import pytest

from conftest import (BIN, EVENT_SCHEMA, ROOT, STATUS_SCHEMA, JW, helper,
                      load_status, parse_event, read_events, validate_event,
                      validate_inspect, validate_status, wait_event,
                      wait_for)

HEADER = ROOT / "include" / "jobwrap.h"
DEFINE = re.compile(r"^#define\s+(JW_\w+)\s+(\"[^\"]*\"|\d+)", re.M)


def header():
    """{name: value} of the header's #defines (strings unquoted)."""
    return {n: (v[1:-1] if v.startswith('"') else int(v))
            for n, v in DEFINE.findall(HEADER.read_text())}


def group(prefix):
    return {v for n, v in header().items() if n.startswith(prefix)}


HDR = header()
EVENTS = group("JW_EV_")
STATES = group("JW_ST_")


def enum(schema, *path):
    node = schema
    for p in path:
        node = node[p]
    return set(node["enum"])


# ---- schema and header -----------------------------------------------------

def test_header_parsed():
    assert len(EVENTS) == 10 and len(STATES) == 11, HDR
    assert {"JW_VERSION", "JW_SCHEMA_VERSION", "JW_EXIT_TIMEOUT",
            "JW_EXIT_INTERNAL", "JW_EXIT_NOEXEC", "JW_EXIT_NOTFOUND",
            "JW_EXIT_SIGNAL_BASE", "JW_EXIT_PARENT_DIED"} <= set(HDR)


def test_schema_events_are_the_headers():
    assert enum(EVENT_SCHEMA, "properties", "event") == EVENTS
    # one definition per event, dispatched on its name
    assert EVENTS <= set(EVENT_SCHEMA["$defs"])
    names = {b["if"]["properties"]["event"]["const"]
             for b in EVENT_SCHEMA["allOf"]}
    assert names == EVENTS
    for name in EVENTS:
        d = EVENT_SCHEMA["$defs"][name]
        assert d["properties"]["event"] == {"const": name}
        assert d["additionalProperties"] is False
        assert set(d["required"]) >= set(EVENT_SCHEMA["required"])


def test_schema_states_are_the_headers():
    assert enum(STATUS_SCHEMA, "properties", "state") == STATES
    ev = EVENT_SCHEMA["$defs"]
    # an attempt ends, and a run exits, in a state of the header; neither
    # is "running", and only --reap writes "orphaned"
    exits = enum(ev["exit"], "properties", "state")
    ends = enum(ev["attempt_end"], "properties", "state")
    assert exits == STATES - {HDR["JW_ST_RUNNING"], HDR["JW_ST_ORPHANED"]}
    assert ends == exits - {HDR["JW_ST_SPAWN_FAILED"]}


def test_schema_version_is_the_headers():
    assert EVENT_SCHEMA["properties"]["v"]["const"] == HDR["JW_SCHEMA_VERSION"]
    assert STATUS_SCHEMA["properties"]["v"]["const"] == \
        HDR["JW_SCHEMA_VERSION"]
    for name in EVENTS:
        assert EVENT_SCHEMA["$defs"][name]["properties"]["v"]["const"] == \
            HDR["JW_SCHEMA_VERSION"]


def test_schemas_are_draft_2020_12_with_ids():
    for s in (EVENT_SCHEMA, STATUS_SCHEMA):
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert s["$id"] and s["title"] and s["description"]


def test_binary_version_is_the_headers():
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    assert r.stdout == f"jobwrap {HDR['JW_VERSION']}\n"


# ---- the schemas are strict --------------------------------------------------

def rejected(validate, doc):
    with pytest.raises(AssertionError, match="violates its schema"):
        validate(doc)


def test_schemas_reject_what_the_contract_rules_out(runs):
    start, status = runs.events("ok")[0], runs.status("ok")
    for mutate in (lambda d: d.update(extra=1),
                   lambda d: d.pop("run_id"),
                   lambda d: d.update(v=2),
                   lambda d: d.update(seq=0),
                   lambda d: d.update(ts="2024-01-01T00:00:00Z"),
                   lambda d: d.update(ts="2024-02-30T00:00:00.000Z"),
                   lambda d: d.update(event="started"),
                   lambda d: d["config"].pop("seccomp_filter"),
                   lambda d: d["config"].update(rlimit_core="lots")):
        doc = copy.deepcopy(start)
        mutate(doc)
        rejected(validate_event, doc)
    for mutate in (lambda d: d.update(extra=1),
                   lambda d: d.pop("boot_id"),
                   lambda d: d.update(state="done"),
                   lambda d: d.update(ended_at=None),
                   lambda d: d.update(exit_code=None),
                   lambda d: d.update(state="running"),
                   lambda d: d.update(signal="TERM"),
                   lambda d: d["rusage"].pop("maxrss_kb")):
        doc = copy.deepcopy(status)
        mutate(doc)
        rejected(validate_status, doc)
    retry = runs.find("failed", "retry")[0]
    for mutate in (lambda d: d.pop("delay_ms"),
                   lambda d: d.update(line="x"),
                   lambda d: d.update(source="child")):
        doc = copy.deepcopy(retry)
        mutate(doc)
        rejected(validate_event, doc)


# ---- the binary --------------------------------------------------------------

class Runs:
    """One run (or more) per state, all at once; their records by name."""

    def __init__(self, tmp):
        self.jw = JW(tmp)
        self.tmp = tmp
        self.procs = {}         # name: (Popen, events path, status path)
        self.seen_status = {}   # name: [statuses, also mid-run ones]
        self.fd_events = {}     # name: events read from an --events-fd
        self.printed = []       # what --cancel, --inspect, --follow printed

    def start(self, name, args, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p, _, ev, st = self.jw.start(args, **kw)
        self.procs[name] = (p, ev, st)
        return p, ev, st

    def note(self, name, st):
        self.seen_status.setdefault(name, []).append(load_status(st))

    def wait(self, name, timeout=30):
        p, ev, st = self.procs[name]
        p.communicate(timeout=timeout)
        return p.returncode

    def events(self, name):
        return read_events(self.procs[name][1])

    def status(self, name):
        return load_status(self.procs[name][2])

    def find(self, name, event):
        return [e for e in self.events(name) if e["event"] == event]

    def all_events(self):
        for name, (_, ev, _) in self.procs.items():
            if ev.exists():
                yield from read_events(ev)
        for evs in self.fd_events.values():
            yield from evs

    def all_statuses(self):
        for name, (_, _, st) in self.procs.items():
            if st.exists():
                yield load_status(st)
        for docs in self.seen_status.values():
            yield from docs


def cli(jw, *args, timeout=15):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True,
                          timeout=timeout, env=jw.env("cli"),
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    r = Runs(tmp)
    notify = helper("jwnotify")
    rc = {}
    try:
        _drive(r, tmp, notify, rc)
        r.rc = rc
        yield r
    finally:
        left = r.jw.cleanup()
    assert not left, f"processes of the job survived: {left}"


def _drive(r, tmp, notify, rc):
    jw = r.jw
    # Everything that can run unattended starts at once.
    r.start("ok", ["--heartbeat", "50ms", "--retry-pattern", "^again",
                   "--error-pattern", "^oops", "--", "sh", "-c",
                   "echo again; echo oops >&2; "
                   f"{notify} 'READY=1\\nSTATUS=up\\nFOO=bar' X_RETRY=busy; "
                   "sleep 0.2; sleep 30 & exit 0"])         # leftover
    r.start("failed", ["--retries", "1", "--retry-on", "nonzero",
                       "--backoff", "10ms", "--", "sh", "-c", "exit 3"])
    r.start("signaled", ["--", "sh", "-c", "kill -KILL $$"])
    r.start("timeout", ["-t", "300ms", "-k", "200ms", "--", "sh", "-c",
                        f"setsid sleep 30 & exec {helper('jwchild')} "
                        "ignore-term"])
    r.start("attempt", ["--attempt-timeout", "200ms", "--", "sleep", "30"])
    r.start("idle", ["--idle-timeout", "200ms", "--", "sleep", "30"])
    r.start("notfound", ["--", str(tmp / "nonexistent")])
    noexec = tmp / "noexec"
    noexec.write_text("#!/bin/sh\n")
    noexec.chmod(0o644)
    r.start("noexec", ["--", str(noexec)])
    # jobwrap failing itself: its events file takes nothing (ENOSPC); the
    # events still reach the fd.
    rfd, wfd = os.pipe()
    r.start("error", ["--events-fd", str(wfd), "--events-file", "/dev/full",
                      "--", "sleep", "30"], events=False, pass_fds=(wfd,))
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        r.fd_events["error"] = [parse_event(x) for x in f.read().splitlines()]
    # Its parent (a shell) exits under it.
    pd_ev, pd_st = tmp / "pdeath.events", tmp / "pdeath.status"
    tag = "schema-pdeath"
    jw.tags.append(tag)
    shell = subprocess.Popen(
        ["sh", "-c", f'"$0" --events-file {pd_ev} --status-file {pd_st} '
         "-- sleep 30 & sleep 0.5", BIN], env=jw.env(tag),
        stdin=subprocess.DEVNULL)
    jw.procs.append(shell)
    # Cancelled, with a look at it running, --inspect and --cancel.
    p, ev, st = r.start("cancelled", ["--heartbeat", "0", "--", "sleep",
                                      "30"])
    wait_event(ev, "spawn")
    assert wait_for(lambda: load_status(st)["pid"] is not None)
    r.note("cancelled", st)
    # --reap: jobwrap SIGKILLed, its run settled from outside.
    kp, kev, kst = r.start("orphaned", ["--", "sleep", "30"])
    wait_event(kev, "spawn")
    kp.kill()
    kp.wait()
    out = cli(jw, "--inspect", "--json", st, kst)
    assert out.returncode == 0, out.stderr
    r.printed += [validate_inspect(json.loads(x))
                  for x in out.stdout.splitlines()]
    out = cli(jw, "--cancel", st)
    assert out.returncode == 0, out.stderr
    r.printed.append(validate_status(json.loads(out.stdout)))
    out = cli(jw, "--reap", kst)
    assert out.returncode == 0 and b"orphaned" in out.stdout, out
    r.note("orphaned", kst)

    for name in r.procs:
        rc[name] = r.wait(name)
    shell.wait(timeout=10)
    assert wait_for(lambda: pd_st.exists() and
                    load_status(pd_st)["ended_at"] is not None, timeout=15)
    assert wait_for(lambda: pd_ev.exists() and
                    b'"exit"' in pd_ev.read_bytes(), timeout=5)
    r.procs["parent_died"] = (shell, pd_ev, pd_st)
    out = cli(jw, "--follow", r.procs["ok"][1])
    assert out.returncode == 0, out.stderr
    r.printed += [parse_event(x) for x in out.stdout.splitlines()]


def test_every_state_of_the_header_is_reached(runs):
    states = {s["state"] for s in runs.all_statuses()}
    states |= {s["state"] for s in runs.printed if "state" in s and
               "event" not in s}
    assert states == STATES, STATES - states
    exits = {e["state"] for e in runs.all_events() if e["event"] == "exit"}
    assert exits == STATES - {HDR["JW_ST_RUNNING"], HDR["JW_ST_ORPHANED"]}


def test_every_state_by_its_run(runs):
    want = {"ok": "succeeded", "failed": "failed", "signaled": "signaled",
            "timeout": "timeout", "attempt": "timeout",
            "idle": "idle_timeout", "notfound": "spawn_failed",
            "noexec": "spawn_failed", "error": "error",
            "cancelled": "cancelled", "parent_died": "parent_died",
            "orphaned": "orphaned"}
    got = {name: runs.status(name)["state"] for name in want}
    assert got == want
    assert runs.seen_status["cancelled"][0]["state"] == "running"


def test_every_event_of_the_header_is_emitted(runs):
    names = {e["event"] for e in runs.all_events()}
    assert names == EVENTS, EVENTS - names


def test_every_enum_value_of_the_events_is_emitted(runs):
    """What the schema allows for these fields is what jobwrap emits: no
    value in an enum that the binary never produces."""
    evs = list(runs.all_events())
    defs = EVENT_SCHEMA["$defs"]

    def seen(event, field):
        return {e[field] for e in evs if e["event"] == event}

    assert seen("retry", "source") == enum(defs["retry"], "properties",
                                           "source")
    assert seen("timeout", "kind") == enum(defs["timeout"], "properties",
                                           "kind")
    assert seen("signal", "target") == enum(defs["signal"], "properties",
                                            "target")
    assert seen("signal", "reason") == enum(defs["signal"], "properties",
                                            "reason")
    assert {e["stream"] for e in evs if e["event"] == "retry" and
            e["source"] == "pattern"} <= {"stdout", "stderr"}
    assert seen("attempt_end", "state") <= enum(defs["attempt_end"],
                                                "properties", "state")


def test_exit_statuses_are_the_headers(runs):
    rc = runs.rc
    assert rc["timeout"] == rc["attempt"] == rc["idle"] == \
        HDR["JW_EXIT_TIMEOUT"]
    assert rc["error"] == HDR["JW_EXIT_INTERNAL"]
    assert rc["noexec"] == HDR["JW_EXIT_NOEXEC"]
    assert rc["notfound"] == HDR["JW_EXIT_NOTFOUND"]
    assert rc["signaled"] == HDR["JW_EXIT_SIGNAL_BASE"] + signal.SIGKILL
    assert rc["cancelled"] == HDR["JW_EXIT_SIGNAL_BASE"] + signal.SIGTERM
    assert runs.status("parent_died")["exit_code"] == \
        HDR["JW_EXIT_PARENT_DIED"]
    for name, code in rc.items():
        if name != "orphaned":      # SIGKILLed: it never said
            assert runs.status(name)["exit_code"] == code, name
    bad = cli(runs.jw, "--no-such-option")
    assert bad.returncode == HDR["JW_EXIT_INTERNAL"]


def test_records_agree_where_the_schema_cannot_say(runs):
    """Cross-field rules JSON Schema does not express."""
    for st in runs.all_statuses():
        assert st["pid"] == st["pgid"]
    for name, (_, ev, st) in runs.procs.items():
        if not ev.exists():
            continue
        evs = read_events(ev)
        status = load_status(st)
        assert status["run_id"] == evs[0]["run_id"]
        if evs[-1]["event"] == "exit":
            assert status["events_seq"] == evs[-1]["seq"] - 1
            assert evs[-1]["state"] == status["state"]
            assert evs[-1]["exit_code"] == status["exit_code"]
        for e in evs:
            if e["event"] == "spawn":
                assert e["pid"] == e["pgid"]


# ---- the README's examples ----------------------------------------------------

ELIDED = re.compile(r",\.\.\.(?=[,}])|(?<=[{,])\.\.\.,")


def partial(schema, defs):
    """schema without its required list: an example shows some fields."""
    s = {k: v for k, v in schema.items() if k != "required"}
    s["$defs"] = defs
    return jsonschema.Draft202012Validator(s)


def test_readme_examples_validate():
    """Each JSON example line of the README (members elided with '...')
    has only members the schemas know, with values they accept."""
    text = (ROOT / "README.md").read_text()
    lines = [x for x in text.splitlines() if x.startswith('{"v":')]
    assert len(lines) >= 5
    for line in lines:
        doc = json.loads(ELIDED.sub("", line))
        if "event" in doc:
            schema = EVENT_SCHEMA["$defs"][doc["event"]]
            v = partial(schema, EVENT_SCHEMA["$defs"])
        else:
            doc.pop("path", None)
            doc.pop("alive", None)
            v = partial(STATUS_SCHEMA, STATUS_SCHEMA["$defs"])
        errors = [e.message for e in v.iter_errors(doc)]
        assert not errors, (line, errors)


def test_readme_and_manual_name_the_schemas():
    readme = (ROOT / "README.md").read_text()
    manual = (ROOT / "shim" / "jobwrap.1").read_text()
    for name in ("events.schema.json", "status.schema.json"):
        assert f"include/jobwrap/{name}" in readme
        assert name in manual
