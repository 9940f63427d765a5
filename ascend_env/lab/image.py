"""The lab's base image: Debian via debootstrap, imported with ``docker import``, cached as a ``docker save`` tar.

The cached tar is also how an air-gapped site gets an image onto a host: copy the file, ``docker load -i``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from .engine import docker_env
from .layout import HostPaths
from .procs import LabError, run

PACKAGES = ("openssh-server", "python3", "python3-venv", "python3-pip", "ca-certificates", "procps", "iproute2",
            "sudo")
_FORMAT = "2"
KEY_LABEL = "org.ascend-env.lab.key"  # bump when the rootfs recipe below changes


def image_ref(suite: str) -> str:
    return f"ascend-env/base:{suite}"


def cache_key(suite: str, mirror: str) -> str:
    h = hashlib.sha256("\n".join([_FORMAT, suite, mirror, *PACKAGES]).encode()).hexdigest()[:12]
    return f"{suite}-{h}"


def rootfs_tar(cache: Path, suite: str, mirror: str) -> Path:
    return cache / f"base-{cache_key(suite, mirror)}.rootfs.tar"


def image_tar(cache: Path, suite: str, mirror: str) -> Path:
    return cache / f"base-{cache_key(suite, mirror)}.image.tar"


def build_rootfs(cache: Path, suite: str, mirror: str, log: list[str]) -> Path:
    """debootstrap minbase + PACKAGES into a tar (cached: a second call returns at once)."""
    out = rootfs_tar(cache, suite, mirror)
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    log.append(f"debootstrap {suite} from {mirror} (once; cached in {out.name})")
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(root), mirror],
            timeout=1800)
        # Every container must get its own sshd host keys (the container role runs ssh-keygen -A);
        # an image that carries keys would give all of them the same identity.
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        # Marks "a container of the lab": the fake installers may write /etc and /usr/local/Ascend only here.
        (root / "etc/ascend-env-lab").mkdir(exist_ok=True)
        (root / "etc/ascend-env-lab/container").write_text("ascend-env lab base image\n")
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        for lists in (root / "var/lib/apt/lists").glob("*_dists_*"):
            lists.unlink()
        partial = out.with_suffix(".partial")
        run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], timeout=900)
        partial.rename(out)
    return out


def ensure_image(hp: HostPaths, cache: Path, suite: str, mirror: str, log: list[str]) -> bool:
    """Make the base image present in this host's engine; True if it had to be loaded."""
    ref = image_ref(suite)
    key = cache_key(suite, mirror)
    env = docker_env(hp)
    if image_key(hp, ref) == key:
        return False
    saved = image_tar(cache, suite, mirror)
    if not saved.exists():
        rootfs = build_rootfs(cache, suite, mirror, log)
        log.append(f"docker import {rootfs.name} as {ref}")
        run(["docker", "import", "--change", 'CMD ["/bin/bash"]', "--change", "ENV LANG=C.UTF-8",
             "--change", f"LABEL {KEY_LABEL}={key}",
             "--message", "ascend-env lab base image (debootstrap minbase)", str(rootfs), ref], env=env, timeout=900)
        partial = saved.with_suffix(".partial")
        run(["docker", "save", "-o", str(partial), ref], env=env, timeout=900)
        partial.rename(saved)
        return True
    log.append(f"docker load -i {saved.name} on {hp.base.name}")
    run(["docker", "load", "-i", str(saved)], env=env, timeout=900)
    if image_key(hp, ref) != key:
        raise LabError(f"docker load of {saved} did not produce {ref}; delete {saved} and run lab up again")
    return True


def image_key(hp: HostPaths, ref: str) -> str | None:
    """The recipe key the host's image was built from (None when absent): a changed recipe reloads."""
    cp = run(["docker", "image", "inspect", "--format", '{{index .Config.Labels "' + KEY_LABEL + '"}}', ref],
             env=docker_env(hp), check=False)
    return cp.stdout.strip() or None if cp.returncode == 0 else None


def publish(cache: Path, suite: str, mirror: str, store_images: Path) -> Path:
    """Put the image tar into the offline store (hard link when possible: no second copy on disk)."""
    src = image_tar(cache, suite, mirror)
    store_images.mkdir(parents=True, exist_ok=True)
    dst = store_images / f"ascend-env-base_{suite}.tar"
    if dst.exists() and dst.stat().st_ino == src.stat().st_ino:
        return dst
    dst.unlink(missing_ok=True)
    try:
        dst.hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
    return dst
