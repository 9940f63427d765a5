"""The decisions of a rollout (playbooks/upgrade.yml, ``ascend-env upgrade``), as plain data for the playbook.  Pure.

- :func:`rollout`: the run's ``ascend_upgrade_waves`` (one value for the whole run) turned into Ansible ``serial:``
  batch sizes over the hosts of the run, with a line per wave; bad input raises :class:`WaveError` naming the value.
- :func:`busy_decision`: whether a host may be upgraded now, from the probe's npu-smi reading of the host and the
  runtime's process list of each running container (``docker top NAME -eo pid``): go, stop the environment's
  containers first (``ascend_upgrade_stop_containers: true``), or refuse with the pids, containers and the fix.
- :func:`space_problem`: the install path's free space (the probe's ``disk`` facts) against a minimum.
- :func:`hook_argv`: a drain/undrain setting as the argv to run for a host (:mod:`ascend_env.day2.hooks`).
- :func:`record_text`: a host's stack record file with the stack it now passes with appended
  (:mod:`ascend_env.day2.records`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..versions import Version, VersionError
from .busy import BUSY, FREE, Reading, assess, owners_from_top, reading_from_probe
from .hooks import parse_hook
from .records import FORMAT, KEEP, RecordError, StackEntry, entry_from_plan
from .waves import DEFAULT_WAVES, WaveError, parse_waves, plan_waves

__all__ = ["busy_decision", "driver_changes", "hook_argv", "recap", "record_text", "rollout", "site_failed",
           "space_problem"]

SETTING = "ascend_upgrade_waves"


def rollout(hosts: Sequence[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """``{serial: [n, ...], waves: [{label, hosts}], lines: [...]}`` for ``hosts`` (inventory order: Ansible batches
    them in that order, the canary first).  ``values``: each host's ``ascend_upgrade_waves`` (missing: the
    default); hosts that disagree are bad input (a rollout has one order)."""
    seen: dict[str, list[str]] = {}
    for h in hosts:
        value = values.get(h, list(DEFAULT_WAVES))
        seen.setdefault(json.dumps(value, sort_keys=True, default=str), []).append(h)
    if len(seen) > 1:
        shown = "; ".join(f"{v} on {', '.join(hs[:3])}{' ...' if len(hs) > 3 else ''}" for v, hs in seen.items())
        raise WaveError(f"{SETTING} differs between the hosts of the run ({shown}); a rollout has one order: set it "
                        "once, for the group ascend_hosts or all (or pass -e)")
    value = values.get(hosts[0], list(DEFAULT_WAVES)) if hosts else list(DEFAULT_WAVES)
    sizes = parse_waves(value, SETTING)
    waves = plan_waves(list(hosts), sizes)
    lines = [f"{w.label}: {', '.join(w.hosts)}" for w in waves]
    return {"serial": [len(w.hosts) for w in waves] or [1], "waves": [{"label": w.label, "hosts": list(w.hosts)}
                                                                       for w in waves], "lines": lines}


def busy_decision(host: str, npu_smi_facts: Mapping[str, Any] | None, tops: Mapping[str, str],
                  managed: Sequence[str], runtime: str, driver: bool, stop_containers: bool) -> dict[str, Any]:
    """Whether ``host`` may be upgraded now.

    ``npu_smi_facts``: the probe's ``npu_smi`` facts of the host; ``tops``: ``docker top NAME -eo pid`` (or ``isula
    top``) per running container of the host, which names the container of each pid; ``managed``: the environment's
    containers; ``driver``: the driver or firmware changes (then a running container that maps the NPUs blocks the
    installer too: only the environment's containers are known to map them).

    Returns ``{action, status, lines, message, fix, stop}``: action ``go``; ``stop`` (the environment's containers in
    ``stop`` hold the NPUs and ``stop_containers`` allows stopping them: the playbook stops them, reads again and
    goes only on ``go``); ``refuse`` (busy: a holder outside the environment's containers, or stopping is not
    allowed; or unknown: the table could not be read -- never taken for free)."""
    readings: list[Reading] = [reading_from_probe("host", npu_smi_facts)]
    owners = owners_from_top(tops)
    running = sorted(tops)
    mapping = [c for c in running if c in managed] if driver else []
    v = assess(host, readings, owners=owners, mapping_containers=mapping, managed=managed, runtime=runtime)
    out: dict[str, Any] = {"status": v.status, "lines": list(v.lines), "message": v.message, "fix": v.fix or "",
                           "stop": []}
    if v.status == FREE:
        return {**out, "action": "go"}
    if v.status != BUSY:
        return {**out, "action": "refuse"}
    named = {h.container for h in v.holders if h.container} | set(v.mapping_containers)
    unnamed = [h for h in v.holders if not h.container]
    ours = sorted(c for c in named if c in managed)
    if stop_containers and ours and not unnamed and named <= set(managed):
        return {**out, "action": "stop", "stop": ours}
    return {**out, "action": "refuse"}


def space_problem(host: str, disk_facts: Mapping[str, Any] | None, min_free_mb: int) -> str:
    """'' when the install path has ``min_free_mb`` free; else the problem and its fix (unread: a problem too)."""
    part = (disk_facts or {}).get("install_path") or {}
    free = part.get("free_bytes")
    if not isinstance(free, int):
        return (f"{host}: the free space on the install path could not be read "
                f"({(disk_facts or {}).get('error') or 'no disk reading'}); check `df -h /usr/local/Ascend` there")
    if free < min_free_mb * 1024 * 1024:
        return (f"{host}: {free // (1024 * 1024)} MiB free on {part.get('path')}, the upgrade needs "
                f"ascend_upgrade_min_free_mb={min_free_mb} MiB (the new packages go beside the previous ones, which "
                "are kept for a rollback); free space there, or lower ascend_upgrade_min_free_mb")
    return ""


def hook_argv(value: Any, host: str, setting: str) -> list[str]:
    """The argv of a drain/undrain setting for ``host`` ([] for no hook); :class:`~ascend_env.day2.hooks.HookError`
    names the host, the setting, the value and the fix."""
    hook = parse_hook(value, f"{host}: {setting}")
    return [] if hook is None else hook.argv_for(host)


def record_text(existing: str, host: str, host_plan: Mapping[str, Any], source: str, at: str | None = None) -> str:
    """The host's record file (``existing``: its text, '' when there is none) with the stack of ``host_plan`` (the
    host's slice of the fleet plan, as the play holds it) appended as passing (the same stack as the newest is
    replaced, not repeated); at most :data:`~ascend_env.day2.records.KEEP` stacks."""
    from ..plan.model import HostPlan

    entries: list[StackEntry] = []
    if existing.strip():
        try:
            doc = json.loads(existing)
        except ValueError as e:
            raise RecordError(f"{host}: its stack record is not JSON ({e}); fix or remove the file") from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("stacks"), list):
            raise RecordError(f"{host}: its stack record has no 'stacks' list; fix or remove the file")
        entries = [StackEntry.from_json(s, f"{host} stack {i + 1}") for i, s in enumerate(doc["stacks"])]
    entry = entry_from_plan(HostPlan.model_validate(dict(host_plan)), source, True, at)
    entries = [e for e in entries if e.key() != entry.key() or e.passed != entry.passed]
    entries = [*entries, entry][-KEEP:]
    return json.dumps({"host": host, "format": FORMAT, "stacks": [e.to_json() for e in entries]}, indent=1) + "\n"


def _same_version(have: str, want: str, component: str) -> bool:
    try:
        return Version.parse(have, component) == Version.parse(want, component)
    except VersionError:
        return have.strip().lower() == want.strip().lower()


def driver_changes(driver_facts: Mapping[str, Any] | None, pins: Mapping[str, Any], manage: bool) -> bool:
    """Whether the run installs a driver or firmware on the host: ``ascend_driver_manage`` and a pin that differs from
    the probe's ``driver`` facts (``driver``/``firmware`` ``version.info``); an unread version counts as a change."""
    if not manage:
        return False
    facts = driver_facts or {}
    for comp in ("driver", "firmware"):
        want = pins.get(comp)
        if not want:
            continue
        have = (((facts.get(comp) or {}).get("values") or {}).get("Version") or "")
        if not have or not _same_version(str(have), str(want), comp):
            return True
    return False


_RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(text: str) -> dict[str, bool]:
    """``ansible-playbook``'s PLAY RECAP: host -> whether it failed or was unreachable."""
    return {m.group(1): int(m.group(2)) > 0 or int(m.group(3)) > 0 for m in _RECAP.finditer(text or "")}


def site_failed(text: str, rc: int, host: str, envs: Sequence[str]) -> bool:
    """Whether a wave's site.yml run failed for ``host``: it or one of its environments (``envs``: their inventory
    names) failed in the recap; when the run failed and the recap names no failed host (it stopped before any host,
    or printed no recap), every host of the wave failed."""
    if rc == 0:
        return False
    bad = {h for h, failed in recap(text).items() if failed}
    if not bad - {"localhost"}:
        return True
    return host in bad or bool(bad & set(envs))
