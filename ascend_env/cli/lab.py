"""``python -m ascend_env lab ...``: bring the simulated Ascend lab up, inspect it, inject faults, take it down.

Exit codes: 0 ok, 1 the lab is not healthy / an operation failed, 2 usage error (bad value, nothing changed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

_EPILOG = """\
examples:
  python -m ascend_env lab up                      # 2 hosts: h1 (910B x8), h2 (300I Duo x2)
  python -m ascend_env lab up --hosts 4            # more simulated servers
  python -m ascend_env lab status
  ssh -F .lab/ssh/config h1 npu-smi info           # (npu-smi path: see docs/lab.md)
  python -m ascend_env lab fault h1 chip-unhealthy --device 3 --health Critical
  python -m ascend_env lab fault h1 link-down --device 2
  python -m ascend_env lab fault h1 duplicate-ip --device 0 --ip 10.0.3.11
  python -m ascend_env lab fault h1 --clear all
  ansible-playbook site.yml -i .lab/inventory/hosts.yml
  python -m ascend_env lab down
"""


def add_lab_parser(sub: Any) -> None:
    p = sub.add_parser("lab", help="the simulated Ascend lab (docker + sshd + faithful fakes)",
                       description=__doc__, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", type=Path, help="lab folder (default: .lab in a checkout, or $ASCEND_ENV_LAB_PREFIX)")
    p.add_argument("--cache", type=Path, help="cache folder for the base image (default: .cache/lab)")
    lsub = p.add_subparsers(dest="lab_command", required=True, metavar="{up,status,down,fault,ssh,store,deps}")
    lsub.add_parser("deps", help="apt-get install what the lab needs (docker.io, makeself, debootstrap, sshd, gcc)")
    up = lsub.add_parser("up", help="create or reconcile the lab (a second run is a no-op)")
    up.add_argument("--config", type=Path, help="lab config YAML (hosts, chips, drivers); see docs/lab.md")
    up.add_argument("--hosts", type=int, help="number of simulated hosts with the default mix (default 2)")
    up.add_argument("--wheels", nargs="*", metavar="REQ",
                    help="requirements to download into store/wheels (default: torch==2.13.0 from the wheelhouse)")
    up.add_argument("--cann", nargs="*", default=[], metavar="VER", help="extra CANN versions to build installers for")
    up.add_argument("--json", action="store_true")
    st = lsub.add_parser("status", help="what is up; exit 1 when a host is not reachable or not healthy")
    st.add_argument("--json", action="store_true")
    dn = lsub.add_parser("down", help="remove every container, process, address, mount and file the lab made "
                                      "(the cache of downloads stays: --purge removes it too)",
                         description="Remove every container, process, address, mount and file the lab made under "
                                     "its prefix. The cache (--cache: the base image, the wheels pip downloaded, the "
                                     "conda channel) stays, so the next `lab up` downloads nothing again; --purge "
                                     "deletes it as well.")
    dn.add_argument("--purge", "--purge-cache", dest="purge_cache", action="store_true",
                    help="also delete the cache: the base image, the downloaded wheels and the conda channel (the "
                         "next `lab up` fetches them again)")
    fl = lsub.add_parser("fault", help="inject or clear a fault on a simulated host")
    fl.add_argument("host", nargs="?")
    fl.add_argument("kind", nargs="?", help="one of: see --list")
    fl.add_argument("--device", type=int, help="davinci number (card number for card-lost)")
    fl.add_argument("--health", help="Warning, Alarm or Critical (chip-unhealthy)")
    fl.add_argument("--version", help="driver/firmware version to put in place (driver-too-old, fw-mismatch)")
    fl.add_argument("--free-mb", type=int, help="MiB left free on the install path (disk-full)")
    fl.add_argument("--ip", help="the address to give the device (duplicate-ip; default: the next device's)")
    fl.add_argument("--clear", metavar="KIND|all", help="clear a fault kind, or all faults, on the host")
    fl.add_argument("--list", action="store_true", help="list the fault kinds")
    sh = lsub.add_parser("ssh", help="run a command on a simulated host over its real sshd")
    sh.add_argument("host")
    # dest must not be "command": the top-level parser stores the subcommand's name there
    sh.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="COMMAND",
                    help="the command to run there (default: a login shell)")
    so = lsub.add_parser("store", help="add wheels, CANN installers or the conda channel to the offline store")
    so.add_argument("--wheels", nargs="*", default=[], metavar="REQ")
    so.add_argument("--python", metavar="X.Y", help="download the --wheels for this Python (binary wheels for this "
                    "machine's architecture), e.g. 3.9 for a conda environment's Python")
    so.add_argument("--cann", nargs="*", default=[], metavar="VER")
    so.add_argument("--conda", action="store_true", help="build the conda channel (CPython 3.9 and 3.11 from Debian's "
                    "packages, pip) into store/conda/channel, and add the py-rattler wheel")


def _config(args: argparse.Namespace, for_up: bool = False) -> Any:
    from ..lab.config import build_config, default_cache, default_prefix, load_config_file
    from ..lab.lab import config_from_state

    prefix = (args.prefix or default_prefix()).absolute()
    cache = (args.cache or default_cache()).absolute()
    explicit = for_up and (args.config is not None or args.hosts is not None)
    if not explicit:
        cfg = config_from_state(prefix, cache)
        if cfg is not None:
            return cfg
    raw = load_config_file(args.config) if for_up and args.config else None
    return build_config(raw, prefix=prefix, cache=cache, hosts=args.hosts if for_up else None)


def _print_status(rows: list[Any]) -> None:
    for r in rows:
        mark = "✓" if r.healthy and r.npu_smi_ok else "✗"
        print(f"{mark} {r.name}  {r.address}  {r.chip} x{r.cards}")
        print(f"    ssh      {'ok' if r.ssh_ok else 'FAILED: ' + r.ssh_detail}")
        print(f"    dockerd  {'up' if r.dockerd_ok else 'down'}; base image {'present' if r.image_ok else 'missing'}"
              + (f"; containers: {', '.join(r.containers)}" if r.containers else ""))
        print(f"    npu-smi  {r.npu_smi_detail}")
        print(f"    /dev     {' '.join(r.devices) or '(none)'}")
        if r.faults:
            print(f"    faults   {'; '.join(r.faults)}")


def run_lab(args: argparse.Namespace) -> int:
    from ..lab.procs import LabError

    try:
        return _run(args)
    except LabError as e:   # the lab could not do it (exit 1); a bad value (LabConfigError) is exit 2 via cli.main
        print(f"lab: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    cmd = args.lab_command
    if cmd == "deps":
        return _deps()
    if cmd == "fault" and args.list:
        from ..lab.faults import KINDS

        for k, v in KINDS.items():
            print(f"{k:16} {v}")
        return 0
    cfg = _config(args, for_up=cmd == "up")
    run = _COMMANDS.get(cmd)
    return run(args, cfg) if run is not None else 2


def _deps() -> int:
    from ..lab.hostdeps import ensure_packages, missing_packages

    done: list[str] = []
    ensure_packages(done)
    print("\n".join(done) if done else "lab deps: all present")
    return 0 if not missing_packages() else 1


def _up(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab

    res = lab.up(cfg, wheels=args.wheels, extra_cann=args.cann)
    if args.json:
        print(json.dumps({"actions": res.actions, "seconds": round(res.seconds, 2),
                          "inventory": str(lab.paths(cfg).inventory)}))
    else:
        for a in res.actions:
            print(f"  {a}")
        what = "no changes" if not res.actions else f"{len(res.actions)} changes"
        print(f"lab up: {len(cfg.hosts)} hosts, {what}, {res.seconds:.1f} s")
        print(f"inventory: {lab.paths(cfg).inventory}")
    return 0


def _status(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab

    rows = lab.status(cfg)
    if args.json:
        print(json.dumps([asdict(r) | {"healthy": r.healthy} for r in rows], indent=1))
    else:
        _print_status(rows)
    return 0 if rows and all(r.healthy for r in rows) else 1


def _down(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab

    added = lab.added_addresses(cfg)  # only what this lab added is its to remove (and to check)
    for line in lab.down(cfg, purge_cache=args.purge_cache):
        print(f"  {line}")
    left = lab.leftovers(cfg, addresses=added)
    if left:
        print("lab down: left behind: " + "; ".join(left), file=sys.stderr)
        return 1
    print("lab down: nothing left behind")
    return 0


def _fault(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab
    from ..lab.faults import make_fault

    if not args.host:
        print("error: name a host, e.g. `lab fault h1 chip-unhealthy --device 0`", file=sys.stderr)
        return 2
    spec = cfg.host(args.host)
    fault = None
    if args.kind:
        fault = make_fault(spec, args.kind, device=args.device, health=args.health, version=args.version,
                           free_mb=args.free_mb, ip=args.ip)
    elif not args.clear:
        print("error: name a fault kind (see `lab fault --list`) or --clear KIND|all", file=sys.stderr)
        return 2
    changed = lab.set_fault(cfg, args.host, fault, clear=args.clear)
    print(f"{args.host}: " + (", ".join(changed) if changed else "no change"))
    return 0


def _ssh(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab

    lp = lab.paths(cfg)
    host = cfg.host(args.host).name
    if not lp.ssh_config.is_file():
        print(f"lab: the lab at {lp.prefix} is not up ({lp.ssh_config} does not exist); start it with "
              "`python -m ascend_env lab " + (f"--prefix {args.prefix} " if args.prefix else "") + "up`",
              file=sys.stderr)
        return 1
    os.execvp("ssh", ["ssh", "-F", str(lp.ssh_config), host, *args.remote_command])


def _store(args: argparse.Namespace, cfg: Any) -> int:
    from ..lab import lab, store

    log: list[str] = []
    lp = lab.paths(cfg)
    store.fill_runs(cfg, lp, log, args.cann)
    if args.conda:
        store.fill_conda(cfg, lp, log)
    store.fill_wheels(lp, args.wheels, log, python=args.python)
    store.write_manifest(lp.store)
    for line in log:
        print(f"  {line}")
    return 0


#: lab subcommand -> what runs it, with the lab's configuration (deps and fault --list need none)
_COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "up": _up, "status": _status, "down": _down, "fault": _fault, "ssh": _ssh, "store": _store}
