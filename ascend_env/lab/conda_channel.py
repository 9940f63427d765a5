"""The lab's conda channel: real conda packages of a relocatable CPython, made from Debian's own binary packages.

No conda channel, Miniforge installer or python.org download is reachable where ascend-env is built and tested, and
no registry ships a relocatable CPython (PyPI's ``pbs-installer`` and ``portable-python`` only point at GitHub and
python.org).  Debian's archive is reachable, and Debian's CPython is a normal upstream build with ``--prefix=/usr``
that finds its prefix from the location of its executable (getpath: the parent holding ``lib/pythonX.Y/os.py``).
So the channel is built from the registries only, without a compiler:

1. ``apt-get download`` (apt's own client, with a private state folder under the cache: the machine's apt sources
   and lists are never touched) fetches the interpreter packages of a Debian suite (bullseye for 3.9, bookworm for
   3.11) and the libraries its modules link, and ``dpkg-deb -x`` unpacks them;
2. the tree is laid out as a conda prefix (``bin/python3.9``, ``lib/python3.9``, ``lib/libpython3.9.so.1.0``); every
   library the interpreter and its extension modules need beyond glibc is vendored into ``lib/`` (from the same
   suite: libssl1.1 and libffi7 for 3.9, which bookworm lacks) and every ELF gets an ``$ORIGIN``-relative RUNPATH
   (``patchelf``), so the package depends only on ``__glibc``;
3. two Debian patches that assume ``/usr`` are undone so the prefix behaves as conda's python does: ``site.py`` puts
   ``lib/pythonX.Y/site-packages`` on ``sys.path`` (Debian: only in a venv) and distutils / sysconfig install into it
   (Debian: ``local/lib/pythonX.Y/dist-packages``);
4. ``info/`` is written as conda-build writes it (``index.json``, ``paths.json`` with ``prefix_placeholder`` and
   ``file_mode`` for the scripts whose shebang names the prefix, ``has_prefix``, ``files``, ``about.json``,
   ``licenses/``) and conda-package-handling packs the ``.conda`` file;
5. pip (the PyPI wheel) becomes a ``noarch: python`` package, and py-rattler's ``index_fs`` writes ``repodata.json``.

What is not real: the packages are not conda-forge's (no separate ``openssl``/``libffi`` packages: the libraries
are vendored; no headers, no ``ensurepip``, no precompiled ``.pyc``; ``sysconfig``'s build variables are Debian's).
The result is cached under the lab cache (``conda/``) and copied into ``<store>/conda/channel``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import LabError, run

#: Bump when the way packages are made changes: the cached channel is rebuilt.
FORMAT = "1"
#: pip from PyPI, as the channel's noarch package (pip 26 supports Python >= 3.9).
PIP_VERSION = "26.0.1"
#: Where the channel lives in the store (the roles' default offline channel: file://<store mount>/conda/channel).
STORE_DIR = "conda/channel"
#: Long prefix placeholder (conda-build's style): text files holding it are rewritten to the target prefix.
PLACEHOLDER = "/opt/ascend_env_conda_bld/_h_env" + "_placehold" * 20
#: zstd level of the .conda components (conda-build uses 19; 10 packs ~3x faster for a few % more bytes).
ZSTD_LEVEL = 10


@dataclass(frozen=True)
class Recipe:
    """One CPython minor from one Debian suite: the interpreter's packages and the libraries vendored with it."""

    minor: str
    suite: str
    glibc: str                   # the suite's glibc: the package's only dependency (__glibc >=)
    packages: tuple[str, ...]    # the interpreter and its standard library (Debian splits it)
    libs: tuple[str, ...]        # what its modules link beyond glibc (vendored into <prefix>/lib)


RECIPES: dict[str, Recipe] = {
    # bullseye's 3.9.2: its own OpenSSL 1.1 and libffi7 come along (bookworm has neither)
    "3.9": Recipe("3.9", "bullseye", "2.31",
                  ("python3.9", "python3.9-minimal", "libpython3.9-minimal", "libpython3.9-stdlib", "libpython3.9",
                   "python3-distutils", "python3-lib2to3"),
                  ("libssl1.1", "libffi7", "libmpdec3", "libexpat1", "zlib1g", "libbz2-1.0", "liblzma5",
                   "libsqlite3-0", "libreadline8", "libncursesw6", "libtinfo6", "libuuid1", "libgdbm6",
                   "libgdbm-compat4", "libcrypt1", "libdb5.3")),
    "3.11": Recipe("3.11", "bookworm", "2.36",
                   ("python3.11", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib",
                    "libpython3.11", "python3-distutils", "python3-lib2to3"),
                   ("libssl3", "libffi8", "libexpat1", "zlib1g", "libbz2-1.0", "liblzma5",
                    "libsqlite3-0", "libreadline8", "libncursesw6", "libtinfo6", "libuuid1", "libgdbm6",
                    "libgdbm-compat4", "libcrypt1", "libdb5.3")),
}
#: The lab's channel: the minor its conda container uses (3.9, not the image's 3.11) and the image's own (a stack
#: change between the two recreates the environment).
DEFAULT_MINORS = ("3.9", "3.11")

#: Debian architecture, GNU triplet and conda subdir per machine architecture.
ARCHES = {"x86_64": ("amd64", "x86_64-linux-gnu", "linux-64"),
          "aarch64": ("arm64", "aarch64-linux-gnu", "linux-aarch64")}
#: glibc's own libraries (the __glibc dependency), never vendored.
GLIBC = frozenset({"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                   "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "linux-vdso.so.1"})
#: Extension modules left out: nis links libnsl/libtirpc and through them Kerberos (deprecated; gone in 3.13).
DROP_MODULES = ("nis",)


# --- apt, with a private state folder ------------------------------------------------------------------------------

def _apt_options(root: Path) -> list[str]:
    return [f"-oDir::Etc={root / 'etc'}", f"-oDir::State={root / 'state'}",
            f"-oDir::State::status={root / 'state/status'}", f"-oDir::Cache={root / 'cache'}",
            "-oDebug::NoLocking=1", "-oAcquire::Languages=none", "-oAPT::Sandbox::User=root"]


def apt_download(suite: str, arch: str, mirror: str, packages: Sequence[str], dest: Path, work: Path,
                 keyring: str = "/usr/share/keyrings/debian-archive-keyring.gpg") -> list[Path]:
    """``apt-get download`` of ``packages`` from ``suite`` into ``dest``; apt's lists and state stay in ``work``."""
    deb_arch = ARCHES[arch][0]
    root = work / f"apt-{suite}-{deb_arch}"
    for d in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "state/lists/partial",
              "cache/archives/partial"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "state/status").touch()
    (root / "etc/sources.list").write_text(f"deb [arch={deb_arch} signed-by={keyring}] {mirror} {suite} main\n")
    opts = [*_apt_options(root), f"-oAPT::Architecture={deb_arch}", f"-oAPT::Architectures={deb_arch}"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not any((root / "state/lists").glob(f"*_dists_{suite}_*Packages*")):
        run(["apt-get", *opts, "update", "-qq"], env=env, timeout=600)
    dest.mkdir(parents=True, exist_ok=True)
    cp = subprocess.run(["apt-get", *opts, "download", *packages], cwd=dest, env=env, capture_output=True,
                        text=True, timeout=900, check=False)
    if cp.returncode != 0:
        raise LabError(f"apt-get download from Debian {suite} ({mirror}) failed: "
                       + " | ".join((cp.stderr or cp.stdout).strip().splitlines()[-4:])
                       + "; check the mirror (ASCEND_ENV_LAB_MIRROR) and the network")
    return sorted(dest.glob("*.deb"))


def deb_versions(debs: Iterable[Path]) -> dict[str, str]:
    """``{package: version}`` from the file names apt-get download writes (``name_version_arch.deb``)."""
    out = {}
    for d in debs:
        name, version, _ = d.name[:-4].split("_")
        out[name] = version.replace("%3a", ":")
    return out


# --- the python package --------------------------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _needed(path: Path) -> list[str]:
    return run(["patchelf", "--print-needed", str(path)]).stdout.split()


def _set_runpath(path: Path, runpath: str) -> None:
    run(["patchelf", "--set-rpath", runpath, str(path)])


def _replace_once(path: Path, old: str, new: str, why: str) -> None:
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise LabError(f"{path.name}: the Debian code this build patches ({why}) was not found exactly once; the "
                       f"suite's python changed: update ascend_env/lab/conda_channel.py")
    path.write_text(text.replace(old, new), encoding="utf-8")


def _undo_debian_layout(stdlib: Path) -> list[str]:
    """Make ``site.py``, distutils and sysconfig use ``<prefix>/lib/pythonX.Y/site-packages`` as conda's python does
    (Debian uses it only inside a venv and installs into ``local/lib/pythonX.Y/dist-packages`` otherwise)."""
    notes = []
    site = stdlib / "site.py"
    text = site.read_text(encoding="utf-8")
    block = re.compile(r'(?m)^(\s*)if [^\n]+:\n(\s*sitepackages\.append\(os\.path\.join\(prefix, "lib",\s*\n'
                       r'\s*"python[^\n]*\n\s*"site-packages"\)\))')
    if len(block.findall(text)) != 1:
        raise LabError("site.py: Debian's venv-only site-packages branch was not found exactly once; the suite's "
                       "python changed: update ascend_env/lab/conda_channel.py")
    site.write_text(block.sub(r"\1if True:  # ascend-env (conda layout): site-packages in every prefix\n\2", text),
                    encoding="utf-8")
    notes.append("site.py: lib/pythonX.Y/site-packages is on sys.path in every prefix (Debian: only in a venv)")
    install = stdlib / "distutils/command/install.py"
    if install.exists():
        _replace_once(install, 'self.select_scheme("unix_local")',
                      "self.select_scheme(\"unix_local\" if os.path.normpath(sys.prefix) == '/usr' "
                      "else \"unix_prefix\")  # ascend-env (conda layout)", "distutils: unix_local outside a venv")
        notes.append("distutils: installs into <prefix>/lib/pythonX.Y/site-packages (unix_prefix) outside /usr")
    sysconfig = stdlib / "sysconfig.py"
    if "prefix_scheme = 'posix_local'" in sysconfig.read_text(encoding="utf-8"):  # Debian's 3.10+ default scheme
        _replace_once(sysconfig, "prefix_scheme = 'posix_local'",
                      "prefix_scheme = 'posix_prefix'  # ascend-env (conda layout)", "sysconfig: posix_local default")
        notes.append("sysconfig: the default scheme is posix_prefix (Debian: posix_local outside a venv)")
    return notes


def _layout(tree: Path, pkg: Path, recipe: Recipe, triplet: str) -> None:
    """Debian's /usr tree -> a conda prefix (bin/, lib/pythonX.Y, lib/libpythonX.Y.so.1.0)."""
    mm = recipe.minor
    (pkg / "bin").mkdir(parents=True)
    shutil.copy2(tree / f"usr/bin/python{mm}", pkg / f"bin/python{mm}")
    for link in ("python3", "python"):
        (pkg / "bin" / link).symlink_to(f"python{mm}")
    src = tree / f"usr/bin/pydoc{mm}"
    if src.exists():  # its shebang names the prefix: a text-mode prefix placeholder, rewritten at install
        text = re.sub(r"^#! ?/usr/bin/python\S*", f"#!{PLACEHOLDER}/bin/python{mm}", src.read_text(encoding="utf-8"),
                      count=1)
        (pkg / f"bin/pydoc{mm}").write_text(text, encoding="utf-8")
        (pkg / f"bin/pydoc{mm}").chmod(0o755)
        (pkg / "bin/pydoc3").symlink_to(f"pydoc{mm}")
    shutil.copytree(tree / f"usr/lib/python{mm}", pkg / f"lib/python{mm}", symlinks=True)
    stdlib = pkg / f"lib/python{mm}"
    for p in list(stdlib.rglob("*")):
        if p.is_symlink() and os.readlink(p).startswith("/"):
            p.unlink()  # sitecustomize.py -> /etc/pythonX.Y/sitecustomize.py (Debian's apport hook)
    for p in list(stdlib.rglob("__pycache__")):
        shutil.rmtree(p)
    dyn = stdlib / "lib-dynload"
    for p in dyn.iterdir():
        if p.name.split(".")[0] in DROP_MODULES:
            p.unlink()
    (stdlib / "site-packages").mkdir(exist_ok=True)
    (stdlib / "site-packages/README.txt").write_text("This directory exists so that 3rd party packages can be "
                                                     "installed here.  Read the source for site.py for more "
                                                     "details.\n")
    for lib in sorted((tree / "usr/lib" / triplet).glob(f"libpython{mm}*.so*")):
        dst = pkg / "lib" / lib.name
        if lib.is_symlink():
            dst.symlink_to(os.readlink(lib))
        else:
            shutil.copy2(lib, dst)


def _vendor(pkg: Path, recipe: Recipe, libtree: Path, triplet: str) -> dict[str, str]:
    """Copy every non-glibc library the ELF files need (transitively) into ``<pkg>/lib``; set $ORIGIN RUNPATHs."""
    mm = recipe.minor
    lib, dyn = pkg / "lib", pkg / f"lib/python{mm}/lib-dynload"
    have: dict[str, Path] = {}
    for d in (libtree / "lib" / triplet, libtree / "usr/lib" / triplet):
        if d.is_dir():
            for p in d.iterdir():
                if ".so" in p.name and p.name not in have:
                    have[p.name] = p
    runpaths = {pkg / f"bin/python{mm}": "$ORIGIN/../lib"}
    for p in lib.glob(f"libpython{mm}*.so*"):
        if not p.is_symlink():
            runpaths[p] = "$ORIGIN"
    for p in dyn.glob("*.so"):
        runpaths[p] = "$ORIGIN/../.."
    todo = list(runpaths)
    vendored: dict[str, str] = {}
    own = {p.name for p in lib.iterdir()}
    while todo:
        for soname in _needed(todo.pop()):
            if soname in GLIBC or soname in own or soname in vendored:
                continue
            src = have.get(soname)
            if src is None:
                raise LabError(f"python {mm}: {soname} is needed but is in none of the packages "
                               f"{', '.join(recipe.libs)} (Debian {recipe.suite}); add its package to the recipe in "
                               "ascend_env/lab/conda_channel.py")
            dst = lib / soname
            shutil.copyfile(src.resolve(), dst)
            dst.chmod(0o755)
            vendored[soname] = src.resolve().name
            runpaths[dst] = "$ORIGIN"
            todo.append(dst)
    for path, rp in runpaths.items():
        _set_runpath(path, rp)
    return vendored


def _paths(pkg: Path, placeholder: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """``paths.json`` entries of the payload (everything but ``info/``) and the legacy ``has_prefix`` lines."""
    entries, has_prefix = [], []
    ph = placeholder.encode() if placeholder else None
    for p in sorted(pkg.rglob("*")):
        rel = p.relative_to(pkg).as_posix()
        if rel == "info" or rel.startswith("info/"):
            continue
        if p.is_symlink():
            entries.append({"_path": rel, "path_type": "softlink", "sha256": _sha256(os.readlink(p).encode()),
                            "size_in_bytes": len(os.readlink(p))})
            continue
        if p.is_dir():
            continue
        data = p.read_bytes()
        entry: dict[str, Any] = {"_path": rel, "path_type": "hardlink", "sha256": _sha256(data),
                                 "size_in_bytes": len(data)}
        if ph is not None and ph in data:
            mode = "binary" if data.startswith(b"\x7fELF") or b"\x00" in data[:8192] else "text"
            entry.update(prefix_placeholder=placeholder, file_mode=mode)
            has_prefix.append(f"{placeholder} {mode} {rel}")
        entries.append(entry)
    return entries, has_prefix


def _write_info(pkg: Path, index: dict[str, Any], entries: list[dict[str, Any]], has_prefix: list[str],
                about: dict[str, Any], link: dict[str, Any] | None = None) -> None:
    info = pkg / "info"
    info.mkdir(exist_ok=True)
    (info / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (info / "paths.json").write_text(json.dumps({"paths": entries, "paths_version": 1}, indent=2) + "\n")
    (info / "files").write_text("".join(e["_path"] + "\n" for e in entries))
    if has_prefix:
        (info / "has_prefix").write_text("\n".join(has_prefix) + "\n")
    (info / "about.json").write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
    if link is not None:
        (info / "link.json").write_text(json.dumps(link, indent=2) + "\n")


def _pack(pkg: Path, out: Path) -> Path:
    """``.conda`` (zip of zstd tars) with conda-package-handling, conda's own package writer."""
    try:
        from conda_package_handling import api as cph
    except ImportError:
        raise LabError("building the lab's conda channel needs conda-package-handling and py-rattler in the "
                       "controller's Python: pip install -e '.[lab-conda]' (both from PyPI)") from None
    files = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if not p.is_dir() or p.is_symlink())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cph.create(str(pkg), files, out.name, out_folder=str(out.parent), compression_level=ZSTD_LEVEL)
    return out


def build_python(recipe: Recipe, arch: str, mirror: str, subdir_out: Path, work: Path, log: list[str]) -> Path:
    """Download, lay out, vendor, describe and pack one CPython minor; returns the .conda file."""
    deb_arch, triplet, subdir = ARCHES[arch]
    debs = work / f"debs-{recipe.suite}-{deb_arch}"
    shutil.rmtree(debs, ignore_errors=True)  # only this build's packages (a point release may have replaced some)
    got = apt_download(recipe.suite, arch, mirror, [*recipe.packages, *recipe.libs], debs, work)
    versions = deb_versions(got)
    wanted = set(recipe.packages) | set(recipe.libs)
    files = [d for d in sorted(debs.glob("*.deb")) if d.name.split("_")[0] in wanted]
    tree, libtree = work / f"tree-{recipe.minor}", work / f"libs-{recipe.minor}"
    for t in (tree, libtree):
        shutil.rmtree(t, ignore_errors=True)
        t.mkdir()
    for d in files:
        run(["dpkg-deb", "-x", str(d), str(tree if d.name.split("_")[0] in recipe.packages else libtree)])
    version_of = versions.get(f"python{recipe.minor}") or next(
        d.name.split("_")[1] for d in files if d.name.startswith(f"python{recipe.minor}_"))
    upstream = re.match(r"(?:\d+:)?(\d+\.\d+\.\d+)", version_of)
    if upstream is None:
        raise LabError(f"cannot read the upstream version of Debian's python{recipe.minor} {version_of!r}")
    version = upstream.group(1)
    pkg = work / f"pkg-{recipe.minor}"
    shutil.rmtree(pkg, ignore_errors=True)
    _layout(tree, pkg, recipe, triplet)
    notes = _undo_debian_layout(pkg / f"lib/python{recipe.minor}")
    vendored = _vendor(pkg, recipe, libtree, triplet)
    licenses = pkg / "info/licenses"
    licenses.mkdir(parents=True)
    for d in files:
        name = d.name.split("_")[0]
        for root in (tree, libtree):
            src = root / "usr/share/doc" / name / "copyright"
            if src.is_file():
                shutil.copy2(src, licenses / f"{name}.copyright")
    entries, has_prefix = _paths(pkg, PLACEHOLDER)
    digest = hashlib.sha1(json.dumps([e["sha256"] if "sha256" in e else e["_path"] for e in entries])
                          .encode()).hexdigest()[:7]
    build = f"h{digest}_0_cpython"
    index = {"name": "python", "version": version, "build": build, "build_number": 0,
             "depends": [f"__glibc >={recipe.glibc}"], "license": "Python-2.0", "license_family": "PSF",
             "subdir": subdir, "arch": arch, "platform": "linux", "timestamp": int(time.time() * 1000),
             "python_site_packages_path": f"lib/python{recipe.minor}/site-packages"}
    about = {"home": "https://www.python.org", "license": "Python-2.0",
             "summary": f"CPython {version}: Debian {recipe.suite}'s binary packages, made relocatable by ascend-env's "
                        "lab (ascend_env/lab/conda_channel.py)",
             "description": "Debian packages: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
                            + ". Vendored libraries (RUNPATH $ORIGIN): "
                            + ", ".join(sorted(vendored)) + ". Changes: " + "; ".join(notes),
             "extra": {"debian_suite": recipe.suite, "debian_packages": versions, "vendored": vendored}}
    _write_info(pkg, index, entries, has_prefix, about)
    out = _pack(pkg, subdir_out / subdir / f"python-{version}-{build}.conda")
    log.append(f"conda channel: python {version} from Debian {recipe.suite} ({len(entries)} files, "
               f"{len(vendored)} libraries vendored, {out.stat().st_size // 1_000_000} MB)")
    shutil.rmtree(pkg)
    shutil.rmtree(tree)
    shutil.rmtree(libtree)
    return out


# --- noarch python packages from wheels ----------------------------------------------------------------------------

def wheel_to_noarch(wheel: Path, channel: Path, work: Path, entry_points: Sequence[str] | None = None) -> Path:
    """A pure wheel (``py3-none-any``) as a ``noarch: python`` package: files under ``site-packages/``, console
    scripts as link.json entry points (conda and rattler write ``bin/<name>`` at install)."""
    parts = wheel.name[:-4].split("-")
    if parts[-1] != "any" or parts[-2] != "none":
        raise LabError(f"{wheel.name} is not a pure-Python wheel; only those become noarch packages")
    dist, version = parts[0], parts[1]
    name = re.sub(r"[-_.]+", "-", dist).lower()
    pkg = Path(tempfile.mkdtemp(prefix=f"noarch-{name}-", dir=work))
    sp = pkg / "site-packages"
    sp.mkdir()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(sp)
    distinfo = next(sp.glob("*.dist-info"))
    meta = (distinfo / "METADATA").read_text(encoding="utf-8")
    requires = re.search(r"^Requires-Python: *(.+)$", meta, re.M)
    if re.search(r"^Requires-Dist: *[^;]+$", meta, re.M):
        raise LabError(f"{wheel.name} has unconditional dependencies; this converter handles only wheels without")
    eps = list(entry_points or [])
    if not eps and (distinfo / "entry_points.txt").exists():
        section = None
        for line in (distinfo / "entry_points.txt").read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[console_scripts]" and "=" in line:
                k, v = (x.strip() for x in line.split("=", 1))
                eps.append(f"{k} = {v}")
    (distinfo / "INSTALLER").write_text("conda\n")
    depends = ["python " + requires.group(1).replace(" ", "")] if requires else ["python"]
    entries, _ = _paths(pkg, None)
    index = {"name": name, "version": version, "build": "pyh_0", "build_number": 0, "depends": depends,
             "license": "", "noarch": "python", "subdir": "noarch", "timestamp": int(time.time() * 1000)}
    about = {"summary": f"{wheel.name} from PyPI as a noarch: python package (ascend-env lab)"}
    link = {"noarch": {"type": "python", "entry_points": eps}, "package_metadata_version": 1}
    _write_info(pkg, index, entries, [], about, link)
    out = _pack(pkg, channel / "noarch" / f"{name}-{version}-pyh_0.conda")
    shutil.rmtree(pkg)
    return out


def index(channel: Path) -> None:
    """``repodata.json`` of every subdir (and ``noarch/``) with py-rattler's indexer."""
    try:
        from rattler.index import index_fs
    except ImportError:
        raise LabError("indexing the lab's conda channel needs py-rattler in the controller's Python: "
                       "pip install -e '.[lab-conda]'") from None
    result = index_fs(channel, write_zst=False, write_shards=False, force=True)
    if asyncio.iscoroutine(result):  # py-rattler 0.28: a coroutine (a plain call only warns and writes nothing)
        asyncio.run(result)
    for sub in ("noarch",):
        if not (channel / sub / "repodata.json").is_file():
            raise LabError(f"py-rattler wrote no {sub}/repodata.json in {channel}")


# --- the channel ---------------------------------------------------------------------------------------------------

def channel_key(arch: str, mirror: str, minors: Sequence[str]) -> str:
    recipes = [RECIPES[m] for m in minors]
    text = json.dumps([FORMAT, arch, mirror, PIP_VERSION, [r.__dict__ for r in recipes]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_channel(cache: Path, arch: str, mirror: str, minors: Sequence[str], log: list[str],
                  pip_wheel_dir: Path | None = None) -> Path:
    """The channel in ``<cache>/conda/channel-<key>`` (built once; a second call returns at once)."""
    unknown = [m for m in minors if m not in RECIPES]
    if unknown:
        raise LabError(f"no recipe for Python {', '.join(unknown)} in the lab's conda channel; available: "
                       f"{', '.join(RECIPES)} (Debian has no other CPython minor in a reachable suite)")
    if arch not in ARCHES:
        raise LabError(f"the lab's conda channel is built for {', '.join(ARCHES)}, not {arch}")
    base = cache / "conda"
    out = base / f"channel-{channel_key(arch, mirror, minors)}"
    if (out / ".complete").exists():
        return out
    t0 = time.monotonic()
    base.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for sub in ("noarch", ARCHES[arch][2]):
        (partial / sub).mkdir(parents=True)
    work = base / "work"
    work.mkdir(exist_ok=True)
    for minor in minors:
        build_python(RECIPES[minor], arch, mirror, partial, work, log)
    wheels = pip_wheel_dir or work / "wheels"
    pip_wheel = next(iter(sorted(wheels.glob(f"pip-{PIP_VERSION}-py3-none-any.whl"))), None)
    if pip_wheel is None:
        import sys

        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", str(wheels), f"pip=={PIP_VERSION}"], timeout=600)
        pip_wheel = next(wheels.glob(f"pip-{PIP_VERSION}-py3-none-any.whl"))
    wheel_to_noarch(pip_wheel, partial, work)
    index(partial)
    (partial / ".complete").write_text(f"{time.time():.0f}\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    log.append(f"conda channel built in {time.monotonic() - t0:.0f} s: {out}")
    return out


def publish(channel: Path, store: Path) -> Path:
    """Put the channel into ``<store>/conda/channel`` (hard links when possible); files of another build go."""
    dst = store / STORE_DIR
    want = {p.relative_to(channel) for p in channel.rglob("*") if p.is_file() and p.name != ".complete"}

    def same(a: Path, b: Path) -> bool:  # a hard link, or a copy2 of it (same size and mtime)
        sa, sb = a.stat(), b.stat()
        return sa.st_ino == sb.st_ino or (sa.st_size == sb.st_size and int(sa.st_mtime) == int(sb.st_mtime))

    if dst.exists():
        for p in sorted(dst.rglob("*"), reverse=True):
            rel = p.relative_to(dst)
            if p.is_file() and (rel not in want or not same(p, channel / rel)):
                p.unlink()
    for rel in sorted(want):
        target = dst / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.hardlink_to(channel / rel)
        except OSError:
            shutil.copy2(channel / rel, target)
    return dst
