"""CANN's own Python dependencies: the pip packages its Python parts need, with the limits its install guide states.

Rows come from ``data/cann_pydeps.yaml`` (section ``cann_pydeps`` of the matrix, validated by ``matrix check`` like
every row).  :func:`python_deps` combines the rows of one CANN release for one Python: every package the rows name
(installed into the environment before the framework) and every version limit (written to the environment's pip
constraints file, which pip honours for every later install).  Rows of one release are combined: a package's limits
are the intersection of every row's (an environment meets every guide).  PEP 508 markers select by Python
(CANN 8.5.0's numpy limit differs below and from Python 3.13).  Pure functions; the matrix is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version as PkgVersion

from .versions import Spec, Version, VersionError

if TYPE_CHECKING:
    from .matrix import Matrix, Problem, RowMeta

__all__ = ["CannPyDepsRow", "PythonDeps", "constraints_text", "python_deps", "read_rows", "unmet"]

#: the marker variables a row may use (the stack decides them; the machine does not)
_MARKER_VARS = {"python_version", "python_full_version"}


@dataclass(frozen=True)
class CannPyDepsRow:
    cann: tuple[Spec, ...]
    packages: tuple[str, ...]
    meta: RowMeta


@dataclass(frozen=True)
class PythonDeps:
    """CANN's Python dependencies for one CANN release and one Python."""

    cann: str
    python: str
    #: what pip installs, one requirement per package with every limit (``numpy>=1.19.2,<2.0``)
    requirements: tuple[str, ...]
    #: the limits pip must keep for every later install (only packages with a version limit)
    constraints: tuple[str, ...]
    sources: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"cann": self.cann, "python": self.python, "requirements": list(self.requirements),
                "constraints": list(self.constraints), "sources": list(self.sources), "notes": list(self.notes)}


# --- reading rows (called by matrix.check_matrix) ---------------------------------------------------------------
def _check_requirement(text: object) -> tuple[Requirement | None, str]:
    if not isinstance(text, str) or not text.strip():
        return None, f"package {text!r} must be a PEP 508 requirement string, e.g. \"numpy>=1.19.2,<2.0\""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        return None, f"package {text!r} is not a PEP 508 requirement ({exc}); e.g. \"numpy>=1.19.2,<2.0\""
    if req.url:
        return None, f"package {text!r} names a URL; name the package and its version limits only"
    if req.marker is not None:
        words = set(re.findall(r"[A-Za-z_]+", re.sub(r"(\"[^\"]*\"|'[^']*')", "", str(req.marker))))
        if words - _MARKER_VARS - {"and", "or", "not", "in"}:
            return None, (f"package {text!r}: a marker may only test {', '.join(sorted(_MARKER_VARS))} (the stack's "
                          "Python), e.g. \"numpy<2.0; python_version < '3.13'\"")
    return req, ""


def read_rows(rows: Sequence[tuple[str, Any, bool]], reader: Any, problems: list[Problem],
              releases: Sequence[Version]) -> list[CannPyDepsRow]:
    """Typed rows of the ``cann_pydeps`` section; every problem (bad field, bad requirement, unknown CANN, duplicate)
    appended to ``problems`` with its location and fix.  ``reader`` is the matrix's row reader factory."""
    from .matrix import Problem

    out: list[CannPyDepsRow] = []
    seen: dict[tuple[str, ...], str] = {}
    for where, raw, ov in rows:
        r = reader(where, raw, ov, ("cann", "packages"))
        meta = r.meta()
        cann = r.specs("cann", "cann")
        pkgs = r.raw.get("packages") or []
        if not isinstance(pkgs, list):
            r.fail("packages must be a list of PEP 508 requirements, e.g. [\"numpy>=1.19.2,<2.0\", \"attrs\"]")
            pkgs = []
        for p in pkgs:
            req, why = _check_requirement(p)
            if req is None:
                r.fail(why)
        for s in cann:
            if not any(s.contains(v) for v in releases):
                r.fail(f"CANN {s} is not defined by any row; add it to cann_releases.yaml")
        if not r.ok:
            continue
        key = (*map(str, cann), meta.source)
        if key in seen:
            problems.append(Problem(where, f"duplicate cann_pydeps row (same as {seen[key]}); delete one or merge "
                                           "them"))
            continue
        seen[key] = where
        out.append(CannPyDepsRow(cann=cann, packages=tuple(str(p) for p in pkgs), meta=meta))
    return out


# --- combining (pure) ---------------------------------------------------------------------------------------------
def _rows_for(m: Matrix, cann: Version) -> list[CannPyDepsRow]:
    rows = [r for r in m.cann_pydeps if any(s.contains(cann) for s in r.cann)]
    if not rows:  # a community build takes its commercial release's rows (cann_releases.yaml same_as)
        rel = m.release(cann)
        if rel is not None and rel.same_as is not None:
            rows = [r for r in m.cann_pydeps if any(s.contains(rel.same_as) for s in r.cann)]
    return rows


def _environment(python: str) -> dict[str, str]:
    parts = [*python.split("."), "0", "0"][:3]
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    env.update({"python_version": ".".join(parts[:2]), "python_full_version": ".".join(parts)})
    return env


def python_deps(m: Matrix, cann: Version | str | None, python: Version | str | None) -> PythonDeps | None:
    """CANN ``cann``'s Python dependencies for Python ``python`` (``3.11`` or ``3.11.4``); None when no row covers
    that release (unknown: the caller says so, it never means "nothing needed")."""
    if cann is None:
        return None
    try:
        v = Version.parse(str(cann), "cann")
    except VersionError:
        return None
    rows = _rows_for(m, v)
    if not rows:
        return None
    py = str(python) if python else ""
    env = _environment(py) if py else None
    specs: dict[str, SpecifierSet] = {}
    names: dict[str, str] = {}
    notes: list[str] = []
    for row in rows:
        for text in row.packages:
            req = Requirement(text)
            if req.marker is not None:
                if env is None:
                    notes.append(f"{text}: applies by Python version; the stack has no Python")
                    continue
                try:
                    if not req.marker.evaluate(env):
                        continue
                except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
                    continue
            key = canonicalize_name(req.name)
            names.setdefault(key, req.name)
            specs[key] = specs.get(key, SpecifierSet()) & req.specifier
    reqs = tuple(f"{names[k]}{_spec_text(specs[k])}" for k in sorted(specs))
    cons = tuple(r for k, r in zip(sorted(specs), reqs, strict=True) if str(specs[k]))
    for row in rows:
        if row.meta.note:
            notes.append(row.meta.note)
    return PythonDeps(cann=v.canonical, python=py, requirements=reqs, constraints=cons,
                      sources=tuple(dict.fromkeys(r.meta.source for r in rows)), notes=tuple(notes))


def _spec_text(spec: SpecifierSet) -> str:
    """The limits as one specifier: the highest floor and the lowest ceiling of each kind (``>=1.14.3`` and
    ``>=1.19.2`` from two rows give ``>=1.19.2``), the others as they are; floors first, then ceilings."""
    keep: dict[str, Any] = {}
    rest: list[Any] = []
    for s in spec:
        if s.operator in (">=", ">", "<=", "<") and "*" not in s.version:
            cur = keep.get(s.operator)
            higher = cur is None or PkgVersion(s.version) > PkgVersion(cur.version)
            if cur is None or (higher if s.operator in (">=", ">") else not higher):
                keep[s.operator] = s
        else:
            rest.append(s)
    order = {">": 0, ">=": 0, "==": 1, "~=": 1, "===": 1, "<=": 2, "<": 2, "!=": 3}
    items = sorted([*keep.values(), *rest], key=lambda s: (order.get(s.operator, 4), s.version))
    return ",".join(dict.fromkeys(str(s) for s in items))


def unmet(requirements: Iterable[str], installed: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``(requirement, installed version or None)`` for each requirement ``installed`` (name -> version, any
    spelling of the name) does not satisfy."""
    have = {canonicalize_name(k): v for k, v in installed.items()}
    out: list[tuple[str, str | None]] = []
    for text in requirements:
        req = Requirement(text)
        got = have.get(canonicalize_name(req.name))
        if got is None:
            out.append((text, None))
            continue
        try:
            ok = req.specifier.contains(PkgVersion(got.split("+")[0]), prereleases=True)
        except InvalidVersion:
            ok = False
        if not ok:
            out.append((text, got))
    return out


def constraints_text(deps: PythonDeps) -> str:
    """The pip constraints file for ``deps`` (empty when there is no limit)."""
    if not deps.constraints:
        return ""
    head = [f"# CANN {deps.cann}'s Python dependencies, as its install guide limits them (managed by ascend-env;",
            "# every pip install in this environment honours them through pip.conf's constraint setting).",
            *(f"# source: {s}" for s in deps.sources)]
    return "\n".join([*head, *deps.constraints]) + "\n"
