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
from labtools import failures, recap, run_playbook

from .conftest import PREFIX, REPO, lab, ssh

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"


def playbook(*extra: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(INVENTORY, *extra)


ENVS = ("t1-llm-torch", "t2-llm-ms", "t3-llm-torch")   # t1 docker, t2 isula, t3 the host itself


def test_site_converges_and_a_second_run_changes_nothing(converged):
    first = recap(converged.stdout)
    assert set(first) >= {"t1", "t2", "t3", *ENVS, "localhost"}
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first.values())
    assert all(first[e]["changed"] > 0 for e in ENVS)
    # the whole site.yml again, smoke included: README says the smoke changes nothing, so changed=0 everywhere
    # (the report fetch used to say changed=1 in every environment), and the reports still reach the controller
    reports = Path.home() / ".cache/ascend-env/smoke-reports"
    before = {e: (reports / f"{e}.json").stat().st_mtime_ns for e in ENVS}
    second = playbook()
    assert second.returncode == 0, second.stdout[-4000:]
    rows = recap(second.stdout)
    assert set(rows) >= set(ENVS)
    assert {h: r["changed"] for h, r in rows.items()} == {h: 0 for h in rows}, failures(second.stdout)
    assert all((reports / f"{e}.json").stat().st_mtime_ns > before[e] for e in ENVS)


def test_site_ends_with_the_smoke_table_golden_ids_equal_everywhere(converged):
    """The last play prints one line per environment: both stacks, on the CPU, golden ids equal, status ok."""
    rows = {}
    for line in converged.stdout.splitlines():
        words = line.strip(" -'\"").split()
        if len(words) > 1 and words[0] in ENVS and "/" in words[1]:    # not the recap lines
            rows[words[0]] = words
    assert set(rows) == set(ENVS), converged.stdout[-3000:]
    assert rows["t1-llm-torch"][1:5] == ["torch/torch-direct", "cpu", "30/30", "equal"]
    assert rows["t2-llm-ms"][1:5] == ["mindspore/mindspore-direct", "cpu", "30/30", "equal"]
    assert rows["t3-llm-torch"][1:5] == ["torch/torch-direct", "cpu", "30/30", "equal"]
    assert all(r[-1] == "ok" for r in rows.values())
    # t1 and t3 (two 910B hosts) share a rank table: the cross-host all_reduce ran in both, over gloo on the CPU
    assert ("collective all_reduce across t1-llm-torch, t3-llm-torch: world 2, backend gloo, sum 3.0 correct on "
            "2/2 ranks") in " ".join(converged.stdout.split()), converged.stdout[-3000:]    # the callback wraps it
    reports = Path.home() / ".cache/ascend-env/smoke-reports"
    for env in ENVS:
        doc = json.loads((reports / f"{env}.json").read_text())
        assert doc["ok"] and doc["golden"]["match"] and len(doc["output_ids"]) == 30


def _in_container(host: str, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"][host]
    cli = str(hv.get("ascend_container_cli") or "docker")
    return subprocess.run([cli, "exec", name, *argv], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"]))


def test_the_smoke_runs_standalone_in_a_provisioned_container(converged):
    """`python -m ascend_env smoke` in the environment: the CPU path works although torch_npu cannot load there
    (no CANN libraries in the lab), and without --device the run stops with the diagnosis, not a traceback."""
    py = "/opt/ascend-env/venv/bin/python"
    cpu = _in_container("t1", "llm-torch", py, "-m", "ascend_env", "smoke", "--framework", "torch", "--device",
                        "cpu", "--repeat", "1", "--json")
    assert cpu.returncode == 0, cpu.stdout[-2000:] + cpu.stderr[-2000:]
    doc = json.loads(cpu.stdout)
    assert doc["golden"]["match"] and doc["device"] == "cpu"
    auto = _in_container("t1", "llm-torch", py, "-m", "ascend_env", "smoke", "--framework", "torch")
    assert auto.returncode == 1
    assert "torch_npu 2.13.0 is installed but cannot load" in auto.stderr and "libhccl.so" in auto.stderr
    assert "--device cpu" in auto.stderr and "Traceback" not in auto.stdout + auto.stderr
    ms = _in_container("t2", "llm-ms", py, "-m", "ascend_env", "smoke", "--framework", "mindspore", "--device",
                       "cpu", "--repeat", "1", "--json")
    assert ms.returncode == 0, ms.stdout[-2000:] + ms.stderr[-2000:]
    assert json.loads(ms.stdout)["output_ids"] == doc["output_ids"]     # torch and MindSpore agree exactly
    mf = _in_container("t2", "llm-ms", py, "-m", "ascend_env", "smoke", "--framework", "mindspore", "--runner",
                       "mindformers", "--device", "cpu", "--repeat", "1", "--json")   # MindFormers 1.6.0's own model
    assert mf.returncode == 0, mf.stdout[-2000:] + mf.stderr[-2000:]
    assert json.loads(mf.stdout)["output_ids"] == doc["output_ids"]


def test_check_mode_with_diff_runs_end_to_end_on_the_built_fleet(converged):
    cp = playbook("--check", "--diff")
    assert cp.returncode == 0, failures(cp.stdout)
    rows = recap(cp.stdout)
    assert set(rows) >= {"t1", "t2", "t3", *ENVS}
    assert {h: (r["changed"], r["failed"]) for h, r in rows.items()} == {h: (0, 0) for h in rows}


def test_the_doctor_finds_the_built_fleet_healthy(converged):
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", "--inventory", str(INVENTORY),
                         "--containers", "--only",
                         "devices,driver,cann.toolkit,cann.driver,cann.kernels,python,frameworks.versions"],
                        capture_output=True, text=True, cwd=REPO, timeout=600,
                        env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    doc = json.loads(cp.stdout)
    names = [t["name"] for t in doc["targets"]]
    assert names == ["t1", "t1/llm-torch", "t2", "t2/llm-ms", "t3"]     # t3 is its own environment
    bad = [(t["name"], c["id"], c["summary"]) for t in doc["targets"] for c in t["checks"] if c["status"] != "ok"]
    assert bad == [] and cp.returncode == 0
    ms = {c["id"]: c for c in doc["targets"][3]["checks"]}
    assert "mindspore 2.7.0" in ms["frameworks.versions"]["summary"]
    t3 = {c["id"]: c for c in doc["targets"][4]["checks"]}       # the venv under the host's own root
    assert "torch 2.13.0" in t3["frameworks.versions"]["summary"] and "9.2.0" in t3["cann.toolkit"]["summary"]


def infra(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "tests/infra", f"--ansible-inventory={inventory}", "-q",
                           "-p", "no:cacheprovider", "-rfs", *extra], capture_output=True, text=True, cwd=REPO,
                          timeout=900, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))


def test_the_testinfra_suite_passes_on_the_built_fleet(converged):
    cp = infra(INVENTORY)
    assert cp.returncode == 0, cp.stdout[-4000:] + cp.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", cp.stdout).group(1))
    # 11 facts per container + one per framework component (torch, torch_npu / mindspore, mindformers); the host
    # provisioned itself (t3) has the 4 facts that are not about a container + torch, torch_npu
    assert passed == 2 * 11 + 4 + 4 + 2, cp.stdout[-2000:]
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


def _password_login(address: str, port: int, password: str) -> str:
    """Log in as root with a password only (no keys, no agent), with a real SSH client library."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a loopback lab container; the key is not at issue
    try:
        client.connect(address, port=port, username="root", password=password, allow_agent=False,
                       look_for_keys=False, timeout=20, auth_timeout=20)
    except paramiko.AuthenticationException as exc:
        return f"refused: {exc}"
    try:
        _, out, _ = client.exec_command("id -un")
        return out.read().decode().strip()
    finally:
        client.close()


def test_password_login_from_vault_then_back_to_key_only(converged, tmp_path):
    """Opt-in password login: the vaulted password works over real SSH, never shows up in -vv output, a re-run
    changes nothing; switching it off again refuses passwords and removes the password."""
    pytest.importorskip("paramiko")
    password = "Lab-vault-pw-4711"
    vault_pass = tmp_path / "vault-pass"
    vault_pass.write_text("lab-vault-key\n")
    vault_pass.chmod(0o600)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    enc = subprocess.run(["ansible-vault", "encrypt_string", "--vault-password-file", str(vault_pass),
                          "--name", "ascend_ssh_root_password", password], capture_output=True, text=True, env=env,
                         check=True).stdout
    inv_dir = tmp_path / "inventory"
    (inv_dir / "group_vars/ascend_hosts").mkdir(parents=True)
    (inv_dir / "hosts.yml").write_text(INVENTORY.read_text())
    (inv_dir / "group_vars/ascend_hosts/vault.yml").write_text(enc)
    (inv_dir / "group_vars/ascend_hosts/ssh.yml").write_text("ascend_ssh_password_login: true\n")
    t2 = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"]["t2"]
    port = int(t2["ascend_containers"][0].get("ssh_port", 223))

    def run(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ansible-playbook", "site.yml", "-i", str(inventory), "--tags", "ssh",
                               "--limit", "t2,localhost", "-vv", *extra], cwd=REPO, env=dict(env, ANSIBLE_NOCOLOR="1"),
                              capture_output=True, text=True, timeout=900)

    on = run(inv_dir / "hosts.yml", "--vault-password-file", str(vault_pass))
    assert on.returncode == 0, on.stdout[-5000:]
    assert recap(on.stdout)["t2"]["changed"] >= 2          # the drop-in and the password
    assert password not in on.stdout + on.stderr
    assert "$6$" not in on.stdout + on.stderr               # nor its hash
    assert _password_login(t2["ansible_host"], port, password) == "root"
    assert _password_login(t2["ansible_host"], port, password + "x").startswith("refused")
    again = run(inv_dir / "hosts.yml", "--vault-password-file", str(vault_pass))
    assert again.returncode == 0 and recap(again.stdout)["t2"]["changed"] == 0, again.stdout[-3000:]

    off = run(INVENTORY)                                    # the lab's inventory: key-only
    assert off.returncode == 0, off.stdout[-5000:]
    assert recap(off.stdout)["t2"]["changed"] >= 2          # the drop-in back, the password removed
    assert _password_login(t2["ansible_host"], port, password).startswith("refused")
    shadow = subprocess.run([str(Path(t2["ascend_container_cli"])), "exec", "llm-ms", "getent", "shadow", "root"],
                            capture_output=True, text=True, env=dict(env, DOCKER_HOST=t2["ascend_docker_host"]))
    assert shadow.stdout.split(":")[1] == "*", "the password is still set after password login was turned off"


def test_opt_in_driver_upgrade_from_the_store_then_nothing(converged):
    """ascend_driver_manage: a host left with an older driver and without dkms and kernel headers is refused before
    any installer runs, naming both with the command that installs them; with them back it is upgraded from the
    store's HDK .run (overwrite install: --upgrade, the recorded run user kept), npu-smi still works, the reboot is
    reported as owed (the lab never reboots), the driver check passes, and a second run changes nothing."""
    host_root = PREFIX / "hosts/t1/root"
    info = host_root / "usr/local/Ascend/driver/version.info"
    lab("fault", "t1", "driver-too-old")
    try:
        assert info.read_text().startswith("Version=24.1.rc1\n")
        manage = ("--tags", "driver", "--limit", "t1,localhost", "-e", '{"ascend_driver_manage": true}')
        # first without dkms and the running kernel's headers: refused before any installer runs, each named with
        # the command for t1's OS (its os-release is Ubuntu's)
        lab("fault", "t1", "no-dkms")
        lab("fault", "t1", "no-kernel-headers")
        refused = playbook(*manage)
        said = " ".join(refused.stdout.split())                    # the YAML callback wraps long messages
        assert refused.returncode != 0 and "t1: dkms is missing" in said and "apt-get install -y dkms" in said
        assert "t1: no kernel headers for the running kernel" in said and "apt-get install -y linux-headers-" in said
        assert "Nothing was installed." in said and "Run the installers" not in said
        assert info.read_text().startswith("Version=24.1.rc1\n")
        lab("fault", "t1", "--clear", "no-dkms")
        lab("fault", "t1", "--clear", "no-kernel-headers")
        first = playbook(*manage)
        assert first.returncode == 0, first.stdout[-5000:]
        assert "driver 24.1.RC1 -> 25.0.RC1.1 (overwrite install)" in first.stdout
        assert "t1 needs a reboot for the new driver/firmware" in first.stdout
        assert recap(first.stdout)["t1"]["changed"] == 2     # the package copied to the host, the installer run
        assert info.read_text().startswith("Version=25.0.rc1.1\n")
        install_info = (host_root / "etc/ascend_install.info").read_text()
        assert "Driver_Install_Path_Param=/usr/local/Ascend\n" in install_info
        assert "UserName=HwHiAiUser\n" in install_info and "Driver_Install_For_All=yes\n" in install_info
        smi = ssh("t1", "LD_LIBRARY_PATH=$ASCEND_ENV_HOST_ROOT/usr/local/Ascend/driver/lib64/driver "
                        "$ASCEND_ENV_HOST_ROOT/usr/local/bin/npu-smi info")
        assert smi.returncode == 0 and "910B" in smi.stdout, smi.stdout + smi.stderr
        second = playbook(*manage)
        assert second.returncode == 0 and recap(second.stdout)["t1"]["changed"] == 0, second.stdout[-3000:]
    finally:
        lab("fault", "--clear", "all", "t1")
