"""What the doctor and the rank table reach over SSH: the NPU hosts of an inventory (and their containers), from the
fleet plan (the preflight's planner: one enumeration of hosts and environments)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .transport import SshTarget


@dataclass(frozen=True)
class Target:
    """One thing the doctor checks over SSH: an NPU host, or (``--containers``) one of its containers through the
    host's engine; as the fleet plan lays them out."""

    name: str
    ssh: SshTarget
    chip: str | None = None
    container: str | None = None
    cli: str = "docker"        # the host's engine command (the plan's, checked by the preflight's allow-list)
    runtime: str = "docker"


def ssh_target(name: str, conn: Any, root: str) -> SshTarget:
    """How the doctor reaches a planned host (``ascend_env.plan.Connection``), with the known_hosts file its SSH
    arguments name."""
    m = re.search(r"UserKnownHostsFile=(\S+)", conn.ssh_common_args)
    return SshTarget(host=conn.address, port=conn.port, user=conn.user, key_file=conn.key_file,
                     known_hosts=m.group(1) if m else None, root=root or None, name=name)


def inventory_targets(path: str, limit: str | None, containers: bool = False) -> list[Target]:
    """The NPU hosts of the inventory at ``path`` (or the ``limit`` ones), and with ``containers`` their enabled
    containers, from the fleet plan (the preflight's planner: one enumeration).  An inventory Ansible cannot read,
    one without NPU hosts, or one the preflight refuses is bad input (every problem, one line each)."""
    from ..inventory import InventoryError, fleet_plan, read_inventory

    # lenient: a host is checked whatever the preflight would say of its store or pins; one that cannot be planned at
    # all (its address, its containers) is bad input
    fleet = fleet_plan(read_inventory(path), limit, where=f"inventory {path}", lenient=True)
    if fleet.problems:
        raise InventoryError("\n".join(f"inventory {path}, host {line}" for line in fleet.problem_lines()))
    return fleet_targets(fleet, containers)


def fleet_targets(fleet: Any, containers: bool = False) -> list[Target]:
    """What the doctor checks of a fleet plan (``ascend_env.plan.FleetPlan``): every NPU host, in plan order, and
    with ``containers`` each host's containers through its engine."""
    out: list[Target] = []
    for h in fleet.hosts.values():
        target = ssh_target(h.name, h.connection, h.root)
        out.append(Target(h.name, target, h.chip, runtime=h.runtime, cli=h.cli))
        if containers and h.containers:
            out += [Target(f"{h.name}/{e.container}", target, h.chip, e.container, h.cli, h.runtime) for e in h.envs]
    return out
