"""The main job end to end on the lab: site.yml converges both hosts (a torch and a MindSpore container), a second
run changes nothing, and the doctor finds the fleet and its containers healthy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ascend_env.lab import store
from ascend_env.lab.config import build_config

from .conftest import CONFIG, PREFIX, REPO, lab

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"


def playbook(*extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["ansible-playbook", "site.yml", "-i", str(INVENTORY), *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3000)


def recap(stdout: str) -> dict[str, dict[str, int]]:
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


@pytest.fixture(scope="module")
def converged():
    wheels = store.stack_wheels(build_config(CONFIG, prefix=PREFIX))
    lab("store", "--wheels", *wheels, timeout=3600)
    first = playbook()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    return first


def test_site_converges_and_a_second_run_changes_nothing(converged):
    first = recap(converged.stdout)
    assert set(first) >= {"t1", "t2", "t1-llm-torch", "t2-llm-ms", "localhost"}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first.values())
    assert first["t1-llm-torch"]["changed"] > 0
    second = playbook()
    assert second.returncode == 0, second.stdout[-4000:]
    rows = recap(second.stdout)
    assert {h: r["changed"] for h, r in rows.items()} == {h: 0 for h in rows}


def test_check_mode_with_diff_runs_end_to_end_on_the_built_fleet(converged):
    cp = playbook("--check", "--diff")
    assert cp.returncode == 0, cp.stdout[-4000:]
    rows = recap(cp.stdout)
    assert set(rows) >= {"t1", "t2", "t1-llm-torch", "t2-llm-ms"}
    assert {h: (r["changed"], r["failed"]) for h, r in rows.items()} == {h: (0, 0) for h in rows}


def test_the_doctor_finds_the_built_fleet_healthy(converged):
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", "--inventory", str(INVENTORY),
                         "--containers", "--only",
                         "devices,driver,cann.toolkit,cann.driver,cann.kernels,python,frameworks.versions"],
                        capture_output=True, text=True, cwd=REPO, timeout=600,
                        env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    doc = json.loads(cp.stdout)
    names = [t["name"] for t in doc["targets"]]
    assert names == ["t1", "t1/llm-torch", "t2", "t2/llm-ms"]
    bad = [(t["name"], c["id"], c["summary"]) for t in doc["targets"] for c in t["checks"] if c["status"] != "ok"]
    assert bad == [] and cp.returncode == 0
    ms = {c["id"]: c for c in doc["targets"][3]["checks"]}
    assert "mindspore 2.7.0" in ms["frameworks.versions"]["summary"]


def infra(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "tests/infra", f"--ansible-inventory={inventory}", "-q",
                           "-p", "no:cacheprovider", "-rfs", *extra], capture_output=True, text=True, cwd=REPO,
                          timeout=900, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))


def test_the_testinfra_suite_passes_on_the_built_fleet(converged):
    cp = infra(INVENTORY)
    assert cp.returncode == 0, cp.stdout[-4000:] + cp.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", cp.stdout).group(1))
    # 11 facts per container + one per framework component (torch, torch_npu / mindspore, mindformers)
    assert passed == 2 * 11 + 4, cp.stdout[-2000:]
    assert "skipped" not in cp.stdout


def test_the_testinfra_suite_fails_where_the_fleet_differs_from_the_inventory(converged, tmp_path):
    inv = yaml.safe_load(INVENTORY.read_text())
    t1 = inv["ascend_hosts"]["hosts"]["t1"]
    t1["ascend_containers"][0]["devices"] = "0-3"          # the container has all 8 cards
    t1["ascend_ssh_password_login"] = True                  # the container's sshd refuses passwords
    other = tmp_path / "hosts.yml"
    other.write_text(yaml.safe_dump(inv))
    cp = infra(other, "-k", "npu_devices or key_only or python_is")
    assert cp.returncode == 1, cp.stdout[-3000:]
    failed = sorted(re.findall(r"^FAILED \S+::(\S+)", cp.stdout, re.M))
    assert failed == ["test_container_has_its_npu_devices[t1-llm-torch]",
                      "test_sshd_is_configured_key_only[t1-llm-torch]"], cp.stdout[-3000:]
