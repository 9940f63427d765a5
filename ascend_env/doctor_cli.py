"""``python -m ascend_env doctor``: check a host or container and print the exact fix for each problem.

Exit codes: 0 all good (warnings allowed), 1 a check failed, 2 usage error or nothing could be checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .doctor.status import FAIL, GROUPS, OK, SKIP, WARN
from .doctor.transport import SshTarget, TransportError

if TYPE_CHECKING:          # imported when the checks run, after the probe has started (run_doctor)
    from .doctor.checks import Check

_EPILOG = """\
examples:
  python -m ascend_env doctor                              # this host or container
  python -m ascend_env doctor --container llm-torch        # a container, from its host (docker exec)
  python -m ascend_env doctor --ssh root@10.0.0.5:22 --json
  python -m ascend_env doctor --inventory .lab/inventory/hosts.yml
  python -m ascend_env doctor --expect cann=8.0.RC2,torch=2.1.0,torch_npu=2.1.0.post4
  python -m ascend_env doctor --list-checks
"""
MARK = {OK: "✓", WARN: "!", FAIL: "✗", SKIP: "?"}
COLOUR = {OK: "32", WARN: "33", FAIL: "31", SKIP: "90"}


def add_doctor_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="what is wrong on this host or container, and the exact fix",
                       description=__doc__, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--container", metavar="NAME", help="check a container from its host (docker/isula exec)")
    where.add_argument("--ssh", metavar="USER@HOST[:PORT]", help="check a remote host over SSH (key auth)")
    where.add_argument("--inventory", metavar="PATH", help="check every host of an Ansible inventory, in parallel")
    p.add_argument("--runtime", choices=("docker", "isula"), default="docker")
    p.add_argument("--root", help="filesystem root to read (default /; a lab host's ascend_host_root)")
    p.add_argument("--python", help="the Python whose frameworks to check (default: python3 of the target)")
    p.add_argument("--chip", help="chip, if PCI ids are not readable (910b, 310p, 300i-duo)")
    p.add_argument("--expect", help="expected stack: file (YAML/JSON from `matrix resolve --json`) or k=v,k=v")
    p.add_argument("--no-imports", action="store_true", help="skip importing frameworks (faster)")
    p.add_argument("--identity", help="SSH private key for --ssh")
    p.add_argument("--limit", help="inventory hosts to check (comma-separated names)")
    p.add_argument("--containers", action="store_true",
                   help="with --inventory: also check each host's ascend_containers (those that exist)")
    p.add_argument("--only", help="comma-separated check ids or groups")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema: docs/doctor.md)")
    p.add_argument("--report", metavar="DIR", help="also write a bug-report bundle (secrets masked) into DIR")
    p.add_argument("--list-checks", action="store_true")


def parse_expect(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    path = Path(text)
    if path.exists():
        import yaml

        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "components" in data:  # `matrix resolve --json`
            return {k: v["version"] for k, v in data["components"].items() if v.get("version")}
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        raise ValueError(f"--expect {text}: expected a mapping like {{cann: 8.0.RC2}} or `matrix resolve --json`")
    out = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ValueError(f"--expect {text!r}: expected component=version pairs, e.g. cann=8.0.RC2,torch=2.1.0, "
                             "or a file")
        out[k.strip()] = v.strip()
    return out


def render(name: str, checks: list[Check], tty: bool) -> str:
    def paint(status: str, s: str) -> str:
        return f"\033[{COLOUR[status]}m{s}\033[0m" if tty else s

    lines = [f"== {name}"] if name else []
    for group in GROUPS:
        rows = [c for c in checks if c.group == group]
        if not rows:
            continue
        lines.append(f"{group}")
        for c in rows:
            lines.append(f"  {paint(c.status, MARK[c.status])} {c.summary}")
            if c.status in (FAIL, WARN) and c.detail:
                lines.append(f"      {c.detail}")
            if c.status in (FAIL, WARN) and c.fix:
                lines.append(f"      fix: {c.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL, SKIP)}
    lines.append(f"{counts[FAIL]} failed, {counts[WARN]} warning(s), {counts[OK]} ok, {counts[SKIP]} could not check")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    if any(c.status == FAIL for c in checks):
        return 1
    if checks and all(c.status == SKIP for c in checks):
        return 2
    return 0


_SECRET = re.compile(r"(?i)(password|passwd|token|secret|key)=\S+")
_PROXY_CRED = re.compile(r"(://)[^/@\s:]+:[^/@\s]+@")


def mask(text: str) -> str:
    return _PROXY_CRED.sub(r"\1***:***@", _SECRET.sub(lambda m: m.group(1) + "=***", text))


def write_report(directory: Path, name: str, facts: dict[str, Any], checks: list[Check]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name or "local")
    path = directory / f"ascend-doctor-{safe}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    env = dict(os.environ)
    bundle = {"target": name, "checks": [c.as_dict() for c in checks], "facts": facts,
              "controller_env": {k: v for k, v in env.items()
                                 if k.startswith(("ASCEND", "PIP_", "HTTP", "HTTPS", "NO_PROXY", "LD_", "PYTHON"))
                                 or k.lower().endswith("_proxy")}}
    path.write_text(mask(json.dumps(bundle, indent=1, default=str)))
    return path


def inventory_targets(path: str, limit: str | None) -> list[tuple[SshTarget, dict[str, Any]]]:
    from .inventory import InventoryError, read_inventory

    try:
        data = read_inventory(path)
    except InventoryError as e:
        raise ValueError(f"--inventory: {e}") from None
    hostvars = data.get("_meta", {}).get("hostvars", {})
    names = sorted(hostvars)
    if limit:
        want = [n.strip() for n in limit.split(",") if n.strip()]
        unknown = [n for n in want if n not in hostvars]
        if unknown:
            raise ValueError(f"--limit: no host {', '.join(unknown)} in {path}; hosts: {', '.join(names)}")
        names = want
    out = []
    for n in names:
        hv = hostvars[n]
        m = re.search(r"UserKnownHostsFile=(\S+)", str(hv.get("ansible_ssh_common_args", "")))
        out.append((SshTarget(host=str(hv.get("ansible_host", n)), port=int(hv.get("ansible_port", 22)),
                              user=str(hv.get("ansible_user", "root")), key_file=hv.get("ansible_ssh_private_key_file"),
                              known_hosts=m.group(1) if m else None, root=hv.get("ascend_host_root"), name=n), hv))
    return out


def run_doctor(args: argparse.Namespace) -> int:
    if args.list_checks:
        from .doctor import pydeps
        from .doctor.checks import list_checks

        for cid, group, doc in list_checks():
            print(f"{cid:22} {group:11} {doc}")
        return 0
    from .doctor import transport

    try:
        expect = parse_expect(args.expect)
        only = [x.strip() for x in args.only.split(",")] if args.only else None
        targets: list[tuple[str, Any, dict[str, Any]]] = []
        if args.inventory:
            for t, hv in inventory_targets(args.inventory, args.limit):
                targets.append((t.name, t, hv))
                # a host provisioned itself (ascend_container_enabled: false) is its own environment: no containers
                if args.containers and hv.get("ascend_container_enabled", True) is not False:
                    targets += [(f"{t.name}/{c['name']}", t, {**hv, "_container": c["name"]})
                                for c in hv.get("ascend_containers") or [] if isinstance(c, dict) and c.get("name")]
        elif args.ssh:
            targets = [(args.ssh, SshTarget.parse(args.ssh, key_file=args.identity, root=args.root), {})]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    imports = not args.no_imports

    def gather(target: Any, hv: dict[str, Any]) -> dict[str, Any] | str:
        """The target's facts, or why they could not be read."""
        try:
            if args.container:
                return transport.container(args.container, args.runtime, args.python, imports)
            if target is not None:
                # the host's own engine CLI (inventory: ascend_container_cli, e.g. isula on openEuler hosts)
                cli = str(hv.get("ascend_container_cli") or hv.get("ascend_container_runtime") or args.runtime)
                return transport.ssh(target, args.python, imports, container_name=hv.get("_container"), runtime=cli)
            return transport.local(args.root or os.environ.get("ASCEND_ENV_HOST_ROOT") or "/", args.python, imports)
        except TransportError as e:
            return str(e)

    todo = targets or [(args.container or "", None, {})]
    # The probes start first: they wait on subprocesses (docker exec, npu-smi, hccn_tool, SSH) while this process
    # imports the checks and loads the matrix, so a cold run pays for the slower of the two, not their sum.
    with ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
        pending = [pool.submit(gather, target, hv) for _, target, hv in todo]
        from .doctor import pydeps  # noqa: F401  (registers the python.cann_deps check)
        from .doctor.checks import Check, Context, run_checks
        from .doctor.network import fleet_checks
        from .matrix import load_matrix

        matrix = load_matrix()
        results: list[tuple[str, dict[str, Any] | None, list[Check]]] = []
        for (name, _, hv), fut in zip(todo, pending, strict=True):
            facts = fut.result()
            if isinstance(facts, str):
                results.append((name, None, [Check("transport", "system", SKIP, f"could not check: {facts}")]))
                continue
            runtime = str(hv.get("ascend_container_runtime") or args.runtime)
            ctx = Context(matrix=matrix, chip=args.chip or hv.get("ascend_chip"), expect=expect, runtime=runtime)
            results.append((name, facts, run_checks(facts, ctx, only)))
    if len(results) > 1 and (not only or "network" in only):   # what only the whole fleet shows
        extra = fleet_checks([(n, f) for n, f, _ in results])
        results = [(n, f, c + extra.get(n, [])) for n, f, c in results]
    if args.report:
        for name, facts, checks in results:
            p = write_report(Path(args.report), name, facts or {}, checks)
            print(f"report: {p}", file=sys.stderr)
    codes = [exit_code(c) for _, _, c in results]
    code = 1 if 1 in codes else (2 if all(x == 2 for x in codes) else 0)
    if args.json:
        doc: dict[str, Any] = {"ok": code == 0, "exit_code": code, "targets": [
            {"name": n, "ok": exit_code(c) == 0, "checks": [x.as_dict() for x in c],
             "elapsed_ms": (f or {}).get("elapsed_ms")} for n, f, c in results]}
        if len(results) == 1:
            doc["checks"] = doc["targets"][0]["checks"]
        print(json.dumps(doc, indent=1))
        return code
    tty = sys.stdout.isatty()
    if len(results) > 1:
        print(fleet_table(results))
        print()
    for name, _, checks in results:
        if len(results) == 1 or any(c.status in (FAIL, WARN, SKIP) for c in checks):
            print(render(name if len(results) > 1 or name else "", checks, tty))
    return code


def fleet_table(results: Sequence[tuple[str, Any, list[Check]]]) -> str:
    width = max([4, *(len(n) for n, _, _ in results)])
    head = f"{'host':{width}}  " + "  ".join(f"{g:10}" for g in GROUPS if g != "expect")
    rows = [head]
    for name, _, checks in results:
        cells = []
        for g in GROUPS:
            if g == "expect":
                continue
            st = [c.status for c in checks if c.group == g]
            worst = FAIL if FAIL in st else WARN if WARN in st else SKIP if st and all(s == SKIP for s in st) \
                else OK if st else "-"
            cells.append(f"{MARK.get(worst, '-'):10}")
        rows.append(f"{name:{width}}  " + "  ".join(cells))
    return "\n".join(rows)
