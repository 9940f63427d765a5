"""``ascend-env upgrade -i INVENTORY``: move a live fleet to its inventory's pins, wave by wave, the canary first.

Checks the inventory here first (the fleet plan: pins the matrix refuses; ``ascend_upgrade_waves`` or ``--waves``;
the drain/undrain hooks), then runs the collection's playbook ``ascend.env.upgrade`` with ansible-playbook (its
output shown as it comes): the artefacts once for the fleet, then per wave and host the busy check, free space, the
drain hook, site.yml for the wave (the roles, the environments, the smoke), the doctor's host checks, the stack
record (for ``ascend-env rollback``) and the undrain hook; the first failed host stops the rollout.
Exit codes: 0 every host upgraded and checked, 1 the rollout stopped (a host refused, failed or was unreachable:
the output names it and the fix), 2 bad input (nothing on any host was touched).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError

EXAMPLES = """\
examples:
  python -m ascend_env upgrade -i inventory/hosts.yml                   # waves: ascend_upgrade_waves, or 1,10%,100%
  python -m ascend_env upgrade -i inventory/hosts.yml --waves 1,25%,100% --stop-containers
  python -m ascend_env upgrade -i inventory/hosts.yml --limit npu-a,npu-b --check
  ansible-playbook ascend.env.upgrade -i inventory/hosts.yml            # the same rollout, from Ansible

exit codes: 0 upgraded, 1 the rollout stopped (a host named with the fix), 2 bad input (nothing touched)
"""


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--inventory", required=True, metavar="PATH", help="the fleet's Ansible inventory")
    p.add_argument("--limit", help="NPU hosts to take (comma-separated names, inventory order; default: all)")
    p.add_argument("--records", metavar="DIR", help="the folder of the hosts' stack records (default: "
                                                    ".ascend-env/stacks beside the inventory)")
    p.add_argument("--stop-containers", action="store_true",
                   help="stop the environment's containers that hold the NPUs (ascend_upgrade_stop_containers)")
    p.add_argument("--check", action="store_true", help="Ansible's check mode: show what would change")


def add_upgrade_parser(sub: Any) -> None:
    p = sub.add_parser("upgrade", help="upgrade a live fleet to its pins: busy check, drain hooks, the canary then "
                                       "waves, doctor and smoke per host, records for rollback",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.add_argument("--waves", metavar="LIST", help="e.g. 1,10%%,100%% (default: ascend_upgrade_waves, else that)")


def checked_fleet(args: argparse.Namespace) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The fleet plan and host variables of the run, every problem raised as bad input (nothing touched yet)."""
    from ..inventory import InventoryError, fleet_plan, hostvars_of, read_inventory

    if not Path(args.inventory).exists():
        raise UsageError(f"-i {args.inventory}: no such file or folder; give the fleet's inventory "
                         "(e.g. inventory/hosts.yml)")
    data = read_inventory(args.inventory)
    fleet = fleet_plan(data, args.limit, where=f"inventory {args.inventory}")
    if fleet.problems:
        raise InventoryError("nothing was touched; the preflight refuses:\n" + "\n".join(
            f"inventory {args.inventory}, host {line}" for line in fleet.problem_lines()))
    return fleet, hostvars_of(data)


def check_settings(fleet: Any, hostvars: dict[str, dict[str, Any]], waves: str | None) -> list[str]:
    """The waves of the run (lines), each host's hooks checked; bad input raises (naming the value and the fix)."""
    from ..day2.upgrade import hook_argv, rollout

    hosts = list(fleet.hosts)
    values = {h: (waves if waves is not None else hostvars[h]["ascend_upgrade_waves"]) for h in hosts
              if waves is not None or "ascend_upgrade_waves" in hostvars[h]}
    plan = rollout(hosts, values)
    for h in hosts:
        for setting in ("ascend_upgrade_drain_cmd", "ascend_upgrade_undrain_cmd"):
            hook_argv(hostvars[h].get(setting), h, setting)
    return list(plan["lines"])


def run_playbook(args: argparse.Namespace, fleet: Any, extra_vars: dict[str, Any],
                 more_inventories: tuple[str, ...] = ()) -> int:
    """ansible-playbook ascend.env.upgrade on the run's hosts; its output goes to ours; 0 or 1."""
    from ..day2.records import state_dir
    from .plan import _ansible_playbook, _environment

    extra = {"ascend_upgrade_records_dir": str(state_dir(args.inventory, args.records)), **extra_vars}
    if args.stop_containers:
        extra["ascend_upgrade_stop_containers"] = True
    argv = [_ansible_playbook(), "ascend.env.upgrade", "-i", str(Path(args.inventory).resolve())]
    for inv in more_inventories:
        argv += ["-i", inv]
    argv += ["-e", json.dumps(extra)]
    if args.limit:
        argv += ["--limit", ",".join([*fleet.hosts, "localhost"])]
    if args.check:
        argv.append("--check")
    sys.stdout.flush()
    cp = subprocess.run(argv, env=_environment(), check=False)
    return 0 if cp.returncode == 0 else 1


def run_upgrade(args: argparse.Namespace) -> int:
    from ..day2.waves import parse_waves

    if args.waves is not None:
        parse_waves(args.waves, "--waves")
    fleet, hostvars = checked_fleet(args)
    lines = check_settings(fleet, hostvars, args.waves)
    print("rollout: " + "; ".join(lines), file=sys.stderr)
    extra: dict[str, Any] = {"ascend_upgrade_source": "upgrade"}
    if args.waves is not None:
        extra["ascend_upgrade_waves"] = [w.strip() for w in args.waves.split(",")]
    code = run_playbook(args, fleet, extra)
    print("✓ upgraded" if code == 0 else "✗ the rollout stopped: the output above names the host and the fix",
          file=sys.stderr)
    return code
