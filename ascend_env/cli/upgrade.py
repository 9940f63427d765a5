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
import sys
from typing import Any

EXAMPLES = """\
examples:
  python -m ascend_env upgrade -i inventory/hosts.yml                   # waves: ascend_upgrade_waves, or 1,10%,100%
  python -m ascend_env upgrade -i inventory/hosts.yml --waves 1,25%,100% --stop-containers
  python -m ascend_env upgrade -i inventory/hosts.yml --limit npu-a,npu-b --check
  ansible-playbook ascend.env.upgrade -i inventory/hosts.yml            # the same rollout, from Ansible

exit codes: 0 upgraded, 1 the rollout stopped (a host named with the fix), 2 bad input (nothing touched)
"""


def add_upgrade_parser(sub: Any) -> None:
    from ..day2.rollout import add_options

    p = sub.add_parser("upgrade", help="upgrade a live fleet to its pins: busy check, drain hooks, the canary then "
                                       "waves, doctor and smoke per host, records for rollback",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p)
    p.add_argument("--waves", metavar="LIST", help="e.g. 1,10%%,100%% (default: ascend_upgrade_waves, else that)")


def run_upgrade(args: argparse.Namespace) -> int:
    from ..day2.rollout import check_fleet, check_settings, run_upgrade_playbook
    from ..day2.waves import parse_waves

    if args.waves is not None:
        parse_waves(args.waves, "--waves")
    fleet, hostvars = check_fleet(args.inventory, args.limit)
    lines = check_settings(list(fleet.hosts), hostvars, args.waves)
    print("rollout: " + "; ".join(lines), file=sys.stderr)
    extra: dict[str, Any] = {"ascend_upgrade_source": "upgrade"}
    if args.waves is not None:
        extra["ascend_upgrade_waves"] = [w.strip() for w in args.waves.split(",")]
    code = run_upgrade_playbook(args, list(fleet.hosts), extra)
    print("✓ upgraded" if code == 0 else "✗ the rollout stopped: the output above names the host and the fix",
          file=sys.stderr)
    return code
