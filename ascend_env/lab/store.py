"""The offline artefact store the roles install from: ``runs/`` (.run installers), ``images/``, ``wheels/``.

Layout and manifest follow ascend-deployer's resources dir idea (one folder, a sha256 per file; ascend-facts
§3.1, §3.3), so a site without network copies this folder and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from ..matrix import Matrix, load_matrix
from ..preflight import file_sha256
from ..resolver import Request, Stack, resolve
from ..versions import Version
from . import hdk
from .config import LabConfig
from .inventory import lab_container, machine_arch
from .layout import LabPaths
from .procs import LabError, run


def lab_stacks(cfg: LabConfig, m: Matrix) -> list[tuple[str, Stack]]:
    """Resolve the containers the lab inventory asks for (same request the preflight makes)."""
    out = []
    for i, spec in enumerate(cfg.hosts):
        c = lab_container(spec, i)
        pins = {"driver": spec.driver, "firmware": spec.firmware, **c["pins"]}
        result = resolve(m, Request(chip=spec.chip, arch=machine_arch().cann, framework=c["framework"], pins=pins))
        if not isinstance(result, Stack):
            why = "\n".join(str(v) for v in result.violations)
            raise LabError(f"the lab's own container {c['name']} on {spec.name} does not resolve:\n{why}")
        out.append((spec.name, result))
    return out


def write_manifest(store: Path) -> Path:
    """``manifest.json``: every file of the store with its size and sha256 (reused when unchanged)."""
    path = store / "manifest.json"
    try:
        old = {e["path"]: e for e in json.loads(path.read_text())["files"]}
    except (OSError, ValueError, KeyError):
        old = {}
    files = []
    for p in sorted(store.rglob("*")):
        if not p.is_file() or p == path or p.name.endswith(".partial"):
            continue
        rel = str(p.relative_to(store))
        st = p.stat()
        prev = old.get(rel)
        if prev and prev["size"] == st.st_size and prev.get("mtime") == int(st.st_mtime):
            files.append(prev)
            continue
        files.append({"path": rel, "size": st.st_size, "mtime": int(st.st_mtime), "sha256": file_sha256(p)})
    text = json.dumps({"files": files}, indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def fill_runs(cfg: LabConfig, lp: LabPaths, log: list[str], extra_cann: list[str] | None = None) -> list[Path]:
    """Build the fake HDK and CANN installers the lab's hosts and containers need (skips existing files)."""
    from .installers import build_cann_package, build_driver_package, build_firmware_package

    m = load_matrix()
    arch = machine_arch().cann
    runs = lp.store / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    wanted_cann: set[tuple[str, str]] = set()
    for name, stack in lab_stacks(cfg, m):
        spec = cfg.host(name)
        cann_version = stack.version("cann")
        if cann_version is not None:
            wanted_cann.add((cann_version.canonical, spec.chip))
    for v in extra_cann or []:
        for spec in cfg.hosts:
            wanted_cann.add((Version.parse(v, "cann").canonical, spec.chip))
    existing = {p.name for p in runs.iterdir()}

    def build(fn: Any, *args: Any, **kw: Any) -> None:
        before = set(p.name for p in runs.iterdir())
        path = fn(*args, out_dir=runs, **kw) if "out_dir" not in kw else fn(*args, **kw)
        if path.name not in before:
            made.append(path)
            log.append(f"built {path.name}")

    for spec in cfg.hosts:
        fchip = f"-{_file_chip(m, spec.chip)}-"
        drv_file = f"npu-driver_{Version.parse(spec.driver, 'driver').file_spelling()}_"
        if not any(drv_file in n and fchip in n for n in existing):
            build(build_driver_package, spec.driver, spec.chip, arch,
                  version_info=hdk.driver_version_info(spec.driver))
        if not any(f"npu-firmware_{spec.firmware}.run" in n and fchip in n for n in existing):
            build(build_firmware_package, spec.firmware, spec.chip,
                  version_info=hdk.firmware_version_info(spec.firmware))
    for cann, chip in sorted(wanted_cann):
        for kind in ("toolkit", "kernels", "nnal"):
            try:
                build(build_cann_package, kind, cann, arch, chip=chip if kind == "kernels" else None, matrix=m)
            except LookupError as e:  # no such package for this version (e.g. NNAL before 8.0.RC2)
                log.append(f"skipped {kind} {cann}: {e}")
    return made


def _file_chip(m: Matrix, chip: str) -> str:
    return m.chip(chip).file_chip


#: Wheels the lab stocks besides its stacks' frameworks: the CPU torch the lab's torch container pins (from the
#: wheelhouse) and the torch_npu built for it (PyPI; it installs, and fails to load without CANN as on a real host).
DEFAULT_WHEELS = ("torch==2.13.0", "torch-npu==2.13.0")


def stack_wheels(cfg: LabConfig, m: Matrix | None = None) -> list[str]:
    """The framework wheels of the lab's own containers, at the resolved versions (what site.yml installs)."""
    out: list[str] = []
    for _, stack in lab_stacks(cfg, m or load_matrix()):
        for comp in ("torch", "torch_npu", "mindspore", "mindformers"):
            v = stack.version(comp)
            if v is not None:
                out.append(f"{comp.replace('_', '-')}=={v}")
    return sorted(set(out))


def stack_wheel_sets(cfg: LabConfig, m: Matrix | None = None) -> dict[str, list[str]]:
    """The framework wheels of the lab's containers per Python minor (``{"3.11": [...], "3.9": [...]}``): a conda
    container's Python need not be the controller's, so its wheels are fetched for its own Python."""
    out: dict[str, set[str]] = {}
    for _, stack in lab_stacks(cfg, m or load_matrix()):
        py = ".".join(str(stack.version("python")).split(".")[:2])
        for comp in ("torch", "torch_npu", "mindspore", "mindformers"):
            v = stack.version(comp)
            if v is not None:
                out.setdefault(py, set()).add(f"{comp.replace('_', '-')}=={v}")
    return {py: sorted(reqs) for py, reqs in sorted(out.items())}


def controller_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def wheelhouse_dirs() -> list[Path]:
    links = os.environ.get("PIP_FIND_LINKS", "")
    return [Path(p) for p in re.split(r"[\s]+", links) if p and Path(p).is_dir()]


def torch_guard(requirements: list[str]) -> list[str]:
    """Constraint lines that keep pip from choosing a PyPI torch (a multi-GB CUDA build on x86_64).

    torch must be pinned with ``==`` to a version whose wheel is in the machine's wheelhouse.
    """
    local = sorted({m.group(1) for d in wheelhouse_dirs() for f in d.glob("torch-*.whl")
                    if (m := re.match(r"torch-([0-9][^-]*?)(?:\+[^-]*)?-", f.name))})
    pins = [r for r in requirements if re.match(r"^torch\s*(==|$|[<>=!~])", r)]
    for r in pins:
        m = re.match(r"^torch\s*==\s*([0-9.]+)$", r)
        if not m or m.group(1) not in local:
            have = ", ".join(local) or "none (PIP_FIND_LINKS has no torch wheel)"
            raise LabError(f"refusing {r!r}: torch from PyPI is a multi-GB CUDA build. Pin torch==<version> to a "
                           f"wheel in your wheelhouse (PIP_FIND_LINKS); available: {have}")
    return [f"torch=={v}" for v in local[-1:]] if local and not pins else []


#: the wheels pip downloaded, under the lab's cache (kept by `lab down`, removed by `lab down --purge`)
WHEEL_CACHE = "wheels"
#: in the wheel cache: the files each set of requirements brought (so a new lab's store gets exactly its own)
WHEEL_SETS = ".sets.json"
_PIP_FILE_RE = re.compile(r"^\s*(?:Saved|File was already downloaded)\s+(.+?)\s*$")


def _read_sets(cache: Path) -> dict[str, list[str]]:
    try:
        doc = json.loads((cache / WHEEL_SETS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): [str(f) for f in v] for k, v in doc.items() if isinstance(v, list)} if isinstance(doc, dict) else {}


def _place(src: Path, dst: Path) -> None:
    """``src`` (a cached wheel) into the store: a hard link when on one file system, else a copy."""
    if dst.exists() and dst.stat().st_size == src.stat().st_size:
        return
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _download(cache: Path, argv: list[str], log: list[str]) -> list[str]:
    """Run ``pip download`` into the cache; the file names it saved or found already there (pip says which)."""
    cp = run(argv, timeout=3600)
    names = []
    for line in cp.stdout.splitlines():
        m = _PIP_FILE_RE.match(line)
        if m:
            names.append(Path(m.group(1)).name)
    # Some dependencies publish only an sdist (jieba, for MindFormers): build each into a wheel once, here, so the
    # hosts install offline without a compiler or build backends (pip --no-index cannot fetch setuptools).
    out = []
    for name in dict.fromkeys(names):
        if name.endswith(".whl"):
            out.append(name)
            continue
        sdist = cache / name
        built = cache / ".built" / name
        if not built.is_dir() or not any(built.glob("*.whl")):
            log.append(f"pip wheel {name} (no wheel published)")
            built.mkdir(parents=True, exist_ok=True)
            run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(built), str(sdist)],
                timeout=1800)
        for whl in built.glob("*.whl"):
            _place(whl, cache / whl.name)
            out.append(whl.name)
    return out


def fill_wheels(lp: LabPaths, requirements: list[str], log: list[str], python: str | None = None) -> None:
    """``pip download`` into the store's wheels; ``python`` (X.Y): for that Python instead of the controller's (binary
    wheels only, for the machine's architecture: a conda environment's Python).

    pip downloads into the lab's cache (``<cache>/wheels``), which `lab down` keeps: the store of the next lab gets
    the files of the same requirements from there without a download (it records which files each set brought, so
    a store holds its own wheels and no other lab's)."""
    if not requirements:
        return
    wheels = lp.store / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    stamp = wheels / ".requirements"  # every requirement already in this store (a union: adding never re-fetches)
    done = set(stamp.read_text().split("\n")) if stamp.exists() else set()
    cross = python is not None and python != controller_python()
    tag = f"py{python}:" if cross else ""
    if {tag + r for r in requirements} <= done:
        return
    key = "\n".join(sorted(done | {tag + r for r in requirements})) + "\n"
    cache = lp.cache / WHEEL_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    sets = _read_sets(cache)
    set_key = tag + "\n".join(sorted(requirements))
    files = sets.get(set_key)
    if files and all((cache / f).is_file() for f in files):
        log.append(f"wheels for {' '.join(requirements)}{f' (Python {python})' if cross else ''} from the cache "
                   f"{cache} ({len(files)} files)")
    else:
        constraints = torch_guard(requirements)
        argv = [sys.executable, "-m", "pip", "download", "--prefer-binary", "--progress-bar", "off",
                "--dest", str(cache), *requirements]
        if cross:
            arch = machine_arch().wheel
            argv[4:4] = ["--only-binary=:all:", "--python-version", str(python), "--implementation", "cp",
                         *[a for tag_ in ("manylinux2014", "manylinux_2_17", "manylinux_2_28", "linux")
                           for a in ("--platform", f"{tag_}_{arch}")]]
        cfile = cache / ".constraints"
        if constraints:
            cfile.write_text("\n".join(constraints) + "\n")
            argv += ["--constraint", str(cfile)]
        log.append(f"pip download {' '.join(requirements)}{f' for Python {python}' if cross else ''} into {cache} "
                   "(honours PIP_INDEX_URL, PIP_FIND_LINKS, PIP_CERT, proxies)")
        files = _download(cache, argv, log)
        if not files:
            raise LabError(f"pip download {' '.join(requirements)} named no file it saved; see `{' '.join(argv)}`")
        big = [f for f in files if (cache / f).stat().st_size > 1_500_000_000]
        if big:
            raise LabError(f"pip fetched very large wheels {big}: a CUDA build slipped in; delete them from {cache} "
                           "and pin torch")
        sets[set_key] = files
        tmp = cache / f"{WHEEL_SETS}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(sets, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(cache / WHEEL_SETS)
    for f in files:
        _place(cache / f, wheels / f)
    stamp.write_text(key)


#: The py-rattler the lab stocks for the rattler installer (the role's script is tested against it).
RATTLER_WHEEL = "py-rattler==0.28.0"


def fill_conda(cfg: LabConfig, lp: LabPaths, log: list[str]) -> Path:
    """The store's conda channel (python 3.9 and 3.11 from Debian, pip; see conda_channel) and the py-rattler wheel."""
    from . import conda_channel

    arch = machine_arch().value
    channel = conda_channel.build_channel(cfg.cache, arch, cfg.mirror, conda_channel.DEFAULT_MINORS, log)
    dst = conda_channel.publish(channel, lp.store)
    fill_wheels(lp, [RATTLER_WHEEL], log)
    return dst
