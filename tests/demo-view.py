"""Show jobwrap's JSON Lines events as they arrive, one readable line each.

Every line: the event's seq, its time since jobwrap started, its name, then
what it says in words (retry, timeout, notify, attempt_end...).  An event
this script does not know is shown as its raw fields.
"""
import json
import sys

SKIP = {"v", "seq", "ts", "mono_ms", "run_id", "event"}


def secs(ms):
    """1234 -> '1.23s', None -> '-'."""
    if ms is None:
        return "-"
    return f"{ms / 1000:.2f}s" if ms < 60000 else f"{ms / 60000:.1f}min"


def q(s):
    """A string quoted as JSON (escapes and all), None as null."""
    return json.dumps(s, ensure_ascii=False)


def ended(e):
    """'exit 143' or 'signal SIGKILL' or both, as the record has them."""
    parts = []
    if e.get("exit_code") is not None:
        parts.append(f"exit {e['exit_code']}")
    if e.get("signal") is not None:
        parts.append(f"signal {e['signal']}")
    return ", ".join(parts) or "no exit status"


def raw(e):
    return " ".join(f"{k}={json.dumps(v)}" for k, v in e.items()
                    if k not in SKIP)


def start(e):
    return (f"command={q(e['command'])} deadline "
            f"{secs(e['deadline_ms']) if e.get('deadline_ms') else 'none'}")


def spawn(e):
    return f"attempt {e['attempt']}: pid {e['pid']}, process group {e['pgid']}"


def spawn_failed(e):
    return f"attempt {e['attempt']}: {e.get('error')} (errno {e.get('errno')})"


def heartbeat(e):
    return (f"attempt {e['attempt']}: {secs(e['elapsed_ms'])} in, "
            f"{secs(e.get('remaining_ms'))} left, last output "
            f"{secs(e.get('since_output_ms'))} ago, "
            f"{e['bytes_out']} B out, {e['bytes_err']} B err, "
            f"retries seen {e.get('retries_seen', 0)}, "
            f"{e.get('children', '?')} process(es)")


def notify(e):
    s = f"attempt {e['attempt']}: " + ("ready" if e.get("ready")
                                       else "not ready yet")
    if e.get("status") is not None:
        s += f", status {q(e['status'])}"
    if e.get("fields"):
        s += ", " + " ".join(f"{k}={q(v)}" for k, v in e["fields"].items())
    return s


def retry(e):
    src = e.get("source")
    if src == "jobwrap":
        return (f"attempt {e['attempt']} ended ({e['reason']}): jobwrap "
                f"starts attempt {e['attempt'] + 1} in "
                f"{secs(e.get('delay_ms'))}")
    if src == "pattern":
        return (f"attempt {e['attempt']}: the job retries on its own "
                f"({e.get('stream')} line matched --retry-pattern): "
                f"{q(e.get('line'))}")
    if src == "notify":
        return (f"attempt {e['attempt']}: the job retries on its own "
                f"(X_RETRY): {q(e.get('reason'))}")
    return raw(e)


TIMEOUT_KIND = {
    "idle": "no output and no notify for --idle-timeout: hung",
    "attempt": "reached its --attempt-timeout",
    "deadline": "the run reached its deadline (--timeout)",
}


def timeout(e):
    what = TIMEOUT_KIND.get(e.get("kind"), f"kind {q(e.get('kind'))}")
    return f"attempt {e['attempt']}: {what}"


def signal(e):
    return (f"attempt {e['attempt']}: {e['signal']} to the "
            f"{e['target']} (because: {e['reason']})")


def attempt_end(e):
    s = (f"attempt {e['attempt']}: {e['state']}, {ended(e)}, after "
         f"{secs(e['duration_ms'])}")
    return s + f", last_error {q(e.get('last_error'))}"


def exit_(e):
    n = e.get("attempts")
    return (f"{e['state']}, {ended(e)}, {n} attempt{'s' * (n != 1)}, "
            f"{secs(e['duration_ms'])} in all")


SHOW = {"start": start, "spawn": spawn, "spawn_failed": spawn_failed,
        "heartbeat": heartbeat, "notify": notify, "retry": retry,
        "timeout": timeout, "signal": signal, "attempt_end": attempt_end,
        "exit": exit_}

for line in sys.stdin:
    e = json.loads(line)
    try:
        text = SHOW[e["event"]](e) if e["event"] in SHOW else raw(e)
    except (KeyError, TypeError):
        text = raw(e)		# a field missing: show what there is
    print(f"  event #{e['seq']:<2} +{e['mono_ms'] / 1000:6.3f}s "
          f"{e['event']:<11} {text}", flush=True)
