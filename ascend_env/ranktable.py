"""The HCCL rank table (``RANK_TABLE_FILE``, ``hccl.json``) of a fleet, from what each host's NPU ports report.

Pure: servers with their ports in, a table (or the problems that stop one) out.  What HCCL accepts is decided rule
by rule in :mod:`ascend_env.ranktable_check` (each rule with its source; docs/multinode.md lists them); every table
written here passes that check for the fleet's chip.  What the writer adds of its own:

* version 1.0: ``{"version", "server_count", "server_list": [{"server_id", "device": [{"device_id", "device_ip",
  "rank_id"}], "host_nic_ip": "reserve"}], "status": "completed"}``, every value a JSON string (HCCL's parser reads
  only strings; MindSpore's rank_table_8pcs.json, mindformers' hccl_tools.py write ``host_nic_ip``);
* version 1.2 (Atlas A3 SuperPoD): each device adds ``super_device_id``, the table adds ``super_pod_list``;
* ``server_list`` in the dictionary (string) order of ``server_id``, rank_ids dense from 0 in that order, each
  server's devices by device_id (MindSpore's rank table tutorial: "the order of rank_id is consistent with the
  dictionary order of server_id"), so a torch rank equals its rank_id and no server's ranks interleave another's;
* with several servers every device has an address, its link UP and its net health ``Success``; device IPs and
  server ids are unique; every server takes part with the same devices.  On one server HCCL needs no device IP
  (HCCL's single-server example writes ``"device_ip": ""``): a port without one is written so, and the RoCE link
  and net health, which one server does not use, are not required.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import AscendEnvError
from .probe.hccn import HEALTHY, NetInfo, from_facts
from .ranktable_check import CHIPS, FORMATS, SERVER_ID_MAX, HcclChip, check

TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"
#: the most devices any chip's server has in a rank table (HCCL GetMaxDevNum: 32 on 310P3): --devices is bounded by it
MAX_DEVICES = max(c.devices for c in CHIPS.values())
#: chips.yaml ids -> the HCCL device type whose rules apply (ranktable_check.CHIPS)
HCCL_CHIP = {"910b": "910b", "310p": "310p", "300i-duo": "310p"}


class RankTableError(AscendEnvError, ValueError):
    """Bad input for the rank table (a device list, a chip, a host list): the message names the value and the fix."""


@dataclass(frozen=True)
class Server:
    """One host taking part: its inventory name, the address the table names it by, its NPU ports."""

    name: str
    server_id: str
    ports: tuple[NetInfo, ...]
    devices: tuple[int, ...] = ()          # the davinci numbers present (default: the ports' devices)
    super_pod_id: str | None = None        # 1.2 only
    super_device_ids: dict[int, str] = field(default_factory=dict)   # 1.2 only: device -> SDID (npu-smi spod-info)


@dataclass(frozen=True)
class Problem:
    host: str
    device: int | None
    message: str
    fix: str
    usage: bool = False      # bad input (exit 2), not a fleet that is not ready (exit 1)

    def __str__(self) -> str:
        where = self.host + (f" NPU {self.device}" if self.device is not None else "")
        return f"{where}: {self.message}. Fix: {self.fix}"


def parse_devices(text: str | None, limit: int = MAX_DEVICES) -> list[int] | None:
    """``0-7``, ``0,2,4-5`` -> [0, 1, ...]; None for all.  RankTableError (a ValueError) names the bad part: not a
    number or range, a range backwards, a device twice, or a device at or beyond ``limit`` (the chip's device count;
    checked before anything is expanded, so ``0-99999999`` costs nothing)."""
    if text in (None, "", "all"):
        return None
    out: list[int] = []
    seen: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise RankTableError(f"--devices {text!r}: {part!r} is not a device number or range; use e.g. 0-7 or "
                                 "0,1,4-5")
        if len(lo) > 9 or len(hi) > 9:     # no int() of thousands of digits (Python's limit): beyond any chip
            raise RankTableError(f"--devices {text!r}: {part!r} is beyond the chip's {limit} devices (0-{limit - 1}); "
                                 f"use the host's own device numbers (ls /dev/davinci*), e.g. 0-{min(limit, 8) - 1}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise RankTableError(f"--devices {text!r}: the range {part!r} runs backwards; write {last}-{first}")
        if last >= limit:
            raise RankTableError(f"--devices {text!r}: device {last} is beyond the chip's {limit} devices "
                                 f"(0-{limit - 1}); use the host's own device numbers (ls /dev/davinci*), "
                                 f"e.g. 0-{min(limit, 8) - 1}")
        twice = sorted(seen.intersection(range(first, last + 1)))
        if twice:
            raise RankTableError(f"--devices {text!r}: device {twice[0]} is named twice; name each device once, "
                                 f"e.g. {_compact(sorted(seen | set(range(first, last + 1))))}")
        seen.update(range(first, last + 1))
        out += range(first, last + 1)
    return out


def _compact(devices: list[int]) -> str:
    runs: list[list[int]] = []
    for d in devices:
        if runs and d == runs[-1][1] + 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def hccl_chip(chips: Sequence[str]) -> HcclChip | None:
    """The HCCL device type of the fleet's chips (chips.yaml ids), None when unknown or mixed."""
    keys = {HCCL_CHIP.get(c) for c in chips}
    return CHIPS[next(iter(keys))] if len(keys) == 1 and None not in keys else None


def _port_problems(host: str, d: int, p: NetInfo, links: bool = True) -> list[Problem]:
    """What stops a port from carrying HCCL's traffic between servers (RoCE): the tool's own failure, an address,
    and (``links``) the link and net health."""
    failure = getattr(p, "failure", None)       # hccn_tool's own error, in its words (probe.hccn)
    if failure:
        option = failure.split(":", 1)[0] or "-ip"
        return [Problem(host, d, f"hccn_tool failed: {failure}", f"run {TOOL} -i {d} {option} -g on {host} to see "
                                                                   "the whole message; then check the driver "
                                                                   "(npu-smi info, dmesg | grep -i davinci)")]
    if not p.address:
        return [Problem(host, d, "no device IP", f"{TOOL} -i {d} -ip -s address <IP> netmask <mask> "
                                                 f"(ascend-env doctor on {host} suggests a free one)")]
    if not links:
        return []
    if p.link != "UP":
        return [Problem(host, d, f"link {p.link or 'unknown'}", f"check the cable and switch port; "
                                                                 f"{TOOL} -i {d} -link_stat -g shows the link history")]
    if p.health != HEALTHY:
        return [Problem(host, d, f"net health {p.health or 'unknown'}",
                        f"{TOOL} -i {d} -net_health -g must say Success: set the detection address "
                        f"({TOOL} -i {d} -netdetect -s address <gateway>) and check the link")]
    return []


def plan(servers: Sequence[Server], devices: Sequence[int] | None = None, links: bool = True
         ) -> tuple[list[tuple[Server, list[NetInfo]]], list[Problem]]:
    """Who takes part with which ports, in rank order, or the problems (nothing is built when there are any);
    ``links=False``: a port's link and net health are not required (the acceptance's ping matrix tests them)."""
    if not servers:
        return [], [Problem("fleet", None, "no host takes part", "name the hosts (--hosts, or set "
                            "ascend_ranktable_enabled: true on them in the inventory)", usage=True)]
    problems = _server_id_problems(servers)
    chosen: list[tuple[Server, list[NetInfo]]] = []
    counts: dict[int, list[str]] = {}
    alone = len(servers) == 1       # one server: HCCL needs no device IP, the RoCE ports are not used
    for s in sorted(servers, key=lambda x: x.server_id):
        ports = _server_ports(s, devices, alone, problems, links)
        if ports is not None:
            counts.setdefault(len(ports[0]), []).append(s.name)
            chosen.append((s, ports[1]))
    if len(counts) > 1:
        text = "; ".join(f"{n} device(s) on {', '.join(h)}" for n, h in sorted(counts.items()))
        problems.append(Problem("fleet", None, f"the hosts take part with different numbers of devices ({text})",
                                "give every host the same devices: --devices 0-7 (inventory: ascend_ranktable_devices)",
                                usage=True))
    return chosen, problems + _duplicate_addresses(chosen)


def _server_id_problems(servers: Sequence[Server]) -> list[Problem]:
    """server_ids HCCL refuses: too long, or another host's."""
    problems: list[Problem] = []
    ids: dict[str, str] = {}
    for s in servers:
        if len(s.server_id) > SERVER_ID_MAX:     # HCCL: SERVERID_MAX_LENGTH (ranktable_check)
            problems.append(Problem(s.name, None, f"server_id {s.server_id!r} is longer than {SERVER_ID_MAX} "
                                    "characters, which HCCL refuses", "set ansible_host to the host's address",
                                    usage=True))
        if s.server_id in ids:
            problems.append(Problem(s.name, None, f"server_id {s.server_id} is also {ids[s.server_id]}'s",
                                    "give every host its own address (ansible_host)", usage=True))
        ids[s.server_id] = s.name
    return problems


def _server_ports(s: Server, devices: Sequence[int] | None, alone: bool, problems: list[Problem],
                  links: bool = True) -> tuple[list[int], list[NetInfo]] | None:
    """The devices the server takes part with and their ports (problems into ``problems``); None when it lacks one
    of the devices asked for."""
    by_dev = {p.device: p for p in s.ports}
    present = s.devices or tuple(sorted(by_dev))
    want = list(devices) if devices is not None else sorted(present)
    missing = [d for d in want if d not in present]
    if missing:
        problems.append(Problem(s.name, missing[0], f"device(s) {', '.join(map(str, missing))} not on this host "
                                f"(it has {', '.join(map(str, present)) or 'none'})",
                                "choose devices every host has: --devices (inventory: ascend_ranktable_devices)",
                                usage=True))
        return None
    ports = []
    for d in want:
        p = by_dev.get(d)
        if p is None:
            if alone:
                ports.append(NetInfo(device=d))
                continue
            problems.append(Problem(s.name, d, "hccn_tool reported nothing for this device",
                                    f"run {TOOL} -i {d} -ip -g on {s.name}; reinstall the driver if it fails"))
            continue
        if not alone:
            problems += _port_problems(s.name, d, p, links)
        ports.append(p)
    return want, ports


def _duplicate_addresses(chosen: list[tuple[Server, list[NetInfo]]]) -> list[Problem]:
    """A device IP on two ports of the fleet."""
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for s, ports in chosen:
        for p in ports:
            if not p.address:
                continue
            where = f"{s.name} NPU {p.device}"
            if p.address in owners:
                problems.append(Problem(s.name, p.device, f"device IP {p.address} is also {owners[p.address]}'s",
                                        f"give one of them a free address: {TOOL} -i {p.device} -ip -s address <IP> "
                                        "netmask <mask>"))
            owners.setdefault(p.address, where)
    return problems


def build(servers: Sequence[Server], devices: Sequence[int] | None = None, version: str = "1.0",
          chip: HcclChip | None = None, links: bool = True) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The rank table, or None and every problem that stops it; ``chip``: the fleet's HCCL chip, whose rules the
    table must pass (ranktable_check); ``links=False``: the table of the devices that have an address whatever their
    link and net health say (what the acceptance pings), never one to write."""
    if version not in FORMATS:
        return None, [Problem("fleet", None, f"rank table format {version!r} is unknown",
                              f"use one of {', '.join(FORMATS)}", usage=True)]
    chosen, problems = plan(servers, devices, links)
    if version == "1.2":
        for s, ports in chosen:
            lacking = [p.device for p in ports if p.device not in s.super_device_ids]
            if s.super_pod_id is None or lacking:
                problems.append(Problem(s.name, lacking[0] if lacking else None, "format 1.2 needs the super pod id "
                                        "and every device's super_device_id", "read them with npu-smi info -t "
                                        "spod-info -i <NPU> -c <chip> (Atlas A3), or use format 1.0", usage=True))
    if problems:
        return None, problems
    rank = 0
    server_list = []
    for s, ports in chosen:
        devs = []
        for p in ports:
            dev: dict[str, str] = {"device_id": str(p.device), "device_ip": str(p.address or "")}
            if version == "1.2":
                dev["super_device_id"] = s.super_device_ids[p.device]
            dev["rank_id"] = str(rank)
            rank += 1
            devs.append(dev)
        entry: dict[str, Any] = {"server_id": s.server_id, "device": devs}
        if version == "1.0":
            entry["host_nic_ip"] = "reserve"
        server_list.append(entry)
    table: dict[str, Any] = {"version": version, "server_count": str(len(server_list)), "server_list": server_list,
                             "status": "completed"}
    if version == "1.2":
        pods: dict[str, list[dict[str, str]]] = {}
        for s, _ in chosen:
            pods.setdefault(str(s.super_pod_id), []).append({"server_id": s.server_id})
        table["super_pod_list"] = [{"super_pod_id": k, "server_list": v} for k, v in pods.items()]
    # what is written must pass the check a user's file gets (for the fleet's chip): an address hccn_tool reported
    # that HCCL cannot read, two address families, a device id beyond the chip's range stop it here
    refused = check(table, chip).errors
    if refused:
        return None, [Problem("fleet", None, f"the table would break HCCL's rule: {f}", "fix the value named "
                              "(hccn_tool -i <N> -ip -g shows a device's address)") for f in refused]
    return table, []


def server_from_facts(name: str, server_id: str, facts: Mapping[str, Any]) -> Server | str:
    """A host taking part, from the doctor's probe of it (its ``network`` and ``devices`` facts: hccn_tool on every
    device), or why it cannot (hccn_tool is not there)."""
    net = facts.get("network") or {}
    if not net.get("tool"):
        return (f"{name}: hccn_tool not found ({TOOL}). Fix: reinstall the NPU driver (--full); without it the "
                "device IPs cannot be read")
    return Server(name=name, server_id=server_id, ports=from_facts(net),
                  devices=tuple((facts.get("devices") or {}).get("davinci") or ()))


def validate(table: Any, chip: HcclChip | None = None) -> list[str]:
    """Why HCCL would refuse a rank table (ours or a user's), one line each; [] when it loads it.  A format
    ascend-env does not check (legacy group_list, 1.1, 2.0) is one line saying so and what to do."""
    report = check(table, chip)
    return [report.unsupported] if report.unsupported else [str(f) for f in report.errors]


def render(table: dict[str, Any]) -> str:
    """The file's text: indent 4 as hccl_tools.py and MindSpore's samples write it."""
    return json.dumps(table, indent=4) + "\n"


def format_for(matrix: Any, chips: Sequence[str]) -> tuple[str, str]:
    """The format the matrix gives the fleet's chips, and its source; RankTableError (a ValueError) when no chip
    is given, a chip has none, or the chips need different formats."""
    if not chips:
        raise RankTableError("no host takes part, so there is no chip to choose a rank table format for: name the "
                             "hosts with --hosts, or set ascend_ranktable_enabled: true on them in the inventory")
    found = {}
    for chip in chips:
        row = next((r for r in matrix.rank_tables if chip in r.chips), None)
        if row is None:
            raise RankTableError(f"no rank table format is known for chip {chip!r} (ascend_env/data/hccl.yaml); only "
                                 f"chips with NPU RoCE ports form HCCL clusters over the network: "
                                 f"{', '.join(sorted({c for r in matrix.rank_tables for c in r.chips}))}")
        found[row.format] = row.meta.source
    if len(found) > 1:
        raise RankTableError(f"the chips {', '.join(chips)} need different rank table formats ({', '.join(found)}): "
                             "one table cannot mix them")
    fmt, source = next(iter(found.items()))
    return fmt, source
