"""Where the probe runs: here, in a container (docker/isula exec), or on a remote host (paramiko over SSH).

The same file, ``ascend_env/probe/host.py``, is the probe in every case: it is imported here and sent as the
program text of ``python3 -`` elsewhere, so the facts are identical wherever they come from.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .. import hostvalues
from ..errors import AscendEnvError
from ..probe import host as probe_host


class TransportError(AscendEnvError, RuntimeError):
    """The probe could not be run there; the message says why and how to fix it."""


def probe_source() -> str:
    return resources.files("ascend_env.probe").joinpath("host.py").read_text(encoding="utf-8")


def _probe_args(root: str | None, python: str | None, imports: bool, via: str) -> list[str]:
    """The probe's arguments; ``via`` says how it was started (exec: its own environment is what docker/isula exec
    gives, which the launcher checks compare; ssh; local)."""
    args = ["--via", via]
    if root:
        args += ["--root", root]
    if python:
        args += ["--python", python]
    if not imports:
        args.append("--no-imports")
    return args


def _decode(stdout: str, where: str, stderr: str) -> dict[str, Any]:
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise TransportError(f"the probe printed no facts on {where}: {stderr.strip()[-300:] or 'no output'}")
    try:
        facts = json.loads(lines[-1])
    except ValueError as e:
        raise TransportError(f"the probe's facts from {where} are not JSON ({e}): {lines[-1][:200]}") from None
    if not isinstance(facts, dict):
        raise TransportError(f"the probe's facts from {where} are not a JSON object: {lines[-1][:200]}")
    return facts


def local(root: str = "/", python: str | None = None, imports: bool = True) -> dict[str, Any]:
    return probe_host.collect(root, python, imports=imports, via="local")


def _exec_argv(cli: str, name: str, python: str | None, imports: bool) -> list[str]:
    """``<cli> exec -i <name> sh -c 'exec python3 - <probe args>'``: the engine and the name checked against the
    preflight's allow-list, every argument of the inner shell line quoted."""
    cli = hostvalues.engine_cli(cli, "--runtime/ascend_container_cli")
    name = hostvalues.container_name(name, "--container/ascend_containers name")
    inner = 'exec "$(command -v python3 || command -v python)" - ' + " ".join(
        shlex.quote(a) for a in _probe_args(None, python, imports, "exec"))
    return [cli, "exec", "-i", name, "sh", "-c", inner]


def remote_command(target: SshTarget, python: str | None = None, imports: bool = True,
                   container_name: str | None = None, runtime: str = "docker") -> str:
    """The command line the remote host's shell runs for :func:`ssh`: every value quoted, the engine and the
    container name checked against the preflight's allow-list first."""
    if container_name:  # a container on that host: the same probe, through the host's docker/isula
        return shlex.join(_exec_argv(runtime, container_name, python, imports))
    root = shlex.quote(target.root) if target.root else '"${ASCEND_ENV_HOST_ROOT:-/}"'
    return f"python3 - --root {root} " + " ".join(shlex.quote(a) for a in _probe_args(None, python, imports, "ssh"))


def container(name: str, runtime: str = "docker", python: str | None = None, imports: bool = True,
              timeout: float = 300) -> dict[str, Any]:
    argv = _exec_argv(runtime, name, python, imports)
    try:
        cp = subprocess.run(argv, input=probe_source(), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise TransportError(f"{runtime} is not installed here; use --runtime docker|isula") from None
    except subprocess.TimeoutExpired:
        raise TransportError(f"the probe in container {name} did not finish within {timeout:.0f} s") from None
    if cp.returncode != 0 and not cp.stdout.strip():
        raise TransportError(f"{runtime} exec into {name!r} failed: {cp.stderr.strip()[-300:]}; "
                             f"check `{runtime} ps` for the container name, and that it has python3")
    return _decode(cp.stdout, f"container {name}", cp.stderr)


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    known_hosts: str | None = None
    root: str | None = None          # the host's filesystem view (lab hosts); None: "$ASCEND_ENV_HOST_ROOT" or /
    name: str = ""

    @classmethod
    def parse(cls, text: str, **kw: Any) -> SshTarget:
        """``user@host[:port]``; the error names the bad value and shows the form."""
        user, _, rest = text.rpartition("@")
        host, _, port = rest.partition(":")
        if not host or (port and not port.isdigit()):
            raise hostvalues.HostValueError("--ssh", text, "expected user@host[:port]", "e.g. root@10.0.0.5:22")
        hostvalues.ssh_host(host, "--ssh host")
        hostvalues.ssh_user(user or "root", "--ssh user")
        return cls(host=host, port=hostvalues.ssh_port(port or 22, "--ssh port"), user=user or "root",
                   name=kw.pop("name", "") or host, **kw)


def ssh(target: SshTarget, python: str | None = None, imports: bool = True, timeout: float = 300,
        container_name: str | None = None, runtime: str = "docker") -> dict[str, Any]:
    """Run the probe over SSH with paramiko: key auth only; unknown host keys are rejected.

    Host keys come from ``known_hosts`` (the target's file, else ~/.ssh/known_hosts); a host that is not in it
    is refused (paramiko ``RejectPolicy``) with the command that adds it (``ssh-keyscan``).
    """
    command = remote_command(target, python, imports, container_name, runtime)  # refused before any connection
    import paramiko

    client = paramiko.SSHClient()
    with contextlib.suppress(OSError):
        client.load_system_host_keys()
    if target.known_hosts:
        client.load_host_keys(target.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(target.host, port=target.port, username=target.user, key_filename=target.key_file,
                       timeout=15, allow_agent=True, look_for_keys=target.key_file is None)
    except paramiko.SSHException as e:
        if "not found in known_hosts" in str(e):
            raise TransportError(f"{target.host}:{target.port} is not in known_hosts; verify and add it: "
                                 f"ssh-keyscan -p {target.port} {target.host} >> ~/.ssh/known_hosts") from None
        raise TransportError(f"ssh to {target.user}@{target.host}:{target.port} failed: {e}") from None
    except OSError as e:
        raise TransportError(f"cannot reach {target.host}:{target.port}: {e}") from None
    try:
        stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        stdin.write(probe_source())
        stdin.channel.shutdown_write()
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
    finally:
        client.close()
    where = f"{target.user}@{target.host}:{target.port}" + (f" container {container_name}" if container_name else "")
    return _decode(out, where, err)
