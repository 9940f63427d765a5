"""The conda provider on its own one-host lab: a container with ``python_provider: conda`` gets MindSpore 2.7.0 on
Python 3.9 (the image's python3 is 3.11) in a real conda environment that py-rattler solves and installs from the
store's channel (CPython repackaged from Debian's binary packages, pip from PyPI; ``lab store --conda``).

Bad input first (the preflight stops an unknown provider, a Python the stack forbids and a Python the channel lacks;
an unreachable channel stops the role in the container with nothing created), then the converge with the
framework's own check, a second run and a check-mode run that change nothing, the testinfra suite (conda-meta,
the Python minor), the doctor naming the environment, and a Python change in the stack, which replaces the
environment (with a message) instead of changing it in place.

Own prefix (``.lab-conda``) and addresses (127.0.0.70-79), so it runs beside the other lab suites.  Root only (it
skips otherwise; ASCEND_ENV_REQUIRE_LAB=1 makes that a failure).  Cost on a 2-core machine, cold: the channel
~25 s (Debian packages, no compiler), MindSpore's cp39 wheels from PyPI, then about six playbook runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from labtools import REPO, ansible_env, failures, lab_cli, recap, require_root

from ascend_env.lab import store
from ascend_env.lab.config import build_config

PREFIX = REPO / ".lab-conda"
INVENTORY = PREFIX / "inventory/hosts.yml"
HOST = "c1"
ENV = f"{HOST}-llm-conda"
NAME = "ascend-cann8.2-py3.9"   # the default name: CANN 8.2.RC1 (MindSpore 2.7.0), Python 3.9
CONFIG = {"hosts": [{"name": HOST, "chip": "910b", "cards": 2, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
                     "address": "127.0.0.70", "conda": True}]}
#: Nothing listens on this loopback address and port: connection refused at once (a channel that is down).
DEAD_CHANNEL = "http://127.0.0.79:9/conda-forge"
TIMES: dict[str, float] = {}


def lab(*args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return lab_cli(PREFIX, *args, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def conda_lab(tmp_path_factory):
    require_root("conda lab test")
    work = tmp_path_factory.mktemp("conda-lab")
    cfg = work / "lab.yml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    if PREFIX.exists():
        lab("down", check=False)
    t0 = time.monotonic()
    cp = lab("up", "--config", str(cfg), "--wheels", "--json")   # the conda channel and py-rattler come with it
    up = json.loads(cp.stdout.strip().splitlines()[-1])
    TIMES["lab up (with the conda channel)"] = time.monotonic() - t0
    built = [a for a in up["actions"] if a.startswith("conda channel built in")]
    if built:
        TIMES["conda channel build"] = float(re.search(r"in (\d+) s", built[0]).group(1))
    t0 = time.monotonic()
    for python, reqs in store.stack_wheel_sets(build_config(CONFIG, prefix=PREFIX)).items():
        lab("store", "--wheels", *reqs, "--python", python)
    TIMES["framework wheels (cp39)"] = time.monotonic() - t0
    # a home of its own: the smoke's package zip and reports, the artefact bundles (~/.cache/ascend-env) stay apart
    # from other runs on this machine
    env = dict(ansible_env(), HOME=str(work / "home"))
    (work / "home").mkdir()
    yield {"work": work, "env": env, "up": up}
    lab("down")
    print("\nconda lab times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in TIMES.items()), file=sys.stderr)


def playbook(lab_: dict[str, Any], *extra: str, inventory: Path = INVENTORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ansible-playbook", "site.yml", "-i", str(inventory), *extra], cwd=REPO,
                          env=lab_["env"], capture_output=True, text=True, timeout=3600)


def variant(lab_: dict[str, Any], name: str, change) -> Path:
    """A copy of the lab's inventory with ``change(hostvars)`` applied to the host."""
    doc = yaml.safe_load(INVENTORY.read_text())
    change(doc["ascend_hosts"]["hosts"][HOST])
    path = lab_["work"] / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def in_env(command: str) -> subprocess.CompletedProcess[str]:
    """A command in the container, over its own sshd (as Ansible reaches it)."""
    hv = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"][HOST]
    return subprocess.run(["ssh", "-i", hv["ansible_ssh_private_key_file"], *hv["ansible_ssh_common_args"].split(),
                           "-o", "BatchMode=yes", "-p", "223", f"root@{hv['ansible_host']}", command],
                          capture_output=True, text=True, timeout=120)


def test_the_store_channel_holds_real_conda_packages(conda_lab):
    """python 3.9 and 3.11 (from Debian's binary packages) and pip (from PyPI), indexed: repodata.json per subdir,
    each .conda a zip of info-*.tar.zst and pkg-*.tar.zst with info/index.json and info/paths.json."""
    import zipfile

    channel = PREFIX / "store/conda/channel"
    repo = json.loads((channel / "linux-64/repodata.json").read_text())
    pythons = {r["version"]: f for f, r in repo["packages.conda"].items() if r["name"] == "python"}
    assert sorted(v.rsplit(".", 1)[0] for v in pythons) == ["3.11", "3.9"], pythons
    noarch = json.loads((channel / "noarch/repodata.json").read_text())
    assert [r["name"] for r in noarch["packages.conda"].values()] == ["pip"]
    with zipfile.ZipFile(channel / "linux-64" / pythons[min(pythons)]) as z:
        names = z.namelist()
    assert "metadata.json" in names and any(n.startswith("info-") for n in names), names
    manifest = {e["path"] for e in json.loads((PREFIX / "store/manifest.json").read_text())["files"]}
    assert {"conda/channel/noarch/repodata.json", "conda/channel/linux-64/repodata.json"} <= manifest
    assert any(p.startswith("wheels/py_rattler-0.28.0-") for p in manifest)


def test_bad_input_stops_in_the_preflight_with_nothing_changed(conda_lab):
    """One host, three bad containers: an unknown provider, a Python the stack forbids (CANN 8.2.RC1's driver), a
    Python the store's channel does not have.  One run, a line per problem naming the value and the fix; no container
    made."""
    good = yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"][HOST]["ascend_containers"][0]

    def bad(hv):
        hv["ascend_containers"] = [
            {**good, "name": "bad-provider", "python_provider": "mamba", "ssh_port": 231},
            {**good, "name": "bad-python", "pins": {**good["pins"], "python": "3.6"}, "ssh_port": 232},
            {**good, "name": "no-such-python", "pins": {**good["pins"], "python": "3.10"}, "ssh_port": 233},
        ]
    run = playbook(conda_lab, "--skip-tags", "smoke", inventory=variant(conda_lab, "bad", bad))
    assert run.returncode != 0
    out = run.stdout
    assert "preflight problem(s); nothing was" in out, out[-4000:]
    assert "container bad-provider: python_provider 'mamba': is not a Python environment provider" in out
    assert "use venv (a venv of the image's python3) or conda" in out
    assert re.search(r"container bad-python: pins .*: no consistent stack: no stack in the matrix combines driver "
                     r"25\.0\.RC1\.1 \(installed/pinned\) with Python 3\.6\.\*", out), out[-4000:]
    assert re.search(r"container no-such-python: pins.python '3.10': the store's conda channel \S+ has no python "
                     r"3\.10\.\* for linux-64 \(it has 3\.9\.\d+, 3\.11\.\d+\)", out), out[-4000:]
    ps = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                        env=dict(os.environ, DOCKER_HOST=f"unix://{PREFIX}/hosts/{HOST}/run/docker.sock"))
    assert ps.stdout.split() == [], ps.stdout


def test_an_unreachable_channel_is_named_and_nothing_is_created(conda_lab):
    """Online with the site's mirror down: the role stops in the container before making anything conda."""
    def online(hv):
        hv["ascend_offline"] = False
        hv["ascend_conda_channels"] = [DEAD_CHANNEL]
    t0 = time.monotonic()
    run = playbook(conda_lab, "--skip-tags", "smoke", inventory=variant(conda_lab, "online", online))
    TIMES["run with an unreachable channel (container, artefacts)"] = time.monotonic() - t0
    assert run.returncode != 0
    flat = " ".join(run.stdout.split())   # Ansible's YAML output wraps long messages
    assert f"the conda channel(s) {DEAD_CHANNEL} is unreachable from this environment within 10 s" in flat, \
        failures(run.stdout)
    assert "Connection refused" in flat and "Nothing was created" in flat
    left = in_env("ls -A /opt/conda /opt/ascend-env 2>&1; echo rc=$?")
    assert "No such file or directory" in left.stdout and "conda-tools" not in left.stdout, left.stdout


def test_site_converges_with_the_framework_check_in_the_conda_environment(conda_lab):
    t0 = time.monotonic()
    run = playbook(conda_lab)
    TIMES["converge"] = time.monotonic() - t0
    assert run.returncode == 0, failures(run.stdout)
    rows = recap(run.stdout)
    assert rows[ENV]["failed"] == 0 and rows[ENV]["changed"] > 0
    # MindSpore's own run_check, on the CPU, with the environment's Python 3.9
    flat = " ".join(run.stdout.split())
    assert "MindSpore version: 2.7.0" in flat and "has been installed on platform [CPU] successfully" in flat, \
        run.stdout[-3000:]
    assert re.search(rf"{ENV}\s+mindspore/mindspore-direct\s+cpu\s+30/30\s+equal", run.stdout), run.stdout[-3000:]
    conda_lab["converge"] = run


def test_a_second_run_and_a_check_run_change_nothing(conda_lab):
    t0 = time.monotonic()
    second = playbook(conda_lab, "--skip-tags", "smoke")
    TIMES["re-converge"] = time.monotonic() - t0
    assert second.returncode == 0, failures(second.stdout)
    rows = recap(second.stdout)
    assert {h: r["changed"] for h, r in rows.items()} == {h: 0 for h in rows}, second.stdout[-3000:]
    t0 = time.monotonic()
    check = playbook(conda_lab, "--skip-tags", "smoke", "--check")
    TIMES["check-mode run"] = time.monotonic() - t0
    assert check.returncode == 0, failures(check.stdout)
    rows = recap(check.stdout)
    assert {h: r["changed"] for h, r in rows.items()} == {h: 0 for h in rows}, check.stdout[-3000:]


def test_the_environment_is_a_conda_environment_with_python_3_9(conda_lab):
    env = f"/opt/conda/envs/{NAME}"
    got = in_env(f"{env}/bin/python -c 'import sys, ssl, sqlite3, ctypes; print(sys.version_info[:2], sys.prefix)'; "
                 f"/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])'; ls {env}/conda-meta; "
                 f"cat /opt/conda/.condarc; {env}/bin/pip --version")
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert lines[0] == f"(3, 9) /opt/conda/envs/{NAME}" and lines[1] == "(3, 11)", lines
    assert "history" in lines and any(re.fullmatch(r"python-3\.9\.\d+-h\w+_0_cpython\.json", x) for x in lines)
    assert "- file:///opt/ascend-store/conda/channel" in got.stdout and "offline: true" in got.stdout
    assert f"/opt/conda/envs/{NAME}/lib/python3.9/site-packages/pip (python 3.9)" in got.stdout
    history = in_env(f"cat /opt/conda/envs/{NAME}/conda-meta/history").stdout
    assert re.match(r"==> \d{4}-\d\d-\d\d \d\d:\d\d:\d\d <==\n# cmd: ascend_conda_rattler.py create ", history)
    assert "+file:///opt/ascend-store/conda/channel/linux-64::python-3.9." in history
    assert "# update specs: ['python 3.9.*', 'pip']" in history


def test_the_testinfra_suite_passes_with_its_conda_checks(conda_lab):
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/infra", f"--ansible-inventory={INVENTORY}", "-q",
                          "-rA", "-p", "no:cacheprovider"], cwd=REPO, env=conda_lab["env"], capture_output=True,
                         text=True, timeout=900)
    TIMES["testinfra suite"] = time.monotonic() - t0
    assert run.returncode == 0, run.stdout[-4000:]
    for test in ("test_conda_environment_is_a_conda_prefix", "test_conda_environment_is_the_one_bashrc_activates",
                 "test_python_is_the_resolved_version"):
        assert f"PASSED tests/infra/test_fleet.py::{test}[{ENV}]" in run.stdout, run.stdout[-4000:]


def test_the_doctor_names_the_conda_environment_and_checks_its_python(conda_lab):
    run = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--inventory", str(INVENTORY), "--containers",
                          "--only", "python", "--json"], cwd=REPO, env=conda_lab["env"], capture_output=True,
                         text=True, timeout=600)
    doc = json.loads(run.stdout)
    checks = [c for t in doc["targets"] if t["name"] == f"{HOST}/llm-conda" for c in t["checks"]
              if c["id"] == "python.version"]
    assert checks, run.stdout[-3000:] + run.stderr[-2000:]
    summary = checks[0]["summary"]
    assert checks[0]["status"] == "ok", summary
    want = rf"Python 3\.9\.\d+ \(conda env {NAME}, /opt/conda/envs/{NAME}\) is supported by CANN 8\.2\.RC1"
    assert re.fullmatch(want, summary), summary


def test_a_python_change_in_the_stack_replaces_the_environment(conda_lab):
    """The stack's Python becomes 3.11: a new environment (default name) replaces the 3.9 one, with a message; then
    the same name with another Python: that environment is made again.  Never an in-place change."""
    new = "ascend-cann8.2-py3.11"
    t0 = time.monotonic()
    # the store holds the stack's wheels for Python 3.9 only: CANN's Python dependencies (numpy<2.0) are not
    # installed into this 3.11 environment, which the test makes to watch the replacement, not to use
    run = playbook(conda_lab, "--tags", "python", "-e", "ascend_python_version=3.11",
                   "-e", '{"ascend_python_cann_requirements": []}')
    TIMES["python change (--tags python)"] = time.monotonic() - t0
    assert run.returncode == 0, failures(run.stdout)
    assert (f"conda environment {new} replaces {NAME}, which this role made before and removes once the new one is made"
            in " ".join(run.stdout.split())), run.stdout[-3000:]
    got = in_env(f"/opt/conda/envs/{new}/bin/python -V; ls /opt/conda/envs; cat /opt/conda/.ascend-env-environment;"
                 f" test -f /opt/conda/envs/{new}/conda-meta/history && echo history")
    assert got.stdout.split() == ["Python", got.stdout.split()[1], new, new, "history"], got.stdout
    assert got.stdout.split()[1].startswith("3.11.")
    again = playbook(conda_lab, "--tags", "python", "-e", "ascend_python_version=3.9",
                     "-e", f"ascend_python_env_name={new}")
    assert again.returncode == 0, failures(again.stdout)
    flat = " ".join(again.stdout.split())
    assert re.search(rf"recreating conda environment {new} \(/opt/conda/envs/{new}\): it has Python 3\.11\.\d+, the "
                     r"stack needs Python 3\.9; an environment is made again, never changed in place", flat), \
        flat[-3000:]
    assert in_env(f"/opt/conda/envs/{new}/bin/python -V").stdout.startswith("Python 3.9.")
