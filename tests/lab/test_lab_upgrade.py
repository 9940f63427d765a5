"""ascend-env upgrade and rollback on the converged lab (issue 22 item 2): a process on an NPU refuses the upgrade
before anything changes; a canary whose smoke fails stops the rollout after wave 1 with the other hosts untouched;
an upgrade to another CANN keeps the previous one beside it, and the rollback returns the environment to it by its
stack record (the latest link switched back, no installer run), the smoke passing after each step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from labtools import ansible_env

from ascend_env.collective import ssh_argv
from ascend_env.inventory import fleet_plan, read_inventory
from ascend_env.lab import busy as lab_busy
from ascend_env.lab.layout import HostPaths

from .conftest import PREFIX, REPO, lab

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"
WAVES_PLAY = "PLAY [Upgrade wave by wave"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run([sys.executable, "-m", "ascend_env", *map(str, args)], capture_output=True, text=True,
                        cwd=REPO, env=ansible_env(), timeout=2400)
    assert "Traceback" not in cp.stdout + cp.stderr, cp.stderr[-3000:]
    return cp


def flat(cp: subprocess.CompletedProcess[str]) -> str:
    """The output with every run of whitespace as one space (Ansible's YAML output folds long messages)."""
    return " ".join((cp.stdout + "\n" + cp.stderr).split())


def copy_inventory(tmp_path: Path, edit=None, all_vars: dict | None = None) -> Path:
    doc = yaml.safe_load(INVENTORY.read_text())
    if edit:
        edit(doc["ascend_hosts"]["hosts"])
    doc.setdefault("all", {}).setdefault("vars", {}).update(all_vars or {})
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def after_waves_began(out: str) -> str:
    return out.split(WAVES_PLAY, 1)[1] if WAVES_PLAY in out else ""


def test_a_process_on_an_npu_refuses_the_upgrade_naming_it_before_anything_changes(converged, tmp_path):
    records = tmp_path / "records"
    lab("fault", "t1", "npu-busy", "--device", "3")
    try:
        (rec,) = lab_busy.live(HostPaths(PREFIX / "hosts/t1"))
        cp = cli("upgrade", "-i", INVENTORY, "--limit", "t1", "--records", records)
    finally:
        lab("fault", "t1", "--clear", "npu-busy")
    out = flat(cp)
    assert cp.returncode == 1, out[-4000:]
    assert "t1: NPUs busy, nothing was upgraded on this host" in out, out[-4000:]
    assert f"pid {rec['pid']}" in out and "Fix: stop" in out and "kill" in out, out[-4000:]   # holder, fix
    assert "Upgrade this wave's hosts with site.yml" not in out                     # site.yml never ran
    assert not records.exists() or not any(records.iterdir())


def test_a_canary_whose_smoke_fails_stops_the_rollout_after_wave_one(converged, tmp_path):
    # every environment's smoke would fail (a model path that is not there; the environments take ascend_smoke_*
    # from the group all): the canary's fails, and no other host is reached
    inv = copy_inventory(tmp_path, all_vars={"ascend_smoke_model_path": "/nonexistent/upgrade-canary"})
    cp = cli("upgrade", "-i", inv, "--waves", "1,100%", "--records", tmp_path / "records")
    out = flat(cp)
    assert cp.returncode == 1, out[-4000:]
    assert "canary (t1): t1" in out and "wave 2 (100%: 2 host(s)): t2, t3" in out, out[-3000:]
    assert "t1: site.yml failed here" in out and "t1-llm-torch" in out, out[-4000:]
    waves = after_waves_began(cp.stdout)
    assert waves, cp.stdout[-3000:]
    # wave 2 never began: no task of the waves' play ran on t2 or t3
    assert "[t2]" not in waves and "[t3]" not in waves, waves[-3000:]
    assert not (tmp_path / "records").exists() or not any((tmp_path / "records").iterdir())


def env_run(inv: Path, command: list[str]) -> str:
    c = fleet_plan(read_inventory(inv), "t2").hosts["t2"].envs[0].connection
    cp = subprocess.run(ssh_argv(c.address, command, port=c.port, user=c.user, key=c.key_file,
                                 ssh_args=c.ssh_common_args), capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout.strip()


def test_an_upgrade_keeps_the_previous_cann_and_the_rollback_returns_to_it(converged, tmp_path):
    lab("store", "--cann", "8.3.RC1", timeout=3600)
    records = tmp_path / "records"
    inv = copy_inventory(tmp_path)
    toolkits = ["sh", "-c", "readlink /usr/local/Ascend/ascend-toolkit/latest; ls /usr/local/Ascend/ascend-toolkit"]
    # when the 8.2.RC1 toolkit was installed: the same after the rollback, which switches the link and installs nothing
    installed = ["sh", "-c", "stat -c %Y /usr/local/Ascend/ascend-toolkit/8.2.RC1/*-linux/ascend_toolkit_install.info"]

    # the converged stack, upgraded to itself: site.yml and the smoke pass, the stack is recorded
    cp = cli("upgrade", "-i", inv, "--limit", "t2", "--waves", "100%", "--records", records)
    assert cp.returncode == 0, flat(cp)[-4000:]
    (first,) = json.loads((records / "t2.json").read_text())["stacks"]
    assert first["envs"]["llm-ms"]["versions"]["cann"] == "8.2.RC1" and first["source"] == "upgrade"
    installed_at = env_run(inv, installed)

    # CANN 8.3.RC1 for the same MindSpore: a site row says they go together (source: local)
    overrides = tmp_path / "rows.yml"
    overrides.write_text(yaml.safe_dump({
        "mindspore": [{"version": "2.7.0", "cann": ["8.3.RC1"], "source": "local: lab upgrade test"}],
        "cann_hdk": [{"cann": "8.3.RC1", "chips": ["300i-duo"], "driver": [">=25.0.RC1"],
                      "firmware": [">=7.7.0.1.231"], "source": "local: lab upgrade test"}]}))

    def newer_cann(hosts):
        hosts["t2"]["ascend_matrix_overrides"] = [str(overrides)]
        hosts["t2"]["ascend_containers"][0]["pins"]["cann"] = "8.3.RC1"

    copy_inventory(tmp_path, newer_cann)
    cp = cli("upgrade", "-i", inv, "--limit", "t2", "--waves", "100%", "--records", records)
    assert cp.returncode == 0, flat(cp)[-4000:]
    latest, *dirs = env_run(inv, toolkits).split()
    assert latest == "8.3.RC1" and {"8.2.RC1", "8.3.RC1"} <= set(dirs), (latest, dirs)
    stacks = json.loads((records / "t2.json").read_text())["stacks"]
    assert [s["envs"]["llm-ms"]["versions"]["cann"] for s in stacks] == ["8.2.RC1", "8.3.RC1"]

    # the inventory still asks for 8.3.RC1: the rollback goes to the last passing stack before it
    cp = cli("rollback", "-i", inv, "--limit", "t2", "--records", records)
    out = flat(cp)
    assert cp.returncode == 0, out[-4000:]
    assert "rollback: t2 ->" in out and "cann 8.2.RC1" in out, out[-3000:]
    latest, *dirs = env_run(inv, toolkits).split()
    assert latest == "8.2.RC1" and {"8.2.RC1", "8.3.RC1"} <= set(dirs), (latest, dirs)
    assert env_run(inv, installed) == installed_at                        # not installed again: the link moved
    stacks = json.loads((records / "t2.json").read_text())["stacks"]
    assert stacks[-1]["source"] == "rollback" and stacks[-1]["envs"]["llm-ms"]["versions"]["cann"] == "8.2.RC1"
