"""The edges of ``ascend-env upgrade`` and ``rollback``: the inventory checked before anything runs (the fleet plan,
the waves, the hooks: bad input raises, nothing touched), and the playbook ``ascend.env.upgrade`` run with
ansible-playbook (its output shown as it comes)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..ansible_run import ansible_environment, ansible_playbook
from ..errors import UsageError

__all__ = ["add_options", "check_fleet", "check_settings", "run_upgrade_playbook"]


def add_options(p: argparse.ArgumentParser) -> None:
    """The options ``upgrade`` and ``rollback`` share."""
    p.add_argument("-i", "--inventory", required=True, metavar="PATH", help="the fleet's Ansible inventory")
    p.add_argument("--limit", help="NPU hosts to take (comma-separated names, inventory order; default: all)")
    p.add_argument("--records", metavar="DIR", help="the folder of the hosts' stack records (default: "
                                                    ".ascend-env/stacks beside the inventory)")
    p.add_argument("--stop-containers", action="store_true",
                   help="stop the environment's containers that hold the NPUs (ascend_upgrade_stop_containers)")
    p.add_argument("--check", action="store_true", help="Ansible's check mode: show what would change")


def check_fleet(inventory: str, limit: str | None) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The fleet plan and host variables of the run; every problem raised as bad input (nothing touched yet)."""
    from ..inventory import InventoryError, fleet_plan, hostvars_of, read_inventory

    if not Path(inventory).exists():
        raise UsageError(f"-i {inventory}: no such file or folder; give the fleet's inventory "
                         "(e.g. inventory/hosts.yml)")
    data = read_inventory(inventory)
    fleet = fleet_plan(data, limit, where=f"inventory {inventory}")
    if fleet.problems:
        raise InventoryError("nothing was touched; the preflight refuses:\n" + "\n".join(
            f"inventory {inventory}, host {line}" for line in fleet.problem_lines()))
    return fleet, hostvars_of(data)


def check_settings(hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]], waves: str | None) -> list[str]:
    """The run's waves (one line each) and each host's hooks checked; bad input raises naming the value and fix."""
    from .upgrade import hook_argv, rollout

    values = {h: (waves if waves is not None else hostvars[h]["ascend_upgrade_waves"]) for h in hosts
              if waves is not None or "ascend_upgrade_waves" in hostvars[h]}
    plan = rollout(list(hosts), values)
    for h in hosts:
        for setting in ("ascend_upgrade_drain_cmd", "ascend_upgrade_undrain_cmd"):
            hook_argv(hostvars[h].get(setting), h, setting)
    return list(plan["lines"])


def run_upgrade_playbook(args: argparse.Namespace, hosts: Sequence[str], extra_vars: Mapping[str, Any],
                         more_inventories: Sequence[str] = ()) -> int:
    """ansible-playbook ascend.env.upgrade on ``hosts`` (``args``: add_options' flags); its output goes to ours; the
    exit code as 0 (it passed) or 1."""
    from .records import state_dir

    extra = {"ascend_upgrade_records_dir": str(state_dir(args.inventory, args.records)), **extra_vars}
    if args.stop_containers:
        extra["ascend_upgrade_stop_containers"] = True
    argv = [ansible_playbook(args.command), "ascend.env.upgrade", "-i", str(Path(args.inventory).resolve())]
    for inv in more_inventories:
        argv += ["-i", inv]
    argv += ["-e", json.dumps(extra)]
    if args.limit:
        argv += ["--limit", ",".join([*hosts, "localhost"])]
    if args.check:
        argv.append("--check")
    sys.stdout.flush()
    cp = subprocess.run(argv, env=ansible_environment(), check=False)
    return 0 if cp.returncode == 0 else 1
