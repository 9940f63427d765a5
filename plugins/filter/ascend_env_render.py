"""Ansible filters for the roles, backed by the ascend_env package (the same code as `python -m ascend_env`):

    {{ spec | ascend_env_container_argv(available_cards) }}   -> {"argv": [...], "hash": "...", "spec": {...}}
    {{ spec | ascend_env_sshd_config }}                        -> sshd drop-in text
    {{ spec | ascend_env_env_block }}                          -> the shell environment block
    {{ spec | ascend_env_env_files(profile) }}                 -> {profile, hook, runner}: the environment's files
    {{ settings | ascend_env_exec_env }}                       -> a container's env at create (docker exec gets it)
    {{ facts | ascend_env_doctor(chip, ['devices', 'driver']) }} -> the doctor's checks (list of dicts)
    {{ request | ascend_env_hdk_plan }}                        -> the driver/firmware installer runs, in order
    {{ outputs | ascend_env_reboot_needed }}                   -> whether an installer asked for a reboot
    {{ facts | ascend_env_hdk_prereqs(create_user, mb, host) }} -> what the driver installer would stop at
    {{ item.mounts | ascend_env_user_mounts(host_root) }}      -> a container's own bind mounts
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.ascend.env.plugins.plugin_utils.package import package_problem

try:
    from ascend_env import hdk, render
    from ascend_env.doctor.checks import Context, run_checks
    from ascend_env.matrix import load_matrix
    from ascend_env.resolver import layout_for
    from ascend_env.versions import Version
except ImportError as exc:  # pragma: no cover - only when the package is missing on the controller
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

_MATRIX: list[Any] = []


def _need() -> None:
    if _IMPORT_ERROR is not None:
        raise AnsibleFilterError(package_problem() or str(_IMPORT_ERROR))


def ascend_env_container_argv(spec: dict[str, Any], available: list[int] | None = None) -> dict[str, Any]:
    _need()
    try:
        cs = render.with_spec_hash_label(render.ContainerSpec.from_dict(spec, available=available))
        return {"argv": render.render_container_argv(cs), "hash": cs.labels[render.SPEC_HASH_LABEL],
                "spec": cs.to_dict()}
    except render.RenderError as exc:
        raise AnsibleFilterError(f"container {spec.get('name', '?')}: {exc}") from None


def ascend_env_sshd_config(spec: dict[str, Any]) -> str:
    _need()
    try:
        return render.render_sshd_config(render.SshdSpec.from_dict(spec))
    except render.RenderError as exc:
        raise AnsibleFilterError(f"sshd: {exc}") from None


def ascend_env_env_block(spec: dict[str, Any]) -> str:
    _need()
    try:
        return render.render_env_block(render.EnvSpec.from_dict(spec))
    except render.RenderError as exc:
        raise AnsibleFilterError(f"environment block: {exc}") from None


def ascend_env_doctor(facts: dict[str, Any], chip: str | None = None, only: list[str] | None = None,
                      expect: dict[str, str] | None = None) -> list[dict[str, str]]:
    _need()
    ctx = Context(matrix=_matrix(), chip=chip, expect=expect or None)
    return [c.as_dict() for c in run_checks(facts, ctx, only)]


def _matrix() -> Any:
    if not _MATRIX:
        _MATRIX.append(load_matrix())
    return _MATRIX[0]


def ascend_env_env_files(spec: dict[str, Any], profile: str = "/etc/profile.d/ascend-env.sh") -> dict[str, str]:
    """The files that give every process the environment: ``profile`` (/etc/profile.d/ascend-env.sh), ``hook`` (the
    line at the top of /etc/bash.bashrc and ~/.bashrc), ``runner`` (ascend-run)."""
    _need()
    try:
        env = render.EnvSpec.from_dict(spec)
        return {"profile": render.render_env_profile(env), "hook": render.render_env_hook(profile),
                "runner": render.render_env_runner(profile)}
    except render.RenderError as exc:
        raise AnsibleFilterError(f"environment files: {exc}") from None


def ascend_env_exec_env(settings: dict[str, Any]) -> dict[str, str]:
    """A container's environment at create (``docker run -e``), so that ``docker exec`` / ``isula exec`` and what PID 1
    starts get the stack: ``ascend_env.render.exec_env``.  ``settings``: ``cann`` (the resolved version, or empty:
    no CANN), ``install_path``, ``driver_root``, ``npu_smi_dir``, ``arch``, ``python_env`` (``ascend_env_python_env``'s
    result), ``exports``, ``base_path``.  The toolkit home follows the matrix's layout for the version
    (ascend-toolkit/latest before 8.5, cann from 8.5)."""
    _need()
    s = dict(settings or {})
    home = None
    if s.get("cann"):
        layout = layout_for(_matrix(), Version.parse(str(s["cann"]), "cann"))
        if layout is None:
            raise AnsibleFilterError(f"no toolkit layout known for CANN {s['cann']}; see "
                                     "ascend_env/data/installers.yaml")
        home = f"{str(s.get('install_path') or render.DEFAULT_ASCEND_ROOT).rstrip('/')}/{layout['latest_link']}"
    pyenv = dict(s.get("python_env") or {})
    try:
        spec = render.EnvSpec(driver_root=s.get("driver_root") or render.DEFAULT_DRIVER_DIR,
                              npu_smi_dir=s.get("npu_smi_dir") or None,
                              venv=pyenv.get("path") if pyenv.get("provider") == "venv" else None,
                              conda_prefix=pyenv.get("prefix") if pyenv.get("provider") == "conda" else None,
                              conda_env=pyenv.get("name") if pyenv.get("provider") == "conda" else None,
                              exports=dict(s.get("exports") or {}))
        return render.exec_env(spec, home, str(s.get("arch") or "x86_64"),
                               str(s.get("base_path") or render.DEFAULT_EXEC_PATH))
    except render.RenderError as exc:
        raise AnsibleFilterError(f"container environment: {exc}") from None


def ascend_env_hdk_plan(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Installer runs for one host: ``request`` has chip, arch, installed_driver/firmware, wanted_driver/firmware,
    upgrade_tool, user, group, for_all, install_path (see ascend_env.hdk.plan)."""
    _need()
    r = dict(request)
    try:
        names = hdk.package_names(_matrix(), str(r["chip"]), str(r["arch"]), r.get("wanted_driver"),
                                  r.get("wanted_firmware"))
        steps = hdk.plan(r.get("installed_driver"), r.get("installed_firmware"), r.get("wanted_driver"),
                         r.get("wanted_firmware"), names, upgrade_tool=bool(r.get("upgrade_tool")),
                         user=str(r.get("user", "HwHiAiUser")), group=str(r.get("group", "HwHiAiUser")),
                         for_all=bool(r.get("for_all", True)),
                         install_path=str(r.get("install_path", hdk.DEFAULT_INSTALL_PATH)))
    except (hdk.HdkPlanError, KeyError) as exc:
        raise AnsibleFilterError(f"driver/firmware plan: {exc}") from None
    return [s.to_dict() for s in steps]


def ascend_env_hdk_prereqs(facts: dict[str, Any] | None, create_user: bool = False, min_free_mb: int = 1024,
                           host: str = "") -> list[str]:
    """The driver installer's missing prerequisites, one line each with its fix (``ascend_env.hdk``)."""
    _need()
    return hdk.prerequisite_problems(facts, create_user=bool(create_user), min_free_mb=int(min_free_mb), host=host)


def ascend_env_reboot_needed(outputs: list[str]) -> bool:
    _need()
    return hdk.reboot_needed([str(o) for o in outputs])


def ascend_env_user_mounts(mounts: list[Any] | None, host_root: str = "/") -> list[dict[str, Any]]:
    """A container's ``mounts`` (``HOST:CONTAINER[:ro]`` strings or mappings) as mount dicts, host paths under the
    host's filesystem root (``/`` on real servers, the lab's host root)."""
    _need()
    out = []
    for value in mounts or []:
        try:
            m = render.Mount.coerce(value)
        except render.RenderError as exc:
            raise AnsibleFilterError(f"mounts: {exc}") from None
        host = host_root.rstrip("/") + m.host if host_root.rstrip("/") else m.host
        out.append({"host": host, "container": m.container, "read_only": m.read_only})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ascend_env_container_argv": ascend_env_container_argv,
                "ascend_env_sshd_config": ascend_env_sshd_config,
                "ascend_env_env_block": ascend_env_env_block,
                "ascend_env_doctor": ascend_env_doctor,
                "ascend_env_env_files": ascend_env_env_files,
                "ascend_env_exec_env": ascend_env_exec_env,
                "ascend_env_hdk_plan": ascend_env_hdk_plan,
                "ascend_env_reboot_needed": ascend_env_reboot_needed,
                "ascend_env_hdk_prereqs": ascend_env_hdk_prereqs,
                "ascend_env_user_mounts": ascend_env_user_mounts}
