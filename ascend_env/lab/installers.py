"""Faithful fakes of Huawei's proprietary ``.run`` installers, built with the real ``makeself``.

Each builder writes one self-extracting archive under the real file name (``installer_names`` of the matrix) whose
embedded script (``run_payload/install.sh``) behaves like the Huawei installer at the level ascend-deployer and the
project's roles see it: the same options, the same files left behind (install/version info, ``latest`` links,
``set_env.sh``, ``/etc`` records), the same log line format and the same refusals.  Real messages are used where
a public sample exists; ``run_payload/install.sh`` cites the source of each and marks the others "lab wording".

Archives are built with ``makeself --sha256 --nomd5 --nocrc`` like Huawei's (their ``--check`` prints
"Verifying archive integrity...  100%   SHA256 checksums are OK. All good.", community install transcripts).  Stock
makeself refuses unknown options ("Unrecognized flag"), while Huawei's header hands them to the package script;
:func:`patched_header` applies the same change to the installed ``makeself-header.sh``: ``--help``/``-h`` and every
option makeself does not know go to the script, ``--quiet`` is seen by both, ``--check``/``--info``/``--list``/
``--tar``/``--nox11``/``--target`` stay makeself's.

Safety (the lab never touches a real machine's Ascend paths): outside a lab container
(``/etc/ascend-env-lab/container``, made by the lab's base image; or ``ASCEND_LAB_IN_CONTAINER=0|1``) the
packages refuse an install path under ``/usr/local/Ascend`` and write their ``/etc`` records under
``$ASCEND_LAB_ROOT/etc`` (default: ``$ASCEND_ENV_HOST_ROOT``, which a lab host's sshd sets for its sessions, so a
host provisioned itself keeps its CANN record under its own root), or not at all; logs go to
``<install-path>/../ascend_lab_logs``.
Other knobs for tests: ``ASCEND_LAB_UNAME_M`` (detected architecture), ``ASCEND_LAB_REQUIRED_KB`` (free space
needed).  Pure helpers first, the builders (the only functions with side effects) at the end.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import AscendEnvError
from ..matrix import Chip, Matrix, load_matrix
from ..resolver import installer_names, layout_for
from ..versions import Arch, Version, VersionError

__all__ = [
    "InnerVersion",
    "build_cann_package",
    "build_driver_package",
    "build_firmware_package",
    "inner_version_for",
    "load_inner_versions",
    "package_conf",
    "patched_header",
    "python_support",
    "toolkit_layout",
]

CannKind = Literal["toolkit", "kernels", "nnal"]
PAYLOAD_DIR = Path(__file__).with_name("run_payload")
DATA_DIR = Path(__file__).with_name("data")
STOCK_HEADER = Path("/usr/share/makeself/makeself-header.sh")

#: free space each package asks for (KB).  Lab estimates of the unpacked size, not published figures; the real
#: toolkit .run is ~2 GB compressed.  ``ASCEND_LAB_REQUIRED_KB`` overrides them at install time.
REQUIRED_KB: dict[str, int] = {
    "toolkit": 6 * 1024 * 1024,
    "kernels": 3 * 1024 * 1024,
    "nnal": 1024 * 1024,
    "driver": 512 * 1024,
    "firmware": 256 * 1024,
}
#: makeself labels printed as "Uncompressing <label>  100%" -- from community install transcripts (toolkit and
#: kernels: ASCEND_RUN_PACKAGE; driver: ASCEND-HDK-310B-NPU DRIVER RUN PACKAGE; firmware: ASCEND-HDK-910-NPU
#: FIRMWARE RUN PACKAGE), source repository unknown.
_LABELS = {
    "cann": "ASCEND_RUN_PACKAGE",
    "driver": "ASCEND-HDK-{chip}-NPU DRIVER RUN PACKAGE",
    "firmware": "ASCEND-HDK-{chip}-NPU FIRMWARE RUN PACKAGE",
}
_PACKAGING_DATE = "Thu Jan  1 00:00:00 UTC 2015"  # fixed, so that rebuilding gives the same bytes
_DEFAULT_PYTHON = (("3.7", 0, 999), ("3.8", 0, 999), ("3.9", 0, 999), ("3.10", 0, 999), ("3.11", 0, 999))


class InstallerBuildError(AscendEnvError, RuntimeError):
    """A package cannot be built; the message says why and how to fix it."""


# --- inner versions ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InnerVersion:
    version: Version
    innerversion: str
    compatible_version: str
    numeric: str
    timestamp: str
    source: str
    derived: bool = False


@functools.lru_cache(maxsize=1)
def load_inner_versions() -> tuple[InnerVersion, ...]:
    doc = yaml.safe_load((DATA_DIR / "cann_inner_versions.yaml").read_text(encoding="utf-8"))
    return tuple(
        InnerVersion(version=Version.parse(r["version"], "cann"), innerversion=r["innerversion"],
                     compatible_version=r["compatible_version"], numeric=str(r.get("numeric") or ""),
                     timestamp=str(r.get("timestamp") or ""), source=r["source"])
        for r in doc["rows"]
    )


def _commercial_base(m: Matrix | None, cann: Version) -> Version | None:
    rel = m.release(cann) if m is not None else None
    if rel is not None and rel.same_as is not None:
        return rel.same_as
    stripped = re.sub(r"\.(alpha|beta)\d*$", "", cann.canonical, flags=re.IGNORECASE)
    return Version.parse(stripped, "cann") if stripped != cann.canonical else None


def inner_version_for(cann: Version | str, rows: Sequence[InnerVersion] | None = None,
                      m: Matrix | None = None) -> InnerVersion:
    """The row for ``cann``; else its commercial release's; else the nearest older row's (marked derived)."""
    v = Version.parse(cann, "cann")
    rows = tuple(rows) if rows is not None else load_inner_versions()
    exact = next((r for r in rows if r.version == v), None)
    if exact is not None:
        return exact
    base = _commercial_base(m, v)
    found = next((r for r in rows if base is not None and r.version == base), None)
    if found is None:
        older = sorted((r for r in rows if r.version < v), key=lambda r: r.version.key)
        found = older[-1] if older else min(rows, key=lambda r: r.version.key)
    return InnerVersion(version=v, innerversion=found.innerversion, compatible_version=found.compatible_version,
                        numeric="", timestamp="",
                        source=f"lab-derived: no public sample (borrowed from {found.version})", derived=True)


# --- python ------------------------------------------------------------------------------------------------
def python_support(m: Matrix, cann: Version | str) -> tuple[tuple[str, int, int], ...]:
    """Supported Pythons of ``cann`` as ``(major.minor, lowest patch, highest patch)``; 999 = any patch.

    From the matrix's CANN<->Python rows (the commercial release's rows for a community build).  A CANN with no
    row gets 3.7-3.11, the range of the CANN 8.x installation guides.
    """
    v = Version.parse(cann, "cann")
    rows = [r for r in m.cann_python if any(s.contains(v) for s in r.cann)]
    base = _commercial_base(m, v)
    if not rows and base is not None:
        rows = [r for r in m.cann_python if any(s.contains(base) for s in r.cann)]
    specs = [s for r in rows for s in r.python]
    if not specs:
        return _DEFAULT_PYTHON
    out: list[tuple[str, int, int]] = []
    for minor in range(7, 16):
        ok = [p for p in range(41) if any(s.contains(Version.parse(f"3.{minor}.{p}", "python")) for s in specs)]
        if ok:
            out.append((f"3.{minor}", min(ok), 999 if max(ok) == 40 else max(ok)))
    return tuple(out)


# --- layout ------------------------------------------------------------------------------------------------
def toolkit_layout(m: Matrix, cann: Version | str, arch: Arch | str) -> dict[str, str]:
    """Install-path-relative paths of a toolkit install (``layouts`` of installers.yaml, resolved)."""
    v, a = Version.parse(cann, "cann"), Arch.parse(arch)
    lay = layout_for(m, v)
    if lay is None:
        raise InstallerBuildError(f"the matrix has no toolkit layout for CANN {v}; add a row to installers.yaml "
                                  f"'layouts'")
    f = {k: t.format(version=v.canonical, arch=a.cann) for k, t in lay.items()}
    home, link, set_env = f["toolkit_home"], f["latest_link"], f["set_env"]
    out = {
        "TK_HOME_REL": home,
        "TK_INFO_REL": f["install_info"],
        "LATEST_LINK_REL": link,
        "LINK_TARGET": posixpath.relpath(home, posixpath.dirname(link) or "."),
        "SET_ENV_REL": set_env,
        "SET_ENV_PHYS_REL": home + set_env[len(link):] if set_env.startswith(link + "/") else set_env,
        "COMPAT_LINK_REL": "",
        "COMPAT_LINK_TARGET": "",
    }
    if link != "ascend-toolkit/latest":
        # from 8.5 the old spelling still leads to the toolkit ("ascend-toolkit/latest 也指向它": community notes on
        # a CANN 9.1.0 install, source repository unknown)
        out["COMPAT_LINK_REL"] = "ascend-toolkit/latest"
        out["COMPAT_LINK_TARGET"] = posixpath.relpath(home, "ascend-toolkit")
    return out


def package_conf(values: Mapping[str, object]) -> str:
    """``package.conf``: one shell assignment per key, values quoted for bash."""
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items())


def _numeric_mm(numeric: str, fallback: Version) -> str:
    parts = numeric.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else fallback.major_minor


def _chip(m: Matrix, chip: str | Chip | None) -> Chip | None:
    if chip is None or isinstance(chip, Chip):
        return chip
    return m.chip(chip)


def _name(m: Matrix, component: str, version: Version, chip: Chip | None, arch: Arch | None) -> str:
    names = installer_names(m, version, chip, arch, driver=version, firmware=version)
    if component not in names:
        need = " and a chip" if component in ("kernels", "driver", "firmware") and chip is None else ""
        raise InstallerBuildError(f"the matrix has no {component} package name for version {version}{need}; "
                                  f"see installers.yaml 'installers'")
    return names[component]


# --- makeself --------------------------------------------------------------------------------------------
_HEADER_PATCHES: tuple[tuple[str, str], ...] = (
    # --help goes to the package script, which prints makeself's options and its own
    (r"    -h \| --help\)\n\tMS_Help\n\texit 0\n\t;;\n", "    -h | --help)\n\tbreak\n\t;;\n"),
    # --quiet: makeself stays quiet *and* the script is told
    (r"    -q \| --quiet\)\n\tquiet=y\n\tnoprogress=y\n\tshift\n",
     "    -q | --quiet)\n\tquiet=y\n\tnoprogress=y\n\tscriptargs=\"\\$scriptargs --quiet\"\n\tshift\n"),
    # every other option is the script's (stock makeself: "Unrecognized flag")
    (r"    -\*\)\n\techo Unrecognized flag : \"\\\$1\" >&2\n\tMS_Help\n\texit 1\n\t;;\n", "    -*)\n\tbreak ;;\n"),
)


def _literally(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement for re.subn that inserts ``text`` as it is (no backslash or group processing)."""
    return lambda _m: text


def patched_header(stock: str) -> str:
    """makeself's header with Huawei's option handling (see the module docstring)."""
    text = stock
    for pattern, repl in _HEADER_PATCHES:
        text, n = re.subn(pattern, _literally(repl), text)
        if n != 1:
            raise InstallerBuildError(f"cannot adapt {STOCK_HEADER}: the makeself header changed (pattern "
                                      f"{pattern!r} matched {n} times); check the makeself version (2.4.5 known)")
    return text


def _makeself() -> str:
    exe = shutil.which("makeself") or shutil.which("makeself.sh")
    if exe is None:
        raise InstallerBuildError("makeself is not installed; install it (apt-get install makeself)")
    return exe


def _build(stage: Path, out: Path, label: str, work: Path) -> Path:
    header = work / "makeself-header.sh"
    header.write_text(patched_header(STOCK_HEADER.read_text(encoding="utf-8")), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    # relative paths, run in ``work``: makeself embeds its command line, so the bytes do not depend on tmp names
    cmd = [_makeself(), "--quiet", "--nox11", "--sha256", "--nomd5", "--nocrc", "--header", f"./{header.name}",
           "--packaging-date", _PACKAGING_DATE,
           "--tar-extra", "--mtime=@0 --owner=0 --group=0 --numeric-owner --sort=name",
           stage.name, out.name, label, "./install.sh"]
    env = dict(os.environ, GZIP="-n")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, check=False)
    built = work / out.name
    if proc.returncode != 0 or not built.exists():
        raise InstallerBuildError(f"makeself failed for {out.name}: {proc.stderr.strip() or proc.stdout.strip()}")
    built.chmod(0o755)
    tmp_out = out.with_name(out.name + ".part")
    shutil.copyfile(built, tmp_out)
    tmp_out.chmod(0o755)
    tmp_out.replace(out)
    return out


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _stage(work: Path, conf: Mapping[str, object], extra: Mapping[str, str] | None = None) -> Path:
    stage = work / "payload"
    stage.mkdir()
    shutil.copy2(PAYLOAD_DIR / "install.sh", stage / "install.sh")
    (stage / "install.sh").chmod(0o755)
    (stage / "package.conf").write_text(package_conf(conf), encoding="utf-8")
    for name, text in (extra or {}).items():
        (stage / name).write_text(text, encoding="utf-8")
    for p in [stage, *stage.iterdir()]:
        os.utime(p, (0, 0))
    return stage


# --- builders (side effects) -----------------------------------------------------------------------------
def build_cann_package(kind: CannKind, cann: str | Version, arch: str, out_dir: Path, chip: str | None = None,
                       matrix: Matrix | None = None) -> Path:
    """Build ``Ascend-cann-<kind>…run`` for ``cann``/``arch`` (``chip`` for kernels) into ``out_dir``."""
    if kind not in ("toolkit", "kernels", "nnal"):
        raise InstallerBuildError(f"unknown CANN package kind {kind!r}; use toolkit, kernels or nnal")
    m = matrix if matrix is not None else load_matrix()
    v, a = Version.parse(cann, "cann"), Arch.parse(arch)
    c = _chip(m, chip)
    if kind == "kernels" and c is None:
        raise InstallerBuildError("a kernels package needs a chip (e.g. chip='910b')")
    file_name = _name(m, kind, v, c, a)
    inner = inner_version_for(v, m=m)
    numeric = inner.numeric or v.canonical
    py = python_support(m, v)
    basename = file_name.removesuffix(".run")
    pkg_name = re.sub(r"_.*$", "", basename)
    arch_in_name = kind != "kernels" or "linux-" in file_name
    conf: dict[str, object] = {
        "PKG_FAMILY": "cann", "PKG_KIND": kind,
        "PKG_TAG": {"toolkit": "Toolkit", "nnal": "NNAL"}.get(kind, f"kernels_{c.file_chip if c else ''}"),
        "LOG_NAME": {"toolkit": "ascend_toolkit_install.log", "nnal": "ascend_nnal_install.log"}.get(
            kind, f"ascend_kernels_{c.file_chip if c else ''}_install.log"),
        "PKG_FILE": file_name, "PKG_BASENAME": basename, "PKG_NAME": pkg_name, "PKG_VERSION": v.canonical,
        "PKG_FILE_VERSION": v.canonical, "PKG_ARCH": a.cann if arch_in_name else "",
        "PKG_CHIP": c.file_chip if c else "", "PKG_SOC": f"ascend{c.file_chip}" if c else "",
        "INNERVERSION": inner.innerversion, "COMPATIBLE_VERSION": inner.compatible_version,
        "NUMERIC_VERSION": numeric, "NUMERIC_MM": _numeric_mm(numeric, v), "TIMESTAMP": inner.timestamp,
        "PY_ALLOWED": " ".join(f"{mm}:{lo}:{hi}" for mm, lo, hi in py),
        "PY_COMMANDS": " ".join(f"python{mm}" for mm, _, _ in py),
        "PY_MINORS_TEXT": ",".join(f"python{mm}" for mm, _, _ in py),
        "REQUIRED_KB": REQUIRED_KB[kind], "FW_COMPAT": "",
        **toolkit_layout(m, v, a),
    }
    with tempfile.TemporaryDirectory(prefix="ascend-lab-run-") as tmp:
        work = Path(tmp)
        return _build(_stage(work, conf), Path(out_dir) / file_name, _LABELS["cann"], work)


def _hdk_conf(kind: str, file_name: str, version: Version, chip: Chip, arch: str, fw_compat: str) -> dict[str, Any]:
    return {
        "PKG_FAMILY": "hdk", "PKG_KIND": kind, "PKG_TAG": kind.capitalize(), "LOG_NAME": "ascend_install.log",
        "PKG_FILE": file_name, "PKG_BASENAME": file_name.removesuffix(".run"),
        "PKG_NAME": re.sub(r"_.*$", "", file_name), "PKG_VERSION": version.canonical,
        "PKG_FILE_VERSION": version.file_spelling(), "PKG_ARCH": arch, "PKG_CHIP": chip.file_chip, "PKG_SOC": "",
        "INNERVERSION": "", "COMPATIBLE_VERSION": "", "NUMERIC_VERSION": "", "NUMERIC_MM": "", "TIMESTAMP": "",
        "PY_ALLOWED": "", "PY_COMMANDS": "", "PY_MINORS_TEXT": "", "REQUIRED_KB": REQUIRED_KB[kind],
        "FW_COMPAT": fw_compat, "TK_HOME_REL": "", "TK_INFO_REL": "", "LATEST_LINK_REL": "", "LINK_TARGET": "",
        "SET_ENV_REL": "", "SET_ENV_PHYS_REL": "", "COMPAT_LINK_REL": "", "COMPAT_LINK_TARGET": "",
    }


def _fw_compat_of(version_info: str) -> str:
    found = re.search(r"^compatible_version_fw=(.*)$", version_info, flags=re.MULTILINE)
    return found.group(1).strip() if found else ""


def build_driver_package(version: str, chip: str, arch: str, out_dir: Path, version_info: str,
                         firmware_compat: str | None = None, matrix: Matrix | None = None) -> Path:
    """Build ``Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run``; it installs ``version_info`` verbatim.

    ``firmware_compat`` (``[7.0.0,7.7.99]``…, default: the ``compatible_version_fw`` line of ``version_info``) is
    checked against an installed firmware ("driver and firmware version relationship check success").
    """
    m = matrix if matrix is not None else load_matrix()
    v, a, c = Version.parse(version, "driver"), Arch.parse(arch), m.chip(chip)
    file_name = _name(m, "driver", v, c, a)
    compat = firmware_compat if firmware_compat is not None else _fw_compat_of(version_info)
    conf = _hdk_conf("driver", file_name, v, c, a.cann, compat)
    with tempfile.TemporaryDirectory(prefix="ascend-lab-run-") as tmp:
        work = Path(tmp)
        stage = _stage(work, conf, {"version.info": _with_newline(version_info)})
        label = _LABELS["driver"].format(chip=c.file_chip.upper())
        return _build(stage, Path(out_dir) / file_name, label, work)


def build_firmware_package(fw_version: str, chip: str, out_dir: Path, version_info: str,
                           matrix: Matrix | None = None) -> Path:
    """Build ``Ascend-hdk-<chip>-npu-firmware_<ver>.run``; it installs ``version_info`` verbatim."""
    m = matrix if matrix is not None else load_matrix()
    try:
        v = Version.parse(fw_version, "firmware")
    except VersionError as exc:
        raise InstallerBuildError(str(exc)) from None
    c = m.chip(chip)
    file_name = _name(m, "firmware", v, c, None)
    conf = _hdk_conf("firmware", file_name, v, c, "", "")
    with tempfile.TemporaryDirectory(prefix="ascend-lab-run-") as tmp:
        work = Path(tmp)
        stage = _stage(work, conf, {"version.info": _with_newline(version_info)})
        label = _LABELS["firmware"].format(chip=c.file_chip.upper())
        return _build(stage, Path(out_dir) / file_name, label, work)
