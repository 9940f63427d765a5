"""The compatibility matrix: YAML data in ``ascend_env/data``, typed, validated, with site overrides.

Every row carries a ``source``.  :func:`load_matrix` returns a :class:`Matrix` or raises
:class:`MatrixInvalid` listing *every* problem (file, row, field, the bad value and the fix);
:func:`check_matrix` returns the same problems as a list, for ``ascend-env matrix check``.
Site-local rows come from override files (same section names, ``source: local``) and go through the
same validation.  The schema is documented in ``docs/matrix.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import AscendEnvError
from .versions import Spec, Version, VersionError, parse_spec
from .yamlload import YamlError, safe_load

__all__ = [
    "DATA_FILES",
    "Chip",
    "Matrix",
    "MatrixInvalid",
    "Problem",
    "check_matrix",
    "load_matrix",
]

#: data file -> the sections it holds.  Overrides files may hold any of these sections.
DATA_FILES: dict[str, tuple[str, ...]] = {
    "chips.yaml": ("chips",),
    "cann_releases.yaml": ("releases",),
    "cann_hdk.yaml": ("rows",),
    "cann_python.yaml": ("rows",),
    "mindspore.yaml": ("mindspore", "mindformers"),
    "torch.yaml": ("torch", "torch_npu"),
    "installers.yaml": ("installers", "layouts"),
    "hccl.yaml": ("rank_tables",),
}
#: (file, section) -> the section's name in a Matrix and in override files
_SECTION_NAMES = {
    ("chips.yaml", "chips"): "chips",
    ("cann_releases.yaml", "releases"): "releases",
    ("cann_hdk.yaml", "rows"): "cann_hdk",
    ("cann_python.yaml", "rows"): "cann_python",
    ("mindspore.yaml", "mindspore"): "mindspore",
    ("mindspore.yaml", "mindformers"): "mindformers",
    ("torch.yaml", "torch"): "torch",
    ("torch.yaml", "torch_npu"): "torch_npu",
    ("installers.yaml", "installers"): "installers",
    ("installers.yaml", "layouts"): "layouts",
    ("hccl.yaml", "rank_tables"): "rank_tables",
}
SECTIONS = tuple(_SECTION_NAMES.values())

#: environment variable naming extra override files (os.pathsep-separated)
OVERRIDES_ENV = "ASCEND_ENV_MATRIX_OVERRIDES"

_SOURCE_RE = re.compile(
    r"^(https?://\S+"  # a public URL
    r"|[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+: \S.*"  # owner/repo: path
    r")$"
)
_LOCAL_RE = re.compile(r"^local(: .+)?$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the matrix data, located and with the fix."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class MatrixInvalid(AscendEnvError, ValueError):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the compatibility matrix has {len(self.problems)} problem(s):\n{lines}")


# --- typed rows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowMeta:
    source: str
    where: str
    note: str = ""
    preferred: bool = True
    #: the source (a later version of the same page) that changed this row's pairing: the row is "documented
    #: earlier", accepted when pinned, never preferred
    superseded_by: str = ""

    @property
    def local(self) -> bool:
        return bool(_LOCAL_RE.match(self.source))


@dataclass(frozen=True)
class Chip:
    id: str
    name: str
    aliases: tuple[str, ...]
    pci: dict[str, str]
    file_chip: str
    chips_per_card: int
    hbm: bool
    npu_smi_names: tuple[str, ...]
    meta: RowMeta


class _Versioned(Protocol):
    """A row that defines one version of its component (releases, mindspore, mindformers, torch, torch_npu)."""

    @property
    def version(self) -> Version: ...


@dataclass(frozen=True)
class CannRelease:
    version: Version
    channel: str
    meta: RowMeta
    #: the commercial release whose HDK/Python rows apply when this build has none of its own
    same_as: Version | None = None


@dataclass(frozen=True)
class HdkRow:
    cann: Version
    chips: tuple[str, ...]
    driver: tuple[Spec, ...]
    firmware: tuple[Spec, ...]
    meta: RowMeta


@dataclass(frozen=True)
class CannPythonRow:
    cann: tuple[Spec, ...]
    python: tuple[Spec, ...]
    meta: RowMeta


@dataclass(frozen=True)
class MindSporeRow:
    version: Version
    cann: tuple[Spec, ...]
    python: tuple[Spec, ...]
    meta: RowMeta


@dataclass(frozen=True)
class MindFormersRow:
    version: Version
    mindspore: tuple[Spec, ...]
    python: tuple[Spec, ...]
    meta: RowMeta


@dataclass(frozen=True)
class TorchRow:
    version: Version
    python: tuple[Spec, ...]
    meta: RowMeta


@dataclass(frozen=True)
class TorchNpuRow:
    version: Version
    torch: Version
    cann: tuple[Spec, ...]
    meta: RowMeta
    #: the Python the release's own page states (its branch's README table, setup.py classifiers); empty: none
    python: tuple[Spec, ...] = ()


@dataclass(frozen=True)
class InstallerRow:
    component: str
    versions: Spec
    pattern: str
    meta: RowMeta


@dataclass(frozen=True)
class LayoutRow:
    versions: Spec
    toolkit_home: str
    latest_link: str
    install_info: str
    set_env: str
    meta: RowMeta


@dataclass(frozen=True)
class RankTableRow:
    """The HCCL rank table format (RANK_TABLE_FILE) a chip's cluster takes, for the CANN releases in ``cann``
    (empty: every release)."""

    chips: tuple[str, ...]
    cann: tuple[Spec, ...]
    format: str
    meta: RowMeta


@dataclass
class Matrix:
    chips: list[Chip] = field(default_factory=list)
    releases: list[CannRelease] = field(default_factory=list)
    cann_hdk: list[HdkRow] = field(default_factory=list)
    cann_python: list[CannPythonRow] = field(default_factory=list)
    mindspore: list[MindSporeRow] = field(default_factory=list)
    mindformers: list[MindFormersRow] = field(default_factory=list)
    torch: list[TorchRow] = field(default_factory=list)
    torch_npu: list[TorchNpuRow] = field(default_factory=list)
    installers: list[InstallerRow] = field(default_factory=list)
    layouts: list[LayoutRow] = field(default_factory=list)
    rank_tables: list[RankTableRow] = field(default_factory=list)
    override_files: list[str] = field(default_factory=list)

    # -- lookups (pure) -------------------------------------------------------------------------
    def chip(self, text: str) -> Chip:
        """The chip named by ``text`` (id or any alias, case-insensitive)."""
        t = _norm_chip(text)
        for c in self.chips:
            if t == _norm_chip(c.id) or t in {_norm_chip(a) for a in c.aliases}:
                return c
        known = ", ".join(c.id for c in self.chips)
        raise VersionError(f"unknown chip {text!r}; known chips: {known}")

    def versions(self, component: str) -> list[Version]:
        """Every version of ``component`` that some row defines, newest first."""
        if component in ("driver", "firmware"):
            specs = (s for r in self.cann_hdk for s in (r.driver if component == "driver" else r.firmware))
            return sorted({v for s in specs if (v := s.exact)}, reverse=True)
        rows: dict[str, Sequence[_Versioned]] = {
            "cann": self.releases, "mindspore": self.mindspore, "mindformers": self.mindformers,
            "torch": self.torch, "torch_npu": self.torch_npu,
        }
        return sorted({r.version for r in rows.get(component, ())}, reverse=True)

    def release(self, version: Version) -> CannRelease | None:
        return next((r for r in self.releases if r.version == version), None)

    def sources(self) -> set[str]:
        """Every distinct source the data cites."""
        out: set[str] = set()
        for name in SECTIONS:
            for row in getattr(self, name):
                out.add(row.meta.source)
        return out

    def row_count(self) -> int:
        return sum(len(getattr(self, name)) for name in SECTIONS)


def _norm_chip(text: str) -> str:
    return re.sub(r"[\s_-]", "", str(text)).lower()


# --- loading -----------------------------------------------------------------------------------
def _data_dir() -> Path:
    return Path(__file__).resolve().parent / "data"


def override_paths(explicit: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Override files from arguments plus ``$ASCEND_ENV_MATRIX_OVERRIDES``, each file once.

    The same file named twice (``--overrides a.yml --overrides ./a.yml``, or on the command line and in the
    environment) or two names for the same bytes (a copy, a symlink) are read once: reading them twice would make
    every row a duplicate of itself."""
    paths = [Path(p) for p in explicit]
    env = os.environ.get(OVERRIDES_ENV, "")
    paths += [Path(p) for p in env.split(os.pathsep) if p]
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        keys = {f"path:{os.path.realpath(p)}"}
        with contextlib.suppress(OSError):  # unreadable: kept, so that reading it reports the error
            keys.add(f"sha256:{hashlib.sha256(p.read_bytes()).hexdigest()}")
        if keys & seen:
            continue
        seen |= keys
        out.append(p)
    return out


def _read_yaml(path: Path, where: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(where, f"cannot read the file: {exc.strerror}; check the path"))
        return None
    except UnicodeDecodeError as exc:
        problems.append(Problem(where, f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                                       f"{exc.start}); save the file as UTF-8"))
        return None
    try:
        doc = safe_load(text)
    except YamlError as exc:
        problems.append(Problem(where, f"not valid YAML: {exc}"))
        return None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        problems.append(Problem(where, "must be a mapping of section names to lists of rows"))
        return None
    return doc


def _raw_sections(overrides: Sequence[Path], problems: list[Problem],
                  data: Path) -> dict[str, list[tuple[str, Any, bool]]]:
    """section -> [(where, raw row, is_override)], in file order."""
    out: dict[str, list[tuple[str, Any, bool]]] = {name: [] for name in SECTIONS}
    for fname, sections in DATA_FILES.items():
        doc = _read_yaml(data / fname, f"data/{fname}", problems)
        if doc is None:
            continue
        for key in doc:
            if key not in sections:
                problems.append(Problem(f"data/{fname}", f"unknown section {key!r}; expected {', '.join(sections)}"))
        for sec in sections:
            rows = doc.get(sec) or []
            if not isinstance(rows, list):
                problems.append(Problem(f"data/{fname}", f"section {sec!r} must be a list of rows"))
                continue
            name = _SECTION_NAMES[(fname, sec)]
            out[name] += [(f"data/{fname}:{sec}[{i}]", row, False) for i, row in enumerate(rows)]
    for path in overrides:
        doc = _read_yaml(path, str(path), problems)
        if doc is None:
            continue
        for key, rows in doc.items():
            if key not in out:
                problems.append(Problem(str(path), f"unknown section {key!r}; override files may hold "
                                                   f"{', '.join(SECTIONS)}"))
                continue
            if not isinstance(rows, list):
                problems.append(Problem(str(path), f"section {key!r} must be a list of rows"))
                continue
            out[key] += [(f"{path}:{key}[{i}]", row, True) for i, row in enumerate(rows)]
    return out


class _RowReader:
    """Reads one raw row, recording problems instead of raising."""

    def __init__(self, where: str, raw: Any, override: bool, problems: list[Problem],
                 required: tuple[str, ...], optional: tuple[str, ...]):
        self.where, self.raw, self.override, self.problems = where, raw, override, problems
        self.ok = True
        if not isinstance(raw, dict):
            self.fail(f"a row must be a mapping, got {raw!r}")
            self.raw = {}
            return
        allowed = set(required) | set(optional) | {"source", "note", "preferred", "superseded_by"}
        for key in raw:
            if key not in allowed:
                self.fail(f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}")
        for key in (*required, "source"):
            if key not in raw or raw[key] in (None, "", []):
                self.fail(f"missing required field {key!r}")

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.where, message))

    def meta(self) -> RowMeta:
        source = self.raw.get("source")
        if isinstance(source, str) and source:
            if self.override:
                if not _LOCAL_RE.match(source) and not _SOURCE_RE.match(source):
                    self.fail(f"source {source!r} is neither 'local' nor a public URL / 'owner/repo: path'")
            elif _LOCAL_RE.match(source):
                self.fail("source 'local' is only for site override files; cite a public URL or "
                          "'owner/repo: path'")
            elif not _SOURCE_RE.match(source):
                self.fail(f"source {source!r} is not a public URL or 'owner/repo: path'")
        preferred = self.raw.get("preferred", True)
        if not isinstance(preferred, bool):
            self.fail(f"preferred must be true or false, got {preferred!r}")
            preferred = True
        note = self.raw.get("note", "")
        superseded = self.raw.get("superseded_by", "")
        if superseded:
            if not isinstance(superseded, str) or not _SOURCE_RE.match(superseded):
                self.fail(f"superseded_by {superseded!r} must cite the later page like a source: 'owner/repo: path "
                          "(ref)' or a URL")
            elif superseded == source:
                self.fail("superseded_by names the row's own source; cite the later version of the page")
            if self.raw.get("preferred") is True:
                self.fail("a row with superseded_by cannot be preferred: true (a later page changed it)")
            preferred = False
        return RowMeta(source=str(source or ""), where=self.where, note=str(note or ""), preferred=preferred,
                       superseded_by=str(superseded or ""))

    def version(self, key: str, component: str) -> Version | None:
        if key not in self.raw:
            return None
        try:
            return Version.parse(self.raw[key], component)
        except VersionError as exc:
            self.fail(f"{key}: {exc}")
            return None

    def specs(self, key: str, component: str, listed: bool = True) -> tuple[Spec, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if listed and not isinstance(value, list):
            self.fail(f"{key} must be a list, e.g. [\"{value}\"]")
            return ()
        out = []
        for item in value if listed else [value]:
            try:
                out.append(parse_spec(item, component))
            except VersionError as exc:
                self.fail(f"{key}: {exc}")
        return tuple(out)

    def names(self, key: str) -> tuple[str, ...]:
        """A list of names (a chip's aliases, its npu-smi names); () when absent."""
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            self.fail(f"{key} must be a list of names, e.g. [910B3, \"Atlas A2\"], got {value!r}")
            return ()
        return tuple(str(v) for v in value)

    def count(self, key: str) -> int:
        """A whole number of at least 1 (``chips_per_card``); 0 when absent (the required-field check says so)."""
        value = self.raw.get(key)
        if value in (None, "", []):
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(f"{key} must be a whole number of at least 1, e.g. 1 (2 for a 300I Duo), got {value!r}")
            return 0
        return value

    def flag(self, key: str) -> bool:
        """true or false; false when absent."""
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"{key} must be true or false, got {value!r}")
            return False
        return value

    def text(self, key: str) -> str:
        value = self.raw.get(key, "")
        if not isinstance(value, str):
            self.fail(f"{key} must be a string, got {value!r}")
            return ""
        return value


def check_matrix(overrides: Iterable[str | os.PathLike[str]] = (),
                 data_dir: str | os.PathLike[str] | None = None) -> tuple[Matrix, list[Problem]]:
    """Load and validate; return the matrix (possibly partial) and every problem found.

    ``data_dir`` replaces the packaged data folder (tests use it to feed broken data).
    """
    problems: list[Problem] = []
    paths = override_paths(overrides)
    raw = _raw_sections(paths, problems, Path(data_dir) if data_dir else _data_dir())
    m = Matrix(override_files=[str(p) for p in paths])
    for section, required, optional, read in _SECTION_READERS:
        rows = getattr(m, section)
        for where, row, ov in raw[section]:
            value = read(_RowReader(where, row, ov, problems, required, optional))
            if value is not None:
                rows.append(value)
    problems += _cross_checks(m)
    return m, problems


# --- one reader per section: a row's typed value, or None when the row has a problem (recorded by the reader) ---
def _read_chip(r: _RowReader) -> Chip | None:
    meta = r.meta()
    pci = r.raw.get("pci") or {}
    if not isinstance(pci, dict) or "vendor" not in pci or "device" not in pci:
        r.fail("pci must be a mapping with vendor and device (and optional subsystem), e.g. "
               "{vendor: \"0x19e5\", device: \"0xd802\"}")
    aliases, smi_names = r.names("aliases"), r.names("npu_smi_names")
    per_card, hbm = r.count("chips_per_card"), r.flag("hbm")
    if not r.ok:
        return None
    return Chip(id=str(r.raw["id"]).lower(), name=r.text("name"), aliases=aliases,
                pci={k: str(v).lower() for k, v in pci.items()}, file_chip=r.text("file_chip"),
                chips_per_card=per_card, hbm=hbm, npu_smi_names=smi_names, meta=meta)


def _read_release(r: _RowReader) -> CannRelease | None:
    meta = r.meta()
    v = r.version("version", "cann")
    same_as = r.version("same_as", "cann")
    channel = r.raw.get("channel", "commercial")
    if channel not in ("commercial", "community", "internal"):
        r.fail(f"channel {channel!r} must be commercial, community or internal")
    return CannRelease(version=v, channel=channel, meta=meta, same_as=same_as) if r.ok and v else None


def _read_hdk(r: _RowReader) -> HdkRow | None:
    meta = r.meta()
    v = r.version("cann", "cann")
    chips = r.raw.get("chips") or []
    if not isinstance(chips, list):
        r.fail("chips must be a list of chip ids, e.g. [910b]")
        chips = []
    if "driver" not in r.raw and "firmware" not in r.raw:
        r.fail("a cann_hdk row needs driver or firmware (or both)")
    driver, firmware = r.specs("driver", "driver"), r.specs("firmware", "firmware")
    if not (r.ok and v):
        return None
    return HdkRow(cann=v, chips=tuple(str(c).lower() for c in chips), driver=driver, firmware=firmware, meta=meta)


def _read_cann_python(r: _RowReader) -> CannPythonRow | None:
    meta = r.meta()
    cann, py = r.specs("cann", "cann"), r.specs("python", "python")
    return CannPythonRow(cann=cann, python=py, meta=meta) if r.ok else None


def _read_mindspore(r: _RowReader) -> MindSporeRow | None:
    meta = r.meta()
    v = r.version("version", "mindspore")
    cann, py = r.specs("cann", "cann"), r.specs("python", "python")
    return MindSporeRow(version=v, cann=cann, python=py, meta=meta) if r.ok and v else None


def _read_mindformers(r: _RowReader) -> MindFormersRow | None:
    meta = r.meta()
    v = r.version("version", "mindformers")
    ms, py = r.specs("mindspore", "mindspore"), r.specs("python", "python")
    return MindFormersRow(version=v, mindspore=ms, python=py, meta=meta) if r.ok and v else None


def _read_torch(r: _RowReader) -> TorchRow | None:
    meta = r.meta()
    v = r.version("version", "torch")
    py = r.specs("python", "python")
    return TorchRow(version=v, python=py, meta=meta) if r.ok and v else None


def _read_torch_npu(r: _RowReader) -> TorchNpuRow | None:
    meta = r.meta()
    v, t = r.version("version", "torch_npu"), r.version("torch", "torch")
    cann, py = r.specs("cann", "cann"), r.specs("python", "python")
    return TorchNpuRow(version=v, torch=t, cann=cann, meta=meta, python=py) if r.ok and v and t else None


def _read_installer(r: _RowReader) -> InstallerRow | None:
    meta = r.meta()
    comp = r.raw.get("component")
    if comp not in ("toolkit", "kernels", "nnal", "driver", "firmware"):
        r.fail(f"component {comp!r} must be toolkit, kernels, nnal, driver or firmware")
    vcomp = comp if comp in ("driver", "firmware") else "cann"
    spec = r.specs("versions", vcomp, listed=False)
    pattern = r.text("pattern")
    if pattern:
        _check_pattern(r, pattern)
    return InstallerRow(component=str(comp), versions=spec[0], pattern=pattern, meta=meta) if r.ok and spec else None


def _read_layout(r: _RowReader) -> LayoutRow | None:
    meta = r.meta()
    spec = r.specs("versions", "cann", listed=False)
    if not (r.ok and spec):
        return None
    return LayoutRow(versions=spec[0], toolkit_home=r.text("toolkit_home"), latest_link=r.text("latest_link"),
                     install_info=r.text("install_info"), set_env=r.text("set_env"), meta=meta)


def _read_rank_table(r: _RowReader) -> RankTableRow | None:
    meta = r.meta()
    fmt = str(r.raw.get("format", ""))
    if fmt not in ("1.0", "1.2"):
        r.fail(f"format {fmt!r} must be \"1.0\" or \"1.2\" (the rank table's version field)")
    chips = r.raw.get("chips")
    if not isinstance(chips, list) or not chips:
        r.fail(f"chips must be a list of chip ids, got {chips!r}")
        chips = []
    cann = r.specs("cann", "cann") if "cann" in r.raw else ()
    return RankTableRow(chips=tuple(str(c).lower() for c in chips), cann=cann, format=fmt, meta=meta) if r.ok else None


#: section -> its required and optional fields and its reader, in the order the sections are checked
_SECTION_READERS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], Callable[[_RowReader], Any]], ...] = (
    ("chips", ("id", "name", "pci", "file_chip", "chips_per_card"), ("aliases", "hbm", "npu_smi_names"), _read_chip),
    ("releases", ("version",), ("channel", "same_as"), _read_release),
    ("cann_hdk", ("cann", "chips"), ("driver", "firmware"), _read_hdk),
    ("cann_python", ("cann", "python"), (), _read_cann_python),
    ("mindspore", ("version", "cann"), ("python",), _read_mindspore),
    ("mindformers", ("version", "mindspore"), ("python",), _read_mindformers),
    ("torch", ("version",), ("python",), _read_torch),
    ("torch_npu", ("version", "torch", "cann"), ("python",), _read_torch_npu),
    ("installers", ("component", "versions", "pattern"), (), _read_installer),
    ("layouts", ("versions", "toolkit_home", "latest_link", "install_info", "set_env"), (), _read_layout),
    ("rank_tables", ("chips", "format"), ("cann",), _read_rank_table),
)


_PLACEHOLDERS = {"version", "version_file", "arch", "arch_driver", "chip"}


def _check_pattern(r: _RowReader, pattern: str) -> None:
    for name in re.findall(r"\{([^}]*)\}", pattern):
        if name not in _PLACEHOLDERS:
            r.fail(f"pattern placeholder {{{name}}} is unknown; use {', '.join(sorted(_PLACEHOLDERS))}")


def _cross_checks(m: Matrix) -> list[Problem]:
    """Duplicates and references between sections."""
    return _duplicates(m) + _dangling_references(m)


def _duplicates(m: Matrix) -> list[Problem]:
    """Rows that say the same thing twice (by each section's key)."""
    problems: list[Problem] = []

    def dup(section: str, rows: Sequence[Any], key: Callable[[Any], Hashable]) -> None:
        seen: dict[Any, str] = {}
        for row in rows:
            k = key(row)
            if k in seen:
                problems.append(Problem(row.meta.where, f"duplicate {section} row (same as {seen[k]}); "
                                                        f"delete one or merge them"))
            else:
                seen[k] = row.meta.where

    dup("chips", m.chips, lambda r: r.id)
    dup("releases", m.releases, lambda r: r.version)
    dup("cann_hdk", m.cann_hdk, lambda r: (r.cann, r.chips, tuple(map(str, r.driver)),
                                          tuple(map(str, r.firmware)), r.meta.source))
    dup("cann_python", m.cann_python, lambda r: (tuple(map(str, r.cann)), r.meta.source))
    dup("mindspore", m.mindspore, lambda r: (r.version, r.meta.source))
    dup("mindformers", m.mindformers, lambda r: (r.version, tuple(map(str, r.mindspore)), r.meta.source))
    dup("torch", m.torch, lambda r: (r.version, r.meta.source))
    dup("torch_npu", m.torch_npu, lambda r: (r.version, tuple(map(str, r.cann)), r.meta.source))
    dup("installers", m.installers, lambda r: (r.component, str(r.versions)))
    return problems


def _dangling_references(m: Matrix) -> list[Problem]:
    """A release, chip, MindSpore or torch version a row names that no row of its own section defines."""
    problems: list[Problem] = []
    chip_ids = {c.id for c in m.chips}
    releases = [r.version for r in m.releases]
    ms_versions = [r.version for r in m.mindspore]
    torch_versions = {r.version for r in m.torch}

    def refers(where: str, specs: Sequence[Spec], pool: Sequence[Version], what: str, fix: str) -> None:
        for s in specs:
            if not any(s.contains(v) for v in pool):
                near = _nearest(s, pool)
                problems.append(Problem(where, f"{what} {s} is not defined by any row; {fix}"
                                               + (f" (nearest known: {near})" if near else "")))

    def chips_known(where: str, chips: Sequence[str]) -> None:
        known = ", ".join(sorted(chip_ids))
        problems.extend(Problem(where, f"chip {c!r} is not in chips.yaml; known: {known}") for c in chips
                        if c not in chip_ids)

    for rel in m.releases:
        if rel.same_as is not None and (rel.same_as not in releases or rel.same_as == rel.version):
            problems.append(Problem(rel.meta.where, f"same_as {rel.same_as} must name another release defined "
                                                    f"in cann_releases.yaml"))
    for hdk in m.cann_hdk:
        if hdk.cann not in releases:
            problems.append(Problem(hdk.meta.where, f"CANN {hdk.cann} is not in cann_releases.yaml; add the release "
                                                    f"first"))
        chips_known(hdk.meta.where, hdk.chips)
    for cp in m.cann_python:
        refers(cp.meta.where, cp.cann, releases, "CANN", "add it to cann_releases.yaml")
    for rt in m.rank_tables:
        refers(rt.meta.where, rt.cann, releases, "CANN", "add it to cann_releases.yaml")
        chips_known(rt.meta.where, rt.chips)
    for ms in m.mindspore:
        refers(ms.meta.where, ms.cann, releases, "CANN", "add it to cann_releases.yaml")
    for mf in m.mindformers:
        refers(mf.meta.where, mf.mindspore, ms_versions, "MindSpore", "add a mindspore row for it")
    for tn in m.torch_npu:
        refers(tn.meta.where, tn.cann, releases, "CANN", "add it to cann_releases.yaml")
        if tn.torch not in torch_versions:
            problems.append(Problem(tn.meta.where, f"torch {tn.torch} has no torch row; add one (with its Python "
                                                   f"range)"))
    return problems


def _nearest(spec: Spec, pool: Sequence[Version]) -> str:
    target = spec.exact
    if target is None:
        return ""
    return ", ".join(str(v) for v in nearest_versions(target, pool))


def nearest_versions(target: Version, pool: Iterable[Version], n: int = 2) -> list[Version]:
    """The known versions just below and just above ``target`` (for "did you mean")."""
    ordered = sorted(set(pool))
    below = [v for v in ordered if v < target][-n // 2 or -1:]
    above = [v for v in ordered if target < v][: max(1, n - len(below))]
    return below + above


#: where a validated matrix is kept between runs ($ASCEND_ENV_CACHE, else $XDG_CACHE_HOME/ascend-env, else
#: ~/.cache/ascend-env); "off" disables it
CACHE_ENV = "ASCEND_ENV_CACHE"


def cache_dir() -> Path | None:
    """The user's ascend-env cache folder (matrix, store checksums); None when $ASCEND_ENV_CACHE is "off"."""
    where = os.environ.get(CACHE_ENV)
    if where == "off":
        return None
    return Path(where) if where else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ascend-env"


def _cache_file(paths: Sequence[Path]) -> Path | None:
    """The cache entry for exactly these data and override files (their bytes, the package's version and the code
    that builds and holds the rows are the key: any change to one of them is a new entry)."""
    base = cache_dir()
    if base is None:
        return None
    from . import __version__

    h = hashlib.sha256(f"{__version__}\0{sys.version_info[:2]}".encode())
    for p in (Path(__file__), Path(__file__).with_name("versions.py"), *paths):
        try:
            h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
        except OSError:
            return None
    return base / f"matrix-{h.hexdigest()[:32]}.pickle"


def load_matrix(overrides: Iterable[str | os.PathLike[str]] = (),
                data_dir: str | os.PathLike[str] | None = None) -> Matrix:
    """Load the packaged matrix plus overrides; raise :class:`MatrixInvalid` on any problem.

    A matrix that validated is kept (pickled) in the user's cache keyed by the bytes of every data and override
    file, so a run after the first skips parsing and validation (the doctor and the filters load it each run);
    an invalid matrix is never cached."""
    data = Path(data_dir) if data_dir else _data_dir()
    paths = [data / f for f in DATA_FILES] + override_paths(overrides)
    cache = _cache_file(paths)
    if cache is not None and cache.is_file():
        try:
            with cache.open("rb") as f:
                cached = pickle.load(f)
            if isinstance(cached, Matrix):
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            pass  # a broken or stale entry: load from the data and write it again
    m, problems = check_matrix(overrides, data_dir)
    if problems:
        raise MatrixInvalid(problems)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as out:
                pickle.dump(m, out, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(cache)
            _prune_cache(cache.parent)
        except OSError:
            pass  # a read-only home: no cache, same result
    return m


#: entries kept in the cache (each checkout, override set and version is one; older ones are removed on a write)
CACHE_KEEP = 8


def _prune_cache(base: Path) -> None:
    entries = sorted(base.glob("matrix-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_KEEP:]:
        old.unlink(missing_ok=True)
