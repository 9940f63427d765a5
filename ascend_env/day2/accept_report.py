"""The acceptance's one-page Markdown report of a fleet: the verdict, the table of hosts and environments by check,
what failed (or could not be read) with its detail, the ping matrix with every bad link, the collective, and the
drift from the last passing run.  Pure: an :class:`~.accept.Acceptance` in, text out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .accept_steps import (
    COLLECTIVE,
    DMI_BW,
    DMI_COMPAT,
    DOCTOR,
    DOCTOR_PREFIX,
    HEALTH,
    RANKTABLE,
    REACHABLE,
    SMOKE,
    SMOKE_TOK_S,
)
from .results import Check, Result

if TYPE_CHECKING:
    from .accept import Acceptance

__all__ = ["COLUMNS", "PING_PREFIX", "cells", "problems", "render"]

PING_PREFIX = "ping "
COLUMNS = ("reachable", "doctor", "npu-smi health", "ascend-dmi", "rank table", "pings", "smoke", "collective")
#: the matrix is printed whole up to this many devices; beyond it, only the bad links
MATRIX_MAX = 64


def _mark(check: Check | None) -> str:
    if check is None:
        return "-"
    return {True: "ok", False: "FAIL"}.get(check.passed, "unknown")  # type: ignore[arg-type]


def _worst(checks: list[Check]) -> Check | None:
    if not checks:
        return None
    for value in (False, None):
        found = next((c for c in checks if c.passed is value), None)
        if found is not None:
            return found
    return checks[0]


def _pings_cell(r: Result) -> str:
    pings = [c for n, c in r.checks.items() if n.startswith(PING_PREFIX)]
    if not pings:
        return "-"
    good = sum(c.passed is True for c in pings)
    return f"{good}/{len(pings)} ok" if good == len(pings) else f"FAIL: {len(pings) - good} of {len(pings)} bad"


def _dmi_cell(r: Result, note: str | None) -> str:
    if note:
        return note
    mark = _mark(_worst([c for n, c in r.checks.items() if n in (DMI_COMPAT, DMI_BW)]))
    h2d = [m.value for n, m in r.measurements.items() if n.startswith(f"{DMI_BW} h2d") and m.value is not None]
    return mark + (f", h2d {max(h2d):.1f} GB/s" if h2d and mark == "ok" else "")


def cells(r: Result, notes: Mapping[str, str]) -> dict[str, str]:
    """One row of the table: each column's mark (ok, FAIL, unknown; '-' where the check does not apply)."""
    c = r.checks
    row = {col: "-" for col in COLUMNS}
    if r.environment is None:
        failing = sum(ch.passed is not True for n, ch in c.items() if n.startswith(DOCTOR_PREFIX))
        doctor = _mark(c.get(DOCTOR))
        row.update({"reachable": _mark(c.get(REACHABLE)),
                    "doctor": doctor + (f" ({failing} check(s))" if failing and doctor != "ok" else ""),
                    "npu-smi health": _mark(c.get(HEALTH)), "ascend-dmi": _dmi_cell(r, notes.get("ascend-dmi")),
                    "rank table": _mark(c.get(RANKTABLE)), "pings": _pings_cell(r)})
        return row
    smoke = _mark(c.get(SMOKE))
    tok = r.measurements.get(SMOKE_TOK_S)
    row["smoke"] = smoke + (f", {tok.value:.1f} tok/s" if tok and tok.value is not None and smoke == "ok" else "")
    row["collective"] = _mark(c.get(COLLECTIVE))
    return row


def problems(r: Result) -> list[str]:
    """What did not pass on one row, one line each (pings are named by the matrix; the doctor's verdict only when
    no check of its own says why)."""
    own_doctor = any(n.startswith(DOCTOR_PREFIX) and ch.passed is not True for n, ch in r.checks.items())
    out = []
    for name, ch in r.checks.items():
        if ch.passed is True or name.startswith(PING_PREFIX) or (name == DOCTOR and own_doctor):
            continue
        state = "failed" if ch.passed is False else "could not be read"
        out.append(f"{r.key}: {name} {state}" + (f": {_md(ch.detail)}" if ch.detail else ""))
    out += [f"{r.key}: {name} could not be read" for name, m in sorted(r.measurements.items())
            if m.value is None and not name.startswith(PING_PREFIX)]
    pings = [ch for n, ch in r.checks.items() if n.startswith(PING_PREFIX)]
    bad = sum(ch.passed is not True for ch in pings)
    if bad:
        out.append(f"{r.key}: {bad} of its {len(pings)} pings did not answer in full (the ping matrix names each link)")
    return out


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(acc: Acceptance) -> list[str]:
    head = "| host / environment | " + " | ".join(COLUMNS) + " |"
    rows = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for r in acc.run.results:
        row = cells(r, acc.notes.get(r.key, {}))
        rows.append(f"| {r.key} | " + " | ".join(_md(row[c]) for c in COLUMNS) + " |")
    return rows


def _matrix(acc: Acceptance) -> list[str]:
    p = acc.pings
    out = ["## Ping matrix (hccn_tool -ping between the rank table's device IPs)", ""]
    if p.mesh is None or p.job is None:
        return [*out, p.note or "not run"]
    names = dict(p.job.names)
    text = p.mesh.render(names)
    if len(p.mesh.endpoints) > MATRIX_MAX:   # one page: the bad links only
        text = "\n".join(line for line in text.splitlines() if " -> " in line or line.startswith("suspect"))
    good = sum(not link.bad for link in p.mesh.links)
    out += [f"{good} of {len(p.mesh.links)} pings answered in full; ranks as in the table "
            f"({', '.join(f'{h} = {sid}' for sid, h in names.items())}).", "", "```", text or "(no bad link)", "```"]
    out += [f"- pings from {h} could not run: {_md(why)}" for h, why in sorted(p.errors.items())]
    return out


def render(acc: Acceptance, results_file: str | None = None) -> str:
    """The report (Markdown, one page for a fleet of a few hosts)."""
    run = acc.run
    hosts = sum(r.environment is None for r in run.results)
    verdict = "PASSED" if run.passed else "FAILED"
    lines = [f"# Acceptance of {run.fleet or 'the fleet'}: {verdict}", "",
             f"{run.timestamp}: {hosts} host(s), {len(run.results) - hosts} environment(s); exit code "
             f"{acc.exit_code}" + (f"; results: `{results_file}`" if results_file else "") + ".", "",
             *_table(acc), ""]
    bad = [line for r in run.results for line in problems(r)]
    lines += ["## What failed or could not be read", "", *([f"- {b}" for b in bad] or ["nothing"]), ""]
    lines += [*_matrix(acc), "", "## Collective", "", _md(acc.collective), "", "## Drift", ""]
    if acc.drift is not None:
        lines.append(acc.drift.render())
    else:
        lines.append("no earlier passing run of this fleet in the results folder: nothing to compare with"
                     + (" (this run is the baseline of the next)" if run.passed else ""))
    return "\n".join(lines) + "\n"
