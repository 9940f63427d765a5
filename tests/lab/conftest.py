"""The lab suite brings a real simulated lab up (root, dockerd, sshd, debootstrap image) in its own prefix.

It is skipped when not root; with ASCEND_ENV_REQUIRE_LAB=1 (set by scripts/test.sh on CI) a skip is a failure.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from labtools import REPO, failures, lab_cli, require_root

from ascend_env.lab import store
from ascend_env.lab.config import build_config

PREFIX = REPO / ".lab-test"
CONFIG = {
    "hosts": [
        # its containers start from the image with Ubuntu's root .bashrc (interactive guard first), as most Ascend
        # images are Ubuntu-based; t2's from Debian's
        {"name": "t1", "chip": "910b", "cards": 8, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
         "address": "127.0.0.12", "image": "ubuntu-bashrc"},
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



INVENTORY = PREFIX / "inventory/hosts.yml"


@pytest.fixture(scope="session")
def converged(lab_up, release, tmp_path_factory):
    """The first run is the released artefacts' run, as a user makes it: the wheel in a fresh venv, the collection
    in a fresh collections folder, ``ansible-playbook ascend.env.site`` from a directory holding only the
    inventory.  Every later run (idempotence, check mode, ...) is the checkout's site.yml: the same playbook."""
    wheels = store.stack_wheels(build_config(CONFIG, prefix=PREFIX))
    lab("store", "--wheels", *wheels, timeout=3600)
    site_dir = tmp_path_factory.mktemp("site")
    (site_dir / "hosts.yml").write_text(INVENTORY.read_text())
    assert sorted(p.name for p in site_dir.iterdir()) == ["hosts.yml"]
    first = subprocess.run(["ansible-playbook", "ascend.env.site", "-i", "hosts.yml"], cwd=site_dir,
                           env=release["env"], capture_output=True, text=True, timeout=3000)
    # the whole run beside the checkout (the lab's prefix goes with `lab down`), and each failure in the message
    (REPO / ".lab-site-first-run.log").write_text(first.stdout + "\n" + first.stderr)
    assert first.returncode == 0, failures(first.stdout)[-8000:] + first.stdout[-3000:] + first.stderr[-2000:]
    return first
