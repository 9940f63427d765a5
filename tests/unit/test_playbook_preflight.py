"""site.yml's preflight on the controller: resolves every container's stack, or stops with one message
per problem naming the host, the container, the rule and the fix (nothing on a host changes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
PLAYBOOK = shutil.which("ansible-playbook", path=_PATH)
pytestmark = pytest.mark.skipif(PLAYBOOK is None and not os.environ.get("CI"),
                                reason="ansible-playbook not installed (scripts/bootstrap.sh installs it)")


def run_playbook(inventory: Path | None = None, **env_extra: str) -> subprocess.CompletedProcess[str]:
    # the preflight alone: site.yml goes on to the hosts, and the example inventory's are documentation addresses
    args = [PLAYBOOK or "ansible-playbook", "playbooks/preflight.yml"]
    if inventory:
        args += ["-i", str(inventory)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PYTHONPATH=str(ROOT), PATH=_PATH,
               **env_extra)
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("runtime", [None, ">=2.16.3,<2.31.0"])
def test_the_controller_check_takes_the_ansible_range_from_meta_runtime(tmp_path, runtime):
    """The first play's vars, as written, in a playbook beside a meta/runtime.yml (the collection's layout): the
    range they give is that file's requires_ansible -- the real one, and another one to show it is read, not
    written twice."""
    play = yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text())[0]
    (tmp_path / "playbooks").mkdir()
    if runtime is None:
        (tmp_path / "meta").symlink_to(ROOT / "meta")
        runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"]
    else:
        (tmp_path / "meta").mkdir()
        (tmp_path / "meta/runtime.yml").write_text(yaml.safe_dump({"requires_ansible": runtime}))
    low, high = runtime.removeprefix(">=").split(",<")
    probe = [{"name": "The controller check's range", "hosts": "localhost", "connection": "local",
              "gather_facts": False, "vars": play["vars"],
              "tasks": [{"name": "Show it", "ansible.builtin.debug": {
                  "msg": "range {{ ascend_ansible_min_version }} {{ ascend_ansible_max_version }}"}}]}]
    (tmp_path / "playbooks/probe.yml").write_text(yaml.safe_dump(probe, sort_keys=False))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=_PATH)
    r = subprocess.run([PLAYBOOK or "ansible-playbook", "-i", "localhost,", str(tmp_path / "playbooks/probe.yml")],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"range {low} {high}" in r.stdout


def test_example_inventory_resolves():
    r = run_playbook()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ms-llama2: CANN" in r.stdout and "torch-llama2: CANN" in r.stdout


@pytest.mark.parametrize("strategy", ["free", "host_pinned"])
def test_a_strategy_other_than_linear_stops_before_anything_with_the_fix(strategy):
    r = run_playbook(ANSIBLE_STRATEGY=strategy)
    said = " ".join(r.stdout.split())
    assert r.returncode != 0, said
    assert f'strategy "{strategy}" (ANSIBLE_STRATEGY, or [defaults] strategy in ansible.cfg)' in said
    assert "Fix: unset ANSIBLE_STRATEGY or set strategy = linear" in said
    assert "ms-llama2: CANN" not in said                 # stopped before any host's stack


def test_the_linear_strategy_by_its_full_name_passes():
    r = run_playbook(ANSIBLE_STRATEGY="ansible.builtin.linear")
    assert r.returncode == 0, r.stdout[-2000:]


def test_contradictory_pins_stop_with_host_container_rule_and_fix(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "ascend_hosts:\n"
        "  hosts:\n"
        "    bad-host:\n"
        "      ansible_host: 192.0.2.99\n"
        "      ascend_chip: 910b\n"
        "      ascend_arch: aarch64\n"
        "      ascend_host_pins: {driver: '23.0.3'}\n"
        "      ascend_containers:\n"
        "        - {name: ms, framework: mindspore, pins: {mindspore: '2.2.11', cann: '8.0.RC1'}}\n"
        "        - {name: pt, framework: torch, pins: {cann: '8.1.RC1'}}\n")
    r = run_playbook(inv)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "bad-host / container ms" in out and "MindSpore 2.2.11 needs CANN 7.0.0.beta1" in out
    assert "bad-host / container pt" in out and "23.0.3" in out and "upgrade the driver" in out
