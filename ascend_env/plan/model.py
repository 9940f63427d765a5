"""The fleet plan: what every host and every environment of an inventory should be, typed.

Computed once per run by :func:`ascend_env.plan.plan` on the controller; the preflight hands each host its
:class:`HostPlan` as one fact (``ascend_plan``) and each environment its :class:`EnvPlan` (``ascend_env_plan``),
the roles execute it, and ``doctor --inventory``, ``ranktable`` and the testinfra suite read the same objects:
one enumeration of hosts, environments and paths in the project.

Every model is frozen and dumps to plain JSON data (:meth:`pydantic.BaseModel.model_dump` with ``mode="json"``), the
form Ansible facts take.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Connection", "ContainerPlan", "EnvPaths", "EnvPlan", "FleetPlan", "HostPlan", "Mount", "PythonEnvPlan",
           "RankTablePlan", "SshPlan", "StoreFile"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        """Plain JSON data (what an Ansible fact holds)."""
        return self.model_dump(mode="json")


class Connection(_Model):
    """How Ansible (and the doctor, the rank table's probe, testinfra) reaches a host or an environment over SSH."""

    address: str
    port: int
    user: str
    key_file: str | None = None
    ssh_common_args: str = ""
    #: the Python Ansible runs there (None: Ansible's interpreter discovery)
    python: str | None = None


class Mount(_Model):
    host: str          # on the host, under its filesystem root
    container: str
    read_only: bool = False


class StoreFile(_Model):
    """A file of the controller's store a host needs, as ``manifest.json`` lists it."""

    path: str          # relative to the store: runs/..., wheels/..., images/..., conda/...
    size: int
    sha256: str


class PythonEnvPlan(_Model):
    """The environment's Python (``ascend_env.conda.python_env``): a venv of the image's python3, or a conda
    environment with the stack's Python."""

    provider: Literal["venv", "conda"]
    path: str
    bin: str
    name: str | None = None
    prefix: str | None = None
    python: str                     # X.Y, the stack's
    #: the image's own python3 by path (the venv's base, the rattler tool venv's; ascend_python_system_python)
    system: str = "/usr/bin/python3"
    # conda only: the site's settings as the ascend_python role takes them (env_name: the inventory's
    # ascend_python_env_name, None when the name follows the stack)
    env_name: str | None = None
    conda_installer: str | None = None
    conda_channels: tuple[str, ...] = ()
    conda_tool_venv: str | None = None
    conda_channel_timeout: int | None = None


class EnvPaths(_Model):
    """Where the environment's roles write (a container's own paths; a host provisioned itself: under its root)."""

    venv: str
    pip_conf: str
    ca_dir: str
    store: str                 # the store copy as the environment sees it
    cann_install_path: str
    cann_record: str
    #: CANN's set_env.sh for the stack's CANN, from the matrix's toolkit layout (ascend-toolkit/ before 8.5, cann/
    #: from 8.5); '' when the stack has no CANN or the matrix no layout for it
    cann_set_env: str = ""
    bashrc: str
    profile: str               # the profile file every process's shell reads (/etc/profile.d/ascend-env.sh)
    runner: str                # ascend-run, for cron, systemd units and kernels
    system_bashrcs: tuple[str, ...]   # the system-wide bashrc files whose top gets the hook (where they exist)
    driver_root: str
    npu_smi_dir: str
    smoke_lib_dir: str
    smoke_report: str
    #: CANN's pip constraints, next to pip.conf (which names it): every pip install in the environment honours them
    pip_constraints: str = ""
    #: the record of the last framework check that passed, in the environment's folder
    framework_record: str = ""


class ContainerPlan(_Model):
    """What goes into the container's ``docker run`` / ``isula run`` from the inventory (the role renders the argv,
    resolving ``devices: all`` against the cards the host shows)."""

    name: str
    image: str
    devices: str | tuple[int, ...]
    mounts: tuple[Mount, ...]       # the store copy (read-only) first, then the container's own
    framework: str
    cann: str                       # the stack's CANN (the container's environment variables follow its layout)


class RankTablePlan(_Model):
    enabled: bool = False
    path: str = ""                  # inside the environment (host mode: under the host's root)
    server_id: str = ""
    collective: bool = True
    collective_port: int = 29500
    devices: str = ""
    format: str = "auto"


class SshPlan(_Model):
    """The containers' sshd (host-level settings; the port is each environment's)."""

    listen_address: str
    authorized_keys: tuple[str, ...] = ()
    password_login: bool = False
    extra_options: dict[str, Any] = {}


class EnvPlan(_Model):
    """One environment site.yml builds: a container, or the host itself (``ascend_container_enabled: false``)."""

    name: str                       # <host>-<container>: its inventory name in the group ascend_envs
    host: str
    container: str
    on_host: bool
    root: str                       # the filesystem the environment's paths are in ('/'; host mode: the host's root)
    connection: Connection
    chip: str
    arch: str
    framework: str
    stack: dict[str, Any]           # the resolver's stack (``Stack.to_dict()``)
    nnal: bool
    python: PythonEnvPlan
    paths: EnvPaths
    offline: bool
    offline_store: str | None       # the controller's store
    ranktable: RankTablePlan
    container_spec: ContainerPlan | None   # None in host mode
    ssh_port: int                   # container mode: its sshd's port; host mode: the host's SSH port

    def version(self, component: str) -> str | None:
        comp = (self.stack.get("components") or {}).get(component) or {}
        v = comp.get("version")
        return str(v) if v else None


class HostPlan(_Model):
    """One NPU host: how it is reached, what it is, where its store copy lives, and its environments."""

    name: str
    connection: Connection
    chip: str
    arch: str
    root: str                        # the host's filesystem root, '' for / (the lab: the simulated host's view)
    containers: bool                 # false: the host is its own (single) environment
    runtime: Literal["docker", "isula"]
    cli: str                         # the engine's command (ascend_container_cli)
    engine_env: dict[str, str]       # {DOCKER_HOST: ...} when the host names an engine socket
    npu_smi: str                     # npu-smi on the host (not under root)
    pins: dict[str, str]             # the host's pins (driver, firmware, ...)
    driver_manage: bool
    npu_count: int | None
    offline: bool
    offline_store: str | None        # the controller's store
    store_dir: str                   # the host's copy of the store (or the shared store's mount)
    shared_store: bool
    image: str
    image_tar: str
    runs: tuple[str, ...]            # the CANN installers the environments need (runs/<file>)
    frameworks: tuple[str, ...]      # the frameworks of its environments (their wheels travel)
    conda: bool                      # an environment is a conda environment (the store's conda/ travels)
    ssh: SshPlan
    ranktable: RankTablePlan
    envs: tuple[EnvPlan, ...]


class FleetPlan(_Model):
    """Every host of the run, in inventory order, and per host the preflight's problems (one line each): a host with
    problems is not planned, unless it sets ``ascend_ignore_preflight_errors`` (then its problems are ``ignored``)."""

    hosts: dict[str, HostPlan]
    problems: dict[str, tuple[str, ...]] = {}
    ignored: dict[str, tuple[str, ...]] = {}

    def problem_lines(self) -> list[str]:
        return [line for lines in self.problems.values() for line in lines]

    def envs(self) -> Iterator[EnvPlan]:
        for host in self.hosts.values():
            yield from host.envs

    def env(self, name: str) -> EnvPlan:
        for e in self.envs():
            if e.name == name:
                return e
        raise KeyError(name)
