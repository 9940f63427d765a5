"""Subprocess edges for the lab: run a command, start and stop a daemon by pidfile."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import AscendEnvError


class LabError(AscendEnvError, RuntimeError):
    """Something the lab could not do; the message says what and how to fix it."""


def run(argv: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None, timeout: float | None = 600,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        cp = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout, input=input_text,
                            check=False)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed; run `python -m ascend_env lab up` as root so the lab can "
                       "apt-get install what it needs") from None
    if check and cp.returncode != 0:
        tail = (cp.stderr or cp.stdout).strip().splitlines()[-5:]
        raise LabError(f"`{' '.join(argv)}` failed (exit {cp.returncode}): " + " | ".join(tail))
    return cp


def read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_daemon(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


def wait_for(check: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    hint = ""
    if log and log.exists():
        hint = " Last log lines: " + " | ".join(log.read_text(errors="replace").strip().splitlines()[-4:])
    raise LabError(f"{what} did not come up within {timeout:.0f} s.{hint}")


def stop_pid(pid: int, what: str, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; the whole process group if it leads one."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    target = -pgid if pgid == pid else pid
    with _ignore_missing():
        os.kill(target, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        with _ignore_missing():
            os.kill(target, signal.SIGKILL)
        time.sleep(0.2)
    if pid_alive(pid):
        raise LabError(f"{what} (pid {pid}) did not stop; kill it by hand: kill -9 {pid}")


class _ignore_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return exc_type is ProcessLookupError


def which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def pids_with_arg(arg: str) -> list[int]:
    """Processes whose command line has ``arg`` as one argument (finds daemons whose pidfile was lost)."""
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            # split on NUL and on spaces: sshd rewrites its title to one space-joined string
            args = d.joinpath("cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        if arg.encode() in args and int(d.name) != os.getpid():
            out.append(int(d.name))
    return out
