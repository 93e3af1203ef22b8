"""Output patterns (issue 3): --retry-pattern and --error-pattern on each
line of stdout and stderr, lines split across reads, a 1 MiB line (matched
on its first 64 KiB, relayed byte-exact), invalid UTF-8, a last line without
newline, last_error per attempt (cleared by a success), invalid regexes."""
import os
import random
import subprocess
import time

import pytest

from conftest import (BIN, check_events, complete_events, helper, load_status,
                      parse_event, per_attempt, read_events, wait_event,
                      wait_for)

PY = "/usr/bin/python3"
CHUNK = 65536


def env():
    return {k: v for k, v in os.environ.items() if k != "JOBWRAP_CONFIG"}


def py(code):
    return [PY, "-c", "import sys, time\nw = sys.stdout.buffer.write\n"
            "e = sys.stderr.buffer.write\n" + code]


def pattern_retries(r):
    return [e for e in r.find("retry") if e["source"] == "pattern"]


def check_event_lines(path):
    for line in path.read_bytes().split(b"\n")[:-1]:
        assert len(line) + 1 <= CHUNK
        parse_event(line)


# ---- retry pattern ------------------------------------------------------------

def test_retry_pattern_on_stdout_and_stderr(jw):
    r = jw.run(["--retry-pattern", "RETRY [0-9]+", "--retries", "3",
                "--retry-on", "nonzero", "--heartbeat", "100ms", "--",
                "sh", "-c", "echo 'RETRY 1 out'; echo 'RETRY 2 err' >&2; "
                "echo plain; echo 'RETRY x' >&2; sleep 0.4"])
    check_events(r.events)
    assert r.rc == 0
    assert r.out == b"RETRY 1 out\nplain\n"
    assert r.err == b"RETRY 2 err\nRETRY x\n"
    rts = pattern_retries(r)
    assert sorted((e["stream"], e["line"]) for e in rts) == \
        [("stderr", "RETRY 2 err"), ("stdout", "RETRY 1 out")]
    for e in rts:
        assert (e["attempt"], e["reason"]) == (1, "pattern")
        assert "delay_ms" not in e
    assert r.find("retry") == rts               # not a jobwrap retry
    # it makes the retry visible; it does not end or restart the attempt
    assert len(r.find("spawn")) == 1
    assert r.events[-1]["attempts"] == 1
    assert r.status["retries_seen"] == 2
    hbs = r.find("heartbeat")
    assert hbs and hbs[-1]["retries_seen"] == 2


def test_several_matches_in_one_read_keep_their_order(jw):
    r = jw.run(["--retry-pattern", "^RETRY", "--", "sh", "-c",
                "printf 'RETRY 1\\nno RETRY\\nRETRY 2\\nRETRY 3\\n'"])
    check_events(r.events)
    assert [e["line"] for e in pattern_retries(r)] == \
        ["RETRY 1", "RETRY 2", "RETRY 3"]
    assert r.status["retries_seen"] == 3


def test_anchors_apply_to_each_line(jw):
    r = jw.run(["--error-pattern", "^(fatal|error): [0-9]+$", "--",
                "sh", "-c", "printf 'a\\nfatal: 7\\nerror: 8x\\nb error: 9"
                "\\nc\\n'; exit 2"])
    check_events(r.events)
    assert r.rc == 2
    assert r.status["last_error"] == "fatal: 7"
    assert r.find("attempt_end")[0]["last_error"] == "fatal: 7"


def test_a_pattern_never_spans_two_lines(jw):
    r = jw.run(["--error-pattern", "a.b", "--retry-pattern", "c.d", "--",
                "sh", "-c", "printf 'a\\nb\\nc\\nd\\n'; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] is None
    assert r.find("retry") == []


# ---- error pattern and last_error -----------------------------------------------

def test_error_pattern_latest_line_wins(jw):
    r = jw.run(["--error-pattern", "^ERROR", "--", "sh", "-c",
                "echo 'ERROR: first'; sleep 0.1; echo 'ERROR: second' >&2; "
                "sleep 0.1; echo done; exit 1"])
    check_events(r.events)
    assert r.rc == 1
    assert r.status["last_error"] == "ERROR: second"
    assert r.find("attempt_end")[0]["last_error"] == "ERROR: second"
    assert r.status["state"] == "failed"


def test_last_error_is_visible_while_running(jw):
    p, _, ev, st = jw.start(["--error-pattern", "ERROR", "--heartbeat",
                             "50ms", "--", "sh", "-c",
                             "echo 'ERROR: now'; sleep 30"],
                            stdin=subprocess.DEVNULL)
    ok = wait_for(lambda: st.exists() and load_status(st)
                  .get("last_error") == "ERROR: now", timeout=5)
    p.terminate()
    p.communicate(timeout=15)
    assert ok, st.read_text()


def test_success_clears_last_error(jw):
    r = jw.run(["--error-pattern", "ERROR", "--", "sh", "-c",
                "echo 'ERROR: transient' >&2; exit 0"])
    check_events(r.events)
    assert r.rc == 0
    assert r.find("attempt_end")[0]["last_error"] is None
    assert r.status["last_error"] is None


def test_last_error_cleared_by_a_later_successful_attempt(jw, tmp_path):
    cmd = per_attempt(tmp_path, "echo 'ERROR: a' >&2; exit 1",
                      "echo fine; exit 0")
    r = jw.run(["--error-pattern", "^ERROR", "--retries", "2", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 0
    assert [e["last_error"] for e in r.find("attempt_end")] == \
        ["ERROR: a", None]
    assert r.status["state"] == "succeeded"
    assert r.status["last_error"] is None


def test_attempt_end_carries_each_attempts_last_error(jw, tmp_path):
    cmd = per_attempt(tmp_path, "echo 'ERROR: one'; exit 1",
                      "echo 'ERROR: two' >&2; exit 1")
    r = jw.run(["--error-pattern", "^ERROR", "--retries", "1", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.rc == 1
    assert [e["last_error"] for e in r.find("attempt_end")] == \
        ["ERROR: one", "ERROR: two"]
    assert r.status["last_error"] == "ERROR: two"


def test_last_error_is_null_when_an_attempt_starts(jw, tmp_path):
    cmd = per_attempt(tmp_path, "echo 'ERROR: one'; exit 1",
                      "echo 'no error'; sleep 30")
    p, _, ev, st = jw.start(["--error-pattern", "^ERROR", "--retries", "1",
                             "--retry-on", "nonzero", "--backoff", "10ms",
                             "--"] + cmd, stdin=subprocess.DEVNULL)
    wait_event(ev, "spawn", count=2)
    time.sleep(0.2)
    status = load_status(st)
    p.terminate()
    p.communicate(timeout=15)
    events = read_events(ev)
    check_events(events)
    assert status["attempt"] == 2 and status["state"] == "running"
    assert status["last_error"] is None, status
    ends = [e for e in events if e["event"] == "attempt_end"]
    assert [e["last_error"] for e in ends] == ["ERROR: one", None]
    final = load_status(st)
    assert final["state"] == "cancelled" and final["last_error"] is None


def test_failed_last_attempt_without_error_line(jw, tmp_path):
    cmd = per_attempt(tmp_path, "echo 'ERROR: one'; exit 1",
                      "echo 'ERROR: two'; exit 1", "echo quiet; exit 1")
    r = jw.run(["--error-pattern", "^ERROR", "--retries", "2", "--retry-on",
                "nonzero", "--backoff", "10ms", "--"] + cmd)
    check_events(r.events)
    assert [e["last_error"] for e in r.find("attempt_end")] == \
        ["ERROR: one", "ERROR: two", None]
    assert r.status["last_error"] is None


def test_both_patterns_on_one_line(jw):
    r = jw.run(["--error-pattern", "boom", "--retry-pattern", "retrying",
                "--", "sh", "-c", "echo 'boom, retrying'; exit 3"])
    check_events(r.events)
    assert r.status["last_error"] == "boom, retrying"
    assert [e["line"] for e in pattern_retries(r)] == ["boom, retrying"]


# ---- how lines are cut ----------------------------------------------------------

@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_pattern_split_across_two_reads(jw, stream):
    redir = "" if stream == "stdout" else " >&2"
    script = (f"printf 'ERR'{redir}; sleep 0.05; printf 'OR: boom\\n'{redir};"
              f" printf 'RET'{redir}; sleep 0.05; printf 'RY now\\n'{redir};"
              " exit 1")
    r = jw.run(["--error-pattern", "^ERROR: b", "--retry-pattern",
                "^RETRY now$", "--", "sh", "-c", script])
    check_events(r.events)
    assert getattr(r, "out" if stream == "stdout" else "err") == \
        b"ERROR: boom\nRETRY now\n"
    assert r.status["last_error"] == "ERROR: boom"
    assert [(e["stream"], e["line"]) for e in pattern_retries(r)] == \
        [(stream, "RETRY now")]


def test_half_a_line_is_not_matched_alone(jw):
    # "ERR" alone would match ^ERR$: it must not be matched before its \n
    r = jw.run(["--error-pattern", "^ERR$", "--retry-pattern", "^RET$",
                "--", "sh", "-c", "printf 'ERR'; sleep 0.1; printf 'OR\\n';"
                "printf 'RET' >&2; sleep 0.1; printf 'RY\\n' >&2; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] is None
    assert r.find("retry") == []


def test_the_two_streams_are_separate_lines(jw):
    # half a line on stdout, the rest on stderr: no line holds both halves
    r = jw.run(["--error-pattern", "^ERROR: x$", "--", "sh", "-c",
                "printf 'ERROR'; sleep 0.05; printf ': x\\n' >&2; "
                "sleep 0.05; printf '\\n'; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] is None


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_final_line_without_newline_matched_at_eof(jw, stream):
    redir = "" if stream == "stdout" else " >&2"
    r = jw.run(["--error-pattern", "^ERROR", "--retry-pattern", "RETRY",
                "--", "sh", "-c",
                f"printf 'RETRY soon\\nERROR: the end'{redir}; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] == "ERROR: the end"
    assert [e["line"] for e in pattern_retries(r)] == ["RETRY soon"]
    r = jw.run(["--retry-pattern", "RETRY", "--", "sh", "-c",
                f"printf 'x\\nlast RETRY'{redir}"])
    check_events(r.events)
    assert [(e["stream"], e["line"]) for e in pattern_retries(r)] == \
        [(stream, "last RETRY")]


def test_final_line_matched_when_a_grandchild_holds_the_pipe(jw):
    """The child exits after half a line; its stdout ends only when the
    grandchild that shares it is killed at the end of the attempt."""
    r = jw.run(["-k", "300ms", "--error-pattern", "^ERROR", "--", "sh", "-c",
                "sleep 30 & printf 'ERROR: no newline'; exit 1"])
    check_events(r.events)
    assert r.rc == 1
    assert r.out == b"ERROR: no newline"
    assert r.status["last_error"] == "ERROR: no newline"
    assert r.duration < 5


def test_partial_line_matched_when_idle_timeout_ends_the_attempt(jw):
    r = jw.run(["--idle-timeout", "300ms", "--error-pattern", "^ERROR", "--",
                "sh", "-c", "printf 'ERROR: partial'; sleep 30"])
    check_events(r.events)
    assert r.rc == 124
    assert r.status["last_error"] == "ERROR: partial"
    assert r.find("attempt_end")[0]["last_error"] == "ERROR: partial"


def test_half_lines_are_not_joined_across_attempts(jw, tmp_path):
    cmd = per_attempt(tmp_path, "printf 'ERR'; exit 1",
                      "printf 'OR: joined\\n'; exit 1")
    r = jw.run(["--error-pattern", "^ERROR", "--retry-pattern", "^ERR$",
                "--retries", "1", "--retry-on", "nonzero", "--backoff",
                "10ms", "--"] + cmd)
    check_events(r.events)
    assert r.out == b"ERROR: joined\n"
    # attempt 1's last line "ERR" is matched at its end, alone
    assert [(e["attempt"], e["line"]) for e in pattern_retries(r)] == \
        [(1, "ERR")]
    assert [e["last_error"] for e in r.find("attempt_end")] == [None, None]


@pytest.mark.parametrize("end", ["\\n", "\\r\\n", ""],
                         ids=["lf", "crlf", "eof"])
@pytest.mark.parametrize("n,matched", [(CHUNK - 1, True), (CHUNK, True),
                                       (CHUNK + 1, False)])
def test_line_length_boundary(jw, n, matched, end):
    code = (f"w(b'y' * {n - 4}); sys.stdout.flush(); time.sleep(0.05)\n"
            f"w(b'MARK{end}')\n")
    r = jw.run(["--retry-pattern", "MARK$", "--"] + py(code))
    check_events(r.events)
    assert r.rc == 0
    assert len(r.out) == n + len(end) // 2
    assert r.status["retries_seen"] == (1 if matched else 0)


def test_carriage_return_is_removed(jw):
    r = jw.run(["--error-pattern", "crlf$", "--retry-pattern", "two$", "--",
                "sh", "-c", "printf 'ERROR crlf\\r\\n'; "
                "printf 'one two\\r\\r\\n' >&2; exit 1"])
    check_events(r.events)
    assert r.out == b"ERROR crlf\r\n"            # relayed unchanged
    assert r.err == b"one two\r\r\n"
    assert r.status["last_error"] == "ERROR crlf"
    # only one \r is removed: "one two\r" does not match two$
    assert pattern_retries(r) == []


def test_one_mib_line(jw):
    big = b"ERROR: " + b"x" * (1 << 20) + b" RETRY TAIL\n"
    near = b"y" * (CHUNK - 100) + b"NEAR\n"      # match inside 64 KiB
    far = b"z" * (CHUNK + 100) + b"FAR\n"        # match past 64 KiB
    after = b"RETRY after\n"
    payload = big + near + far + after
    code = ("w(b'ERROR: ' + b'x' * (1 << 20) + b' RETRY TAIL\\n')\n"
            f"w(b'y' * {CHUNK - 100} + b'NEAR\\n')\n"
            f"w(b'z' * {CHUNK + 100} + b'FAR\\n')\n"
            "w(b'RETRY after\\n'); sys.stdout.flush(); sys.exit(1)\n")
    r = jw.run(["--error-pattern", "^ERROR: x+", "--retry-pattern",
                "RETRY|NEAR|FAR", "--"] + py(code))
    check_events(r.events)
    assert r.rc == 1
    assert r.out == payload                       # byte-exact
    assert r.status["bytes_out"] == len(payload)
    # RETRY TAIL and FAR lie past the first 64 KiB of their lines
    lines = [e["line"] for e in pattern_retries(r)]
    assert len(lines) == 2, [x[:20] + "..." + x[-20:] for x in lines]
    # NEAR matched; the event may shorten the line ("...") to stay under
    # the 64 KiB event limit
    assert lines[0].startswith("yyy")
    assert lines[0].endswith("NEAR") or lines[0].endswith("..."), \
        lines[0][-20:]
    assert lines[1] == "RETRY after"
    le = r.status["last_error"]
    assert le.startswith("ERROR: xxxx")
    assert CHUNK // 2 < len(le) <= CHUNK
    assert big.startswith(le.encode())
    end = r.find("attempt_end")[0]["last_error"]
    assert end.startswith("ERROR: xxxx")
    assert big.startswith(end.rstrip(".").encode())
    ev = [p for p in jw.tmp.iterdir() if p.name == f"{r.tag}.events"][0]
    check_event_lines(ev)                         # no event over 64 KiB


def test_one_mib_line_on_stderr_without_newline(jw):
    code = "e(b'ERROR ' + b'q' * (1 << 20)); sys.exit(1)\n"
    r = jw.run(["--error-pattern", "^ERROR q", "--"] + py(code))
    check_events(r.events)
    assert r.err == b"ERROR " + b"q" * (1 << 20)
    assert r.status["last_error"].startswith("ERROR qqq")


def test_invalid_utf8_in_a_matched_line(jw):
    raw = b"ERROR: \xff\xfe bad \xc3\xa9 ok \xc3\n"
    r = jw.run(["--error-pattern", "^ERROR", "--retry-pattern", "bad",
                "--", "sh", "-c",
                f"{helper('jwchild')} hex 73746172740a {raw.hex()}; exit 1"])
    check_events(r.events)
    assert r.out == b"start\n"
    assert r.err == raw                           # relayed unchanged
    want = "ERROR: \\xff\\xfe bad \u00e9 ok \\xc3"
    assert r.status["last_error"] == want
    assert r.find("attempt_end")[0]["last_error"] == want
    assert [(e["stream"], e["line"]) for e in pattern_retries(r)] == \
        [("stderr", want)]


def test_invalid_utf8_last_error_of_a_failed_attempt(jw):
    raw = b"ERROR \x80\x00\x01 end\n"
    r = jw.run(["--error-pattern", "^ERROR", "--", "sh", "-c",
                f"{helper('jwchild')} hex {raw.hex()}; exit 4"])
    check_events(r.events)
    assert r.rc == 4
    le = r.status["last_error"]
    assert le.startswith("ERROR \\x80"), le
    assert r.find("attempt_end")[0]["last_error"] == le


def test_patterns_do_not_change_the_relayed_bytes(jw):
    """Every byte value, lines of all lengths, both streams."""
    code = ("import random\nrng = random.Random(7)\n"
            "data = bytes(rng.randrange(256) for _ in range(300000))\n"
            "for i in range(0, len(data), 7919):\n"
            "    w(data[i:i + 7919]); e(data[i:i + 7919])\n"
            "    sys.stdout.flush(); sys.stderr.flush()\n")
    r = jw.run(["--error-pattern", "a+b", "--retry-pattern", "[\x01-\x7f]{3}",
                "--"] + py(code))
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(300000))
    assert r.rc == 0
    assert r.out == data and r.err == data


# ---- invalid regexes ----------------------------------------------------------

BAD_RE = ["(", "a[", "x{2,1}", "a\\", "(?:x)"]


@pytest.mark.parametrize("key", ["retry_pattern", "error_pattern"])
@pytest.mark.parametrize("value", BAD_RE)
def test_invalid_regex_in_ini(tmp_path, key, value):
    f = tmp_path / "j.ini"
    f.write_text(f"[jobwrap]\n; patterns\n{key} = {value}\n")
    marker = tmp_path / "ran"
    p = subprocess.run([BIN, "-c", str(f), "--", "touch", str(marker)],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    assert not marker.exists()
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    prefix = f"jobwrap: {f}:3: {key} = {value}: "
    assert lines[0].startswith(prefix), lines[0]
    assert len(lines[0]) > len(prefix) + 3       # the regerror text


@pytest.mark.parametrize("opt", ["--retry-pattern", "--error-pattern"])
@pytest.mark.parametrize("value", BAD_RE)
def test_invalid_regex_on_the_command_line(tmp_path, opt, value):
    marker = tmp_path / "ran"
    p = subprocess.run([BIN, opt, value, "--", "touch", str(marker)],
                       capture_output=True, text=True, env=env(), timeout=10)
    assert p.returncode == 125, p.stderr
    assert not marker.exists()
    assert p.stderr.startswith(f"jobwrap: {opt} {value}: "), p.stderr


def test_pattern_from_the_ini_is_used(jw, tmp_path):
    f = tmp_path / "j.ini"
    f.write_text("[jobwrap]\nerror_pattern = ^E[0-9]{3}\n"
                 "retry_pattern = (again|retry)$\n")
    r = jw.run(["-c", str(f), "--", "sh", "-c",
                "echo E12; echo E123 x; echo 'try again'; exit 1"])
    check_events(r.events)
    assert r.status["last_error"] == "E123 x"
    assert [e["line"] for e in pattern_retries(r)] == ["try again"]


def test_last_error_kept_during_a_backoff_and_after_cancel(jw):
    p, _, ev, st = jw.start(["-t", "0", "--error-pattern", "^ERROR",
                             "--retries", "20", "--retry-on", "nonzero",
                             "--backoff", "30s", "--backoff-max", "60s",
                             "--", "sh", "-c", "echo 'ERROR: x'; exit 1"],
                            stdin=subprocess.DEVNULL)
    found = wait_for(lambda: [e for e in complete_events(ev)
                              if e["event"] == "retry"
                              and e["delay_ms"] >= 3000], timeout=30)
    assert found, complete_events(ev)
    n = found[0]["attempt"]
    ok = wait_for(lambda: f"attempt {n + 1} starts in" in
                  load_status(st)["reason"], timeout=2)
    assert ok
    during = load_status(st)
    p.terminate()
    p.communicate(timeout=15)
    events = read_events(ev)
    check_events(events)
    # the ended attempt is the last one: its last_error stays
    assert during["last_error"] == "ERROR: x"
    final = load_status(st)
    assert final["state"] == "cancelled"
    assert final["last_error"] == "ERROR: x"
    assert events[-1]["attempts"] == n
