"""The ascend_artifacts role end to end without the lab: three "hosts" on this machine (Ansible's local connection),
each with its own store folder, the plan's slice set as the preflight would and the host read by
ascend.env.ascend_state; the fan-out's SSH is a stand-in that runs the command in the named host's place (rrsync for
the peers' key), rsync, rrsync and sha256sum are real.  A fresh fleet gets the bundle once from the controller and
the rest from peers; an unchanged fleet runs two of the role's tasks per host at most, and nothing changes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from test_fanout_rsync import FAKE_SSH

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("rsync", "rrsync", "sha256sum", "ssh-keygen")),
                                reason="needs rsync, rrsync, sha256sum and ssh-keygen")
HOSTS = ("n1", "n2", "n3")

PLAY = """
- name: Plan and read the hosts as the preflight and playbooks/hosts.yml do
  hosts: ascend_hosts
  gather_facts: false
  tasks:
    - name: The plan's slice
      ansible.builtin.set_fact:
        ascend_plan:
          name: "{{ inventory_hostname }}"
          connection: {address: "{{ addr }}", port: 22, user: root, key_file: null, ssh_common_args: ""}
          root: "{{ tmp }}/{{ inventory_hostname }}"
          containers: true
          store_dir: "{{ tmp }}/{{ inventory_hostname }}/store"
          shared_store: false
          offline_store: "{{ tmp }}/store"
          image_tar: base.tar
          runs: [Ascend-cann-toolkit.run]
          frameworks: [torch]
          conda: false
    - name: Read the host
      ascend.env.ascend_state:
        scope: host
        probe: false
        store_dir: "{{ ascend_plan.store_dir }}"
      register: ascend_host_state

- name: The role
  hosts: ascend_hosts
  gather_facts: false
  roles:
    - ascend.env.ascend_artifacts
"""


@pytest.fixture()
def site(tmp_path):
    store = tmp_path / "store"
    files = {"runs/Ascend-cann-toolkit.run": os.urandom(200_000), "images/base.tar": os.urandom(30_000),
             "wheels/torch-2.1.0-cp39-none-any.whl": os.urandom(20_000),
             "wheels/mindspore-2.3.0-cp39-none-any.whl": os.urandom(5_000)}
    entries = []
    for p, data in files.items():
        (store / p).parent.mkdir(parents=True, exist_ok=True)
        (store / p).write_bytes(data)
        entries.append({"path": p, "size": len(data), "mtime": 0, "sha256": hashlib.sha256(data).hexdigest()})
    (store / "manifest.json").write_text(json.dumps({"files": entries}))
    addrs = {h: f"10.77.0.{i}" for i, h in enumerate(HOSTS, 1)}
    (tmp_path / "known_hosts").write_text("".join(f"{a} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx{i}\n"
                                                  for i, a in enumerate(addrs.values())))
    inv = {"ascend_hosts": {"hosts": {h: {"addr": a} for h, a in addrs.items()}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "tmp": str(tmp_path),
        "ascend_artifacts_authorized_keys": f"{tmp_path}/{{{{ inventory_hostname }}}}/authorized_keys",
        "ascend_artifacts_fanout_key": str(tmp_path / "fanout_key"),
        "ascend_artifacts_fanout_report": str(tmp_path / "report.json"),
        "ascend_artifacts_known_hosts": str(tmp_path / "known_hosts"),
        "ascend_artifacts_bundle": f"{tmp_path}/bundle-{{{{ inventory_hostname }}}}.tar"}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "play.yml").write_text(PLAY)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.replace("PYTHON", sys.executable))
    (bin_dir / "ssh").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", FAKE_SSH_LOG=str(tmp_path / "ssh.log"), FAKE_SSH_CWD=str(tmp_path),
               FAKE_SSH_STORES=json.dumps({a: f"{tmp_path}/{h}/store" for h, a in addrs.items()}))
    return {"tmp": tmp_path, "files": files, "env": env}


def play(site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ansible-playbook", "-i", str(site["tmp"] / "hosts.yml"), str(site["tmp"] / "play.yml"),
                           *args], cwd=REPO, env=site["env"], capture_output=True, text=True, timeout=600)


def role_tasks(stdout: str) -> Counter[str]:
    """Host-tasks of the role per host (each result line under one of its task banners), Ansible's argument check
    left out."""
    counts: Counter[str] = Counter()
    in_role = False
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            in_role = line.startswith("TASK [ascend.env.ascend_artifacts : ") and "Validating arguments" not in line
            continue
        m = re.match(r"^(ok|changed|skipping|failed|fatal): \[([^\]\s]+)", line)
        if in_role and m:
            counts[m.group(2)] += 1
    return counts


def test_fanout_on_a_fresh_fleet_then_two_tasks_a_host_when_nothing_changed(site):
    first = play(site)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "artefacts: fanout (3 hosts need files, 3 of them (0 MB) by more than one" in first.stdout
    assert "artefacts: fan-out wave 1: 1 transfer(s): controller -> n1" in first.stdout
    report = json.loads((site["tmp"] / "report.json").read_text())
    wanted = ["images/base.tar", "runs/Ascend-cann-toolkit.run", "wheels/torch-2.1.0-cp39-none-any.whl"]
    assert report["done"] and sorted(report["sizes"]) == wanted                      # no mindspore wheel
    bundle = sum(report["sizes"].values())
    assert bundle <= report["bytes"]["controller"] <= bundle * 1.05
    assert 2 * bundle <= report["bytes"]["peers"] <= 2 * bundle * 1.05
    manifest = {e["path"]: e for e in json.loads((site["tmp"] / "store/manifest.json").read_text())["files"]}
    for h in HOSTS:
        copy = site["tmp"] / h / "store"
        for p in wanted:
            assert hashlib.sha256((copy / p).read_bytes()).hexdigest() == manifest[p]["sha256"]
        assert (copy / ".received.sha256").read_text() == "".join(f"{manifest[p]['sha256']}  {p}\n" for p in wanted)
        assert not (copy / ".fanout").exists()                                      # the key is off the host
        keys = (site["tmp"] / h / "authorized_keys").read_text()
        assert re.search(rf'^restrict,command="\S*rrsync -ro {re.escape(str(copy))}" ssh-ed25519 \S+ '
                         r"ascend-env-fanout$", keys, re.M), keys

    again = play(site)
    assert again.returncode == 0, again.stdout[-4000:]
    assert re.findall(r"changed=(\d+)", again.stdout) == ["0"] * len(HOSTS)
    assert "artefacts: direct (no file is needed by more than one host this run)" in again.stdout
    counts = role_tasks(again.stdout)
    assert set(counts) == set(HOSTS) and max(counts.values()) <= 2, counts        # the budget: 2 a host

    # a host whose copy lost a file gets it back straight from the controller; the others do not move
    (site["tmp"] / "n2/store/images/base.tar").unlink()
    third = play(site)
    assert third.returncode == 0, third.stdout[-4000:]
    assert "artefacts: direct (no file is needed by more than one host this run)" in third.stdout
    assert (site["tmp"] / "n2/store/images/base.tar").read_bytes() == site["files"]["images/base.tar"]
    assert role_tasks(third.stdout)["n1"] <= 2 and role_tasks(third.stdout)["n3"] <= 2
