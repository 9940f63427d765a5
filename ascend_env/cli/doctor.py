"""``python -m ascend_env doctor``: check a host or container and print the exact fix for each problem.

Exit codes: 0 all good (warnings allowed), 1 a check failed, 2 usage error or nothing could be checked.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import hostvalues
from ..doctor.run import Result, exit_code, with_fleet_checks
from ..doctor.status import FAIL, GROUPS, OK, SKIP, UNKNOWN, WARN
from ..doctor.targets import Target, inventory_targets
from ..doctor.transport import SshTarget, TransportError
from ..errors import UsageError

if TYPE_CHECKING:          # imported when the checks run, after the probe has started (run_doctor)
    from ..doctor.checks import Check

_EPILOG = """\
examples:
  python -m ascend_env doctor                              # this host or container
  python -m ascend_env doctor --container llm-torch        # a container, from its host (docker exec)
  python -m ascend_env doctor --ssh root@10.0.0.5:22 --json
  python -m ascend_env doctor --inventory .lab/inventory/hosts.yml
  python -m ascend_env doctor --expect cann=8.0.RC2,torch=2.1.0,torch_npu=2.1.0.post4
  python -m ascend_env doctor --list-checks
"""
MARK = {OK: "✓", WARN: "!", FAIL: "✗", SKIP: "?", UNKNOWN: "??"}
COLOUR = {OK: "32", WARN: "33", FAIL: "31", SKIP: "90", UNKNOWN: "35"}


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


#: what --expect can name: the versions the doctor reads (checks.installed_versions)
EXPECT_COMPONENTS = ("driver", "firmware", "cann", "python", "torch", "torch_npu", "mindspore", "mindformers")


def _read_expect_file(path: Path, text: str) -> Any:
    from ..yamlload import YamlError, safe_load

    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--expect {text}: the file is not UTF-8 text (byte at offset {e.start}); save it as "
                         "UTF-8") from None
    except OSError as e:
        raise UsageError(f"--expect {text}: cannot read the file: {e.strerror or e}") from None
    try:
        return safe_load(raw)
    except YamlError as e:
        first = str(e).splitlines()
        raise UsageError(f"--expect {text}: not valid YAML or JSON ({' '.join(x.strip() for x in first[:4])}); "
                         "give the output of `matrix resolve --json`, a mapping like {cann: 8.0.RC2}, or "
                         "component=version pairs") from None


def parse_expect(text: str | None) -> dict[str, str] | None:
    """The expected stack: a file (``matrix resolve --json``, or a mapping) or ``component=version`` pairs; every
    component one the doctor reads, every version one the component's scheme parses (else :class:`UsageError`)."""
    from ..versions import VersionError, parse_spec

    if not text:
        return None
    path = Path(text)
    out: dict[str, str] = {}
    if path.is_file() or (os.sep in text and "=" not in text):
        if not path.is_file():
            raise UsageError(f"--expect {text}: no such file; give a file from `matrix resolve --json` or "
                             "component=version pairs, e.g. cann=8.0.RC2,torch=2.1.0")
        data = _read_expect_file(path, text)
        if isinstance(data, dict) and isinstance(data.get("components"), dict):  # `matrix resolve --json`
            out = {str(k): str(v["version"]) for k, v in data["components"].items()
                   if isinstance(v, dict) and v.get("version")}
        elif isinstance(data, dict) and data:
            out = {str(k): str(v) for k, v in data.items()}
        else:
            raise UsageError(f"--expect {text}: expected a mapping like {{cann: 8.0.RC2}} or the output of "
                             "`matrix resolve --json`")
    else:
        for part in text.split(","):
            k, sep, v = part.partition("=")
            if not sep or not k.strip() or not v.strip():
                raise UsageError(f"--expect {text!r}: expected component=version pairs, e.g. "
                                 "cann=8.0.RC2,torch=2.1.0, or a file")
            if k.strip() in out:
                raise UsageError(f"--expect {text!r}: {k.strip()} is given twice; keep one")
            out[k.strip()] = v.strip()
    for comp, version in out.items():
        if comp not in EXPECT_COMPONENTS:
            close = difflib.get_close_matches(comp, EXPECT_COMPONENTS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"--expect: unknown component {comp!r}; {hint}the doctor reads "
                             f"{', '.join(EXPECT_COMPONENTS)}")
        try:
            parse_spec(version, comp)
        except VersionError as e:
            raise UsageError(f"--expect {comp}={version}: {e}") from None
    return out


def parse_only(text: str | None) -> list[str] | None:
    """``--only``: check ids and groups; a name that is neither is an error (it would run no check at all)."""
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise UsageError(f"--only {text!r} names no check; give check ids or groups, e.g. --only driver,cann")
    from ..doctor.checks import list_checks

    ids = [cid for cid, _, _ in list_checks()]
    valid = [*GROUPS, *ids]
    for item in items:
        if item not in valid:
            close = difflib.get_close_matches(item, valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"--only {item}: no check or group of that name; {hint}groups: {', '.join(GROUPS)}; "
                             f"check ids: {', '.join(ids)} (python -m ascend_env doctor --list-checks)")
    return items


def check_local_paths(root: str | None, python: str | None) -> None:
    """``--root`` and ``--python`` on this machine must exist: a missing one would read nothing and report ok."""
    if root is not None and not Path(root).is_dir():
        raise UsageError(f"--root {root}: no such directory; give the filesystem root to read (default /)")
    if python is not None:
        found = shutil.which(python)
        if found is None:
            where = "no such file" if os.sep in python else "not found on PATH"
            raise UsageError(f"--python {python}: {where} (or not executable); give the Python whose frameworks to "
                             "check, e.g. /opt/ascend-env/venv/bin/python")


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
            if c.status in (FAIL, WARN, UNKNOWN) and c.detail:
                lines.append(f"      {c.detail}")
            if c.status in (FAIL, WARN, UNKNOWN) and c.fix:
                lines.append(f"      fix: {c.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (OK, WARN, FAIL, SKIP, UNKNOWN)}
    lines.append(f"{counts[FAIL]} failed, {counts[WARN]} warning(s), {counts[OK]} ok, {counts[SKIP]} could not check"
                 + (f", {counts[UNKNOWN]} unknown" if counts[UNKNOWN] else ""))
    return "\n".join(lines)


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


def _write_reports(directory: str, results: Sequence[Result]) -> None:
    try:
        for name, facts, checks in results:
            p = write_report(Path(directory), name, facts or {}, checks)
            print(f"report: {p}", file=sys.stderr)
    except OSError as e:
        raise UsageError(f"--report {directory}: cannot write the report there ({e.strerror or e}); the results "
                         "above stand; give a folder you can write to") from None


def run_doctor(args: argparse.Namespace) -> int:
    if args.list_checks:
        from ..doctor import pydeps  # noqa: F401  (registers the python.cann_deps check)
        from ..doctor.checks import list_checks

        for cid, group, doc in list_checks():
            print(f"{cid:22} {group:11} {doc}")
        return 0
    # every input is checked before anything is read: a bad value is exit 2 with its name, never a run that
    # checked nothing (or the controller instead of the fleet) and said ok
    expect = parse_expect(args.expect)
    only = parse_only(args.only)
    targets = _targets(args)
    results = with_fleet_checks(_check_targets(args, targets, expect, only), only)   # what only a fleet shows
    codes = [exit_code(c) for _, _, c in results]
    code = 1 if 1 in codes else (2 if all(x == 2 for x in codes) else 0)
    if args.json:
        _print_json(results, code)
    else:
        _print_text(results, args.only, only, expect)
    sys.stdout.flush()
    if args.report:   # after the results are out: a folder that cannot be written loses nothing but the bundle
        _write_reports(args.report, results)
    return code


def _targets(args: argparse.Namespace) -> list[Target]:
    """What to check over SSH (none: here or ``--container``), once the flags that go together are checked."""
    if args.limit is not None and not args.inventory:
        raise UsageError("--limit needs --inventory (it names inventory hosts)")
    if args.containers and not args.inventory:
        raise UsageError("--containers needs --inventory (use --container NAME for one container here)")
    if args.identity is not None and not args.ssh:
        raise UsageError("--identity needs --ssh (inventory hosts use their ansible_ssh_private_key_file)")
    if args.identity is not None and not Path(args.identity).is_file():
        raise UsageError(f"--identity {args.identity}: no such file; give the SSH private key for --ssh")
    if args.container:
        hostvalues.container_name(args.container, "--container")
    if not (args.container or args.ssh or args.inventory):
        check_local_paths(args.root, args.python)
    targets: list[Target] = []
    if args.inventory:
        targets = inventory_targets(args.inventory, args.limit, args.containers)
    elif args.ssh:
        targets = [Target(args.ssh, SshTarget.parse(args.ssh, key_file=args.identity, root=args.root),
                          runtime=args.runtime, cli=args.runtime)]
    if args.report:
        report_dir = Path(args.report)
        if report_dir.exists() and not report_dir.is_dir():
            raise UsageError(f"--report {args.report}: is a file, not a folder; give a folder for the bundle")
    return targets


def _gather(args: argparse.Namespace, target: Target | None) -> dict[str, Any] | str:
    """The target's facts (this machine's or ``--container``'s when ``target`` is None), or why they could not be
    read."""
    from ..doctor import transport
    from ..doctor.run import probe

    imports = not args.no_imports
    if target is not None:
        # the host's own engine CLI (inventory: ascend_container_cli, e.g. isula on openEuler hosts)
        return probe(target, args.python, imports)
    try:
        if args.container:
            return transport.container(args.container, args.runtime, args.python, imports)
        return transport.local(args.root or os.environ.get("ASCEND_ENV_HOST_ROOT") or "/", args.python, imports)
    except TransportError as e:
        return str(e)


def _check_targets(args: argparse.Namespace, targets: list[Target], expect: dict[str, str] | None,
                   only: list[str] | None) -> list[Result]:
    """Each target's facts and the checks on them, in the targets' order."""
    todo: list[Target | None] = list(targets) or [None]
    # The probes start first: they wait on subprocesses (docker exec, npu-smi, hccn_tool, SSH) while this process
    # imports the checks and loads the matrix, so a cold run pays for the slower of the two, not their sum.
    # No `with`: on Ctrl-C or an error the pool is left without waiting for an SSH probe's timeout.
    pool = ThreadPoolExecutor(max_workers=max(1, min(16, len(todo))))
    try:
        pending = [pool.submit(_gather, args, target) for target in todo]
        from ..doctor.run import judge
        from ..matrix import load_matrix

        matrix = load_matrix()
        results: list[Result] = []
        for target, fut in zip(todo, pending, strict=True):
            name = target.name if target else (args.container or "")
            results.append(judge(name, fut.result(), matrix, chip=args.chip or (target.chip if target else None),
                                 runtime=target.runtime if target else args.runtime, expect=expect, only=only))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _print_json(results: Sequence[Result], code: int) -> None:
    doc: dict[str, Any] = {"ok": code == 0, "exit_code": code, "targets": [
        {"name": n, "ok": exit_code(c) == 0, "checks": [x.as_dict() for x in c],
         "elapsed_ms": (f or {}).get("elapsed_ms")} for n, f, c in results]}
    if len(results) == 1:
        doc["checks"] = doc["targets"][0]["checks"]
    print(json.dumps(doc, indent=1))


def _print_text(results: Sequence[Result], only_text: str | None, only: list[str] | None,
                expect: dict[str, str] | None) -> None:
    """A fleet's table, then each target whose checks are not all fine (a single target: always)."""
    tty = sys.stdout.isatty()
    if len(results) > 1:
        print(fleet_table(results))
        print()
    for name, _, checks in results:
        if not checks:
            print(render(name, checks, tty) + f"\nnothing was checked: no check of --only {only_text} applies "
                  "here" + (" (the expect check needs --expect)" if only and "expect" in only and not expect
                            else ""))
        elif len(results) == 1 or any(c.status in (FAIL, WARN, SKIP, UNKNOWN) for c in checks):
            print(render(name if len(results) > 1 or name else "", checks, tty))


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
            worst = FAIL if FAIL in st else UNKNOWN if UNKNOWN in st else WARN if WARN in st \
                else SKIP if st and all(s == SKIP for s in st) \
                else OK if st else "-"
            cells.append(f"{MARK.get(worst, '-'):10}")
        rows.append(f"{name:{width}}  " + "  ".join(cells))
    return "\n".join(rows)
