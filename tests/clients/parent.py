#!/usr/bin/env python3
"""A server-style parent in Python (asyncio): start one run under jobwrap
and keep its events in a database as they come.

usage: parent.py DB RUNDIR RUN_ID [JOBWRAP_OPTION...] -- COMMAND [ARG...]

DB is an SQLite file standing for the server's own database.  Each event is
stored in the same transaction as the run's last seq, so after a restart
reattach.py knows exactly where to resume.  Exits with jobwrap's status.
"""
import asyncio
import json
import os
import sqlite3
import sys

JOBWRAP = os.environ.get("JOBWRAP", "jobwrap")
LINE_LIMIT = 1 << 20    # an event line reaches 64 KiB, asyncio's default limit


def open_db(path):
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY, state TEXT, exit_code INTEGER,
            last_seq INTEGER NOT NULL DEFAULT 0,
            status_file TEXT, events_file TEXT);
        CREATE TABLE IF NOT EXISTS events (
            run_id TEXT, seq INTEGER, event TEXT, body TEXT,
            PRIMARY KEY (run_id, seq));""")
    return db


def record(db, ev):
    """Store one event.  A seq stored twice is a bug, and raises."""
    with db:    # one transaction: a killed parent leaves both or neither
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)",
                   (ev["run_id"], ev["seq"], ev["event"], json.dumps(ev)))
        db.execute("UPDATE runs SET last_seq = ? WHERE run_id = ?",
                   (ev["seq"], ev["run_id"]))
        if ev["event"] == "exit":
            db.execute("UPDATE runs SET state = ?, exit_code = ? "
                       "WHERE run_id = ?",
                       (ev["state"], ev["exit_code"], ev["run_id"]))
    print(ev["run_id"], ev["seq"], ev["event"], flush=True)


def settle(db, run_id):
    """Take the end from the status file if the exit event was not read:
    jobwrap dropped a reader too slow for it, or died.  The terminal status
    is written before the exit event, and is the record of last resort."""
    (path,) = db.execute("SELECT status_file FROM runs WHERE run_id = ?",
                         (run_id,)).fetchone()
    try:
        with open(path) as f:
            st = json.load(f)
    except FileNotFoundError:   # written before anything is started
        st = {"state": "never_started", "exit_code": None}
    if st["state"] != "running":
        with db:
            db.execute("UPDATE runs SET state = ?, exit_code = ? "
                       "WHERE run_id = ? AND state = 'running'",
                       (st["state"], st["exit_code"], run_id))


async def main(db_path, rundir, run_id, args):
    db = open_db(db_path)
    # Absolute paths: they are written into the status and the events, and
    # read again by a restarted server that may run elsewhere.
    status = os.path.abspath(os.path.join(rundir, run_id + ".status"))
    events = os.path.abspath(os.path.join(rundir, run_id + ".events"))
    with db:    # the row exists before the run can
        db.execute("INSERT INTO runs (run_id, state, status_file, "
                   "events_file) VALUES (?, 'running', ?, ?)",
                   (run_id, status, events))

    r, w = os.pipe()
    # The pipe's own fd number is passed as --events-fd: pass_fds keeps it
    # open in jobwrap under the same number, no dup2 or preexec_fn needed.
    proc = await asyncio.create_subprocess_exec(
        JOBWRAP, "--run-id", run_id, "--status-file", status,
        "--events-file", events, "--events-fd", str(w), *args,
        stdin=asyncio.subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)     # jobwrap holds the only write end now: EOF = it exited

    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(r, "rb"))
    async for line in reader:
        record(db, json.loads(line))
    code = await proc.wait()
    settle(db, run_id)  # if no exit event was read, the status has the end
    return code


if __name__ == "__main__":
    if len(sys.argv) < 5 or "--" not in sys.argv:
        sys.exit(__doc__.split("\n\n")[1])
    sys.exit(asyncio.run(main(*sys.argv[1:4], sys.argv[4:])))
