"""Helpers shared by the suites that drive site.yml against a lab (tests/lab, tests/faults)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lab_cli(prefix: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """``python -m ascend_env lab --prefix PREFIX ARGS``; raises with its output when it fails and ``check``."""
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "lab", "--prefix", str(prefix), *args],
                        capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check and cp.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
    return cp


def require_root(suite: str) -> None:
    """Skip a lab suite when not root; with ASCEND_ENV_REQUIRE_LAB=1 (CI) fail instead."""
    import pytest

    if os.geteuid() != 0:
        if os.environ.get("ASCEND_ENV_REQUIRE_LAB") == "1":
            pytest.fail(f"the {suite} must run as root here (ASCEND_ENV_REQUIRE_LAB=1)")
        pytest.skip("the lab needs root (dockerd, sshd, mknod)")


def ansible_env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_NOCOLOR="1", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def run_playbook(inventory: Path, *extra: str, timeout: float = 3000) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ansible-playbook", "site.yml", "-i", str(inventory), *extra], cwd=REPO,
                          env=ansible_env(), capture_output=True, text=True, timeout=timeout)


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP rows: {host: {ok, changed, unreachable, failed, skipped, rescued, ignored}}."""
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def failures(stdout: str, context: int = 30) -> str:
    """The lines around each ``fatal:``/``failed:`` in a run's output (what an assertion message should show)."""
    lines = stdout.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "failed:"))]
    chunks = ["\n".join(lines[max(0, i - 3):i + context]) for i in hits]
    return "\n...\n".join(chunks) or stdout[-4000:]


# --- the release artefacts, installed as a user installs them -----------------------------------------------------

#: What ansible.cfg of this repository sets for a lab run, given as environment variables: a user's directory
#: holds only an inventory (README: Install), and these are the settings the README recommends for a fleet.
RELEASE_ANSIBLE_ENV = {
    "ANSIBLE_FORKS": "20",
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
    "ANSIBLE_SSH_RETRIES": "2",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
}


def build_release(out: Path) -> dict[str, Path]:
    """``scripts/build_dist.sh out``: the wheel, the sdist and the collection tarball."""
    subprocess.run(["bash", "scripts/build_dist.sh", str(out)], cwd=REPO, check=True, capture_output=True, text=True,
                   timeout=600)
    found = {"wheel": next(out.glob("ascend_env-*-py3-none-any.whl")), "sdist": next(out.glob("ascend_env-*.tar.gz")),
             "collection": next(out.glob("ascend-env-*.tar.gz"))}
    return found


def install_release(artefacts: dict[str, Path], where: Path, *, ansible_core: str | None = None) -> dict[str, str]:
    """A fresh venv with only the wheel (+ Ansible), a fresh collections folder with only the collection; returns
    the environment a user would run ansible-playbook with (nothing of this checkout on any path)."""
    venv, cols = where / "venv", where / "collections"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", f"{artefacts['wheel']}[ansible]"]
    if ansible_core:
        pip.append(f"ansible-core=={ansible_core}")
    cp = subprocess.run(pip, capture_output=True, text=True, timeout=900, cwd=where)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(RELEASE_ANSIBLE_ENV, PATH=f"{venv / 'bin'}:{os.environ['PATH']}", ANSIBLE_COLLECTIONS_PATH=str(cols))
    cp = subprocess.run([str(venv / "bin/ansible-galaxy"), "collection", "install", "-p", str(cols),
                         str(artefacts["collection"])], capture_output=True, text=True, timeout=300, cwd=where,
                        env=env)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return env
