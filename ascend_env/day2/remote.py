"""How the acceptance reaches the fleet: the doctor's probe of a host, and commands run on a host or in an
environment over SSH.  The one edge of :mod:`.accept` with I/O; tests give it a fake :class:`Remote`.

Commands go as an argv, joined into one shell-quoted line (``ascend_env.collective.ssh_argv``: a plain
``ssh -o BatchMode=yes ... user@host 'cmd'``, the way site.yml's smoke play starts the collective's ranks and
torchrun/mpirun start remote ranks), so every value reaches the remote shell as one literal word.  The hosts'
connections are the fleet plan's (address, port, user, key, the inventory's ssh arguments).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from ..collective import ssh_argv

if TYPE_CHECKING:
    from ..doctor.targets import Target
    from ..plan import Connection

__all__ = ["Ran", "Remote", "SshRemote", "runmany_payload"]


@dataclass(frozen=True)
class Ran:
    """One command's outcome; ``rc`` None when it could not be run at all (``error`` says why)."""

    rc: int | None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None

    @property
    def why(self) -> str:
        """Why it failed, in a line: the transport's error, else the last line of stderr (or stdout)."""
        if self.error:
            return self.error
        lines = [ln.strip() for ln in (self.stderr or self.stdout or "").splitlines() if ln.strip()]
        return f"exit {self.rc}" + (f": {lines[-1][:300]}" if lines else "")


class Remote(Protocol):
    def facts(self, target: Target) -> dict[str, Any] | str:
        """The doctor's probe of ``target`` (its facts), or why it could not be read."""

    def run(self, conn: Connection, argv: Sequence[str], timeout: float, stdin: str | None = None) -> Ran:
        """``argv`` run over ``conn`` (a host's or an environment's connection)."""

    def run_many(self, conn: Connection, commands: Sequence[Sequence[str]], bound: int, timeout: float) -> list[Ran]:
        """Each of ``commands`` run on the host of ``conn``, at most ``bound`` at once; one :class:`Ran` each."""


def runmany_payload(commands: Sequence[Sequence[str]], bound: int, timeout: float) -> str:
    """The payload of the :mod:`.runmany` program: base64 JSON (shell-safe characters only)."""
    doc = {"bound": int(bound), "timeout": float(timeout), "commands": [[str(a) for a in c] for c in commands]}
    return base64.b64encode(json.dumps(doc).encode("utf-8")).decode("ascii")


def read_runmany(ran: Ran, count: int) -> list[Ran]:
    """The :mod:`.runmany` program's answer as one :class:`Ran` per command; when it gave none, each command's
    outcome is the session's failure."""
    if ran.rc == 0:
        lines = [ln for ln in ran.stdout.splitlines() if ln.startswith("[")]
        try:
            doc = json.loads(lines[-1]) if lines else None
        except ValueError:
            doc = None
        if isinstance(doc, list) and len(doc) == count:
            return [Ran(d.get("rc"), d.get("stdout") or "", d.get("stderr") or "",
                        None if d.get("rc") is not None else (d.get("stderr") or "could not be run"))
                    for d in doc]
    why = ran.why if ran.rc != 0 else "the host's python3 printed no results"
    return [Ran(None, error=f"could not run the commands on the host: {why}") for _ in range(count)]


class SshRemote:
    """The real fleet: the doctor's probe over paramiko (as ``doctor --inventory``), commands over OpenSSH."""

    def __init__(self, python: str | None = None, imports: bool = True) -> None:
        self.python, self.imports = python, imports

    def facts(self, target: Target) -> dict[str, Any] | str:
        from ..doctor.run import probe

        return probe(target, self.python, self.imports)

    def run(self, conn: Connection, argv: Sequence[str], timeout: float, stdin: str | None = None) -> Ran:
        command = ssh_argv(conn.address, [str(a) for a in argv], port=conn.port, user=conn.user, key=conn.key_file,
                           ssh_args=conn.ssh_common_args)
        try:
            cp = subprocess.run(command, input=stdin if stdin is not None else "", capture_output=True, text=True,
                                errors="replace", timeout=timeout, check=False)
        except FileNotFoundError:
            return Ran(None, error="ssh is not installed on the controller (apt-get install openssh-client)")
        except subprocess.TimeoutExpired:
            return Ran(None, error=f"no answer within {timeout:.0f} s from {conn.user}@{conn.address}:{conn.port}")
        if cp.returncode == 255:     # ssh's own failure (connection, key, host key)
            return Ran(None, cp.stdout, cp.stderr, f"ssh to {conn.user}@{conn.address}:{conn.port} failed: "
                       + (cp.stderr.strip().splitlines() or ["exit 255"])[-1][:300])
        return Ran(cp.returncode, cp.stdout, cp.stderr)

    def run_many(self, conn: Connection, commands: Sequence[Sequence[str]], bound: int, timeout: float) -> list[Ran]:
        if not commands:
            return []
        program = resources.files("ascend_env.day2").joinpath("runmany.py").read_text(encoding="utf-8")
        batches = -(-len(commands) // max(1, bound))
        # the payload travels with the program on stdin: one argument would be capped at 128 KiB (MAX_ARG_STRLEN)
        stdin = f"PAYLOAD = {runmany_payload(commands, bound, timeout)!r}\n{program}"
        ran = self.run(conn, [conn.python or "python3", "-"], timeout=timeout * batches + 60, stdin=stdin)
        return read_runmany(ran, len(commands))
