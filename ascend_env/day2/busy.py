"""Are a host's NPUs held?  From ``npu-smi info`` read on the host and in every container of the host.  Pure.

Why it matters.  Huawei's upgrade guide: "请在软件包升级前确保无相关业务进程占用昇腾驱动节点(包含容器映射场景)，
否则热复位将无法生效" -- before upgrading, make sure no process holds the Ascend driver's device nodes, containers that
map them included, or the hot reset cannot take effect (Atlas 200I A2 upgrade guide, "升级前必读", notice 7:
https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/ep/upgradeguide).  The driver installer checks it
itself before it removes the old driver (``--full`` over an installed driver, ``--upgrade``, ``--uninstall``):
``checkUserProcess`` runs ``fuser -uv`` on ``/dev/davinci_manager`` and ``checkUserDocker`` looks for it in
``docker inspect`` of every running container, then ``exitInstallInfo`` stops with::

    [ERROR]The davinci nodes are occupied by some processes, please stop processes and install or uninstall again,
    details in : /var/log/ascend_seclog/ascend_install.log
    [INFO]If you want to install or uninstall the driver forcibly, add the force parameter. For details, see [--help].

and logs ``[WARNING]/dev/davinci_manager has user process: <pids>`` or ``[WARNING]/dev/davinci_manager has used by
docker`` (the driver package's install scripts, CANN Open Software License, code-index ids 37093950212 and
37519693671; the same message in https://support.huaweicloud.com/bestpractice-aics/aics_bp_0106.html with the
``--upgrade --force`` escape, and in a user's notes that stopped their containers to get past it, code-index id
4571034313).  So a container that maps the NPUs blocks the upgrade even when no process in it uses them.

What npu-smi shows.  The process section lists each process by the pid the host sees (the driver works in the
host's pid namespace; a container's own ``npu-smi`` lists the same host pids with an empty name, as the 25.3.rc1
in-container table of https://github.com/vllm-project/vllm-ascend/issues/4266 shows); tables of drivers 25.6+/26.x
add ``Process id in container`` (``NA`` for a process of the host, tests/unit/data/npu_smi/SOURCES.md).  In a
container, NPU ids may be renumbered (https://github.com/ollama/ollama/issues/5315), so readings are joined on the
pid, never on the NPU id.  Which container a pid lives in comes from the container runtime (``docker top``, or the
pid's cgroup: :func:`container_of_cgroup`) when the caller gives it, else from what the tables prove.

A table that cannot be read, or that does not account for every NPU it lists (neither a process row nor
``No running processes found in NPU N``), makes the answer "unknown", never "free".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..probe.npu_smi import NpuSmiInfo, NpuSmiParseError, parse_info

__all__ = [
    "BUSY",
    "FREE",
    "INSTALLER_REFUSAL",
    "UNKNOWN",
    "Holder",
    "Reading",
    "Verdict",
    "assess",
    "container_of_cgroup",
    "owners_from_cgroups",
    "owners_from_top",
    "reading_from_probe",
]

BUSY, FREE, UNKNOWN = "busy", "free", "unknown"
#: the driver installer's refusal (exitInstallInfo, see the module docstring)
INSTALLER_REFUSAL = ("The davinci nodes are occupied by some processes, please stop processes and install or "
                     "uninstall again")
#: the setting that lets ascend-env stop the environment's containers around an upgrade (issue "Day two")
STOP_SETTING = "ascend_upgrade_stop_containers"
# npu-smi in a container whose device another container holds: "dcmi model initialized failed, because the device
# is used. ret is -8020" (https://github.com/Ascend/cann-container-image/issues/46)
_DEVICE_USED = re.compile(r"device is used|ret is -8020", re.I)


@dataclass(frozen=True)
class Reading:
    """One run of ``npu-smi info``: on the host (``where="host"``) or in a container (its name)."""

    where: str
    stdout: str | None
    rc: int | None = 0
    stderr: str = ""
    error: str | None = None     # the run itself failed (no npu-smi, timeout): what the runner said


@dataclass(frozen=True)
class Holder:
    """A process that holds an NPU (or evidence of one whose pid is not known)."""

    pid: int | None               # the host's pid (npu-smi's "Process id"); None: masked or not reported
    name: str | None              # None where no table named it (a container's npu-smi prints no name)
    npu_id: int | None
    chip_id: int | None
    memory_mb: int | None
    container: str | None = None  # the container it lives in, when known
    container_pid: int | None = None
    in_container: bool | None = None   # True/False when known; None when nothing says
    npu_seen_in: str = "host"     # whose numbering npu_id is in ("host" or a container: ids may be renumbered)
    seen_in: tuple[str, ...] = ()
    note: str | None = None       # for evidence without a pid: what was seen

    def describe(self) -> str:
        if self.pid is None:
            return self.note or "a process npu-smi did not identify"
        where_npu = "" if self.npu_id is None else (
            f"NPU {self.npu_id}" + (f" chip {self.chip_id}" if self.chip_id is not None else "")
            + ("" if self.npu_seen_in == "host" else f" (as container {self.npu_seen_in} numbers it)") + ": ")
        what = ", ".join(x for x in (self.name, f"{self.memory_mb} MB" if self.memory_mb is not None else None) if x)
        home = (f"in container {self.container}" if self.container else
                "on the host" if self.in_container is False else
                "in a container ascend-env could not name" if self.in_container else "owner unknown")
        inner = f", pid {self.container_pid} there" if self.container_pid is not None else ""
        return f"{where_npu}pid {self.pid}{f' ({what})' if what else ''} {home}{inner}"


@dataclass(frozen=True)
class Verdict:
    host: str
    status: str                          # BUSY, FREE or UNKNOWN
    holders: tuple[Holder, ...] = ()
    #: running containers that map the NPUs' device nodes (the installer's checkUserDocker refuses for each)
    mapping_containers: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()         # what could not be read, and why
    notes: tuple[str, ...] = ()          # what was read partially without changing the answer
    message: str = ""
    fix: str | None = None
    lines: tuple[str, ...] = field(default=())   # the refusal as one line per holder, for reports

    @property
    def busy(self) -> bool:
        return self.status == BUSY


def reading_from_probe(where: str, npu_smi_facts: Mapping | None) -> Reading:
    """The probe's ``npu_smi`` facts (ascend_env/probe/host.py ``probe_npu_smi``) as a :class:`Reading`."""
    facts = npu_smi_facts or {}
    if not facts.get("path"):
        return Reading(where, None, None, error="npu-smi is not installed here (the probe found no npu-smi)")
    run = facts.get("info_with_libpath") or facts.get("info") or {}
    return Reading(where, run.get("stdout"), run.get("rc"), run.get("stderr") or "", run.get("error"))


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")


def _read(reading: Reading) -> tuple[NpuSmiInfo | None, str | None]:
    """The parsed table, or why there is none."""
    said = _first_line((reading.stdout or "") + "\n" + (reading.stderr or ""))
    if reading.error:
        return None, f"npu-smi could not run: {reading.error}"
    if reading.rc not in (0, None):
        return None, f"npu-smi info failed (exit {reading.rc}): {said or 'it printed nothing'}"
    if not (reading.stdout or "").strip():
        return None, "npu-smi info printed nothing"
    try:
        return parse_info(reading.stdout or ""), None
    except NpuSmiParseError as exc:
        return None, str(exc)


def _coverage_gaps(info: NpuSmiInfo) -> list[str]:
    """What the table leaves unsaid about processes: NPUs with neither a process row nor an idle row, process rows it
    could not read, an NPU whose id is unreadable."""
    gaps: list[str] = []
    said = set(info.idle_npus) | {p.npu_id for p in info.processes if p.npu_id is not None}
    ids = [c.npu_id for c in info.cards]
    if any(i is None for i in ids):
        gaps.append("an NPU's id is unreadable, so whether a process holds it is unknown")
    missing = sorted({i for i in ids if i is not None} - said)
    if missing:
        gaps.append(f"the process table says nothing about NPU {', '.join(map(str, missing))} (no process row and "
                    "no 'No running processes found' row)")
    gaps += [w for w in info.warnings if "process" in w.lower()]
    if not info.cards and not info.processes and not info.idle_npus:
        gaps.append("the table lists no NPU and no process")
    return gaps


def container_of_cgroup(text: str) -> str | None:
    """The container id in ``/proc/<pid>/cgroup`` (cgroup v1 or v2): ``.../docker/<id>``, ``docker-<id>.scope``,
    ``cri-containerd-<id>.scope``, ``crio-<id>.scope``, ``libpod-<id>.scope`` or iSulad's ``/isulad/<id>``; None for a
    process of the host."""
    m = re.search(r"(?:/docker/|/docker-|/isulad/|cri-containerd-|crio-|libpod-|/kubepods[^\n]*?/)([0-9a-f]{64})",
                  text or "")
    return m.group(1) if m else None


def owners_from_cgroups(cgroups: Mapping[int, str], names: Mapping[str, str]) -> dict[int, str]:
    """pid -> container name, from each pid's ``/proc/<pid>/cgroup`` text and the runtime's ``id -> name`` (ids may
    be given in full or as the 12-character short form ``docker ps`` prints)."""
    out: dict[int, str] = {}
    for pid, text in cgroups.items():
        cid = container_of_cgroup(text)
        if cid is None:
            continue
        name = names.get(cid) or next((n for i, n in names.items() if len(i) >= 12 and cid.startswith(i)), None)
        out[pid] = name or cid[:12]
    return out


def owners_from_top(tops: Mapping[str, str]) -> dict[int, str]:
    """pid -> container name from ``docker top <name> -eo pid`` (or ``isula top``) per container: the first column
    named ``PID``, then one pid per line; other lines are ignored."""
    out: dict[int, str] = {}
    for name, text in tops.items():
        col = None
        for line in (text or "").splitlines():
            parts = line.split()
            if col is None:
                if "PID" in parts:
                    col = parts.index("PID")
                continue
            if len(parts) > col and parts[col].isdigit():
                out[int(parts[col])] = name
    return out


def _merge(per_view: list[tuple[str, NpuSmiInfo]]) -> list[Holder]:
    """One holder per pid across the readings (host first: its NPU ids and names are the host's)."""
    by_pid: dict[int, dict] = {}
    unknown: list[Holder] = []
    for where, info in per_view:
        for p in info.processes:
            if p.pid is None:
                unknown.append(Holder(None, None, p.npu_id, p.chip_id, p.memory_mb, npu_seen_in=where,
                                      seen_in=(where,), note=f"a process on NPU {p.npu_id} whose pid {where}'s "
                                      "npu-smi did not print"))
                continue
            cur = by_pid.get(p.pid)
            if cur is None:
                by_pid[p.pid] = {"p": p, "where": where, "seen": [where], "cpid": p.container_pid,
                                 "name": p.name or None}
            else:
                cur["seen"].append(where)
                cur["cpid"] = cur["cpid"] if cur["cpid"] is not None else p.container_pid
                cur["name"] = cur["name"] or p.name or None
    out = [Holder(pid, d["name"], d["p"].npu_id, d["p"].chip_id, d["p"].memory_mb, container_pid=d["cpid"],
                  npu_seen_in=d["where"], seen_in=tuple(d["seen"])) for pid, d in by_pid.items()]
    return out + unknown


def _attribute(h: Holder, owners: Mapping[int, str], host_read: bool, has_in_container_column: bool) -> Holder:
    if h.pid is None:
        return h
    if h.pid in owners:
        return replace(h, container=owners[h.pid], in_container=True)
    containers = [w for w in h.seen_in if w != "host"]
    if h.container_pid is not None:
        # the table says it lives in a container; if only one container's npu-smi listed it, that is the one that
        # sees its NPU -- the only container it can be in
        only = containers[0] if len(containers) == 1 else None
        return replace(h, container=only, in_container=True)
    if host_read and has_in_container_column and "host" in h.seen_in:
        return replace(h, in_container=False)   # "NA" in the column: a process of the host
    if owners and host_read:
        # the runtime named the pids of every container; a pid none of them has lives on the host
        return replace(h, in_container=False)
    return h


def _fix(holders: Sequence[Holder], mapping: Sequence[str], managed: Collection[str], runtime: str) -> str:
    parts: list[str] = []
    named = sorted({h.container for h in holders if h.container} | set(mapping))
    ours = [c for c in named if c in managed]
    theirs = [c for c in named if c not in managed]
    if ours:
        parts.append(f"stop the environment's container(s) ({runtime} stop {' '.join(ours)}) or set "
                     f"{STOP_SETTING}: true so ascend-env stops them before the upgrade and starts them after")
    if theirs:
        parts.append(f"stop the container(s) ascend-env does not manage: {runtime} stop {' '.join(theirs)} "
                     f"({STOP_SETTING} stops only the environment's containers)")
    host = [h for h in holders if h.pid is not None and not h.container and h.in_container is False]
    if host:
        parts.append("stop the process(es) on the host: kill " + " ".join(str(h.pid) for h in host)
                     + " (" + ", ".join(f"{h.pid} {h.name or '?'}" for h in host) + ")")
    loose = [h for h in holders if h.pid is not None and not h.container and h.in_container is not False]
    if loose:
        parts.append("stop pid(s) " + " ".join(str(h.pid) for h in loose) + " (kill PID on the host; if it runs in a "
                     f"container, stop that container: `{runtime} ps -q | xargs {runtime} inspect --format "
                     "'{{.Name}} {{.State.Pid}}'` maps containers to their main pid)")
    if any(h.pid is None for h in holders):
        parts.append("find what holds the NPUs with `fuser -uv /dev/davinci_manager /dev/davinci*` on the host (the "
                     "driver installer's own check)")
    return "; ".join(parts)


def assess(host: str, readings: Sequence[Reading], *, owners: Mapping[int, str] | None = None,
           mapping_containers: Collection[str] = (), managed: Collection[str] = (),
           runtime: str = "docker") -> Verdict:
    """Whether ``host``'s NPUs are held, from ``npu-smi info`` read on the host (``where="host"``) and in each
    running container (its name).

    ``owners``: pid -> container name from the container runtime (:func:`owners_from_top`,
    :func:`owners_from_cgroups`) for every running container of the host -- a pid it does not list is taken for a
    process of the host; ``mapping_containers``: running containers that map ``/dev/davinci_manager`` (the
    installer refuses for each); ``managed``: the environment's containers, which ``ascend_upgrade_stop_containers``
    may stop; ``runtime``: ``docker`` or ``isula`` (the CLI the fix names).

    Status: BUSY when any process (or a mapping container) holds the NPUs -- even when other readings failed; FREE
    only when the host's table was read and accounts for every NPU it lists; UNKNOWN otherwise.
    """
    owners = dict(owners or {})
    views = _read_views(readings)
    holders = [_attribute(h, owners, views.host_ok, views.in_container_col) for h in _merge(views.tables)]
    holders += views.evidence
    holders.sort(key=lambda h: (h.npu_id is None, h.npu_id or 0, h.chip_id or 0, h.pid or 0))
    mapping = tuple(sorted(set(mapping_containers)))
    notes = tuple(views.notes)
    if holders or mapping:
        lines = tuple(h.describe() for h in holders) + tuple(
            f"container {c} maps /dev/davinci_manager (running)" for c in mapping)
        fix = _fix(holders, mapping, set(managed), runtime)
        message = (f"{host}: the NPUs are in use, so the driver cannot be upgraded now: {'; '.join(lines)}. Huawei's "
                   "upgrade guide requires that no process, containers included, holds the NPUs' device nodes "
                   f"during an upgrade, and the driver installer refuses with \"{INSTALLER_REFUSAL}\"")
        return Verdict(host, BUSY, tuple(holders), mapping, tuple(views.unread), notes, message, fix, lines)
    if views.unread or not views.host_ok:
        reasons = views.unread or ["host: the host's process table was not read"]
        return Verdict(host, UNKNOWN, (), (), tuple(reasons), notes,
                       f"{host}: whether a process holds the NPUs is unknown: {'; '.join(reasons)}",
                       f"run `npu-smi info` on {host} and read its process table (and `fuser -uv "
                       "/dev/davinci_manager`); the upgrade does not start on an unknown answer")
    return Verdict(host, FREE, (), (), (), notes, f"{host}: no process holds the NPUs", None)


@dataclass
class _Views:
    """What the readings show: each readable table (the host's first), what could not be read on the host (it
    keeps the answer from FREE) or in a container (a note), the containers whose npu-smi says a device is used."""

    tables: list[tuple[str, NpuSmiInfo]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: list[Holder] = field(default_factory=list)
    host_ok: bool = False                  # the host's table was read and accounts for every NPU it lists
    in_container_col: bool = False         # the host's table has the 25.6+/26.x "Process id in container" column


def _read_views(readings: Sequence[Reading]) -> _Views:
    v = _Views()
    if not any(r.where == "host" for r in readings):
        v.unread.append("host: npu-smi was not read on the host (only the host's table lists every NPU's processes)")
    for r in readings:
        info, why = _read(r)
        if info is None:
            text = (r.stdout or "") + (r.stderr or "")
            if r.where != "host" and _DEVICE_USED.search(text):
                v.evidence.append(Holder(None, None, None, None, None, npu_seen_in=r.where, seen_in=(r.where,),
                                         note=f"npu-smi in container {r.where} says the device is used by another "
                                         f"process ({_first_line(text)})"))
            (v.unread if r.where == "host" else v.notes).append(f"{r.where}: {why}")
            continue
        v.tables.append((r.where, info))
        gaps = _coverage_gaps(info)
        if r.where == "host":
            v.host_ok = not gaps
            v.unread += [f"host: {g}" for g in gaps]
        else:
            v.notes += [f"container {r.where}: {g}" for g in gaps]
        if r.where == "host" and "process id in container" in " ".join((r.stdout or "").lower().split()):
            v.in_container_col = True   # the 25.6+/26.x column: "NA" there is a process of the host
    v.tables.sort(key=lambda view: view[0] != "host")   # the host's NPU ids and names first
    return v
