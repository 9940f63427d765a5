"""The fan-out's transport: rsync over SSH, run from the controller (:class:`RsyncTransport`, for
:func:`ascend_env.fanout_exec.run_fanout`), and the controller's fan-out key and host keys.

* controller -> host: ``rsync`` on the controller, over SSH to the host as the plan's :class:`Connection` says
  (address, port, user, key file, the site's ssh options);
* peer -> peer: the controller asks the destination (over SSH) to pull from the source with ``rsync``, over SSH
  with the fan-out key; on the source that key is authorized only for ``rrsync -ro <store copy>`` (it reads the
  store copy, nothing else), and the destination checks the source's host key against the lines the controller
  knows (``<store>/.fanout/known_hosts``, put there by the role for the run);
* a check: ``sha256sum --check`` of files in a host's store copy against the manifest's sums, over SSH.

Every command is an argv list; what goes through a remote shell (SSH's command, rsync's ``--rsh``) is built with
:func:`shlex.join` / :func:`shlex.quote`, so no value from the inventory is ever parsed as shell syntax.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fanout import CONTROLLER, Transfer
from .fanout_exec import Step

__all__ = ["Endpoint", "RsyncTransport", "ensure_key", "known_hosts_file", "known_lines", "rsync_bytes"]

Run = Callable[..., "subprocess.CompletedProcess[str]"]
#: ssh's exit status for its own failures (connection, authentication); a remote command's status is passed through
SSH_FAILED = 255
#: rsync exit statuses a retry cannot mend: syntax or usage, protocol incompatibility, unsupported action
RSYNC_FINAL = {1, 2, 4}


@dataclass(frozen=True)
class Endpoint:
    """A host as the fan-out reaches it: the plan's connection and its store copy."""

    name: str
    address: str
    port: int
    user: str
    store_dir: str
    key_file: str | None = None
    ssh_common_args: str = ""

    @classmethod
    def from_plan(cls, name: str, host_plan: Mapping[str, Any]) -> Endpoint:
        """From the plan's slice of a host (``HostPlan`` dumped: ``connection``, ``store_dir``)."""
        c = host_plan.get("connection") or {}
        return cls(name=name, address=str(c.get("address") or name), port=int(c.get("port") or 22),
                   user=str(c.get("user") or "root"), store_dir=str(host_plan["store_dir"]).rstrip("/") or "/",
                   key_file=str(c["key_file"]) if c.get("key_file") else None,
                   ssh_common_args=str(c.get("ssh_common_args") or ""))

    @property
    def rsync_host(self) -> str:
        """The address as rsync's ``[user@]host:path`` takes it (an IPv6 address in brackets)."""
        return f"[{self.address}]" if ":" in self.address else self.address


def rsync_bytes(stats: str, which: str) -> int:
    """``Total bytes sent: 1,234`` (or ``received``) of ``rsync --stats``; 0 when absent."""
    m = re.search(rf"Total bytes {which}: ([\d,.]+)", stats)
    return int(m.group(1).replace(",", "").replace(".", "")) if m else 0


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


class RsyncTransport:
    """:class:`ascend_env.fanout_exec.Transport` with rsync and sha256sum over SSH from the controller.

    ``endpoints``: every host of the fan-out; ``store``: the controller's store; ``sums``: the manifest's sha256 by
    path; ``bwlimit``: KiB/s per transfer (0: none); ``run``: :func:`subprocess.run` (a test passes a fake)."""

    def __init__(self, endpoints: Mapping[str, Endpoint], store: str, sums: Mapping[str, str], *, bwlimit: int = 0,
                 connect_timeout: int = 20, io_timeout: int = 120, run: Run = subprocess.run):
        self.endpoints, self.store, self.sums = dict(endpoints), str(store).rstrip("/"), dict(sums)
        self.bwlimit, self.connect_timeout, self.io_timeout, self.run = bwlimit, connect_timeout, io_timeout, run

    # -- command lines ---------------------------------------------------------------------------------------------
    def ssh_argv(self, ep: Endpoint, user: bool = True) -> list[str]:
        """ssh's options to reach ``ep`` from the controller (no destination): the site's own options first, so
        they win over the fan-out's defaults (ssh takes the first value of an option); ``-l user`` unless rsync
        passes the user itself."""
        return ["ssh", "-p", str(ep.port), *(["-i", ep.key_file] if ep.key_file else []),
                *shlex.split(ep.ssh_common_args), "-o", "BatchMode=yes",
                "-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=4", *(["-l", ep.user] if user else [])]

    def remote_argv(self, ep: Endpoint, command: Sequence[str]) -> list[str]:
        """``ssh ... -- <address> <command>``: the command one string for the remote shell, every word quoted."""
        return [*self.ssh_argv(ep), "--", ep.address, shlex.join(command)]

    def _rsync_opts(self) -> list[str]:
        # --ignore-times: a file is only ever sent because the host lacks it or its copy is wrong, so rsync must not
        # skip one of the right size and time; --timeout: a peer that stops answering ends the transfer
        return ["rsync", "--archive", "--ignore-times", "--stats", "--files-from=-", f"--timeout={self.io_timeout}",
                *([f"--bwlimit={self.bwlimit}"] if self.bwlimit else [])]

    def push_argv(self, dst: Endpoint) -> list[str]:
        """controller -> host: rsync on the controller."""
        return [*self._rsync_opts(), f"--rsh={shlex.join(self.ssh_argv(dst, user=False))}", f"{self.store}/",
                f"{dst.user}@{dst.rsync_host}:{dst.store_dir}/"]

    def pull_argv(self, src: Endpoint, dst: Endpoint) -> list[str]:
        """peer -> peer: ssh to the destination, which pulls from the source with the fan-out key (``rrsync -ro``
        there maps / to the source's store copy)."""
        fan = f"{dst.store_dir}/.fanout"
        peer_ssh = ["ssh", "-i", f"{fan}/key", "-p", str(src.port), "-o", f"UserKnownHostsFile={fan}/known_hosts",
                    "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                    "-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=15",
                    "-o", "ServerAliveCountMax=4"]
        return self.remote_argv(dst, [*self._rsync_opts(), f"--rsh={shlex.join(peer_ssh)}",
                                      f"{src.user}@{src.rsync_host}:/", f"{dst.store_dir}/"])

    def check_argv(self, ep: Endpoint) -> list[str]:
        return [*self.ssh_argv(ep), "--", ep.address,
                f"cd {shlex.quote(ep.store_dir)} && sha256sum --check --strict"]

    # -- the transport -----------------------------------------------------------------------------------------------
    def _call(self, argv: list[str], stdin: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return self.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, SSH_FAILED, "", f"timed out after {exc.timeout} s")
        except OSError as exc:          # the controller lacks the program
            return subprocess.CompletedProcess(argv, 127, "", str(exc))

    def check(self, host: str, files: Sequence[str]) -> Step:
        ep = self.endpoints[host]
        stdin = "".join(f"{self.sums[f]}  {f}\n" for f in files)
        cp = self._call(self.check_argv(ep), stdin, timeout=None)
        if cp.returncode == 0:
            return Step(ok=True)
        if cp.returncode == SSH_FAILED:
            return Step(ok=False, unreachable=True, message=f"ssh to {host}: {_last(cp.stderr) or 'exit 255'}")
        bad = tuple(sorted({ln.rsplit(": ", 1)[0] for ln in cp.stdout.splitlines()
                            if ": FAILED" in ln and ln.rsplit(": ", 1)[0] in files}))
        return Step(ok=False, bad=bad, message=_last(cp.stderr) or _last(cp.stdout) or f"exit {cp.returncode}")

    def send(self, transfer: Transfer) -> Step:
        dst = self.endpoints[transfer.dst]
        push = transfer.src == CONTROLLER
        argv = self.push_argv(dst) if push else self.pull_argv(self.endpoints[transfer.src], dst)
        cp = self._call(argv, "".join(f"{f}\n" for f in transfer.files))
        if cp.returncode == 0:
            return Step(ok=True, bytes=rsync_bytes(cp.stdout, "sent" if push else "received"))
        why = _last(cp.stderr) or _last(cp.stdout) or "no output"
        return Step(ok=False, unreachable=cp.returncode == SSH_FAILED,
                    message=f"rsync exit {cp.returncode}: {why}")

    def alive(self, host: str) -> bool:
        if host == CONTROLLER:
            return True
        ep = self.endpoints[host]
        return self._call(self.remote_argv(ep, ["true"]), "", timeout=self.connect_timeout * 2 + 10).returncode == 0


def known_hosts_file(ssh_common_args: str, default: str) -> str:
    """The UserKnownHostsFile of the site's ssh options (``-o UserKnownHostsFile=F``, ``-oUserKnownHostsFile F``;
    the first one given, as ssh takes it), else ``default``."""
    words = shlex.split(ssh_common_args or "")
    for i, w in enumerate(words):
        opt = w[2:] if w.startswith("-o") and len(w) > 2 else (words[i + 1] if w == "-o" and i + 1 < len(words)
                                                                  else "")
        m = re.match(r"\s*UserKnownHostsFile\s*(?:=\s*|\s+)(\S+)", opt, re.I)
        if m:
            return m.group(1)
    return default


def known_lines(ep: Endpoint, known_hosts: str, run: Run = subprocess.run) -> list[str]:
    """The lines of the controller's ``known_hosts`` for the host (``ssh-keygen -F``, hashed entries too): what a
    peer checks the host's key against before it pulls from it."""
    name = ep.address if ep.port == 22 else f"[{ep.address}]:{ep.port}"
    cp = run(["ssh-keygen", "-F", name, "-f", str(Path(known_hosts).expanduser())], capture_output=True, text=True,
             check=False)
    return [ln for ln in cp.stdout.splitlines() if ln.strip() and not ln.startswith("#")]


def ensure_key(path: str, run: Run = subprocess.run) -> tuple[str, bool]:
    """(the fan-out key's public half, whether it was made now): an ed25519 key at ``path`` on the controller, made
    once."""
    key = Path(path).expanduser()
    made = False
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        cp = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ascend-env-fanout", "-f", str(key)],
                 capture_output=True, text=True, check=False)
        if cp.returncode != 0:
            raise OSError(f"ssh-keygen could not make the fan-out key {key}: {_last(cp.stderr) or cp.returncode}")
        made = True
    return Path(str(key) + ".pub").read_text(encoding="utf-8").strip(), made
