"""One table for the fleet from the smoke reports the ascend_smoke role fetched (one report per environment)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_HEAD = ("environment", "framework/runner", "device", "tokens", "golden", "TTFT ms", "decode tok/s", "load s",
         "peak MB", "status")


def _num(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value * scale:.{digits}f}"


def row(name: str, report: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The table row of one environment; ``report`` is None when the smoke did not run or wrote nothing."""
    if not report:
        return (name, "-", "-", "-", "-", "-", "-", "-", "-", "no report (the smoke did not run here)")
    if "error" in report:
        return (name, f"{report.get('framework', '-')}/{report.get('runner', '-')}", str(report.get("device", "-")),
                "-", "-", "-", "-", "-", "-", f"FAILED: {str(report['error']).splitlines()[0]}")
    m = report.get("metrics") or {}
    golden = report.get("golden") or {}
    gold = ("equal" if golden.get("match") else "DIFFERENT") if golden.get("checked") else "n/a (real model)"
    n = len(report.get("output_ids") or [])
    status = "ok" if report.get("ok") else "FAILED: " + "; ".join(map(str, report.get("problems") or ["see report"]))
    return (name, f"{report.get('framework', '-')}/{report.get('runner', '-')}", str(report.get("device", "-")),
            f"{n}/{report.get('max_new_tokens', '-')}", gold, _num(m.get("ttft_s"), 1000.0),
            _num(m.get("decode_tok_s")), _num(m.get("load_s"), digits=2), _num(m.get("peak_rss_mb"), digits=0), status)


def fleet_table(reports: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list:
    """Aligned text lines: a header and one line per environment (medians of the timed runs)."""
    rows = [_HEAD] + [row(name, rep) for name, rep in reports]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return [*lines[:1], "  ".join("-" * w for w in widths), *lines[1:]]


def collective_line(reports: Sequence[tuple[str, Mapping[str, Any] | None]]) -> str | None:
    """The fleet table's line for the cross-host all_reduce (``python -m ascend_env collective`` in every member
    environment): world size, backend, whether every rank got the right sum, the slowest init and all_reduce."""
    runs = [(name, rep) for name, rep in reports if rep]
    if not runs:
        return None
    ranks = [r for _, rep in runs for r in rep.get("ranks") or []]
    world = max((int(rep.get("world_size") or 0) for _, rep in runs), default=0)
    ok = bool(ranks) and all(r.get("ok") for r in ranks) and len(ranks) == world
    slow_init = max((r.get("init_s") or 0 for r in ranks), default=0)
    slow_ar = max((r.get("all_reduce_s") or 0 for r in ranks), default=0)
    backend = runs[0][1].get("backend", "-")
    if ok:
        result = (f"sum {runs[0][1].get('expected')} correct on {len(ranks)}/{world} ranks, init {slow_init:.2f} s, "
                  f"all_reduce {slow_ar * 1000:.1f} ms (slowest rank)")
        by_ssh = sum(1 for _, rep in runs if (rep.get("started") or {}).get("over_ssh"))
        if by_ssh:
            result += f"; started over ssh on {by_ssh}/{len(runs)} servers"
    else:
        bad = [f"{name} rank {r.get('rank')}: " + (r.get("error") or f"sum {r.get('got')}")
               for name, rep in runs for r in rep.get("ranks") or [] if not r.get("ok")]
        missing = world - len(ranks)
        result = "FAILED: " + "; ".join(bad + ([f"{missing} rank(s) did not report"] if missing > 0 else []))
    return (f"collective all_reduce across {', '.join(n for n, _ in runs)}: world {world}, backend {backend}, "
            f"{result}")
