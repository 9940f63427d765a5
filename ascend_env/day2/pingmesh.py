"""Which device pairs of a rank table reach each other, from ``hccn_tool -i N -ping -g address A`` runs.  Pure.

The multi-node guides check the HCCL data plane this way before a job: every device pings its peers' device IPs
(``for i in {0..7}; do hccn_tool -i $i -ping -g address <peer>; done``; a reply line per packet and ``0.00% packet
loss`` is reachable, ``recv time out seq`` is not: MindCluster FAQ "HCCL集群通信失败", the DeepSeek-V3 and MindIE
multi-node guides, tests/unit/data/hccn/SOURCES.md), then compare the ports' TLS switches (``-tls -g``), which must
match.  :func:`pairs` says which pings to run (every ordered pair of the table, or each device with the same device
index on the other servers: "rail"), :func:`mesh` turns their results into the matrix and names every bad link with
what failed and the fix.

On Atlas A3 (rank table format 1.2) the two dies of one card do not reach each other over RoCE ("A3环境单卡双die之间
不互通，如0号和1号device不通": the HIXL samples' README, cann/hixl, code-index id 52785051924): those pairs are
"not-expected", shown but not bad.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..probe.hccn import PING_ERROR, PING_LOSSY, PING_OK, PING_UNKNOWN, PING_UNREACHABLE, PingResult
from ..ranktable import TOOL, validate
from .results import Check, Measurement

__all__ = ["NOT_EXPECTED", "NOT_RUN", "Endpoint", "Link", "Mesh", "commands", "endpoints", "mesh", "pairs",
           "result_items"]

NOT_RUN, NOT_EXPECTED = "not-run", "not-expected"
_GOOD = (PING_OK, NOT_EXPECTED)
_MARK = {PING_OK: "ok", PING_LOSSY: "loss", PING_UNREACHABLE: "X", PING_ERROR: "err", PING_UNKNOWN: "?",
         NOT_RUN: "-", NOT_EXPECTED: "n/a"}


@dataclass(frozen=True)
class Endpoint:
    server_id: str
    device_id: int
    ip: str
    rank: int | None = None

    def label(self, names: Mapping[str, str]) -> str:
        host = names.get(self.server_id, self.server_id)
        return f"{host} NPU {self.device_id} ({self.ip})"


@dataclass(frozen=True)
class Link:
    src: Endpoint
    dst: Endpoint
    status: str                       # ok, lossy, unreachable, error, unknown, not-run, not-expected
    result: PingResult | None = None
    problem: str | None = None        # what failed, in words
    fix: str | None = None

    @property
    def bad(self) -> bool:
        return self.status not in _GOOD


@dataclass(frozen=True)
class Mesh:
    endpoints: tuple[Endpoint, ...]
    links: tuple[Link, ...]
    suspects: tuple[str, ...] = ()    # ports that reach none of their peers (or that none reaches)
    problems: tuple[str, ...] = ()    # the rank table itself could not be read

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.links) and not any(link.bad for link in self.links)

    @property
    def bad(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.bad)

    def status(self, src: Endpoint, dst: Endpoint) -> str | None:
        return next((link.status for link in self.links if link.src == src and link.dst == dst), None)

    def matrix(self) -> list[list[str]]:
        """Rows are sources, columns destinations, in rank order; ``""`` on the diagonal and for pairs not pinged."""
        index = {(link.src, link.dst): link.status for link in self.links}
        return [["" if s == d else _MARK.get(index.get((s, d), ""), "") for d in self.endpoints]
                for s in self.endpoints]

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The matrix as text (ranks as row and column heads) and one line per bad link."""
        names = dict(names or {})
        head = "src\\dst " + " ".join(f"{e.rank if e.rank is not None else i:>4}" for i, e in enumerate(self.endpoints))
        rows = [f"{e.rank if e.rank is not None else i:>7} " + " ".join(f"{m:>4}" for m in row)
                for i, (e, row) in enumerate(zip(self.endpoints, self.matrix(), strict=True))]
        legend = "ok: all packets back, loss: some lost, X: none back, err: hccn_tool failed, ?: unreadable, -: not run"
        out = [head, *rows, legend]
        out += [f"{link.src.label(names)} -> {link.dst.ip} ({link.dst.label(names)}): {link.problem}. "
                f"Fix: {link.fix}" for link in self.bad]
        out += [f"suspect: {s}" for s in self.suspects]
        return "\n".join(out)


def endpoints(table: Mapping[str, Any]) -> list[Endpoint]:
    """The devices of a rank table (ascend_env.ranktable.build's output, or a user's file) in rank order."""
    out: list[Endpoint] = []
    for server in table.get("server_list") or []:
        for dev in server.get("device") or []:
            rank = dev.get("rank_id")
            out.append(Endpoint(str(server.get("server_id")), int(dev.get("device_id")), str(dev.get("device_ip")),
                                int(rank) if str(rank).isdigit() else None))
    return sorted(out, key=lambda e: (e.rank is None, e.rank or 0, e.server_id, e.device_id))


def _expected(table: Mapping[str, Any], src: Endpoint, dst: Endpoint) -> bool:
    if str(table.get("version")) == "1.2" and src.server_id == dst.server_id:
        return src.device_id // 2 != dst.device_id // 2     # the two dies of one A3 card
    return True


def pairs(table: Mapping[str, Any], mode: str = "all") -> list[tuple[Endpoint, Endpoint]]:
    """The pings to run, as (source, destination): every ordered pair of devices (``all``), or each device to the
    devices with its device index on the other servers (``rail``: what the guides' loops check between servers)."""
    if mode not in ("all", "rail"):
        raise ValueError(f"ping mode {mode!r}: use 'all' (every pair) or 'rail' (same device index, other servers)")
    eps = endpoints(table)
    return [(s, d) for s in eps for d in eps if s != d and (
        mode == "all" or (d.server_id != s.server_id and d.device_id == s.device_id))]


def commands(table: Mapping[str, Any], mode: str = "all") -> dict[str, list[list[str]]]:
    """Per server_id, the ``hccn_tool`` argv of each ping it runs (its own devices as sources)."""
    out: dict[str, list[list[str]]] = {}
    for src, dst in pairs(table, mode):
        out.setdefault(src.server_id, []).append([TOOL, "-i", str(src.device_id), "-ping", "-g", "address", dst.ip])
    return out


def _judge(src: Endpoint, dst: Endpoint, r: PingResult | None, names: Mapping[str, str]) -> tuple[str, str, str]:
    sh, dh = names.get(src.server_id, src.server_id), names.get(dst.server_id, dst.server_id)
    run = f"{TOOL} -i {src.device_id} -ping -g address {dst.ip}"
    check = (f"check both ports ({TOOL} -i {src.device_id} -link -g and -net_health -g on {sh}, {TOOL} -i "
             f"{dst.device_id} -link -g and -net_health -g on {dh}), the route and the switch ports/VLAN between "
             f"{src.ip} and {dst.ip}, and that both ports' TLS switches match ({TOOL} -i N -tls -g)")
    if r is None:
        return NOT_RUN, "no ping result for this pair", f"run {run} on {sh}"
    status = r.status
    if status == PING_UNREACHABLE:
        return status, f"no reply ({r.summary()})", check
    if status == PING_LOSSY:
        loss = f", {r.loss_percent:.2f}% loss" if r.loss_percent is not None else ""
        return status, f"packets lost ({r.summary()}{loss})", check
    if status == PING_ERROR:
        return status, f"hccn_tool could not ping: {r.error}", (f"fix the tool's error on {sh} first (ascend-env "
                                                                f"doctor on {sh}), then run {run}")
    if status == PING_UNKNOWN:
        return status, "the ping's output was unreadable", f"run {run} on {sh} and read its answer"
    if r.address and r.address != dst.ip:
        return PING_UNKNOWN, f"the result is for {r.address}, not {dst.ip}", f"run {run} on {sh}"
    return PING_OK, "", ""


def mesh(table: Mapping[str, Any], results: Mapping[tuple[str, int, str], PingResult], mode: str = "all",
         names: Mapping[str, str] | None = None) -> Mesh:
    """The reachability matrix of ``table`` from ``results`` keyed by (source server_id, source device_id,
    destination IP); pairs of ``mode`` with no result are "not-run" (never ok).  ``names``: server_id -> host name
    for the messages."""
    names = dict(names or {})
    problems = validate(table)
    if problems:
        return Mesh((), (), (), tuple(problems))
    links: list[Link] = []
    for src, dst in pairs(table, mode):
        if not _expected(table, src, dst):
            links.append(Link(src, dst, NOT_EXPECTED, results.get((src.server_id, src.device_id, dst.ip)),
                              "the two dies of one Atlas A3 card do not reach each other over RoCE", None))
            continue
        r = results.get((src.server_id, src.device_id, dst.ip))
        status, problem, fix = _judge(src, dst, r, names)
        links.append(Link(src, dst, status, r, problem or None, fix or None))
    return Mesh(tuple(endpoints(table)), tuple(links), tuple(_suspects(links, names)))


def _suspects(links: Sequence[Link], names: Mapping[str, str]) -> list[str]:
    """Ports that fail with every peer they were tested with (at least two): the port, not the pairs, is broken."""
    out: list[str] = []
    judged = [link for link in links if link.status not in (NOT_RUN, NOT_EXPECTED, PING_UNKNOWN)]
    for side in ("src", "dst"):
        by: dict[Endpoint, list[Link]] = {}
        for link in judged:
            by.setdefault(getattr(link, side), []).append(link)
        for ep, ls in by.items():
            if len(ls) >= 2 and all(link.status in (PING_UNREACHABLE, PING_ERROR) for link in ls):
                what = "reaches none of" if side == "src" else "is reached by none of"
                host = names.get(ep.server_id, ep.server_id)
                out.append(f"{ep.label(names)} {what} its {len(ls)} peers: check that port first ({TOOL} -i "
                           f"{ep.device_id} -link -g, -net_health -g and -ip -g on {host})")
    return out


def result_items(m: Mesh, names: Mapping[str, str] | None = None
                 ) -> dict[str, tuple[dict[str, Measurement], dict[str, Check]]]:
    """The mesh as acceptance results (ascend_env.day2.results), per source host: one check per ping (passed only
    when every packet came back; None when it was not run or unreadable) and its mean round trip in ms."""
    names = dict(names or {})
    out: dict[str, tuple[dict[str, Measurement], dict[str, Check]]] = {}
    for link in m.links:
        if link.status == NOT_EXPECTED:
            continue
        host = names.get(link.src.server_id, link.src.server_id)
        measurements, checks = out.setdefault(host, ({}, {}))
        name = f"ping NPU {link.src.device_id} -> {link.dst.ip}"
        passed = True if link.status == PING_OK else None if link.status in (NOT_RUN, PING_UNKNOWN) else False
        checks[name] = Check(passed, link.problem or "")
        if link.result is not None and link.status in (PING_OK, PING_LOSSY):
            measurements[name + " rtt"] = Measurement(link.result.avg_ms, "ms", "lower")
    return out
