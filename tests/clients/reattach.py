#!/usr/bin/env python3
"""The startup hook of a restarted server: settle the runs that died with
their supervisor, re-attach to those still alive, and bring the database
(see parent.py) up to date.

usage: reattach.py DB RUNDIR

Nothing here is decided from a PID or an age.  A run is alive exactly while
its supervisor holds STATUS.lock, and --reap and --inspect ask the lock.
"""
import asyncio
import json
import os
import sys

from parent import JOBWRAP, LINE_LIMIT, open_db, record, settle


async def jobwrap(*args):
    """Run one of jobwrap's modes to its end; returns its output."""
    proc = await asyncio.create_subprocess_exec(
        JOBWRAP, *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"jobwrap {args[0]}: exit {proc.returncode}")
    return out.decode()


async def follow(db, run_id, events_file):
    """Record the events the database lacks, up to the run's exit event."""
    (last,) = db.execute("SELECT last_seq FROM runs WHERE run_id = ?",
                         (run_id,)).fetchone()
    proc = await asyncio.create_subprocess_exec(
        JOBWRAP, "--follow", "--from-seq", str(last + 1), events_file,
        stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT)
    async for line in proc.stdout:
        record(db, json.loads(line))
    # 0 after the exit event; 3 if the supervisor died without writing one
    # (then --reap will settle the run at the next start).
    await proc.wait()


async def main(db_path, rundir):
    db = open_db(db_path)
    rundir = os.path.abspath(rundir)
    # 1. Every run whose status says running but whose lock is free has
    #    lost its supervisor: it becomes orphaned, and what is left of its
    #    process group is killed.  Live runs are not touched.
    print(await jobwrap("--reap", rundir), end="", flush=True)
    # 2. Of the rest, the alive ones are those whose lock is held.
    alive = {r["run_id"] for r in map(json.loads, (await jobwrap(
        "--inspect", "--json", rundir)).splitlines()) if r["alive"]}
    # 3. Follow each live run from the first seq the database lacks, all at
    #    once: each returns when its run ends.
    todo = db.execute("SELECT run_id, events_file FROM runs "
                      "WHERE state = 'running'").fetchall()
    await asyncio.gather(*(follow(db, run_id, events)
                           for run_id, events in todo if run_id in alive))
    # 4. Runs that ended while nobody listened (or were orphaned just now):
    #    their terminal status says how.
    for run_id, _ in todo:
        settle(db, run_id)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    asyncio.run(main(*sys.argv[1:]))
