"""testinfra suite for a fleet site.yml built: run it against your own inventory.

    pytest tests/infra --ansible-inventory=inventory/hosts.yml          # every host and container
    pytest tests/infra --ansible-inventory=.lab/inventory/hosts.yml     # the lab's fleet

The NPU hosts are reached as Ansible reaches them (testinfra's ``ansible://`` backend with the same inventory);
the containers as site.yml's ascend_ssh role adds them to the group ``ascend_envs``: the host's address, the
container's ssh_port (223 by default), the host's key and known_hosts. Which environments there are and what each
should hold is the preflight's own fleet plan (``ascend_env.inventory.fleet_plan``: the same planner, the same
stacks), so a fact here differs from the fleet only when the fleet differs from the inventory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ascend_env.inventory import InventoryError, fleet_plan, read_inventory
from ascend_env.plan import EnvPlan, HostPlan


@dataclass
class Env:
    """One environment as the fleet plan lays it out (the preflight's own planner: the same hosts, containers, stacks
    and paths site.yml builds), with testinfra hosts for its NPU server (as Ansible reaches it) and for itself (over
    its own sshd, or the host's SSH in host mode)."""

    plan: EnvPlan
    host_plan: HostPlan
    inventory: Path
    host: Any = None        # testinfra host of the NPU server
    env: Any = None         # testinfra host of the environment

    id = property(lambda self: self.plan.name)
    host_name = property(lambda self: self.plan.host)
    address = property(lambda self: self.plan.connection.address)
    port = property(lambda self: self.plan.connection.port)
    stack = property(lambda self: self.plan.stack)
    on_host = property(lambda self: self.plan.on_host)
    #: the host's filesystem root ('' for /), under which a host-mode environment's paths live
    root = property(lambda self: self.host_plan.root)
    cli = property(lambda self: self.host_plan.cli)

    @property
    def container(self) -> dict[str, Any]:
        spec = self.plan.container_spec
        return {"name": self.plan.container, "devices": spec.devices if spec else "all"}

    @property
    def engine_env(self) -> str:
        dh = self.host_plan.engine_env.get("DOCKER_HOST")
        return f"DOCKER_HOST={dh} " if dh else ""

    @property
    def pyenv(self) -> dict[str, Any]:
        """The environment site.yml made: provider, path, conda name."""
        return self.plan.python.dump()

    @property
    def venv(self) -> str:
        """The venv, or the conda environment's prefix (ascend_python_provider: conda)."""
        return self.plan.python.path

    def path(self, p: str) -> str:
        """Where an environment path is (under the host's root in host mode)."""
        return (self.root if self.on_host else "") + p

    def component(self, name: str) -> str | None:
        return self.plan.version(name)


_CACHE: dict[str, list[Env]] = {}


def _envs(config: pytest.Config) -> list[Env]:
    inv = config.getoption("ansible_inventory", None)
    if not inv:
        return []
    if inv in _CACHE:
        return _CACHE[inv]
    try:
        # lenient: the fleet is checked against the inventory as it is (a value the preflight would stop on, such as a
        # password login without its vault password, is what a test here then finds); a host that cannot be
        # reached as the inventory says is an error
        fleet = fleet_plan(read_inventory(inv), where=f"--ansible-inventory {inv}", lenient=True)
    except InventoryError as e:
        raise pytest.UsageError(str(e)) from None
    if fleet.problems:
        raise pytest.UsageError(f"--ansible-inventory {inv}: hosts that cannot be planned:\n"
                                + "\n".join(fleet.problem_lines()))
    # the environments as an inventory of their own, connected as ascend_ssh's add_host connects them
    env_inv: dict[str, Any] = {}
    out = []
    for h in fleet.hosts.values():
        for e in h.envs:
            c = e.connection
            env_inv[e.name] = {"ansible_host": c.address, "ansible_port": c.port, "ansible_user": c.user,
                               "ansible_ssh_common_args": c.ssh_common_args,
                               **({"ansible_ssh_private_key_file": c.key_file} if c.key_file else {})}
            out.append(Env(e, h, Path(inv)))
    path = Path(tempfile.mkdtemp(prefix="ascend-env-infra-")) / "ascend_envs.yml"
    path.write_text(yaml.safe_dump({"ascend_envs": {"hosts": env_inv}}))
    import testinfra

    for env in out:
        env.host = testinfra.get_host(f"ansible://{env.host_name}?ansible_inventory={inv}")
        env.env = testinfra.get_host(f"ansible://{env.id}?ansible_inventory={path}")
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
