"""One fact per test, for every container site.yml built (see conftest.py for how to run it)."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

import pytest

from ascend_env.render import MANAGER_DEVICES, parse_device_selection


def inspect(env) -> dict:
    cp = env.host.run(f"{env.engine_env}{shlex.quote(env.cli)} inspect {shlex.quote(env.container['name'])}")
    assert cp.rc == 0, f"{env.cli} inspect {env.container['name']} on {env.host_name}: {cp.stderr}"
    return json.loads(cp.stdout)[0]


def _selection(devices: Any) -> str:
    """The plan's device selection as the renderer reads it ('all', '0-3', or a list of card numbers)."""
    return ",".join(str(d) for d in devices) if isinstance(devices, (list, tuple)) else str(devices)


# --- on the NPU host, through its engine ----------------------------------------------------------------
@pytest.mark.container
def test_container_is_running(env):
    assert inspect(env)["State"]["Running"] is True


@pytest.mark.container
def test_container_has_its_npu_devices(env):
    listing = env.host.run(f"ls {shlex.quote(env.root + '/dev')}").stdout.split()
    cards = sorted(int(n[7:]) for n in listing if n.startswith("davinci") and n[7:].isdigit())
    want = {f"/dev/davinci{n}" for n in parse_device_selection(_selection(env.container["devices"]), cards)}
    want |= {f"/dev/{m}" for m in MANAGER_DEVICES}
    have = {d["PathInContainer"] for d in inspect(env)["HostConfig"]["Devices"] or []}
    assert have == want


@pytest.mark.container
def test_container_mounts_the_driver_libraries_read_only(env):
    mounts = {m["Destination"]: m for m in inspect(env)["Mounts"]}
    driver = {d: m for d, m in mounts.items() if d == "/usr/local/Ascend/driver"
              or d.startswith("/usr/local/Ascend/driver/")}
    assert {"/usr/local/Ascend/driver", "/usr/local/Ascend/driver/lib64"} & set(driver), sorted(mounts)
    assert [d for d, m in driver.items() if m["RW"]] == []


@pytest.mark.container
def test_container_mounts_npu_smi_read_only(env):
    mounts = {m["Destination"]: m for m in inspect(env)["Mounts"]}
    assert mounts["/usr/local/bin/npu-smi"]["RW"] is False


# --- inside the container, over its own sshd ------------------------------------------------------------
@pytest.mark.container
def test_sshd_listens_on_the_hosts_address_and_the_containers_port(env):
    assert env.env.socket(f"tcp://{env.address}:{env.port}").is_listening


@pytest.mark.container
def test_sshd_is_configured_key_only(env):
    effective = env.env.run("sshd -T").stdout.lower().splitlines()
    password = env.host_plan.ssh.password_login
    assert ("passwordauthentication yes" if password else "passwordauthentication no") in effective


@pytest.mark.container
def test_sshd_refuses_a_password_login_from_the_controller(env):
    if env.host_plan.ssh.password_login:
        pytest.skip("the inventory asks for password login (ascend_ssh_password_login: true)")
    args = shlex.split(env.plan.connection.ssh_common_args)
    cp = subprocess.run(["ssh", *args, "-p", str(env.port), "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
                         "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "ConnectTimeout=10",
                         f"root@{env.address}", "true"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 255 and "Permission denied (publickey)" in cp.stderr, cp.stderr


def test_python_is_the_resolved_version(env):
    want = ".".join(str(env.component("python")).split(".")[:2])
    got = env.env.run(f"{env.venv}/bin/python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert got.stdout.strip() == want


@pytest.mark.conda
def test_conda_environment_is_a_conda_prefix(env):
    """conda-meta/history (conda's mark of an environment) and conda's record of the python package."""
    path = env.pyenv["path"]
    assert env.env.file(f"{path}/conda-meta/history").is_file
    history = env.env.file(f"{path}/conda-meta/history").content_string
    assert history.startswith("==> ") and "::python-" in history, history
    records = env.env.run(f"ls {shlex.quote(path)}/conda-meta").stdout.split()
    python = [r for r in records if r.startswith("python-") and r.endswith(".json")]
    assert len(python) == 1, records
    record = json.loads(env.env.file(f"{path}/conda-meta/{python[0]}").content_string)
    want = ".".join(str(env.component("python")).split(".")[:2])
    assert record["name"] == "python" and record["version"].startswith(want + "."), record["version"]


@pytest.mark.conda
def test_conda_environment_is_the_one_bashrc_activates(env):
    """A login shell gets the environment: its python first on PATH, CONDA_DEFAULT_ENV its name."""
    got = env.env.run("""bash -ic 'echo "$CONDA_DEFAULT_ENV $(command -v python)"' 2>/dev/null""")
    assert got.stdout.strip().splitlines()[-1] == f"{env.pyenv['name']} {env.pyenv['path']}/bin/python", got.stdout


def test_cann_toolkit_is_the_resolved_version(env):
    a = env.path("/usr/local/Ascend")
    info = env.env.run(f"cat {a}/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info "
                       f"{a}/cann/*-linux/ascend_toolkit_install.info 2>/dev/null").stdout
    versions = {ln.split("=", 1)[1].strip() for ln in info.splitlines() if ln.startswith("version=")}
    assert versions == {env.component("cann")}


def test_cann_kernels_are_installed_for_the_resolved_version(env):
    a = env.path("/usr/local/Ascend")
    info = env.env.run(f"cat {a}/ascend-toolkit/latest/opp_kernel/version.info "
                       f"{a}/cann/opp_kernel/version.info 2>/dev/null").stdout
    assert f"version_dir={env.component('cann')}" in info.splitlines()


def test_framework_component_is_exactly_the_resolved_version(env, component):
    dist = component.replace("_", "-")
    got = env.env.run(f"{env.venv}/bin/python -c 'import importlib.metadata as m; print(m.version(\"{dist}\"))'")
    assert got.rc == 0, got.stderr
    assert got.stdout.strip().split("+")[0] == env.component(component)


def test_environment_profile_and_the_hook_at_the_top_of_bashrc(env):
    """/etc/profile.d/ascend-env.sh holds the environment; root's ~/.bashrc sources it from its first line, before
    any interactive guard (a command run over ssh stops at the guard)."""
    profile = env.env.file(env.path("/etc/profile.d/ascend-env.sh"))
    assert profile.contains("set_env.sh") and profile.contains(env.pyenv["path"])
    bashrc = env.env.file(env.path("/root/.bashrc")).content_string
    first = bashrc.splitlines()[:3]
    assert first[0] == "# BEGIN ascend-env environment (managed by Ansible)", first
    assert env.path("/etc/profile.d/ascend-env.sh") in first[1] and first[2].startswith("# END ascend-env")
