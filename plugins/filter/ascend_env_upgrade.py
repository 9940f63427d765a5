"""Ansible filters of the rollout (playbooks/upgrade.yml), backed by ``ascend_env.day2.upgrade`` (pure):

    {{ hostvars | ascend_env_upgrade_rollout(hosts) }}        -> {serial, waves, lines}; bad waves: an error naming them
    {{ facts.npu_smi | ascend_env_upgrade_busy(host, tops, managed, runtime, driver, stop) }}
                                                              -> {action, status, lines, fix, stop}
    {{ facts.disk | ascend_env_upgrade_space(host, min_free_mb) }}   -> '' or the problem
    {{ value | ascend_env_upgrade_hook(host, setting) }}      -> the hook's argv ([] for none)
    {{ text | ascend_env_upgrade_record(host, plan, source) }} -> the host's stack record with this stack appended
    {{ facts.driver | ascend_env_upgrade_driver_changes(pins, manage) }} -> whether a driver/firmware is installed
    {{ stdout | ascend_env_upgrade_failed(rc, host, env_names) }} -> whether a wave's site.yml failed for the host
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

try:
    from ascend_env.day2 import upgrade
    from ascend_env.errors import AscendEnvError
except ImportError as exc:  # pragma: no cover - only when the package is missing on the controller
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


def _need() -> None:
    if _IMPORT_ERROR is not None:
        raise AnsibleFilterError(package_problem() or str(_IMPORT_ERROR))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def ascend_env_upgrade_rollout(hostvars: Any, hosts: Any) -> dict[str, Any]:
    _need()
    names = [str(h) for h in hosts or []]
    values = {h: _plain(hostvars[h]["ascend_upgrade_waves"]) for h in names
              if "ascend_upgrade_waves" in hostvars[h]}
    try:
        return upgrade.rollout(names, values)
    except AscendEnvError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_upgrade_busy(npu_smi: Any, host: str, tops: Any, managed: Any, runtime: str, driver: Any,
                            stop: Any) -> dict[str, Any]:
    _need()
    tops_text = {str(k): str(v) for k, v in dict(tops or {}).items()}
    return upgrade.busy_decision(str(host), _plain(npu_smi or {}), tops_text, [str(c) for c in managed or []],
                                 str(runtime), bool(driver), bool(stop))


def ascend_env_upgrade_space(disk: Any, host: str, min_free_mb: Any) -> str:
    _need()
    try:
        mb = int(min_free_mb)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{host}: ascend_upgrade_min_free_mb={min_free_mb!r} is not a number of MiB; "
                                 "e.g. ascend_upgrade_min_free_mb: 4096") from None
    return upgrade.space_problem(str(host), _plain(disk or {}), mb)


def ascend_env_upgrade_hook(value: Any, host: str, setting: str) -> list[str]:
    _need()
    try:
        return upgrade.hook_argv(_plain(value), str(host), str(setting))
    except AscendEnvError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_upgrade_record(text: Any, host: str, plan: Any, source: str = "upgrade") -> str:
    _need()
    try:
        return upgrade.record_text(str(text or ""), str(host), _plain(plan), str(source))
    except AscendEnvError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_upgrade_driver_changes(driver: Any, pins: Any, manage: Any) -> bool:
    _need()
    return upgrade.driver_changes(_plain(driver or {}), _plain(pins or {}), bool(manage))


def ascend_env_upgrade_failed(stdout: Any, rc: Any, host: str, envs: Any) -> bool:
    _need()
    return upgrade.site_failed(str(stdout or ""), int(rc), str(host), [str(e) for e in envs or []])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ascend_env_upgrade_rollout": ascend_env_upgrade_rollout,
                "ascend_env_upgrade_busy": ascend_env_upgrade_busy,
                "ascend_env_upgrade_space": ascend_env_upgrade_space,
                "ascend_env_upgrade_hook": ascend_env_upgrade_hook,
                "ascend_env_upgrade_record": ascend_env_upgrade_record,
                "ascend_env_upgrade_driver_changes": ascend_env_upgrade_driver_changes,
                "ascend_env_upgrade_failed": ascend_env_upgrade_failed}
