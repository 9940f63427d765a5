"""Running the collection's playbooks from the command line (``ascend-env plan``, ``upgrade``, ``rollback``): where
ansible-playbook is, and Ansible's environment.  From a checkout, the checkout is the collection (collections/ links
it) and its ansible.cfg applies."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import UsageError

__all__ = ["ansible_environment", "ansible_playbook"]


def ansible_playbook(command: str) -> str:
    """ansible-playbook on the PATH, else beside this Python; bad input naming the fix when there is none."""
    from shutil import which

    found = which("ansible-playbook")
    beside = Path(sys.executable).parent / "ansible-playbook"
    if found:
        return found
    if beside.exists():
        return str(beside)
    raise UsageError(f"ascend-env {command} needs ansible-playbook: pip install 'ascend-env[ansible]' (ansible-core), "
                     "and the collection ascend.env (ansible-galaxy collection install ascend-env-<v>.tar.gz)")


def ansible_environment() -> dict[str, str]:
    """Ansible's environment; from a checkout, the checkout is the collection (collections/ links it)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PYTHONWARNINGS="ignore")
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "galaxy.yml").is_file() and (checkout / "collections").is_dir():
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
            [str(checkout / "collections"), env.get("ANSIBLE_COLLECTIONS_PATH", "~/.ansible/collections")])
        env.setdefault("ANSIBLE_CONFIG", str(checkout / "ansible.cfg"))
    return env
