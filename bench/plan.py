"""Benchmark: the fleet plan (ascend_env.plan.plan) for large inventories, measured on the controller alone.

    python3 bench/plan.py                        # 256, 2000 and 8000 hosts, 2 distinct stacks
    python3 bench/plan.py --hosts 2000 --stacks 2 4 --repeat 5

Every host is a 910B server with one container; the containers alternate between --stacks distinct requests (torch
and MindSpore, then pinned CANN versions), so the resolver runs once per distinct request and the rest is the checks
and the typed plan of every host.  No store (the store checks are the preflight's: bench/controller_scale.py).

Results: a table on stdout and bench/results/plan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ascend_env.matrix import load_matrix  # noqa: E402
from ascend_env.plan import plan  # noqa: E402
from ascend_env.resolver import resolve  # noqa: E402

#: distinct container requests, in the order --stacks takes them
REQUESTS: tuple[dict[str, Any], ...] = (
    {"framework": "torch"},
    {"framework": "mindspore"},
    {"framework": "torch", "pins": {"cann": "8.2.RC1"}},
    {"framework": "mindspore", "pins": {"cann": "8.2.RC1"}},
)


def inventory(n: int, stacks: int) -> dict[str, dict[str, Any]]:
    return {f"n{i:05d}": {"ansible_host": f"10.{i // 65000}.{(i // 250) % 260 % 256}.{i % 250 + 1}",
                          "ascend_chip": "910b", "ascend_arch": "aarch64",
                          "ascend_host_pins": {"driver": "25.0.rc1.1"},
                          "ascend_containers": [{"name": "llm", **REQUESTS[i % stacks]}]} for i in range(n)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[256, 2000, 8000])
    ap.add_argument("--stacks", type=int, nargs="+", default=[2])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    matrix = load_matrix()
    rows = []
    for stacks in a.stacks:
        for n in a.hosts:
            hosts = inventory(n, min(stacks, len(REQUESTS)))
            calls: list[int] = []

            def counting(m: Any, request: Any, calls: list[int] = calls) -> Any:
                calls.append(1)
                return resolve(m, request)

            times = []
            for _ in range(a.repeat):
                calls.clear()
                t0 = time.perf_counter()
                fleet = plan(hosts, matrix, resolver=counting)
                times.append(time.perf_counter() - t0)
            assert not fleet.problems, list(fleet.problems.items())[:3]
            rows.append({"hosts": n, "stacks": stacks, "resolves": len(calls),
                         "median_s": round(statistics.median(times), 3),
                         "per_host_ms": round(1000 * statistics.median(times) / n, 3),
                         "environments": sum(len(h.envs) for h in fleet.hosts.values())})
            print(json.dumps(rows[-1]), flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    print(f"\nthe fleet plan on {machine} (median of {a.repeat})")
    print(f"{'hosts':>6} {'stacks':>6} {'resolves':>8} {'plan s':>8} {'per host ms':>11}")
    for r in rows:
        print(f"{r['hosts']:>6} {r['stacks']:>6} {r['resolves']:>8} {r['median_s']:>8} {r['per_host_ms']:>11}")
    out = REPO / "bench/results/plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "repeat": a.repeat, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
