"""The fleet contract's defaults: one source for the paths and values every consumer (planner, roles through the
plan, doctor, rank table, testinfra) would otherwise write out again.

Only values, no logic: the planner (:mod:`ascend_env.plan.planner`) applies them, the roles read the plan.
"""

from __future__ import annotations

from typing import Final

from ..conda import DEFAULT_CONDA_PREFIX, DEFAULT_TOOL_VENV, DEFAULT_VENV
from ..render import DEFAULT_ASCEND_ROOT, DEFAULT_DCMI_DIR, DEFAULT_DRIVER_DIR, DEFAULT_INSTALL_INFO, DEFAULT_NPU_SMI

__all__ = [
    "CANN_RECORD",
    "CA_DIR",
    "CONDA_CHANNEL_TIMEOUT",
    "DEFAULT_ASCEND_ROOT",
    "DEFAULT_CONDA_PREFIX",
    "DEFAULT_DCMI_DIR",
    "DEFAULT_DRIVER_DIR",
    "DEFAULT_INSTALL_INFO",
    "DEFAULT_NPU_SMI",
    "DEFAULT_TOOL_VENV",
    "DEFAULT_VENV",
    "ENV_GROUP",
    "ENV_PYTHON",
    "FRAMEWORK_RECORD",
    "HOST_GROUP",
    "IMAGE",
    "IMAGE_TAR",
    "PIP_CONF",
    "PIP_CONSTRAINTS",
    "PROFILE",
    "RANKTABLE_PATH",
    "RANKTABLE_PORT",
    "RUNNER",
    "SHM_SIZE",
    "SMOKE_LIB_DIR",
    "SMOKE_REPORT",
    "SSH_PORT",
    "STORE_HOST_DIR",
    "STORE_MOUNT",
    "SYSTEM_BASHRCS",
]

#: The inventory group of the NPU hosts, and the group their environments join during a run.
HOST_GROUP: Final = "ascend_hosts"
ENV_GROUP: Final = "ascend_envs"

#: Where a host keeps its copy of the controller's artefact store (under its filesystem root), unless
#: ``ascend_artifacts_shared_path`` names a store mounted on every host.
STORE_HOST_DIR: Final = "/var/cache/ascend-env/store"
#: Where a container sees the host's store copy (read-only).
STORE_MOUNT: Final = "/opt/ascend-store"

#: The containers' base image and the file the store keeps it in (``images/``).
IMAGE: Final = "ascend-env/base:bookworm"
IMAGE_TAR: Final = "ascend-env-base_bookworm.tar"
SHM_SIZE: Final = "16g"
#: The port each container's sshd listens on unless the container says ``ssh_port``.
SSH_PORT: Final = 223
#: The Python Ansible uses inside a container (the image's).
ENV_PYTHON: Final = "/usr/bin/python3"

#: Inside an environment (a container, or a host provisioned itself, under its filesystem root).
PIP_CONF: Final = "/etc/pip.conf"
#: CANN's pip constraints file, in pip.conf's folder; the framework check's record, in the environment's folder.
PIP_CONSTRAINTS: Final = "ascend-env-constraints.txt"
FRAMEWORK_RECORD: Final = ".ascend-env-framework-check"
CA_DIR: Final = "/usr/local/share/ca-certificates"
CANN_RECORD: Final = "/etc/Ascend/ascend_cann_install.info"
PROFILE: Final = "/etc/profile.d/ascend-env.sh"
RUNNER: Final = "/usr/local/bin/ascend-run"
SYSTEM_BASHRCS: Final = ("/etc/bash.bashrc", "/etc/bashrc")
SMOKE_LIB_DIR: Final = "/opt/ascend-env/lib"
SMOKE_REPORT: Final = "/opt/ascend-env/smoke/report.json"
RANKTABLE_PATH: Final = "/etc/ascend-env/hccl.json"
RANKTABLE_PORT: Final = 29500
CONDA_CHANNEL_TIMEOUT: Final = 10
