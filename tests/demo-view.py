"""Show jobwrap's JSON Lines events as they arrive, one readable line each."""
import json
import sys

SKIP = {"v", "seq", "ts", "mono_ms", "run_id", "event"}

for raw in sys.stdin:
    e = json.loads(raw)
    rest = {k: v for k, v in e.items() if k not in SKIP}
    if e["event"] == "start":
        rest = {"command": rest["command"], "deadline_ms": rest["deadline_ms"]}
    fields = " ".join(f"{k}={json.dumps(v)}" for k, v in rest.items())
    print(f"  event #{e['seq']:<2} +{e['mono_ms'] / 1000:6.3f}s "
          f"{e['event']:<11} {fields}", flush=True)
