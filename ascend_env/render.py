"""Renderers: the container run argv (docker / isula), the sshd drop-in and the shell environment block.

Each renderer is a frozen, validated spec dataclass and a ``render_*`` function.  The container argv is built as a
list in Python (:func:`render_container_argv`); the sshd drop-in and the environment files come from a
``*_context(spec)`` function that pre-computes every template variable and one of the top-level ``templates/``
(the Ansible roles render the same templates with the same variables, so the templates use builtin Jinja2 filters
only).

Pure functions: no subprocess and no I/O except reading the templates. Device detection (scanning ``/dev``) is the
caller's job; :func:`parse_device_selection` takes the detected card list as an argument.

Every invalid value raises :class:`RenderError`, whose message names the value and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from .errors import AscendEnvError
from .sshd_options import SshdOptionError
from .sshd_options import check_option as check_sshd_option

__all__ = [
    "CONTAINER_DCMI_DIR",
    "CONTAINER_DEVICE_DIR",
    "CONTAINER_DRIVER_DIR",
    "CONTAINER_INSTALL_INFO",
    "CONTAINER_NPU_SMI",
    "DEFAULT_COMMAND",
    "DEFAULT_EXEC_PATH",
    "DEFAULT_PROFILE",
    "DEFAULT_RUNNER",
    "MANAGER_DEVICES",
    "RUNTIMES",
    "SPEC_HASH_LABEL",
    "SPEC_LABEL",
    "ContainerSpec",
    "EnvSpec",
    "Mount",
    "PortMapping",
    "RenderError",
    "SshdSpec",
    "env_context",
    "exec_env",
    "format_device_list",
    "parse_device_selection",
    "render_container_argv",
    "render_env_block",
    "render_env_hook",
    "render_env_profile",
    "render_env_runner",
    "render_sshd_config",
    "spec_changes",
    "spec_hash",
    "sshd_context",
    "template_dir",
    "with_spec_hash_label",
    "with_spec_labels",
]


class RenderError(AscendEnvError, ValueError):
    """A spec value that cannot be rendered. The message names the bad value and says how to fix it."""


# ---------------------------------------------------------------------------------------------------------------
# constants

RUNTIMES = ("docker", "isula")
# manager devices every NPU container needs (Ascend/ascend-docker-runtime: runtime/main.go); hisi_hdc is absent on
# Atlas 200/200I SoC boards, hence one switch per device
MANAGER_DEVICES = ("davinci_manager", "devmm_svm", "hisi_hdc")
DEFAULT_COMMAND = ("sleep", "infinity")
# the label the Ansible role stores spec_hash() in; spec_hash() ignores it, so adding it does not change the hash
SPEC_HASH_LABEL = "io.ascend-env.spec-hash"
#: The label that holds the spec a container was made from (JSON), so a later run can say which fields changed.
SPEC_LABEL = "io.ascend-env.spec"

# container-side paths are always the real ones, whatever the host side is (the simulated lab fakes the host side)
CONTAINER_DEVICE_DIR = "/dev"
CONTAINER_DRIVER_DIR = "/usr/local/Ascend/driver"
CONTAINER_DCMI_DIR = "/usr/local/dcmi"
CONTAINER_NPU_SMI = "/usr/local/bin/npu-smi"
CONTAINER_INSTALL_INFO = "/etc/ascend_install.info"

DEFAULT_ASCEND_ROOT = "/usr/local/Ascend"
DEFAULT_DCMI_DIR = "/usr/local/dcmi"
DEFAULT_NPU_SMI = "/usr/local/bin/npu-smi"
DEFAULT_INSTALL_INFO = "/etc/ascend_install.info"
DEFAULT_DRIVER_DIR = "/usr/local/Ascend/driver"

MAX_CARD_INDEX = 1023

_RESTART_POLICIES = {
    # docker/cli: docs/reference/commandline/container_run.md; openeuler-mirror/iSulad: src/cmd/isula/base/create.h
    "docker": ("no", "always", "unless-stopped", "on-failure"),
    "isula": ("no", "always", "on-reboot", "on-failure"),
}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
_NETWORK_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_SHM_RE = re.compile(r"^([1-9][0-9]*)([kmgt])b?$", re.IGNORECASE)
_DEVICE_ITEM_RE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")
_SSHD_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_CONDA_ENV_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")


# ---------------------------------------------------------------------------------------------------------------
# small validators


def _text(value: object, what: str, *, allow_newline: bool = False, allow_empty: bool = False) -> str:
    """A string without NUL (impossible in argv), without newlines unless allowed, and inside the Basic Multilingual
    Plane (the argv used to travel as YAML, whose loaders do not rejoin the surrogate pairs of astral characters; the
    limit stays so that every spec accepted before is accepted now, and no other)."""
    if not isinstance(value, str):
        raise RenderError(f"{what} must be a string, got {value!r} ({type(value).__name__})")
    if not value and not allow_empty:
        raise RenderError(f"{what} is empty; give a value")
    if "\x00" in value:
        raise RenderError(f"{what} {value!r} contains a NUL character; remove it")
    if not allow_newline and ("\n" in value or "\r" in value):
        raise RenderError(f"{what} {value!r} contains a line break; put it on one line")
    astral = next((c for c in value if ord(c) > 0xFFFF), None)
    if astral is not None:
        raise RenderError(f"{what} {value!r} contains the character U+{ord(astral):X} outside the Basic Multilingual "
                          "Plane, which the argv transport cannot carry; remove it")
    return value


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise RenderError(f"{what} must be true or false, got {value!r}")
    return value


def _int(value: object, what: str, lo: int, hi: int, *, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RenderError(f"{what} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise RenderError(f"{what} {value} is out of range; use {lo}-{hi}{hint}")
    return value


def _abs_path(value: object, what: str, *, no_colon: bool = False) -> str:
    path = _text(value, what)
    if not path.startswith("/"):
        raise RenderError(f"{what} {path!r} is not an absolute path; "
                          f"write it from the root, e.g. '/{path.lstrip('./')}'")
    if no_colon and ":" in path:
        raise RenderError(f"{what} {path!r} contains ':', the separator of the -v/--device syntax; rename or "
                          "symlink the path")
    return path


def _join(base: str, *parts: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", *parts)


def _str_mapping(value: object, what: str, key_re: re.Pattern[str], key_hint: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RenderError(f"{what} must be a mapping of names to values, got {value!r}")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not key_re.match(key):
            raise RenderError(f"{what} name {key!r} is invalid; {key_hint}")
        if isinstance(raw, bool) or raw is None:
            raise RenderError(f"{what} {key}={raw!r}: give the value as a string (quote it in YAML, e.g. '\"true\"')")
        if isinstance(raw, (int, float)):
            raw = str(raw)
        out[key] = _text(raw, f"{what} {key}", allow_empty=True)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------------------------
# device selection


def format_device_list(cards: Iterable[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``'0-3,7'`` (the ASCEND_VISIBLE_DEVICES / ``--devices`` syntax)."""
    items = sorted(set(cards))
    parts: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        parts.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(parts)


def parse_device_selection(text: str, available: Sequence[int] | None) -> list[int]:
    """Resolve a card selection (``'0-3,7'``, ``'5'``, ``'all'``) against the host's detected cards.

    ``available`` is the host's card list (``/dev/davinci<N>`` numbers) or None when unknown: then every card number
    is accepted and ``'all'`` is an error. Returns the sorted, de-duplicated card numbers. Raises :class:`RenderError`
    for bad syntax, a reversed range, an empty selection and a card the host lacks (naming it and what the host has).
    """
    if not isinstance(text, str):
        raise RenderError(f"device selection must be a string like '0-3,7' or 'all', got {text!r}")
    host = sorted(set(available)) if available is not None else None
    has = f"it has {format_device_list(host)}" if host else "no NPU cards were detected on it"
    spec = text.strip()
    if not spec:
        raise RenderError("the device selection is empty; give card numbers like '0-3,7' or 'all'")
    if spec.lower() == "all":
        if host is None:
            raise RenderError("device selection 'all' needs the host's card list; pass the detected cards "
                              "(e.g. --detected 0-7) or name the cards (e.g. '0-3')")
        if not host:
            raise RenderError("device selection 'all' selects nothing: no NPU cards were detected on this host; "
                              "check the driver (npu-smi info) and the device dir")
        return host
    chosen: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise RenderError(f"device selection {text!r} has an empty item; write it like '0-3,7' "
                              "(no doubled or trailing commas)")
        match = _DEVICE_ITEM_RE.match(item)
        if not match:
            raise RenderError(f"bad device selection item {item!r} in {text!r}; use card numbers and ranges "
                              "like '0-3,7', or 'all'")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise RenderError(f"reversed range {item!r} in device selection {text!r}; write it low-high: '{hi}-{lo}'")
        if hi > MAX_CARD_INDEX:
            raise RenderError(f"card number {hi} in device selection {text!r} is implausible; "
                              f"cards are numbered 0-{MAX_CARD_INDEX} at most")
        twice = chosen.intersection(range(lo, hi + 1))
        if twice:
            raise RenderError(f"device selection {text!r} selects card{'s' if len(twice) > 1 else ''} "
                              f"{format_device_list(twice)} twice; name each card once, e.g. "
                              f"'{format_device_list(chosen | set(range(lo, hi + 1)))}'")
        chosen.update(range(lo, hi + 1))
    if host is not None:
        missing = sorted(chosen - set(host))
        if missing:
            pick = f"pick from {format_device_list(host)} or use 'all'" if host else \
                "check the driver (npu-smi info) and the device dir"
            if len(missing) == 1:
                raise RenderError(f"device {missing[0]} is not on this host ({has}); {pick}")
            raise RenderError(f"devices {format_device_list(missing)} are not on this host ({has}); {pick}")
    return sorted(chosen)


def _device_tuple(value: object, available: Sequence[int] | None = None) -> tuple[int, ...]:
    if isinstance(value, str):
        return tuple(parse_device_selection(value, available))
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        cards = list(value)
        for card in cards:
            _int(card, "device", 0, MAX_CARD_INDEX)
        if not cards:
            raise RenderError("devices is empty; select cards like '0-3' or 'all'")
        twice = sorted({c for c in cards if cards.count(c) > 1})
        if twice:
            raise RenderError(f"devices {cards} lists card{'s' if len(twice) > 1 else ''} "
                              f"{format_device_list(twice)} twice; name each card once")
        if available is not None:
            parse_device_selection(format_device_list(cards), available)  # same host check and message
        return tuple(sorted(set(cards)))
    raise RenderError(f"devices must be a selection like '0-3,7' / 'all' or a list of card numbers, got {value!r}")


# ---------------------------------------------------------------------------------------------------------------
# container


@dataclass(frozen=True)
class PortMapping:
    """One published port: ``[host_ip:]host_port:container_port[/protocol]``."""

    host_port: int
    container_port: int
    host_ip: str | None = None
    protocol: str = "tcp"

    def __post_init__(self) -> None:
        _int(self.host_port, "host port", 1, 65535)
        _int(self.container_port, "container port", 1, 65535)
        if self.host_ip is not None:
            host_ip = _text(self.host_ip, "port host IP")  # outside the try: RenderError is a ValueError
            try:
                ipaddress.ip_address(host_ip)
            except ValueError:
                raise RenderError(f"port host IP {self.host_ip!r} is not an IP address; use e.g. 127.0.0.1 "
                                  "or leave it out to bind all addresses") from None
        if self.protocol not in ("tcp", "udp", "sctp"):
            raise RenderError(f"port protocol {self.protocol!r} is not tcp, udp or sctp")

    @classmethod
    def parse(cls, text: str) -> PortMapping:
        """``8080:80``, ``127.0.0.1:2222:223``, ``[::1]:2222:223``, ``6006:6006/udp``."""
        raw = _text(text, "port")
        body, _, proto = raw.partition("/")
        host_ip: str | None = None
        if body.startswith("["):
            addr, sep, rest = body[1:].partition("]:")
            if not sep:
                raise RenderError(f"port {raw!r}: write an IPv6 host address as [ADDR]:HOST:CONTAINER")
            host_ip, parts = addr, rest.split(":")
        else:
            parts = body.split(":")
            if len(parts) == 3:
                host_ip, parts = parts[0], parts[1:]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise RenderError(f"port {raw!r} is not [HOST_IP:]HOST_PORT:CONTAINER_PORT, e.g. 127.0.0.1:2222:223")
        return cls(host_port=int(parts[0]), container_port=int(parts[1]), host_ip=host_ip or None,
                   protocol=proto or "tcp")

    @classmethod
    def coerce(cls, value: object) -> PortMapping:
        return _coerce(cls, value, "port", "HOST_IP:HOST:CONTAINER", "host_port and container_port")

    def to_arg(self) -> str:
        ip = ""
        if self.host_ip:
            ip = f"[{self.host_ip}]:" if ":" in self.host_ip else f"{self.host_ip}:"
        proto = "" if self.protocol == "tcp" else f"/{self.protocol}"
        return f"{ip}{self.host_port}:{self.container_port}{proto}"


_Field = TypeVar("_Field", "PortMapping", "Mount")


def _coerce(cls: type[_Field], value: object, what: str, spelling: str, required: str) -> _Field:
    """A PortMapping/Mount from itself, its string spelling or a mapping of its fields."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        return cls.parse(value)
    if isinstance(value, Mapping):
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = set(value) - set(names)
        if unknown:
            raise RenderError(f"{what} {dict(value)!r} has unknown keys {sorted(unknown)}; use {', '.join(names)}")
        try:
            return cls(**value)
        except TypeError:
            raise RenderError(f"{what} {dict(value)!r} needs {required}") from None
    raise RenderError(f"{what} {value!r} must be '{spelling}' or a mapping")


@dataclass(frozen=True)
class Mount:
    """A bind mount ``host:container[:ro]``; both paths absolute."""

    host: str
    container: str
    read_only: bool = False

    def __post_init__(self) -> None:
        _abs_path(self.host, "mount host path", no_colon=True)
        _abs_path(self.container, "mount container path", no_colon=True)
        _bool(self.read_only, "mount read_only")

    @classmethod
    def parse(cls, text: str) -> Mount:
        """``/data:/data``, ``/models:/models:ro`` (``:rw`` accepted)."""
        raw = _text(text, "mount")
        parts = raw.split(":")
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        if len(parts) == 3 and parts[2] in ("ro", "rw"):
            return cls(parts[0], parts[1], parts[2] == "ro")
        raise RenderError(f"mount {raw!r} is not HOST_PATH:CONTAINER_PATH[:ro], e.g. /data/models:/models:ro")

    @classmethod
    def coerce(cls, value: object) -> Mount:
        return _coerce(cls, value, "mount", "HOST:CONTAINER[:ro]", "host and container")

    def to_arg(self) -> str:
        return f"{self.host}:{self.container}" + (":ro" if self.read_only else "")


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that goes into the ``docker run`` / ``isula run`` of an NPU container. Validated on construction.

    ``devices`` is the resolved card list; give a selection string (``'0-3,7'``) to have it parsed, and use
    :meth:`from_dict` with ``available=`` to resolve ``'all'`` and check the cards against the host.

    Without ``ascend_runtime`` the spec mounts the devices and the Ascend Docker Runtime's base mount list itself:
    ``--device=<device_dir>/davinci<N>:/dev/davinci<N>`` plus the manager devices, and read-only the driver's
    ``lib64`` and ``include`` (or the whole driver dir with ``mount_driver_dir``), ``/usr/local/dcmi`` and the npu-smi
    binary (Ascend/ascend-docker-runtime: build/scripts/base.list), plus ``driver/version.info`` and
    ``/etc/ascend_install.info`` (torch_npu's get_cann_version and MindIE read them). The ``host_*`` fields are the
    host-side paths (the simulated lab points them at a fake tree); the container side is always the real path.

    With ``ascend_runtime`` the Ascend Docker Runtime injects devices and driver mounts from
    ``ASCEND_VISIBLE_DEVICES``; the spec only adds that variable, the two info files (the runtime's base.list lacks
    them) and ``--runtime=ascend`` (isula always, since its installer keeps isulad's default runtime; docker when
    ``oci_runtime='ascend'``).

    ``network`` is ``host`` (default), ``none``, ``bridge`` or a network name; for isula anything but host/none
    names a native (CNI) network made with ``isula network create``, and ``-p`` needs an iSulad built with the
    native network (openeuler-mirror/iSulad: docs/manual/native_network.md).
    """

    name: str
    image: str
    devices: tuple[int, ...]
    runtime: str = "docker"
    command: tuple[str, ...] = DEFAULT_COMMAND
    detach: bool = True
    davinci_manager: bool = True
    devmm_svm: bool = True
    hisi_hdc: bool = True
    device_dir: str = CONTAINER_DEVICE_DIR
    host_ascend_root: str = DEFAULT_ASCEND_ROOT
    host_driver_dir: str | None = None  # None: <host_ascend_root>/driver
    host_dcmi_dir: str = DEFAULT_DCMI_DIR
    host_npu_smi: str = DEFAULT_NPU_SMI  # /usr/local/sbin/npu-smi on some hosts
    host_install_info: str = DEFAULT_INSTALL_INFO
    mount_driver_dir: bool = False
    info_mounts: bool = True
    ipc_host: bool = True
    network: str = "host"
    ports: tuple[PortMapping, ...] = ()
    shm_size: str | None = None
    workdir: str | None = None
    user: str | None = None
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    privileged: bool = False
    pids_limit: int | None = None
    restart: str | None = None
    ascend_runtime: bool = False
    oci_runtime: str | None = None

    def __post_init__(self) -> None:
        self._check_what_runs()
        self._check_host_side()
        self._check_network()
        self._check_options()
        self._check_mount_targets()

    def _put(self, name: str, value: object) -> None:
        """Store the normalised form of a field (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    def _check_what_runs(self) -> None:
        """The engine, the container's name, its image, its cards and its command."""
        if self.runtime not in RUNTIMES:
            raise RenderError(f"runtime {self.runtime!r} is not supported; use 'docker' or 'isula'")
        if not _NAME_RE.match(_text(self.name, "container name")):
            raise RenderError(f"container name {self.name!r} is invalid; use letters, digits, '_', '.', '-' "
                              "and start with a letter or digit")
        if not _IMAGE_RE.match(_text(self.image, "image")):
            raise RenderError(f"image {self.image!r} is not an image reference like 'ubuntu:22.04' or "
                              "'quay.io/ascend/cann:8.0.0-910b-ubuntu22.04-py3.10'")
        self._put("devices", _device_tuple(self.devices))
        if isinstance(self.command, str):
            raise RenderError(f"command {self.command!r} must be a list of arguments, e.g. ['sleep', 'infinity']")
        self._put("command", tuple(_text(a, "command argument", allow_newline=True, allow_empty=True)
                                   for a in self.command))

    def _check_host_side(self) -> None:
        """The switches, and the host's device directory and Ascend paths."""
        for flag in ("detach", "davinci_manager", "devmm_svm", "hisi_hdc", "mount_driver_dir", "info_mounts",
                     "ipc_host", "privileged", "ascend_runtime"):
            _bool(getattr(self, flag), flag)
        for name in ("device_dir", "host_ascend_root", "host_dcmi_dir", "host_npu_smi", "host_install_info"):
            _abs_path(getattr(self, name), name, no_colon=True)
        if self.host_driver_dir is None:
            self._put("host_driver_dir", _join(self.host_ascend_root, "driver"))
        _abs_path(self.host_driver_dir, "host_driver_dir", no_colon=True)

    def _check_network(self) -> None:
        """The network, and the published ports (meaningless with the host's network or none)."""
        if not _NETWORK_RE.match(_text(self.network, "network")):
            raise RenderError(f"network {self.network!r} is invalid; use 'host', 'bridge', 'none' or a network name")
        self._put("ports", tuple(PortMapping.coerce(p) for p in self.ports))
        if self.ports and self.network in ("host", "none"):
            listed = ", ".join(p.to_arg() for p in self.ports)
            raise RenderError(f"ports {listed} are meaningless with network {self.network!r}: "
                              + ("the container already uses the host's ports (sshd on its port is reachable "
                                 "directly); drop the ports or use network 'bridge'" if self.network == "host"
                                 else "the container has no network; drop the ports or use network 'bridge'"))

    def _check_options(self) -> None:
        """shm size, workdir, user, mounts, env, labels, pids limit, restart policy, OCI runtime."""
        if self.shm_size is not None:
            match = _SHM_RE.match(_text(self.shm_size, "shm_size"))
            if not match:
                raise RenderError(f"shm_size {self.shm_size!r} is not a size like '16g', '128G' or '512m' "
                                  "(a number and k, m, g or t)")
            self._put("shm_size", f"{match.group(1)}{match.group(2).lower()}")
        if self.workdir is not None:
            _abs_path(self.workdir, "workdir")
        if self.user is not None and not _USER_RE.match(_text(self.user, "user")):
            raise RenderError(f"user {self.user!r} is not NAME|UID[:GROUP|GID], e.g. 'root' or '1000:1000'")
        self._put("mounts", tuple(Mount.coerce(m) for m in self.mounts))
        self._put("env", _str_mapping(self.env, "env", _ENV_NAME_RE,
                                      "use letters, digits and '_', not starting with a digit"))
        self._put("labels", _str_mapping(self.labels, "label", _LABEL_KEY_RE,
                                         "use letters, digits, '.', '_', '/', '-', e.g. io.ascend-env.role"))
        if self.pids_limit is not None and (_int(self.pids_limit, "pids_limit", -1, 2**31 - 1) == 0):
            raise RenderError("pids_limit 0 is ambiguous; use a positive limit such as 409600, "
                              "or -1 for unlimited")
        self._check_restart()
        if self.oci_runtime is not None and not _NAME_RE.match(_text(self.oci_runtime, "oci_runtime")):
            raise RenderError(f"oci_runtime {self.oci_runtime!r} is not a runtime name like 'ascend' or 'runc'")
        if self.ascend_runtime and "ASCEND_VISIBLE_DEVICES" in self.env:
            raise RenderError("env ASCEND_VISIBLE_DEVICES is set from devices in ascend_runtime mode; "
                              "drop it from env and select the cards with devices")

    def _check_restart(self) -> None:
        if self.restart is None:
            return
        policy = _text(self.restart, "restart")
        base, _, retries = policy.partition(":")
        allowed = _RESTART_POLICIES[self.runtime]
        if base not in allowed or (retries and (base != "on-failure" or not retries.isdigit())):
            raise RenderError(f"restart policy {policy!r} is not valid for {self.runtime}; use one of "
                              f"{', '.join(allowed)} (on-failure[:N] takes a retry count)")

    def _check_mount_targets(self) -> None:
        """No two mounts (the Ascend ones and the spec's own) at one container path."""
        destinations: dict[str, str] = {}
        for host, ctr in _volume_pairs(self):
            key = posixpath.normpath(ctr)
            if key in destinations:
                raise RenderError(f"two mounts target {ctr!r} in the container ({destinations[key]} and {host}); "
                                  "drop one of them (the Ascend mounts are added automatically)")
            destinations[key] = host

    def __hash__(self) -> int:  # env/labels are dicts; hash the canonical form instead
        return hash(spec_hash(self))

    # -- conversions ---------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], available: Sequence[int] | None = None) -> ContainerSpec:
        """Build from plain data (inventory YAML, JSON). ``devices`` may be a selection string (``'0-3,7'``,
        ``'all'``) resolved against ``available`` (the host's detected cards), or a list of card numbers (checked
        against ``available`` when given). Unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise RenderError(f"a container spec must be a mapping, got {data!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RenderError(f"unknown container spec key(s) {', '.join(map(repr, unknown))}; "
                              f"known keys: {', '.join(sorted(names))}")
        missing = [k for k in ("name", "image", "devices") if k not in data]
        if missing:
            raise RenderError(f"container spec lacks {', '.join(missing)}")
        kwargs = dict(data)
        kwargs["devices"] = _device_tuple(data["devices"], available)
        for key in ("command", "ports", "mounts"):
            if key in kwargs:
                if isinstance(kwargs[key], (str, Mapping)) or not isinstance(kwargs[key], Iterable):
                    raise RenderError(f"{key} must be a list, got {kwargs[key]!r}")
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data; ``ContainerSpec.from_dict(spec.to_dict()) == spec``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("ports", "mounts"):
                value = [dataclasses.asdict(v) for v in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


def _volume_pairs(spec: ContainerSpec) -> list[tuple[str, str]]:
    """(host, container) of every bind mount, Ascend base mounts first, then the spec's own mounts."""
    drv = spec.host_driver_dir or _join(spec.host_ascend_root, "driver")
    pairs: list[tuple[str, str]] = []
    if not spec.ascend_runtime:
        if spec.mount_driver_dir:
            pairs.append((drv, CONTAINER_DRIVER_DIR))
        else:
            pairs.append((_join(drv, "lib64"), _join(CONTAINER_DRIVER_DIR, "lib64")))
            pairs.append((_join(drv, "include"), _join(CONTAINER_DRIVER_DIR, "include")))
        pairs.append((spec.host_dcmi_dir, CONTAINER_DCMI_DIR))
        pairs.append((spec.host_npu_smi, CONTAINER_NPU_SMI))
    if spec.info_mounts:
        if spec.ascend_runtime or not spec.mount_driver_dir:
            pairs.append((_join(drv, "version.info"), _join(CONTAINER_DRIVER_DIR, "version.info")))
        pairs.append((spec.host_install_info, CONTAINER_INSTALL_INFO))
    pairs.extend((m.host, m.container) for m in spec.mounts)
    return pairs


def _device_args(spec: ContainerSpec) -> list[str]:
    """``HOST:CONTAINER`` of each device to pass (none in ascend_runtime mode: the runtime injects them)."""
    if spec.ascend_runtime:
        return []
    devices = [f"{_join(spec.device_dir, f'davinci{card}')}:{CONTAINER_DEVICE_DIR}/davinci{card}"
               for card in spec.devices]
    devices += [f"{_join(spec.device_dir, manager)}:{CONTAINER_DEVICE_DIR}/{manager}" for manager in MANAGER_DEVICES
                if getattr(spec, manager)]
    return devices


def _volume_args(spec: ContainerSpec) -> list[str]:
    """``HOST:CONTAINER[:ro]`` of each bind mount: the Ascend base mounts read-only, then the spec's own."""
    pairs = _volume_pairs(spec)
    base_count = len(pairs) - len(spec.mounts)
    return [f"{host}:{ctr}:ro" for host, ctr in pairs[:base_count]] + [m.to_arg() for m in spec.mounts]


def _env_items(spec: ContainerSpec) -> list[str]:
    """``KEY=VALUE`` of the container's environment, sorted (ascend_runtime mode adds ASCEND_VISIBLE_DEVICES)."""
    env = dict(spec.env)
    if spec.ascend_runtime:
        env["ASCEND_VISIBLE_DEVICES"] = format_device_list(spec.devices)
    return [f"{k}={v}" for k, v in sorted(env.items())]


def render_container_argv(spec: ContainerSpec) -> list[str]:
    """The ``docker run`` / ``isula run`` argv of ``spec``, as a list (never a shell string).

    Every option is one ``--flag=value`` element (both CLIs parse that form: docker/cli, and iSulad's
    src/cmd/command_parser.c command_parse_long_arg), so no value can be read as another option.  docker and isula
    differ only in:

    * the network flag: docker documents ``--network`` (docker/cli: docs/reference/commandline/container_run.md);
      iSulad's create options define only ``--net`` (openeuler-mirror/iSulad: src/cmd/isula/base/create.h); builds
      with the native network also accept ``--network`` (docs/manual/native_network.md), so ``--net`` is the
      spelling every isula accepts;
    * ``--runtime``: the Ascend Docker Runtime installer makes ``ascend`` docker's default runtime
      (/etc/docker/daemon.json) but keeps isulad's default for ``--install-scene=isula`` (Ascend/ascend-docker-runtime:
      build/scripts/run_main.sh, install/deb/src/main.go): in ascend_runtime mode isula always gets
      ``--runtime=ascend``, docker only when ``oci_runtime`` asks for it;
    * the ``--restart`` values (docker ``unless-stopped``, isula ``on-reboot``), validated by the spec.

    The same on both (create.h / run.h): run, --detach, --name, --label, --privileged, --ipc, --publish (isula:
    native-network builds), --shm-size, --pids-limit, --restart, --user, --workdir (isula has no ``-w``), --device,
    --volume, --env.
    """
    argv = [spec.runtime, "run"]
    if spec.detach:
        argv.append("--detach")
    argv.append(f"--name={spec.name}")
    argv += [f"--label={k}={v}" for k, v in sorted(spec.labels.items())]
    oci_runtime = spec.oci_runtime or ("ascend" if spec.ascend_runtime and spec.runtime == "isula" else None)
    if oci_runtime:
        argv.append(f"--runtime={oci_runtime}")
    if spec.privileged:
        argv.append("--privileged")
    if spec.ipc_host:
        argv.append("--ipc=host")
    argv.append(f"--net={spec.network}" if spec.runtime == "isula" else f"--network={spec.network}")
    argv += [f"--publish={p.to_arg()}" for p in spec.ports]
    argv += _limits_and_identity(spec)
    argv += [f"--device={d}" for d in _device_args(spec)]
    argv += [f"--volume={v}" for v in _volume_args(spec)]
    argv += [f"--env={item}" for item in _env_items(spec)]
    return [*argv, spec.image, *spec.command]


def _limits_and_identity(spec: ContainerSpec) -> list[str]:
    """--shm-size, --pids-limit, --restart, --user, --workdir: those the spec sets, in that order."""
    pids = None if spec.pids_limit is None else str(spec.pids_limit)
    options = [("--shm-size", spec.shm_size), ("--pids-limit", pids), ("--restart", spec.restart),
               ("--user", spec.user), ("--workdir", spec.workdir)]
    return [f"{flag}={value}" for flag, value in options if value]


def with_spec_hash_label(spec: ContainerSpec) -> ContainerSpec:
    """``spec`` with ``labels[SPEC_HASH_LABEL] = spec_hash(spec)`` (which the label does not change)."""
    return dataclasses.replace(spec, labels={**spec.labels, SPEC_HASH_LABEL: spec_hash(spec)})


def with_spec_labels(spec: ContainerSpec) -> ContainerSpec:
    """``spec`` with its hash label and, in :data:`SPEC_LABEL`, the spec itself (compact JSON, neither label in it),
    so that a later run can name the fields that changed (:func:`spec_changes`); neither label changes the hash."""
    data = spec.to_dict()
    data["labels"] = {k: v for k, v in data["labels"].items() if k not in (SPEC_HASH_LABEL, SPEC_LABEL)}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return dataclasses.replace(spec, labels={**spec.labels, SPEC_HASH_LABEL: spec_hash(spec), SPEC_LABEL: text})


def spec_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """What differs between the spec a container was made from (its :data:`SPEC_LABEL`; None: a container made
    before ascend-env recorded it) and the rendered one, one phrase per field: ``image a -> b``, ``env: PATH,
    LD_LIBRARY_PATH``, ``mounts: /opt/ascend-store``, ..."""
    if before is None:
        return ["the spec (the running container predates the spec label: fields unknown)"]
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key == "labels":
            old = {k: v for k, v in (old or {}).items() if k not in (SPEC_HASH_LABEL, SPEC_LABEL)}
            new = {k: v for k, v in (new or {}).items() if k not in (SPEC_HASH_LABEL, SPEC_LABEL)}
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            out.append(f"{key}: {', '.join(keys)}")
        elif isinstance(old, (list, tuple)) or isinstance(new, (list, tuple)):
            out.append(f"{key}: {len(old or [])} -> {len(new or [])} entries" if len(old or []) != len(new or [])
                       else f"{key} changed")
        else:
            out.append(f"{key} {old} -> {new}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# sshd

# keywords ascend-env sets from dedicated fields: in extra_options they are refused (use the field)
_SSHD_FIELD_KEYWORDS = {
    "port": "port",
    "listenaddress": "listen_addresses",
    "authorizedkeysfile": "authorized_keys_file",
    "clientaliveinterval": "client_alive_interval",
    "clientalivecountmax": "client_alive_count_max",
}
# security keywords ascend-env sets (canonical spelling -> template variable); override only with allow_insecure
_SSHD_SECURITY_MANAGED = {
    "PubkeyAuthentication": "pubkey_authentication",
    "PasswordAuthentication": "password_authentication",
    "ChallengeResponseAuthentication": "challenge_response_authentication",
    "KbdInteractiveAuthentication": "challenge_response_authentication",
    "PermitEmptyPasswords": "permit_empty_passwords",
    "PermitRootLogin": "permit_root_login",
}
# other keywords that weaken authentication; allowed only with allow_insecure
_SSHD_SECURITY_OTHER = {k.lower() for k in (
    "AuthenticationMethods", "AuthorizedKeysCommand", "AuthorizedKeysCommandUser", "HostbasedAuthentication",
    "IgnoreRhosts", "PermitUserEnvironment", "StrictModes", "UsePAM", "GSSAPIAuthentication",
)}
# keywords that change how the rest of the file is read
_SSHD_STRUCTURAL = {"match", "include"}
_PERMIT_ROOT_LOGIN = ("prohibit-password", "without-password", "forced-commands-only", "no", "yes")


@dataclass(frozen=True)
class SshdSpec:
    """The sshd_config(5) drop-in that lets IDEs attach to the container (port 223 by convention).

    Defaults are key-only: ``PubkeyAuthentication yes``, ``PasswordAuthentication no``,
    ``ChallengeResponseAuthentication no``, ``PermitEmptyPasswords no``, ``PermitRootLogin prohibit-password``.
    ``password_login=True`` turns password logins on (root still needs a key unless ``permit_root_login='yes'``,
    which needs ``allow_insecure``). ``ClientAliveInterval``/``ClientAliveCountMax`` keep long jobs' sessions alive.

    ``listen_addresses`` defaults to ``0.0.0.0`` (every IPv4 interface), because the IDE connects from another
    machine; on a shared lab host list the management address instead, or ``127.0.0.1`` when users come through a
    jump host / port forward. ``extra_options`` are further ``Keyword value`` lines: a keyword with a line break, a
    ``Match``/``Include``, or one of the fields' keywords is refused; a security keyword (the ones above,
    ``AuthenticationMethods``, ``UsePAM``, ...) only with ``allow_insecure=True``, and then it replaces the managed
    line instead of being silently ignored by sshd's first-value-wins rule.
    """

    port: int = 223
    listen_addresses: tuple[str, ...] = ("0.0.0.0",)
    password_login: bool = False
    permit_root_login: str = "prohibit-password"
    authorized_keys_file: str = ".ssh/authorized_keys"
    client_alive_interval: int = 60
    client_alive_count_max: int = 3
    extra_options: Mapping[str, str] = field(default_factory=dict)
    allow_insecure: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        _int(self.port, "sshd port", 1, 65535)
        _bool(self.password_login, "password_login")
        _bool(self.allow_insecure, "allow_insecure")
        if isinstance(self.listen_addresses, str) or not isinstance(self.listen_addresses, Iterable):
            raise RenderError(f"listen_addresses must be a list of IP addresses, got {self.listen_addresses!r}")
        addresses = tuple(self.listen_addresses)
        if not addresses:
            raise RenderError("listen_addresses is empty; give at least one address, e.g. 0.0.0.0 or 127.0.0.1")
        for addr in addresses:
            _text(addr, "listen address")  # outside the try: RenderError is a ValueError
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise RenderError(f"listen address {addr!r} is not an IP address; use e.g. 0.0.0.0, 127.0.0.1 "
                                  "or the host's management IP") from None
        if len(set(addresses)) != len(addresses):
            raise RenderError(f"listen_addresses {list(addresses)} lists an address twice; drop the duplicate")
        put(self, "listen_addresses", addresses)
        if self.permit_root_login not in _PERMIT_ROOT_LOGIN:
            raise RenderError(f"permit_root_login {self.permit_root_login!r} is not one of "
                              f"{', '.join(_PERMIT_ROOT_LOGIN)}")
        if self.permit_root_login == "yes" and not self.allow_insecure:
            raise RenderError("permit_root_login 'yes' lets root log in with a password; use 'prohibit-password' "
                              "(keys only), or set allow_insecure: true to do it anyway")
        keys_file = _text(self.authorized_keys_file, "authorized_keys_file")
        if '"' in keys_file:
            raise RenderError(f"authorized_keys_file {keys_file!r} contains a quote; use plain paths (%h, %u allowed)")
        _int(self.client_alive_interval, "client_alive_interval", 1, 86400, hint=" seconds")
        _int(self.client_alive_count_max, "client_alive_count_max", 1, 1000)
        put(self, "extra_options", self._checked_options())

    def _checked_options(self) -> dict[str, str]:
        if not isinstance(self.extra_options, Mapping):
            raise RenderError(f"extra_options must be a mapping of sshd keywords to values, got {self.extra_options!r}")
        seen: dict[str, str] = {}
        out: dict[str, str] = {}
        for key, value in self.extra_options.items():
            if not isinstance(key, str) or not _SSHD_KEY_RE.match(key):
                broken = isinstance(key, str) and any(c in key for c in "\r\n")
                raise RenderError(f"sshd option name {key!r} is invalid"
                                  + ("; it contains a line break, which would inject a directive" if broken else
                                     "; use one sshd_config keyword such as MaxSessions"))
            lower = key.lower()
            if lower in seen:
                raise RenderError(f"sshd option {key!r} is given twice ({seen[lower]!r}); keep one")
            seen[lower] = key
            if isinstance(value, bool) or value is None:
                raise RenderError(f"sshd option {key}: give the value as a string such as 'yes' or 'no', "
                                  f"got {value!r}")
            text = _text(str(value) if isinstance(value, int) else value, f"sshd option {key} value")
            if lower in _SSHD_STRUCTURAL:
                raise RenderError(f"sshd option {key!r} changes how the rest of the file is read; "
                                  "put Match blocks and Include lines in your own sshd_config")
            if lower in _SSHD_FIELD_KEYWORDS:
                raise RenderError(f"sshd option {key!r} has its own setting; use {_SSHD_FIELD_KEYWORDS[lower]} "
                                  "instead of extra options")
            managed = {k.lower() for k in _SSHD_SECURITY_MANAGED}
            if (lower in managed or lower in _SSHD_SECURITY_OTHER) and not self.allow_insecure:
                fix = "use password_login: true for password logins, or " if lower == "passwordauthentication" else ""
                raise RenderError(f"sshd option {key!r} overrides a security setting; {fix}set allow_insecure: true "
                                  "(--allow-insecure on the command line) to override it explicitly")
            try:   # the keyword and its value as sshd's own parser takes them (sshd -t would refuse the file)
                check_sshd_option(key, text)
            except SshdOptionError as exc:
                raise RenderError(str(exc)) from None
            out[key] = text
        return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))

    def __hash__(self) -> int:
        return hash(spec_hash(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SshdSpec:
        if not isinstance(data, Mapping):
            raise RenderError(f"an sshd spec must be a mapping, got {data!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RenderError(f"unknown sshd spec key(s) {', '.join(map(repr, unknown))}; "
                              f"known keys: {', '.join(sorted(names))}")
        kwargs = dict(data)
        if "listen_addresses" in kwargs and isinstance(kwargs["listen_addresses"], list):
            kwargs["listen_addresses"] = tuple(kwargs["listen_addresses"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["listen_addresses"] = list(self.listen_addresses)
        out["extra_options"] = dict(self.extra_options)
        return out


def sshd_context(spec: SshdSpec) -> dict[str, Any]:
    """The variables of ``templates/sshd_config.j2``."""
    ctx: dict[str, Any] = {
        "port": spec.port,
        "listen_addresses": list(spec.listen_addresses),
        "pubkey_authentication": "yes",
        "authorized_keys_file": spec.authorized_keys_file,
        "password_authentication": "yes" if spec.password_login else "no",
        "challenge_response_authentication": "no",
        "permit_empty_passwords": "no",
        "permit_root_login": spec.permit_root_login,
        "client_alive_interval": spec.client_alive_interval,
        "client_alive_count_max": spec.client_alive_count_max,
    }
    managed = {k.lower(): var for k, var in _SSHD_SECURITY_MANAGED.items()}
    extra: list[list[str]] = []
    for key, value in spec.extra_options.items():
        if key.lower() in managed:  # explicit override (allow_insecure): replace the managed line
            ctx[managed[key.lower()]] = value
        else:
            extra.append([key, value])
    ctx["extra_options"] = extra
    return ctx


def render_sshd_config(spec: SshdSpec) -> str:
    """The sshd_config(5) text of ``spec``, with a header saying ascend-env manages it."""
    return _render("sshd_config.j2", sshd_context(spec))


# ---------------------------------------------------------------------------------------------------------------
# shell environment block


@dataclass(frozen=True)
class EnvSpec:
    """The Ascend shell environment block (POSIX sh), inserted by the caller between its managed-block markers.

    ``set_env`` is the CANN ``set_env.sh``; the caller computes it (``<install>/ascend-toolkit/set_env.sh`` before
    CANN 8.5, ``<install>/cann/set_env.sh`` from 8.5.0). ``driver_root`` puts ``lib64``, ``lib64/common`` and
    ``lib64/driver`` on LD_LIBRARY_PATH (npu-smi's ``libdrvdsmi_host.so``); None leaves LD_LIBRARY_PATH alone.
    ``npu_smi_dir`` goes on PATH. ``nnal_set_env`` is NNAL's ``set_env.sh``. Either a conda environment
    (``conda_prefix`` + ``conda_env``: ``conda activate`` through ``<prefix>/etc/profile.d/conda.sh``, or, in a prefix
    without conda (an environment made by rattler), what ``conda activate`` sets: ``CONDA_PREFIX``,
    ``CONDA_DEFAULT_ENV``, its ``bin`` first on PATH, its ``etc/conda/activate.d`` scripts) or a ``venv`` is
    activated. ``exports`` are further variables.
    Every file is sourced only if it exists, and path entries are added only once.
    """

    set_env: str | None = None
    driver_root: str | None = DEFAULT_DRIVER_DIR
    npu_smi_dir: str | None = None
    nnal_set_env: str | None = None
    conda_prefix: str | None = None
    conda_env: str | None = None
    venv: str | None = None
    exports: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("set_env", "driver_root", "npu_smi_dir", "nnal_set_env", "conda_prefix", "venv"):
            value = getattr(self, name)
            if value is not None:
                _abs_path(value, name, no_colon=name in ("driver_root", "npu_smi_dir"))
        if (self.conda_prefix is None) != (self.conda_env is None):
            raise RenderError("conda activation needs both conda_prefix and conda_env "
                              "(e.g. /opt/conda and mindspore); give both or neither")
        if self.conda_env is not None and not _CONDA_ENV_RE.match(_text(self.conda_env, "conda_env")):
            raise RenderError(f"conda_env {self.conda_env!r} is not a conda environment name "
                              "(letters, digits, '_', '.', '-', '+')")
        if self.conda_prefix is not None and self.venv is not None:
            raise RenderError("give either a conda environment or a venv, not both; the second activation would "
                              "shadow the first")
        exports = _str_mapping(self.exports, "export", _ENV_NAME_RE,
                               "use letters, digits and '_', not starting with a digit")
        for name in ("PATH", "LD_LIBRARY_PATH"):
            if name in exports:
                raise RenderError(f"export {name} would replace the paths this block manages; use "
                                  + ("npu_smi_dir" if name == "PATH" else "driver_root") + " or set it elsewhere")
        object.__setattr__(self, "exports", exports)

    def __hash__(self) -> int:
        return hash(spec_hash(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSpec:
        if not isinstance(data, Mapping):
            raise RenderError(f"an env spec must be a mapping, got {data!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RenderError(f"unknown env spec key(s) {', '.join(map(repr, unknown))}; "
                              f"known keys: {', '.join(sorted(names))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["exports"] = dict(self.exports)
        return out


def env_context(spec: EnvSpec) -> dict[str, Any]:
    """The variables of ``templates/env_block.sh.j2``; every value already quoted for sh."""
    q = shlex.quote
    ld_paths: list[str] = []
    if spec.driver_root is not None:
        ld_paths = [q(_join(spec.driver_root, "lib64")), q(_join(spec.driver_root, "lib64", "common")),
                    q(_join(spec.driver_root, "lib64", "driver"))]
    return {
        "ld_library_paths": ld_paths,
        "npu_smi_dir": q(spec.npu_smi_dir) if spec.npu_smi_dir else None,
        "set_env": q(spec.set_env) if spec.set_env else None,
        "nnal_set_env": q(spec.nnal_set_env) if spec.nnal_set_env else None,
        "conda_sh": q(_join(spec.conda_prefix, "etc", "profile.d", "conda.sh")) if spec.conda_prefix else None,
        "conda_env": q(spec.conda_env) if spec.conda_env else None,
        "conda_env_prefix": q(_join(spec.conda_prefix, "envs", spec.conda_env))
        if spec.conda_prefix and spec.conda_env else None,
        "conda_env_bin": q(_join(spec.conda_prefix, "envs", spec.conda_env, "bin"))
        if spec.conda_prefix and spec.conda_env else None,
        "venv": q(spec.venv) if spec.venv else None,
        "venv_bin": q(_join(spec.venv, "bin")) if spec.venv else None,
        "venv_activate": q(_join(spec.venv, "bin", "activate")) if spec.venv else None,
        "exports": [[name, q(value)] for name, value in sorted(spec.exports.items())],
    }


def render_env_block(spec: EnvSpec) -> str:
    """The shell environment block of ``spec`` (no managed-block markers)."""
    return _render("env_block.sh.j2", env_context(spec))


# ---------------------------------------------------------------------------------------------------------------
# the environment in every process: the profile, the hook that sources it, the runner, and a process's environment
# for what starts without a shell (docs/environment.md has the table of which process gets it by which path)

#: the file every shell path reads (login shells through /etc/profile; the hook for the others)
DEFAULT_PROFILE = "/etc/profile.d/ascend-env.sh"
#: the wrapper for what starts with an empty environment (cron, systemd units, Jupyter kernels)
DEFAULT_RUNNER = "/usr/local/bin/ascend-run"
#: PATH of a process in a container when the image sets none: Docker's default for Linux containers
#: (moby/moby: oci/defaults.go, DefaultPathEnv), also what iSulad's images carry
DEFAULT_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ARCHES = ("x86_64", "aarch64")


def render_env_profile(spec: EnvSpec) -> str:
    """``/etc/profile.d/ascend-env.sh``: a header saying what reads it, then the environment block of ``spec``."""
    return _render("env_profile.sh.j2", env_context(spec))


def render_env_hook(profile: str = DEFAULT_PROFILE) -> str:
    """The line at the top of ``/etc/bash.bashrc`` and ``~/.bashrc`` (before any interactive guard) that sources
    ``profile``."""
    return _render("env_hook.sh.j2", {"profile": shlex.quote(_abs_path(profile, "profile"))})


def render_env_runner(profile: str = DEFAULT_PROFILE) -> str:
    """``ascend-run``: a bash script that sources ``profile`` and replaces itself with its arguments."""
    return _render("env_runner.sh.j2", {"profile": shlex.quote(_abs_path(profile, "profile"))})


def _path_list(*entries: str) -> str:
    return ":".join(entries)


def exec_env(spec: EnvSpec, toolkit_home: str | None, arch: str = "x86_64",
             base_path: str = DEFAULT_EXEC_PATH) -> dict[str, str]:
    """The environment of a process started without a shell (``docker``/``isula exec``, a Kubernetes exec probe, the
    container's PID 1 and what it starts), for ``docker run -e``: what sourcing the profile of ``spec`` gives.

    - CANN's ``set_env.sh`` variables as that file exports them (CANN 7.0-8.3; the lab's fake writes the same file:
      ascend_env/lab/run_payload/install.sh) for the toolkit at ``toolkit_home`` (``<install>/ascend-toolkit/latest``
      before 8.5, ``<install>/cann`` from 8.5; None: no CANN), with ``arch`` (x86_64, aarch64) where set_env.sh says
      ``$(arch)``; without the empty entry set_env.sh leaves at the end of PYTHONPATH when it was unset (an empty
      entry is the current directory);
    - the driver libraries of ``spec.driver_root`` on LD_LIBRARY_PATH, ``spec.npu_smi_dir`` on PATH;
    - the Python environment: its ``bin`` first on PATH, ``VIRTUAL_ENV`` or ``CONDA_PREFIX`` + ``CONDA_DEFAULT_ENV``;
    - ``spec.exports``.
    ``spec.nnal_set_env`` is left out: NNAL's set_env.sh picks its C++ ABI from the installed torch when it is sourced,
    so a value fixed at container create could be the wrong one; NNAL jobs started without a shell go through
    ascend-run.  ``base_path`` is the rest of PATH (the image's own; Docker's default).
    """
    if arch not in _ARCHES:
        raise RenderError(f"arch {arch!r} is not one of {', '.join(_ARCHES)}; use the host's CPU architecture "
                          "(uname -m)")
    base = _text(base_path, "base_path")
    for entry in base.split(":"):
        if not entry.startswith("/"):
            raise RenderError(f"base_path {base!r} has the entry {entry!r}, which is not an absolute directory (an "
                              "empty entry is the current directory); give absolute directories joined by ':'")
    path: list[str] = []
    ld: list[str] = []
    out: dict[str, str] = {}
    if toolkit_home is not None:
        home = _abs_path(toolkit_home, "toolkit_home", no_colon=True).rstrip("/") or "/"
        ld += [_join(home, "tools/aml/lib64"), _join(home, "tools/aml/lib64/plugin"), _join(home, "lib64"),
               _join(home, "lib64/plugin/opskernel"), _join(home, "lib64/plugin/nnengine"),
               _join(home, f"opp/built-in/op_impl/ai_core/tbe/op_tiling/lib/linux/{arch}")]
        path += [_join(home, "bin"), _join(home, "compiler/ccec_compiler/bin"), _join(home, "tools/ccec_compiler/bin")]
        out.update({"ASCEND_TOOLKIT_HOME": home, "ASCEND_HOME_PATH": home, "ASCEND_AICPU_PATH": home,
                    "ASCEND_OPP_PATH": _join(home, "opp"), "TOOLCHAIN_HOME": _join(home, "toolkit"),
                    "PYTHONPATH": _path_list(_join(home, "python/site-packages"),
                                             _join(home, "opp/built-in/op_impl/ai_core/tbe"))})
    if spec.driver_root is not None:
        ld += [_join(spec.driver_root, "lib64"), _join(spec.driver_root, "lib64/common"),
               _join(spec.driver_root, "lib64/driver")]
    if spec.npu_smi_dir and spec.npu_smi_dir not in base.split(":"):
        path.append(spec.npu_smi_dir)
    if spec.venv:
        path.insert(0, _join(spec.venv, "bin"))
        out["VIRTUAL_ENV"] = spec.venv
    elif spec.conda_prefix and spec.conda_env:
        prefix = _join(spec.conda_prefix, "envs", spec.conda_env)
        path.insert(0, _join(prefix, "bin"))
        out.update({"CONDA_PREFIX": prefix, "CONDA_DEFAULT_ENV": spec.conda_env})
    if ld:
        out["LD_LIBRARY_PATH"] = _path_list(*ld)
    out["PATH"] = _path_list(*path, base)
    out.update(spec.exports)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------------------------
# hashing


def spec_hash(spec: ContainerSpec | SshdSpec | EnvSpec) -> str:
    """A stable 16-hex-digit digest: sha256 of the canonical JSON of the spec (keys sorted, so mapping order does not
    matter). The :data:`SPEC_HASH_LABEL` label is left out, so storing the hash in it does not change the hash."""
    if not isinstance(spec, (ContainerSpec, SshdSpec, EnvSpec)):
        raise RenderError(f"spec_hash takes a ContainerSpec, SshdSpec or EnvSpec, got {type(spec).__name__}")
    data = spec.to_dict()
    if isinstance(spec, ContainerSpec):
        data["labels"] = {k: v for k, v in data["labels"].items() if k not in (SPEC_HASH_LABEL, SPEC_LABEL)}
    canonical = json.dumps({"kind": type(spec).__name__, "spec": data}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# templates


def template_dir() -> Path:
    """``ascend_env/_templates`` when it exists (an installed wheel ships the top-level ``templates/`` there), else
    the repository's top-level ``templates/`` next to the package."""
    package = Path(__file__).resolve().parent
    shipped = package / "_templates"
    return shipped if shipped.is_dir() else package.parent / "templates"


@lru_cache(maxsize=4)
def _environment(directory: str) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(directory), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def _render(name: str, context: Mapping[str, Any]) -> str:
    directory = template_dir()
    if not (directory / name).is_file():
        raise RenderError(f"template {name} not found in {directory}; reinstall ascend-env or run it from the "
                          "repository checkout")
    try:
        return _environment(str(directory)).get_template(name).render(**context)
    except jinja2.UndefinedError as exc:  # pragma: no cover - contexts define every variable
        raise RenderError(f"template {name} uses an undefined variable ({exc}); this is a bug") from exc
