"""What differs between what a host or an environment should be (its slice of the fleet plan, and the role's own
settings) and what one reading of it found: pure functions, one per thing a role changes.

A role's task file calls these through a filter and includes its change tasks only when something differs, so an
unchanged host costs its one reading (``ascend.env.ascend_state``) and one skipped include per role.  The same
functions are what ``ascend-env plan`` shows before a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SSHD_PARTS", "SshdWant", "sshd_todo"]

#: What the ascend_ssh role can change in a container, in the order its change tasks run.
SSHD_PARTS = ("sshd", "hostkey", "keys", "password", "dropin", "start", "known")


@dataclass(frozen=True)
class SshdWant:
    """What a container's sshd should be: the rendered drop-in, root's authorized keys, root's password (the crypt
    hash of the vault password, or ``*``: none), and the controller's known_hosts (its lines, and the container's
    ``[address]:port`` name in it)."""

    dropin: str
    keys: str
    root_hash: str
    password_login: bool
    known_name: str
    known_lines: Sequence[str]


def sshd_todo(read: Mapping[str, Any] | None, want: SshdWant) -> list[str]:
    """The parts of :data:`SSHD_PARTS` to change in a container, from its sshd reading (``ascend_state`` with
    ``sshd: true``; None: not read, e.g. the container did not run then: everything is checked again by reading)."""
    if read is None:
        return list(SSHD_PARTS)
    todo: list[str] = []
    if not read.get("installed"):
        todo.append("sshd")
    if not read.get("hostkey"):
        todo.append("hostkey")
    if (read.get("keys") or "") != want.keys:
        todo.append("keys")
    shadow = str(read.get("root_shadow_sha256") or "")
    if (want.password_login and shadow != hashlib.sha256(want.root_hash.encode()).hexdigest()) \
            or (not want.password_login and read.get("root_password")):
        todo.append("password")
    if (read.get("dropin") or "").strip() != want.dropin.strip():
        todo.append("dropin")
    if not read.get("running"):
        todo.append("start")
    key = " ".join(str(read.get("hostkey_pub") or "").split()[:2])
    if not read.get("hostkey") or f"{want.known_name} {key}" not in want.known_lines:
        todo.append("known")
    return todo
