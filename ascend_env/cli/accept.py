"""``ascend-env accept -i INVENTORY``: accept a fleet -- per host the doctor (every group) with npu-smi health and
``ascend-dmi -c``/``--bw`` where installed, per environment the inference smoke, ``hccn_tool -ping`` between every
pair of device IPs of the rank table (the matrix, naming each bad link), and the cross-host collective; the run is
saved as timestamped JSON beside a one-page Markdown report with its drift from the last passing run.

Exit codes: 0 every check passed (and every value was read), 1 a check failed or could not be read (with
--fail-on-drift also: something got worse than the last passing run), 2 bad input (inventory, flags, an unreadable
results folder), before any host is touched.  Nothing on a host changes.  A terminal's stderr shows the progress.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..day2.accept import Acceptance
    from ..day2.results import Run

EXAMPLES = """\
examples:
  python -m ascend_env accept -i inventory/hosts.yml                      # results and report in ./acceptance/
  python -m ascend_env accept -i inventory/hosts.yml --results /srv/acceptance/rack7 --json
  python -m ascend_env accept -i inventory/hosts.yml --limit npu-a,npu-b --ping-mode rail --ping-parallel 16
  ansible-playbook ascend.env.accept -i inventory/hosts.yml    # the same command, from Ansible

exit codes: 0 accepted, 1 a check failed or could not be read, 2 bad input (nothing was run)
"""
DEVICES = ("auto", "cpu", "npu", "cuda")


def add_accept_parser(sub: Any) -> None:
    p = sub.add_parser("accept", help="accept a fleet: doctor, health, ascend-dmi, smoke, ping matrix, collective; "
                                      "timestamped results and their drift", description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--inventory", required=True, metavar="PATH", help="the fleet's Ansible inventory")
    p.add_argument("--limit", help="NPU hosts to accept (comma-separated names; default: all)")
    p.add_argument("--results", default="acceptance", metavar="DIR",
                   help="folder of the runs (accept-<timestamp>.json and .md; default ./acceptance)")
    p.add_argument("--fleet", help="the fleet's name in the results (default: the inventory's absolute path)")
    p.add_argument("--tolerance", type=float, default=0.10, metavar="FRACTION",
                   help="how much worse a figure may get before the drift names it (default 0.10 = 10%%)")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when anything got worse (default: shown)")
    p.add_argument("--ping-mode", choices=("all", "rail"), default="all",
                   help="all: every pair of device IPs (default); rail: same device index on the other servers")
    p.add_argument("--ping-parallel", type=int, default=8, metavar="N", help="pings a host runs at once (default 8)")
    p.add_argument("--forks", type=int, default=16, metavar="N", help="hosts worked on at once (default 16)")
    p.add_argument("--smoke-device", choices=DEVICES, help="the smoke's device (default: ascend_smoke_device)")
    p.add_argument("--smoke-timeout", type=float, default=1800.0, metavar="S")
    p.add_argument("--python", help="the Python whose frameworks the doctor checks on a host (default python3)")
    p.add_argument("--json", action="store_true", help="print {ok, exit_code, results, report, drift, ...}")


class Progress:
    """``accept: pings 3/8`` on one terminal line of ``stream`` (stderr), only when it is a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.on:
            self.stream.write(f"\raccept: {phase} {done}/{total} host(s)\033[K" + ("\n" if done == total else ""))
            self.stream.flush()


def _history(directory: Path) -> list[Run]:
    """The runs already in the results folder (every file readable, else bad input naming it)."""
    from ..day2.results import load_dir

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--results {directory}: is a file, not a folder; give the folder of the runs")
    return load_dir(directory) if directory.exists() else []


def _writable(directory: Path) -> None:
    """The results folder, made now: a run whose results cannot be kept is not started."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--results {directory}: cannot make the folder ({e.strerror or e}); give a folder you can "
                         "write to") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"--results {directory}: not writable; give a folder you can write to")


def _when(history: list[Run]) -> datetime:
    """Now (UTC, to the second), after every run in the folder: a run never replaces another's file."""
    now = datetime.now(UTC).replace(microsecond=0)
    last = max((datetime.strptime(r.timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for r in history),
               default=None)
    return now if last is None or now > last else last + timedelta(seconds=1)


def _plan(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The fleet plan of the inventory and each host's smoke settings."""
    from ..day2.accept_steps import SmokeSettings
    from ..inventory import InventoryError, fleet_plan, hostvars_of, read_inventory

    data = read_inventory(args.inventory)
    fleet = fleet_plan(data, args.limit, where=f"inventory {args.inventory}", lenient=True)
    if fleet.problems:
        raise InventoryError("\n".join(f"inventory {args.inventory}, host {line}" for line in fleet.problem_lines()))
    hostvars = hostvars_of(data)
    return fleet, {n: SmokeSettings.from_hostvars(hostvars.get(n, {}), args.smoke_device) for n in fleet.hosts}


def run_accept(args: argparse.Namespace) -> int:
    from ..day2.accept import Options, accept, baseline_drift
    from ..day2.remote import SshRemote

    if not 0 <= args.tolerance < 1:
        raise UsageError(f"--tolerance {args.tolerance}: give a fraction from 0 to below 1, e.g. 0.1 for 10 %")
    opts = Options(ping_mode=args.ping_mode, ping_parallel=args.ping_parallel, forks=args.forks,
                   smoke_timeout=args.smoke_timeout)
    opts.check()
    directory = Path(args.results)
    history = _history(directory)
    fleet, settings = _plan(args)
    _writable(directory)
    name = args.fleet or str(Path(args.inventory).resolve())
    acc = accept(fleet, settings, SshRemote(python=args.python), _when(history), opts=opts, name=name,
                 progress=Progress())
    acc = replace(acc, drift=baseline_drift(acc.run, history, args.tolerance))
    results, report = _save(acc, directory)
    code = 1 if args.fail_on_drift and acc.drift is not None and not acc.drift.ok else acc.exit_code
    if args.json:
        print(json.dumps(_doc(acc, code, results, report), indent=1))
    else:
        print(report.read_text(encoding="utf-8"), end="")
    mark = "✓ accepted" if code == 0 else "✗ not accepted"
    print(f"{mark}: results {results}, report {report}", file=sys.stderr)
    return code


def _save(acc: Acceptance, directory: Path) -> tuple[Path, Path]:
    from ..day2.accept_report import render
    from ..day2.results import save

    try:
        results = save(acc.run, directory)
        report = results.with_suffix(".md")
        report.write_text(render(acc, str(results)), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--results {directory}: cannot write the run there ({e.strerror or e}); give a folder you "
                         "can write to") from None
    return results, report


def _doc(acc: Acceptance, code: int, results: Path, report: Path) -> dict[str, Any]:
    from ..day2.results import to_json

    m = acc.pings.mesh
    names = dict(acc.pings.job.names) if acc.pings.job else {}
    return {"ok": code == 0, "exit_code": code, "fleet": acc.run.fleet, "timestamp": acc.run.timestamp,
            "results": str(results), "report": str(report),
            "bad_links": [{"src": link.src.label(names), "dst": link.dst.ip, "status": link.status,
                           "problem": link.problem, "fix": link.fix} for link in (m.bad if m else ())],
            "ping_matrix": None if m is None else {"links": len(m.links), "bad": len(m.bad),
                                                   "suspects": list(m.suspects)},
            "collective": acc.collective,
            "drift": None if acc.drift is None else {
                "baseline": acc.drift.baseline, "ok": acc.drift.ok,
                "changes": [{"key": c.key, "name": c.name, "kind": c.kind, "before": c.before, "after": c.after,
                             "message": c.message, "regression": c.regression} for c in acc.drift.changes]},
            "run": json.loads(to_json(acc.run))}
