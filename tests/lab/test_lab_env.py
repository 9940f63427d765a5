"""Every process of an environment gets the stack (docs/environment.md), on the converged lab: `docker exec` and
`isula exec` with no shell, a non-interactive `ssh ENV CMD` on the image with Ubuntu's root .bashrc (its interactive
guard first), the same as a second, non-root user, a service through ascend-run (also on the host provisioned
itself), and the doctor's launcher checks -- healthy, then naming what a broken environment lacks.

Which module to import: torch_npu when the lab's CANN provides libhccl.so (the shared libraries torch_npu loads);
until it does, torch with TORCH_DEVICE_BACKEND_AUTOLOAD=0 (torch would otherwise load torch_npu as its device
backend and fail on libhccl.so whatever the environment).  The switch is read from the container, not assumed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from labtools import ansible_env

from .conftest import PREFIX, REPO, ssh

pytestmark = pytest.mark.usefixtures("lab_up")
INVENTORY = PREFIX / "inventory/hosts.yml"
VENV = "/opt/ascend-env/venv"
USER = "labuser"


def hostvars(host: str) -> dict:
    return yaml.safe_load(INVENTORY.read_text())["ascend_hosts"]["hosts"][host]


def engine(host: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """The host's own engine CLI (docker, or t2's isula), as an operator runs it: `docker exec NAME CMD`, no shell."""
    hv = hostvars(host)
    cli = str(hv.get("ascend_container_cli") or "docker")
    cp = subprocess.run([cli, *argv], capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, DOCKER_HOST=hv["ascend_docker_host"]))
    assert not check or cp.returncode == 0, cp.stdout + cp.stderr
    return cp


def torch_module(host: str, container: str) -> tuple[str, list[str]]:
    """(module, extra environment) for a torch environment: torch_npu when the container's CANN has libhccl.so."""
    has = engine(host, "exec", container, "sh", "-c", 'test -e "$ASCEND_TOOLKIT_HOME/lib64/libhccl.so"')
    return ("torch_npu", []) if has.returncode == 0 else ("torch", ["TORCH_DEVICE_BACKEND_AUTOLOAD=0"])


def env_ssh(address: str, port: int, user: str, command: str) -> subprocess.CompletedProcess[str]:
    """A launcher's plain, non-interactive `ssh -o BatchMode=yes -p PORT USER@ENV CMD`, with the lab's key."""
    hv = hostvars("t1")
    return subprocess.run(["ssh", "-o", "BatchMode=yes", "-p", str(port), "-i", hv["ansible_ssh_private_key_file"],
                           *shlex.split(hv["ansible_ssh_common_args"]), f"{user}@{address}", command],
                          capture_output=True, text=True, timeout=300)


def test_exec_without_a_shell_gets_the_environments_python_and_cann(converged):
    """`docker exec llm-torch python3 -c 'import torch'` (and isula exec on t2): the container's env at create puts
    the venv first on PATH, with CANN's variables."""
    module, extra = torch_module("t1", "llm-torch")
    for host, container, mod, env in (("t1", "llm-torch", module, extra), ("t2", "llm-ms", "mindspore", [])):
        flags = [a for e in env for a in ("-e", e)]
        code = f"import os, sys, {mod}; print(sys.prefix, os.environ['ASCEND_OPP_PATH'])"
        cp = engine(host, "exec", *flags, container, "python3", "-c", code)
        assert cp.returncode == 0, (host, cp.stderr[-2000:])
        prefix, opp = cp.stdout.split()[-2:]
        assert prefix == VENV and opp.endswith("/opp"), cp.stdout


def test_ssh_commands_on_the_ubuntu_image_as_root_and_as_another_user(converged):
    """t1's container starts from the image with Ubuntu's root .bashrc, whose first command is the interactive guard:
    `ssh -p 223 root@t1 'python -c "import torch"'` works because the hook sits above it; a second user (bash, a key)
    gets the same through /etc/bash.bashrc."""
    bashrc = engine("t1", "exec", "llm-torch", "cat", "/root/.bashrc", check=True).stdout
    lines = bashrc.splitlines()
    assert lines[0] == "# BEGIN ascend-env environment (managed by Ansible)" and "ascend-env.sh" in lines[1]
    assert '[ -z "$PS1" ] && return' in lines                       # Ubuntu's guard, below the hook
    module, extra = torch_module("t1", "llm-torch")
    hv = hostvars("t1")
    port = int(hv["ascend_containers"][0].get("ssh_port", 223))
    command = " ".join([*extra, f"python -c 'import sys, {module}; print(sys.prefix)'"])
    root = env_ssh(hv["ansible_host"], port, "root", command)
    assert root.returncode == 0 and root.stdout.strip().splitlines()[-1] == VENV, root.stderr[-2000:]
    pub = Path(hv["ansible_ssh_private_key_file"] + ".pub").read_text().strip()
    keys = f"/home/{USER}/.ssh/authorized_keys"
    add = (f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}; "
           f"install -d -m 700 -o {USER} /home/{USER}/.ssh && echo {shlex.quote(pub)} > {keys} && chown {USER} {keys}")
    engine("t1", "exec", "llm-torch", "sh", "-c", add, check=True)
    try:
        other = env_ssh(hv["ansible_host"], port, USER, command + "; id -un")
        assert other.returncode == 0, other.stderr[-2000:]
        assert other.stdout.strip().splitlines()[-2:] == [VENV, USER]
    finally:
        engine("t1", "exec", "llm-torch", "userdel", "-r", USER)


def test_a_service_gets_the_environment_through_ascend_run_here_and_on_the_host_provisioned_itself(converged):
    """cron, systemd units and Jupyter kernels start with an empty environment: `env -i ascend-run CMD`."""
    code = "import os, sys; print(sys.prefix, os.environ['ASCEND_HOME_PATH'])"
    cp = engine("t1", "exec", "llm-torch", "env", "-i", "/usr/local/bin/ascend-run", "python", "-c", code)
    assert cp.returncode == 0 and cp.stdout.split()[0] == VENV, cp.stderr
    root = PREFIX / "hosts/t3/root"
    cp = ssh("t3", f"env -i {root}/usr/local/bin/ascend-run python -c {shlex.quote(code)}")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.split()[0] == f"{root}{VENV}" and cp.stdout.split()[1].startswith(f"{root}/usr/local/Ascend")


def doctor(*args: str) -> tuple[int, dict]:
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "doctor", "--json", "--inventory", str(INVENTORY),
                         "--only", "launcher", *args], capture_output=True, text=True, cwd=REPO, timeout=600,
                        env=ansible_env())
    assert cp.returncode in (0, 1), cp.stderr
    return cp.returncode, json.loads(cp.stdout)


def test_the_doctor_meets_each_environment_as_launchers_do_then_names_what_a_broken_one_lacks(converged):
    code, doc = doctor("--containers")
    got = {t["name"]: {c["id"]: c["status"] for c in t["checks"]} for t in doc["targets"]}
    every = {"launcher.exec": "ok", "launcher.ssh": "ok", "launcher.users": "ok", "launcher.service": "ok"}
    assert got == {"t1": {}, "t1/llm-torch": every, "t2": {}, "t2/llm-ms": every, "t3": {"launcher.ssh": "ok",
                   "launcher.service": "ok"}} and code == 0, json.dumps(doc, indent=1)[-3000:]
    # a variable removed: the profile loses the line that sources CANN's set_env.sh
    profile = "/etc/profile.d/ascend-env.sh"
    saved = engine("t1", "exec", "llm-torch", "cat", profile, check=True).stdout
    engine("t1", "exec", "llm-torch", "sed", "-i", "/set_env.sh/d", profile, check=True)
    try:
        code, doc = doctor("--containers", "--limit", "t1")
        checks = {c["id"]: c for c in doc["targets"][1]["checks"]}
        assert code == 1 and checks["launcher.exec"]["status"] == "ok"          # docker exec: the container's env
        ssh_check = checks["launcher.ssh"]
        assert ssh_check["status"] == "fail" and "ASCEND_OPP_PATH unset" in ssh_check["detail"]
        assert "PATH lacks /usr/local/Ascend/" in ssh_check["detail"]     # CANN's directories (and libraries)
        set_env = next(w for w in saved.split() if w.endswith("/set_env.sh"))
        assert f"source {set_env}" in ssh_check["fix"] and "--tags framework" in ssh_check["fix"]
        assert checks["launcher.service"]["status"] == "fail" and checks["launcher.users"]["status"] == "fail"
    finally:
        subprocess.run([str(hostvars("t1").get("ascend_container_cli") or "docker"), "exec", "-i", "llm-torch", "sh",
                        "-c", f"cat > {profile}"], input=saved, text=True, check=True,
                       env=dict(os.environ, DOCKER_HOST=hostvars("t1")["ascend_docker_host"]))
    assert engine("t1", "exec", "llm-torch", "cat", profile).stdout == saved


def test_the_collective_smoke_started_every_rank_with_a_plain_ssh_command(converged):
    """The controller started t1's and t3's ranks as launchers do (`ssh ENV 'python -m ascend_env collective ...'`):
    each rank found `python` and ascend_env through what its environment gives a command run over ssh."""
    said = " ".join(converged.stdout.split())                 # the YAML callback wraps long lines
    assert "collective all_reduce across t1-llm-torch, t3-llm-torch: world 2, backend gloo, sum 3.0 correct on 2/2" \
        in said and "started over ssh on 2/2 servers" in said, converged.stdout[-3000:]
