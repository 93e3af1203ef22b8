"""jobwrap under valgrind's memcheck: no memory error, no leak.

shim/jobwrap is linked statically, and valgrind cannot intercept malloc in
a static binary: it reports "0 allocs" plus false errors inside static
glibc's start-up.  The Makefile links the same objects dynamically as
build/dyn/jobwrap for exactly this check, so that binary is the one run
here, whatever $JOBWRAP says.  A check that the heap was really tracked
(allocs > 0) keeps the test from passing vacuously.

Not run against the ASan build (marker nosan): it has nothing to add and
valgrind cannot run ASan binaries.
"""
import os
import re
import shutil
import subprocess
import uuid

import pytest

from conftest import ROOT, check_events, helper, load_status, read_events

pytestmark = pytest.mark.nosan

DYN = ROOT / "build" / "dyn" / "jobwrap"


def valgrind(jw, args, timeout=60, **kw):
    """Run DYN under memcheck, tagged like jw.start(); returns
    (rc, stdout, stderr, log text, events, status path)."""
    assert shutil.which("valgrind"), "valgrind missing: make deps"
    assert DYN.exists(), f"{DYN} missing: make build/dyn/jobwrap"
    tag = uuid.uuid4().hex
    jw.tags.append(tag)
    ev, st = jw.tmp / f"{tag}.events", jw.tmp / f"{tag}.status"
    log = jw.tmp / f"{tag}.valgrind"
    cmd = ["valgrind", "--leak-check=full",
           "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
           "--trace-children=no", "--child-silent-after-fork=yes",
           f"--log-file={log}", str(DYN),
           # valgrind 3.19 knows neither pidfd_open nor seccomp (ENOSYS)
           "--on-parent-death", "continue", "--seccomp", "off",
           "--events-file", str(ev), "--status-file", str(st)] + list(args)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, env=jw.env(tag), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, **kw)
    jw.procs.append(p)
    out, err = p.communicate(timeout=timeout)
    events = read_events(ev)
    check_events(events)
    return p.returncode, out, err, log.read_text(), events, st


def check_clean(rc, log):
    assert rc != 99, log
    assert re.search(r"ERROR SUMMARY: 0 errors", log), log
    m = re.search(r"total heap usage: ([\d,]+) allocs, ([\d,]+) frees", log)
    assert m, log
    allocs, frees = (int(x.replace(",", "")) for x in m.groups())
    assert allocs > 0, "valgrind did not track the heap (static binary?)"
    assert allocs == frees or "definitely lost: 0 bytes" in log, log
    assert "All heap blocks were freed" in log or (
        "definitely lost: 0 bytes" in log and
        "indirectly lost: 0 bytes" in log), log


def test_valgrind_deadline_kill_of_leftovers(jw):
    rc, out, err, log, events, st = valgrind(jw, [
        "-t", "2", "-k", "200ms", "--heartbeat", "50ms", "--",
        "sh", "-c", "echo out; echo err >&2; sleep 0.3 & sleep 5"])
    check_clean(rc, log)
    assert rc == 124
    assert out == b"out\n"
    assert b"err\n" in err
    assert events[-1]["state"] == "timeout"
    names = [e["event"] for e in events]
    assert "heartbeat" in names and "signal" in names


def test_valgrind_seccomp_build_and_failed_install(jw):
    # The filter is built (libseccomp, in jobwrap) and fails to install in
    # the child (valgrind: ENOSYS): a clean spawn_failed, nothing leaked,
    # and the command never runs unfiltered.
    marker = jw.tmp / "ran"
    rc, out, err, log, events, st = valgrind(jw, [
        "--seccomp", "contain", "--",
        "touch", str(marker)])
    check_clean(rc, log)
    assert rc == 125
    assert not marker.exists()
    assert [e["event"] for e in events] == ["start", "spawn_failed", "exit"]
    status = load_status(st)
    assert status["state"] == "spawn_failed"
    assert "seccomp filter \"contain\"" in status["reason"]
    assert "not run unfiltered" in status["reason"]


def test_valgrind_plain_success(jw):
    rc, out, err, log, events, st = valgrind(jw, ["--", "sh", "-c",
                                                  "echo hi"])
    check_clean(rc, log)
    assert rc == 0 and out == b"hi\n"
    assert events[-1]["state"] == "succeeded"


def test_valgrind_escapee_events_fd_and_binary_stderr(jw):
    # The tree walk (escapee outside the group, SIGKILL after the grace),
    # the events fd queue, and the stderr tail with invalid UTF-8.
    r, w = os.pipe()
    try:
        rc, out, err, log, events, st = valgrind(jw, [
            "-k", "200ms", "--heartbeat", "20ms", "--events-fd", str(w),
            "--tail-bytes", "16", "--", "sh", "-c",
            f"printf '\\377\\376abc\\342\\202' >&2; sleep 0.2; "
            f"exec {helper('jwchild')} escape keep ignore"],
            pass_fds=(w,))
    finally:
        os.close(w)
        fd_data = b""
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            fd_data += b
        os.close(r)
    check_clean(rc, log)
    assert rc == 0
    assert err.endswith(b"\xff\xfeabc\xe2\x82")
    assert fd_data.count(b"\n") == len(events)
    sig = [(e["signal"], e["target"]) for e in events
           if e["event"] == "signal"]
    assert sig == [("SIGTERM", "tree"), ("SIGKILL", "tree")]


def test_valgrind_retries_patterns_notify(jw):
    """Issue 3's paths: two attempts, pattern matches, notify datagrams
    (one spoofed-looking malformed), the idle clock, a backoff."""
    script = (
        "echo 'retrying soon'; echo 'ERR boom' >&2; "
        "/usr/bin/python3 -c \"import os,socket;"
        "a=os.environ['NOTIFY_SOCKET'];a='\\0'+a[1:];"
        "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);"
        "[s.sendto(d,a) for d in (b'READY=1\\nSTATUS=x\\nK=v',b'X_RETRY=r',"
        "b'garbage',b'ERRNO=5',b'WATCHDOG=1')]\"; exit 3")
    rc, out, err, log, events, st = valgrind(jw, [
        "--retries", "1", "--retry-on", "nonzero", "--backoff", "10ms",
        "--idle-timeout", "5s", "--retry-pattern", "retrying",
        "--error-pattern", "^ERR", "--", "sh", "-c", script])
    check_clean(rc, log)
    assert rc == 3
    names = [e["event"] for e in events]
    assert names.count("spawn") == 2 and "notify" in names
    assert [e["source"] for e in events if e["event"] == "retry"].count(
        "jobwrap") == 1
