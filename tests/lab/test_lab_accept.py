"""Acceptance on the converged lab: the playbook ascend.env.accept (the command, from Ansible) accepts the clean lab
-- the doctor on t1, t2 and t3, the smoke in their three environments, 240 pings between the 16 device IPs of t1's
and t3's rank table, the collective across them -- and after ``lab fault t3 link-down --device 2`` the command names
every link of that port in the ping matrix, exits 1, and shows the drift against the first (passing) run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from labtools import ansible_env, failures

from ascend_env.day2.results import load_dir
from ascend_env.lab import lab as lab_mod
from ascend_env.lab.sysroot import device_addresses

from .conftest import PREFIX, REPO, lab

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"


def test_a_clean_lab_is_accepted_and_a_down_link_is_named_with_the_drift(converged, tmp_path):
    results = tmp_path / "acceptance"
    # The doctor checks the hosts' own python3, not t3's environment: the lab's CANN libraries answer "no device" as
    # the real ones do on a machine without an NPU (docs/lab.md), so torch_npu in any lab environment imports and
    # sees no NPU, which the doctor rightly fails; the environments are accepted by their smoke (device cpu here).
    python = ["--python", "/usr/bin/python3"]
    play = subprocess.run(["ansible-playbook", "playbooks/accept.yml", "-i", str(INVENTORY), "-e",
                           f"ascend_accept_results={results}", "-e", json.dumps({"ascend_accept_extra_args": python})],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=3000)
    assert play.returncode == 0, failures(play.stdout)
    (first,) = load_dir(results)
    assert first.passed and [r.key for r in first.results] == ["t1", "t1/llm-torch", "t2", "t2/llm-ms", "t3",
                                                                 "t3/llm-torch"]
    for host in ("t1", "t3"):                      # the rank table's hosts: 8 NPUs each, every other device IP
        pings = [n for n in first.result(host).checks if n.startswith("ping ")]
        assert len(pings) == 8 * 15 and first.result(host).checks["rank table"].passed
    assert not any(n.startswith("ping ") for n in first.result("t2").checks)       # t2 takes no part
    assert all(first.result(k).checks["smoke"].passed for k in ("t1/llm-torch", "t2/llm-ms", "t3/llm-torch"))
    assert first.result("t1/llm-torch").checks["collective all_reduce"].passed
    assert first.meta["t1 ascend-dmi"] == "not installed"                            # the lab has no ascend-dmi

    lab("fault", "t3", "link-down", "--device", "2")
    try:
        cp = subprocess.run([sys.executable, "-m", "ascend_env", "accept", "-i", str(INVENTORY), "--results",
                             str(results), "--json", *python], cwd=REPO, env=ansible_env(), capture_output=True,
                            text=True, timeout=3000)
    finally:
        lab("fault", "t3", "--clear", "link-down")
    assert cp.returncode == 1, cp.stderr[-3000:]
    doc = json.loads(cp.stdout)
    cfg = lab_mod.config_from_state(PREFIX)
    down = device_addresses(cfg.host("t3"))[2]["address"]
    bad = {(link["src"], link["dst"]) for link in doc["bad_links"]}
    assert len(bad) == 30 and all(src.startswith(f"t3 NPU 2 ({down})") or dst == down for src, dst in bad), bad
    assert doc["ping_matrix"]["suspects"] and all(f"t3 NPU 2 ({down})" in s for s in doc["ping_matrix"]["suspects"])
    assert doc["drift"]["baseline"] == first.timestamp
    kinds = {(c["key"], c["name"]): c["kind"] for c in doc["drift"]["changes"]}
    assert kinds[("t1", f"ping NPU 2 -> {down}")] == "failed"
    assert kinds[("t3", "rank table")] == "failed"
    report = Path(doc["report"]).read_text(encoding="utf-8")
    assert "FAILED" in report and f"-> {down} (t3 NPU 2 ({down})): no reply" in report
    assert f"Drift from the last passing run ({first.timestamp})" in report
