#!/usr/bin/python3
"""Helpers for tests/bench/run.sh (Debian's /usr/bin/python3, stdlib only).

  bench.py rss  OUT.json JOBWRAP TMPDIR      peak RSS (VmHWM) of the wrappers
  bench.py tree OUT.json JOBWRAP TAG TMPDIR  time to kill a 100-process tree
  bench.py linescheck STATUS N ERRLINE       did the patterns see N retries?
  bench.py notify OUT.json JOBWRAP NOTIFYFLOOD TMPDIR K RUNS
                                             sd_notify datagrams handled/s
  bench.py reap TAG                          SIGKILL every process tagged TAG*
  bench.py report TMPDIR OUT.md              Markdown table from the JSON files

Processes started by the benchmark carry JWBENCH_TAG=<tag> in their
environment; survivors are found by scanning /proc/*/environ for it and are
killed by PID. Zombies are not counted: PID 1 in these VMs does not reap.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

TAG_VAR = b"JWBENCH_TAG="

# --------------------------------------------------------------------------
# /proc helpers


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and ')': the state follows the last ')'.
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3].decode()


def tagged(prefix):
    """PIDs of live (non-zombie) processes whose JWBENCH_TAG starts with
    prefix."""
    want = TAG_VAR + prefix.encode()
    me = os.getpid()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if not any(v.startswith(want) for v in env.split(b"\0")):
            continue
        st = proc_state(name)
        if st is not None and st not in ("Z", "X"):
            pids.append(int(name))
    return pids


def reap(prefix, timeout=5.0):
    """SIGKILL tagged processes by PID until none is left alive."""
    end = time.monotonic() + timeout
    killed = 0
    while True:
        pids = tagged(prefix)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        if time.monotonic() > end:
            print(f"bench: {len(pids)} tagged processes will not die",
                  file=sys.stderr)
            return killed
        time.sleep(0.02)


def vm_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------
# 3. peak RSS of the wrapper process itself


def cmd_rss(out, jw, tmp):
    wrappers = [
        ("timeout", ["timeout", "10"]),
        ("tini -s", ["tini", "-s", "--"]),
        ("dumb-init", ["dumb-init"]),
        ("jobwrap --heartbeat 0", [jw, "--heartbeat", "0", "--"]),
        ("jobwrap (defaults)", [jw, "--"]),
        ("jobwrap full (events-file + status-file)",
         [jw, "--events-file", f"{tmp}/rss.events",
          "--status-file", f"{tmp}/rss.status", "--"]),
    ]
    if os.path.exists("/usr/bin/tini-static"):
        wrappers.insert(2, ("tini-static -s", ["tini-static", "-s", "--"]))
    rounds = 3
    res = {name: [] for name, _ in wrappers}
    for _ in range(rounds):
        # All wrappers side by side: one second per round, not per wrapper.
        procs = [(name, subprocess.Popen(argv + ["sleep", "1"],
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL))
                 for name, argv in wrappers]
        time.sleep(0.85)            # near the end of the run
        for name, p in procs:
            res[name].append(vm_kb(p.pid, "VmHWM"))
        for name, p in procs:
            rc = p.wait()
            if rc != 0:
                print(f"bench: rss: {name} exited {rc}", file=sys.stderr)
    json.dump({"rounds": rounds,
               "order": [n for n, _ in wrappers],
               "kb": res}, open(out, "w"), indent=1)


# --------------------------------------------------------------------------
# 5. time to kill a tree of 100 processes that ignore SIGTERM
#
# Members sleep in a blocking open() of a FIFO nobody writes to: they are
# forked subshells, no exec, so the 100 are up in ~0.2 s on this kind of VM
# and the deadline hits a complete, idle tree (exec'ing 100 dynamically
# linked `sleep`s takes ~0.5 s here, past the deadline).  The brief's literal
# `sleep` tree is measured too, as the "still forking" case.

LOOP = 'i=0; while [ $i -lt 100 ]; do {m} & i=$((i+1)); done; wait'
TREES = [
    ("A", "all 101 ignore TERM (leader too)",
     'trap "" TERM; ' + LOOP.format(m='(read x <"$JWBENCH_FIFO")'), 101),
    ("B", "leader dies on TERM, 100 members ignore it",
     LOOP.format(m='(trap "" TERM; read x <"$JWBENCH_FIFO")'), 101),
    ("C", "brief's literal tree: 100 × "
     "`sh -c \"trap '' TERM; sleep 60\"`",
     'for i in $(seq 100); do sh -c "trap \'\' TERM; sleep 60" & done; wait',
     None),
]


def reap_orphans():
    """We are a subreaper here: collect orphans that came to us."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def jw_events(path):
    ev = {}
    try:
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                name = e["event"]
                if name == "signal":
                    name = "signal_" + e["signal"]
                ev.setdefault(name, e["mono_ms"])
    except (OSError, ValueError):
        pass
    return ev


def cmd_tree(out, jw, tag, tmp):
    import ctypes
    # Orphans (timeout(1) leaves some) come to us, not to a PID 1 that may
    # never reap them: no zombies left behind.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # SUBREAPER
    fifo = f"{tmp}/tree.fifo"
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    runs = 5
    deadline, kill_after = 0.5, 0.2
    tools = [
        ("jobwrap -t 0.5 -k 0.2", lambda i: [
            jw, "--events-file", f"{tmp}/tree-{i}.events",
            "-t", "0.5", "-k", "0.2", "--"]),
        ("timeout -k 0.2 0.5", lambda i: ["timeout", "-k", "0.2", "0.5"]),
    ]
    res = []
    n = 0
    for tid, desc, script, expect in TREES:
        for name, argv in tools:
            rows = []
            for i in range(runs):
                n += 1
                t = f"{tag}-tree-{n}"
                env = dict(os.environ, JWBENCH_TAG=t, JWBENCH_FIFO=fifo)
                t0 = time.monotonic()
                p = subprocess.Popen(argv(n) + ["sh", "-c", script], env=env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
                time.sleep(0.4)
                size = len([q for q in tagged(t) if q != p.pid])
                rc = p.wait()
                wall = time.monotonic() - t0
                at_exit = len(tagged(t))
                time.sleep(0.1)
                later = len(tagged(t))
                reap(t)
                reap_orphans()
                row = {"wall": wall, "rc": rc, "tree": size,
                       "alive_at_exit": at_exit, "alive_100ms": later}
                if name.startswith("jobwrap"):
                    row["events"] = jw_events(f"{tmp}/tree-{n}.events")
                rows.append(row)
            res.append({"tree": tid, "desc": desc, "expect": expect,
                        "tool": name, "rows": rows})
    # The kernel's floor on this machine: the bench itself SIGKILLs tree A's
    # group (one kill(2)) and reaps until nothing is left.  No wrapper can
    # end the tree faster than this after its SIGKILL.
    floor = []
    for i in range(runs):
        n += 1
        t = f"{tag}-tree-{n}"
        env = dict(os.environ, JWBENCH_TAG=t, JWBENCH_FIFO=fifo)
        p = subprocess.Popen(["sh", "-c", TREES[0][2]], env=env,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             start_new_session=True)
        time.sleep(0.4)
        size = len(tagged(t))
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGKILL)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        floor.append({"ms": (time.monotonic() - t0) * 1e3, "tree": size})
        p.returncode = -9       # reaped above
        reap(t)
    json.dump({"runs": runs, "deadline": deadline, "kill_after": kill_after,
               "res": res, "floor": floor}, open(out, "w"), indent=1)


# --------------------------------------------------------------------------
# 6. output patterns: the check run's status says what the patterns saw


def cmd_linescheck(status, n, errline):
    """Print what the status says; exit 1 when it is not what lines.c
    wrote (n retry lines, the last error line errline)."""
    st = load(status)
    got = (f"retries_seen {st.get('retries_seen')} of {n}, last_error "
           f"{json.dumps(st.get('last_error'))}, notify_dropped "
           f"{st.get('notify_dropped')}")
    print(got)
    ok = st.get("retries_seen") == n and st.get("last_error") == errline
    return 0 if ok else 1


# --------------------------------------------------------------------------
# 7. sd_notify datagrams: how many per second jobwrap takes, with output
#
# notifyflood sends K datagrams with blocking sends, so it goes exactly as
# fast as jobwrap empties its socket, and writes a 32-byte line to stdout
# after every EVERY datagrams.  Wall time from spawn to jobwrap's exit;
# jobwrap's own start and exit (~1 ms) are noise against ~2 s.

NOTIFY_EVERY = 100
NOTIFY_LINE = 32


def cmd_notify(out, jw, flood, tmp, k, runs):
    k, runs = int(k), int(runs)
    expect = k // NOTIFY_EVERY * NOTIFY_LINE
    res = {"watchdog": [], "status": []}
    for i in range(runs):
        for mode in res:        # interleaved: a load change hits both
            ev, st = f"{tmp}/notify-{mode}.events", f"{tmp}/notify.status"
            for f in (ev, st):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
            argv = [jw, "--idle-timeout", "30s", "--events-file", ev,
                    "--status-file", st, "--", flood, str(k), mode,
                    str(NOTIFY_EVERY)]
            t0 = time.monotonic()
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE)
            wall = time.monotonic() - t0
            status = load(st)
            with open(ev, "rb") as f:
                events = f.read().count(b'"event":"notify"')
            res[mode].append({
                "rc": p.returncode, "wall": wall, "bytes": len(p.stdout),
                "state": status.get("state"),
                "notify_dropped": status.get("notify_dropped"),
                "notify_events": events,
                "bytes_out": status.get("bytes_out"),
                "dropped_out": status.get("dropped_out")})
    json.dump({"k": k, "runs": runs, "every": NOTIFY_EVERY,
               "expect_bytes": expect, "res": res,
               "argv": " ".join(os.path.basename(a) if a in (jw, flood)
                                else a.replace(tmp, "$TMP") for a in argv)},
              open(out, "w"), indent=1)


# --------------------------------------------------------------------------
# report


def load(path):
    with open(path) as f:
        return json.load(f)


def hf(pattern):
    """hyperfine --export-json files (a glob: one per round) -> {command:
    result} with the runs of every round pooled and the median, min and
    max recomputed over them."""
    import glob
    out = {}
    for path in sorted(glob.glob(pattern)):
        for r in load(path)["results"]:
            o = out.setdefault(r["command"], {"times": [], "exit_codes": []})
            o["times"] += r["times"]
            o["exit_codes"] += r.get("exit_codes") or []
    for o in out.values():
        o["median"] = statistics.median(o["times"])
        o["min"], o["max"] = min(o["times"]), max(o["times"])
    return out


def verdict(ok):
    return "ok" if ok else "**MISS**"


def cmd_report(tmp, out_md):
    meta = load(f"{tmp}/meta.json")
    L = []
    w = L.append
    w(f"# jobwrap benchmark ({meta['date']})")
    w("")
    w(f"- kernel `{meta['kernel']}`, CPU {meta['cpu']}, nproc {meta['nproc']}")
    w(f"- jobwrap `{meta['jobwrap_rev']}` ({meta['jobwrap_file']}), "
      f"timed as a snapshot copy of shim/jobwrap")
    w(f"- load average {meta['load']} (1/5/15 min; anything else running "
      f"on the machine shows up as noise)")
    w(f"- peers: {meta['peers']}")
    w("")

    def have(pattern):
        import glob
        return bool(glob.glob(f"{tmp}/{pattern}"))

    # Sections not run (BENCH_SECTIONS) are left out of the report.
    if have("startup-*.json"):
        startup_report(tmp, meta, w)
    if have("relay-*.json"):
        relay_report(tmp, meta, w)
    if have("rss.json"):
        rss_report(tmp, w)
    if have("deadline-*.json"):
        deadline_report(tmp, meta, w)
    if have("tree.json"):
        tree_report(tmp, w)
    if have("lines-*.json"):
        lines_report(tmp, meta, w)
    if have("notify.json"):
        notify_report(tmp, w)
    if have("seccomp-run-*.json") and have("seccomp.json"):
        seccomp_report(tmp, meta, w)
    text = "\n".join(L)
    with open(out_md, "w") as f:
        f.write(text)
    print(text)


def startup_report(tmp, meta, w):
    # 1. start-to-exit ------------------------------------------------------
    s = hf(f"{tmp}/startup-*.json")
    C = meta["startup_cmds"]
    med = {k: s[v]["median"] * 1e3 for k, v in C.items()}
    mad = {k: statistics.median(abs(t * 1e3 - med[k])
                                for t in s[v]["times"])
           for k, v in C.items()}
    base = med["true"]
    ovh = {k: med[k] - base for k in med}
    # Rows timed through the fd-3 pipe helper: remove the helper's own cost.
    ovh["jw_fd"] = med["jw_fd"] - med["fd3_true"]
    runs = len(s[C["true"]]["times"])
    w(f"## 1. Start-to-exit overhead over `/bin/true` "
      f"(hyperfine -N, {runs} runs in {meta['rounds']} interleaved rounds, "
      f"medians)")
    w("")
    w("| command | median ms | ±MAD | overhead ms | ÷ timeout | ÷ tini -s "
      "| ÷ dumb-init | target ≤ 0.9 × dumb-init |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")
    rows = [("true", "`/bin/true`", None),
            ("timeout", "`timeout 10 /bin/true`", None),
            ("tini", "`tini -s -- /bin/true`", None),
            ("tini_static", "`tini-static -s -- /bin/true`", None),
            ("dumbinit", "`dumb-init /bin/true`", None),
            ("jw", "`jobwrap --heartbeat 0 -- /bin/true`", "target"),
            ("jw_file", "jobwrap full, file: `--events-file F "
             "--status-file S -- /bin/true`", "info"),
            ("fd3_true", "`fd3pipe /bin/true` (helper baseline)", None),
            ("jw_fd", "jobwrap full, fd: `fd3pipe jobwrap --events-fd 3 "
             "--status-file S -- /bin/true` (overhead vs `fd3pipe "
             "/bin/true`)", "info")]
    for key, label, kind in rows:
        if key not in med:
            continue
        o = ovh[key]
        if key == "true":
            w(f"| {label} | {med[key]:.2f} | {mad[key]:.2f} | — | — | — | — "
              f"| |")
            continue
        if key == "fd3_true":
            w(f"| {label} | {med[key]:.2f} | {mad[key]:.2f} | "
              f"{o:+.2f} | | | | |")
            continue
        r = {p: o / ovh[p] for p in ("timeout", "tini", "dumbinit")}
        v = ""
        if kind == "target":
            v = f"{r['dumbinit']:.2f} {verdict(r['dumbinit'] <= 0.9)}"
        elif kind == "info":
            v = f"{r['dumbinit']:.2f} (info)"
        w(f"| {label} | {med[key]:.2f} | {mad[key]:.2f} | {o:+.2f} | "
          f"{r['timeout']:.2f} | {r['tini']:.2f} | {r['dumbinit']:.2f} "
          f"| {v} |")
    w("")
    w("Overhead = median(command) − median(`/bin/true`). `fd3pipe` "
      "(tests/bench/fd3pipe.c, static) gives the command fd 3 = a pipe it "
      "drains; its own fork+exec cost is removed by subtracting "
      "`fd3pipe /bin/true`. S and F are on /dev/shm.")
    w("")



def relay_report(tmp, meta, w):
    # 2. relay throughput --------------------------------------------------
    t = hf(f"{tmp}/relay-*.json")
    R = meta["relay_cmds"]
    nbytes = meta["relay_bytes"]
    gbs = {k: nbytes / t[v]["median"] / 1e9 for k, v in R.items()}
    runs = len(t[R["direct"]]["times"])
    w(f"## 2. Relay throughput ({nbytes / 2**30:.0f} GiB from `dd bs=1M`, "
      f"median of {runs} interleaved runs, GB = 10^9 bytes)")
    w("")
    w("| pipeline | median s | GB/s | ÷ cat hop | target ≥ 0.95 × cat hop |")
    w("|---|---:|---:|---:|---|")
    for key, label in (("direct", "`dd | cat` (no hop)"),
                       ("cathop", "`dd | cat | cat` (one cat hop)"),
                       ("jw", "`jobwrap --heartbeat 0 -- dd | cat`")):
        r = gbs[key] / gbs["cathop"]
        v = f"{verdict(r >= 0.95)}" if key == "jw" else ""
        w(f"| {label} | {t[R[key]]['median']:.3f} | {gbs[key]:.2f} | "
          f"{r:.2f} | {v} |")
    w("")
    w(f"Bytes through jobwrap checked once with `wc -c`: "
      f"{meta['relay_check']}.")
    w("")



def rss_report(tmp, w):
    # 3. peak RSS ----------------------------------------------------------
    r = load(f"{tmp}/rss.json")
    w(f"## 3. Peak RSS of the wrapper process (VmHWM at 0.85 s of "
      f"`sleep 1`, median of {r['rounds']})")
    w("")
    w("| wrapper | VmHWM KiB | MB | ÷ timeout | ÷ tini -s | ÷ dumb-init "
      "| target ≤ 1.2 MB |")
    w("|---|---:|---:|---:|---:|---:|---|")
    kb = {n: (statistics.median(v) if None not in v else None)
          for n, v in r["kb"].items()}
    for n in r["order"]:
        k = kb[n]
        if k is None:
            w(f"| {n} | n/a | | | | | |")
            continue
        mb = k * 1024 / 1e6
        rt = [k / kb[p] if kb.get(p) else float("nan")
              for p in ("timeout", "tini -s", "dumb-init")]
        v = verdict(mb <= 1.2) if n.startswith("jobwrap") else ""
        w(f"| {n} | {k:.0f} | {mb:.2f} | {rt[0]:.2f} | {rt[1]:.2f} | "
          f"{rt[2]:.2f} | {v} |")
    w("")



def deadline_report(tmp, meta, w):
    # 4. deadline accuracy -------------------------------------------------
    d = hf(f"{tmp}/deadline-*.json")
    D = meta["deadline_cmds"]
    runs = len(d[D["jw"]]["times"])
    w(f"## 4. Deadline accuracy (`-t 1`, child `sleep 10`, "
      f"hyperfine -N, {runs} runs)")
    w("")
    w("| command | exit codes | median late ms | min | max "
      "| target median within 10 ms |")
    w("|---|---|---:|---:|---:|---|")
    for key, label in (("jw", "`jobwrap -t 1 -k 1 -- sleep 10`"),
                       ("timeout", "`timeout 1 sleep 10`")):
        x = d[D[key]]
        late = [(v - 1.0) * 1e3 for v in x["times"]]
        m = statistics.median(late)
        codes = ",".join(str(c) for c in sorted(set(x["exit_codes"])))
        v = verdict(abs(m) <= 10 and set(x["exit_codes"]) == {124}) \
            if key == "jw" else ""
        w(f"| {label} | {codes} | {m:+.1f} | {min(late):+.1f} | "
          f"{max(late):+.1f} | {v} |")
    w("")
    w("Late = wall time − 1 s, from the benchmark's spawn to the "
      "wrapper's exit (includes the wrapper's own start and exit).")
    w("")



def tree_report(tmp, w):
    # 5. tree kill ---------------------------------------------------------
    k = load(f"{tmp}/tree.json")
    dl, ka = k["deadline"], k["kill_after"]
    dlm, kam = dl * 1e3, ka * 1e3
    w(f"## 5. Killing a tree of 100 TERM-ignoring processes "
      f"(deadline {dl} s, kill-after {ka} s, {k['runs']} runs each)")
    w("")
    w("| tree | command | exit | procs at 0.4 s | deadline→exit ms "
      "(median / max) | over kill-after ms (median / max) | alive at exit "
      "| alive 100 ms later | target ≤ kill-after + 20 ms, none alive |")
    w("|---|---|---|---:|---:|---:|---:|---:|---|")
    for e in k["res"]:
        rows = e["rows"]
        de = [(x["wall"] - dl) * 1e3 for x in rows]
        ov = [v - kam for v in de]
        codes = ",".join(sorted({str(x["rc"] if x["rc"] >= 0
                                     else 128 - x["rc"]) for x in rows}))
        lo = min(x["tree"] for x in rows)
        hi = max(x["tree"] for x in rows)
        size = f"{lo}" if lo == hi else f"{lo}–{hi}"
        if e["expect"] is not None and lo < e["expect"]:
            size += f" (of {e['expect']})"
        a0 = max(x["alive_at_exit"] for x in rows)
        a1 = max(x["alive_100ms"] for x in rows)
        v = ""
        if e["tool"].startswith("jobwrap"):
            v = verdict(max(ov) <= 20 and a0 == 0 and a1 == 0)
        w(f"| {e['tree']} | `{e['tool']}` | {codes} | {size} | "
          f"{statistics.median(de):.1f} / {max(de):.1f} | "
          f"{statistics.median(ov):+.1f} / {max(ov):+.1f} | {a0} | {a1} "
          f"| {v} |")
    fl = k.get("floor")
    if fl:
        ms = [x["ms"] for x in fl]
        w(f"| A | floor: the bench's own `killpg(SIGKILL)` + reap all "
          f"| | {min(x['tree'] for x in fl)} | | "
          f"SIGKILL→all reaped {statistics.median(ms):.1f} / {max(ms):.1f} "
          f"| | | |")
    w("")
    w("Trees: " + "; ".join(f"**{e['tree']}** {e['desc']}"
                            for e in k["res"][::2]) + ". "
      "A and B members are forked subshells blocked in `open()` of a FIFO "
      "(no exec), complete ~0.2 s in; C execs 100 `sh` + 100 `sleep` and "
      "on a slow-fork VM is still being built when the deadline comes. "
      "Deadline→exit = wall − 0.5 s, wall from the bench's spawn to the "
      "wrapper's exit. Alive = JWBENCH_TAG in /proc/PID/environ and not a "
      "zombie, maximum over the runs; survivors were SIGKILLed by PID "
      "afterwards.")
    w("")
    w("jobwrap's own timeline (its events file, `mono_ms`, medians):")
    w("")
    w("| tree | deadline event late ms | TERM sent after deadline ms "
      "| SIGKILL sent after TERM ms (kill-after "
      f"{kam:.0f}) | exit after SIGKILL ms | exit after deadline ms |")
    w("|---|---:|---:|---:|---:|---:|")

    def med(vals):
        vals = [v for v in vals if v is not None]
        return f"{statistics.median(vals):.0f}" if vals else "—"

    for e in k["res"]:
        if not e["tool"].startswith("jobwrap"):
            continue
        evs = [x.get("events", {}) for x in e["rows"]]
        g = lambda ev, a: ev.get(a)
        d = lambda ev, a, b: (ev[a] - ev[b]) if a in ev and b in ev else None
        w(f"| {e['tree']} | "
          f"{med([g(ev, 'timeout') - dlm if 'timeout' in ev else None for ev in evs])} | "
          f"{med([d(ev, 'signal_SIGTERM', 'timeout') for ev in evs])} | "
          f"{med([d(ev, 'signal_SIGKILL', 'signal_SIGTERM') for ev in evs])} | "
          f"{med([d(ev, 'exit', 'signal_SIGKILL') for ev in evs])} | "
          f"{med([g(ev, 'exit') - dlm if 'exit' in ev else None for ev in evs])} |")
    w("")


def lines_report(tmp, meta, w):
    # 6. output patterns ---------------------------------------------------
    t = hf(f"{tmp}/lines-*.json")
    C = meta["lines_cmds"]
    n, nbytes = meta["lines"], meta["lines_bytes"]
    med = {k: t[v]["median"] for k, v in C.items()}
    runs = len(t[C["jw"]]["times"])
    w(f"## 6. Output patterns: {n:,} short lines on stderr "
      f"({nbytes / 1e6:.0f} MB, `tests/bench/lines.c`), with and without "
      f"`--retry-pattern` and `--error-pattern` (median of {runs} "
      f"interleaved runs)")
    w("")
    w("| pipeline | median s | Mlines/s | MB/s | ÷ no patterns "
      "| target ≥ 0.9 × no patterns |")
    w("|---|---:|---:|---:|---:|---|")
    for key, label, kind in (
            ("direct", "`lines 2>&1 \\| cat` (no jobwrap)", None),
            ("jw", "jobwrap, no patterns", None),
            ("jw_pat", "jobwrap, FPF's retry and error patterns", "target"),
            ("jw_slow", "jobwrap, an error pattern with no required "
             "literal (every line reaches regexec)", "info")):
        r = med["jw"] / med[key]
        v = ""
        if kind == "target":
            v = verdict(r >= 0.9)
        elif kind == "info":
            v = f"{r:.2f} (info)"
        w(f"| {label} | {med[key]:.3f} | {n / med[key] / 1e6:.1f} | "
          f"{nbytes / med[key] / 1e6:.0f} | {r:.2f} | {v} |")
    w("")
    P = meta["patterns"]
    w(f"Retry pattern `{P['retry']}`, error pattern `{P['error']}` "
      f"(conf/fpf.ini); the info row's error pattern is "
      f"`{P['error_slow']}`. One line in {meta['lines_every']:,} matches "
      f"each. ÷ no patterns = throughput ratio = median(no patterns) / "
      f"median(row). Check run (exit 1, so last_error stays): "
      f"{meta['lines_check']}.")
    w("")


def notify_report(tmp, w):
    # 7. sd_notify datagrams -----------------------------------------------
    x = load(f"{tmp}/notify.json")
    k = x["k"]
    w(f"## 7. sd_notify datagrams: {k:,} per run, blocking sends, a "
      f"{NOTIFY_LINE}-byte stdout line after every {x['every']} "
      f"({x['runs']} runs each, medians)")
    w("")
    w("| datagram | median s | datagrams/s | min–max /s | µs each "
      "| stdout bytes out / in | notify_dropped | notify events | exit "
      "| target ≥ 100k/s, nothing lost |")
    w("|---|---:|---:|---:|---:|---|---:|---:|---|---|")
    for mode, label in (("watchdog", "`WATCHDOG=1`"),
                        ("status", "`STATUS=step N` (a notify event each)")):
        rows = x["res"][mode]
        walls = [r["wall"] for r in rows]
        m = statistics.median(walls)
        rate = [k / v for v in walls]
        got = sorted({r["bytes"] for r in rows})
        dropped = max(r["notify_dropped"] if r["notify_dropped"] is not None
                      else -1 for r in rows)
        ev = sorted({r["notify_events"] for r in rows})
        want_ev = k if mode == "status" else 0
        codes = ",".join(sorted({str(r["rc"]) for r in rows}))
        lost = (got != [x["expect_bytes"]] or dropped != 0 or
                ev != [want_ev] or codes != "0")
        w(f"| {label} | {m:.3f} | {k / m:,.0f} | {min(rate):,.0f}–"
          f"{max(rate):,.0f} | {m / k * 1e6:.1f} | "
          f"{'/'.join(str(g) for g in got)} / {x['expect_bytes']} | "
          f"{dropped} | {'/'.join(str(e) for e in ev)} | {codes} | "
          f"{verdict(k / m >= 100000 and not lost)} |")
    w("")
    w(f"`{x['argv']}` ($TMP on /dev/shm). Wall time from "
      f"spawn to jobwrap's exit, so jobwrap's start and exit are in it. "
      f"notify_dropped is the status file's count of datagrams jobwrap "
      f"refused; notify events are counted in the events file (one per "
      f"`STATUS=` datagram, none for `WATCHDOG=1`).")
    w("")


def seccomp_report(tmp, meta, w):
    # 8. the seccomp filter ------------------------------------------------
    s = hf(f"{tmp}/seccomp-run-*.json")
    C = meta["seccomp_cmds"]
    med = {k: s[v]["median"] * 1e3 for k, v in C.items()}
    mad = {k: statistics.median(abs(t * 1e3 - med[k])
                                for t in s[v]["times"])
           for k, v in C.items()}
    runs = len(s[C["true"]]["times"])
    w(f"## 8. The seccomp filter: `contain` (the default) against "
      f"`--seccomp off`")
    w("")
    w(f"Whole runs (hyperfine -N, {runs} runs in {meta['rounds']} "
      f"interleaved rounds, medians):")
    w("")
    w("| command | median ms | ±MAD | overhead over `/bin/true` ms |")
    w("|---|---:|---:|---:|")
    for key, label in (("true", "`/bin/true`"),
                       ("off", "`jobwrap --seccomp off -- /bin/true`"),
                       ("contain", "`jobwrap -- /bin/true` (contain)"),
                       ("timeout", "`timeout 10 /bin/true`"),
                       ("tini", "`tini -s -- /bin/true`"),
                       ("dumbinit", "`dumb-init /bin/true`")):
        o = "—" if key == "true" else f"{med[key] - med['true']:+.2f}"
        w(f"| {label} | {med[key]:.2f} | {mad[key]:.2f} | {o} |")
    # The difference per round too: how far one round's says otherwise.
    import glob
    per_round = []
    for path in sorted(glob.glob(f"{tmp}/seccomp-run-*.json")):
        r = {x["command"]: x["median"] for x in load(path)["results"]}
        per_round.append((r[C["contain"]] - r[C["off"]]) * 1e6)
    diff = (med["contain"] - med["off"]) * 1e3
    w("")
    w(f"**contain − off: {diff:+.0f} µs** per run (difference of the "
      f"pooled medians; per round {min(per_round):+.0f} to "
      f"{max(per_round):+.0f} µs).")
    w("")

    x = load(f"{tmp}/seccomp.json")

    def stats(key):
        v = sorted(t / 1e3 for t in x[key])
        p95 = v[max(0, -(-len(v) * 95 // 100) - 1)]
        return len(v), statistics.median(v), p95, v[0], v[-1]

    w(f"The filter's two costs, timed directly on jobwrap's code "
      f"(`tests/bench/seccomp_cost.c` linked with build/obj/sandbox.o and "
      f"syscalls.o), µs:")
    w("")
    w("| step | paid by | n | median | p95 | min | max "
      "| target load < 100 µs |")
    w("|---|---|---:|---:|---:|---:|---:|---|")
    rows = (("cold_build_ns", "build, cold: `jw_sandbox_build` as the first "
             "in a freshly forked process", "supervisor, once per run",
             None),
            ("build_ns", "build, warm: the same, again and again in one "
             "process", "", None),
            ("load_ns", "load: `jw_sandbox_apply` (PR_SET_NO_NEW_PRIVS + "
             "seccomp(2)) in a freshly forked child", "child, every attempt",
             "target"),
            ("floor_ns", "floor: a one-instruction filter loaded the same "
             "way", "", "info"))
    for key, label, who, kind in rows:
        n, m, p95, lo, hi = stats(key)
        v = ""
        if kind == "target":
            v = f"median {verdict(m < 100)}, p95 {verdict(p95 < 100)}"
        elif kind == "info":
            v = "(info)"
        w(f"| {label} | {who} | {n} | {m:.1f} | {p95:.1f} | {lo:.1f} | "
          f"{hi:.1f} | {v} |")
    cold, load_ = stats("cold_build_ns")[1], stats("load_ns")[1]
    w("")
    w(f"Profile `{x['profile']}`: {x['denied']} denied calls, "
      f"{x['bpf_insns']} BPF instructions; bpf_jit_enable "
      f"{x['bpf_jit_enable']}; filters already on the benchmark process: "
      f"{x['own_seccomp_filters']}. Each time is CLOCK_MONOTONIC around "
      f"the call only; loads and floors interleaved, each in its own "
      f"fork()ed child (jobwrap's child is CLONE_VM|CLONE_VFORK: the "
      f"filter attaches to the task either way). Cold build + load = "
      f"{cold + load_:.0f} µs of the {diff:.0f} µs difference of whole "
      f"runs (the rest is not broken down here). Floor: what loading any "
      f"filter costs on this machine; the rest of a load grows with the "
      f"filter's length.")
    w("")


def main(argv):
    if len(argv) >= 2 and argv[1] == "rss" and len(argv) == 5:
        cmd_rss(argv[2], argv[3], argv[4])
    elif len(argv) == 6 and argv[1] == "tree":
        cmd_tree(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 5 and argv[1] == "linescheck":
        return cmd_linescheck(argv[2], int(argv[3]), argv[4])
    elif len(argv) == 8 and argv[1] == "notify":
        cmd_notify(*argv[2:])
    elif len(argv) == 3 and argv[1] == "reap":
        n = reap(argv[2])
        if n:
            print(f"bench: killed {n} leftover processes", file=sys.stderr)
    elif len(argv) == 4 and argv[1] == "report":
        cmd_report(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
