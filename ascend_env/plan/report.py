"""What a run would change, per host and environment: the roles' own comparisons (their ``tasks/plan.yml`` facts)
gathered into one table and one JSON document (``ascend-env plan``, and the table at the top of a site.yml run).

Pure: the per-host facts in, rows out.  A host whose reading is missing (unreachable, or the reading failed) is a row
that says so: never "nothing to do".  With ``envs`` (``ascend-env plan``) each environment's changes (the facts of its
roles' ``tasks/plan.yml``: ascend_python, ascend_cann, ascend_framework) are rows under its NPU host; an environment
whose container a run creates, recreates or starts is read after that (a note); one that could not be read is a row
that says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ENV_FACTS", "Change", "env_changes", "fleet_report", "host_changes"]

# the facts of the environment roles' tasks/plan.yml, in the order a run applies them
ENV_FACTS = (("python", "ascend_python_plan_changes"), ("cann", "ascend_cann_plan_changes"),
             ("framework", "ascend_framework_plan_changes"))


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


_DONE = {"create": "created", "recreate": "recreated", "start": "started"}


def _env_read(facts: Mapping[str, Any]) -> bool:
    state = facts.get("ascend_env_state")
    return (isinstance(state, Mapping) and not state.get("failed") and not state.get("unreachable")
            and all(isinstance(facts.get(fact), list) for _, fact in ENV_FACTS))


def env_changes(name: str, facts: Mapping[str, Any], hostvars: Mapping[str, Mapping[str, Any]]
                ) -> tuple[list[Change], list[Change], list[str]]:
    """``(changes, notes, unread)`` of the environments of one NPU host that was read (``facts``: the host's), from
    each environment's facts (``hostvars[env name]``: ``ascend_env_state`` and the roles' plan facts); ``unread``: the
    targets of environments that could not be read."""
    plan = facts.get("ascend_plan") or {}
    todo = {c["name"]: str(c["action"]) for c in (facts.get("ascend_container_todo") or {}).get("containers") or []}
    changes: list[Change] = []
    notes: list[Change] = []
    unread: list[str] = []
    for env in plan.get("envs") or []:
        target = str(env["name"]) if env.get("on_host") else f"{name}/{env['container']}"
        if not env.get("on_host") and env.get("container") in todo:
            done = _DONE.get(todo[env["container"]], todo[env["container"]])
            notes.append(Change(target, "env", f"read after the container is {done}"))
            continue
        got = hostvars.get(str(env["name"])) or {}
        if not _env_read(got):
            unread.append(target)
            continue
        for role, fact in ENV_FACTS:
            changes += [Change(target, role, str(c.get("reason") or c.get("part")), str(c.get("part") or ""))
                        for c in got[fact]]
    return changes, notes, unread


def fleet_report(hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str], envs: bool = False
                 ) -> dict[str, Any]:
    """``{lines, report}``: the table's lines and the JSON document (``hosts``: per host ``read``, ``ready``,
    ``problems``, ``changes``, ``notes``, ``unread_envs``; ``changes``: their number; ``unread``: hosts not read;
    ``unread_envs``: environments not read).  ``envs``: the environments were read (``ascend-env plan``): their
    changes are the host's rows too."""
    lines: list[str] = []
    doc: dict[str, Any] = {"hosts": {}, "changes": 0, "unread": [], "unread_envs": []}
    width = max([4, *(len(h) for h in hosts)]) if hosts else 4
    for h in hosts:
        got = host_changes(h, hostvars.get(h) or {})
        if got is None:
            doc["unread"].append(h)
            doc["hosts"][h] = {"read": False, "ready": False, "problems": [], "changes": [], "notes": [],
                               "unread_envs": []}
            lines.append(f"{h:{width}}  NOT READ (unreachable, or its reading failed: see above)")
            continue
        problems, changes, notes = got
        unread: list[str] = []
        if envs:
            more, more_notes, unread = env_changes(h, hostvars.get(h) or {}, hostvars)
            changes, notes = changes + more, notes + more_notes
        doc["hosts"][h] = {"read": True, "ready": not problems, "problems": problems,
                           "changes": [asdict(c) for c in changes], "notes": [asdict(c) for c in notes],
                           "unread_envs": unread}
        doc["changes"] += len(changes)
        doc["unread_envs"] += unread
        if problems:
            lines.append(f"{h:{width}}  NOT READY: " + " | ".join(p.replace("\n", " ") for p in problems))
        if not changes and not problems and not unread:
            lines.append(f"{h:{width}}  nothing to change")
        width = max([width, *(len(c.target) for c in changes + notes), *(len(t) for t in unread)])
        for t in unread:
            lines.append(f"{t:{width}}  NOT READ (the environment: unreachable, or its reading failed: see above)")
        for c in changes:
            lines.append(f"{c.target:{width}}  {c.line()}")
        for c in notes:
            lines.append(f"{c.target:{width}}  ({c.line()})")
    total = doc["changes"]
    lines.append(f"{total} change(s) on {sum(1 for v in doc['hosts'].values() if v['changes'])} of {len(doc['hosts'])} "
                 f"host(s)" + (f"; {len(doc['unread'])} not read" if doc["unread"] else "")
                 + (f"; {len(doc['unread_envs'])} environment(s) not read" if doc["unread_envs"] else ""))
    return {"lines": lines, "report": doc}
