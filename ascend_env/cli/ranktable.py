"""``python -m ascend_env ranktable``: the HCCL rank table of the fleet in an inventory, from its NPU ports; or,
with ``--check``, whether HCCL loads a rank table file.

Each host is read over SSH with the doctor's probe (hccn_tool on every device), the table is built and checked
(``ascend_env.ranktable``, ``ascend_env.ranktable_check``) and written only when every device taking part is ready.
Exit codes: 0 written (--check: HCCL loads it), 1 the fleet is not ready (a host unreachable, a device without an
IP, a link down, net health not Success, a duplicate device IP; --check: HCCL refuses the table), 2 bad input
(inventory, --hosts, --devices, --format, --chip, hosts with different device counts, a chip without RoCE ports;
--check: an unreadable file or a format ascend-env does not check).  Nothing is written unless the exit code is 0.
While hosts are read, a terminal's stderr shows how many are done; piped output stays quiet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ranktable import Server
    from ..ranktable_check import Report

EXAMPLES = """\
examples:
  python -m ascend_env ranktable --inventory inventory/hosts.yml --out hccl.json
  python -m ascend_env ranktable --inventory inventory/hosts.yml --hosts npu-a,npu-b --devices 0-7 --out hccl.json
  python -m ascend_env ranktable --check hccl.json          # does HCCL load a table written by hand or another tool
  python -m ascend_env ranktable --check hccl.json --chip 910b --json

hosts: --hosts, else the inventory's hosts with ascend_ranktable_enabled: true, else every host whose chip has NPU RoCE
ports (910B).  server_id is each host's ansible_host; rank_ids follow the server_ids' dictionary order.
--check applies HCCL's rules (docs/multinode.md lists them with their sources); --chip names the chip the table is
for (910, 910b, a3, 310p): without it a 1.2 table is read as A3's and a 1.0 table by the strictest rule where chips
differ (device ids 0-15, the same number of devices on every server).
exit codes: 0 written (--check: HCCL loads it), 1 the fleet is not ready, nothing written (--check: HCCL refuses
it), 2 bad input (--check: unreadable, or a format ascend-env does not check: group_list, 1.1, 2.0)
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
    p.add_argument("--check", type=Path, metavar="FILE", help="only check whether HCCL loads an existing rank table")
    p.add_argument("--chip", help="with --check: the chip the table is for (910, 910b, a3, 310p; default: the "
                                  "strictest rule where chips differ, A3 for a 1.2 table)")


def _members(fleet: Any, hosts: str | None, roce: set[str], inventory: str) -> list[str]:
    """The NPU hosts of the fleet plan that take part: ``--hosts``, else those with ascend_ranktable_enabled, else
    those whose chip has NPU RoCE ports."""
    from ..ranktable import RankTableError

    names = list(fleet.hosts)
    if not names:
        raise RankTableError(f"--inventory {inventory}: no NPU host could be planned; fix the inventory:\n"
                             + "\n".join(fleet.problem_lines()))
    if hosts is not None:
        want = list(dict.fromkeys(h.strip() for h in hosts.split(",") if h.strip()))
        if not want:
            raise RankTableError(f"--hosts {hosts!r} names no host; hosts: {', '.join(names)}")
        unknown = [h for h in want if h not in fleet.hosts]
        if unknown:
            bad = [f"{h}: {'; '.join(fleet.problems[h])}" for h in unknown if h in fleet.problems]
            raise RankTableError(f"--hosts: no NPU host {', '.join(unknown)} in the inventory's plan; hosts: "
                                 f"{', '.join(names)}" + ("; inventory problems: " + " | ".join(bad) if bad else ""))
        return want
    marked = [n for n in names if fleet.hosts[n].ranktable.enabled]
    found = marked or [n for n in names if fleet.hosts[n].chip.lower() in roce]
    if not found:
        raise RankTableError(f"no host of {inventory} takes part: none has ascend_ranktable_enabled: true, and none "
                             f"has a chip with NPU RoCE ports ({', '.join(sorted(roce))}); name them with --hosts or "
                             "set ascend_ranktable_enabled: true on the job's hosts")
    return found


def _report(args: argparse.Namespace, code: int, table: dict[str, Any] | None, problems: list[str]) -> int:
    if args.json:
        print(json.dumps({"ok": code == 0, "exit_code": code, "table": table, "problems": problems}, indent=1))
        if code == 2 and problems:    # bad input: said on stderr too, as every command does (README's exit codes)
            print(f"error: {problems[0]}", file=sys.stderr)
    else:
        for line in problems:
            print(f"✗ {line}", file=sys.stderr)
    return code


class Progress:
    """``reading hosts: 12/2000 done (3 unreachable)`` on one terminal line, only when ``stream`` is a terminal;
    piped or redirected output gets nothing."""

    def __init__(self, total: int, stream: IO[str] | None = None, every: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.done, self.failed, self.every, self.last = total, 0, 0, every, 0.0

    def step(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if self.on and (self.done == self.total or now - self.last >= self.every):
            self.last = now
            bad = f" ({self.failed} unreachable)" if self.failed else ""
            self.stream.write(f"\rreading hosts: {self.done}/{self.total} done{bad}")
            self.stream.flush()

    def close(self) -> None:
        if self.on and self.done:
            self.stream.write("\n")
            self.stream.flush()


def run_check(args: argparse.Namespace) -> int:
    """--check FILE: does HCCL load it?  0 yes, 1 no (every reason), 2 unreadable or a format not checked."""
    from ..ranktable_check import RankTableFormatError, check, chip_named, load_text

    try:
        chip = chip_named(args.chip)
    except RankTableFormatError as e:
        return _report(args, 2, None, [str(e)])
    try:
        raw = args.check.read_bytes()
    except OSError as e:
        return _report(args, 2, None, [f"--check {args.check}: cannot read it ({e.strerror or e}); give the path "
                                       "of the rank table (RANK_TABLE_FILE, hccl.json)"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return _report(args, 1, None, [f"{args.check}: not UTF-8 text (byte {e.start}): HCCL's JSON reader refuses "
                                       "it; save the table as UTF-8 JSON"])
    table, why = load_text(text)
    report = check(table, chip) if why is None else None
    warnings: list[str]
    if report is None:
        problems, warnings, code = [f"{args.check}: {why}"], [], 1
    elif report.unsupported:
        problems, warnings, code = [report.unsupported], [], 2
    else:
        problems, warnings, code = [str(f) for f in report.errors], [str(f) for f in report.warnings], \
            report.exit_code
    used = report.chip if report else chip
    chip_text = used.name if used else "an unnamed chip (the strictest of HCCL's per-chip rules; --chip names it)"
    if args.json:
        doc = {"ok": code == 0, "exit_code": code, "file": str(args.check),
               "format": report.version if report else None, "chip": used.key if used else None,
               "servers": report.servers if report else 0, "ranks": report.ranks if report else 0,
               "unsupported": bool(report and report.unsupported), "problems": problems, "warnings": warnings,
               "findings": [{"where": f.where, "message": f.message, "source": f.source,
                             "level": "error" if f.error else "warning"} for f in (report.findings if report else [])],
               "table": table if code == 0 else None}
        print(json.dumps(doc, indent=1, ensure_ascii=False))
        if code == 2 and problems:
            print(f"error: {problems[0]}", file=sys.stderr)
        return code
    _say_check(args.check, report, problems, warnings, code, chip_text)
    return code


def _say_check(path: Path, report: Report | None, problems: list[str], warnings: list[str], code: int,
               chip_text: str) -> None:
    """--check's verdict on stderr: the first 20 problems and warnings, then one line."""
    shown = 20
    for line in problems[:shown]:
        print(f"✗ {line}", file=sys.stderr)
    if len(problems) > shown:
        print(f"✗ ... and {len(problems) - shown} more (--json lists every one)", file=sys.stderr)
    for line in warnings[:shown]:
        print(f"! {line}", file=sys.stderr)
    if code == 0:
        assert report is not None
        print(f"✓ {path}: HCCL loads it: version {report.version}, {report.servers} server(s), "
              f"{report.ranks} rank(s) (checked for {chip_text})", file=sys.stderr)
    elif code == 2:
        print(f"? {path}: not checked (unsupported format)", file=sys.stderr)
    else:
        print(f"✗ {path}: HCCL refuses it: {len(problems)} problem(s) (checked for {chip_text})", file=sys.stderr)


def run_ranktable(args: argparse.Namespace) -> int:
    from ..ranktable import RankTableError

    if args.check:
        return run_check(args)
    if args.chip:
        return _report(args, 2, None, [f"--chip {args.chip}: only with --check FILE; the table written from an "
                                       "inventory takes each host's ascend_chip"])
    if not args.inventory:
        return _report(args, 2, None, ["--inventory PATH is required (or --check FILE)"])
    try:
        return _write(args)
    except RankTableError as e:
        return _report(args, 2, None, [str(e)])


def _write(args: argparse.Namespace) -> int:
    from ..matrix import load_matrix
    from ..ranktable import MAX_DEVICES, RankTableError, build, format_for, hccl_chip, parse_devices, render

    if not Path(args.inventory).exists():
        raise RankTableError(f"--inventory {args.inventory}: no such file or directory; give the fleet's Ansible "
                             "inventory (e.g. inventory/hosts.yml)")
    matrix = load_matrix()
    roce = {c for r in matrix.rank_tables for c in r.chips}
    parse_devices(args.devices)                 # a bad --devices is refused before any host is read
    fleet = _fleet_plan(args.inventory)
    members = _members(fleet, args.hosts, roce, args.inventory)
    chips = sorted({fleet.hosts[n].chip.lower() for n in members})
    try:
        fmt, _source = format_for(matrix, chips)
    except ValueError as e:
        raise RankTableError(str(e)) from None
    chip = hccl_chip(chips)
    devices = parse_devices(args.devices, chip.devices if chip else MAX_DEVICES)
    if args.format != "auto":
        fmt = args.format
    servers, problems = _servers(fleet, _read_hosts(fleet, members))
    if problems:
        return _report(args, 1, None, problems)
    table, issues = build(servers, devices, fmt, chip)
    if table is None:
        code = 2 if any(p.usage for p in issues) else 1
        return _report(args, code, None, [str(p) for p in issues])
    text = render(table)
    if args.out:
        _write_file(args.out, text)
    ranks = sum(len(s["device"]) for s in table["server_list"])
    if args.json:
        return _report(args, 0, table, [])
    if not args.out:
        sys.stdout.write(text)
    print(f"✓ rank table {fmt}: {len(servers)} server(s), {ranks} rank(s)"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _fleet_plan(inventory: str) -> Any:
    """The inventory's fleet plan (lenient: a host is read whatever the preflight says of its store or pins)."""
    from ..inventory import InventoryError, fleet_plan, read_inventory
    from ..ranktable import RankTableError

    try:
        return fleet_plan(read_inventory(inventory), where=f"inventory {inventory}", lenient=True)
    except InventoryError as e:
        raise RankTableError(str(e)) from None


#: one host read: its name, its facts (None when it could not be read), and why not
HostRead = tuple[str, "dict[str, Any] | None", "str | None"]


def _read_hosts(fleet: Any, members: list[str]) -> list[HostRead]:
    """Each member's facts over SSH (the doctor's probe, hccn_tool on every device), in parallel, in the members'
    order; a terminal's stderr shows the progress."""
    from ..doctor import transport
    from ..doctor.targets import ssh_target
    from ..doctor.transport import TransportError

    def read(name: str) -> HostRead:
        h = fleet.hosts[name]
        try:
            return name, transport.ssh(ssh_target(name, h.connection, h.root), imports=False), None
        except TransportError as e:
            return name, None, str(e)
        except Exception as e:  # one host's failure is reported with that host, not a crash of the run
            return name, None, f"the probe failed: {type(e).__name__}: {e}"

    progress = Progress(len(members))
    results: dict[str, HostRead] = {}
    with ThreadPoolExecutor(max_workers=min(16, len(members))) as pool:
        for future in as_completed([pool.submit(read, n) for n in members]):
            name, facts, err = future.result()
            results[name] = (name, facts, err)
            progress.step(err is not None)
    progress.close()
    return [results[n] for n in members]


def _servers(fleet: Any, read: list[HostRead]) -> tuple[list[Server], list[str]]:
    """The rank table's servers from the hosts' facts, and what keeps a host out (unreachable, no hccn_tool)."""
    from ..ranktable import server_from_facts

    problems = [f"{n}: unreachable ({err}). Fix: bring the host back or leave it out with --hosts"
                for n, _, err in read if err]
    servers: list[Server] = []
    for name, facts, err in read:
        if err or facts is None:
            continue
        server = server_from_facts(name, fleet.hosts[name].ranktable.server_id, facts)
        if isinstance(server, str):
            problems.append(server)
        else:
            servers.append(server)
    return servers, problems


def _write_file(out: Path, text: str) -> None:
    """``--out``: written whole or not at all (a temporary file beside it, then renamed)."""
    from ..ranktable import RankTableError

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    except OSError as e:
        raise RankTableError(f"--out {out}: cannot write it ({e.strerror or e}); choose a writable path") from None
