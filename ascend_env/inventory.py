"""Read an Ansible inventory the way Ansible does (``ansible-inventory --list``), for the doctor and the testinfra
suite; and derive from it what site.yml builds (the containers each host carries), with the same naming rule as
the ascend_ssh role's ``add_host``.
"""

from __future__ import annotations

import json
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


def read_inventory(path: str | Path) -> dict[str, Any]:
    """``ansible-inventory -i path --list`` as a dict (group_vars, host_vars and vault handled by Ansible)."""
    exe = ansible_inventory_exe()
    if exe is None:
        raise InventoryError("reading an inventory needs ansible-inventory (pip install -e '.[ansible]')")
    cp = subprocess.run([exe, "-i", str(path), "--list"], capture_output=True, text=True, check=False)
    if cp.returncode != 0 or not cp.stdout.strip():
        raise InventoryError(f"inventory {path}: ansible-inventory failed: {cp.stderr.strip()[-300:]}")
    data: dict[str, Any] = json.loads(cp.stdout)
    return data


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


def env_targets(data: dict[str, Any], group: str = "ascend_hosts", port_default: int = 223) -> list[EnvTarget]:
    hostvars = data.get("_meta", {}).get("hostvars", {})
    out = []
    for h in group_hosts(data, group):
        hv = hostvars.get(h, {})
        if hv.get("ascend_container_enabled", True) is False:
            for c in enabled_containers(hv)[:1]:
                out.append(EnvTarget(f"{h}-{c['name']}", h, c, str(hv.get("ansible_host", h)),
                                     int(hv.get("ansible_port", 22)), True,
                                     str(hv.get("ascend_host_root") or "/").rstrip("/")))
            continue
        for c in enabled_containers(hv):
            out.append(EnvTarget(f"{h}-{c['name']}", h, c, str(hv.get("ansible_host", h)),
                                 int(c.get("ssh_port", port_default))))
    return out


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
