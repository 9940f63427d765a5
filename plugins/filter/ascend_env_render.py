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
        cs = render.with_spec_labels(render.ContainerSpec.from_dict(spec, available=available))
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


def ascend_env_host_check(facts: dict[str, Any], plan: dict[str, Any], groups: list[str] | None = None,
                          chip_must_match: bool = True) -> list[str]:
    """Why an NPU host is not ready, one line each (none: ready), from its one-call reading and its plan: the doctor's
    checks of ``groups`` that failed or could not read what they judge (npu-smi's table, a health value), a chip the
    PCI ids show other than the inventory's, a driver/firmware other than the pins."""
    _need()
    from ascend_env.doctor.checks import detected_chip

    name = plan["name"]
    lines = []
    for c in ascend_env_doctor(facts, plan.get("chip"), groups or ["devices", "driver", "npu"]):
        if c["status"] in ("fail", "unknown"):
            lines.append(f"- {c['summary']}" + (f" ({c['detail']})" if c.get("detail") else "")
                         + f"\n  fix: {c['fix']}")
    if lines:
        lines.insert(0, f"{name}: the NPU host is not ready:")
    found = detected_chip(facts, _matrix()) if chip_must_match else None
    if found and found != plan.get("chip"):
        lines.append(f"{name}: the inventory says ascend_chip={plan.get('chip')} but the PCI ids say {found}. "
                     f"Fix: set ascend_chip: {found} for this host.")
    driver = (((facts.get("driver") or {}).get("driver") or {}).get("values") or {}).get("Version", "")
    firmware = (((facts.get("driver") or {}).get("firmware") or {}).get("values") or {}).get("Version", "")
    pins = plan.get("pins") or {}
    if str(pins.get("driver", "")).lower() not in ("", str(driver).lower()) \
            or str(pins.get("firmware", "")).lower() not in ("", str(firmware).lower()):
        lines.append(f"{name}: the inventory pins driver {pins.get('driver', '-')} / firmware "
                     f"{pins.get('firmware', '-')}, the host has driver {driver or 'none'} / firmware "
                     f"{firmware or 'none'}. The stacks were resolved for the pins. Fix: set ascend_host_pins to what "
                     "is installed (and re-run), or install the pinned HDK first (ascend_driver_manage: true installs "
                     "it from the store's runs/).")
    return lines


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


#: PID 1 of every container: keeps it up and (re)starts its sshd after a container restart, without systemd.
CONTAINER_COMMAND = ["/bin/sh", "-c", "[ -f /etc/ssh/sshd_config.d/ascend-env.conf ] && mkdir -p /run/sshd && "
                                      "/usr/sbin/sshd; exec sleep infinity"]


def container_spec(plan: dict[str, Any], env: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The run spec of one planned environment's container on its host: host paths under the host's root, the role's
    own settings (``shm_size``, ``npu_smi_mount``, ``base_path``), and in its environment what a process started
    without a shell needs (docker/isula exec, a Kubernetes exec probe, PID 1 and its children): CANN's set_env.sh
    variables, the driver libraries, the environment's bin/ first on PATH with VIRTUAL_ENV or CONDA_PREFIX, and
    RANK_TABLE_FILE (docs/environment.md)."""
    import posixpath

    item = env["container_spec"]
    root = str(plan.get("root") or "")
    python = env["python"]
    exec_env = ascend_env_exec_env({
        "cann": item.get("cann") or "", "arch": plan.get("arch") or "x86_64",
        "npu_smi_dir": posixpath.dirname(str(settings.get("npu_smi_mount") or render.DEFAULT_NPU_SMI)),
        "python_env": {"provider": python["provider"], "path": python["path"], "prefix": python.get("prefix"),
                       "name": python.get("name")},
        "exports": {"RANK_TABLE_FILE": env["ranktable"]["path"]} if env["ranktable"]["enabled"] else {},
        "base_path": settings.get("base_path")})
    return {"name": item["name"], "image": item["image"], "runtime": plan["runtime"],
            "devices": item.get("devices", "all"), "device_dir": f"{root}/dev",
            "host_ascend_root": f"{root}/usr/local/Ascend", "host_dcmi_dir": f"{root}/usr/local/dcmi",
            "host_npu_smi": f"{root}{plan['npu_smi']}", "host_install_info": f"{root}/etc/ascend_install.info",
            "shm_size": settings.get("shm_size"), "command": CONTAINER_COMMAND, "mounts": item["mounts"],
            "labels": {"io.ascend-env.framework": item.get("framework") or ""}, "env": exec_env}


def ascend_env_container_changes(host_state: dict[str, Any], plan: dict[str, Any],
                                 settings: dict[str, Any]) -> dict[str, Any]:
    """What the container role changes on a host, from its one-call reading and its plan: ``{image: whether the base
    image must be loaded, containers: [{name, action (create, recreate, start), argv, hash, mounts}]}`` for the
    containers whose rendered spec differs from the running one (its spec-hash label) or that are stopped."""
    _need()
    if not plan.get("containers"):
        return {"image": False, "containers": []}
    cards = ((host_state.get("facts") or {}).get("devices") or {}).get("davinci")
    known = host_state.get("containers") or {}
    out = []
    for env in plan.get("envs") or []:
        item = env["container_spec"]
        rendered = ascend_env_container_argv(container_spec(plan, env, settings), cards)
        have = known.get(item["name"]) or {}
        if not have.get("exists"):
            action, why = "create", ["it does not exist"]
        elif have.get("spec_hash") != rendered["hash"]:
            action, why = "recreate", render.spec_changes(have.get("spec"), rendered["spec"])
        elif not have.get("running"):
            action, why = "start", ["it is stopped"]
        else:
            continue
        out.append({"name": item["name"], "action": action, "why": why, "argv": rendered["argv"],
                    "hash": rendered["hash"], "mounts": [m for m in item["mounts"] if not m.get("read_only")]})
    return {"image": not host_state.get("image_present", False) and bool(out), "containers": out}


def ascend_env_sshd_changes(host_state: dict[str, Any], plan: dict[str, Any], root_password: str = "",
                            known_hosts: str = "~/.ssh/known_hosts") -> list[dict[str, Any]]:
    """The containers whose sshd differs from the host's plan (``ascend_plan.ssh`` and each environment's port), from
    the host's one-call reading: ``[{name, ssh_port, todo, dropin, authorized_keys, hostkey, known_name, read}]``
    (``todo``: parts of
    ``ascend_env.plan.diff.SSHD_PARTS``); a container the reading has no sshd state for is read again by the role."""
    _need()
    import hashlib
    import os

    from ascend_env.plan.diff import SshdWant, sshd_todo

    ssh = plan["ssh"]
    if plan.get("envs") and not ssh.get("authorized_keys") and not ssh["password_login"]:
        raise AnsibleFilterError(f"{plan['name']}: ascend_ssh_authorized_keys is empty and password login is off, so "
                                 "nobody could log in to the containers. Fix: set ascend_ssh_authorized_keys: "
                                 '["<the contents of the controller\'s ~/.ssh/id_ed25519.pub>"] (the lab sets its own '
                                 "key)")
    keys = "\n".join(str(k) for k in ssh.get("authorized_keys") or []) + "\n"
    path = os.path.expanduser(str(known_hosts).strip())
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            known_lines = f.read().splitlines()
    except OSError:
        known_lines = []
    out = []
    for env in plan.get("envs") or []:
        name, port = str(env["container"]), int(env["ssh_port"])
        try:
            dropin = render.render_sshd_config(render.SshdSpec.from_dict({
                "port": port, "listen_addresses": [ssh["listen_address"]], "password_login": ssh["password_login"],
                "permit_root_login": "yes" if ssh["password_login"] else "prohibit-password",
                "allow_insecure": ssh["password_login"], "extra_options": ssh.get("extra_options") or {}}))
        except render.RenderError as exc:
            raise AnsibleFilterError(f"sshd: {exc}") from None
        root_hash = "*"
        if ssh["password_login"]:
            from passlib.hash import sha512_crypt

            salt = hashlib.sha256(f"{plan['name']}/{name}".encode()).hexdigest()[:16]
            root_hash = sha512_crypt.using(salt=salt, rounds=5000).hash(str(root_password))
        known_name = f"[{ssh['listen_address']}]:{port}"
        read = ((host_state.get("containers") or {}).get(name) or {}).get("sshd")
        want = SshdWant(dropin, keys, root_hash, bool(ssh["password_login"]), known_name, known_lines)
        todo = sshd_todo(read, want)
        if todo:
            out.append({"name": name, "ssh_port": port, "todo": todo, "dropin": dropin, "authorized_keys": keys,
                        "hostkey": str((read or {}).get("hostkey_pub") or ""), "known_name": known_name,
                        "read": read is not None})
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
                "ascend_env_user_mounts": ascend_env_user_mounts,
                "ascend_env_sshd_changes": ascend_env_sshd_changes,
                "ascend_env_container_changes": ascend_env_container_changes,
                "ascend_env_host_check": ascend_env_host_check}
