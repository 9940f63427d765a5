"""What a run would change, per host and environment: the roles' own comparisons (their ``tasks/plan.yml`` facts)
gathered into one table and one JSON document (``ascend-env plan``, and the table at the top of a site.yml run).

Pure: the per-host facts in, rows out.  A host whose reading is missing (unreachable, or the reading failed) is a row
that says so: never "nothing to do".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Change", "fleet_report", "host_changes"]


@dataclass(frozen=True)
class Change:
    """One thing a run would change: where (a host, ``host/container`` or an environment), which role, what, why."""

    target: str
    role: str
    what: str
    why: str = ""

    def line(self) -> str:
        return f"{self.role}: {self.what}" + (f" ({self.why})" if self.why else "")


def _versions(facts: Mapping[str, Any]) -> tuple[str, str]:
    drv = (facts.get("driver") or {})
    driver = ((drv.get("driver") or {}).get("values") or {}).get("Version", "")
    firmware = ((drv.get("firmware") or {}).get("values") or {}).get("Version", "")
    return str(driver), str(firmware)


def _driver_changes(name: str, plan: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Change]:
    """With ascend_driver_manage: the driver and firmware the pins ask for, where the host has others."""
    if not plan.get("driver_manage"):
        return []
    have = dict(zip(("driver", "firmware"), _versions(facts), strict=True))
    out = []
    for part in ("driver", "firmware"):
        want = str((plan.get("pins") or {}).get(part) or "")
        if want and want.lower() != have[part].lower():
            out.append(Change(name, "driver", f"{part} {have[part] or 'none'} -> {want}", "ascend_driver_manage"))
    return out


def host_changes(name: str, facts: Mapping[str, Any]) -> tuple[list[str], list[Change], list[Change]] | None:
    """``(problems, changes, notes)`` of one NPU host from its facts after the plan play (``ascend_plan``,
    ``ascend_host_state``, ``ascend_driver_check_problems``, ``ascend_container_todo``, ``ascend_ssh_todo_list``);
    notes are what a run looks at again without a known change (a stopped container's sshd); None: not read."""
    plan = facts.get("ascend_plan")
    state = facts.get("ascend_host_state")
    if not isinstance(plan, Mapping) or not isinstance(state, Mapping) or "facts" not in state:
        return None
    problems = [str(p) for p in facts.get("ascend_driver_check_problems") or []]
    changes = _driver_changes(name, plan, state.get("facts") or {})
    notes: list[Change] = []
    todo = facts.get("ascend_container_todo") or {}
    if todo.get("image"):
        changes.append(Change(name, "container", f"load the base image {plan.get('image')}", "the engine lacks it"))
    for c in todo.get("containers") or []:
        changes.append(Change(f"{name}/{c['name']}", "container", str(c["action"]), "; ".join(c.get("why") or [])))
    remade = {c["name"] for c in todo.get("containers") or []}
    for c in facts.get("ascend_ssh_todo_list") or []:
        if c.get("read", True):
            changes.append(Change(f"{name}/{c['name']}", "ssh", ", ".join(c.get("todo") or [])))
        elif c["name"] not in remade:   # not running now: its sshd is read once the container role has started it
            notes.append(Change(f"{name}/{c['name']}", "ssh", "read once the container runs"))
    return problems, changes, notes


def fleet_report(hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str]) -> dict[str, Any]:
    """``{lines, report}``: the table's lines and the JSON document (``hosts``: per host ``read``, ``ready``,
    ``problems``, ``changes``; ``changes``: their number; ``unread``: hosts not read)."""
    lines: list[str] = []
    doc: dict[str, Any] = {"hosts": {}, "changes": 0, "unread": []}
    width = max([4, *(len(h) for h in hosts)]) if hosts else 4
    for h in hosts:
        got = host_changes(h, hostvars.get(h) or {})
        if got is None:
            doc["unread"].append(h)
            doc["hosts"][h] = {"read": False, "ready": False, "problems": [], "changes": [], "notes": []}
            lines.append(f"{h:{width}}  NOT READ (unreachable, or its reading failed: see above)")
            continue
        problems, changes, notes = got
        doc["hosts"][h] = {"read": True, "ready": not problems, "problems": problems,
                           "changes": [asdict(c) for c in changes], "notes": [asdict(c) for c in notes]}
        doc["changes"] += len(changes)
        if problems:
            lines.append(f"{h:{width}}  NOT READY: " + " | ".join(p.replace("\n", " ") for p in problems))
        if not changes and not problems:
            lines.append(f"{h:{width}}  nothing to change")
        for c in changes:
            lines.append(f"{c.target:{width}}  {c.line()}")
        for c in notes:
            lines.append(f"{c.target:{width}}  ({c.line()})")
    total = doc["changes"]
    lines.append(f"{total} change(s) on {sum(1 for v in doc['hosts'].values() if v['changes'])} of {len(doc['hosts'])} "
                 f"host(s)" + (f"; {len(doc['unread'])} not read" if doc["unread"] else ""))
    return {"lines": lines, "report": doc}
