"""The HCCL rank table (``RANK_TABLE_FILE``, ``hccl.json``) of a fleet, from what each host's NPU ports report.

Pure: servers with their ports in, a table (or the problems that stop one) out.  Rules, from the formats'
sources (docs/multinode.md):

* version 1.0: ``{"version", "server_count", "server_list": [{"server_id", "device": [{"device_id", "device_ip",
  "rank_id"}], "host_nic_ip": "reserve"}], "status": "completed"}``, every value a JSON string (MindSpore's
  rank_table_8pcs.json / rank_table_16pcs.json, mindformers' hccl_tools.py);
* version 1.2 (Atlas A3 SuperPoD): each device adds ``super_device_id``, the table adds ``super_pod_list``
  (a MindIE-written table in MindCluster's log-collection doc);
* ``server_list`` in the dictionary (string) order of ``server_id``, rank_ids dense from 0 in that order, each
  server's devices by device_id ("the order of rank_id is consistent with the dictionary order of server_id",
  MindSpore's rank table tutorial), so a torch rank equals its rank_id;
* every device in the table has an address, its link UP and its net health ``Success``; device IPs and server
  ids are unique; every server takes part with the same number of devices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .probe.hccn import HEALTHY, NetInfo

TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"
FORMATS = ("1.0", "1.2")


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


def parse_devices(text: str | None) -> list[int] | None:
    """``0-7``, ``0,2,4-5`` -> [0, 1, ...]; None for all.  ValueError names the bad part."""
    if text in (None, "", "all"):
        return None
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"--devices {text!r}: {part!r} is not a device number or range; use e.g. 0-7 or 0,1,4-5")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"--devices {text!r}: the range {part!r} runs backwards; write {last}-{first}")
        out += [d for d in range(first, last + 1) if d not in out]
    return out


def plan(servers: Sequence[Server], devices: Sequence[int] | None = None) -> tuple[list[tuple[Server, list[NetInfo]]],
                                                                                list[Problem]]:
    """Who takes part with which ports, in rank order, or the problems (nothing is built when there are any)."""
    problems: list[Problem] = []
    if not servers:
        return [], [Problem("fleet", None, "no host takes part", "name the hosts (--hosts, or set "
                            "ascend_ranktable_enabled: true on them in the inventory)", usage=True)]
    ids: dict[str, str] = {}
    for s in servers:
        if s.server_id in ids:
            problems.append(Problem(s.name, None, f"server_id {s.server_id} is also {ids[s.server_id]}'s",
                                    "give every host its own address (ansible_host)", usage=True))
        ids[s.server_id] = s.name
    chosen: list[tuple[Server, list[NetInfo]]] = []
    counts: dict[int, list[str]] = {}
    for s in sorted(servers, key=lambda x: x.server_id):
        by_dev = {p.device: p for p in s.ports}
        present = s.devices or tuple(sorted(by_dev))
        want = list(devices) if devices is not None else sorted(present)
        missing = [d for d in want if d not in present]
        if missing:
            problems.append(Problem(s.name, missing[0], f"device(s) {', '.join(map(str, missing))} not on this host "
                                    f"(it has {', '.join(map(str, present)) or 'none'})",
                                    "choose devices every host has: --devices (inventory: ascend_ranktable_devices)",
                                    usage=True))
            continue
        counts.setdefault(len(want), []).append(s.name)
        ports = []
        for d in want:
            p = by_dev.get(d)
            if p is None:
                problems.append(Problem(s.name, d, "hccn_tool reported nothing for this device",
                                        f"run {TOOL} -i {d} -ip -g on {s.name}; reinstall the driver if it fails"))
                continue
            if not p.address:
                problems.append(Problem(s.name, d, "no device IP", f"{TOOL} -i {d} -ip -s address <IP> netmask <mask> "
                                        f"(ascend-env doctor on {s.name} suggests a free one)"))
            elif p.link != "UP":
                problems.append(Problem(s.name, d, f"link {p.link or 'unknown'}", f"check the cable and switch port; "
                                        f"{TOOL} -i {d} -link_stat -g shows the link history"))
            elif p.health != HEALTHY:
                problems.append(Problem(s.name, d, f"net health {p.health or 'unknown'}",
                                        f"{TOOL} -i {d} -net_health -g must say Success: set the detection address "
                                        f"({TOOL} -i {d} -netdetect -s address <gateway>) and check the link"))
            ports.append(p)
        chosen.append((s, ports))
    if len(counts) > 1:
        text = "; ".join(f"{n} device(s) on {', '.join(h)}" for n, h in sorted(counts.items()))
        problems.append(Problem("fleet", None, f"the hosts take part with different numbers of devices ({text})",
                                "give every host the same devices: --devices 0-7 (inventory: ascend_ranktable_devices)",
                                usage=True))
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
    return chosen, problems


def build(servers: Sequence[Server], devices: Sequence[int] | None = None, version: str = "1.0"
          ) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The rank table, or None and every problem that stops it."""
    if version not in FORMATS:
        return None, [Problem("fleet", None, f"rank table format {version!r} is unknown",
                              f"use one of {', '.join(FORMATS)}", usage=True)]
    chosen, problems = plan(servers, devices)
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
            dev: dict[str, str] = {"device_id": str(p.device), "device_ip": str(p.address)}
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
    bad = validate(table)
    if bad:   # the builder's own output must pass the same check a user's file gets
        raise AssertionError(f"built an invalid rank table: {bad}")
    return table, []


def validate(table: Any) -> list[str]:
    """What is wrong with a rank table (ours or a user's); [] when it is usable."""
    out: list[str] = []
    if not isinstance(table, dict):
        return [f"a rank table is a JSON object, got {type(table).__name__}"]
    version = table.get("version")
    if version not in FORMATS:
        out.append(f"version {version!r} is not one of {', '.join(FORMATS)}")
    if table.get("status") != "completed":
        out.append(f"status {table.get('status')!r}: HCCL reads a table only when it is \"completed\"")
    servers = table.get("server_list")
    if not isinstance(servers, list) or not servers:
        return [*out, "server_list is missing or empty"]
    if str(table.get("server_count")) != str(len(servers)):
        out.append(f"server_count {table.get('server_count')!r} but server_list has {len(servers)} server(s)")
    ranks: list[int] = []
    ips: dict[str, str] = {}
    ids = [str(s.get("server_id")) for s in servers if isinstance(s, dict)]
    if len(set(ids)) != len(ids):
        out.append("a server_id appears twice")
    for s in servers:
        for d in (s.get("device") or []) if isinstance(s, dict) else []:
            for key in ("device_id", "device_ip", "rank_id", *(("super_device_id",) if version == "1.2" else ())):
                if not isinstance(d.get(key), str) or not d.get(key):
                    out.append(f"server {s.get('server_id')}: device {d.get('device_id')!r} lacks {key} as a string")
            rid = d.get("rank_id")
            if isinstance(rid, str) and rid.isdigit():
                ranks.append(int(rid))
            ip = d.get("device_ip")
            if isinstance(ip, str) and ip:
                if ip in ips:
                    out.append(f"device_ip {ip} is on {ips[ip]} and on server {s.get('server_id')}")
                ips[ip] = f"server {s.get('server_id')}"
    if sorted(ranks) != list(range(len(ranks))):
        dup = sorted({r for r in ranks if ranks.count(r) > 1})
        out.append(f"rank_ids must be 0..{len(ranks) - 1}, each once" + (f" (repeated: {dup})" if dup else ""))
    if version == "1.2" and not table.get("super_pod_list"):
        out.append("version 1.2 needs super_pod_list")
    return out


def render(table: dict[str, Any]) -> str:
    """The file's text: indent 4 as hccl_tools.py and MindSpore's samples write it."""
    return json.dumps(table, indent=4) + "\n"


def format_for(matrix: Any, chips: Sequence[str]) -> tuple[str, str]:
    """The format the matrix gives the fleet's chips, and its source; ValueError when a chip has none."""
    found = {}
    for chip in chips:
        row = next((r for r in matrix.rank_tables if chip in r.chips), None)
        if row is None:
            raise ValueError(f"no rank table format is known for chip {chip!r} (ascend_env/data/hccl.yaml); only "
                             f"chips with NPU RoCE ports form HCCL clusters over the network: "
                             f"{', '.join(sorted({c for r in matrix.rank_tables for c in r.chips}))}")
        found[row.format] = row.meta.source
    if len(found) > 1:
        raise ValueError(f"the chips {', '.join(chips)} need different rank table formats ({', '.join(found)}): "
                         "one table cannot mix them")
    fmt, source = next(iter(found.items()))
    return fmt, source
