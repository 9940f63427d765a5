"""``ascend-env rollback -i INVENTORY [--limit HOSTS]``: return hosts to their last passing stack.

Each host's stack records (written by ``ascend-env upgrade`` after the host's doctor and smoke passed; one JSON file
per host in ``.ascend-env/stacks`` beside the inventory, or ``--records``) give the newest passing stack that is not
the one the inventory now asks for.  The rollback is the upgrade playbook (``ascend.env.upgrade``: busy check,
hooks, waves, doctor and smoke) run with an inventory overlay that pins each host to that stack (its driver and
firmware, each environment's CANN, Python and framework), so the installers already on the host and in the store
run again without a download.  Change the inventory's pins back afterwards, or the next upgrade moves forward again.
Exit codes: 0 every host rolled back and checked, 1 the rollout stopped, 2 bad input or no stack to return to
(nothing on any host was touched).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

EXAMPLES = """\
examples:
  python -m ascend_env rollback -i inventory/hosts.yml --limit npu-a       # npu-a to its last passing stack
  python -m ascend_env rollback -i inventory/hosts.yml --check

exit codes: 0 rolled back, 1 the rollout stopped, 2 bad input or nothing recorded to return to (nothing touched)
"""


def add_rollback_parser(sub: Any) -> None:
    from ..day2.rollout import add_options

    p = sub.add_parser("rollback", help="return hosts to their last passing stack (recorded by upgrade)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p)


def targets(fleet: Any, folder: Path) -> tuple[dict[str, Any], list[str]]:
    """Per host the stack to return to, and one line per host that has none."""
    from ..day2.records import entry_from_plan, load, rollback_target

    found, missing = {}, []
    for name, hp in fleet.hosts.items():
        entries = load(folder, name)
        target = rollback_target(entries, entry_from_plan(hp, "inventory"))
        if target is None:
            missing.append(f"{name}: no passing stack other than the inventory's in {folder} "
                           f"({len(entries)} recorded)")
        else:
            found[name] = target
    return found, missing


def run_rollback(args: argparse.Namespace) -> int:
    from ..day2.records import overlay, state_dir
    from ..day2.rollout import check_fleet, check_settings, run_upgrade_playbook

    fleet, hostvars = check_fleet(args.inventory, args.limit)
    check_settings(list(fleet.hosts), hostvars, None)
    folder = state_dir(args.inventory, args.records)
    found, missing = targets(fleet, folder)
    if missing:
        raise UsageError("nothing to roll back to, nothing was touched:\n" + "\n".join(missing)
                         + "\nFix: leave those hosts out with --limit, or give the folder of their records with "
                           "--records (ascend-env upgrade writes one after each passing host)")
    for name, entry in found.items():
        print(f"rollback: {name} -> {entry.describe()} (recorded {entry.recorded_at} by {entry.source})",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ascend-env-rollback-") as tmp:
        over = Path(tmp) / "rollback.yml"
        over.write_text(yaml.safe_dump(overlay(found, hostvars), sort_keys=False))
        code = run_upgrade_playbook(args, list(fleet.hosts), {"ascend_upgrade_source": "rollback"}, (str(over),))
    print("✓ rolled back" if code == 0 else "✗ the rollback stopped: the output above names the host and the fix",
          file=sys.stderr)
    return code
