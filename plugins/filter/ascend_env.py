"""Ansible filters backed by the ascend_env package: the controller resolves stacks with the same code
as ``python -m ascend_env matrix resolve``.

    {{ {'chip': '910b', 'framework': 'torch', 'pins': {'cann': '8.0.RC1'}} | ascend_env_resolve }}
    {{ hostvars[inventory_hostname] | ascend_env_preflight(inventory_hostname) }}   # -> list of problem lines
    {{ hostvars | ascend_env_plan(ansible_play_hosts_all) }}                   # -> the fleet plan (ascend_env.plan)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

try:
    from ascend_env.collective import CollectiveError, ssh_argv
    from ascend_env.conda import CondaSettingError, conda_plan, python_env
    from ascend_env.matrix import MatrixInvalid, load_matrix
    from ascend_env.matrix_text import format_conflict
    from ascend_env.preflight import CONNECTION_VARIABLES, check_fleet, known_variables
    from ascend_env.resolver import Request, resolve
except ImportError as exc:  # pragma: no cover - only when the package is missing on the controller
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

_CACHE: dict[tuple[str, ...], Any] = {}
_KNOWN: list[frozenset[str]] = []
#: The project's roles (this file is plugins/filter/ascend_env.py).
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


def _need() -> None:
    if _IMPORT_ERROR is not None:
        raise AnsibleFilterError(package_problem() or str(_IMPORT_ERROR))


def _known() -> frozenset[str]:
    """The variables the roles declare (read once per run), for the misspelt-variable check."""
    if not _KNOWN:
        _KNOWN.append(known_variables(ROLES_DIR))
    return _KNOWN[0]


def _matrix(overrides: list[str] | None) -> Any:
    """The matrix with these override files, loaded once per run."""
    key = tuple(str(p) for p in overrides or ())
    if key not in _CACHE:
        try:
            _CACHE[key] = load_matrix(list(key))
        except MatrixInvalid as exc:
            raise AnsibleFilterError(str(exc)) from None
    return _CACHE[key]


def ascend_env_resolve(request: dict[str, Any], overrides: list[str] | None = None) -> dict[str, Any]:
    """Resolve one request; returns the stack dict (``ok: true``) or the conflict dict (``ok: false``,
    ``violations`` and a human ``message``)."""
    _need()
    if not isinstance(request, dict):
        raise AnsibleFilterError(f"ascend_env_resolve needs a mapping, got {type(request).__name__}")
    pins = {k: str(v) for k, v in (request.get("pins") or {}).items() if v not in (None, "")}
    req = Request(chip=request.get("chip"), arch=request.get("arch"), framework=request.get("framework"), pins=pins)
    result = resolve(_matrix(overrides), req)
    out = result.to_dict()
    if not out["ok"]:
        out["message"] = format_conflict(result)  # type: ignore[arg-type]
    return out


def ascend_env_preflight(hostvars: Any, host: str, overrides: list[str] | None = None) -> list[str]:
    """Check one host's inventory variables (``ascend_env.preflight``); returns one line per problem, [] when fine.
    ``overrides`` defaults to the host's ``ascend_matrix_overrides``."""
    _need()
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"ascend_env_preflight needs a host's hostvars mapping, got {type(hostvars).__name__}")
    if overrides is None:
        overrides = hostvars.get("ascend_matrix_overrides")
    wanted = {k: hostvars[k] for k in list(hostvars.keys())
              if str(k).startswith("ascend_") or k in CONNECTION_VARIABLES}
    return [str(p) for p in check_fleet({str(host): wanted}, _matrix(overrides), known=_known())]


#: The connection variables the plan reads besides the ascend_* ones.
_PLAN_VARS = ("ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file", "ansible_ssh_common_args",
              "ansible_python_interpreter")


def ascend_env_plan(hostvars: Any, hosts: Any) -> dict[str, Any]:
    """The fleet plan of ``hosts`` (``ascend_env.plan.plan``), computed once for the run: ``{hosts: {name: HostPlan},
    problems: {host: [line, ...]}, ignored: {host: [line, ...]}}`` (a host with problems is not planned unless it sets
    ascend_ignore_preflight_errors)."""
    _need()
    from ascend_env.plan import plan

    wanted: dict[str, dict[str, Any]] = {}
    for h in hosts or []:
        hv = hostvars[h]
        wanted[str(h)] = {str(k): _plain(hv[k]) for k in list(hv.keys())
                          if str(k).startswith("ascend_") or k in _PLAN_VARS}
    try:
        return plan(wanted, lambda overrides: _matrix(list(overrides)), known=_known()).dump()
    except MatrixInvalid as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_plan_table(hostvars: Any, hosts: Any, envs: bool = False) -> dict[str, Any]:
    """What a run would change on ``hosts``, from each host's facts after the plan play (playbooks/plan_fleet.yml):
    ``{lines, report}`` (``ascend_env.plan.report.fleet_report``); ``envs`` (``ascend-env plan``): the environments
    were read too (their facts under their names in the group ascend_envs) and their changes are rows."""
    _need()
    from ascend_env.plan.report import ENV_FACTS, fleet_report

    names = [str(h) for h in hosts or []]
    wanted = ("ascend_plan", "ascend_host_state", "ascend_driver_check_problems", "ascend_container_todo",
              "ascend_ssh_todo_list")
    env_wanted = ("ascend_env_state", *(pair[1] for pair in ENV_FACTS))
    facts = {}
    for h in names:
        hv = hostvars.get(h) or {}
        facts[h] = {k: _plain(hv[k]) for k in wanted if k in hv}
        for env in (facts[h].get("ascend_plan") or {}).get("envs") or [] if envs else []:
            # not .get(): Ansible's hostvars gives an undefined value, not the default, for a host it does not know
            ev = hostvars[str(env["name"])] if str(env["name"]) in hostvars else {}  # noqa: SIM401
            facts[str(env["name"])] = {k: _plain(ev[k]) for k in env_wanted if k in ev}
    return fleet_report(facts, names, envs=bool(envs))


def ascend_env_smoke_table(names: Any, hostvars: Any) -> list[str]:
    """The fleet's smoke table: one line per environment in ``names`` from its ``ascend_smoke_report`` fact."""
    _need()
    from ascend_env.smoke.fleet import collective_line, fleet_table

    rows, collective = [], []
    for name in names or []:
        hv = hostvars.get(name, {})
        report = hv.get("ascend_smoke_report") if isinstance(hv, Mapping) else None
        rows.append((str(name), dict(report) if isinstance(report, Mapping) else None))
        coll = hv.get("ascend_smoke_collective_report") if isinstance(hv, Mapping) else None
        if isinstance(coll, Mapping):
            collective.append((str(name), dict(coll)))
    line = collective_line(collective)
    return fleet_table(rows) + ([line] if line else [])


def ascend_env_ranktable(hostvars: Any, members: Any, devices: Any = None, fmt: str = "auto") -> dict[str, Any]:
    """The fleet's HCCL rank table from the member hosts' probe facts (``ascend_ranktable_facts``: the network and
    devices sections): ``{ok, format, text, ranks, problems}``; ``text`` is the file (indent 4, every value a
    string), ``problems`` one line each (host, NPU, what, fix)."""
    _need()
    from ascend_env.probe.hccn import from_facts
    from ascend_env.ranktable import MAX_DEVICES, Server, build, format_for, hccl_chip, parse_devices, render

    names = [str(n) for n in members or []]
    try:
        chips = sorted({str(hostvars[n].get("ascend_chip") or "").lower() for n in names})
        chip = hccl_chip(chips)
        wanted = parse_devices(str(devices) if devices not in (None, "") else None,
                               chip.devices if chip else MAX_DEVICES)
        version = format_for(_matrix(None), chips)[0] if fmt in (None, "", "auto") else str(fmt)
    except (ValueError, KeyError) as exc:
        return {"ok": False, "format": None, "text": "", "ranks": 0, "problems": [str(exc)]}
    servers, problems = [], []
    for n in names:
        hv = hostvars[n]
        facts = hv.get("ascend_ranktable_facts") or {}
        net = facts.get("network") or {}
        if not net.get("tool"):
            problems.append(f"{n}: hccn_tool not found on the host. Fix: reinstall the NPU driver (--full)")
            continue
        servers.append(Server(name=n, server_id=str(hv.get("ansible_host") or n), ports=from_facts(net),
                              devices=tuple((facts.get("devices") or {}).get("davinci") or ())))
    table, issues = build(servers, wanted, version, chip) if not problems else (None, [])
    problems += [str(p) for p in issues]
    if table is None:
        return {"ok": False, "format": version, "text": "", "ranks": 0, "problems": problems}
    return {"ok": True, "format": version, "text": render(table), "problems": [],
            "ranks": sum(len(s["device"]) for s in table["server_list"]), "servers": len(table["server_list"])}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def ascend_env_python_env(settings: Any) -> dict[str, Any]:
    """Where a container's Python environment is (``ascend_env.conda.python_env``): ``{provider, path, bin, name,
    prefix, python}`` from ``{provider, venv, conda_prefix, env_name, stack}`` (the roles' variables)."""
    _need()
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"ascend_env_python_env needs a mapping, got {type(settings).__name__}")
    try:
        return python_env(_plain(settings))
    except CondaSettingError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_conda_plan(settings: Any) -> dict[str, Any]:
    """What the ascend_python role runs for a conda environment (``ascend_env.conda.conda_plan``): installer, channels,
    ``.condarc``, commands.  A bad setting fails with its message (the variable, the value, the fix)."""
    _need()
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"ascend_env_conda_plan needs a mapping, got {type(settings).__name__}")
    try:
        return conda_plan(_plain(settings))
    except CondaSettingError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ascend_env_ssh_command(target: Any, command: Any) -> list[str]:
    """The plain ``ssh`` argv that starts ``command`` on an environment as a launcher does (``ascend_env.collective.
    ssh_argv``); ``target``: ``host``, ``port``, ``user``, ``key``, ``args`` (the inventory's connection variables)."""
    _need()
    if not isinstance(target, Mapping):
        raise AnsibleFilterError(f"ascend_env_ssh_command needs a mapping, got {type(target).__name__}")
    t = _plain(target)
    try:
        return ssh_argv(str(t.get("host") or ""), [str(a) for a in _plain(command) or []], port=t.get("port") or 22,
                        user=str(t.get("user") or "root"), key=str(t.get("key") or "") or None,
                        ssh_args=str(t.get("args") or ""))
    except (CollectiveError, ValueError) as exc:
        raise AnsibleFilterError(f"ssh command: {exc}") from None


def ascend_env_package_check(value: Any = None) -> str:
    """'' when the controller's ascend_env package is importable and of this collection's version; else the problem
    and its fix (the preflight stops with it before anything changes).  ``value`` is ignored (a filter needs one)."""
    del value
    return package_problem() or ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ascend_env_resolve": ascend_env_resolve, "ascend_env_preflight": ascend_env_preflight,
                "ascend_env_plan": ascend_env_plan, "ascend_env_plan_table": ascend_env_plan_table,
                "ascend_env_smoke_table": ascend_env_smoke_table,
                "ascend_env_package_check": ascend_env_package_check, "ascend_env_ranktable": ascend_env_ranktable,
                "ascend_env_python_env": ascend_env_python_env, "ascend_env_conda_plan": ascend_env_conda_plan,
                "ascend_env_ssh_command": ascend_env_ssh_command}
