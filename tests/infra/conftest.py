"""testinfra suite for a fleet site.yml built: run it against your own inventory.

    pytest tests/infra --ansible-inventory=inventory/hosts.yml          # every host and container
    pytest tests/infra --ansible-inventory=.lab/inventory/hosts.yml     # the lab's fleet

The NPU hosts are reached as Ansible reaches them (testinfra's ``ansible://`` backend with the same inventory);
the containers as site.yml's ascend_ssh role adds them to the group ``ascend_envs``: the host's address, the
container's ssh_port (223 by default), the host's key and known_hosts. What each container should hold is what the
preflight resolves for it (``ascend_env.inventory.expected_stack``: the same resolver, the same request), so a
fact here differs from the fleet only when the fleet differs from the inventory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ascend_env.inventory import (
    InventoryError,
    env_targets,
    expected_stack,
    group_hosts,
    python_environment,
    read_inventory,
)


@dataclass
class Env:
    """One container: its host (testinfra, over the host's SSH), itself (over its own sshd), and what it should be."""

    id: str
    host_name: str
    hostvars: dict[str, Any]
    container: dict[str, Any]
    address: str
    port: int
    stack: dict[str, Any]
    inventory: Path
    on_host: bool = False   # host mode (ascend_container_enabled: false): the environment is the host itself
    root: str = ""          # host mode: the host's filesystem root, under which the environment's paths live
    host: Any = None        # testinfra host of the NPU server
    env: Any = None         # testinfra host of the container

    @property
    def cli(self) -> str:
        return str(self.hostvars.get("ascend_container_cli") or self.hostvars.get("ascend_container_runtime")
                   or "docker")

    @property
    def engine_env(self) -> str:
        dh = self.hostvars.get("ascend_docker_host")
        return f"DOCKER_HOST={dh} " if dh else ""

    @property
    def pyenv(self) -> dict[str, Any]:
        """The environment site.yml made (``ascend_env.inventory.python_environment``): provider, path, conda name."""
        return python_environment(self.hostvars, self.container, self.stack, self.root if self.on_host else "")

    @property
    def venv(self) -> str:
        # the venv (host mode: under the host's root, as ascend_ssh's join sets it; a container's follows the
        # inventory's ascend_python_venv), or the conda environment's prefix (ascend_python_provider: conda)
        return str(self.pyenv["path"])

    def path(self, p: str) -> str:
        """Where an environment path is (under the host's root in host mode)."""
        return self.root + p

    def component(self, name: str) -> str | None:
        c = self.stack.get("components", {}).get(name) or {}
        return c.get("version")


_CACHE: dict[str, list[Env]] = {}


def _envs(config: pytest.Config) -> list[Env]:
    inv = config.getoption("ansible_inventory", None)
    if not inv:
        return []
    if inv in _CACHE:
        return _CACHE[inv]
    try:
        data = read_inventory(inv)
    except InventoryError as e:
        raise pytest.UsageError(str(e)) from None
    hostvars = data.get("_meta", {}).get("hostvars", {})
    if not group_hosts(data, "ascend_hosts"):
        raise pytest.UsageError(f"--ansible-inventory {inv}: no hosts in group ascend_hosts")
    # the containers as an inventory of their own, connection variables as ascend_ssh's add_host sets them
    env_inv: dict[str, Any] = {}
    out = []
    for t in env_targets(data):
        hv = hostvars[t.host]
        env_inv[t.name] = {k: hv[k] for k in ("ansible_ssh_private_key_file", "ansible_ssh_common_args")
                           if k in hv}
        env_inv[t.name].update(ansible_host=t.address, ansible_port=t.port,
                               ansible_user=str(hv.get("ansible_user", "root")) if t.on_host else "root")
        stack = expected_stack(hv, t.container)
        out.append(Env(t.name, t.host, hv, t.container, t.address, t.port, stack, Path(inv), t.on_host, t.root))
    path = Path(tempfile.mkdtemp(prefix="ascend-env-infra-")) / "ascend_envs.yml"
    path.write_text(yaml.safe_dump({"ascend_envs": {"hosts": env_inv}}))
    import testinfra

    for e in out:
        e.host = testinfra.get_host(f"ansible://{e.host_name}?ansible_inventory={inv}")
        e.env = testinfra.get_host(f"ansible://{e.id}?ansible_inventory={path}")
    _CACHE[inv] = out
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "env" not in metafunc.fixturenames:
        return
    envs = _envs(metafunc.config)
    if metafunc.definition.get_closest_marker("conda") is not None:  # facts only a conda environment has
        envs = [e for e in envs if e.pyenv["provider"] == "conda"]
        if not envs:
            metafunc.parametrize("env", [pytest.param(None, marks=pytest.mark.skip(
                reason="no conda environments (ascend_python_provider: conda)"))], ids=["no-conda"])
            return
    if metafunc.definition.get_closest_marker("container") is not None:  # facts only a container has
        envs = [e for e in envs if not e.on_host]
        if not envs:
            metafunc.parametrize("env", [pytest.param(None, marks=pytest.mark.skip(
                reason="no containers: every host is provisioned itself"))], ids=["no-containers"])
            return
    if not envs:
        metafunc.parametrize("env", [pytest.param(None, marks=pytest.mark.skip(
            reason="pass --ansible-inventory=<the inventory site.yml ran with>"))], ids=["no-inventory"])
        return
    if "component" in metafunc.fixturenames:
        pairs = [(e, c) for e in envs for c in framework_components(e)]
        metafunc.parametrize(("env", "component"), pairs, ids=[f"{e.id}-{c}" for e, c in pairs])
    else:
        metafunc.parametrize("env", envs, ids=[e.id for e in envs])


def framework_components(e: Env) -> list[str]:
    """The components the ascend_framework role installs for this stack (those the resolver gave a version)."""
    names = ["torch", "torch_npu"] if e.stack.get("framework") == "torch" else ["mindspore", "mindformers"]
    return [n for n in names if e.component(n)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A fleet without conda environments has no conda facts to check: those tests are deselected (not skipped,
    which would read as a check that could not run)."""
    gone = [i for i in items if i.get_closest_marker("conda") is not None and i.name.endswith("[no-conda]")]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = [i for i in items if i not in gone]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "container: a fact only a container has (skipped for hosts provisioned "
                                       "themselves, ascend_container_enabled: false)")
    config.addinivalue_line("markers", "conda: a fact only a conda environment has (ascend_python_provider: conda)")
