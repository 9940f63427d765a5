"""Benchmark: resolve every combination the matrix allows.

"allowed": for each chip, every CANN alone, every MindSpore row x each CANN it names, every MindFormers
release, every torch_npu row x each CANN it names -- each resolved with those pins.  "contradictions": a
deterministic sample of framework x CANN pins, most of which conflict, to time the conflict reports.  "explained":
requests that pin every component (driver, firmware, CANN, Python, framework releases) at versions that do not fit
together, the conflict reports that test every pair of pins and what each pin allows (issue 24: 6-8 s each before).
Prints a table and writes JSON; medians over --repeat runs.

    python bench/resolver.py [--repeat 3] [--json bench/results/resolver.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from ascend_env.matrix import load_matrix
from ascend_env.resolver import Request, Stack, resolve


def allowed(m):
    """Every combination a row allows: each framework row x each CANN it names x each chip."""
    cann = m.versions("cann")
    for chip in (c.id for c in m.chips):
        yield Request(chip=chip)
        for v in cann:
            yield Request(chip=chip, pins={"cann": str(v)})
        for r in m.mindspore:
            for c in cann:
                if any(s.contains(c) for s in r.cann):
                    yield Request(chip=chip, framework="mindspore", pins={"mindspore": str(r.version), "cann": str(c)})
        for r in m.mindformers:
            yield Request(chip=chip, framework="mindspore", pins={"mindformers": str(r.version)})
        for r in m.torch_npu:
            for c in cann:
                if any(s.contains(c) for s in r.cann):
                    yield Request(chip=chip, framework="torch", pins={"torch_npu": str(r.version), "cann": str(c)})


def contradictions(m, every: int = 37):
    """A deterministic sample of framework x CANN pins that mostly do not fit (conflict reports)."""
    i = 0
    for fw, comp in (("mindspore", "mindspore"), ("torch", "torch_npu")):
        for v in m.versions(comp):
            for c in m.versions("cann"):
                i += 1
                if i % every == 0:
                    yield Request(chip="910b", framework=fw, pins={comp: str(v), "cann": str(c)})


def explained(m):
    """Requests pinning every component at values that do not fit: the slowest conflict reports."""
    old_drv, old_fw = "23.0.3", "7.1.0.5.220"
    canns = [str(v) for v in m.versions("cann") if not v.is_prerelease][:3]
    for chip in ("910b", "310p"):
        for cann in canns:
            for py in ("3.8", "3.13"):
                yield Request(chip=chip, framework="torch", pins={
                    "driver": old_drv, "firmware": old_fw, "cann": cann, "python": py, "torch": "2.1.0",
                    "torch_npu": "2.12.0"})
                yield Request(chip=chip, framework="mindspore", pins={
                    "driver": old_drv, "firmware": old_fw, "cann": cann, "python": py, "mindspore": "2.2.11",
                    "mindformers": "1.6.0"})


def timed(m, reqs):
    per, stacks = [], 0
    for r in reqs:
        t = time.perf_counter()
        res = resolve(m, r)
        per.append(time.perf_counter() - t)
        stacks += isinstance(res, Stack)
    return per, stacks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="bench/results/resolver.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    m = load_matrix()
    load_s = time.perf_counter() - t0
    groups = {"allowed": list(allowed(m)), "contradictions": list(contradictions(m)), "explained": list(explained(m))}
    result = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "matrix": {"rows": m.row_count(), "sources": len(m.sources()), "load_s": round(load_s, 3)},
        "repeat": args.repeat,
    }
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print(f"matrix: {m.row_count()} rows, loaded in {load_s:.3f} s; medians of {args.repeat} runs")
    print(f"{'group':<15} {'requests':>8} {'stacks':>7} {'total s':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, reqs in groups.items():
        runs = [timed(m, reqs) for _ in range(args.repeat)]
        totals = [sum(p) for p, _ in runs]
        meds = [statistics.median(p) * 1e3 for p, _ in runs]
        p95s = [statistics.quantiles(p, n=20)[-1] * 1e3 for p, _ in runs]
        g = {"requests": len(reqs), "stacks": runs[0][1], "median_total_s": round(statistics.median(totals), 3),
             "median_per_resolve_ms": round(statistics.median(meds), 2), "p95_ms": round(statistics.median(p95s), 2),
             "max_ms": round(max(max(p) for p, _ in runs) * 1e3, 1)}
        result[name] = g
        print(f"{name:<15} {g['requests']:>8} {g['stacks']:>7} {g['median_total_s']:>8} "
              f"{g['median_per_resolve_ms']:>10} {g['p95_ms']:>8} {g['max_ms']:>8}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
