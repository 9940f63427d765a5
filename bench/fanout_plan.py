"""Benchmark: the fan-out planner (ascend_env.fanout.plan) for fleets of 8 to 1024 hosts, each needing the same
bundle (100 wheels of 5 MB and a 300 MB image): waves, planning time, controller bytes as a multiple of the bundle.

    python3 bench/fanout_plan.py [--hosts 8 64 256 1024] [--repeat 3]

Pure Python, no lab.  Results: a table and bench/results/fanout_plan.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ascend_env.fanout import CONTROLLER, State, plan  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[8, 64, 256, 1024])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    files = {f"wheels/w{i}.whl": 5_000_000 for i in range(100)}
    files["images/base.tar"] = 300_000_000
    bundle = sum(files.values())
    rows = []
    for n in a.hosts:
        hosts = [f"h{i:04d}" for i in range(n)]
        times, waves = [], []
        for _ in range(a.repeat):
            state = State(sizes=dict(files), need={h: set(files) for h in hosts}, alive=set(hosts))
            t0 = time.perf_counter()
            waves = plan(state)
            times.append(time.perf_counter() - t0)
        sent = sum(t.bytes for w in waves for t in w if t.src == CONTROLLER)
        rows.append({"hosts": n, "waves": len(waves), "plan_ms": round(statistics.median(times) * 1000, 1),
                     "controller_x_bundle": round(sent / bundle, 3),
                     "max_transfers_per_wave": max(len(w) for w in waves)})
        print(f"{n:>5} hosts: {len(waves):>2} waves, plan {rows[-1]['plan_ms']:>8} ms, controller "
              f"{rows[-1]['controller_x_bundle']}x the bundle, at most {rows[-1]['max_transfers_per_wave']} "
              "transfers in a wave", flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fanout_plan.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
