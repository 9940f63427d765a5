"""Upgrading ascend-env itself changes nothing on a fleet: a host converged by the code before the typed fleet plan
(issue 21) is converged again by this checkout with changed=0, and its container is the same container (the spec
hash is unchanged; the spec label the plan added is left out of the hash, so no container is recreated for it).

The baseline is main before issue 21 landed.  It is read from this clone's history (``git archive``); a shallow
clone that lacks it skips this test with that reason (only a lab that cannot run is a failure on CI).
Cost: one host's converge with the baseline (its container removed first, so the baseline creates it) and one with
this checkout, about 2 minutes on a 2-core machine.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from labtools import ansible_env, failures, recap

from .conftest import PREFIX, REPO, ssh

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"
#: main before issue 21 (the typed fleet plan, thin roles): what a user upgrading ascend-env runs today
BASELINE = "752073cb091243daa528a69d7da6602d93a7f9ec"
HOST, ENV = "t1", "t1-llm-torch"
LIST = "docker ps -a --filter label=io.ascend-env.spec-hash --format '{{.Names}} {{.ID}}'"


def _containers() -> dict[str, str]:
    cp = ssh(HOST, LIST)
    assert cp.returncode == 0, cp.stderr
    return dict(line.split() for line in cp.stdout.splitlines() if line.strip())


def _baseline(tmp_path) -> str:
    have = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "-q", f"{BASELINE}^{{commit}}"],
                          capture_output=True, text=True)
    if have.returncode != 0:
        pytest.skip(f"this clone lacks the baseline commit {BASELINE} (shallow): git fetch --unshallow to run it")
    src = tmp_path / "baseline"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", BASELINE], capture_output=True,
                             check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    return str(src)


def _site(cwd: str, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = ansible_env()
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.run(["ansible-playbook", "site.yml", "-i", str(INVENTORY), "--limit", f"{HOST},{ENV}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=3000)


def test_a_host_converged_by_the_baseline_is_unchanged_by_this_checkout(converged, tmp_path):
    src = _baseline(tmp_path)
    old = _containers()
    assert old, f"no ascend-env container on {HOST}"
    rm = ssh(HOST, "docker rm -f " + " ".join(old))
    assert rm.returncode == 0, rm.stderr
    # the baseline's own roles, plugins and Python package (its filters import ascend_env: PYTHONPATH first)
    before = _site(src, pythonpath=src)
    assert before.returncode == 0, failures(before.stdout)
    assert recap(before.stdout)[ENV]["changed"] > 0
    made = _containers()
    assert set(made) == set(old)
    after = _site(str(REPO))
    assert after.returncode == 0, failures(after.stdout)
    rows = recap(after.stdout)
    assert {h: r["changed"] for h, r in rows.items() if h in (HOST, ENV)} == {HOST: 0, ENV: 0}, \
        failures(after.stdout)
    assert _containers() == made, "a container was recreated: its spec hash changed"
