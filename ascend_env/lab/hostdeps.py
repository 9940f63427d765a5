"""What the lab needs on the machine, and installing it with apt (Debian's packages only)."""

from __future__ import annotations

import os
from pathlib import Path

from .procs import LabError, run, which

#: command -> Debian package that provides it.
NEEDED = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "makeself": "makeself",
    "debootstrap": "debootstrap",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "cc": "gcc",
    "pgrep": "procps",   # the fault suite finds the processes it kills mid-install
    "rsync": "rsync",    # the artefact fan-out (hosts pull from peers over SSH)
    "rrsync": "rsync",   # ... restricted to reading the store folder
    "patchelf": "patchelf",  # the conda channel's CPython: $ORIGIN RUNPATHs (lab store --conda)
}
_POLICY = Path("/usr/sbin/policy-rc.d")


def missing_packages() -> list[str]:
    pkgs = {pkg for cmd, pkg in NEEDED.items() if which(cmd) is None}
    if "gcc" not in pkgs and not Path("/usr/include/stdio.h").exists():
        pkgs.add("libc6-dev")
    if "gcc" in pkgs:
        pkgs.add("libc6-dev")
    return sorted(pkgs)


def ensure_packages(log: list[str]) -> None:
    """apt-get install what is missing, with services kept stopped (no docker0 bridge, no system sshd)."""
    pkgs = missing_packages()
    if not pkgs:
        return
    if os.geteuid() != 0:
        raise LabError(f"the lab needs these Debian packages: {' '.join(pkgs)}; run as root, or "
                       f"apt-get install {' '.join(pkgs)} first")
    if which("apt-get") is None:
        raise LabError(f"missing {' '.join(pkgs)} and this is not a Debian/Ubuntu machine (no apt-get); "
                       "install the equivalents of those packages by hand")
    log.append(f"apt-get install {' '.join(pkgs)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # policy-rc.d exit 101 = "action forbidden": the packages' postinst must not start dockerd or sshd,
    # which would create a docker0 bridge and iptables rules, or listen on 0.0.0.0:22.
    made_policy = not _POLICY.exists()
    if made_policy:
        _POLICY.write_text("#!/bin/sh\n# written by ascend-env lab for the length of an apt-get run\nexit 101\n")
        _POLICY.chmod(0o755)
    try:
        run(["apt-get", "update", "-qq"], env=env, timeout=900)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs], env=env, timeout=1800)
    finally:
        if made_policy:
            _POLICY.unlink(missing_ok=True)
    still = missing_packages()
    if still:
        raise LabError(f"apt-get ran but {' '.join(still)} is still missing; install it by hand")
