"""The lab's base image: Debian via debootstrap, imported with ``docker import``, cached as a ``docker save`` tar.

The cached tar is also how an air-gapped site gets an image onto a host: copy the file, ``docker load -i``.

Variants mirror the images users start from without a second debootstrap: one small layer on the base image
(``docker create`` + ``docker cp`` + ``docker commit``), cached as its own tar.  ``ubuntu-bashrc`` carries Ubuntu's
root ``.bashrc``, which starts with ``[ -z "$PS1" ] && return`` (Debian's has no guard): a non-interactive
``ssh host CMD`` reads nothing below that line, which is what most Ascend images (Ubuntu-based) do to a launcher.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from ..errors import AscendEnvError
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


def publish(cache: Path, suite: str, mirror: str, store_images: Path, variant: str | None = None) -> Path:
    """Put the image tar into the offline store (hard link when possible: no second copy on disk)."""
    src = variant_tar(cache, suite, mirror, variant) if variant else image_tar(cache, suite, mirror)
    store_images.mkdir(parents=True, exist_ok=True)
    dst = store_images / image_tar_name(suite, variant)
    if dst.exists() and dst.stat().st_ino == src.stat().st_ino:
        return dst
    dst.unlink(missing_ok=True)
    try:
        dst.hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
    return dst


# --- variants: one layer on the base image ------------------------------------------------------------------------

DATA = Path(__file__).with_name("data")
#: variant -> {path in the image: file under ascend_env/lab/data, verbatim}.
#: ubuntu_root.bashrc is Ubuntu's root .bashrc: base-files' share/dot.bashrc, which base-files installs as
#: /root/.bashrc.  Text from hamonikr/base-files (a fork of Ubuntu's base-files 11ubuntu4, focal, via Linux Mint):
#: share/dot.bashrc @f7be9795b6c4fe066de7344e80db32c1004372d3 without the two additions its changelog names ("# other
#: alias" notepad alias, "# print hostname with figlet"); the same text is quoted as "ubuntu's default .bashrc" in
#: kaizhu256's utility2 (shUbuntuInit).  Its first command is the interactive guard `[ -z "$PS1" ] && return`.
VARIANTS: dict[str, dict[str, str]] = {
    "ubuntu-bashrc": {"/root/.bashrc": "ubuntu_root.bashrc"},
}


class ImageVariantError(AscendEnvError, ValueError):
    """An image variant the lab does not have; the message names the ones it has."""


def _variant_files(variant: str) -> dict[str, str]:
    if variant not in VARIANTS:
        raise ImageVariantError(f"image variant {variant!r} is not one the lab builds; use one of "
                                f"{', '.join(sorted(VARIANTS))}")
    return {dest: (DATA / name).read_text(encoding="utf-8") for dest, name in VARIANTS[variant].items()}


def variant_ref(suite: str, variant: str) -> str:
    return f"{image_ref(suite)}-{variant}"


def image_tar_name(suite: str, variant: str | None = None) -> str:
    """The tar's name in the store (what ascend_container_image_tar names)."""
    return f"ascend-env-base_{suite}{'-' + variant if variant else ''}.tar"


def variant_key(suite: str, mirror: str, variant: str) -> str:
    """The base's key and a digest of the variant's files: a changed file rebuilds the variant."""
    files = _variant_files(variant)
    h = hashlib.sha256("\n".join(f"{k}\n{v}" for k, v in sorted(files.items())).encode()).hexdigest()[:8]
    return f"{cache_key(suite, mirror)}-{variant}-{h}"


def variant_tar(cache: Path, suite: str, mirror: str, variant: str) -> Path:
    return cache / f"base-{variant_key(suite, mirror, variant)}.image.tar"


def ensure_variant(hp: HostPaths, cache: Path, suite: str, mirror: str, variant: str, log: list[str]) -> bool:
    """Make the variant present in this host's engine (the base image must be there); True if it had to be made or
    loaded.  Made once per cache: the base image, a stopped container of it with the variant's files copied in,
    committed as one layer with its own key label, saved next to the base's tar."""
    ref, key = variant_ref(suite, variant), variant_key(suite, mirror, variant)
    env = docker_env(hp)
    if image_key(hp, ref) == key:
        return False
    saved = variant_tar(cache, suite, mirror, variant)
    if saved.exists():
        log.append(f"docker load -i {saved.name} on {hp.base.name}")
        run(["docker", "load", "-i", str(saved)], env=env, timeout=900)
        if image_key(hp, ref) != key:
            raise LabError(f"docker load of {saved} did not produce {ref}; delete {saved} and run lab up again")
        return True
    name = f"ascend-lab-variant-{variant}"
    run(["docker", "rm", "-f", name], env=env, check=False)
    log.append(f"{ref}: {image_ref(suite)} + {', '.join(sorted(VARIANTS[variant]))} (one layer, cached as "
               f"{saved.name})")
    run(["docker", "create", "--name", name, "--network", "none", image_ref(suite)], env=env)
    try:
        with tempfile.TemporaryDirectory(prefix="variant-", dir=cache) as tmp:
            for dest, text in _variant_files(variant).items():
                src = Path(tmp) / Path(dest).name
                src.write_text(text, encoding="utf-8")
                src.chmod(0o644)
                run(["docker", "cp", str(src), f"{name}:{dest}"], env=env)
        run(["docker", "commit", "--change", f"LABEL {KEY_LABEL}={key}", "--message",
             f"ascend-env lab base image, variant {variant}", name, ref], env=env, timeout=300)
    finally:
        run(["docker", "rm", "-f", name], env=env, check=False)
    partial = saved.with_suffix(".partial")
    run(["docker", "save", "-o", str(partial), ref], env=env, timeout=900)
    partial.rename(saved)
    return True
