"""One Docker engine per simulated host: Debian's dockerd, no bridge, no iptables, its own data root."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .layout import MARKER, HostPaths
from .procs import LabError, pids_with_arg, read_pid, run, start_daemon, stop_pid, wait_for, which


def dockerd_argv(name: str, hp: HostPaths) -> list[str]:
    dockerd = which("dockerd") or "dockerd"
    return [
        dockerd,
        "--config-file", str(hp.base / "daemon.json"),  # never the machine's /etc/docker/daemon.json
        "--data-root", str(hp.docker_data),
        "--exec-root", str(hp.run / "exec"),
        "--pidfile", str(hp.dockerd_pid),
        "--host", f"unix://{hp.docker_sock}",
        "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
        "--userland-proxy=false",
        # a shared system containerd would mix the hosts' containers: give each its own namespace
        "--containerd-namespace", f"ascend-lab-{name}",
        "--containerd-plugins-namespace", f"ascend-lab-{name}-plugins",
    ]


def check_data_root(hp: HostPaths) -> None:
    """Refuse a data root that exists but was not made by the lab (it may be somebody's images)."""
    d = hp.docker_data
    if d.exists() and any(d.iterdir()) and not (d / MARKER).exists():
        raise LabError(f"{d} already holds a Docker data root the lab did not create; the lab never reuses one. "
                       "Move it away or choose another --prefix")


def docker_env(hp: HostPaths) -> dict[str, str]:
    return dict(os.environ, DOCKER_HOST=f"unix://{hp.docker_sock}")


def engine_up(hp: HostPaths) -> bool:
    pid = read_pid(hp.dockerd_pid)
    if pid is None or not hp.docker_sock.exists():
        return False
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(1)
        s.connect(str(hp.docker_sock))
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return b"200 OK" in s.recv(256)
    except OSError:
        return False
    finally:
        s.close()


def start_engine(name: str, hp: HostPaths) -> bool:
    """Start the host's dockerd unless it already answers; True when it was started now."""
    if engine_up(hp):
        return False
    check_data_root(hp)
    hp.docker_data.mkdir(parents=True, exist_ok=True)
    (hp.docker_data / MARKER).write_text("made by ascend-env lab\n")
    hp.run.mkdir(parents=True, exist_ok=True)
    (hp.base / "daemon.json").write_text(json.dumps({"log-driver": "json-file"}) + "\n")
    stale = read_pid(hp.dockerd_pid)
    if stale is not None:
        stop_pid(stale, f"stale dockerd of {name}")
    start_daemon(dockerd_argv(name, hp), hp.logs / "dockerd.log")
    wait_for(lambda: engine_up(hp), f"dockerd for {name}", 60, hp.logs / "dockerd.log")
    return True


def stop_engine(name: str, hp: HostPaths) -> None:
    if engine_up(hp):
        ids = run(["docker", "ps", "-aq"], env=docker_env(hp), check=False).stdout.split()
        if ids:
            run(["docker", "rm", "-f", *ids], env=docker_env(hp), check=False, timeout=120)
    pids = set(pids_with_arg(str(hp.docker_data)))
    pid = read_pid(hp.dockerd_pid)
    if pid is not None:
        pids.add(pid)
    for p in sorted(pids):
        stop_pid(p, f"dockerd of {name}", timeout=30)
    _unmount_under(hp.base)


def _unmount_under(base: Path) -> None:
    """dockerd leaves overlay/netns mounts under its data/exec roots if it dies hard; take them down."""
    mounts = []
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == str(base) or target.startswith(str(base) + "/"):
                mounts.append(target)
    except OSError:
        return
    for target in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", target], check=False)


def mounts_under(base: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.split()[1].startswith(str(base) + "/")
            or line.split()[1] == str(base)]


def image_present(hp: HostPaths, ref: str) -> bool:
    cp = run(["docker", "image", "inspect", ref], env=docker_env(hp), check=False)
    return cp.returncode == 0


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab starts dockerd, sshd and makes device nodes: run it as root (sudo)")


__all__ = ["LabError", "check_data_root", "docker_env", "dockerd_argv", "engine_up", "image_present",
           "mounts_under", "require_root", "start_engine", "stop_engine"]
