"""Inventory and command-line values that end up on an SSH or container-engine command line: one allow-list for all.

The preflight (``ascend_env.preflight``), the doctor (``--ssh``, ``--inventory``, ``--containers``), the rank table
and the renderers check these values here, so a value the preflight refuses is refused everywhere, and what passes
cannot add an option or a shell command where it lands (``ssh -p PORT``, ``rsync --rsh=...``, ``user@host:path``,
``<engine> exec ...``).  Standard library only (the doctor imports it before anything else).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any

from .errors import AscendEnvError

__all__ = ["CONTAINER_NAME_RE", "RUNTIMES", "HostValueError", "container_name", "engine_cli", "runtime", "ssh_host",
           "ssh_port", "ssh_user"]

#: the container engines ascend-env drives (docker, and iSulad's isula on openEuler hosts)
RUNTIMES = ("docker", "isula")

#: a container name as docker and isula accept it (and never an option: no leading '-')
CONTAINER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9_.+/-]*$")


class HostValueError(AscendEnvError, ValueError):
    """A value that would reach an SSH or engine command line is not of the kind it must be; ``field`` names it."""

    def __init__(self, field: str, value: Any, message: str, fix: str):
        super().__init__(f"{field} {value!r}: {message}; {fix}")
        self.field, self.value, self.message, self.fix = field, value, message, fix


def ssh_port(value: Any, field: str = "ansible_port") -> int:
    """An SSH port: an integer 1-65535 (a digit string is accepted: command lines and INI inventories give text)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise HostValueError(field, value, "is not a port number", "write a whole number 1-65535 (SSH's is 22)")
    if not 1 <= value <= 65535:
        raise HostValueError(field, value, "is out of range 1-65535", "write the port sshd listens on (SSH's is 22)")
    return value


def ssh_host(value: Any, field: str = "ansible_host") -> str:
    """A host name or an IP address (never an option: a leading '-' would be read as one by ssh and rsync)."""
    text = str(value).strip() if isinstance(value, str) else value
    if isinstance(text, str) and text:
        try:
            ipaddress.ip_address(text)
            return text
        except ValueError:
            pass
        if _HOSTNAME_RE.match(text) and ".." not in text:
            return text
    raise HostValueError(field, value, "is not a host name or IP address",
                         "write the server's address, e.g. 10.0.0.5 or npu-a.example.com (letters, digits, '.', '-')")


def ssh_user(value: Any, field: str = "ansible_user") -> str:
    if isinstance(value, str) and _USER_RE.match(value):
        return value
    raise HostValueError(field, value, "is not a user name", "write a login name such as root or ubuntu "
                                                             "(letters, digits, '_', '.', '-')")


def runtime(value: Any, field: str = "ascend_container_runtime") -> str:
    """``docker`` or ``isula``."""
    if value in RUNTIMES:
        return str(value)
    raise HostValueError(field, value, "is not a container runtime ascend-env drives", "use docker or isula")


def engine_cli(value: Any, field: str = "ascend_container_cli") -> str:
    """The engine's command: ``docker``/``isula``, or an absolute path to one of them (e.g. /usr/bin/isula)."""
    if value in RUNTIMES:
        return str(value)
    if isinstance(value, str) and _PATH_RE.match(value) and posixpath.basename(value) in RUNTIMES \
            and "/../" not in value + "/":
        return value
    raise HostValueError(field, value, "is not a container engine command",
                         "use docker or isula, or the absolute path of one of them (e.g. /usr/bin/isula)")


def container_name(value: Any, field: str = "container name") -> str:
    if isinstance(value, str) and CONTAINER_NAME_RE.match(value):
        return value
    raise HostValueError(field, value, "is not a valid container name",
                         "use letters, digits, '_', '.' and '-', starting with a letter or digit")
