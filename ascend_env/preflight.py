"""Preflight of the inventory: every bad input, found before any host changes, one line per problem.

:func:`check_host` checks one host's variables (types, names, pins, devices, ports), resolves every
container's stack with :func:`ascend_env.resolver.resolve` and, when an offline store is configured,
checks the artefacts the stacks need against it.  :func:`check_fleet` does the same for every host and
reads each store's ``manifest.json`` once.  Each :class:`Problem` names the host, the container, the bad
value and the fix; ``str(problem)`` is one line.  Pure functions apart from reading the store (file names,
``manifest.json``, and the sha256 of the files a host needs); the matrix is passed in.  The Ansible filter
``ascend_env_preflight`` (``plugins/filter/ascend_env.py``) wraps :func:`check_fleet` for one host.

Inventory variables (the contract the roles use)
------------------------------------------------

Per host:

``ascend_chip``
    ``910b``, ``310p`` or ``300i-duo`` (any id or alias of ``chips.yaml``).  Required.
``ascend_arch``
    ``x86_64`` or ``aarch64``.  Required.
``ascend_host_pins``
    Mapping of what is installed on the host, pinned for every container: ``{driver: 25.0.rc1.1,
    firmware: 7.7.0.1.231}``.  Optional.
``ascend_offline``
    ``true``/``false`` (default ``false``).  When true, every ``.run`` installer and wheel a container
    needs must be in the store.
``ascend_offline_store``
    Path, on the controller, of the store: ``runs/`` (``.run`` installers), ``wheels/`` (PEP 427 wheels),
    ``images/`` and ``manifest.json`` (``{"files": [{"path", "size", "mtime", "sha256"}]}``).
    Required when ``ascend_offline`` is true; when set, the files a host needs are checked against
    ``manifest.json`` and against wrong-architecture / wrong-chip look-alikes.
``ascend_container_runtime``
    ``docker`` or ``isula`` (default ``docker``).
``ascend_npu_count``
    Optional int: how many NPU devices (``/dev/davinci<N>``) the host has; the driver-check role sets it
    from the detected nodes.  When known, ``devices`` are checked against ``0..count-1``.
``ascend_driver_manage``
    ``true``/``false`` (default ``false``): install the pinned driver and firmware (role ``ascend_driver``);
    then ``ascend_host_pins`` must name them and the store must hold their ``.run`` files.
``ascend_containers``
    List of mappings, one per container:

    ``name``      required, ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, unique on the host
    ``framework`` ``mindspore`` or ``torch`` (inferred from the pins when absent)
    ``pins``      mapping component -> version (``cann``, ``python``, ``mindspore``, ``mindformers``,
                  ``torch``, ``torch_npu``, ``driver``, ``firmware``); merged over ``ascend_host_pins``
    ``devices``   ``"0-1,3"``, a list of ints, or ``"all"`` (default ``"all"``)
    ``ssh_port``  int 1-65535 (default 223), unique among the host's enabled containers
    ``image``     default ``"ascend-env/base:bookworm"``
    ``enabled``   bool (default true); disabled containers are checked but need no port or artefacts
    ``nnal``      bool (default false): also install the CANN NNAL package
    ``mounts``    list of ``HOST:CONTAINER[:ro]`` (or ``{host, container, read_only}``): the container's own bind
                  mounts, e.g. a work folder that outlives the container; writable ones are created on the host
    ``python_provider``  ``venv`` or ``conda`` (default: the host's ``ascend_python_provider``, else ``venv``)

With ``conda`` (``ascend_env.conda``): the conda settings (``ascend_conda_installer``, ``ascend_conda_channels``,
``ascend_python_env_name``, ``ascend_conda_prefix``) are checked, and against the store: the installer
(``conda/<file>.sh``) or the py-rattler wheel (``rattler``), and, when the store's own channel is used, that
``manifest.json`` lists ``conda/channel/noarch/repodata.json`` and the platform's, and that the channel holds a
``python`` the stack allows (a channel that is not reachable from the controller is checked by the role, from the
container).

Other ``ascend_*`` host variables are the roles' (``roles/*/meta/argument_specs.yml``) or those in
:data:`INVENTORY_VARIABLES`; a name close to one of them but not one of them is reported as misspelt (Ansible
would silently ignore it and use the default).

What a container needs from the store: the ``.run`` installers of its stack (toolkit, kernels, and NNAL
when ``nnal: true``) in ``runs/``, and the wheels of its framework in ``wheels/`` (``torch==X`` and
``torch_npu==Y``, or ``mindspore==X`` and ``mindformers==Y`` when resolved), matched by normalized
distribution name and public version (``torch-2.1.0+cpu-...whl`` is torch 2.1.0), architecture and Python.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version as PyVersion

from . import conda as conda_env
from . import hostvalues
from .matrix import Chip, Matrix, cache_dir, nearest_versions
from .render import Mount, RenderError, format_device_list, parse_device_selection
from .resolver import PIN_COMPONENTS, Conflict, Request, Stack, installer_names, resolve
from .versions import COMPONENTS, Arch, Spec, Version, VersionError, parse_spec
from .yamlload import safe_load

__all__ = [
    "CONTAINER_DEFAULTS",
    "CONTAINER_KEYS",
    "Problem",
    "check_fleet",
    "check_host",
    "needed_artefacts",
    "read_manifest",
]

CONTAINER_DEFAULTS: dict[str, Any] = {"devices": "all", "ssh_port": 223, "image": "ascend-env/base:bookworm",
                                      "enabled": True, "nnal": False}
CONTAINER_KEYS = ("name", "framework", "pins", "devices", "ssh_port", "image", "enabled", "nnal", "mounts",
                  "python_provider")
FRAMEWORKS = ("mindspore", "torch")
RUNTIMES = hostvalues.RUNTIMES          # one allow-list: the doctor and the renderers use the same
_NAME_RE = hostvalues.CONTAINER_NAME_RE
#: Ansible's connection variables the preflight checks too: they reach ssh and rsync command lines in the roles
#: (``ssh -p PORT``, ``rsync --rsh=... user@host:path``), where a bad value is an option or a broken argument
CONNECTION_VARIABLES = ("ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file")
#: host paths that reach the roles' shell and rsync lines unquoted by their nature (rsync splits --rsh on spaces)
_SAFE_PATH_RE = re.compile(r"^(?:/|~/)[A-Za-z0-9_.+/@%=:,-]*$")   # ~/: Ansible and ssh expand it (-i ~/.ssh/id)
_PATH_EXAMPLES = {"ascend_host_root": "/", "ascend_artifacts_host_dir": "/var/cache/ascend-env/store",
                  "ansible_ssh_private_key_file": "~/.ssh/id_ed25519"}
_PATH_VARIABLES = tuple(_PATH_EXAMPLES)
_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
_BOOL_WORDS = {"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0"}
#: Host variables read by the playbooks and preflight that no role's argument_specs declares.
INVENTORY_VARIABLES = frozenset({
    "ascend_chip", "ascend_arch", "ascend_host_pins", "ascend_offline", "ascend_offline_store",
    "ascend_container_runtime", "ascend_container_enabled", "ascend_npu_count", "ascend_containers",
    "ascend_matrix_overrides", "ascend_ignore_preflight_errors", "ascend_host_root", "ascend_docker_host",
    "ascend_npu_smi_path", "ascend_lab", "ascend_driver_manage",
    # the conda provider's site settings (the ascend_python role's ascend_python_conda_* follow them)
    "ascend_conda_prefix", "ascend_conda_installer", "ascend_conda_channels",
    # read by the fleet plan (ascend_env.plan): how the host's engine is reached and the containers' base image
    "ascend_container_cli", "ascend_container_image", "ascend_container_image_tar", "ascend_container_store_mount",
    # read by the fleet plan: the environment's Python (the ascend_python role reads the plan's)
    "ascend_python_provider", "ascend_python_venv", "ascend_python_system_python", "ascend_python_env_name",
    "ascend_python_conda_prefix", "ascend_python_conda_tool_venv", "ascend_python_conda_channel_timeout",
    # the rollout's settings (playbooks/upgrade.yml, docs/day2.md)
    "ascend_upgrade_waves", "ascend_upgrade_stop_containers", "ascend_upgrade_min_free_mb", "ascend_upgrade_drain_cmd",
    "ascend_upgrade_undrain_cmd", "ascend_upgrade_hooks_on", "ascend_upgrade_records_dir", "ascend_upgrade_source",
    "ascend_upgrade_keep_previous", "ascend_upgrade_doctor_groups", "ascend_upgrade_site_args",
    "ascend_upgrade_ansible_playbook",
})

_KNOWN_PIN_VERSIONS = ("cann", "mindspore", "mindformers", "torch", "torch_npu")
_RUN_PARTS = ("toolkit", "kernels", "nnal")


@dataclass(frozen=True)
class Problem:
    """One bad input: where (host, container, field), the bad value, what is wrong and the fix."""

    host: str
    container: str | None
    field: str
    value: Any
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.host + (f" / container {self.container}" if self.container is not None else "")
        what = self.field if self.value is None else f"{self.field} {_show(self.value)}"
        text = f"{where}: {what}: {self.message.rstrip('. ')}. Fix: {self.fix}"
        return " ".join(text.split("\n"))


def _show(value: Any) -> str:
    """A value as the inventory spells it: strings quoted, true/false, null, {k: 'v'}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    """Plain Python data (Ansible hands over tagged str/int subclasses and lazy mappings)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Out:
    """Collects the problems of one host, without duplicates."""

    def __init__(self, host: str):
        self.host = host
        self.items: list[Problem] = []

    def add(self, container: str | None, field: str, value: Any, message: str, fix: str) -> None:
        p = Problem(self.host, container, field, value, message, fix)
        if p not in self.items:
            self.items.append(p)


# --- small type checks ---------------------------------------------------------------------------
def _check_bool(out: _Out, ctr: str | None, field: str, value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        out.add(ctr, field, value, "is a string, not a boolean",
                f"write {field}: true or {field}: false, without quotes"
                + ("" if ctr else f" (on the command line -e {field}=true gives a string: use "
                                  f"-e '{{\"{field}\": true}}')"))
    else:
        out.add(ctr, field, value, "must be a boolean", f"write {field}: true or {field}: false")
    return default


def _check_artifacts(out: _Out, hv: Mapping[str, Any]) -> None:
    """How the artefacts travel: ascend_artifacts_fanout (auto/true/false), its bandwidth cap, a shared store path."""
    fanout = hv.get("ascend_artifacts_fanout", "auto")
    word = str(fanout).strip().lower()
    if not isinstance(fanout, bool) and word not in ("auto", "true", "false", "yes", "no"):
        out.add(None, "ascend_artifacts_fanout", fanout, "must be auto, true or false",
                "write ascend_artifacts_fanout: auto (peers serve peers when more than one host lacks a file), true "
                "(always, or stop saying why not) or false (every host from the controller)")
    bw = hv.get("ascend_artifacts_fanout_bwlimit", 0)
    whole = (isinstance(bw, int) and bw >= 0) or (isinstance(bw, str) and bw.strip().isdigit())
    if isinstance(bw, bool) or not whole:
        out.add(None, "ascend_artifacts_fanout_bwlimit", bw, "must be a whole number of KiB/s (0: no cap)",
                "write e.g. ascend_artifacts_fanout_bwlimit: 50000 (about 50 MB/s per transfer)")
    shared = hv.get("ascend_artifacts_shared_path", "")
    if shared not in (None, "") and not (isinstance(shared, str) and shared.startswith("/")):
        out.add(None, "ascend_artifacts_shared_path", shared, "must be an absolute path on the hosts",
                "write the path where the store is mounted on every host, e.g. /mnt/ascend-store (or leave it empty)")
    elif shared and (fanout is True or word in ("true", "yes")):
        out.add(None, "ascend_artifacts_fanout", fanout, f"is true, but ascend_artifacts_shared_path {shared} means "
                "nothing is copied, so there is nothing to fan out",
                "leave ascend_artifacts_fanout unset (auto), or clear ascend_artifacts_shared_path to copy the store")


def _check_password(out: _Out, hv: Mapping[str, Any]) -> None:
    """Password login needs a root password (from vault); the password itself never appears in a message."""
    if not _check_bool(out, None, "ascend_ssh_password_login", hv.get("ascend_ssh_password_login", False), False):
        return
    vault = ("put it in vault: ansible-vault encrypt_string --name ascend_ssh_root_password '<password>' >> "
             "group_vars/ascend_hosts/vault.yml (then run with --ask-vault-pass or --vault-password-file), or set "
             "ascend_ssh_password_login: false to keep key-only logins")
    password = hv.get("ascend_ssh_root_password")
    if password is None or password == "":
        out.add(None, "ascend_ssh_root_password", None,
                "ascend_ssh_password_login is true but no root password is set", vault)
    elif not isinstance(password, str):
        out.add(None, "ascend_ssh_root_password", None, f"must be a string, got a {type(password).__name__} "
                                                        "(its value is not shown)", vault)
    elif len(password) < 8 or any(c in password for c in "\n\r:"):
        out.add(None, "ascend_ssh_root_password", None, f"is {len(password)} characters long or has a line break "
                "or ':' (its value is not shown); root logins over the network need at least 8 characters",
                "choose a longer password without ':' or line breaks, and " + vault)


def _check_host_mode(out: _Out, containers: list[Any]) -> None:
    """ascend_container_enabled: false builds one environment on the host itself: exactly one may be enabled."""
    names = [str(c.get("name")) for c in containers if isinstance(c, Mapping) and c.get("enabled", True) is True]
    if len(names) == 1:
        return
    if not names:
        out.add(None, "ascend_container_enabled", False, "the host is to be provisioned itself, but no entry of "
                "ascend_containers is enabled to say which framework and pins it gets",
                "add one entry, e.g. ascend_containers: [{name: host, framework: torch}]")
        return
    out.add(None, "ascend_container_enabled", False, f"the host itself holds one environment, but {len(names)} "
            f"entries of ascend_containers are enabled ({', '.join(names)})",
            f"keep one (set enabled: false on the others), or set ascend_container_enabled: true to run "
            f"{len(names)} containers")


def _check_port(out: _Out, ctr: str, value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        out.add(ctr, "ssh_port", value, "is a string, not a number", f"write ssh_port: {value.strip()} without quotes")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        out.add(ctr, "ssh_port", value, "must be an integer port number",
                f"write ssh_port: <1-65535> (default {CONTAINER_DEFAULTS['ssh_port']})")
        return None
    if not 1 <= value <= 65535:
        out.add(ctr, "ssh_port", value, "is out of range 1-65535",
                f"pick a free port between 1 and 65535 (default {CONTAINER_DEFAULTS['ssh_port']})")
        return None
    return value


def _closest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _check_mounts(out: _Out, ctr: str, value: Any) -> None:
    if not isinstance(value, list):
        out.add(ctr, "mounts", value, "must be a list", "write mounts: [/srv/work:/root/work, /data/models:/models:ro]")
        return
    seen: dict[str, str] = {}
    for m in value:
        try:
            mount = Mount.coerce(m)
        except RenderError as exc:
            out.add(ctr, "mounts", m, str(exc), "write each as HOST_PATH:CONTAINER_PATH[:ro], both absolute, "
                                                "e.g. /srv/work:/root/work")
            continue
        if mount.container in seen:
            out.add(ctr, "mounts", m, f"{mount.container} is already the target of {seen[mount.container]}",
                    "give every mount its own container path")
        seen[mount.container] = str(m)


def _check_devices(out: _Out, ctr: str, value: Any, npu_count: int | None) -> None:
    available = list(range(npu_count)) if npu_count is not None else None
    if isinstance(value, (list, tuple)):
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int) or v < 0]
        if bad or not value:
            out.add(ctr, "devices", value, "a device list must hold card numbers (non-negative integers)"
                    if value else "the device list is empty",
                    "write devices: [0, 1], devices: '0-1,3' or devices: all")
            return
        twice = sorted({v for v in value if value.count(v) > 1})
        if twice:
            out.add(ctr, "devices", value, f"lists card{'s' if len(twice) > 1 else ''} {format_device_list(twice)} "
                    "twice", f"name each card once: devices: [{', '.join(map(str, sorted(set(value))))}]")
            return
        text = format_device_list(value)
    elif isinstance(value, str):
        text = value
    else:
        out.add(ctr, "devices", value, "must be a selection string, a list of card numbers or 'all'",
                "write devices: '0-1,3', devices: [0, 1] or devices: all")
        return
    if text.strip().lower() == "all" and available is None:
        return  # resolved on the host, from the detected cards
    try:
        parse_device_selection(text, available)
    except RenderError as exc:
        message, _, fix = str(exc).partition("; ")
        out.add(ctr, "devices", value, message, fix or "use card numbers like '0-3,7' or 'all'")


def _check_pins(out: _Out, ctr: str | None, field: str, value: Any, m: Matrix) -> dict[str, str] | None:
    """The pins as strings, or None when any is bad (each bad one is a problem)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        out.add(ctr, field, value, "must be a mapping of component to version",
                f"write {field}: {{cann: '8.0.RC1'}} (components: {', '.join(PIN_COMPONENTS)})")
        return None
    pins: dict[str, str] = {}
    ok = True
    for name, raw in value.items():
        where = f"{field}.{name}"
        if name not in PIN_COMPONENTS:
            out.add(ctr, where, raw, f"unknown component {name!r}",
                    f"{_closest(name, PIN_COMPONENTS)}pin one of {', '.join(PIN_COMPONENTS)}")
            ok = False
            continue
        if raw is None or raw == "":
            continue
        label = COMPONENTS[name].label
        if isinstance(raw, bool):
            out.add(ctr, where, raw, f"a {label} version must be a string", f"write {where}: '<version>'")
            ok = False
            continue
        if name == "mindformers" and str(raw).lower() == "none":
            pins[name] = "none"
            continue
        text = str(raw)
        if isinstance(raw, (int, float)):
            out.add(ctr, where, raw, "was read as a number, so trailing zeros and dots may be lost",
                    f"quote it in YAML: {where}: '{raw}'")
            ok = False
            continue
        try:
            spec = parse_spec(text + ".*" if name == "python" and re.fullmatch(r"\d+\.\d+", text) else text, name)
        except VersionError:
            examples = ", ".join(COMPONENTS[name].examples)
            known = m.versions(name)[:5] if name in _KNOWN_PIN_VERSIONS else []
            listed = f"; known (newest first): {', '.join(map(str, known))}" if known else ""
            out.add(ctr, where, raw, f"not a valid {label} version{listed}",
                    f"write a {label} version like {examples}")
            ok = False
            continue
        if name in _KNOWN_PIN_VERSIONS and not _known(spec, m.versions(name)):
            known = m.versions(name)
            near = nearest_versions(spec.exact, known, 3) if spec.exact else known[:3]
            out.add(ctr, where, raw, f"unknown {label} version; nearest known: {', '.join(map(str, near))} "
                                     f"(newest: {known[0]})" if known else f"the matrix knows no {label} version",
                    f"pin a {label} version the matrix knows, or add a site row with source: local in an "
                    f"ascend_matrix_overrides file")
            ok = False
            continue
        pins[name] = text
    return pins if ok else None


def _known(spec: Spec, known: Sequence[Version]) -> bool:
    return any(spec.contains(v) for v in known)


# --- driver too old --------------------------------------------------------------------------------
def _hdk_driver_specs(m: Matrix, cann: Version, chip: Chip) -> list[Spec]:
    rows = [r for r in m.cann_hdk if r.cann == cann and chip.id in r.chips and r.driver]
    rel = m.release(cann)
    if not rows and rel is not None and rel.same_as is not None:
        rows = [r for r in m.cann_hdk if r.cann == rel.same_as and chip.id in r.chips and r.driver]
    return [s for r in rows for s in r.driver]


def _lower_bound(spec: Spec) -> Version | None:
    if spec.exact is not None:
        return spec.exact
    first = spec.canonical.split(",")[0]
    if first.startswith(">="):
        try:
            return Version.parse(first[2:], "driver")
        except VersionError:
            return None
    return None


def _driver_too_old(m: Matrix, chip: Chip, cann: Version, driver: Version) -> tuple[Version, list[Version]] | None:
    """(oldest driver CANN ``cann`` accepts, older CANNs ``driver`` supports) when ``driver`` is too old."""
    specs = _hdk_driver_specs(m, cann, chip)
    bounds = [b for b in map(_lower_bound, specs) if b is not None]
    if not bounds or any(s.contains(driver) for s in specs):
        return None
    lowest = min(bounds)
    if not driver < lowest:
        return None
    older = sorted({r.version for r in m.releases if r.version < cann
                    and any(s.contains(driver) for s in _hdk_driver_specs(m, r.version, chip))}, reverse=True)
    return lowest, older[:3]


def _conflict_problems(out: _Out, ctr: str, conflict: Conflict, pins: dict[str, str], host_pins: dict[str, str],
                       m: Matrix, chip: Chip) -> None:
    """One problem per violated rule; a driver too old for the pinned CANN is said plainly, once, and the other
    rules that only restate it (``torch_npu-driver`` ...) are left out."""
    old = None
    if any(v.rule == "cann-driver" for v in conflict.violations) and "cann" in pins and "driver" in pins:
        try:
            cann, driver = Version.parse(pins["cann"], "cann"), Version.parse(pins["driver"], "driver")
        except VersionError:
            pass
        else:
            old = _driver_too_old(m, chip, cann, driver)
    if old is not None:
        lowest, older = old
        field = "ascend_host_pins.driver" if host_pins.get("driver") == pins["driver"] else "pins.driver"
        alt = f" that driver {driver} supports ({', '.join(map(str, older))})" if older else ""
        out.add(ctr, field, pins["driver"], f"driver {driver} is older than CANN {cann} needs (>= {lowest})",
                f"upgrade the driver to {lowest} or newer (and set {field} to it), "
                f"or pin an older CANN{alt} in pins.cann")
    for v in conflict.violations:
        if old is not None and "driver" in v.rule.split("-"):
            continue
        src = f" [{v.source}]" if v.source else ""
        out.add(ctr, "pins", pins, f"no consistent stack: {v.message}{src}", v.fix)


# --- the store -------------------------------------------------------------------------------------
def read_manifest(store: Path) -> dict[str, Any] | None:
    """``store/manifest.json`` as a dict, None when absent; ValueError (with the reason) when unreadable."""
    path = store / "manifest.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ValueError(f"{path} must be {{\"files\": [{{\"path\", \"size\", \"mtime\", \"sha256\"}}]}}")
    return doc


#: the sha256 of store files already read, by path and stat (in the cache folder; see file_sha256)
SUMS_CACHE = "store-sha256.json"


def _stat_key(st: os.stat_result) -> list[int]:
    # size, mtime and ctime in ns, inode, device: a file rewritten, replaced or touched has another key (ctime is
    # set by the kernel on every change and no tool can set it back)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _read_sums_cache(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, key: tuple[int, ...]) -> str:
    """sha256 of a file whose stat is ``key``: from the cache file when a run already read it unchanged (each
    host's preflight runs in its own Ansible worker process, so an in-process cache alone would read a 2 GB CANN
    installer once per host), else read and added to the cache."""
    base = cache_dir()
    cache = base / SUMS_CACHE if base else None
    if cache is not None:
        hit = _read_sums_cache(cache).get(path)
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == list(key) and isinstance(hit[1], str):
            return hit[1]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        try:
            doc = _read_sums_cache(cache)
            doc = {p: v for p, v in doc.items() if Path(p).exists()} if len(doc) > 2048 else doc
            doc[path] = [list(key), digest]
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            tmp.replace(cache)          # atomic: workers writing at once lose an entry at worst, never the file
        except OSError:
            pass  # a read-only home: no cache, same result
    return digest


def file_sha256(path: Path) -> str:
    """sha256 of a store file (the manifest's and the preflight's checksum; one function for both).  Read once per
    file version: later runs and other hosts' checks take it from the cache while the file's stat is unchanged.
    What the cache cannot see (bits rotting on disk under an unchanged stat) the hosts still catch: every file is
    checked against the manifest's sha256 where it lands."""
    st = path.stat()
    return _sha256(str(path.resolve()), tuple(_stat_key(st)))


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@dataclass(frozen=True)
class _Wheel:
    file: str
    dist: str
    version: PyVersion
    python: tuple[str, ...]
    abi: tuple[str, ...]
    platform: tuple[str, ...]


def _parse_wheel(name: str) -> _Wheel | None:
    """A PEP 427 file name ``{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl``."""
    if not name.endswith(".whl"):
        return None
    parts = name[:-4].split("-")
    if len(parts) not in (5, 6):
        return None
    try:
        version = PyVersion(parts[1])
    except InvalidVersion:
        return None
    return _Wheel(name, _norm_dist(parts[0]), version, tuple(parts[-3].split(".")), tuple(parts[-2].split(".")),
                  tuple(parts[-1].split(".")))


def _wheel_arch_ok(w: _Wheel, arch: Arch) -> bool:
    return any(p == "any" or p.endswith(arch.wheel) for p in w.platform)


def _wheel_python_ok(w: _Wheel, python: Version | None) -> bool:
    if python is None:
        return True
    major, minor = (*python.release, 0, 0)[:2]
    for tag in w.python:
        if tag in ("py3", f"py{major}{minor}", f"cp{major}{minor}"):
            return True
        m = re.fullmatch(r"cp(\d)(\d+)", tag)
        if m and "abi3" in w.abi and (int(m[1]), int(m[2])) <= (major, minor):
            return True
    return False


def needed_artefacts(stack: Stack, nnal: bool) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """What a container needs: ({part: .run file name}, [(distribution, version)])."""
    runs = {k: stack.installers[k] for k in _RUN_PARTS if k in stack.installers and (k != "nnal" or nnal)}
    names = ("torch", "torch_npu") if stack.framework == "torch" else ("mindspore", "mindformers")
    wheels = [(n, str(stack.version(n))) for n in names if stack.version(n) is not None]
    return runs, wheels


class _Store:
    """The file names of one store (listed once) and its manifest."""

    def __init__(self, root: Path, manifest: Mapping[str, Any] | None):
        self.root = root
        self.runs = {p.name for p in (root / "runs").iterdir() if p.is_file()} if (root / "runs").is_dir() else set()
        wheel_dir = root / "wheels"
        listed = [_parse_wheel(p.name) for p in wheel_dir.iterdir()] if wheel_dir.is_dir() else []
        self.wheels = [w for w in listed if w is not None]
        files = (manifest or {}).get("files") or []
        self.sums = {str(e.get("path")): str(e.get("sha256")) for e in files if isinstance(e, Mapping)}

    def wheels_of(self, dist: str, version: str) -> list[_Wheel]:
        want = PyVersion(version)
        return [w for w in self.wheels if w.dist == _norm_dist(dist) and w.version.public == want.public]


def _check_store(out: _Out, ctr: str, stack: Stack, nnal: bool, store: _Store, offline: bool, m: Matrix) -> None:
    runs, wheels = needed_artefacts(stack, nnal)
    arch, chip, cann = stack.arch, stack.chip, stack.version("cann")
    missing: list[str] = []
    present: list[str] = []
    for part, name in runs.items():
        if name in store.runs:
            present.append(f"runs/{name}")
            continue
        explained = False
        if arch is not None and cann is not None:
            other_arch = next(a for a in Arch if a is not arch)
            other = installer_names(m, cann, chip, other_arch).get(part)
            if other and other != name and other in store.runs:
                out.add(ctr, "ascend_arch", arch.value,
                        f"the store has {other} (for {other_arch.value}) but this {arch.value} host needs {name}",
                        f"put {name} in {store.root / 'runs'}/ (the {other_arch.value} file cannot install here), "
                        f"or set ascend_arch to the host's real architecture")
                explained = True
        if part == "kernels" and chip is not None and cann is not None and not explained:
            others = sorted({installer_names(m, cann, c, arch).get("kernels", "") for c in m.chips
                             if c.file_chip != chip.file_chip} & store.runs)
            if others:
                out.add(ctr, "ascend_chip", chip.id,
                        f"the store has CANN {cann} kernels only for another chip ({', '.join(others)}); "
                        f"this {chip.id} host needs {name}",
                        f"put {name} in {store.root / 'runs'}/ (kernels are chip-specific), "
                        f"or set ascend_chip to the host's real chip")
                explained = True
        if offline and not explained:
            missing.append(f"runs/{name}")
    python = stack.version("python")
    for dist, version in wheels:
        found = store.wheels_of(dist, version)
        good = [w for w in found if arch is None or _wheel_arch_ok(w, arch)]
        good = [w for w in good if _wheel_python_ok(w, python)]
        if good:
            present.append(f"wheels/{good[0].file}")
            continue
        if found and arch is not None and not any(_wheel_arch_ok(w, arch) for w in found):
            out.add(ctr, "ascend_arch", arch.value,
                    f"the store has {', '.join(w.file for w in found)} but no {dist} {version} wheel for {arch.value}",
                    f"put a {dist}=={version} wheel for {arch.value} (or a pure-Python one) in "
                    f"{store.root / 'wheels'}/ "
                    f"(pip download --only-binary=:all: --platform manylinux2014_{arch.wheel} ...)")
        elif found:
            out.add(ctr, "pins.python", str(python),
                    f"the store has {', '.join(w.file for w in found)} but none for Python {python}",
                    f"put a {dist}=={version} wheel for Python {python} in {store.root / 'wheels'}/, "
                    f"or pin the Python those wheels are built for in pins.python")
        elif offline:
            missing.append(f"wheels/{dist}-{version}-*.whl")
    if missing:
        reqs = " ".join(f"{d.replace('_', '-')}=={v}" for d, v in wheels)
        out.add(ctr, "ascend_offline", True,
                f"the offline store {store.root} lacks what this container needs: {', '.join(missing)}",
                f"put the .run installers in {store.root / 'runs'}/ and the wheels in {store.root / 'wheels'}/ "
                f"(e.g. pip download --only-binary=:all: --dest {store.root / 'wheels'} {reqs}), "
                f"then refresh manifest.json; or set ascend_offline: false")
    _verify_sums(out, store, present)


def _verify_sums(out: _Out, store: _Store, present: Iterable[str]) -> None:
    for rel in present:
        want = store.sums.get(rel)
        if want is None:
            continue
        have = file_sha256(store.root / rel)
        if have != want:
            out.add(None, "ascend_offline_store", str(store.root / rel),
                    f"checksum mismatch: sha256 {have} but manifest.json says {want}",
                    "the file is corrupt or was replaced: delete it and re-fetch it (re-download it, or run "
                    "`python -m ascend_env lab store` for the lab store), then refresh manifest.json")


# --- the conda environment (ascend_python_provider: conda) ------------------------------------------------------
def _provider(out: _Out, ctr: str | None, field: str, value: Any) -> str | None:
    if value is None:
        return None
    if value not in conda_env.PROVIDERS:
        out.add(ctr, field, value, "is not a Python environment provider this version has",
                f"{_closest(str(value), conda_env.PROVIDERS)}use venv (a venv of the image's python3) or conda "
                "(a conda environment with the stack's Python)")
        return None
    return str(value)


def _channel_pythons(store: _Store, sub: str) -> tuple[dict[str, list[str]], str | None]:
    """``{version: [store paths of its packages]}`` of the python packages in the store's channel
    (``conda/channel/<sub>/repodata.json``), or why the channel cannot be read."""
    rel = f"{conda_env.STORE_CHANNEL}/{sub}/repodata.json"
    missing = [r for r in (f"{conda_env.STORE_CHANNEL}/noarch/repodata.json", rel) if r not in store.sums]
    if missing:
        return {}, f"manifest.json lists no {' and no '.join(missing)}"
    try:
        doc = json.loads((store.root / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"{rel} cannot be read ({exc})"
    out: dict[str, list[str]] = {}
    for key in ("packages", "packages.conda"):
        for filename, r in (doc.get(key) or {}).items():
            if isinstance(r, Mapping) and r.get("name") == "python":
                out.setdefault(str(r.get("version")), []).append(f"{conda_env.STORE_CHANNEL}/{sub}/{filename}")
    return out, None


def _check_conda(out: _Out, ctr: str, hv: Mapping[str, Any], stack: Stack, arch: Arch, store: _Store | None,
                 offline: bool) -> None:
    """The settings of a conda environment, and what it needs from the store."""
    # where the environment sees the store: the container's mount, as the fleet plan has it (ascend_env.plan.planner)
    mount = str(hv.get("ascend_container_store_mount") or "/opt/ascend-store")
    settings = {"conda_prefix": hv.get("ascend_conda_prefix"), "env_name": hv.get("ascend_python_env_name"),
                "stack": stack.to_dict(), "installer": hv.get("ascend_conda_installer"),
                "channels": hv.get("ascend_conda_channels"), "store": mount, "offline": offline, "arch": arch.value,
                "tool_venv": hv.get("ascend_python_conda_tool_venv")}
    try:
        plan = conda_env.conda_plan(settings)
    except conda_env.CondaSettingError as exc:
        out.add(ctr, exc.field, exc.value, exc.message, exc.fix)
        return
    own_channel = f"file://{plan['store']}/{conda_env.STORE_CHANNEL}"
    if store is None:
        if plan["channels"] == [own_channel]:
            out.add(ctr, "ascend_conda_channels", [], "the conda environment comes from the store's channel by "
                    "default, but no artefact store is set", "set ascend_offline_store (with conda/channel in it), "
                    "or set ascend_conda_channels to your site's conda mirror")
        return
    present: list[str] = []
    if plan["installer"] == conda_env.RATTLER:
        wheels = [w for w in store.wheels if w.dist == conda_env.RATTLER_DIST and _wheel_arch_ok(w, arch)]
        if wheels:
            present.append(f"wheels/{sorted(wheels, key=lambda w: w.version)[-1].file}")
        elif offline:
            out.add(ctr, "ascend_conda_installer", conda_env.RATTLER, f"the rattler installer needs the py-rattler "
                    f"wheel for {arch.value} in the store, which has none",
                    f"put it in {store.root / 'wheels'}/ (pip download --only-binary=:all: --platform "
                    f"manylinux2014_{arch.wheel} --python-version 3.10 --dest {store.root / 'wheels'} py-rattler) "
                    "and refresh manifest.json, or name a Miniforge/Miniconda installer in ascend_conda_installer")
    else:
        rel = f"{conda_env.INSTALLERS_DIR}/{plan['installer']}"
        if rel in store.sums:
            present.append(rel)
        else:
            out.add(ctr, "ascend_conda_installer", plan["installer"], f"manifest.json of {store.root} lists no {rel}",
                    f"put the installer in {store.root / conda_env.INSTALLERS_DIR}/ and refresh manifest.json "
                    "(it is checked by sha256 like every artefact), or set ascend_conda_installer: rattler")
    if plan["channels"] == [own_channel]:
        pythons, problem = _channel_pythons(store, plan["subdir"])
        chan = store.root / conda_env.STORE_CHANNEL
        versions = sorted(pythons, key=lambda v: [int(x) for x in re.findall(r"\d+", v)])
        allowed = [v for v in versions if conda_env.spec_allows(plan["python_spec"], v)]
        if problem:
            out.add(ctr, "ascend_conda_channels", [], f"the store's conda channel {chan} is not usable: {problem}",
                    f"put an indexed channel there (noarch/ and {plan['subdir']}/ with repodata.json, python and "
                    "pip; the lab builds one: python -m ascend_env lab store --conda) and refresh manifest.json, "
                    "or set ascend_conda_channels to your site's mirror")
        elif not allowed:
            minors = sorted({".".join(v.split(".")[:2]) for v in versions})
            out.add(ctr, "pins.python", plan["python"], f"the store's conda channel {chan} has no python "
                    f"{plan['python_spec']} for {plan['subdir']} (it has {', '.join(versions) or 'no python'})",
                    f"add that Python to the channel, or pin one it has ({', '.join(minors) or 'none'}) if the stack "
                    "allows it")
        else:
            present += [f"{conda_env.STORE_CHANNEL}/noarch/repodata.json",
                        f"{conda_env.STORE_CHANNEL}/{plan['subdir']}/repodata.json", *pythons[allowed[-1]]]
    _verify_sums(out, store, present)


# --- driver/firmware installs (ascend_driver_manage) ------------------------------------------------------
def _check_hdk(out: _Out, host_pins: Mapping[str, str], chip: Chip, arch: Arch, store: _Store | None,
               m: Matrix) -> None:
    """The HDK packages the ascend_driver role would install are named by the pins and are in the store."""
    if not host_pins.get("driver") and not host_pins.get("firmware"):
        out.add(None, "ascend_host_pins", dict(host_pins), "ascend_driver_manage is true but the pins name no "
                "driver or firmware to install", "set ascend_host_pins: {driver: <HDK driver>, firmware: "
                "<firmware>} to the versions to install, or set ascend_driver_manage: false")
        return
    versions = [Version.parse(host_pins[k], k) if host_pins.get(k) else None for k in ("driver", "firmware")]
    names = installer_names(m, None, chip, arch, *versions)
    if store is None:
        out.add(None, "ascend_offline_store", None, "ascend_driver_manage is true but no artefact store is set; "
                "the driver and firmware are installed from it", f"set ascend_offline_store to a folder whose "
                f"runs/ holds {', '.join(names.values())}")
        return
    present = []
    for part, name in names.items():
        if name in store.runs:
            present.append(f"runs/{name}")
            continue
        other_arch = next(a for a in Arch if a is not arch)
        other = installer_names(m, None, chip, other_arch, *versions).get(part)
        hint = (f" (the store has {other}, for {other_arch.value}; the driver is built per architecture)"
                if other and other != name and other in store.runs else "")
        out.add(None, "ascend_host_pins", f"{part}={host_pins[part]}",
                f"ascend_driver_manage needs {name} in the store, which lacks it{hint}",
                f"put {name} in {store.root / 'runs'}/ and refresh manifest.json, or pin the {part} that is there")
    _verify_sums(out, store, present)


# --- the host --------------------------------------------------------------------------------------
def _container_name(out: _Out, index: int, c: Mapping[str, Any]) -> tuple[str, bool]:
    label = f"#{index + 1}"
    if "name" not in c or c["name"] in (None, ""):
        out.add(label, "name", None, "the container has no name",
                "give it name: <name> ([a-zA-Z0-9][a-zA-Z0-9_.-]*, unique on the host)")
        return label, False
    name = c["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        out.add(label, "name", name, "is not a valid container name",
                "use letters, digits, '_', '.' and '-', starting with a letter or digit")
        return label, False
    return name, True


def known_variables(roles_dir: Path) -> frozenset[str]:
    """Every variable the roles declare in ``meta/argument_specs.yml``, plus :data:`INVENTORY_VARIABLES`."""
    names = set(INVENTORY_VARIABLES)
    for spec in sorted(roles_dir.glob("*/meta/argument_specs.yml")):
        doc = safe_load(spec.read_text(encoding="utf-8")) or {}
        for entry in (doc.get("argument_specs") or {}).values():
            names.update((entry or {}).get("options") or {})
    return frozenset(names)


def _check_names(out: _Out, hv: Mapping[str, Any], known: frozenset[str]) -> None:
    for name in sorted(hv):
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
        if close:
            out.add(None, name, hv[name], "unknown variable, so Ansible ignores it and the default applies",
                    f"did you mean {close[0]!r}? Rename it")


@dataclass
class _Host:
    """What one host's checks share: where problems go, its variables, the matrix, and what the host-level checks
    found (chip, arch, pins, store...) for the containers' checks."""

    out: _Out
    hv: dict[str, Any]
    m: Matrix
    resolver: Callable[[Matrix, Request], Stack | Conflict]
    chip: Chip | None = None
    arch: Arch | None = None
    offline: bool = False
    npu_count: int | None = None
    host_pins: dict[str, str] | None = None
    provider: str = "venv"
    store: _Store | None = None


def check_host(host: str, hostvars: Mapping[str, Any], matrix: Matrix, manifest: Mapping[str, Any] | None,
               store: Path | None, known: frozenset[str] | None = None,
               resolver: Callable[[Matrix, Request], Stack | Conflict] = resolve) -> list[Problem]:
    """Every problem of one host's variables; ``store``/``manifest`` are the offline store and its manifest;
    ``known`` (see :func:`known_variables`): report ``ascend_*`` names close to a known one as misspelt."""
    hv = _plain({k: hostvars[k] for k in list(hostvars) if str(k).startswith("ascend_")})
    conn = _plain({k: hostvars[k] for k in CONNECTION_VARIABLES if k in hostvars})
    h = _Host(_Out(host), hv, matrix, resolver)
    if known is not None:
        _check_names(h.out, hv, known)
    _check_connection(h.out, conn, hv)
    h.chip, h.arch = _check_chip(h.out, hv, matrix), _check_arch(h.out, hv)
    # offline by default when a store is set: the containers' pip then installs from the store only
    h.offline = _check_bool(h.out, None, "ascend_offline",
                            hv.get("ascend_offline", bool(hv.get("ascend_offline_store"))), False)
    _check_password(h.out, hv)
    _check_artifacts(h.out, hv)
    containers_on = _check_engine(h.out, hv)
    h.npu_count = _check_npu_count(h.out, hv)
    h.host_pins = _check_pins(h.out, None, "ascend_host_pins", hv.get("ascend_host_pins"), matrix)
    h.provider = _provider(h.out, None, "ascend_python_provider", hv.get("ascend_python_provider")) or "venv"
    h.store = _open_store(h.out, hv, store, manifest, h.offline)
    containers = _container_list(h.out, hv)
    seen: dict[str, int] = {}
    ports: dict[int, list[tuple[str, bool]]] = {}
    for i, c in enumerate(containers):
        _check_container(h, i, c, seen, ports)
    _check_ranktable(h.out, hv, h.chip, h.npu_count, matrix)
    manage = _check_bool(h.out, None, "ascend_driver_manage", hv.get("ascend_driver_manage", False), False)
    if manage and h.host_pins is not None and h.chip is not None and h.arch is not None:
        _check_hdk(h.out, h.host_pins, h.chip, h.arch, h.store, matrix)
    if not containers_on:
        _check_host_mode(h.out, containers)
        ports = {}
    _check_port_clashes(h.out, ports)
    return h.out.items


def _check_chip(out: _Out, hv: Mapping[str, Any], m: Matrix) -> Chip | None:
    known = ", ".join(c.id for c in m.chips)
    if hv.get("ascend_chip") in (None, ""):
        out.add(None, "ascend_chip", None, "is not set", f"set ascend_chip to one of {known}")
        return None
    try:
        return m.chip(str(hv["ascend_chip"]))
    except VersionError as exc:
        out.add(None, "ascend_chip", hv["ascend_chip"], str(exc).split(";")[0], f"set ascend_chip to one of {known}")
        return None


def _check_arch(out: _Out, hv: Mapping[str, Any]) -> Arch | None:
    if hv.get("ascend_arch") in (None, ""):
        out.add(None, "ascend_arch", None, "is not set", "set ascend_arch: x86_64 or ascend_arch: aarch64")
        return None
    try:
        return Arch.parse(hv["ascend_arch"])
    except VersionError:
        out.add(None, "ascend_arch", hv["ascend_arch"], "unknown architecture",
                "set ascend_arch: x86_64 or ascend_arch: aarch64")
        return None


def _check_engine(out: _Out, hv: Mapping[str, Any]) -> bool:
    """ascend_container_enabled, the runtime and the engine's command; whether the host runs containers."""
    containers_on = _check_bool(out, None, "ascend_container_enabled", hv.get("ascend_container_enabled", True), True)
    runtime = hv.get("ascend_container_runtime", "docker")
    if runtime not in RUNTIMES:
        out.add(None, "ascend_container_runtime", runtime, "unknown container runtime",
                f"{_closest(str(runtime), RUNTIMES)}use docker or isula")
    if hv.get("ascend_container_cli") not in (None, ""):
        try:
            hostvalues.engine_cli(hv["ascend_container_cli"])
        except hostvalues.HostValueError as exc:
            out.add(None, "ascend_container_cli", hv["ascend_container_cli"], exc.message, exc.fix)
    return containers_on


def _check_npu_count(out: _Out, hv: Mapping[str, Any]) -> int | None:
    npu_count = hv.get("ascend_npu_count")
    if isinstance(npu_count, str) and npu_count.strip().isdigit():
        npu_count = int(npu_count)
    if npu_count is not None and (isinstance(npu_count, bool) or not isinstance(npu_count, int) or npu_count < 0):
        out.add(None, "ascend_npu_count", npu_count, "must be a non-negative integer (the host's NPU devices)",
                "leave it unset, or let the driver-check role set it")
        return None
    return npu_count


def _open_store(out: _Out, hv: Mapping[str, Any], store: Path | None, manifest: Mapping[str, Any] | None,
                offline: bool) -> _Store | None:
    """The offline store, when there is one to check artefacts against."""
    if store is None:
        if offline:
            out.add(None, "ascend_offline_store", hv.get("ascend_offline_store"),
                    "ascend_offline is true but no store is set",
                    "set ascend_offline_store to the controller path of the store (runs/, wheels/, manifest.json)")
        return None
    if not store.is_dir():
        if offline:
            out.add(None, "ascend_offline_store", str(store), "the store does not exist on the controller",
                    "fix the path, or create the store (runs/, wheels/, images/, manifest.json) there")
        return None
    if offline and manifest is None:
        out.add(None, "ascend_offline_store", str(store), "the store has no manifest.json, so no file can be "
                                                          "verified", "write it: python -m ascend_env lab store "
                                                                      "(or any tool writing the same manifest)")
    return _Store(store, manifest)


def _container_list(out: _Out, hv: Mapping[str, Any]) -> list[Any]:
    containers = hv.get("ascend_containers", [])
    if containers is None:
        return []
    if not isinstance(containers, list):
        out.add(None, "ascend_containers", containers, "must be a list of containers",
                "write ascend_containers: [{name: ..., framework: ..., pins: {...}}]")
        return []
    return containers


def _check_container(h: _Host, i: int, c: Any, seen: dict[str, int],
                     ports: dict[int, list[tuple[str, bool]]]) -> None:
    """One entry of ascend_containers: its own keys and values, then its stack (resolved) and what it needs."""
    out = h.out
    if not isinstance(c, Mapping):
        out.add(f"#{i + 1}", "ascend_containers", c, "a container must be a mapping",
                "write it as {name: ..., framework: ..., pins: {...}}")
        return
    name, named = _container_name(out, i, c)
    if named and name in seen:
        out.add(name, "name", name, f"containers #{seen[name] + 1} and #{i + 1} on this host share the name",
                "give every container on a host its own name")
    elif named:
        seen[name] = i
    for key in c:
        if key not in CONTAINER_KEYS:
            out.add(name, str(key), c[key], "unknown container key",
                    f"{_closest(str(key), CONTAINER_KEYS)}known keys: {', '.join(CONTAINER_KEYS)}")
    enabled = _check_bool(out, name, "enabled", c.get("enabled", True), True)
    nnal = _check_bool(out, name, "nnal", c.get("nnal", False), False)
    image = c.get("image", CONTAINER_DEFAULTS["image"])
    if not isinstance(image, str) or not _IMAGE_RE.match(image):
        out.add(name, "image", image, "is not a valid image reference",
                f"write image: <repository>:<tag> (default {CONTAINER_DEFAULTS['image']})")
    _check_devices(out, name, c.get("devices", CONTAINER_DEFAULTS["devices"]), h.npu_count)
    _check_mounts(out, name, c.get("mounts", []))
    port = _check_port(out, name, c.get("ssh_port", CONTAINER_DEFAULTS["ssh_port"]))
    if port is not None and enabled:
        ports.setdefault(port, []).append((name, "ssh_port" not in c))
    framework = c.get("framework")
    if framework is not None and framework not in FRAMEWORKS:
        out.add(name, "framework", framework, "unknown framework",
                f"{_closest(str(framework), FRAMEWORKS)}use framework: mindspore or framework: torch")
        return
    _check_container_stack(h, name, c, framework, enabled, nnal)


def _check_container_stack(h: _Host, name: str, c: Mapping[str, Any], framework: Any, enabled: bool,
                           nnal: bool) -> None:
    """The container's stack resolved from the host's and its own pins, and what it needs (NNAL, the store's
    artefacts, a conda environment)."""
    out, m = h.out, h.m
    pins = _check_pins(out, name, "pins", c.get("pins"), m)
    if pins is None or h.host_pins is None or h.chip is None or h.arch is None:
        return
    merged = {**h.host_pins, **pins}
    result = h.resolver(m, Request(chip=h.chip.id, arch=h.arch.value, framework=framework, pins=merged))
    if isinstance(result, Conflict):
        _conflict_problems(out, name, result, merged, h.host_pins, m, h.chip)
        return
    if result.framework is None:
        out.add(name, "framework", None, "no framework is set and none follows from the pins",
                "add framework: mindspore or framework: torch")
        return
    if nnal and "nnal" not in result.installers:
        first = next((str(r.versions) for r in m.installers if r.component == "nnal"), "?")
        out.add(name, "nnal", True, f"CANN {result.version('cann')} has no NNAL package (NNAL exists for CANN "
                                    f"{first})", "set nnal: false, or pin a CANN that has NNAL in pins.cann")
    if enabled and h.store is not None:
        _check_store(out, name, result, nnal, h.store, h.offline, m)
    provider = _provider(out, name, "python_provider", c.get("python_provider")) or h.provider
    if enabled and provider == "conda":
        _check_conda(out, name, h.hv, result, h.arch, h.store, h.offline)


def _check_port_clashes(out: _Out, ports: dict[int, list[tuple[str, bool]]]) -> None:
    """Two enabled containers of one host on one sshd port."""
    used = set(ports)
    for port, users in ports.items():
        for other, defaulted in users[1:]:
            free = next(p for p in range(port + 1, 65536) if p not in used)
            used.add(free)
            default = " (the default)" if defaulted else ""
            out.add(other, "ssh_port", port, f"port {port}{default} is already used by container {users[0][0]} "
                                             f"on this host; both {users[0][0]} and {other} would listen on it",
                    f"give {other} its own ssh_port (e.g. ssh_port: {free})")


def _check_connection(out: _Out, conn: Mapping[str, Any], hv: Mapping[str, Any]) -> None:
    """ansible_host, ansible_port, ansible_user: what the roles put on ssh and rsync command lines."""
    checks = (("ansible_host", hostvalues.ssh_host), ("ansible_port", hostvalues.ssh_port),
              ("ansible_user", hostvalues.ssh_user))
    for name, check in checks:
        if conn.get(name) in (None, ""):
            continue
        try:
            check(conn[name], name)
        except hostvalues.HostValueError as exc:
            out.add(None, name, conn[name], exc.message, exc.fix)
    for name in _PATH_VARIABLES:
        value = conn.get(name) if name in conn else hv.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not _SAFE_PATH_RE.match(value) or "/../" in value + "/":
            out.add(None, name, value, "must be an absolute path of letters, digits and . _ - + / (no spaces, "
                                       "quotes or shell characters: it reaches ssh and rsync command lines)",
                    f"use a plain absolute path, e.g. {_PATH_EXAMPLES[name]} (a symlink can point elsewhere)")


def _check_ranktable(out: _Out, hv: Mapping[str, Any], chip: Chip | None, npu_count: int | None, m: Matrix) -> None:
    """ascend_ranktable_enabled (the host's environments take part in the fleet's HCCL rank table) and its settings."""
    from .ranktable import parse_devices

    if not _check_bool(out, None, "ascend_ranktable_enabled", hv.get("ascend_ranktable_enabled", False), False):
        return
    roce = sorted({c for r in m.rank_tables for c in r.chips})
    if chip is not None and chip.id not in roce:
        out.add(None, "ascend_ranktable_enabled", True,
                f"a {chip.id} host has no NPU RoCE ports to join an HCCL cluster",
                f"leave ascend_ranktable_enabled unset on this host (chips with a rank table format: "
                f"{', '.join(roce)})")
    try:
        devices = parse_devices(hv.get("ascend_ranktable_devices") or None)
    except ValueError as exc:
        out.add(None, "ascend_ranktable_devices", hv.get("ascend_ranktable_devices"), str(exc).split(": ", 1)[1],
                "write the devices as 0-7 or 0,1,4-5 (empty: all of the host's NPUs)")
        devices = None
    if devices and npu_count is not None and max(devices) >= npu_count:
        out.add(None, "ascend_ranktable_devices", hv.get("ascend_ranktable_devices"),
                f"device {max(devices)} is not on this host (it has {npu_count})", f"use devices 0-{npu_count - 1}")
    fmt = hv.get("ascend_ranktable_format", "auto")
    if fmt not in ("auto", "1.0", "1.2"):
        out.add(None, "ascend_ranktable_format", fmt, "unknown rank table format", 'use auto, "1.0" or "1.2"')
    path = hv.get("ascend_ranktable_path", "/etc/ascend-env/hccl.json")
    if not isinstance(path, str) or not path.startswith("/"):
        out.add(None, "ascend_ranktable_path", path, "must be an absolute path inside the environment",
                "e.g. ascend_ranktable_path: /etc/ascend-env/hccl.json")
    port = hv.get("ascend_ranktable_collective_port", 29500)
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
        out.add(None, "ascend_ranktable_collective_port", port, "must be a port number 1024-65535",
                "e.g. ascend_ranktable_collective_port: 29500 (free on the first host of the table)")


def _manifest_for(store: Path | None, cache: dict[Path, tuple[dict[str, Any] | None, str]]
                  ) -> tuple[dict[str, Any] | None, str]:
    if store is None:
        return None, ""
    if store not in cache:
        try:
            cache[store] = (read_manifest(store) if store.is_dir() else None, "")
        except ValueError as exc:
            cache[store] = (None, str(exc))
    return cache[store]


def check_fleet(hostvars_by_host: Mapping[str, Mapping[str, Any]], matrix: Matrix,
                store_path: str | Path | None = None, known: frozenset[str] | None = None,
                resolver: Callable[[Matrix, Request], Stack | Conflict] = resolve) -> list[Problem]:
    """:func:`check_host` for every host.  A host's ``ascend_offline_store`` overrides ``store_path``; each
    store's ``manifest.json`` is read once."""
    cache: dict[Path, tuple[dict[str, Any] | None, str]] = {}
    problems: list[Problem] = []
    for host, hv in hostvars_by_host.items():
        raw = hv.get("ascend_offline_store") or store_path
        store = Path(str(raw)).expanduser() if raw else None
        manifest, error = _manifest_for(store, cache)
        if error:
            problems.append(Problem(host, None, "ascend_offline_store", str(store), f"manifest.json is unusable: "
                                    f"{error}", "regenerate it: python -m ascend_env lab store (or fix the JSON)"))
        problems += check_host(str(host), hv, matrix, manifest, store, known, resolver)
    return problems
