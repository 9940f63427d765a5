"""Read an Ansible inventory the way Ansible does (``ansible-inventory --list``), for the doctor and the testinfra
suite; and derive from it what site.yml builds (the containers each host carries), with the same naming rule as
the ascend_ssh role's ``add_host``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AscendEnvError


class InventoryError(AscendEnvError, ValueError):
    """The inventory cannot be read; the message names the file and the fix."""


def ansible_inventory_exe() -> str | None:
    """``ansible-inventory`` on PATH, else beside this Python (a venv that is not activated)."""
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else None


_EXAMPLE = "see inventory/example/hosts.yml: all: {children: {ascend_hosts: {hosts: {npu-a: {ansible_host: ...}}}}}"


def _yaml_ignoring_tags(text: str) -> Any:
    """YAML as Ansible reads it: ``!vault`` and ``!unsafe`` values are strings here (only the shape is checked)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def _any(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    _Loader.add_multi_constructor("!", _any)
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def check_inventory_file(path: str | Path) -> None:
    """What ``ansible-inventory`` would read silently as an empty inventory, or fail on with a traceback: a missing
    path, a file that is not UTF-8, an empty or unparseable YAML file, a YAML file whose top level is not a mapping.
    Raises :class:`InventoryError` naming the file and the fix; folders and INI files are left to Ansible."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise InventoryError(f"inventory {path} does not exist; give the path of your inventory file or folder with "
                             f"-i/--inventory (e.g. inventory/hosts.yml, or .lab/inventory/hosts.yml for the lab)")
    if p.is_dir():
        return
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InventoryError(f"inventory {path} cannot be read: {e.strerror or e}; check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InventoryError(f"inventory {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); "
                             "save it as UTF-8 (e.g. iconv -f GBK -t UTF-8)") from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise InventoryError(f"inventory {path} is empty; list your NPU servers in it ({_EXAMPLE})")
    if p.suffix.lower() not in (".yml", ".yaml", ".json"):
        return  # an INI inventory (or a script): Ansible says what is wrong with it
    try:
        doc = _yaml_ignoring_tags(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InventoryError(f"inventory {path} is not valid YAML{at}: {what}; fix the syntax there") from None
    if doc is None:
        raise InventoryError(f"inventory {path} is empty; list your NPU servers in it ({_EXAMPLE})")
    if not isinstance(doc, dict):
        raise InventoryError(f"inventory {path}: the top level is a {type(doc).__name__}, not a mapping of groups; "
                             f"write it as groups with hosts ({_EXAMPLE})")


def _ansible_error(stderr: str) -> str:
    """The lines of ansible-inventory's stderr that say what is wrong (not Python's deprecation warnings)."""
    keep = [ln.strip() for ln in stderr.splitlines()
            if ln.strip() and "Warning:" not in ln and not ln.startswith("  from ") and "caused by" not in ln]
    text = " ".join(keep)
    return text[-400:] or "no message"


def read_inventory(path: str | Path, require_hosts: bool = True) -> dict[str, Any]:
    """``ansible-inventory -i path --list`` as a dict (group_vars, host_vars and vault handled by Ansible).

    A path Ansible cannot parse is an error here (Ansible itself would go on with an empty inventory), and so is an
    inventory without a single host (``require_hosts``): a command that reads no host must not report success."""
    check_inventory_file(path)
    exe = ansible_inventory_exe()
    if exe is None:
        raise InventoryError("reading an inventory needs ansible-inventory (pip install -e '.[ansible]')")
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
           "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True", "PYTHONWARNINGS": "ignore"}
    cp = subprocess.run([exe, "-i", str(path), "--list"], capture_output=True, text=True, check=False, env=env,
                        errors="replace")
    if cp.returncode != 0 or not cp.stdout.strip():
        raise InventoryError(f"inventory {path} cannot be read by Ansible: {_ansible_error(cp.stderr)}; "
                             "fix the file (ansible-inventory -i PATH --list shows what Ansible reads)")
    try:
        data: dict[str, Any] = json.loads(cp.stdout)
    except ValueError as e:
        raise InventoryError(f"inventory {path}: ansible-inventory printed no JSON ({e})") from None
    if require_hosts and not (data.get("_meta") or {}).get("hostvars") and not _any_host(data):
        raise InventoryError(f"inventory {path} has no hosts: nothing to check; list your NPU servers under a group "
                             f"({_EXAMPLE})")
    return data


def _any_host(data: Mapping[str, Any]) -> bool:
    return any(isinstance(g, Mapping) and g.get("hosts") for k, g in data.items() if k != "_meta")


def group_hosts(data: dict[str, Any], group: str) -> list[str]:
    """Hosts of ``group`` including its children, in inventory order."""
    out: list[str] = []
    g = data.get(group, {})
    for h in g.get("hosts", []):
        if h not in out:
            out.append(h)
    for child in g.get("children", []):
        out += [h for h in group_hosts(data, child) if h not in out]
    return out


def enabled_containers(hostvars: dict[str, Any]) -> list[dict[str, Any]]:
    """The host's ``ascend_containers`` that site.yml creates (``enabled`` missing or true)."""
    return [c for c in hostvars.get("ascend_containers") or []
            if isinstance(c, dict) and c.get("name") and c.get("enabled", True) is True]


@dataclass(frozen=True)
class EnvTarget:
    """One environment site.yml builds, and how to reach it over SSH (as ascend_ssh's add_host does): a container,
    or the host itself when the host has ``ascend_container_enabled: false``."""

    name: str           # "<host>-<container>", the inventory name in group ascend_envs
    host: str           # the NPU host's inventory name
    container: dict[str, Any]
    address: str
    port: int
    on_host: bool = False   # host mode: the environment is the host itself
    root: str = ""          # host mode: the host's filesystem root ('' for /), where the environment's paths live


def host_env_targets(host: str, hv: Mapping[str, Any], port_default: int = 223) -> list[EnvTarget]:
    """The environments site.yml builds on one host and where each is reached (as ascend_ssh's add_host does)."""
    if hv.get("ascend_container_enabled", True) is False:
        return [EnvTarget(f"{host}-{c['name']}", host, c, str(hv.get("ansible_host", host)),
                          int(hv.get("ansible_port", 22)), True, str(hv.get("ascend_host_root") or "/").rstrip("/"))
                for c in enabled_containers(dict(hv))[:1]]
    return [EnvTarget(f"{host}-{c['name']}", host, c, str(hv.get("ansible_host", host)),
                      int(c.get("ssh_port", port_default))) for c in enabled_containers(dict(hv))]


def env_targets(data: dict[str, Any], group: str = "ascend_hosts", port_default: int = 223) -> list[EnvTarget]:
    hostvars = data.get("_meta", {}).get("hostvars", {})
    return [t for h in group_hosts(data, group) for t in host_env_targets(h, hostvars.get(h, {}), port_default)]


def stack_request(hostvars: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """What playbooks/preflight.yml asks the resolver for one container: the host's chip and arch, the container's
    framework, the host's pins overlaid by the container's (the same request, so the same stack)."""
    pins = dict(hostvars.get("ascend_host_pins") or {})
    pins.update(container.get("pins") or {})
    return {"chip": hostvars.get("ascend_chip"), "arch": hostvars.get("ascend_arch"),
            "framework": container.get("framework"), "pins": pins}


def expected_stack(hostvars: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The stack site.yml resolves (and builds) for ``container``, as the resolver's dict."""
    from .matrix import load_matrix
    from .resolver import Request, resolve

    req = stack_request(hostvars, container)
    matrix = load_matrix([str(p) for p in hostvars.get("ascend_matrix_overrides") or []])
    pins = {k: str(v) for k, v in req["pins"].items() if v not in (None, "")}
    out: dict[str, Any] = resolve(matrix, Request(chip=req["chip"], arch=req["arch"], framework=req["framework"],
                                                  pins=pins)).to_dict()
    return out


def python_environment(hostvars: Mapping[str, Any], container: Mapping[str, Any], stack: Mapping[str, Any],
                       root: str = "") -> dict[str, Any]:
    """Where site.yml puts the environment of ``container`` (``ascend_env.conda.python_env``: the venv, or the conda
    environment with its name), as the ascend_ssh role passes the host's settings on (``root``: a host provisioned
    itself keeps its paths under its filesystem root)."""
    from .conda import DEFAULT_CONDA_PREFIX, DEFAULT_VENV, python_env

    provider = container.get("python_provider") or hostvars.get("ascend_python_provider") or "venv"
    venv = str(hostvars.get("ascend_python_venv") or DEFAULT_VENV)
    return python_env({"provider": provider, "venv": root + DEFAULT_VENV if root else venv,
                       "conda_prefix": root + str(hostvars.get("ascend_python_conda_prefix")
                                                  or hostvars.get("ascend_conda_prefix") or DEFAULT_CONDA_PREFIX),
                       "env_name": hostvars.get("ascend_python_env_name"), "stack": stack})
