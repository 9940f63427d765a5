"""The fault suite's own lab: two torch hosts (f1 with a container, f2 provisioned itself), converged once, and four
spare hosts (f3-f6, group ascend_spare) for the artefact fan-out's tests.

Its prefix (.lab-faults) and addresses (127.0.0.30-35) are not the lab suite's, so both can run in one session.
Skipped when not root; with ASCEND_ENV_REQUIRE_LAB=1 (CI) a skip is a failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from labtools import REPO, lab_cli, require_root, run_playbook

from ascend_env.lab import store
from ascend_env.lab.config import build_config
from ascend_env.lab.inventory import LAB_CONTAINERS

PREFIX = REPO / ".lab-faults"
CONFIG: dict[str, Any] = {
    "hosts": [
        {"name": "f1", "chip": "910b", "cards": 2, "address": "127.0.0.30"},
        {"name": "f2", "chip": "910b", "cards": 2, "address": "127.0.0.31", "containers": False},
        # four fresh hosts site.yml leaves alone (group ascend_spare): the artefact fan-out's tests take them
        *({"name": f"f{n}", "chip": "910b", "cards": 2, "address": f"127.0.0.{29 + n}", "group": "ascend_spare"}
          for n in range(3, 7)),
    ],
}
TORCH = next(c for c in LAB_CONTAINERS if c["framework"] == "torch")
#: f1's container keeps a work folder on the host (kept when the container is deleted and recreated)
WORK_MOUNT = "/srv/ascend-work:/root/work"


def lab(*args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return lab_cli(PREFIX, *args, check=check, timeout=timeout)


def write_inventory(path: Path, extra_hosts: dict[str, dict[str, Any]] | None = None) -> Path:
    """The lab's inventory with the torch container on every host (f1's with the work mount)."""
    inv = yaml.safe_load((PREFIX / "inventory/hosts.yml").read_text())
    for name, hv in inv["ascend_hosts"]["hosts"].items():
        ctr = dict(TORCH)
        if name == "f1":
            ctr["mounts"] = [WORK_MOUNT]
        hv["ascend_containers"] = [ctr]
    inv["ascend_hosts"]["hosts"].update(extra_hosts or {})
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    """The converged fault lab: {"inventory": Path, "hosts": {name: hostvars}}; lab down afterwards."""
    require_root("fault suite")
    tmp = tmp_path_factory.mktemp("faults")
    cfg = tmp / "lab.yml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    if PREFIX.exists():
        lab("down", check=False)
    lab("up", "--config", str(cfg))
    try:
        wheels = [w for w in store.stack_wheels(build_config(CONFIG, prefix=PREFIX)) if "mind" not in w]
        lab("store", "--wheels", *wheels, timeout=3600)
        inventory = write_inventory(tmp / "hosts.yml")
        first = run_playbook(inventory, "--skip-tags", "smoke")
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        hosts = yaml.safe_load(inventory.read_text())["ascend_hosts"]["hosts"]
        yield {"inventory": inventory, "hosts": hosts, "tmp": tmp}
    finally:
        lab("down", check=False)
