"""Acceptance results over time: one run as JSON with a timestamp, and its drift from the last passing run.

A run holds, per host (and environment), named measurements -- smoke tokens/s, time to first token, bandwidth GB/s,
ping round trips -- each with its unit and which way is better, and named pass/fail checks (the doctor's, npu-smi
health, each ping of the matrix).  A value that could not be read is ``None`` and never passes.  :func:`drift`
compares a run with a baseline (normally :func:`last_passing`): what got slower beyond a tolerance, what went missing
(a host, an environment, a measurement, a check), what failed that passed, what can no longer be read.

Pure except :func:`save` and :func:`load_dir` at the end (one JSON file per run, named by its timestamp).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import AscendEnvError

__all__ = [
    "SCHEMA",
    "Change",
    "Check",
    "Drift",
    "Measurement",
    "Result",
    "ResultsError",
    "Run",
    "drift",
    "from_json",
    "last_passing",
    "load_dir",
    "new_run",
    "save",
    "to_json",
]

SCHEMA = 1
BETTER = ("higher", "lower")
#: kinds of change that make a run worse than its baseline
REGRESSIONS = ("slower", "missing", "failed", "unknown")


class ResultsError(AscendEnvError, ValueError):
    """A results file or value that cannot be read; the message names the field and the fix."""


@dataclass(frozen=True)
class Measurement:
    value: float | None            # None: could not be read
    unit: str = ""
    better: str = "higher"         # "higher" (tokens/s, GB/s) or "lower" (ms)


@dataclass(frozen=True)
class Check:
    passed: bool | None            # None: could not be decided
    detail: str = ""


@dataclass(frozen=True)
class Result:
    """What one host (or one environment of a host) measured and checked."""

    host: str
    environment: str | None = None
    measurements: Mapping[str, Measurement] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.host if self.environment is None else f"{self.host}/{self.environment}"

    @property
    def passed(self) -> bool:
        return all(c.passed is True for c in self.checks.values()) and all(
            m.value is not None for m in self.measurements.values())


@dataclass(frozen=True)
class Run:
    timestamp: str                 # ISO 8601, UTC: 2026-12-07T10:00:00Z
    results: tuple[Result, ...]
    fleet: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def result(self, key: str) -> Result | None:
        return next((r for r in self.results if r.key == key), None)


def _stamp(when: datetime) -> str:
    if when.tzinfo is None:
        raise ResultsError(f"timestamp {when.isoformat()} has no time zone; give an aware datetime (UTC)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: str) -> datetime:
    try:
        when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ResultsError(f"timestamp {text!r} is not like 2026-12-07T10:00:00Z (UTC)") from None
    return when


def new_run(results: Sequence[Result], when: datetime, fleet: str = "", meta: Mapping[str, str] | None = None) -> Run:
    """A run at ``when`` (an aware datetime; the caller's clock, so this stays pure).  Keys must be unique."""
    keys = [r.key for r in results]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ResultsError(f"result(s) {', '.join(dup)} appear twice in one run; give each host/environment one result")
    for r in results:
        for name, m in r.measurements.items():
            if m.better not in BETTER:
                raise ResultsError(f"{r.key} {name}: better={m.better!r}; use 'higher' or 'lower'")
            if m.value is not None and not math.isfinite(m.value):
                raise ResultsError(f"{r.key} {name}: value {m.value!r} is not a finite number; use None for unknown")
    return Run(_stamp(when), tuple(results), fleet, dict(meta or {}))


# --- JSON -----------------------------------------------------------------------------------------------------------

def to_json(run: Run) -> str:
    doc = {"schema": SCHEMA, "timestamp": run.timestamp, "fleet": run.fleet, "meta": dict(run.meta),
           "passed": run.passed,
           "results": [{"host": r.host, "environment": r.environment, "passed": r.passed,
                        "measurements": {k: {"value": m.value, "unit": m.unit, "better": m.better}
                                         for k, m in sorted(r.measurements.items())},
                        "checks": {k: {"passed": c.passed, "detail": c.detail} for k, c in sorted(r.checks.items())}}
                       for r in run.results]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ResultsError(f"{where}: '{key}' is missing")
    value = obj[key]
    if not isinstance(value, kind):
        raise ResultsError(f"{where}: '{key}' is {type(value).__name__}, expected {kind}")
    return value


def from_json(text: str, where: str = "results") -> Run:
    """A run from :func:`to_json`'s text; a bad file is a :class:`ResultsError` naming the field."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{where}: not JSON ({exc})") from None
    schema = _need(doc, "schema", int, where)
    if schema != SCHEMA:
        raise ResultsError(f"{where}: schema {schema} is not {SCHEMA}; this ascend-env reads schema {SCHEMA}")
    stamp = _need(doc, "timestamp", str, where)
    _parse_stamp(stamp)
    results = []
    for i, r in enumerate(_need(doc, "results", list, where)):
        at = f"{where}: results[{i}]"
        measurements = {}
        for k, m in _need(r, "measurements", dict, at).items():
            value = _need(m, "value", (int, float, type(None)), f"{at} {k}")
            better = _need(m, "better", str, f"{at} {k}")
            if better not in BETTER or isinstance(value, bool):
                raise ResultsError(f"{at} {k}: better {better!r} or value {value!r} is not valid")
            measurements[k] = Measurement(None if value is None else float(value), str(m.get("unit", "")), better)
        checks = {k: Check(_need(c, "passed", (bool, type(None)), f"{at} {k}"), str(c.get("detail", "")))
                  for k, c in _need(r, "checks", dict, at).items()}
        env = r.get("environment")
        results.append(Result(_need(r, "host", str, at), env if isinstance(env, str) else None, measurements, checks))
    meta = doc.get("meta") or {}
    return Run(stamp, tuple(results), str(doc.get("fleet") or ""), {str(k): str(v) for k, v in meta.items()})


def last_passing(runs: Sequence[Run]) -> Run | None:
    """The newest run that passed (the baseline for :func:`drift`)."""
    good = [r for r in runs if r.passed]
    return max(good, key=lambda r: _parse_stamp(r.timestamp)) if good else None


# --- drift ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    key: str                       # host or host/environment
    name: str                      # measurement or check ("" for the whole host/environment)
    kind: str                      # slower, missing, failed, unknown (regressions); faster, new, recovered
    before: float | bool | None = None
    after: float | bool | None = None
    message: str = ""

    @property
    def regression(self) -> bool:
        return self.kind in REGRESSIONS


@dataclass(frozen=True)
class Drift:
    baseline: str                  # timestamps
    current: str
    tolerance: float
    changes: tuple[Change, ...]

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.regression)

    @property
    def ok(self) -> bool:
        return not self.regressions

    def render(self) -> str:
        """A Markdown section: the regressions first, then the rest."""
        head = [f"Drift from the last passing run ({self.baseline}) to {self.current}, tolerance "
                f"{self.tolerance:.0%}:", ""]
        if not self.changes:
            return "\n".join([*head, "no change beyond the tolerance"])
        rows = ["| host | what | change | before | after |", "|---|---|---|---|---|"]
        for c in sorted(self.changes, key=lambda c: (not c.regression, c.key, c.name)):
            rows.append(f"| {c.key} | {c.name or '(all)'} | {c.kind}: {c.message} | {_fmt(c.before)} | "
                        f"{_fmt(c.after)} |")
        return "\n".join(head + rows)


def _fmt(v: float | bool | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "pass" if v else "fail"
    return f"{v:.4g}"


def _compare(key: str, name: str, before: Measurement, after: Measurement, tol: float) -> Change | None:
    if after.value is None:
        return Change(key, name, "unknown", before.value, None, "could not be read this time")
    if before.value is None:
        return None
    if after.unit != before.unit or after.better != before.better:
        return Change(key, name, "unknown", before.value, after.value,
                      f"measured in {after.unit or 'no unit'} ({after.better} is better) against "
                      f"{before.unit or 'no unit'} ({before.better} is better) before: not comparable")
    base, now = before.value, after.value
    if base == 0:
        return None if now == 0 else Change(key, name, "faster" if (now > 0) == (after.better == "higher") else
                                            "slower", base, now, "changed from zero")
    rel = (now - base) / abs(base)
    worse = -rel if after.better == "higher" else rel
    if worse > tol:
        return Change(key, name, "slower", base, now, f"{worse:.1%} worse ({_fmt(base)} -> {_fmt(now)} "
                      f"{after.unit}, {after.better} is better)")
    if -worse > tol:
        return Change(key, name, "faster", base, now, f"{-worse:.1%} better")
    return None


def drift(current: Run, baseline: Run, tolerance: float = 0.10,
          tolerances: Mapping[str, float] | None = None) -> Drift:
    """What changed from ``baseline`` to ``current``: measurements worse by more than ``tolerance`` (a fraction;
    ``tolerances`` per measurement name override it), what went missing, checks that failed or became undecidable,
    values that could no longer be read; improvements and new items are listed, not counted as regressions."""
    if not 0 <= tolerance < 1:
        raise ResultsError(f"tolerance {tolerance!r}: give a fraction such as 0.1 (10 %)")
    tolerances = dict(tolerances or {})
    changes: list[Change] = []
    for old in baseline.results:
        new = current.result(old.key)
        if new is None:
            changes.append(Change(old.key, "", "missing", message="this host/environment has no result this time"))
            continue
        for name, m in old.measurements.items():
            if name not in new.measurements:
                changes.append(Change(old.key, name, "missing", m.value, None, "not measured this time"))
                continue
            c = _compare(old.key, name, m, new.measurements[name], tolerances.get(name, tolerance))
            if c:
                changes.append(c)
        for name, chk in old.checks.items():
            now = new.checks.get(name)
            if now is None:
                changes.append(Change(old.key, name, "missing", chk.passed, None, "not checked this time"))
            elif now.passed is None and chk.passed is not None:
                changes.append(Change(old.key, name, "unknown", chk.passed, None, now.detail or "undecided"))
            elif now.passed is False and chk.passed is not False:
                changes.append(Change(old.key, name, "failed", chk.passed, False, now.detail or "failed"))
            elif now.passed is True and chk.passed is False:
                changes.append(Change(old.key, name, "recovered", False, True, "passes again"))
        for name in sorted(set(new.measurements) - set(old.measurements)):
            changes.append(Change(old.key, name, "new", None, new.measurements[name].value,
                                  "measured for the first time"))
        for name in sorted(set(new.checks) - set(old.checks)):
            now = new.checks[name]
            kind = "failed" if now.passed is False else "unknown" if now.passed is None else "new"
            changes.append(Change(old.key, name, kind, None, now.passed, now.detail or "checked for the first time"))
    for new in current.results:
        if baseline.result(new.key) is None:
            changes.append(Change(new.key, "", "new", message="no result in the baseline"))
    return Drift(baseline.timestamp, current.timestamp, tolerance, tuple(changes))


# --- files (the only I/O) -------------------------------------------------------------------------------------------

def save(run: Run, directory: Path) -> Path:
    """Write ``accept-<timestamp>.json`` into ``directory`` (atomically); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"accept-{run.timestamp.replace(':', '').replace('-', '')}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(to_json(run), encoding="utf-8")
    tmp.replace(path)
    return path


def load_dir(directory: Path) -> list[Run]:
    """Every run saved in ``directory``, oldest first; a file that cannot be read raises, naming it."""
    runs = [from_json(p.read_text(encoding="utf-8"), str(p)) for p in sorted(directory.glob("accept-*.json"))]
    return sorted(runs, key=lambda r: _parse_stamp(r.timestamp))
