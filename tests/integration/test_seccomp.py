"""Containment: seccomp profiles (contain, off, [seccomp NAME]) and rlimits,
checked from inside real children (tests/helpers/jwsys makes the calls).

Every call below is made with harmless arguments (-1 pointers, fds and
pids): unfiltered, the kernel refuses each with EFAULT, EBADF, EINVAL,
ESRCH or ENOSYS, so an errno of the filter's choosing can only come from
the filter.
"""
import errno
import os
import resource
import shutil
import subprocess

import pytest

from conftest import BIN, ROOT, check_events, helper, parse_event

SYS = "jwsys"
CONTAIN = [
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "perf_event_open", "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load", "reboot", "mount", "umount2",
    "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "swapon", "swapoff", "add_key", "request_key",
    "keyctl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "bpf", "syslog", "acct", "iopl", "ioperm", "open_by_handle_at",
    "userfaultfd", "lookup_dcookie",
]


def results(out):
    """jwsys output -> {call: "ok" or errno name}."""
    return dict(line.split() for line in out.decode().splitlines())


def ini(tmp_path, text):
    f = tmp_path / "jobwrap.ini"
    f.write_text(text)
    return str(f)


def calls(jw, opts, *args):
    r = jw.run([*opts, "--", helper(SYS), *args])
    assert r.rc == 0, (r.err, r.status and r.status["reason"])
    check_events(r.events)
    return results(r.out), r


# ---- contain, off, named profiles ------------------------------------------

def test_contain_is_the_default_and_denies_each_call_with_eperm(jw):
    got, r = calls(jw, [], "call", *CONTAIN, "getppid")
    assert got.pop("getppid") == "ok"
    assert got == {c: "EPERM" for c in CONTAIN}
    cfg = r.events[0]["config"]
    assert cfg["seccomp"] == "contain"
    f = cfg["seccomp_filter"]
    assert f["action"] == "errno" and f["errno"] == "EPERM"
    assert set(CONTAIN) <= set(f["deny"]) and f["deny"] == sorted(f["deny"])


def test_configured_errno_comes_back_from_every_denied_call(jw, tmp_path):
    f = ini(tmp_path, "[seccomp odd]\nerrno = EHOSTDOWN\n")
    got, r = calls(jw, ["-c", f, "--seccomp", "odd"], "call", *CONTAIN)
    assert got == {c: "EHOSTDOWN" for c in CONTAIN}
    assert r.events[0]["config"]["seccomp_filter"]["errno"] == "EHOSTDOWN"


def test_off_really_is_off(jw, tmp_path):
    # Not one call meets a filter: the kernel's own answers come back, and
    # the kernel says the process has no filter and no NO_NEW_PRIVS.
    f = ini(tmp_path, "[seccomp odd]\nerrno = EHOSTDOWN\n")
    got, r = calls(jw, ["-c", f, "--seccomp", "off"], "call", *CONTAIN)
    assert "EHOSTDOWN" not in got.values()
    assert r.events[0]["config"]["seccomp_filter"] is None
    r = jw.run(["--seccomp", "off", "--", "grep", "-E",
                "^(Seccomp|NoNewPrivs):", "/proc/self/status"])
    assert sorted(r.out.decode().split()) == sorted(
        ["Seccomp:", "0", "NoNewPrivs:", "0"])


def test_contain_is_seen_by_the_kernel(jw):
    r = jw.run(["--", "grep", "-E", "^(Seccomp|NoNewPrivs):",
                "/proc/self/status"])
    assert sorted(r.out.decode().split()) == sorted(
        ["Seccomp:", "2", "NoNewPrivs:", "1"])


def test_x32_calls_meet_the_same_rules(jw):
    # Through the x32 ABI (syscall number | 0x40000000) a denied call gets
    # the filter's EPERM, not the default action, whether or not this
    # kernel runs x32 programs at all (unfiltered here: ENOSYS).
    got, _ = calls(jw, [], "x32", "mount", "ptrace", "kexec_load",
                   "process_vm_writev")
    assert set(got.values()) == {"EPERM"}, got
    off, _ = calls(jw, ["--seccomp", "off"], "x32", "mount", "ptrace")
    assert "EPERM" not in off.values(), off


def test_the_job_cannot_signal_jobwrap_its_group_or_everyone(jw):
    got, r = calls(jw, [], "signal")
    assert got == {"kill-jobwrap": "EPERM", "kill-group": "EPERM",
                   "kill-all": "EPERM", "tgkill-jobwrap": "EPERM",
                   "pidfd-jobwrap": "EPERM", "kill-self": "ok"}
    assert r.status["state"] == "succeeded"
    off, _ = calls(jw, ["--seccomp", "off"], "signal")
    assert set(off.values()) == {"ok"}


def test_no_pidfd_signal_reaches_the_supervisor(jw):
    # open("/proc/PID") is a pidfd too, without pidfd_open.
    code = ("import os, signal\n"
            "fd = os.open(f'/proc/{os.getppid()}', os.O_RDONLY)\n"
            "try:\n    signal.pidfd_send_signal(fd, signal.SIGKILL)\n"
            "except PermissionError:\n    print('refused')\n")
    r = jw.run(["--", "python3", "-c", code])
    assert r.out == b"refused\n" and r.rc == 0, r.err
    assert r.status["state"] == "succeeded"


GUARD = """
import fcntl, os, resource, signal
ppid = os.getppid()
def tryit(name, f):
    try:
        f()
        print(name, "ok")
    except PermissionError:
        print(name, "EPERM")
r, w = os.pipe()
tryit("setown", lambda: fcntl.fcntl(w, fcntl.F_SETOWN, ppid))
tryit("setown-group", lambda: fcntl.fcntl(w, fcntl.F_SETOWN, -os.getpgid(ppid)))
tryit("setown-self", lambda: fcntl.fcntl(w, fcntl.F_SETOWN, os.getpid()))
tryit("prlimit", lambda: resource.prlimit(ppid, resource.RLIMIT_FSIZE, (0, 0)))
tryit("prlimit-self", lambda: resource.prlimit(0, resource.RLIMIT_CORE, (0, 0)))
tryit("join", lambda: os.setpgid(0, os.getpgid(ppid)))
tryit("own-group", lambda: os.setpgid(0, 0))
"""


def test_no_indirect_signal_reaches_the_supervisor(jw):
    # SIGIO to a descriptor's owner, SIGXFSZ after lowering its limit,
    # kill(0) after joining its group: each refused where it names
    # jobwrap, allowed where it names the job itself.
    r = jw.run(["--", "python3", "-c", GUARD])
    assert r.rc == 0, r.err
    assert results(r.out) == {
        "setown": "EPERM", "setown-group": "EPERM", "setown-self": "ok",
        "prlimit": "EPERM", "prlimit-self": "ok", "join": "EPERM",
        "own-group": "ok"}
    assert r.status["state"] == "succeeded"


def test_a_log_profile_keeps_the_protection(jw, tmp_path):
    # action = log lets denied calls through: not those that would reach
    # the supervisor.
    f = ini(tmp_path, "[seccomp audit]\ndeny = kill, mount\naction = log\n")
    r = jw.run(["-c", f, "--seccomp", "audit", "--", "sh", "-c",
                "kill -9 $PPID; echo survived"])
    assert r.out == b"survived\n" and r.rc == 0
    assert r.status["state"] == "succeeded"


def test_a_kill_minus_one_does_not_reach_the_supervisor(jw):
    # The worst a same-user job can do: SIGKILL everything it may signal.
    r = jw.run(["--", "sh", "-c", "kill -KILL -1; echo still here"])
    assert r.rc == 0 and r.out == b"still here\n"
    assert r.status["state"] == "succeeded"


def test_allow_is_an_exception_to_deny(jw, tmp_path):
    f = ini(tmp_path, "[seccomp dev]\nallow = ptrace, perf_event_open\n")
    got, r = calls(jw, ["-c", f, "--seccomp", "dev"], "call", "ptrace",
                   "perf_event_open", "mount")
    assert got["ptrace"] != "EPERM" and got["perf_event_open"] != "EPERM"
    assert got["mount"] == "EPERM"
    deny = r.events[0]["config"]["seccomp_filter"]["deny"]
    assert "ptrace" not in deny and "mount" in deny


def test_deny_replaces_contain_and_takes_groups(jw, tmp_path):
    f = ini(tmp_path, "[jobwrap]\nseccomp = narrow\n[seccomp narrow]\n"
            "deny = @keyring\n  getppid\nerrno = ENOSYS\n")
    got, r = calls(jw, ["-c", f], "call", "keyctl", "add_key", "getppid",
                   "mount")
    assert got == {"keyctl": "ENOSYS", "add_key": "ENOSYS",
                   "getppid": "ENOSYS", "mount": "EFAULT"}
    assert r.events[0]["config"]["seccomp_filter"]["deny"] == sorted(
        ["add_key", "getppid", "keyctl", "request_key"])


def test_action_kill_ends_the_job_with_sigsys(jw, tmp_path):
    f = ini(tmp_path, "[seccomp strict]\naction = kill\n")
    r = jw.run(["-c", f, "--seccomp", "strict", "--", helper(SYS), "call",
                "getppid", "mount"])
    assert r.out == b"getppid ok\n"
    assert r.rc == 128 + 31 and r.status["state"] == "signaled"
    assert r.status["signal"] == "SIGSYS"
    assert r.events[0]["config"]["seccomp_filter"]["action"] == "kill"
    assert r.events[0]["config"]["seccomp_filter"]["errno"] is None


def test_action_log_lets_the_call_through(jw, tmp_path):
    f = ini(tmp_path, "[seccomp audit]\naction = log\n")
    got, _ = calls(jw, ["-c", f, "--seccomp", "audit"], "call", "mount")
    assert got == {"mount": "EFAULT"}


def test_a_profile_in_a_profile_section(jw, tmp_path):
    f = ini(tmp_path, "[profile tools]\nseccomp = off\n")
    r = jw.run(["-c", f, "-p", "tools", "--", "grep", "^Seccomp:",
                "/proc/self/status"])
    assert r.out.split() == [b"Seccomp:", b"0"]


def test_nested_filters_stack(jw):
    # jobwrap under jobwrap (a static binary under contain): the inner one
    # installs its filter on top; both hold.
    static = str(ROOT / "shim" / "jobwrap")    # not ASan: LSan needs ptrace
    r = jw.run(["--", static, "--", helper(SYS), "call", "mount", "getppid"])
    assert r.rc == 0, r.err
    assert results(r.out) == {"mount": "EPERM", "getppid": "ok"}


# ---- compatibility under contain --------------------------------------------

def test_bash_with_job_control(jw):
    r = jw.run(["--", "bash", "-c",
                "set -m; sleep 0.2 & sleep 0.1 & jobs | wc -l; "
                "fg %1 >/dev/null; wait; echo done"])
    assert r.rc == 0, r.err
    assert r.out.split() == [b"2", b"done"]


def test_make_j4(jw, tmp_path):
    (tmp_path / "Makefile").write_text(
        "all: a b c d\n" + "".join(
            f"{t}:\n\t@sleep 0.1; echo {t} > {t}.out\n" for t in "abcd"))
    r = jw.run(["--", "make", "-s", "-j4", "-C", str(tmp_path)])
    assert r.rc == 0, r.err
    assert all((tmp_path / f"{t}.out").exists() for t in "abcd")


def test_python3_with_subprocesses_and_threads(jw):
    code = ("import multiprocessing as m, subprocess, threading, os\n"
            "def sq(x): return x * x\n"
            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
            "print(sum(m.Pool(2).map(sq, range(10))))\n"
            "print(subprocess.run(['true']).returncode)\n"
            "print(os.getrandom(4) is not None)\n")
    r = jw.run(["--", "python3", "-c", code])
    assert r.rc == 0, r.err
    assert r.out.split() == [b"285", b"0", b"True"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_node_with_a_child_process(jw):
    code = ("const cp = require('child_process');"
            "const r = cp.spawnSync('sh', ['-c', 'echo from-child']);"
            "require('fs').readFile('/proc/self/status', (e, d) =>"
            " console.log(r.stdout.toString().trim(), !e));")
    r = jw.run(["--", "node", "-e", code])
    assert r.rc == 0, r.err
    assert r.out.split() == [b"from-child", b"true"]


# ---- rlimits ----------------------------------------------------------------

def limits_of_child(jw, opts):
    r = jw.run([*opts, "--", "cat", "/proc/self/limits"])
    assert r.rc == 0, r.err
    rows = {}
    for line in r.out.decode().splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        rows[name] = (soft, hard)
    return rows, r


def test_rlimits_are_applied_in_the_child(jw):
    rows, r = limits_of_child(jw, [
        "--rlimit-nofile", "64", "--rlimit-core", "0", "--rlimit-as", "4G",
        "--rlimit-cpu", "1m", "--rlimit-nproc", "5000",
        "--rlimit-fsize", "1M"])
    assert rows["Max open files"] == ("64", "64")
    assert rows["Max core file size"] == ("0", "0")
    assert rows["Max address space"] == (str(4 << 30),) * 2
    assert rows["Max cpu time"] == ("60", "61")      # SIGXCPU, then SIGKILL
    assert rows["Max processes"] == ("5000", "5000")
    assert rows["Max file size"] == (str(1 << 20),) * 2
    cfg = r.events[0]["config"]
    assert cfg["rlimit_nofile"] == 64 and cfg["rlimit_cpu"] == 60
    assert cfg["rlimit_as"] == 4 << 30 and cfg["rlimit_core"] == 0


def test_rlimit_unlimited(jw):
    rows, r = limits_of_child(jw, ["--rlimit-core", "unlimited"])
    assert rows["Max core file size"] == ("unlimited", "unlimited")
    assert r.events[0]["config"]["rlimit_core"] == "unlimited"


def test_jobwrap_itself_keeps_its_limits(jw):
    # The limits are the job's: jobwrap must still open its files.
    r = jw.run(["--rlimit-nofile", "8", "--", "sh", "-c", "exec 7>/dev/null"])
    assert r.rc == 0 and r.status["state"] == "succeeded"


def test_cpu_limit_kill_says_so(jw):
    r = jw.run(["--rlimit-cpu", "1", "--", "sh", "-c", "while :; do :; done"],
               timeout=30)
    assert r.rc == 128 + 24 and r.status["state"] == "signaled"
    assert r.status["signal"] == "SIGXCPU"
    assert "CPU time limit of 1s (--rlimit-cpu)" in r.status["reason"]


def test_cpu_limit_kill_of_a_job_ignoring_sigxcpu(jw):
    r = jw.run(["--rlimit-cpu", "1", "--", "sh", "-c",
                "trap '' XCPU; while :; do :; done"], timeout=30)
    assert r.rc == 128 + 9 and r.status["signal"] == "SIGKILL"
    assert "CPU time limit of 1s (--rlimit-cpu)" in r.status["reason"]
    assert "did not send" not in r.status["reason"]


def test_file_size_limit_kill_says_so(jw, tmp_path):
    r = jw.run(["--rlimit-fsize", "4K", "--", "dd", "if=/dev/zero",
                f"of={tmp_path}/big", "bs=10000", "count=1"])
    assert r.status["signal"] == "SIGXFSZ", r.status
    assert "size limit of 4096 bytes (--rlimit-fsize)" in r.status["reason"]


def test_nofile_limit_reaches_the_command(jw):
    r = jw.run(["--rlimit-nofile", "16", "--", "python3", "-c",
                "import os\nfds=[]\ntry:\n  while True: fds.append("
                "os.open('/dev/null', 0))\nexcept OSError as e:\n"
                "  print(e.errno == 24, len(fds) < 16)"])
    assert r.out.split() == [b"True", b"True"], r.err


def test_rlimits_from_the_ini(jw, tmp_path):
    f = ini(tmp_path, "[jobwrap]\nrlimit_nofile = 100\nrlimit_fsize = 2k\n")
    rows, _ = limits_of_child(jw, ["-c", f])
    assert rows["Max open files"] == ("100", "100")
    assert rows["Max file size"] == ("2048", "2048")


def test_a_limit_that_cannot_be_set_is_spawn_failed(jw):
    # Above jobwrap's own hard limit, without CAP_SYS_RESOURCE (dropped
    # from the bounding set by setpriv, so it is gone after exec).
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv missing")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    marker = jw.tmp / "ran"
    ev_file = jw.tmp / "events"
    p = subprocess.run(
        ["setpriv", "--bounding-set=-sys_resource", BIN,
         "--rlimit-nofile", str(hard + 1), "--events-file", str(ev_file),
         "--", "touch", str(marker)],
        capture_output=True, timeout=30, env=jw.env("rlimit-eperm"))
    assert p.returncode == 125, p.stderr
    ev = [parse_event(x) for x in ev_file.read_text().splitlines()]
    assert [e["event"] for e in ev] == ["start", "spawn_failed", "exit"]
    assert ev[1]["errno"] == errno.EPERM
    assert f"--rlimit-nofile {hard + 1}" in ev[1]["error"]
    assert ev[2]["state"] == "spawn_failed"
    assert not marker.exists()
