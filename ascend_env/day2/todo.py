"""Which hosts a rollout has to upgrade, and why.  Pure.

Two readings of the fleet say it: ``ascend-env plan``'s report (what the host roles would change: driver and
firmware with ``ascend_driver_manage``, containers to create, recreate or start, sshd) and each environment's
installed versions as the doctor's probe reads them (``installed_versions``: CANN, Python, the framework's packages),
compared with the environment's stack in the fleet plan.  A host whose reading is missing or unreadable has
something to do (site.yml finds out what): never "nothing to do" on what was not read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..versions import Version, VersionError
from .records import ENV_COMPONENTS

if TYPE_CHECKING:
    from ..plan import EnvPlan, FleetPlan

__all__ = ["HostTodo", "env_changes", "fleet_todo"]


@dataclass(frozen=True)
class HostTodo:
    """One host of the fleet: what an upgrade changes there (empty: nothing), whether its driver or firmware
    changes (then the NPUs must be free of containers mapping them too, and the driver's prerequisites are
    checked), and its environments' containers (the ones ascend-env manages and may stop)."""

    host: str
    changes: tuple[str, ...]
    driver: bool
    containers: tuple[str, ...]

    @property
    def todo(self) -> bool:
        return bool(self.changes)


def _same(component: str, have: str, want: str) -> bool:
    try:
        h, w = Version.parse(have, component), Version.parse(want, component)
    except VersionError:
        return have.strip().lower() == want.strip().lower()
    if component == "python":
        return h.major_minor == w.major_minor
    return h == w


def env_changes(env: EnvPlan, installed: Mapping[str, str] | None, why_unread: str = "") -> list[str]:
    """What differs between an environment's stack and the versions installed there, one line each
    (``host/container: cann 8.2.RC1 -> 9.2.0``); ``installed`` None: the environment could not be read."""
    where = env.name if env.on_host else f"{env.host}/{env.container}"
    if installed is None:
        return [f"{where}: its installed versions could not be read ({why_unread or 'no reading'}); site.yml "
                "checks it"]
    comps = env.stack.get("components") or {}
    out = []
    for comp in ENV_COMPONENTS:
        want = (comps.get(comp) or {}).get("version")
        if not want:
            continue
        have = installed.get(comp)
        if not have:
            out.append(f"{where}: {comp} none -> {want}")
        elif not _same(comp, have, str(want)):
            out.append(f"{where}: {comp} {have} -> {want}")
    return out


def _host_lines(doc: Mapping[str, Any]) -> tuple[list[str], bool]:
    lines, driver = [], False
    for c in doc.get("changes") or []:
        lines.append(f"{c['target']}: {c['role']}: {c['what']}" + (f" ({c['why']})" if c.get("why") else ""))
        driver = driver or c.get("role") == "driver"
    return lines, driver


def fleet_todo(fleet: FleetPlan, plan_doc: Mapping[str, Any],
               env_versions: Mapping[str, Mapping[str, Mapping[str, str] | None | str]],
               hosts: Sequence[str] | None = None) -> tuple[list[HostTodo], list[str]]:
    """``(todo per host, hosts not read)`` for ``hosts`` (default: every planned host), from ``ascend-env plan``'s
    JSON report (``hosts: {h: {read, problems, changes}}``) and per host the installed versions of each environment
    by container name (a string: why it could not be read)."""
    out, unread = [], []
    for name in hosts or list(fleet.hosts):
        hp = fleet.hosts[name]
        doc = (plan_doc.get("hosts") or {}).get(name)
        if not doc or not doc.get("read"):
            unread.append(name)
            continue
        lines, driver = _host_lines(doc)
        # a host the driver check finds not ready is upgraded too: site.yml says what stops it (a rollout that
        # skipped it would call a fleet upgraded that is not)
        lines += [f"{name}: not ready: {p}" for p in doc.get("problems") or ()]
        readings = env_versions.get(name) or {}
        for env in hp.envs:
            got = readings.get(env.container)
            lines += env_changes(env, got if isinstance(got, Mapping) else None,
                                 got if isinstance(got, str) else "")
        containers = tuple(e.container for e in hp.envs) if hp.containers else ()
        out.append(HostTodo(name, tuple(lines), driver, containers))
    return out, unread
