"""A supervisor SIGKILLed after starting the command but before recording
its process group: --reap must still find what the command started (by the
tag every process of the job carries in its environment).

Found by the soak (`make soak`, SOAK_SEED=6 SOAK_ONLY=580 SOAK_JOBS=8:
`jwchild tree 13`, jobwrap SIGTERMed then SIGKILLed 11 ms after its start;
six processes of the job's group outlived `jobwrap --reap`, whose reason
said "no process of it left").  jobwrap starts the command, emits `spawn`
and only then writes the status that names the process group (a write
with two fsyncs: milliseconds, while the command runs and forks).  Killed
in that window, the supervisor leaves a status with `pgid: null`, and
--reap orphaned the run without killing anything.  The job's processes now
carry JOBWRAP_JOB_<tag>=1, the tag being in the status from its first write.

The window is held open here without a race: the events file is a FIFO
whose one-page buffer is full, so jobwrap blocks in the events flush that
comes right before that status write, with the command already running.
"""
import fcntl
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, helper, load_status, tagged_pids, wait_for

F_SETPIPE_SZ = 1031


def test_reap_finds_the_group_of_a_supervisor_killed_before_its_status(
        jw, tmp_path):
    fifo = tmp_path / "run.events"
    os.mkfifo(fifo)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    wr = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    fcntl.fcntl(rd, F_SETPIPE_SZ, 4096)
    try:
        while True:
            os.write(wr, b"x" * 512)
    except BlockingIOError:
        pass
    os.close(wr)
    left, tag = [], None
    try:
        p, tag, _, st = jw.start(["--events-file", str(fifo), "--",
                                  helper("jwchild"), "fan", "3"],
                                 events=False, stdin=subprocess.DEVNULL)
        # jobwrap, the command and its three children.
        assert wait_for(lambda: len(tagged_pids(tag)) >= 5), \
            "the command did not start: the window moved"
        status = load_status(st)
        assert status["state"] == "running"
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = subprocess.run([BIN, "--reap", str(st)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        assert load_status(st)["state"] == "orphaned"
        time.sleep(0.2)
        left = tagged_pids(tag)
        assert not left, (f"--reap left the job's processes alive: {left}; "
                          f"status: {status}; reap: {r.stdout}")
    finally:
        os.close(rd)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        wait_for(lambda: not set(left) & set(tagged_pids(tag)), timeout=5)
