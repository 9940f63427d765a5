"""Accept a fleet with one command: every check an operator runs before handing servers to users, on every host and
environment of the fleet plan, as one timestamped run (:mod:`.results`) with its drift from the last passing run.

In four phases, so that no measurement disturbs another on the same host:

1. each NPU host read once with the doctor's probe (in parallel, ``forks`` at a time): the doctor's checks (the code
   ``doctor --inventory`` runs, fleet checks included) and npu-smi health;
2. per host, one after another on it and ``forks`` hosts at once: ``ascend-dmi -c`` and ``--bw`` where the tool is
   installed ("not installed" otherwise: no check, never ok), then the inference smoke in each environment;
3. ``hccn_tool -ping`` between every pair of device IPs of the rank table of the hosts that take part
   (``ascend_ranktable_enabled``; device IPs from phase 1's probe): each host runs its pings ``ping_parallel`` at
   a time; the matrix names every bad link (:mod:`.pingmesh`);
4. the cross-host collective, every member environment's rank at once, when site.yml would run it (torch in every
   member environment, ``ascend_ranktable_collective``).

The fleet comes from the plan only (``ascend_env.inventory.fleet_plan``); commands reach it through a
:class:`~.remote.Remote` (tests give a fake one).  Nothing here changes a host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import UsageError
from .accept_steps import (
    COLLECTIVE,
    RANKTABLE,
    REACHABLE,
    Items,
    SmokeSettings,
    collective_argv,
    collective_item,
    dmi_absent,
    dmi_argv,
    dmi_items,
    doctor_items,
    smoke_argv,
    smoke_items,
)
from .pingmesh import Mesh, mesh, pairs, result_items
from .results import Check, Drift, Result, Run, drift, last_passing, new_run

if TYPE_CHECKING:
    from ..plan import EnvPlan, FleetPlan, HostPlan
    from ..ranktable_check import HcclChip
    from .remote import Ran, Remote

__all__ = ["Acceptance", "Job", "Options", "Pings", "accept", "baseline_drift", "doctor_checks", "ranktable_job"]

#: progress callback: phase, done, total
Progress = Callable[[str, int, int], None]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Options:
    ping_mode: str = "all"          # every ordered pair of the table ("rail": same device index, other servers)
    ping_parallel: int = 8          # pings a host runs at once
    forks: int = 16                 # hosts worked on at once
    ping_timeout: float = 60.0      # seconds for one ping
    smoke_timeout: float = 1800.0
    dmi_timeout: float = 600.0
    collective_timeout: float = 120.0

    def check(self) -> None:
        """Bad values are bad input (exit 2), named, before any host is touched."""
        if self.ping_mode not in ("all", "rail"):
            raise UsageError(f"--ping-mode {self.ping_mode!r}: use all (every pair) or rail (same device index)")
        for name, value, low in (("--ping-parallel", self.ping_parallel, 1), ("--forks", self.forks, 1)):
            if value < low or value > 256:
                raise UsageError(f"{name} {value}: give 1 to 256")
        for name, t in (("--ping-timeout", self.ping_timeout), ("--smoke-timeout", self.smoke_timeout),
                        ("--collective-timeout", self.collective_timeout)):
            if not t > 0:
                raise UsageError(f"{name} {t}: give a number of seconds above 0")


@dataclass(frozen=True)
class Job:
    """The rank table's hosts and how site.yml builds their table (the first member's settings, as the ranktable
    play takes them)."""

    members: tuple[str, ...]
    version: str
    chip: HcclChip | None
    devices: tuple[int, ...] | None
    names: Mapping[str, str]         # server_id -> host


@dataclass(frozen=True)
class Pings:
    """Phase 3: the table pinged, its matrix, and per member host the rank table's own check."""

    job: Job | None
    table: dict[str, Any] | None = None
    mesh: Mesh | None = None
    checks: Mapping[str, Check] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)     # host -> why its pings could not run
    note: str = ""


@dataclass(frozen=True)
class Acceptance:
    run: Run
    pings: Pings
    collective: str                              # the fleet line of the all_reduce, or why it was not run
    notes: Mapping[str, Mapping[str, str]]       # result key -> column -> what is shown instead of a check
    drift: Drift | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.run.passed else 1


def ranktable_job(fleet: FleetPlan, matrix: Any) -> Job | None:
    """The hosts with ``ascend_ranktable_enabled`` and their table's format, chip and devices (None: no host takes
    part).  A format or device list the table cannot have is bad input."""
    from ..ranktable import MAX_DEVICES, RankTableError, format_for, hccl_chip, parse_devices

    members = tuple(n for n, h in fleet.hosts.items() if h.ranktable.enabled)
    if not members:
        return None
    first = fleet.hosts[members[0]].ranktable
    chips = sorted({fleet.hosts[n].chip.lower() for n in members})
    try:
        version = format_for(matrix, chips)[0] if first.format == "auto" else first.format
        chip = hccl_chip(chips)
        devices = parse_devices(first.devices or None, chip.devices if chip else MAX_DEVICES)
    except RankTableError as e:
        raise UsageError(f"the rank table of {', '.join(members)}: {e}") from None
    names = {fleet.hosts[n].ranktable.server_id: n for n in members}
    return Job(members, version, chip, None if devices is None else tuple(devices), names)


def _parallel(fn: Callable[[T], R], items: Sequence[T], workers: int, progress: Progress | None,
              phase: str) -> list[R]:
    """``fn`` over ``items``, ``workers`` at a time, results in ``items``' order; progress per item done."""
    if not items:
        return []
    out: list[R] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        for i, result in enumerate(pool.map(fn, items)):
            out.append(result)
            if progress:
                progress(phase, i + 1, len(items))
    return out


class _Sheet:
    """Measurements and checks per host and environment, in the plan's order."""

    def __init__(self, fleet: FleetPlan) -> None:
        self.rows: dict[tuple[str, str | None], Items] = {}
        for h in fleet.hosts.values():
            self.rows[(h.name, None)] = ({}, {})
            for e in h.envs:
                self.rows[(h.name, e.container)] = ({}, {})

    def add(self, host: str, env: str | None, items: Items) -> None:
        measurements, checks = self.rows[(host, env)]
        measurements.update(items[0])
        checks.update(items[1])

    def results(self) -> list[Result]:
        return [Result(h, e, dict(m), dict(c)) for (h, e), (m, c) in self.rows.items()]


# --- phase 1: the doctor ----------------------------------------------------------------------------------------------

def doctor_checks(fleet: FleetPlan, facts: Mapping[str, dict[str, Any] | str]) -> dict[str, list[Any]]:
    """Each host's doctor checks, as ``doctor --inventory`` makes them (the fleet's network checks included)."""
    from ..doctor.run import judge, with_fleet_checks
    from ..matrix import load_matrix

    matrix = load_matrix()
    results = with_fleet_checks([judge(h.name, facts[h.name], matrix, chip=h.chip, runtime=h.runtime)
                                 for h in fleet.hosts.values()])
    return {name: checks for name, _, checks in results}


#: what runs the doctor on the facts read (tests give their own)
Doctor = Callable[["FleetPlan", Mapping[str, "dict[str, Any] | str"]], Mapping[str, Sequence[Any]]]


def _doctor(fleet: FleetPlan, facts: Mapping[str, dict[str, Any] | str], sheet: _Sheet, doctor: Doctor) -> None:
    from ..doctor.run import exit_code

    found = doctor(fleet, facts)
    for name in fleet.hosts:
        f, checks = facts[name], list(found.get(name, []))
        reach = Check(True, "read with the doctor's probe") if isinstance(f, dict) else Check(False, f)
        sheet.add(name, None, ({}, {REACHABLE: reach, **doctor_items(checks, exit_code(checks))}))


# --- phase 2: ascend-dmi and the smoke, host by host -----------------------------------------------------------------

def _dmi(h: HostPlan, facts: dict[str, Any] | str, remote: Remote, opts: Options) -> tuple[Items, str | None]:
    """``ascend-dmi -c`` and ``--bw -d N`` per device on the host; the note shown instead when it is not there."""
    if isinstance(facts, str):
        return ({}, {}), "not run: the host could not be read"
    compat = remote.run(h.connection, dmi_argv(h.root, "-c"), timeout=opts.dmi_timeout)
    if dmi_absent(compat):
        return ({}, {}), "not installed"
    devices = [int(d) for d in (facts.get("devices") or {}).get("davinci") or []]
    bw = [] if compat.rc is None else [
        (d, remote.run(h.connection, dmi_argv(h.root, "--bw", "-d", str(d)), timeout=opts.dmi_timeout))
        for d in devices]
    return dmi_items(compat, bw), None


def _smoke(env: EnvPlan, s: SmokeSettings, remote: Remote, opts: Options) -> tuple[Items, dict[str, Any] | None]:
    ran = remote.run(env.connection, smoke_argv(env, s), timeout=opts.smoke_timeout)
    return smoke_items(ran)


HostWork = tuple[Items, "str | None", "dict[str, Items]"]


def _host_work(h: HostPlan, facts: dict[str, Any] | str, s: SmokeSettings, remote: Remote,
               opts: Options) -> HostWork:
    dmi, note = _dmi(h, facts, remote, opts)
    envs = {e.container: _smoke(e, s, remote, opts)[0] for e in h.envs}
    return dmi, note, envs


# --- phase 3: the ping matrix -----------------------------------------------------------------------------------------

def _table(fleet: FleetPlan, job: Job, facts: Mapping[str, dict[str, Any] | str]
           ) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The table of the members that could be read (link and net health not required: the pings test them), and per
    member what keeps the job's table from being written (unreachable, no hccn_tool, a port not ready)."""
    from ..ranktable import build, server_from_facts

    problems: dict[str, list[str]] = {n: [] for n in job.members}
    servers = []
    for n in job.members:
        f = facts[n]
        s = server_from_facts(n, fleet.hosts[n].ranktable.server_id, f) if isinstance(f, dict) else \
            f"{n}: unreachable ({f})"
        if isinstance(s, str):
            problems[n].append(s)
        else:
            servers.append(s)
    missing = [n for n in job.members if problems[n]]
    devices = list(job.devices) if job.devices is not None else None
    strict, issues = build(servers, devices, job.version, job.chip)
    table = strict if strict is not None else build(servers, devices, job.version, job.chip, links=False)[0]
    for p in issues:
        for n in (job.members if p.host == "fleet" else [p.host]):
            problems.setdefault(n, []).append(str(p))
    for n in job.members:
        if n not in missing and missing:
            problems[n].append(f"the table lacks {', '.join(missing)}: its devices were not pinged")
    return table, problems


PingWork = tuple["HostPlan", "dict[str, Any]", "list[tuple[Any, Any]]", "Remote", Options]


def _ping_host(args: PingWork) -> list[tuple[tuple[str, int, str], Ran]]:
    h, facts, todo, remote, opts = args
    tool = (facts.get("network") or {}).get("tool")
    if not tool:
        return []
    commands = [[tool, "-i", str(s.device_id), "-ping", "-g", "address", d.ip] for s, d in todo]
    ran = remote.run_many(h.connection, commands, opts.ping_parallel, opts.ping_timeout)
    return [((s.server_id, s.device_id, d.ip), r) for (s, d), r in zip(todo, ran, strict=True)]


def _pings(fleet: FleetPlan, job: Job | None, facts: Mapping[str, dict[str, Any] | str], remote: Remote,
           opts: Options, progress: Progress | None) -> Pings:
    from ..probe.hccn import parse_ping

    if job is None:
        return Pings(None, note="no host takes part in a rank table (ascend_ranktable_enabled): no ping matrix")
    table, problems = _table(fleet, job, facts)
    checks = {n: Check(not lines, "; ".join(lines) or "every device of the table has an address, link UP and net "
                       "health Success") for n, lines in problems.items()}
    if table is None:
        return Pings(job, None, None, checks, note="the ping matrix needs a table: " + "; ".join(
            line for lines in problems.values() for line in lines))
    todo: dict[str, list[tuple[Any, Any]]] = {}
    for src, dst in pairs(table, opts.ping_mode):
        todo.setdefault(job.names[src.server_id], []).append((src, dst))
    work: list[PingWork] = []
    for n, t in todo.items():
        f = facts[n]
        if isinstance(f, dict):
            work.append((fleet.hosts[n], f, t, remote, opts))
    results, errors = {}, {}
    for (h, _, _, _, _), answers in zip(work, _parallel(_ping_host, work, opts.forks, progress, "pings"), strict=True):
        for key, r in answers:
            if r.rc is None:
                errors[h.name] = r.why
                continue
            results[key] = parse_ping(r.stdout + ("\n" + r.stderr if r.stderr else ""), r.rc)
    return Pings(job, table, mesh(table, results, opts.ping_mode, dict(job.names)), checks, errors)


# --- phase 4: the collective ------------------------------------------------------------------------------------------

def _collective(fleet: FleetPlan, job: Job | None, settings: Mapping[str, SmokeSettings], remote: Remote,
                opts: Options) -> tuple[dict[tuple[str, str], Check], str | None, str]:
    """Every member environment's rank at once (they wait for each other: never bounded by ``forks``)."""
    from ..smoke.fleet import collective_line

    if job is None:
        return {}, None, "no rank table: no collective"
    envs = [e for n in job.members for e in fleet.hosts[n].envs]
    first = fleet.hosts[job.members[0]].ranktable
    if len(envs) < 2 or {e.framework for e in envs} != {"torch"} or not first.collective:
        return {}, None, ("not run: site.yml runs it when two or more member environments all run torch and "
                          "ascend_ranktable_collective is true")

    def rank(e: EnvPlan) -> Ran:
        argv = collective_argv(e, settings[e.host].device, first.collective_port, opts.collective_timeout)
        return remote.run(e.connection, argv, timeout=opts.collective_timeout + 60)

    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        ran = list(pool.map(rank, envs))
    checks, reports = {}, []
    for e, r in zip(envs, ran, strict=True):
        check, report = collective_item(r)
        checks[(e.host, e.container)] = check
        reports.append((e.name, report))
    return checks, collective_line(reports) or "collective: no rank reported", ""


# --- the whole run ----------------------------------------------------------------------------------------------------

def accept(fleet: FleetPlan, settings: Mapping[str, SmokeSettings], remote: Remote, when: datetime, *,
           opts: Options | None = None, matrix: Any = None, name: str = "", progress: Progress | None = None,
           doctor: Doctor | None = None) -> Acceptance:
    """Run every check on the fleet and return the run (not saved: :func:`ascend_env.day2.results.save`)."""
    from ..matrix import load_matrix

    opts = opts or Options()
    opts.check()
    job = ranktable_job(fleet, matrix if matrix is not None else load_matrix())
    hosts = list(fleet.hosts.values())
    sheet = _Sheet(fleet)
    facts = dict(zip(fleet.hosts, _parallel(remote.facts, _targets(fleet), opts.forks, progress, "doctor"),
                     strict=True))
    _doctor(fleet, facts, sheet, doctor or doctor_checks)
    notes: dict[str, dict[str, str]] = {}
    work = _parallel(lambda h: _host_work(h, facts[h.name], settings[h.name], remote, opts), hosts, opts.forks,
                     progress, "ascend-dmi and smoke")
    for h, (dmi, note, envs) in zip(hosts, work, strict=True):
        sheet.add(h.name, None, dmi)
        if note:
            notes.setdefault(h.name, {})["ascend-dmi"] = note
        for container, items in envs.items():
            sheet.add(h.name, container, items)
    pings = _pings(fleet, job, facts, remote, opts, progress)
    _add_pings(sheet, pings)
    coll_checks, line, coll_note = _collective(fleet, job, settings, remote, opts)
    for (host, container), check in coll_checks.items():
        sheet.add(host, container, ({}, {COLLECTIVE: check}))
    meta = {"ping_mode": opts.ping_mode, "collective": line or coll_note,
            **{f"{k} {col}": v for k, cols in notes.items() for col, v in cols.items()}}
    run = new_run(sheet.results(), when, name, meta)
    return Acceptance(run, pings, line or coll_note, notes)


def _targets(fleet: FleetPlan) -> list[Any]:
    from ..doctor.targets import fleet_targets

    return fleet_targets(fleet)


def _add_pings(sheet: _Sheet, pings: Pings) -> None:
    for host, check in pings.checks.items():
        sheet.add(host, None, ({}, {RANKTABLE: check}))
    if pings.mesh is not None and pings.job is not None:
        for host, items in result_items(pings.mesh, dict(pings.job.names)).items():
            sheet.add(host, None, items)


def baseline_drift(run: Run, history: Sequence[Run], tolerance: float = 0.10) -> Drift | None:
    """The drift of ``run`` from the last passing run of the same fleet in ``history`` (None: there is none)."""
    base = last_passing([r for r in history if r.fleet == run.fleet and r.timestamp != run.timestamp])
    return drift(run, base, tolerance) if base is not None else None
