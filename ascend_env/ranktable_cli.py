"""``python -m ascend_env ranktable``: the HCCL rank table of the fleet in an inventory, from its NPU ports.

Each host is read over SSH with the doctor's probe (hccn_tool on every device), the table is built and checked
(``ascend_env.ranktable``) and written only when every device taking part is ready.  Exit codes: 0 written,
1 the fleet is not ready (a host unreachable, a device without an IP, a link down, net health not Success,
a duplicate device IP), 2 bad input (inventory, --hosts, --devices, --format, hosts with different device counts,
a chip without RoCE ports).  Nothing is written unless the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

EXAMPLES = """\
examples:
  python -m ascend_env ranktable --inventory inventory/hosts.yml --out hccl.json
  python -m ascend_env ranktable --inventory inventory/hosts.yml --hosts npu-a,npu-b --devices 0-7 --out hccl.json
  python -m ascend_env ranktable --check hccl.json          # validate a table written by hand or another tool

hosts: --hosts, else the inventory's hosts with ascend_ranktable_enabled: true, else every host whose chip has NPU RoCE
ports (910B).  server_id is each host's ansible_host; rank_ids follow the server_ids' dictionary order.
exit codes: 0 written (or valid), 1 the fleet is not ready (nothing written), 2 bad input
"""


def add_ranktable_parser(sub: Any) -> None:
    p = sub.add_parser("ranktable", help="write the HCCL rank table (hccl.json) of an inventory's hosts",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inventory", metavar="PATH", help="the Ansible inventory of the fleet")
    p.add_argument("--hosts", help="inventory hosts that take part (comma-separated)")
    p.add_argument("--devices", help="NPUs of every host that take part, e.g. 0-7 or 0,1,4-5 (default: all)")
    p.add_argument("--format", default="auto", choices=("auto", "1.0", "1.2"),
                   help="rank table version (auto: what the matrix gives the chip; 910B: 1.0)")
    p.add_argument("--out", type=Path, help="where to write the table (default: standard output)")
    p.add_argument("--json", action="store_true", help="print {ok, exit_code, table, problems} instead")
    p.add_argument("--check", type=Path, metavar="FILE", help="only validate an existing rank table file")


def _members(hostvars: dict[str, dict[str, Any]], hosts: str | None, roce: set[str]) -> list[str]:
    names = sorted(hostvars)
    if hosts:
        want = [h.strip() for h in hosts.split(",") if h.strip()]
        unknown = [h for h in want if h not in hostvars]
        if unknown:
            raise ValueError(f"--hosts: no host {', '.join(unknown)} in the inventory; hosts: {', '.join(names)}")
        return want
    marked = [n for n in names if hostvars[n].get("ascend_ranktable_enabled") is True]
    return marked or [n for n in names if str(hostvars[n].get("ascend_chip", "")).lower() in roce]


def _report(args: argparse.Namespace, code: int, table: dict[str, Any] | None, problems: list[str]) -> int:
    if args.json:
        print(json.dumps({"ok": code == 0, "exit_code": code, "table": table, "problems": problems}, indent=1))
    else:
        for line in problems:
            print(f"✗ {line}", file=sys.stderr)
    return code


def run_ranktable(args: argparse.Namespace) -> int:
    from .doctor import transport
    from .doctor.transport import TransportError
    from .doctor_cli import inventory_targets
    from .matrix import load_matrix
    from .probe.hccn import from_facts
    from .ranktable import Server, build, format_for, parse_devices, render, validate

    if args.check:
        try:
            table = json.loads(args.check.read_text())
        except (OSError, ValueError) as e:
            return _report(args, 2, None, [f"--check {args.check}: not a readable JSON file ({e})"])
        bad = validate(table)
        if not args.json:
            print(f"{args.check}: " + ("usable rank table" if not bad else f"{len(bad)} problem(s)"), file=sys.stderr)
        return _report(args, 1 if bad else 0, table, bad)
    if not args.inventory:
        return _report(args, 2, None, ["--inventory PATH is required (or --check FILE)"])
    matrix = load_matrix()
    roce = {c for r in matrix.rank_tables for c in r.chips}
    try:
        devices = parse_devices(args.devices)
        targets = {t.name: (t, hv) for t, hv in inventory_targets(args.inventory, None)}
        members = _members({n: hv for n, (_, hv) in targets.items()}, args.hosts, roce)
        chips = sorted({str(targets[n][1].get("ascend_chip") or "").lower() for n in members})
        fmt, _source = format_for(matrix, chips)
    except ValueError as e:
        return _report(args, 2, None, [str(e)])
    if args.format != "auto":
        fmt = args.format

    def read(name: str) -> tuple[str, dict[str, Any] | None, str | None]:
        target, _hv = targets[name]
        try:
            return name, transport.ssh(target, imports=False), None
        except TransportError as e:
            return name, None, str(e)

    with ThreadPoolExecutor(max_workers=min(16, len(members) or 1)) as pool:
        results = list(pool.map(read, members))
    problems = [f"{n}: unreachable ({err}). Fix: bring the host back or leave it out with --hosts"
                for n, _, err in results if err]
    servers = []
    for name, facts, err in results:
        if err or facts is None:
            continue
        net = facts.get("network") or {}
        if not net.get("tool"):
            problems.append(f"{name}: hccn_tool not found (/usr/local/Ascend/driver/tools/hccn_tool). Fix: reinstall "
                            "the NPU driver (--full); without it the device IPs cannot be read")
            continue
        hv = targets[name][1]
        servers.append(Server(name=name, server_id=str(hv.get("ansible_host", name)), ports=from_facts(net),
                              devices=tuple((facts.get("devices") or {}).get("davinci") or ())))
    if problems:
        return _report(args, 1, None, problems)
    table, issues = build(servers, devices, fmt)
    if table is None:
        code = 2 if any(p.usage for p in issues) else 1
        return _report(args, code, None, [str(p) for p in issues])
    text = render(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    ranks = sum(len(s["device"]) for s in table["server_list"])
    if args.json:
        return _report(args, 0, table, [])
    if not args.out:
        sys.stdout.write(text)
    print(f"✓ rank table {fmt}: {len(servers)} server(s), {ranks} rank(s)"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
