"""Real sshd per simulated host on its loopback address; key-only; keys made by the lab."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

from .config import HostSpec
from .layout import HostPaths, LabPaths
from .procs import LabError, pids_with_arg, read_pid, run, start_daemon, stop_pid, wait_for, which


def ensure_client_key(lp: LabPaths) -> None:
    lp.ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not lp.client_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ascend-env-lab", "-f", str(lp.client_key)])


def ensure_host_key(hp: HostPaths) -> Path:
    hp.sshd_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = hp.sshd_dir / "ssh_host_ed25519_key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ascend-env-lab-{hp.base.name}", "-f", str(key)])
    return key


def bash_env_text(hp: HostPaths) -> str:
    """What bash reads first in a session on this "server" (its sshd hands it ``BASH_ENV``).

    On a real host ``ssh host CMD`` runs the user's bash, and Debian's and Ubuntu's bash then read /etc/bash.bashrc
    and ~/.bashrc although the shell is not interactive (their builds define SYS_BASHRC and SSH_SOURCE_BASHRC): that
    is how `ssh host CMD` meets the environment ascend-env hooks at their top.  A lab host's files live under its
    root, so this file reads that root's two files in the same order; an Ubuntu guard in them returns as it would.
    """
    files = " ".join(shlex.quote(str(hp.root / f)) for f in ("etc/bash.bashrc", "root/.bashrc"))
    return "\n".join([
        "# written by ascend-env lab; do not edit (lab up rewrites it)",
        "unset BASH_ENV",
        f"for __ascend_lab_rc in {files}; do",
        '  if [ -r "$__ascend_lab_rc" ]; then . "$__ascend_lab_rc"; fi',
        "done",
        "unset __ascend_lab_rc",
        "",
    ])


def sshd_config_text(spec: HostSpec, hp: HostPaths, lp: LabPaths, port: int) -> str:
    """The sshd_config of one simulated host.

    ``SetEnv`` is how a session on this "server" finds its own Docker engine and its own filesystem view:
    on real hardware DOCKER_HOST is unset and the root is ``/``.
    """
    return "\n".join([
        "# written by ascend-env lab; do not edit (lab up rewrites it)",
        f"ListenAddress {spec.address}:{port}",
        f"HostKey {hp.sshd_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {hp.sshd_pid}",
        # the lab's key (every host), then the host's own root account's file (what site.yml may add keys to)
        f"AuthorizedKeysFile {lp.ssh / 'authorized_keys'} {hp.root / 'root/.ssh/authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "UsePAM no",
        # StrictModes refuses an AuthorizedKeysFile below a group/world-writable directory (a checkout in /tmp);
        # the file is the lab's own, in its 0700 ssh folder, and this sshd listens on loopback only.
        "StrictModes no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "ClientAliveInterval 60",
        "MaxStartups 64:30:128",
        "MaxSessions 64",
        "Subsystem sftp internal-sftp",
        # LD_LIBRARY_PATH stands in for the loader configuration a real host's login environment has for the
        # driver's libraries; containers do not inherit it, which is the failure the seeds teach to fix.
        f"SetEnv DOCKER_HOST=unix://{hp.docker_sock} ASCEND_ENV_LAB_HOST={spec.name} "
        f"ASCEND_ENV_HOST_ROOT={hp.root} LD_LIBRARY_PATH={hp.driver_lib} BASH_ENV={hp.sshd_dir / 'bash_env'}",
        "",
    ])


def listening(address: str, port: int) -> bool:
    s = socket.socket()
    s.settimeout(0.5)
    try:
        s.connect((address, port))
        return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False
    finally:
        s.close()


def sshd_running(hp: HostPaths) -> int | None:
    return read_pid(hp.sshd_pid)


def start_sshd(spec: HostSpec, hp: HostPaths, lp: LabPaths, port: int) -> bool:
    ensure_host_key(hp)
    cfg = hp.sshd_dir / "sshd_config"
    (hp.sshd_dir / "bash_env").write_text(bash_env_text(hp))
    text = sshd_config_text(spec, hp, lp, port)
    pid = sshd_running(hp)
    if pid is not None and cfg.exists() and cfg.read_text() == text and listening(spec.address, port):
        return False
    stop_sshd(hp, spec.name)
    cfg.write_text(text)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory sshd insists on
    sshd = which("sshd")
    if sshd is None:
        raise LabError("sshd is not installed; apt-get install openssh-server")
    run([sshd, "-t", "-f", str(cfg)])
    if listening(spec.address, port):
        raise LabError(f"{spec.address}:{port} is already taken by another process; set ssh_port in the lab "
                       "config (e.g. 2222) or stop that process")
    hp.run.mkdir(parents=True, exist_ok=True)
    proc = start_daemon([sshd, "-D", "-e", "-f", str(cfg)], hp.logs / "sshd.log")
    hp.sshd_pid.write_text(f"{proc.pid}\n")  # sshd -D does not write its PidFile
    wait_for(lambda: listening(spec.address, port), f"sshd for {spec.name} on {spec.address}:{port}", 20,
             hp.logs / "sshd.log")
    return True


def stop_sshd(hp: HostPaths, name: str) -> None:
    pids = set(pids_with_arg(str(hp.sshd_dir / "sshd_config")))
    pid = sshd_running(hp)
    if pid is not None:
        pids.add(pid)
    for p in sorted(pids):
        stop_pid(p, f"sshd of {name}")


def write_client_files(lp: LabPaths, hosts: list[tuple[HostSpec, HostPaths]], port: int) -> None:
    """authorized_keys, known_hosts and an ssh_config so that ``ssh -F <prefix>/ssh/config h1`` just works."""
    pub = (lp.client_key.with_suffix(".pub")).read_text().strip()
    _write_if_changed(lp.ssh / "authorized_keys", pub + "\n", 0o600)
    known = []
    cfg = ["# written by ascend-env lab", ""]
    for spec, hp in hosts:
        kt, key = (hp.sshd_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        host = spec.address if port == 22 else f"[{spec.address}]:{port}"
        known.append(f"{host} {kt} {key}")
        cfg += [f"Host {spec.name} {spec.address}", f"  HostName {spec.address}", f"  Port {port}", "  User root",
                f"  IdentityFile {lp.client_key}", "  IdentitiesOnly yes", f"  UserKnownHostsFile {lp.known_hosts}",
                "  StrictHostKeyChecking yes", "  BatchMode yes", ""]
    # keep the lines others added (the ascend_ssh role records each container's key here, [address]:223): a second
    # `lab up` after a converge must not make the containers unknown hosts
    ours = {line.split()[0] for line in known}
    kept = [line for line in (lp.known_hosts.read_text().splitlines() if lp.known_hosts.exists() else [])
            if line.strip() and line.split()[0] not in ours]
    _write_if_changed(lp.known_hosts, "\n".join(known + kept) + "\n", 0o644)
    _write_if_changed(lp.ssh_config, "\n".join(cfg), 0o644)


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    path.chmod(mode)


def ssh_ok(lp: LabPaths, name: str, command: str = "true") -> tuple[bool, str]:
    cp = run(["ssh", "-F", str(lp.ssh_config), "-o", "ConnectTimeout=5", name, command], check=False, timeout=30)
    return cp.returncode == 0, (cp.stdout + cp.stderr).strip()
