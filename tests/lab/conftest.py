"""The lab suite brings a real simulated lab up (root, dockerd, sshd, debootstrap image) in its own prefix.

It is skipped when not root; with ASCEND_ENV_REQUIRE_LAB=1 (set by scripts/test.sh on CI) a skip is a failure.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from labtools import REPO, lab_cli, require_root

PREFIX = REPO / ".lab-test"
CONFIG = {
    "hosts": [
        {"name": "t1", "chip": "910b", "cards": 8, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
         "address": "127.0.0.12"},
        {"name": "t2", "chip": "300i-duo", "cards": 2, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
         "address": "127.0.0.13", "npu_smi_dir": "usr/local/sbin", "runtime": "isula"},
        # host mode: site.yml builds the torch stack on the host itself (ascend_container_enabled: false)
        {"name": "t3", "chip": "910b", "cards": 8, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
         "address": "127.0.0.14", "containers": False},
    ],
}


def lab(*args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return lab_cli(PREFIX, *args, check=check, timeout=timeout)


@pytest.fixture(scope="session")
def lab_up(tmp_path_factory):
    require_root("lab suite")
    cfg = tmp_path_factory.mktemp("labcfg") / "lab.yml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    if PREFIX.exists():
        lab("down", check=False)
    cp = lab("up", "--config", str(cfg), "--wheels", "--json")
    first = json.loads(cp.stdout.strip().splitlines()[-1])
    yield {"config": cfg, "first": first}
    lab("down")


def ssh(host: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", "-F", str(PREFIX / "ssh/config"), host, command], capture_output=True, text=True,
                          timeout=120)

