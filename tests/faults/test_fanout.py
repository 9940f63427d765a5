"""The artefact fan-out on four fresh hosts (f3-f6): the controller sends the bundle once, every host verifies it,
a peer that dies in the middle of a wave leaves the others converging from other sources, and a shared store is
used where it lies, nothing copied."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from labtools import ansible_env, recap, run_playbook

from ascend_env.lab.inventory import LAB_CONTAINERS
from ascend_env.lab.layout import HostPaths

from .conftest import PREFIX, lab

SPARE = ("f3", "f4", "f5", "f6")
TORCH = next(c for c in LAB_CONTAINERS if c["framework"] == "torch")
REPORT = Path.home() / ".cache/ascend-env/fanout-report.json"


def spare_inventory(path: Path, **extra: Any) -> Path:
    """The four spare hosts as ascend_hosts, each with the torch stack (the same bundle on every host)."""
    inv = yaml.safe_load((PREFIX / "inventory/hosts.yml").read_text())
    hosts = inv.pop("ascend_spare")["hosts"]
    for hv in hosts.values():
        hv["ascend_containers"] = [dict(TORCH)]
        hv.update(extra)
    inv["ascend_hosts"] = {"hosts": hosts, "vars": inv["ascend_hosts"].get("vars", {})}
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def host_store(host: str) -> Path:
    return PREFIX / f"hosts/{host}/root/var/cache/ascend-env/store"


def reset(*hosts: str) -> None:
    for h in hosts:
        subprocess.run(["rm", "-rf", str(host_store(h))], check=True)


def manifest() -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in json.loads((PREFIX / "store/manifest.json").read_text())["files"]}


def verified(host: str, paths: list[str]) -> bool:
    """Every file on the host hashes to the manifest's sha256 (read here, independently of the role)."""
    m = manifest()
    for p in paths:
        f = host_store(host) / p
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != m[p]["sha256"]:
            return False
    return True


@pytest.fixture()
def spares(fleet, tmp_path):
    """The spare hosts with empty stores; afterwards emptied again, and the lab's daemons back up."""
    reset(*SPARE)
    yield tmp_path
    reset(*SPARE)
    lab("up", "--config", str(fleet["tmp"] / "lab.yml"))


def test_the_controller_sends_the_bundle_once_and_every_host_verifies(spares):
    inventory = spare_inventory(spares / "hosts.yml")
    cp = run_playbook(inventory, "--tags", "artifacts")
    assert cp.returncode == 0, cp.stdout[-5000:]
    assert "artefacts: fanout (4 hosts need files" in cp.stdout
    report = json.loads(REPORT.read_text())
    assert report["done"]
    wanted = sorted(report["sizes"])
    bundle = sum(report["sizes"].values())
    # the controller's egress, from rsync's own --stats of its transfers: one bundle (+ rsync's protocol bytes)
    assert bundle <= report["bytes"]["controller"] <= bundle * 1.002, (report["bytes"], bundle)
    assert 3 * bundle <= report["bytes"]["peers"] <= 3 * bundle * 1.002
    waves = [[(t["src"], t["dst"]) for t in w["transfers"]] for w in report["log"]]
    assert len(waves) == 3 and waves[0] == [("controller", "f3")]          # 1 + log2(4) waves
    assert sum(1 for w in waves for src, _ in w if src == "controller") == 1
    assert all(verified(h, wanted) for h in SPARE)
    again = run_playbook(inventory, "--tags", "artifacts")
    assert again.returncode == 0 and all(r["changed"] == 0 for r in recap(again.stdout).values())
    assert "artefacts: direct (no file is needed by more than one host this run)" in again.stdout


def _sshd_down(host: str) -> None:
    """The host dies: its sshd and every session it serves (a crash, a pulled cable)."""
    pid = int(HostPaths(PREFIX / "hosts" / host).sshd_pid.read_text())
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def test_a_peer_that_dies_mid_wave_leaves_the_others_converging(spares, fleet):
    # slow the transfers (rsync --bwlimit) so that wave 3 is still running when f4 dies; f4 serves f6 in it
    inventory = spare_inventory(spares / "hosts.yml", ascend_artifacts_fanout_bwlimit=80000)
    log = spares / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(["ansible-playbook", "site.yml", "-i", str(inventory), "--tags", "artifacts"],
                               cwd=Path(__file__).resolve().parents[2], env=ansible_env(), stdout=out,
                               stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 600
        # the fan-out (one task, ascend.env.ascend_fanout) prints each wave as it starts
        while "artefacts: fan-out wave 3:" not in log.read_text() and time.monotonic() < deadline:
            assert run.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)                                                      # in the middle of f4 -> f6
        _sshd_down("f4")
        rc = run.wait(timeout=900)
    text = log.read_text()
    rows = recap(text)
    assert rc == 4 and rows["f4"]["unreachable"] == 1, text[-4000:]      # ansible-playbook's "unreachable"
    report = json.loads(REPORT.read_text())
    assert report["done"] and "f4" not in report["alive"] and report["lost"] == ["f4"]
    assert "retrying, attempt 2 of 3" in text and report["log"][2]["retries"]    # the retries are said
    assert (host_store("f4") / ".fanout/key").exists()                   # a dead host's copy keeps the key ...
    wanted = sorted(report["sizes"])
    assert all(verified(h, wanted) for h in ("f3", "f5", "f6"))
    third = [(t["src"], t["dst"]) for t in report["log"][2]["transfers"]]
    assert ("f4", "f6") in third and ["f4", "f6"] in report["log"][2]["failed"]
    later = [(t["src"], t["dst"]) for w in report["log"][3:] for t in w["transfers"]]
    assert later and all(src != "f4" for src, _ in later) and any(dst == "f6" for _, dst in later)
    bundle = sum(report["sizes"].values())
    assert report["bytes"]["controller"] <= bundle * 1.002               # the others still had every file
    # f4 back: the next run converges; what f4 verified in wave 2 before it died is checked there, not sent again
    lab("up", "--config", str(fleet["tmp"] / "lab.yml"))
    before = {p: (host_store("f4") / p).stat().st_mtime_ns for p in wanted if (host_store("f4") / p).is_file()}
    again = run_playbook(inventory, "--tags", "artifacts")
    assert again.returncode == 0, again.stdout[-4000:]
    assert verified("f4", wanted)
    assert {p: (host_store("f4") / p).stat().st_mtime_ns for p in before} == before     # checked, not resent
    assert not any((host_store(h) / ".fanout").exists() for h in SPARE)  # ... until the next run takes it off


def test_a_shared_store_is_used_where_it_lies(spares):
    """ascend_artifacts_shared_path: the hosts read the store where it is mounted; nothing is copied, and a file
    the shared copy lacks stops the run naming it."""
    shared = spares / "shared"
    subprocess.run(["cp", "-al", str(PREFIX / "store"), str(shared)], check=True)    # hard links: no 1 GB copy
    inventory = spare_inventory(spares / "hosts.yml", ascend_artifacts_shared_path=str(shared))
    cp = run_playbook(inventory, "--tags", "artifacts")
    assert cp.returncode == 0, cp.stdout[-4000:]
    assert f"artefacts: shared (ascend_artifacts_shared_path {shared}" in cp.stdout
    assert not any(host_store(h).exists() for h in SPARE)
    gone = next((shared / "wheels").glob("torch-*.whl"))
    gone.unlink()
    cp = run_playbook(inventory, "--tags", "artifacts")
    assert cp.returncode != 0
    assert f"the shared store {shared} lacks or differs in wheels/{gone.name}" in cp.stdout
