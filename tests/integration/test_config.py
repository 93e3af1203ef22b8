"""Configuration: the ini file, $JOBWRAP_CONFIG, profiles, precedence,
--check-config, every error with FILE:LINE, durations, signals, options not
--events-fd checks, seccomp sections and rlimit values."""
import os
import subprocess

import pytest

from conftest import BIN, check_events

BAD_SANDBOX_CLI = [
    ["--seccomp", "nosuch"], ["--seccomp", "bad name"],
    ["--rlimit-nofile", "lots"], ["--rlimit-core", "-1"],
    ["--rlimit-as", "1X"], ["--rlimit-cpu", "0"], ["--rlimit-nproc", "1.5"],
    ["--rlimit-fsize", ""],
]


def env(**extra):
    e = {k: v for k, v in os.environ.items() if k != "JOBWRAP_CONFIG"}
    e.update(extra)
    return e


def jobwrap(*args, extra_env=None, **kw):
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          env=env(**(extra_env or {})), timeout=30, **kw)


def check_config(*args, extra_env=None):
    """--check-config: {key: (value, comment)} of the settings it prints."""
    p = jobwrap("--check-config", *args, extra_env=extra_env)
    assert p.returncode == 0, p.stderr
    return parse(p.stdout)


def parse(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith(";") or line.startswith("["):
            continue
        setting, _, comment = line.partition("\t")
        key, sep, value = setting.partition(" = ")
        assert sep, line
        out[key] = (value, comment)
    return out


def values(cfg):
    return {k: v for k, (v, _) in cfg.items()}


def ini(tmp_path, text, name="j.ini"):
    f = tmp_path / name
    f.write_bytes(text.encode() if isinstance(text, str) else text)
    return f


def error(f, *args, extra_env=None):
    """A config error: exit 125, one line "jobwrap: FILE:LINE: message"."""
    p = jobwrap("--check-config", "-c", str(f), *args, extra_env=extra_env)
    assert p.returncode == 125, (p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    prefix = f"jobwrap: {f}:"
    assert lines[0].startswith(prefix), lines[0]
    line, _, msg = lines[0][len(prefix):].partition(": ")
    return int(line), msg


# ---- defaults, file, environment, precedence ------------------------------

def test_defaults():
    v = values(check_config())
    assert v == {"timeout": "1h", "kill_after": "10s", "signal": "TERM",
                 "heartbeat": "10s", "tail_bytes": "4096",
                 "attempt_timeout": "0", "idle_timeout": "0", "retries": "0",
                 "retry_on": "attempt-timeout,idle", "backoff": "1s",
                 "backoff_max": "1m", "notify": "yes",
                 "on_parent_death": "kill", "seccomp": "contain"}


def test_check_config_lists_every_key():
    p = jobwrap("--check-config")
    keys = set()
    for line in p.stdout.splitlines():
        if line.startswith("; ") or line.startswith("[") or not line:
            continue
        keys.add(line.lstrip(";").split(" =")[0])
    assert {"run_id", "timeout", "kill_after", "signal", "heartbeat",
            "events_fd", "events_file", "status_file", "tail_bytes",
            "attempt_timeout", "idle_timeout", "retries", "retry_on",
            "backoff", "backoff_max", "retry_pattern", "error_pattern",
            "on_parent_death", "seccomp", "notify", "rlimit_core",
            "rlimit_nofile", "rlimit_as", "rlimit_cpu", "rlimit_nproc",
            "rlimit_fsize"} <= keys


def test_precedence(tmp_path):
    f = ini(tmp_path, "[profile fast]\n"       # profile before [jobwrap]
            "timeout = 30s\n"
            "kill_after = 2s\n"
            "\n"
            "[jobwrap]\n"
            "timeout = 90m\n"
            "kill_after = 5s\n"
            "heartbeat = 1500ms\n"
            "signal = INT\n")
    cfg = check_config("-c", str(f), "-p", "fast", "-k", "3s",
                       "--tail-bytes", "10")
    assert cfg["timeout"] == ("30s", f"; {f}:2")          # profile
    assert cfg["kill_after"] == ("3s", "; command line")  # CLI over profile
    assert cfg["heartbeat"] == ("1.5s", f"; {f}:8")       # [jobwrap]
    assert cfg["signal"] == ("INT", f"; {f}:9")
    assert cfg["tail_bytes"] == ("10", "; command line")
    # without the profile, [jobwrap] applies
    v = values(check_config("-c", str(f)))
    assert v["timeout"] == "1h30m" and v["kill_after"] == "5s"


def test_default_has_no_origin_comment(tmp_path):
    f = ini(tmp_path, "[jobwrap]\nheartbeat = 5s\n")
    cfg = check_config("-c", str(f))
    assert cfg["timeout"] == ("1h", "")
    assert cfg["heartbeat"] == ("5s", f"; {f}:2")


def test_later_command_line_option_wins():
    v = values(check_config("-t", "1s", "--timeout", "2s"))
    assert v["timeout"] == "2s"


def test_environment_variable(tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = 7s\n[profile p]\ntimeout = 8s\n")
    assert values(check_config(extra_env={"JOBWRAP_CONFIG": str(f)})) \
        ["timeout"] == "7s"
    assert values(check_config("-p", "p", extra_env={
        "JOBWRAP_CONFIG": str(f)}))["timeout"] == "8s"


def test_c_overrides_environment(tmp_path):
    f1 = ini(tmp_path, "[jobwrap]\ntimeout = 7s\n", "a.ini")
    f2 = ini(tmp_path, "[jobwrap]\ntimeout = 9s\n", "b.ini")
    v = values(check_config("-c", str(f2),
                            extra_env={"JOBWRAP_CONFIG": str(f1)}))
    assert v["timeout"] == "9s"


def test_empty_environment_variable_means_none():
    assert values(check_config(extra_env={"JOBWRAP_CONFIG": ""})) \
        ["timeout"] == "1h"


def test_broken_environment_config_fails_runs(jw, tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = never\n")
    marker = tmp_path / "ran"
    r = jw.run(["--", "touch", str(marker)], env={"JOBWRAP_CONFIG": str(f)})
    assert r.rc == 125
    assert f"{f}:2:" in r.err.decode()
    assert not marker.exists()


def test_config_applies_to_a_run(jw, tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = 5m\nheartbeat = 0\n"
            "[profile short]\ntimeout = 250ms\nsignal = INT\n")
    r = jw.run(["-c", str(f), "-p", "short", "-k", "1s", "--", "sleep", "30"])
    assert r.rc == 124
    check_events(r.events)
    s = r.events[0]
    assert s["deadline_ms"] == 250
    assert s["config"]["timeout"] == "250ms"
    assert s["config"]["signal"] == "INT"
    assert s["config"]["heartbeat"] == "0"
    assert s["config"]["kill_after"] == "1s"
    assert r.find("signal")[0]["signal"] == "SIGINT"


def test_config_from_environment_applies_to_a_run(jw, tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntail_bytes = 3\n")
    r = jw.run(["--", "sh", "-c", "printf abcdef >&2"],
               env={"JOBWRAP_CONFIG": str(f)})
    assert r.rc == 0
    assert r.events[0]["config"]["tail_bytes"] == 3
    assert r.status["stderr_tail"] == "def"


def test_comments_blank_lines_and_bom(tmp_path):
    f = ini(tmp_path, b"\xef\xbb\xbf; comment\n# comment\n\n[jobwrap]\n"
            b"timeout = 2m ; inline comment\n\n  \n[profile x]\n")
    assert values(check_config("-c", str(f)))["timeout"] == "2m"


def test_crlf_line_endings(tmp_path):
    f = ini(tmp_path, "[jobwrap]\r\ntimeout = 3m\r\nsignal = HUP\r\n")
    v = values(check_config("-c", str(f)))
    assert v["timeout"] == "3m" and v["signal"] == "HUP"


def test_same_key_in_jobwrap_and_profile_is_no_duplicate(tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = 1m\n[profile a]\ntimeout = 2m\n"
            "[profile b]\ntimeout = 3m\n")
    assert values(check_config("-c", str(f), "-p", "b"))["timeout"] == "3m"


def test_empty_file_and_empty_sections(tmp_path):
    assert values(check_config("-c", str(ini(tmp_path, ""))))["timeout"] \
        == "1h"
    f = ini(tmp_path, "[jobwrap]\n[profile empty]\n", "e.ini")
    assert values(check_config("-c", str(f), "-p", "empty"))["timeout"] \
        == "1h"


def test_profile_names(tmp_path):
    longest = "p" * 41          # "profile " + 41 = 49 bytes, inih's limit
    f = ini(tmp_path, "[profile a.b_c-1]\ntimeout = 4s\n"
            f"[profile {longest}]\ntimeout = 5s\n")
    assert values(check_config("-c", str(f), "-p", "a.b_c-1"))["timeout"] \
        == "4s"
    assert values(check_config("-c", str(f), "-p", longest))["timeout"] \
        == "5s"


# ---- --check-config round trip -------------------------------------------

def test_check_config_round_trip(tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = 90m\nheartbeat = 250ms\n"
            "[profile p]\nkill_after = 1.5s\nsignal = 9\n")
    first = jobwrap("--check-config", "-c", str(f), "-p", "p",
                    "--tail-bytes", "77", "--run-id", "rid-1",
                    "--events-file", str(tmp_path / "ev"),
                    "--status-file", str(tmp_path / "st"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].startswith(";")
    back = ini(tmp_path, first.stdout, "back.ini")
    a, b = values(parse(first.stdout)), values(check_config("-c", str(back)))
    assert a == b
    assert a["signal"] == "KILL" and a["run_id"] == "rid-1"
    assert a["timeout"] == "1h30m" and a["kill_after"] == "1.5s"


@pytest.mark.parametrize("sig", ["RTMIN", "RTMIN+3", "RTMAX", "64", "USR2"])
def test_check_config_round_trip_of_signals(tmp_path, sig):
    first = jobwrap("--check-config", "-s", sig)
    assert first.returncode == 0
    value = values(parse(first.stdout))["signal"]
    assert value
    back = ini(tmp_path, first.stdout)
    assert values(check_config("-c", str(back)))["signal"] == value


@pytest.mark.parametrize("sig", ["32", "33"])
def test_signal_numbers_below_rtmin(tmp_path, sig):
    first = jobwrap("--check-config", "-s", sig)
    if first.returncode == 125:
        return              # refusing these numbers would be fine too
    value = values(parse(first.stdout))["signal"]
    assert value
    back = ini(tmp_path, first.stdout)
    assert values(check_config("-c", str(back)))["signal"] == value


@pytest.mark.parametrize("name", ["a ;b", " lead", "trail ", "new\nline"],
                         ids=["comment", "leading", "trailing", "newline"])
def test_check_config_never_prints_a_path_that_loads_back_wrong(tmp_path,
                                                                 name):
    """An ini value cannot hold these; --check-config must not pretend."""
    path = str(tmp_path / name)
    first = jobwrap("--check-config", "--events-file", path)
    if first.returncode == 125:
        return              # refusing such a path would be fine too
    back = ini(tmp_path, first.stdout)
    again = values(check_config("-c", str(back))).get("events_file")
    if again is None:
        line = [l for l in first.stdout.splitlines() if "events_file" in l]
        assert line and "cannot hold" in line[0], first.stdout
    else:
        assert again == path


def test_check_config_does_not_run_anything(tmp_path):
    marker = tmp_path / "ran"
    p = jobwrap("--check-config", "--", "touch", str(marker))
    assert p.returncode == 0
    assert not marker.exists()


# ---- ini errors -------------------------------------------------------------

@pytest.mark.parametrize("text,line,words", [
    ("[jobwrap]\nfoo = 1\n", 2, ["unknown key", "foo"]),
    ("[jobwrap]\n[bogus]\ntimeout = 1s\n", 2, ["unknown section", "bogus"]),
    ("[profile]\n", 1, ["unknown section"]),
    ("[profile a b]\n", 1, ["unknown section"]),
    ("[jobwrap]\ntimeout = 5x\n", 2, ["timeout", "5x"]),
    ("[jobwrap]\nkill_after = \n", 2, ["kill_after"]),
    ("[jobwrap]\nsignal = FOO\n", 2, ["signal", "FOO"]),
    ("[jobwrap]\ntail_bytes = -1\n", 2, ["tail_bytes"]),
    ("[jobwrap]\ntail_bytes = 1048577\n", 2, ["tail_bytes"]),
    ("[jobwrap]\nrun_id = a b\n", 2, ["run_id"]),
    ("[jobwrap]\nevents_fd = 2\n", 2, ["events_fd"]),
    ("[jobwrap]\ntimeout = 1s\nheartbeat = 1s\ntimeout = 2s\n", 4,
     ["duplicate", "timeout", "line 2"]),
    ("[profile a]\nsignal = INT\n\n; x\nsignal = HUP\n", 5,
     ["duplicate", "signal", "line 2"]),
    ("[jobwrap]\n[profile a]\n[jobwrap]\n", 3,
     ["duplicate section", "jobwrap", "line 1"]),
    ("[profile a]\n[profile a]\n", 2, ["duplicate section", "line 1"]),
    ("[jobwrap]\ntimeout = 1s\n  2s\n", 3, ["indent", "timeout"]),
    ("[jobwrap]\ntimeout = 1s\n\theartbeat = 2s\n", 3, ["indent"]),
    ("timeout = 1s\n[jobwrap]\n", 1, ["outside", "timeout"]),
    ("[jobwrap]\nnonsense\n", 2, ["syntax"]),
    ("[jobwrap\ntimeout = 1s\n", 1, ["syntax"]),
    ("[jobwrap]\ntimeout = 1s\n\n\n= 5\n", 5, []),
    ("[profile good]\ntimeout = 1s\n[profile other]\ntimeout = zz\n", 4,
     ["timeout", "zz"]),           # a profile not chosen is checked too
    ("[jobwrap]\n[profile %s]\n" % ("x" * 42), 2, ["section"]),
])
def test_ini_errors(tmp_path, text, line, words):
    got_line, msg = error(ini(tmp_path, text))
    assert got_line == line, msg
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


@pytest.mark.parametrize("text,line,words", [
    ("[jobwrap]\nseccomp = nosuch\n", 2, ["no section [seccomp nosuch]"]),
    ("[jobwrap]\nrlimit_nofile = many\n", 2, ["rlimit_nofile", "number"]),
    ("[jobwrap]\nrlimit_cpu = 0\n", 2, ["CPU time"]),
    ("[seccomp x]\ndeny = ptrace, nosuchcall\n", 2,
     ["nosuchcall", "unknown system call"]),
    ("[seccomp x]\ndeny = @nosuch\n", 2, ["unknown group"]),
    ("[seccomp x]\naction = maybe\n", 2, ["errno, kill or log"]),
    ("[seccomp x]\nerrno = EWHAT\n", 2, ["errno name"]),
    ("[seccomp x]\nerrno = 0\n", 2, ["1 to 4095"]),
    ("[seccomp x]\nbogus = 1\n", 2, ["unknown key", "deny, allow"]),
    ("[seccomp x]\n\nallow = mount\ndeny = ptrace\n", 3,
     ["allow = mount", "not denied"]),
    ("[seccomp x]\nallow = @mount\n", 2, ["group cannot be allowed"]),
    ("[seccomp off]\n", 1, ["built in"]),
    ("[seccomp contain]\ndeny = ptrace\n", 1, ["built in"]),
    ("[seccomp x]\n[seccomp x]\n", 2, ["duplicate section"]),
    ("[seccomp x]\naction = kill\n  log\n", 3, ["indented line"]),
    # A list continued on indented lines: the line of its key.
    ("[seccomp x]\ndeny = ptrace\n  nosuch2\n", 2, ["nosuch2"]),
    ("[jobwrap]\n[profile p]\nseccomp = missing\n", 3,
     ["no section [seccomp missing]"]),
    ("[jobwrap]\nrlimit_nofile = unlimited\n", 2, ["fs.nr_open"]),
    # Sections not chosen are checked all the same.
    ("[jobwrap]\nseccomp = off\n[seccomp unused]\ndeny = nope\n", 4,
     ["nope"]),
])
def test_sandbox_ini_errors(tmp_path, text, line, words):
    got_line, msg = error(ini(tmp_path, text))
    assert got_line == line, msg
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)


def test_check_config_with_a_seccomp_section_loads_back(tmp_path):
    f = ini(tmp_path, "[jobwrap]\nseccomp = dev\n[seccomp dev]\n"
            "allow = ptrace\naction = errno\nerrno = ENOSYS\n")
    p = jobwrap("-c", f, "--check-config")
    assert p.returncode == 0, p.stderr
    again = tmp_path / "again.ini"
    again.write_text(p.stdout)
    q = jobwrap("-c", str(again), "--check-config")
    assert q.returncode == 0, q.stderr
    tail = p.stdout[p.stdout.index("[seccomp dev]"):]
    assert tail == q.stdout[q.stdout.index("[seccomp dev]"):]
    assert "ptrace" not in tail and " mount" in tail
    assert "errno = ENOSYS" in tail
    assert max(len(x) for x in p.stdout.splitlines()) < 200   # inih's limit


def test_seccomp_section_chosen_and_continued(tmp_path):
    f = ini(tmp_path, "[jobwrap]\nseccomp = mine\n[seccomp mine]\n"
            "deny = ptrace\n  mount,\n\tbpf\naction = errno\n"
            "errno = ENOSYS\n")
    p = jobwrap("-c", f, "--check-config")
    assert p.returncode == 0, p.stderr
    assert f"seccomp = mine\t; {f}:2" in p.stdout


def test_missing_profile(tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = 1s\n[profile a]\n; last\n")
    got_line, msg = error(f, "-p", "nope")
    assert got_line == 4            # the last line of the file
    assert "nope" in msg


def test_missing_profile_from_environment_file(tmp_path):
    f = ini(tmp_path, "[jobwrap]\n")
    p = jobwrap("--check-config", "-p", "nope",
                extra_env={"JOBWRAP_CONFIG": str(f)})
    assert p.returncode == 125
    assert f"{f}:1:" in p.stderr and "nope" in p.stderr


def test_profile_without_config_file():
    p = jobwrap("--check-config", "-p", "fast")
    assert p.returncode == 125
    assert "fast" in p.stderr
    p = jobwrap("-p", "fast", "--", "true")
    assert p.returncode == 125


def test_missing_config_file(tmp_path):
    f = tmp_path / "absent.ini"
    p = jobwrap("--check-config", "-c", str(f))
    assert p.returncode == 125
    assert str(f) in p.stderr


def test_only_the_first_error_is_reported(tmp_path):
    got_line, _ = error(ini(tmp_path, "[jobwrap]\nfoo = 1\nbar = 2\n"))
    assert got_line == 2


def test_command_line_cannot_repair_a_bad_file(tmp_path):
    f = ini(tmp_path, "[jobwrap]\ntimeout = bad\n")
    p = jobwrap("--check-config", "-c", str(f), "-t", "1s")
    assert p.returncode == 125


# ---- line length -----------------------------------------------------------

LIMIT = 198         # bytes of a line without its newline (CR included)


def long_line(n):
    """An events_file setting of exactly n bytes."""
    k = "events_file = /"
    return k + "x" * (n - len(k))


@pytest.mark.parametrize("end", ["\n", ""], ids=["newline", "last-line"])
def test_longest_line_accepted(tmp_path, end):
    f = ini(tmp_path, "[jobwrap]\n" + long_line(LIMIT) + end)
    v = values(check_config("-c", str(f)))
    assert len("events_file = " + v["events_file"]) == LIMIT


def test_longest_crlf_line_accepted(tmp_path):
    f = ini(tmp_path, "[jobwrap]\r\n" + long_line(LIMIT - 1) + "\r\n")
    check_config("-c", str(f))


@pytest.mark.parametrize("text,line", [
    ("[jobwrap]\n" + long_line(LIMIT + 1) + "\n", 2),
    ("[jobwrap]\n" + long_line(LIMIT + 200) + "\ntimeout = 1s\n", 2),
    ("[jobwrap]\r\n" + long_line(LIMIT) + "\r\n", 2),
    ("; " + "c" * 300 + "\n[jobwrap]\n", 1),
], ids=["one-more", "much-longer", "crlf", "comment"])
def test_too_long_line(tmp_path, text, line):
    got_line, msg = error(ini(tmp_path, text))
    assert got_line == line
    assert f"longer than {LIMIT} bytes" in msg


def test_too_long_last_line_without_newline(tmp_path):
    got_line, msg = error(ini(tmp_path, "[jobwrap]\n" + long_line(LIMIT + 1)))
    assert got_line == 2
    assert f"longer than {LIMIT} bytes" in msg


# ---- durations and signals --------------------------------------------------

DURATIONS = [
    ("250ms", "250ms"), ("30s", "30s"), ("5m", "5m"), ("2h", "2h"),
    ("1h30m", "1h30m"), ("1.5s", "1.5s"), ("90", "1m30s"), ("0", "0"),
    ("90m", "1h30m"), ("1500ms", "1.5s"), ("0.25s", "250ms"),
    ("3600s", "1h"), ("1.5", "1.5s"), ("0.5h", "30m"), ("1m0.5s", "1m0.5s"),
    ("2h3m4s5ms", "2h3m4.005s"), ("0ms", "0"), ("1ms", "1ms"),
    ("1.25m", "1m15s"), ("100h", "100h"), ("59.999s", "59.999s"),
]


def test_durations():
    """Three durations per call (-t, -k, --heartbeat): fewer runs."""
    for i in range(0, len(DURATIONS), 3):
        batch = DURATIONS[i:i + 3]
        args = []
        for opt, (given, _) in zip(["-t", "-k", "--heartbeat"], batch):
            args += [opt, given]
        v = values(check_config(*args))
        for key, (given, want) in zip(["timeout", "kill_after", "heartbeat"],
                                      batch):
            assert v[key] == want, (given, v[key], want)


@pytest.mark.parametrize("bad", ["1h30", "5x", "", "-1s", ".5s", "1 s",
                                 "1.0001s", "1ss", "99999999999999999999h",
                                 "1S", "1.5.5s"])
def test_bad_durations(bad):
    p = jobwrap("--check-config", "-t", bad)
    assert p.returncode == 125, (bad, p.stdout)
    assert "--timeout" in p.stderr


def test_bad_duration_in_file_names_the_line(tmp_path):
    got_line, msg = error(ini(tmp_path, "[jobwrap]\n\nheartbeat = 1h30\n"))
    assert got_line == 3 and "heartbeat" in msg


@pytest.mark.parametrize("given,name", [
    ("INT", "INT"), ("2", "INT"), ("SIGHUP", "HUP"), ("sigusr1", "USR1"),
    ("RTMIN+1", "RTMIN+1"),
])
def test_signals(given, name):
    assert values(check_config("-s", given))["signal"] == name


@pytest.mark.parametrize("bad", ["FOO", "0", "65", "SIG", "", "TERM2",
                                 "RTMIN+31"])
def test_bad_signals(bad):
    p = jobwrap("--check-config", "-s", bad)
    assert p.returncode == 125, (bad, p.stdout)


@pytest.mark.parametrize("n,ok", [("0", True), ("1048576", True),
                                  ("1048577", False), ("-1", False),
                                  ("1k", False)])
def test_tail_bytes_values(n, ok):
    p = jobwrap("--check-config", "--tail-bytes", n)
    assert (p.returncode == 0) == ok, (n, p.stderr)


@pytest.mark.parametrize("rid,ok", [("a" * 128, True), ("a" * 129, False),
                                    ("x-1:2/3", True), ("a b", False),
                                    ("", False), ("caf\u00e9", False)])
def test_run_id_values(rid, ok):
    p = jobwrap("--check-config", "--run-id", rid)
    assert (p.returncode == 0) == ok, (rid, p.stderr)


# ---- options ----------------------------------------------------------------

@pytest.mark.parametrize("opts", BAD_SANDBOX_CLI,
                         ids=[" ".join(o) for o in BAD_SANDBOX_CLI])
def test_bad_sandbox_options(tmp_path, opts):
    marker = tmp_path / "ran"
    p = jobwrap(*opts, "--", "touch", str(marker))
    assert p.returncode == 125
    assert p.stderr.startswith(f"jobwrap: {opts[0]} "), p.stderr
    assert not marker.exists()


def test_unknown_option():
    p = jobwrap("--frobnicate", "--", "true")
    assert p.returncode == 125
    assert "--frobnicate" in p.stderr


def test_unknown_short_option():
    p = jobwrap("-Z", "--", "true")
    assert p.returncode == 125


def test_command_options_are_not_ours(jw):
    """Options after the command belong to the command."""
    r = jw.run(["sh", "-c", "echo $1", "x", "--retries"])
    assert r.rc == 0
    assert r.out == b"--retries\n"


def test_help_and_version():
    p = jobwrap("--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: jobwrap")
    p = jobwrap("--version")
    assert p.returncode == 0 and p.stdout.startswith("jobwrap ")


@pytest.mark.parametrize("fd,setup,why", [
    ("2", None, "3 or more"),
    ("0", None, "3 or more"),
    ("x", None, ""),
    ("97", None, "not an open"),
    ("97", "r", "reading"),
])
def test_bad_events_fd(tmp_path, fd, setup, why):
    marker = tmp_path / "ran"
    kw = {}
    if setup == "r":
        rfd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(rfd, 97)
        os.close(rfd)
        kw["pass_fds"] = (97,)
    try:
        p = jobwrap("--events-fd", fd, "--", "touch", str(marker), **kw)
    finally:
        if setup == "r":
            os.close(97)
    assert p.returncode == 125
    assert why in p.stderr
    assert not marker.exists()


# ---- retries, patterns, notify ---------------------------------------------

@pytest.mark.parametrize("kv,ok", [
    ("retries = 1000", True), ("retries = 1001", False), ("retries = -1", False),
    ("retry_on = nonzero", True), ("retry_on = exit:3, exit:10-20 ,idle", True),
    ("retry_on = exit:0", False), ("retry_on = exit:256", False),
    ("retry_on = exit:9-3", False), ("retry_on = exit:", False),
    ("retry_on = nonzero,", False), ("retry_on = timeout", False),
    ("retry_pattern = ^(Transient|Retrying) ", True),
    ("retry_pattern = a(b", False), ("error_pattern = [z-a]", False),
    ("error_pattern = x{2,1}", False), ("retry_pattern =", True),
    ("notify = no", True), ("notify = OFF", True), ("notify = 1", True),
    ("notify = maybe", False), ("backoff = 0", True), ("backoff = 5x", False),
    ("on_parent_death = continue", True), ("on_parent_death = kill", True),
    ("on_parent_death = Kill", False), ("on_parent_death = ignore", False),
])
def test_retry_pattern_notify_values(tmp_path, kv, ok):
    f = ini(tmp_path, f"[jobwrap]\n; comment\n{kv}\n")
    if ok:
        p = jobwrap("--check-config", "-c", str(f))
        assert p.returncode == 0, p.stderr
    else:
        got_line, msg = error(f)
        assert got_line == 3, msg
        assert kv.split(" =")[0] in msg


def test_bad_regex_says_why(tmp_path):
    got_line, msg = error(ini(tmp_path, "[jobwrap]\nerror_pattern = a(b\n"))
    assert got_line == 2
    assert "regular expression" in msg and "(" in msg


def test_no_notify_and_notify_last_wins():
    assert values(check_config("--no-notify"))["notify"] == "no"
    assert values(check_config("--no-notify", "--notify"))["notify"] == "yes"
    assert values(check_config("--notify", "--no-notify"))["notify"] == "no"


def test_profile_drops_a_pattern(tmp_path):
    f = ini(tmp_path, "[jobwrap]\nretry_pattern = x\n[profile p]\n"
            "retry_pattern =\n")
    assert values(check_config("-c", str(f)))["retry_pattern"] == "x"
    assert "retry_pattern" not in values(check_config("-c", str(f), "-p", "p"))


def test_pattern_round_trips_through_check_config(tmp_path):
    pat = r"^(Transient OpenAI (error|failure)|\[FPF\]) .*[0-9]+/[0-9]+$"
    p = jobwrap("--check-config", "--retry-pattern", pat)
    assert p.returncode == 0
    f = ini(tmp_path, p.stdout)
    assert values(check_config("-c", str(f)))["retry_pattern"] == pat
