"""``plan(hostvars) -> FleetPlan``: the inventory contract computed once, for the whole fleet.

The preflight's checks (:func:`ascend_env.preflight.check_fleet`: one line per problem, naming host, container,
value and fix) decide which hosts can be planned; every distinct stack request is resolved once for the fleet (a
2,000-host inventory with two container kinds resolves two stacks); each host's :class:`HostPlan` then holds
everything the roles, the doctor, the rank table and the testinfra suite need to know about it and its
environments.  Pure apart from what the preflight reads of the store (``manifest.json`` and checksums).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..conda import python_env
from ..matrix import Matrix
from ..preflight import Problem
from ..resolver import Conflict, Request, Stack, layout_for, resolve
from . import settings as S
from .model import (
    Connection,
    ContainerPlan,
    EnvPaths,
    EnvPlan,
    FleetPlan,
    HostPlan,
    Mount,
    PythonEnvPlan,
    RankTablePlan,
    SshPlan,
)

__all__ = ["MatrixFor", "Resolver", "address_problems", "enabled_containers", "overrides_of", "plan",
           "stack_request"]

Resolver = Callable[[Matrix, Request], "Stack | Conflict"]


def _bool(value: Any, default: bool) -> bool:
    """An inventory boolean as Ansible's ``| bool`` reads it (the preflight has refused anything else)."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "y", "1")
    return bool(value)


def enabled_containers(hostvars: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The host's ``ascend_containers`` entries site.yml builds (``enabled`` missing or true), in inventory order."""
    containers = hostvars.get("ascend_containers") or []
    if not isinstance(containers, (list, tuple)):
        return []
    return [c for c in containers if isinstance(c, Mapping) and c.get("name") and _bool(c.get("enabled", True), True)]


def stack_request(hostvars: Mapping[str, Any], container: Mapping[str, Any]) -> Request:
    """The resolver request for one container: the host's chip and arch, the container's framework, the host's pins
    overlaid by the container's."""
    pins = dict(hostvars.get("ascend_host_pins") or {})
    pins.update(container.get("pins") or {})
    return Request(chip=_str(hostvars.get("ascend_chip")), arch=_str(hostvars.get("ascend_arch")),
                   framework=_str(container.get("framework")),
                   pins={str(k): str(v) for k, v in pins.items() if v not in (None, "")})


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


class _Resolutions:
    """Each distinct request resolved once for the fleet (and once for the preflight's checks and the plan)."""

    def __init__(self, matrix: Matrix, resolver: Resolver):
        self.matrix, self.resolver = matrix, resolver
        self.done: dict[tuple[Any, ...], Stack | Conflict] = {}

    def __call__(self, m: Matrix, request: Request) -> Stack | Conflict:
        key = (request.chip, request.arch, request.framework, tuple(sorted(request.pins.items())))
        if key not in self.done:
            self.done[key] = self.resolver(m, request)
        return self.done[key]


def _root(hv: Mapping[str, Any]) -> str:
    return str(hv.get("ascend_host_root") or "/").rstrip("/")


def _connection(name: str, hv: Mapping[str, Any]) -> Connection:
    return Connection(address=str(hv.get("ansible_host") or name), port=int(hv.get("ansible_port") or 22),
                      user=str(hv.get("ansible_user") or "root"),
                      key_file=_str(hv.get("ansible_ssh_private_key_file")),
                      ssh_common_args=str(hv.get("ansible_ssh_common_args") or ""),
                      python=_str(hv.get("ansible_python_interpreter")))


def _store_dir(hv: Mapping[str, Any], root: str) -> tuple[str, bool]:
    shared = str(hv.get("ascend_artifacts_shared_path") or "")
    return (shared, True) if shared else (root + S.STORE_HOST_DIR, False)


def _python(hv: Mapping[str, Any], c: Mapping[str, Any], stack: Mapping[str, Any], root: str) -> PythonEnvPlan:
    provider = str(c.get("python_provider") or hv.get("ascend_python_provider") or "venv")
    venv = root + S.DEFAULT_VENV if root else str(hv.get("ascend_python_venv") or S.DEFAULT_VENV)
    prefix = root + str(hv.get("ascend_python_conda_prefix") or hv.get("ascend_conda_prefix") or S.DEFAULT_CONDA_PREFIX)
    env = python_env({"provider": provider, "venv": venv, "conda_prefix": prefix,
                      "env_name": hv.get("ascend_python_env_name"), "stack": stack})
    system = str(hv.get("ascend_python_system_python") or S.ENV_PYTHON)
    if provider != "conda":
        return PythonEnvPlan(**env, system=system)
    tool_venv = str(hv.get("ascend_python_conda_tool_venv") or S.DEFAULT_TOOL_VENV)
    return PythonEnvPlan(**env, system=system, env_name=_str(hv.get("ascend_python_env_name")),
                         conda_installer=str(hv.get("ascend_conda_installer") or "rattler"),
                         conda_channels=tuple(str(x) for x in hv.get("ascend_conda_channels") or ()),
                         conda_tool_venv=root + tool_venv if root else tool_venv,
                         conda_channel_timeout=int(hv.get("ascend_python_conda_channel_timeout")
                                                   or S.CONDA_CHANNEL_TIMEOUT))


def _paths(hv: Mapping[str, Any], root: str, on_host: bool, store_dir: str, python: PythonEnvPlan,
           set_env: str | None) -> EnvPaths:
    """``set_env``: CANN's set_env.sh relative to the install path (the matrix's layout), None without one."""
    if not on_host:
        return EnvPaths(venv=python.path if python.provider == "venv" else S.DEFAULT_VENV, pip_conf=S.PIP_CONF,
                        ca_dir=S.CA_DIR, store=_store_mount(hv), cann_install_path=S.DEFAULT_ASCEND_ROOT,
                        cann_record=S.CANN_RECORD,
                        cann_set_env=f"{S.DEFAULT_ASCEND_ROOT}/{set_env}" if set_env else "",
                        bashrc="/root/.bashrc", profile=S.PROFILE, runner=S.RUNNER,
                        system_bashrcs=S.SYSTEM_BASHRCS, driver_root=S.DEFAULT_DRIVER_DIR,
                        npu_smi_dir=str(Path(S.DEFAULT_NPU_SMI).parent), smoke_lib_dir=S.SMOKE_LIB_DIR,
                        smoke_report=S.SMOKE_REPORT, pip_constraints=f"{Path(S.PIP_CONF).parent}/{S.PIP_CONSTRAINTS}",
                        framework_record=f"{python.path}/{S.FRAMEWORK_RECORD}")
    venv = root + S.DEFAULT_VENV
    npu_smi = str(hv.get("ascend_npu_smi_path") or S.DEFAULT_NPU_SMI)
    return EnvPaths(venv=venv, pip_conf=venv + "/pip.conf", ca_dir=root + S.CA_DIR, store=store_dir,
                    cann_install_path=root + S.DEFAULT_ASCEND_ROOT, cann_record=root + S.CANN_RECORD,
                    cann_set_env=f"{root}{S.DEFAULT_ASCEND_ROOT}/{set_env}" if set_env else "",
                    bashrc=root + "/root/.bashrc", profile=root + S.PROFILE, runner=root + S.RUNNER,
                    system_bashrcs=tuple(root + f for f in S.SYSTEM_BASHRCS), driver_root=root + S.DEFAULT_DRIVER_DIR,
                    npu_smi_dir=root + str(Path(npu_smi).parent), smoke_lib_dir=root + S.SMOKE_LIB_DIR,
                    smoke_report=root + S.SMOKE_REPORT, pip_constraints=f"{venv}/{S.PIP_CONSTRAINTS}",
                    framework_record=f"{python.path}/{S.FRAMEWORK_RECORD}")


def _store_mount(hv: Mapping[str, Any]) -> str:
    """Where a container sees the host's store copy (``ascend_container_store_mount``)."""
    return str(hv.get("ascend_container_store_mount") or S.STORE_MOUNT)


def _mounts(c: Mapping[str, Any], root: str, store_dir: str, store_mount: str) -> tuple[Mount, ...]:
    from ..render import Mount as RenderMount

    own = []
    for value in c.get("mounts") or []:
        m = RenderMount.coerce(value)
        own.append(Mount(host=root + m.host if root else m.host, container=m.container, read_only=m.read_only))
    return (Mount(host=store_dir, container=store_mount, read_only=True), *own)


def _ranktable(hv: Mapping[str, Any], name: str, root: str | None) -> RankTablePlan:
    enabled = _bool(hv.get("ascend_ranktable_enabled"), False)
    path = str(hv.get("ascend_ranktable_path") or S.RANKTABLE_PATH)
    return RankTablePlan(enabled=enabled, path=(root or "") + path,
                         server_id=str(hv.get("ansible_host") or name),
                         collective=_bool(hv.get("ascend_ranktable_collective"), True),
                         collective_port=int(hv.get("ascend_ranktable_collective_port") or S.RANKTABLE_PORT),
                         devices=str(hv.get("ascend_ranktable_devices") or ""),
                         format=str(hv.get("ascend_ranktable_format") or "auto"))


def _set_env(m: Matrix | None, stack: Stack) -> str | None:
    """CANN's set_env.sh for the stack's CANN, relative to the install path (the matrix's toolkit layout)."""
    cann = stack.version("cann")
    layout = layout_for(m, cann) if m is not None and cann is not None else None
    return layout["set_env"] if layout else None


def _env(name: str, hv: Mapping[str, Any], c: Mapping[str, Any], stack: Stack, containers: bool,
         store_dir: str, offline: bool, m: Matrix | None = None) -> EnvPlan:
    root = _root(hv)
    on_host = not containers
    stack_dict = stack.to_dict()
    python = _python(hv, c, stack_dict, root if on_host else "")
    host_conn = _connection(name, hv)
    if on_host:
        conn = host_conn
        port = host_conn.port
    else:
        port = int(c.get("ssh_port") or hv.get("ascend_ssh_port_default") or S.SSH_PORT)
        conn = Connection(address=str(hv.get("ascend_ssh_listen_address") or host_conn.address), port=port,
                          user="root", key_file=host_conn.key_file, ssh_common_args=host_conn.ssh_common_args,
                          python=S.ENV_PYTHON)
    cann = stack.version("cann")
    framework = str(stack.framework or c.get("framework") or "")
    spec = None if on_host else ContainerPlan(
        name=str(c["name"]), image=str(c.get("image") or hv.get("ascend_container_image") or S.IMAGE),
        devices=_devices(c.get("devices", "all")), mounts=_mounts(c, root, store_dir, _store_mount(hv)),
        framework=framework,
        cann=str(cann or ""))
    return EnvPlan(
        name=f"{name}-{c['name']}", host=name, container=str(c["name"]), on_host=on_host,
        root=(root or "/") if on_host else "/", connection=conn,
        chip=str(stack.chip.id if stack.chip else hv.get("ascend_chip")),
        arch=str(stack.arch or hv.get("ascend_arch")), framework=framework, stack=stack_dict,
        nnal=_bool(c.get("nnal"), False), python=python,
        paths=_paths(hv, root, on_host, store_dir, python, _set_env(m, stack)),
        offline=offline, offline_store=_str(hv.get("ascend_offline_store")),
        ranktable=_ranktable(hv, name, root if on_host else None), container_spec=spec, ssh_port=port)


def _devices(value: Any) -> str | tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return str(value)


def _host(name: str, hv: Mapping[str, Any], stacks: Sequence[tuple[Mapping[str, Any], Stack]],
          m: Matrix | None = None) -> HostPlan:
    root = _root(hv)
    containers = _bool(hv.get("ascend_container_enabled"), True)
    store_dir, shared = _store_dir(hv, root)
    offline = _bool(hv.get("ascend_offline", bool(hv.get("ascend_offline_store"))), False)
    runtime = str(hv.get("ascend_container_runtime") or "docker")
    chosen = stacks if containers else stacks[:1]
    envs = tuple(_env(name, hv, c, st, containers, store_dir, offline, m) for c, st in chosen)
    runs: list[str] = []
    for env, (_, st) in zip(envs, chosen, strict=True):
        for part, file in st.installers.items():
            if (part in ("toolkit", "kernels") or (part == "nnal" and env.nnal)) and file not in runs:
                runs.append(file)
    docker_host = str(hv.get("ascend_docker_host") or "")
    conn = _connection(name, hv)
    return HostPlan(
        name=name, connection=conn, chip=str(hv.get("ascend_chip")), arch=str(hv.get("ascend_arch")), root=root,
        containers=containers, runtime=runtime,  # type: ignore[arg-type]  # the preflight allows docker/isula only
        cli=str(hv.get("ascend_container_cli") or runtime),
        engine_env={"DOCKER_HOST": docker_host} if docker_host else {},
        npu_smi=str(hv.get("ascend_npu_smi_path") or S.DEFAULT_NPU_SMI),
        pins={str(k): str(v) for k, v in (hv.get("ascend_host_pins") or {}).items() if v not in (None, "")},
        driver_manage=_bool(hv.get("ascend_driver_manage"), False),
        npu_count=_int_or_none(hv.get("ascend_npu_count")), offline=offline,
        offline_store=_str(hv.get("ascend_offline_store")), store_dir=store_dir, shared_store=shared,
        image=str(hv.get("ascend_container_image") or S.IMAGE),
        image_tar=str(hv.get("ascend_container_image_tar") or S.IMAGE_TAR), runs=tuple(runs),
        frameworks=tuple(sorted({e.framework for e in envs if e.framework})),
        conda=any(e.python.provider == "conda" for e in envs),
        ssh=SshPlan(listen_address=str(hv.get("ascend_ssh_listen_address") or conn.address),
                    authorized_keys=tuple(str(k) for k in hv.get("ascend_ssh_authorized_keys") or ()),
                    password_login=_bool(hv.get("ascend_ssh_password_login"), False),
                    extra_options=dict(hv.get("ascend_ssh_extra_options") or {})),
        ranktable=_ranktable(hv, name, None), envs=envs)


def _int_or_none(value: Any) -> int | None:
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


MatrixFor = Callable[[tuple[str, ...]], Matrix]


def overrides_of(hostvars: Mapping[str, Any]) -> tuple[str, ...]:
    """The host's ``ascend_matrix_overrides`` (site-local matrix rows) as a key."""
    return tuple(str(p) for p in hostvars.get("ascend_matrix_overrides") or ())


def address_problems(hosts: Iterable[HostPlan]) -> list[Problem]:
    """What no single host shows: two inventory hosts that reach one machine (the same address and SSH port: their
    containers would share one engine, so two containers of one name, and every sshd port twice), and two
    environments of different hosts at the same address and port (the same sshd port on one machine).  Within one
    host the preflight's own checks name a clash (ssh_port)."""
    problems: list[Problem] = []
    machines: dict[tuple[str, int], str] = {}
    endpoints: dict[tuple[str, int], tuple[str, str]] = {}   # (address, port) -> (host, environment)
    for h in hosts:
        address, port = h.connection.address.lower(), h.connection.port
        other = machines.setdefault((address, port), h.name)
        if other != h.name:
            problems.append(Problem(h.name, None, "ansible_host", address,
                                    f"host {other} has the same address and SSH port ({address}:{port}): both "
                                    "names reach one machine, so their containers would share one engine (two "
                                    "containers of one name) and every sshd port would be taken twice",
                                    f"list each server once: remove {h.name} or {other}, or fix its ansible_host / "
                                    "ansible_port"))
            continue
        for env in h.envs:
            key = (env.connection.address.lower(), env.connection.port)
            first_host, first = endpoints.setdefault(key, (h.name, env.name))
            if first_host != h.name:
                problems.append(Problem(h.name, None if env.on_host else env.container,
                                        "ansible_port" if env.on_host else "ssh_port", env.connection.port,
                                        f"{first} already listens on {env.connection.address}:{env.connection.port}; "
                                        f"{env.name} would take the same address and port, so one of them is "
                                        "unreachable",
                                        "give one of them another port (ssh_port of the container, or the host's "
                                        "ansible_port), or check that the two hosts' ansible_host differ"))
    return problems


#: Problems no plan goes on past, even a lenient one: how the host is reached and what reaches its shell.
_UNSAFE_FIELDS = frozenset({"ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file",
                            "ascend_host_root", "ascend_artifacts_host_dir", "ascend_container_cli",
                            "ascend_container_runtime", "ascend_containers", "name"})


def _goes_on(problems: Sequence[Problem], hv: Mapping[str, Any], lenient: bool) -> bool:
    """Whether a host with these problems is planned anyway: ascend_ignore_preflight_errors, or a lenient reader of
    the fleet (the doctor) when none of them is about how the host is reached."""
    if _bool(hv.get("ascend_ignore_preflight_errors"), False):
        return True
    return lenient and not any(p.field in _UNSAFE_FIELDS for p in problems)


def plan(hostvars_by_host: Mapping[str, Mapping[str, Any]], matrix: Matrix | MatrixFor, *,
         known: frozenset[str] | None = None, resolver: Resolver = resolve, lenient: bool = False) -> FleetPlan:
    """The fleet's plan.  ``hostvars_by_host``: each NPU host's variables (inventory order), as Ansible or
    ``ansible-inventory --list`` gives them; ``matrix``: the matrix, or a function giving the matrix with a host's
    ``ascend_matrix_overrides``.  A host with a preflight problem is not planned (its problems are in
    :attr:`FleetPlan.problems`) unless it sets ``ascend_ignore_preflight_errors`` (then they are
    :attr:`FleetPlan.ignored` and whatever can be planned is); ``lenient`` treats every host so (a reader of the
    fleet, such as the doctor, needs its hosts and environments, not a store that would pass the preflight).  A
    container whose stack has no resolution is never planned."""
    from ..preflight import check_fleet

    groups: dict[tuple[str, ...], dict[str, Mapping[str, Any]]] = {}
    for name, hv in hostvars_by_host.items():
        groups.setdefault(overrides_of(hv) if callable(matrix) else (), {})[str(name)] = hv
    found: dict[str, list[Problem]] = {}
    resolvers: dict[str, tuple[Matrix, _Resolutions]] = {}
    for key, members in groups.items():
        m = matrix(key) if callable(matrix) else matrix
        resolutions = _Resolutions(m, resolver)
        for p in check_fleet(members, m, known=known, resolver=resolutions):
            found.setdefault(p.host, []).append(p)
        resolvers.update((name, (m, resolutions)) for name in members)
    planned: dict[str, HostPlan] = {}
    unplannable: dict[str, str] = {}
    for name, hv in hostvars_by_host.items():
        name = str(name)
        if name in found and not _goes_on(found[name], hv, lenient):
            continue
        m, resolutions = resolvers[name]
        try:
            results = [(c, resolutions(m, stack_request(hv, c))) for c in enabled_containers(hv)]
            planned[name] = _host(name, hv, [(c, r) for c, r in results if isinstance(r, Stack)], m)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # only with ascend_ignore_preflight_errors: a value the checks refused
            unplannable[name] = (f"{name}: cannot be planned ({exc}); fix the problems above "
                                 "(ascend_ignore_preflight_errors only goes on past what can be planned)")
    for p in address_problems(planned.values()):
        found.setdefault(p.host, []).append(p)
    problems: dict[str, tuple[str, ...]] = {}
    ignored: dict[str, tuple[str, ...]] = {}
    hosts: dict[str, HostPlan] = {}
    for name, hv in hostvars_by_host.items():
        name = str(name)
        lines = tuple(str(p) for p in found.get(name, ()))
        if name in unplannable:
            problems[name] = (*lines, unplannable[name])
            continue
        if lines:
            if not _goes_on(found[name], hv, lenient):
                problems[name] = lines
                continue
            ignored[name] = lines
        hosts[name] = planned[name]
    return FleetPlan(hosts=hosts, problems=problems, ignored=ignored)
