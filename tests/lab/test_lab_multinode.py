"""Multi-node readiness on the lab: t1 and t3 (two 910B hosts, 8 NPUs each) form a 16-rank HCCL rank table, which
site.yml wrote into both environments and `python -m ascend_env ranktable` writes from the inventory; a down link,
a missing or duplicated device IP, an unreachable host and unequal device counts are refused with the host, the NPU
and the fix, and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from labtools import ansible_env, recap, run_playbook

from .conftest import PREFIX, REPO, lab

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"
EXPECTED = Path(__file__).parent / "data/hccl_t1_t3_expected.json"    # written by hand from docs/lab.md's scheme


def ranktable(*args: str, inventory: Path = INVENTORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", "ranktable", "--inventory", str(inventory), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=600, env=ansible_env())


@pytest.fixture()
def fault():
    """Inject lab faults for one test; every fault is cleared afterwards, whatever the test did."""
    hosts: set[str] = set()

    def inject(host: str, *args: str) -> None:
        hosts.add(host)
        lab("fault", host, *args)

    yield inject
    for h in hosts:
        lab("fault", "--clear", "all", h)


def test_the_generated_table_is_the_hand_checked_one(tmp_path):
    out = tmp_path / "hccl.json"
    cp = ranktable("--out", str(out))
    assert cp.returncode == 0, cp.stderr
    assert "✓ rank table 1.0: 2 server(s), 16 rank(s)" in cp.stderr
    assert out.read_text() == EXPECTED.read_text()
    only = ranktable("--devices", "0-3", "--json")
    doc = json.loads(only.stdout)
    assert only.returncode == 0 and [len(s["device"]) for s in doc["table"]["server_list"]] == [4, 4]
    assert [d["rank_id"] for s in doc["table"]["server_list"] for d in s["device"]] == [str(r) for r in range(8)]


def test_site_wrote_it_into_both_environments(converged):
    t3 = PREFIX / "hosts/t3/root/etc/ascend-env/hccl.json"      # t3 is its own environment (host mode)
    assert t3.read_text() == EXPECTED.read_text()
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"]["t1"]
    docker = dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"])
    inside = subprocess.run(["docker", "exec", "llm-torch", "cat", "/etc/ascend-env/hccl.json"], capture_output=True,
                            text=True, env=docker, check=True).stdout
    assert inside == EXPECTED.read_text()
    profile = subprocess.run(["docker", "exec", "llm-torch", "cat", "/etc/profile.d/ascend-env.sh"],
                             capture_output=True, text=True, env=docker, check=True).stdout
    assert "export RANK_TABLE_FILE=/etc/ascend-env/hccl.json" in profile
    exec_env = subprocess.run(["docker", "exec", "llm-torch", "printenv", "RANK_TABLE_FILE"], capture_output=True,
                              text=True, env=docker, check=True).stdout        # docker exec gets it too
    assert exec_env.strip() == "/etc/ascend-env/hccl.json"
    t2 = PREFIX / "hosts/t2/root/etc/ascend-env/hccl.json"
    assert not t2.exists()                                     # the 300I Duo host takes no part


def test_a_down_link_is_refused_with_host_npu_and_fix(fault, tmp_path, converged):
    fault("t3", "link-down", "--device", "5")
    out = tmp_path / "hccl.json"
    cp = ranktable("--out", str(out))
    assert cp.returncode == 1 and not out.exists()
    assert "t3 NPU 5: link DOWN. Fix: check the cable and switch port" in cp.stderr
    # site.yml refuses the same way and leaves the environments' tables as they were
    before = (PREFIX / "hosts/t3/root/etc/ascend-env/hccl.json").stat().st_mtime_ns
    run = run_playbook(INVENTORY, "--tags", "ranktable")
    assert run.returncode != 0 and "t3 NPU 5: link DOWN" in run.stdout
    assert "nothing was written" in run.stdout
    assert (PREFIX / "hosts/t3/root/etc/ascend-env/hccl.json").stat().st_mtime_ns == before
    doctor = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", "--inventory", str(INVENTORY),
                             "--limit", "t3", "--only", "network"], capture_output=True, text=True, cwd=REPO,
                            env=ansible_env(), timeout=300)
    checks = {c["id"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["network.link"]["summary"] == "link DOWN on NPU 5" and doctor.returncode == 1


def test_missing_and_duplicate_device_ips(fault):
    fault("t1", "no-device-ip", "--device", "3")
    fault("t3", "duplicate-ip", "--device", "0", "--ip", "10.0.12.11")     # t1 NPU 0's address
    cp = ranktable("--json")
    doc = json.loads(cp.stdout)
    assert cp.returncode == 1 and doc["table"] is None
    assert any(p.startswith("t1 NPU 3: no device IP. Fix: /usr/local/Ascend/driver/tools/hccn_tool -i 3 -ip -s")
               for p in doc["problems"])
    assert any(p.startswith("t3 NPU 0: device IP 10.0.12.11 is also t1 NPU 0's") for p in doc["problems"])
    doctor = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", "--inventory", str(INVENTORY),
                             "--only", "network"], capture_output=True, text=True, cwd=REPO, env=ansible_env(),
                            timeout=300)
    fleet = [c for t in json.loads(doctor.stdout)["targets"] for c in t["checks"] if c["id"] == "network.fleet_unique"]
    assert {c["summary"] for c in fleet} == {"device IP 10.0.12.11 is used on 2 hosts: t1 NPU 0, t3 NPU 0"}


def test_unequal_device_counts_and_an_unreachable_host(fault, tmp_path):
    fault("t3", "card-lost", "--device", "7")                 # t3's driver lost a card: 7 NPUs left
    cp = ranktable()
    assert cp.returncode == 2
    assert "the hosts take part with different numbers of devices (7 device(s) on t3; 8 device(s) on t1)" in cp.stderr
    assert "--devices 0-7" in cp.stderr
    assert ranktable("--devices", "0-6").returncode == 0
    inv = yaml.safe_load(INVENTORY.read_text())
    inv["ascend_hosts"]["hosts"]["t3"]["ansible_host"] = "127.0.0.99"    # nothing listens there
    other = tmp_path / "hosts.yml"
    other.write_text(yaml.safe_dump(inv))
    out = tmp_path / "hccl.json"
    gone = ranktable("--out", str(out), inventory=other)
    assert gone.returncode == 1 and not out.exists()
    assert "t3: unreachable (" in gone.stderr and "leave it out with --hosts" in gone.stderr
    bad = ranktable("--devices", "0-x")
    assert bad.returncode == 2 and "--devices '0-x': '0-x' is not a device number or range" in bad.stderr
    duo = ranktable("--hosts", "t1,t2")
    assert duo.returncode == 2 and "no rank table format is known for chip '300i-duo'" in duo.stderr


def test_check_mode_and_a_rerun_change_nothing_in_the_tables(converged):
    cp = run_playbook(INVENTORY, "--tags", "ranktable")
    assert cp.returncode == 0, cp.stdout[-3000:]
    assert {h: r["changed"] for h, r in recap(cp.stdout).items()} == {h: 0 for h in recap(cp.stdout)}
    assert "rank table 1.0: 2 server(s), 16 rank(s) (t1, t3)" in cp.stdout


def test_a_run_limited_to_part_of_the_job_leaves_the_table_as_it_is(converged):
    """--limit t1: t3's ports are not read, so the table is neither rebuilt nor refused; the run passes and says why."""
    table = PREFIX / "hosts/t3/root/etc/ascend-env/hccl.json"
    before = table.stat().st_mtime_ns
    cp = run_playbook(INVENTORY, "--limit", "t1,t1-*,localhost", "--tags", "ranktable")
    assert cp.returncode == 0, cp.stdout[-3000:]
    said = " ".join(cp.stdout.split())                                   # the YAML callback wraps long messages
    assert "the rank table is not rewritten: the hosts of the job are t1, t3 and --limit leaves out t3" in said
    # the refusal's own words (a task name also says "did not come through"), and the table untouched
    assert "the rank table needs every host that takes part" not in said and table.stat().st_mtime_ns == before
