"""ascend-env plan on the built lab: the plan of an unchanged fleet is empty, and what it shows is what the converge
then changes (issue 22: the plan must agree with the converge)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from labtools import ansible_env, failures, recap, run_playbook

from .conftest import PREFIX, REPO

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"


def plan(*args: str) -> tuple[int, dict]:
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "plan", "-i", str(INVENTORY), "--json", *args],
                        capture_output=True, text=True, cwd=REPO, env=ansible_env(), timeout=900)
    assert "Traceback" not in cp.stdout + cp.stderr, cp.stderr[-3000:]
    return cp.returncode, json.loads(cp.stdout) if cp.stdout.strip() else {"stderr": cp.stderr}


def test_the_plan_of_the_converged_fleet_is_empty(converged):
    code, doc = plan()
    assert code == 0, json.dumps(doc, indent=1)[-3000:]
    assert doc["changes"] == 0 and doc["unread"] == []
    assert all(h["read"] and h["ready"] and not h["changes"] for h in doc["hosts"].values())


def test_a_stopped_container_is_planned_and_the_converge_changes_exactly_that(converged):
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"]["t1"]
    engine = dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"])
    stopped = subprocess.run(["docker", "stop", "-t", "1", "llm-torch"], capture_output=True, text=True, timeout=120,
                             env=engine)
    assert stopped.returncode == 0, stopped.stderr
    try:
        code, doc = plan("--limit", "t1")
        assert code == 1, json.dumps(doc, indent=1)[-3000:]
        assert list(doc["hosts"]) == ["t1"]           # the limit's hosts only, none shown as "not read"
        changes = doc["hosts"]["t1"]["changes"]
        assert [(c["target"], c["role"], c["what"], c["why"]) for c in changes] == [
            ("t1/llm-torch", "container", "start", "it is stopped")]
        run = run_playbook(INVENTORY, "--limit", "t1,t1-*", "--skip-tags", "smoke")
        assert run.returncode == 0, failures(run.stdout)
        assert recap(run.stdout)["t1"]["changed"] == len(changes), failures(run.stdout)
        code, doc = plan("--limit", "t1")
        assert code == 0 and doc["changes"] == 0, json.dumps(doc, indent=1)[-3000:]
    finally:   # the suites after this one share the lab: leave the container running whatever happened here
        subprocess.run(["docker", "start", "llm-torch"], capture_output=True, text=True, timeout=120, env=engine)


def test_a_package_missing_in_an_environment_is_planned_and_the_converge_changes_exactly_that(converged):
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"]["t1"]
    engine = dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"])
    gone = subprocess.run(["docker", "exec", "llm-torch", "/opt/ascend-env/venv/bin/pip", "uninstall", "-y",
                           "torch_npu"], capture_output=True, text=True, timeout=300, env=engine)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    converged_again = False
    try:
        code, doc = plan("--limit", "t1")
        assert code == 1, json.dumps(doc, indent=1)[-3000:]
        assert list(doc["hosts"]) == ["t1"] and doc["unread_envs"] == []
        changes = doc["hosts"]["t1"]["changes"]
        assert changes and all(c["target"] == "t1/llm-torch" and c["role"] == "framework" for c in changes), changes
        npu = [c for c in changes if c["why"] == "install" and re.search(r"torch[-_]npu \(none\) -> ", c["what"])]
        assert npu, changes
        run = run_playbook(INVENTORY, "--limit", "t1,t1-*", "--skip-tags", "smoke")
        converged_again = run.returncode == 0
        assert run.returncode == 0, failures(run.stdout)
        assert recap(run.stdout)["t1-llm-torch"]["changed"] >= 1, failures(run.stdout)
        code, doc = plan("--limit", "t1")
        assert code == 0 and doc["changes"] == 0 and doc["unread_envs"] == [], json.dumps(doc, indent=1)[-3000:]
    finally:   # the suites after this one share the lab: put the package back whatever happened here
        if not converged_again:
            run_playbook(INVENTORY, "--limit", "t1,t1-*", "--skip-tags", "smoke")
