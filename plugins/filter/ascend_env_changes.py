"""Ansible filters for the environment roles, backed by ``ascend_env.plan.envdiff`` (pure functions: the reading,
the plan and the role's settings in, the changes out):

    {{ ascend_env_plan | ascend_env_reads }}                                        -> ascend_state's arguments
    {{ ascend_env_state | ascend_env_python_changes(ascend_env_plan, settings) }}    -> [{role, part, reason, ...}]
    {{ ascend_env_state | ascend_env_cann_changes(ascend_env_plan) }}
    {{ ascend_env_state | ascend_env_framework_changes(ascend_env_plan, settings) }}
    {{ changes | ascend_env_by_part }}                                               -> {part: change}

``ascend_env_state`` is the play's one reading of the environment (playbooks/envs.yml), ``ascend_env_plan`` the
environment's slice of the fleet plan, ``settings`` the role's own settings (its ``ascend_<role>_settings``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

try:
    from ascend_env.conda import CondaSettingError
    from ascend_env.plan import envdiff
    from ascend_env.render import RenderError
except ImportError as exc:  # pragma: no cover - only when the package is missing on the controller
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


def _need() -> None:
    if _IMPORT_ERROR is not None:
        raise AnsibleFilterError(package_problem() or str(_IMPORT_ERROR))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{what} must be a mapping, got {type(value).__name__}")
    return _plain(value)


def _changes(fn: Callable[..., Any], state: Any, plan: Any, settings: Any) -> list[dict[str, Any]]:
    _need()
    env = _mapping(plan, "the environment's plan (ascend_env_plan)")
    try:
        changes = fn(_mapping(state, "the environment's reading (ascend_env_state)"), env,
                     _mapping(settings or {}, "the role's settings"))
    except (CondaSettingError, RenderError) as exc:
        raise AnsibleFilterError(f"{env.get('name', '?')}: {exc}") from None
    return [c.as_dict() for c in changes]


def ascend_env_reads(plan: Any) -> dict[str, Any]:
    """The arguments of the environment's one ``ascend.env.ascend_state`` call (scope env)."""
    _need()
    return envdiff.env_reads(_mapping(plan, "the environment's plan (ascend_env_plan)"))


def ascend_env_python_changes(state: Any, plan: Any, settings: Any) -> list[dict[str, Any]]:
    """What the ascend_python role changes (``envdiff.python_changes``)."""
    _need()
    return _changes(envdiff.python_changes, state, plan, settings)


def ascend_env_cann_changes(state: Any, plan: Any, settings: Any = None) -> list[dict[str, Any]]:
    """What the ascend_cann role installs (``envdiff.cann_changes``)."""
    _need()
    return _changes(envdiff.cann_changes, state, plan, settings)


def ascend_env_framework_changes(state: Any, plan: Any, settings: Any) -> list[dict[str, Any]]:
    """What the ascend_framework role changes (``envdiff.framework_changes``)."""
    _need()
    return _changes(envdiff.framework_changes, state, plan, settings)


def ascend_env_by_part(changes: Any) -> dict[str, Any]:
    """A role's changes by their part (each part occurs once)."""
    return {str(c["part"]): c for c in changes or []}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ascend_env_reads": ascend_env_reads,
                "ascend_env_python_changes": ascend_env_python_changes,
                "ascend_env_cann_changes": ascend_env_cann_changes,
                "ascend_env_framework_changes": ascend_env_framework_changes,
                "ascend_env_by_part": ascend_env_by_part}
