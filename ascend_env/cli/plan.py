"""``ascend-env plan -i INVENTORY``: what a site.yml run would change, per host and environment, and what stays.

Runs the collection's playbook ``ascend.env.plan`` (the preflight, then each host read once and the roles' own
comparisons: the same ones a converge acts on) and prints its table, or ``--json`` its report.  Reads only: nothing
changes on any host.  Exit codes: 0 nothing to do, 1 something would change (or a host is not ready, or a host or
an environment could not be read), 2 bad input (the inventory, or the preflight's problems: one line each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..ansible_run import ansible_environment, ansible_playbook
from ..errors import UsageError

EXAMPLES = """\
examples:
  python -m ascend_env plan -i inventory/example/hosts.yml              # the table: per host and environment
  python -m ascend_env plan -i .lab/inventory/hosts.yml --json          # {hosts: {h: {ready, problems, changes}}}
  python -m ascend_env plan -i inventory/hosts.yml --limit npu-a

exit codes: 0 nothing to do, 1 changes (or a host not ready, a host or environment not read), 2 bad input
"""


def add_plan_parser(sub: Any) -> None:
    p = sub.add_parser("plan", help="what a site.yml run would change, per host and environment (changes nothing)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--inventory", required=True, help="the fleet's Ansible inventory")
    p.add_argument("--limit", help="NPU hosts to read, with their environments (comma-separated; default: every "
                   "host of ascend_hosts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _preflight_lines(output: str) -> list[str]:
    """The preflight's problem lines from ansible-playbook's output (its fail messages), else its last lines."""
    lines = [ln.strip() for ln in output.splitlines()]
    found = [ln for ln in lines if " / container " in ln or ln.endswith("nothing was")
             or "preflight problem(s)" in ln or ". Fix: " in ln]
    return found or [ln for ln in lines if ln][-12:]


def plan_limit(limit: str) -> str:
    """The limit with each named host's environments (``<host>-<container>``, their names in ascend_envs), as a
    site.yml run is limited (``--limit 'h,h-*'``): ``t1`` -> ``t1,t1-*``.  Patterns and exclusions are kept as given."""
    out = []
    for p in (p.strip() for p in limit.split(",")):
        if not p:
            continue
        out.append(p)
        if p[0] not in "!&~@" and not any(ch in p for ch in "*?[]:"):
            out.append(f"{p}-*")
    return ",".join(out)


def run_plan(args: argparse.Namespace) -> int:
    inventory = Path(args.inventory)
    if not inventory.exists():
        raise UsageError(f"-i {args.inventory}: no such file or folder; give the fleet's inventory "
                         "(e.g. inventory/hosts.yml)")
    with tempfile.TemporaryDirectory(prefix="ascend-env-plan-") as tmp:
        report = Path(tmp) / "plan.json"
        argv = [ansible_playbook("plan"), "ascend.env.plan", "-i", str(inventory.resolve()),
                "-e", json.dumps({"ascend_plan_report": str(report), "ascend_plan_only": True})]
        if args.limit:
            argv += ["--limit", plan_limit(args.limit)]
        cp = subprocess.run(argv, capture_output=True, text=True, env=ansible_environment(), check=False)
        if not report.is_file():
            lines = _preflight_lines(cp.stdout + "\n" + cp.stderr)
            raise UsageError(f"the plan of {args.inventory} could not be made (ansible-playbook exit "
                             f"{cp.returncode}):\n" + "\n".join(lines))
        doc = json.loads(report.read_text())
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print("\n".join(_table(doc)))
    busy = (doc["changes"] or doc["unread"] or doc.get("unread_envs")
            or any(h["problems"] for h in doc["hosts"].values()))
    return 1 if busy else 0


def _table(doc: dict[str, Any]) -> list[str]:
    from ..plan.report import Change

    width = max([4, *(len(h) for h in doc["hosts"])])
    lines = []
    for name, h in doc["hosts"].items():
        if not h["read"]:
            lines.append(f"{name:{width}}  NOT READ (unreachable, or its reading failed)")
            continue
        lines += [f"{name:{width}}  NOT READY: {p}" for p in h["problems"]]
        changes = [Change(**c) for c in h["changes"]]
        width = max([width, *(len(c.target) for c in changes)])
        lines += [f"{c.target:{width}}  {c.line()}" for c in changes]
        width = max([width, *(len(t) for t in h.get("unread_envs") or [])])
        lines += [f"{t:{width}}  NOT READ (the environment: unreachable, or its reading failed)"
                  for t in h.get("unread_envs") or []]
        lines += [f"{c['target']:{width}}  ({Change(**c).line()})" for c in h.get("notes") or []]
        if not changes and not h["problems"] and not h.get("unread_envs"):
            lines.append(f"{name:{width}}  nothing to change")
    lines.append(f"{doc['changes']} change(s); {len(doc['unread'])} host(s) not read"
                 + (f"; {len(doc['unread_envs'])} environment(s) not read" if doc.get("unread_envs") else ""))
    return lines
