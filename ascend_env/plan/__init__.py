"""The fleet plan: the inventory contract computed once, typed, read by every consumer.

    from ascend_env.plan import plan
    fleet = plan(hostvars_by_host, load_matrix())
    for env in fleet.envs(): ...

Controller-side (pydantic); nothing that runs on a host or in a container imports it.
"""

from __future__ import annotations

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
    StoreFile,
)
from .planner import enabled_containers, plan, stack_request

__all__ = ["Connection", "ContainerPlan", "EnvPaths", "EnvPlan", "FleetPlan", "HostPlan", "Mount", "PythonEnvPlan",
           "RankTablePlan", "SshPlan", "StoreFile", "enabled_containers", "plan", "stack_request"]
