"""Resolve a partial request into a complete, version-consistent stack, or explain why none exists.

A request names a chip, an architecture, a framework (``mindspore`` or ``torch``) and any pins among
driver, firmware, CANN, Python, MindSpore, MindFormers, torch and torch_npu (the driver and firmware
installed on a host are pins too).  :func:`resolve` returns a :class:`Stack` (newest consistent
versions, pins kept) or a :class:`Conflict` listing every violated rule with its source and what would
satisfy it.

Search order: rows marked ``preferred: true`` first; only when no stack exists with them does the
resolver accept rows marked ``preferred: false`` (a secondary source), and it says so in the stack's
``tier``.  Within a tier, the newest framework release wins, then the newest CANN it allows, then the
newest Python every constraint admits.  Pure functions; the matrix is passed in.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .matrix import Chip, Matrix, MindSporeRow, nearest_versions
from .versions import COMPONENTS, Arch, Spec, Version, VersionError, parse_spec

__all__ = ["Conflict", "Request", "Stack", "Violation", "installer_names", "resolve"]

FRAMEWORKS = ("mindspore", "torch")
PIN_COMPONENTS = ("driver", "firmware", "cann", "python", "mindspore", "mindformers", "torch", "torch_npu")
_PY_MINORS = tuple((3, m) for m in range(15, 6, -1))  # 3.15 .. 3.7, newest first
_PY_MAX_PATCH = 40


@dataclass(frozen=True)
class Request:
    chip: str | None = None
    arch: str | None = None
    framework: str | None = None
    pins: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    """What one page says about one component's range, e.g. "CANN 8.0.RC1: Python 3.7.0-3.9.7 (that page)"."""

    specs: tuple[Spec, ...]
    about: str
    source: str

    def allows(self, v: Version) -> bool:
        return any(s.contains(v) for s in self.specs)

    def describe(self) -> str:
        return " or ".join(str(s) for s in self.specs)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.describe(), "about": self.about, "source": self.source}


@dataclass(frozen=True)
class Constraint:
    """A rule that bounds one component, with who imposes it and where that comes from.

    ``specs`` is what the rule accepts: the union of its ``statements`` when several pages state it (a version any of
    them states is accepted).  When the statements disagree, a version the resolver *chooses* stays within every one
    of them (:meth:`allows_all`, the conservative reading); a version outside some is accepted only when pinned, and
    the stack's warnings name the pages."""

    component: str
    specs: tuple[Spec, ...]
    by: str
    source: str
    statements: tuple[Statement, ...] = ()

    def allows(self, v: Version) -> bool:
        return any(s.contains(v) for s in self.specs)

    def allows_all(self, v: Version) -> bool:
        """Does every statement behind the rule admit ``v`` (the conservative reading)?"""
        return all(st.allows(v) for st in self.statements) if self.statements else self.allows(v)

    def describe(self) -> str:
        return " or ".join(str(s) for s in self.specs)

    def disagreeing(self) -> bool:
        """Do the statements admit different Pythons (over the Pythons the resolver knows)?"""
        return len(self.statements) > 1 and self.python_mask(False) != self.python_mask(True)

    def python_mask(self, conservative: bool) -> int:
        """The Pythons of :data:`_PY_GRID` the rule admits, as a bit mask (bit i: ``_PY_GRID[i]``); conservative:
        those every statement admits."""
        if conservative and self.statements:
            out = -1
            for st in self.statements:
                out &= _grid_mask(st.specs)
            return out
        return _grid_mask(self.specs)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"spec": self.describe(), "by": self.by, "source": self.source}
        if self.disagreeing():
            d["statements"] = [st.to_dict() for st in self.statements]
        return d


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    source: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message, "source": self.source, "fix": self.fix}

    def __str__(self) -> str:
        src = f" [{self.source}]" if self.source else ""
        return f"{self.message}{src}; {self.fix}"


@dataclass
class Conflict:
    request: Request
    violations: list[Violation]
    ok: bool = False
    #: "no-stack" (the matrix has no stack for a well-formed request) or "bad-input" (a value in the request is not
    #: a chip, architecture, framework or version)
    kind: str = "no-stack"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "kind": self.kind, "request": _request_dict(self.request),
                "violations": [v.to_dict() for v in self.violations]}


@dataclass
class Component:
    name: str
    version: Version | None
    pinned: bool = False
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    recommended: Version | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": str(self.version) if self.version else None, "pinned": self.pinned,
                             "sources": sorted(set(self.sources))}
        if self.constraints:
            d["constraints"] = [c.to_dict() for c in self.constraints]
        if self.recommended is not None:
            d["recommended"] = str(self.recommended)
        if self.notes:
            d["notes"] = self.notes
        return d


@dataclass
class Stack:
    request: Request
    chip: Chip | None
    arch: Arch | None
    framework: str | None
    tier: str
    components: dict[str, Component]
    installers: dict[str, str]
    warnings: list[str]
    ok: bool = True

    def version(self, name: str) -> Version | None:
        c = self.components.get(name)
        return c.version if c else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "request": _request_dict(self.request),
            "chip": self.chip.id if self.chip else None,
            "arch": str(self.arch) if self.arch else None,
            "framework": self.framework,
            "tier": self.tier,
            "components": {k: c.to_dict() for k, c in self.components.items()},
            "installers": self.installers,
            "warnings": self.warnings,
        }


def _request_dict(r: Request) -> dict[str, Any]:
    return {"chip": r.chip, "arch": r.arch, "framework": r.framework, "pins": dict(r.pins)}


#: every Python the resolver considers, newest first: (minor, patch, Version); a patch of _PY_MAX_PATCH stands for
#: "any later patch" (a range without a patch bound admits it)
_PY_GRID: tuple[tuple[tuple[int, int], int, Version], ...] = tuple(
    ((major, minor), patch, Version.parse(f"{major}.{minor}.{patch}", "python"))
    for major, minor in _PY_MINORS for patch in range(_PY_MAX_PATCH, -1, -1))

#: the Conflict kinds: the request itself is wrong (exit 2) or no stack satisfies it (exit 1)
BAD_INPUT, NO_STACK = "bad-input", "no-stack"
#: violation rules that say the request is malformed (a value that is not a chip, an architecture, a version, ...)
INPUT_RULES = frozenset({"bad-chip", "bad-arch", "bad-version", "unknown-component", "bad-framework",
                         "two-frameworks", "framework-pin"})


# --- the search --------------------------------------------------------------------------------
class _Index:
    """The matrix's rows arranged for the search, built once per matrix: versions newest first per section and tier,
    rows per version, the CANN releases each row admits, HDK and CANN-Python rows per release."""

    def __init__(self, m: Matrix):
        self.m = m
        self.releases_newest = _newest(r.version for r in m.releases)
        self.release = {r.version: r for r in m.releases}
        #: community build -> its commercial release (same_as)
        self.commercial_of = {r.version: r.same_as for r in m.releases if r.same_as is not None}
        self._sections: dict[tuple[str, bool], tuple[list[Version], dict[Version, list[Any]]]] = {}
        self._row_canns: dict[int, list[Version]] = {}
        self._hdk: dict[Version, list[Any]] = {}
        for r in m.cann_hdk:
            self._hdk.setdefault(r.cann, []).append(r)
        self._cann_python: dict[Version, list[Any]] = {}
        self._mf_for: dict[tuple[Version, bool], list[tuple[Version, list[Any]]]] = {}
        #: answers that depend on the matrix alone (HDK rows per CANN and chip, ...)
        self.memo: dict[Any, Any] = {}

    def section(self, name: str, preferred_only: bool) -> tuple[list[Version], dict[Version, list[Any]]]:
        key = (name, preferred_only)
        if key not in self._sections:
            by: dict[Version, list[Any]] = {}
            for r in getattr(self.m, name):
                if r.meta.preferred or not preferred_only:
                    by.setdefault(r.version, []).append(r)
            self._sections[key] = (_newest(by), by)
        return self._sections[key]

    def mindformers_for(self, ms: Version, preferred_only: bool) -> list[tuple[Version, list[Any]]]:
        """(MindFormers release, its rows that name ``ms``), newest first."""
        key = (ms, preferred_only)
        if key not in self._mf_for:
            versions, by = self.section("mindformers", preferred_only)
            out = []
            for mf in versions:
                rows = [r for r in by[mf] if any(s.contains(ms) for s in r.mindspore)]
                if rows:
                    out.append((mf, rows))
            self._mf_for[key] = out
        return self._mf_for[key]

    def canns(self, row: Any) -> list[Version]:
        """The defined CANN releases ``row.cann`` admits, newest first."""
        key = id(row)
        if key not in self._row_canns:
            self._row_canns[key] = [v for v in self.releases_newest if any(s.contains(v) for s in row.cann)]
        return self._row_canns[key]

    def hdk(self, cann: Version) -> list[Any]:
        return self._hdk.get(cann, [])

    def cann_python(self, cann: Version) -> list[Any]:
        if cann not in self._cann_python:
            self._cann_python[cann] = [r for r in self.m.cann_python if any(s.contains(cann) for s in r.cann)]
        return self._cann_python[cann]


_INDEXES: dict[int, tuple[weakref.ref[Matrix], _Index]] = {}


def _index(m: Matrix) -> _Index:
    entry = _INDEXES.get(id(m))
    if entry is not None and entry[0]() is m:
        return entry[1]
    idx = _Index(m)
    for key in [k for k, (ref, _) in _INDEXES.items() if ref() is None]:
        del _INDEXES[key]
    _INDEXES[id(m)] = (weakref.ref(m), idx)
    return idx


class _Ctx:
    """Everything the search needs for one request and tier."""

    def __init__(self, m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
                 preferred_only: bool):
        self.m, self.chip, self.framework, self.pins = m, chip, framework, pins
        self.pref = preferred_only
        self.idx = _index(m)

    def versions(self, section: str) -> list[Version]:
        return self.idx.section(section, self.pref)[0]

    def rows_of(self, section: str, v: Version) -> list[Any]:
        return self.idx.section(section, self.pref)[1].get(v, [])

    def pin_ok(self, name: str, v: Version | None) -> bool:
        p = self.pins.get(name)
        if p is None or p == "none":
            return True
        return v is not None and p.contains(v)


def _newest(vs: Iterable[Version]) -> list[Version]:
    return sorted(set(vs), key=_sort_key, reverse=True)


def _sort_key(v: Version) -> Any:
    return v.key


def _cann_candidates(ctx: _Ctx, rows: Sequence[Any]) -> list[tuple[Version, Version | None]]:
    """(CANN, the community build it stands for) for ``rows``, newest first: first the releases the rows name, then
    -- MindSpore rows only -- the commercial release (``same_as``) of each community build they name.  MindSpore's
    install pages and release list offer every release with both downloads, the commercial bundle ("Ascend Training
    Solution 24.0.0") and the community build ("8.0.0.beta1"); ``same_as`` records which commercial release that is."""
    named: list[Version] = []
    for r in rows:
        named += [v for v in ctx.idx.canns(r) if v not in named]
    named = _newest(named)
    out: list[tuple[Version, Version | None]] = [(v, None) for v in named if ctx.pin_ok("cann", v)]
    if rows and isinstance(rows[0], MindSporeRow):
        derived: dict[Version, Version] = {}
        for v in named:
            commercial = ctx.idx.commercial_of.get(v)
            if commercial is not None and commercial not in named and commercial not in derived:
                derived[commercial] = v
        out += [(c, derived[c]) for c in _newest(derived) if ctx.pin_ok("cann", c)]
    return out


def _assignments(ctx: _Ctx) -> Iterator[dict[str, Any]]:
    """Candidate assignments newest first: {component: (Version|None, [rows that justify it])}; ``"via"``: the
    community build a commercial CANN stands in for (MindSpore rows that name the build)."""
    if ctx.framework == "mindspore":
        for ms in ctx.versions("mindspore"):
            if not ctx.pin_ok("mindspore", ms):
                continue
            rows_ms = ctx.rows_of("mindspore", ms)
            mf_pin = ctx.pins.get("mindformers")
            mfs: list[tuple[Version | None, list[Any]]]
            if mf_pin == "none":
                mfs = [(None, [])]
            else:
                mfs = [(mf, rows_mf) for mf, rows_mf in ctx.idx.mindformers_for(ms, ctx.pref)
                       if ctx.pin_ok("mindformers", mf)]
                if not mfs and mf_pin is None:
                    mfs = [(None, [])]
            canns = _cann_candidates(ctx, rows_ms)
            for (mf, rows_mf), (cann, via) in itertools.product(mfs, canns):
                named = via or cann
                rows_c = [r for r in rows_ms if named in ctx.idx.canns(r)]
                yield {"cann": (cann, []), "mindspore": (ms, rows_c), "mindformers": (mf, rows_mf), "via": via}
    elif ctx.framework == "torch":
        for tn in ctx.versions("torch_npu"):
            if not ctx.pin_ok("torch_npu", tn):
                continue
            rows_tn = ctx.rows_of("torch_npu", tn)
            for torch in _newest(r.torch for r in rows_tn):
                if not ctx.pin_ok("torch", torch):
                    continue
                rows_t = [r for r in rows_tn if r.torch == torch]
                for cann, _ in _cann_candidates(ctx, rows_t):
                    rows_c = [r for r in rows_t if cann in ctx.idx.canns(r)]
                    yield {"cann": (cann, []), "torch_npu": (tn, rows_c), "torch": (torch, []), "via": None}
    else:
        for cann in ctx.idx.releases_newest:
            if ctx.pin_ok("cann", cann):
                yield {"cann": (cann, []), "via": None}


def _same_as(ctx: _Ctx, cann: Version) -> Version | None:
    rel = ctx.idx.release.get(cann)
    return rel.same_as if rel else None


def _statements(rows: Sequence[Any], about: str) -> tuple[Statement, ...]:
    """One statement per page (rows of one source are one statement)."""
    by_source: dict[str, list[Spec]] = {}
    for r in rows:
        by_source.setdefault(r.meta.source, []).extend(r.python)
    return tuple(Statement(tuple(specs), about, src) for src, specs in by_source.items())


def _constraint(stmts: Sequence[Statement], by: str) -> Constraint:
    return Constraint("python", tuple(s for st in stmts for s in st.specs), by,
                      "; ".join(sorted({st.source for st in stmts})), tuple(stmts))


def _python_constraints(ctx: _Ctx, a: dict[str, Any]) -> tuple[list[Constraint], bool]:
    """The Python rules of assignment ``a``, and whether CANN has a Python row of its own.

    The rule for combining the pages (docs/matrix.md, "Python"):

    * every component bounds the Python on its own (CANN, the MindSpore or torch_npu release, torch, MindFormers):
      a Python must satisfy each of them;
    * several pages stating one component's Python are alternatives: a Python one of them states is accepted, the
      one chosen by default is within all of them (the conservative reading), and the stack names the disagreement;
    * a framework page that pairs its release with the CANN release and states a Python (torch_npu's release branch,
      MindSpore's install page) is one of the statements on CANN's Python too: it documents that stack.  One server
      model's CANN install page does not override it; it only keeps the default conservative.
    """
    out: list[Constraint] = []
    cann = a["cann"][0]
    rows = ctx.idx.cann_python(cann)
    by = f"CANN {cann}"
    alias = _same_as(ctx, cann)
    if not rows and alias is not None:
        rows = ctx.idx.cann_python(alias)
        by = f"CANN {cann} (as its commercial release {alias})"
    stmts = list(_statements(rows, f"CANN {cann}"))
    framework = "mindspore" if "mindspore" in a else "torch_npu" if "torch_npu" in a else None
    if framework is not None:
        v, rows_fw = a[framework]
        label = COMPONENTS[framework].label
        stmts += _statements([r for r in rows_fw if r.python], f"{label} {v} with CANN {a.get('via') or cann}")
    if stmts:
        out.append(_constraint(stmts, by))
    if "mindspore" in a:
        ms, rows_ms = a["mindspore"]
        # a MindSpore release's Python is its wheels', whichever CANN row was used: a row that names no Python (one
        # page's CANN pairing) takes the Python of the release's other rows
        rows_py = [r for r in rows_ms if r.python] or [r for r in ctx.rows_of("mindspore", ms) if r.python]
        if rows_py:
            out.append(_constraint(_statements(rows_py, f"MindSpore {ms}"), f"MindSpore {ms}"))
        mf, rows_mf = a["mindformers"]
        rows_py = [r for r in rows_mf if r.python]
        if mf is not None and rows_py:
            out.append(_constraint(_statements(rows_py, f"MindFormers {mf}"), f"MindFormers {mf}"))
    if "torch_npu" in a:
        tn = a["torch_npu"][0]
        rows_py = [r for r in ctx.rows_of("torch_npu", tn) if r.python]
        if rows_py:
            out.append(_constraint(_statements(rows_py, f"torch_npu {tn}"), f"torch_npu {tn}"))
    if "torch" in a:
        torch = a["torch"][0]
        rows_t = [r for r in ctx.rows_of("torch", torch) if r.python]
        if rows_t:
            out.append(_constraint(_statements(rows_t, f"torch {torch}"), f"torch {torch}"))
    pin = ctx.pins.get("python")
    if pin is not None:
        out.append(Constraint("python", (pin,), "your pin", ""))
    return out, bool(rows)


@functools.lru_cache(maxsize=8192)
def _grid_mask(specs: tuple[Spec, ...]) -> int:
    """Bit i set when ``specs`` (a union) admit ``_PY_GRID[i]``.  Specs hash by identity: the matrix's rows and a
    request's pins keep theirs, so each range is tested against the grid once."""
    bits = 0
    for i, (_, _, v) in enumerate(_PY_GRID):
        if any(s.contains(v) for s in specs):
            bits |= 1 << i
    return bits


def _pick_python(constraints: Sequence[Constraint], conservative: bool) -> Version | None:
    mask = (1 << len(_PY_GRID)) - 1
    for c in constraints:
        mask &= c.python_mask(conservative)
        if not mask:
            return None
    i = (mask & -mask).bit_length() - 1          # the lowest set bit: the grid is newest first
    (major, minor), patch, v = _PY_GRID[i]
    return Version.parse(f"{major}.{minor}", "python") if patch == _PY_MAX_PATCH else v


def choose_python(constraints: Sequence[Constraint]) -> Version | None:
    """The newest Python every constraint admits: ``3.10`` (any patch) or ``3.11.4`` (a capped patch).  Within every
    page's statement when there is one (the conservative choice), else within what some page of each rule states."""
    return _pick_python(constraints, True) or _pick_python(constraints, False)


def _python_notes(constraints: Sequence[Constraint], py: Version, pinned: bool) -> tuple[list[str], list[str]]:
    """(notes, warnings) that name the pages disagreeing on the Python the stack got."""
    notes: list[str] = []
    warnings: list[str] = []
    probe = py if py.release[2:] else Version.parse(f"{py.major_minor}.0", "python")
    for c in constraints:
        if not c.disagreeing():
            continue
        pages = "; ".join(f"{st.about}: {st.describe()} [{st.source}]" for st in c.statements)
        if c.allows_all(probe):
            wider = _pick_python([c], False)
            if wider is not None and wider != _pick_python([c], True):
                notes.append(f"pages disagree on the Python ceiling of {c.by} ({pages}); Python {py} is within "
                             f"every one of them (the conservative choice); pin --python to use what only some "
                             f"state")
            continue
        outside = [st for st in c.statements if not st.allows(probe)]
        within = [st for st in c.statements if st.allows(probe)]
        why = "accepted because you pinned it" if pinned else "chosen because no Python is within every page"
        said = ", ".join(f"{st.source} states for {st.about} ({st.describe()})" for st in outside)
        also = ", ".join(f"{st.source} states {st.describe()} for {st.about}" for st in within)
        warnings.append(f"Python {py} is outside what {said}; {also}: {why}")
    return notes, warnings


def _hdk(ctx: _Ctx, cann: Version, part: str) -> tuple[list[Any], Constraint | None, Version | None]:
    """The HDK rows of ``cann`` for the chip, their constraint and the recommended version (kept in the index)."""
    key = ("hdk", cann, part, ctx.chip.id if ctx.chip else None)
    cache = ctx.idx.memo
    found: tuple[list[Any], Constraint | None, Version | None] | None = cache.get(key)
    if found is None:
        rows, c = _hdk_rows(ctx, cann, part)
        found = cache[key] = (rows, c, _recommended(rows, part) if rows else None)
    return found


def _hdk_rows(ctx: _Ctx, cann: Version, part: str) -> tuple[list[Any], Constraint | None]:
    def rows_for(v: Version) -> list[Any]:
        return [r for r in ctx.idx.hdk(v) if getattr(r, part) and (ctx.chip is None or ctx.chip.id in r.chips)]
    rows, by = rows_for(cann), f"CANN {cann}"
    alias = _same_as(ctx, cann)
    if not rows and alias is not None:
        rows, by = rows_for(alias), f"CANN {cann} (as its commercial release {alias})"
    if not rows:
        return [], None
    rel = ctx.idx.release.get(cann)
    sources = {r.meta.source for r in rows} | ({rel.meta.source} if rel and alias and by.endswith(")") else set())
    c = Constraint(part, tuple(s for r in rows for s in getattr(r, part)), by, "; ".join(sorted(sources)))
    return rows, c


def _recommended(rows: Sequence[Any], part: str) -> Version | None:
    pool = [r for r in rows if r.meta.preferred] or list(rows)
    vs: list[Version] = []
    for r in pool:
        for s in getattr(r, part):
            if s.exact is not None:
                vs.append(s.exact)
            elif s.canonical.startswith(">="):
                vs.append(Version.parse(s.canonical[2:].split(",")[0], part))
    return max(vs) if vs else None


EARLIER = "documented earlier"


def _earlier(rows: Sequence[Any]) -> Any | None:
    """The row to name when every row justifying a choice was changed by a later version of its page."""
    return rows[0] if rows and all(r.meta.superseded_by for r in rows) else None


def _earlier_note(what: str, row: Any) -> str:
    return (f"{what} is documented earlier: {row.meta.source} states it, and a later version of the page "
            f"({row.meta.superseded_by}) changed it; accepted because you pinned it")


def _evaluate(ctx: _Ctx, a: dict[str, Any]) -> tuple[dict[str, Component], list[str]] | None:
    """Complete one assignment, or None if a constraint fails."""
    cann = a["cann"][0]
    comps: dict[str, Component] = {}
    warnings: list[str] = []
    for part in ("driver", "firmware"):
        comp = _hdk_component(ctx, cann, part, warnings)
        if comp is None:
            return None
        comps[part] = comp
    py_cs, cann_has_python = _python_constraints(ctx, a)
    py = choose_python(py_cs)
    if py is None:
        return None
    comps["cann"] = _cann_component(ctx, a, cann)
    comps["python"] = Component("python", py, pinned="python" in ctx.pins, constraints=py_cs,
                                sources=[c.source for c in py_cs if c.source])
    notes, py_warnings = _python_notes(py_cs, py, "python" in ctx.pins)
    comps["python"].notes += notes
    warnings += py_warnings
    if not cann_has_python:
        warnings.append(f"the matrix has no Python range for CANN {cann}; Python {py} comes from the framework rows")
    for name in ("mindspore", "mindformers", "torch", "torch_npu"):
        if name in a:
            comps[name] = _framework_component(ctx, a, name, cann, py, warnings)
    return comps, warnings


def _hdk_component(ctx: _Ctx, cann: Version, part: str, warnings: list[str]) -> Component | None:
    """The driver or firmware for ``cann`` on the chip, or None when a pinned (installed) one does not fit."""
    rows, c, recommended = _hdk(ctx, cann, part)
    pin = ctx.pins.get(part)
    pinned_v = pin.exact if pin is not None else None
    if c is not None and pinned_v is not None and not c.allows(pinned_v):
        return None
    if c is None and pinned_v is not None and ctx.pref:
        return None  # an installed driver/firmware needs evidence; unproven CANNs only in the second tier
    comp = Component(part, pinned_v, pinned=pinned_v is not None, constraints=[c] if c else [],
                     sources=[r.meta.source for r in rows], recommended=recommended)
    if c is None:
        chip = f" on {ctx.chip.id}" if ctx.chip else ""
        comp.notes.append(f"the matrix has no {part} pairing for CANN {cann}{chip}; "
                          f"the on-disk compatible_version rules still apply")
    if pinned_v is not None and rows:
        row = _earlier([r for r in rows if any(sp.contains(pinned_v) for sp in getattr(r, part))])
        if row is not None:
            warnings.append(_earlier_note(f"{part} {pinned_v} with CANN {cann}", row))
    return comp


def _cann_component(ctx: _Ctx, a: dict[str, Any], cann: Version) -> Component:
    """CANN with its release row (and, for a commercial bundle of a community build, that build's)."""
    rel = ctx.idx.release.get(cann)
    comp = Component("cann", cann, pinned="cann" in ctx.pins, sources=[rel.meta.source] if rel else [])
    if rel and rel.channel == "community":
        comp.notes.append("community (alpha/beta) release")
    if a.get("via") is not None:
        ms = a["mindspore"][0]
        comp.notes.append(f"the commercial release of {a['via']} (same_as in cann_releases.yaml): MindSpore "
                          f"{ms}'s pages name the community build {a['via']} and offer the commercial bundle "
                          f"as the other download of the same release")
        brel = ctx.idx.release.get(a["via"])
        if brel is not None:
            comp.sources.append(brel.meta.source)
    return comp


def _framework_component(ctx: _Ctx, a: dict[str, Any], name: str, cann: Version, py: Version,
                         warnings: list[str]) -> Component:
    """MindSpore, MindFormers, torch or torch_npu as the assignment chose it, with its rows' sources and notes."""
    v, rows = a[name]
    comp = Component(name, v, pinned=name in ctx.pins and ctx.pins[name] != "none",
                     sources=[r.meta.source for r in rows])
    comp.notes += sorted({r.meta.note for r in rows if r.meta.note})
    if name == "torch":
        torch_rows = ctx.idx.section("torch", False)[1].get(v, [])
        comp.sources = [r.meta.source for r in torch_rows]
        by_py = [r for r in torch_rows if r.python and any(sp.contains(py) for sp in r.python)]
        row = _earlier(by_py)
        if row is not None:
            warnings.append(_earlier_note(f"Python {py} with torch {v}", row))
    row = _earlier(rows)
    if row is not None and v is not None:
        partner = (f"MindSpore {a['mindspore'][0]}" if name == "mindformers" else
                   f"torch {a['torch'][0]}, CANN {cann}" if name == "torch_npu" else f"CANN {cann}")
        warnings.append(_earlier_note(f"{name} {v} with {partner}", row))
    if name == "mindformers" and v is None:
        comp.notes.append("no MindFormers release in the matrix pairs with this MindSpore"
                          if ctx.pins.get("mindformers") != "none" else "not requested")
    return comp


_Found = tuple[dict[str, Component], list[str], str]


def _pins_key(pins: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v if isinstance(v, str) else f"{v.scheme.value}:{v.canonical}") for k, v in pins.items()))


def _search(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
            memo: dict[Any, _Found | None] | None = None) -> _Found | None:
    """The first stack, newest first (preferred rows only, then every row); ``memo`` remembers answers within one
    request's explanation (the same pin sets are asked many times)."""
    key = (chip.id if chip else None, framework, _pins_key(pins))
    if memo is not None and key in memo:
        return memo[key]
    found: _Found | None = None
    for preferred_only in (True, False):
        ctx = _Ctx(m, chip, framework, pins, preferred_only)
        for a in _assignments(ctx):
            result = _evaluate(ctx, a)
            if result is not None:
                # a row used only because it was pinned and a later page version changed it makes the stack
                # "documented earlier" in either pass (an installed driver is checked against every HDK row)
                earlier = any(f" is {EARLIER}: " in w for w in result[1])
                found = (result[0], result[1], EARLIER if earlier else "preferred" if preferred_only else "accepted")
                break
        if found is not None:
            break
    if memo is not None:
        memo[key] = found
    return found


# --- request parsing and conflicts ---------------------------------------------------------------
def _parse_pins(m: Matrix, pins: dict[str, str]) -> tuple[dict[str, Any], list[Violation]]:
    parsed: dict[str, Any] = {}
    bad: list[Violation] = []
    for name, raw in pins.items():
        if raw is None or raw == "":
            continue
        if name not in PIN_COMPONENTS:
            bad.append(Violation("unknown-component", f"cannot pin {name!r}", "",
                                 f"pin one of {', '.join(PIN_COMPONENTS)}"))
            continue
        if name == "mindformers" and str(raw).lower() == "none":
            parsed[name] = "none"
            continue
        try:
            text = str(raw)
            if name == "python" and text.count(".") == 1 and text.replace(".", "").isdigit():
                text += ".*"  # --python 3.10 means any 3.10.x
            spec = parse_spec(text, name)
        except VersionError as exc:
            bad.append(Violation("bad-version", str(exc), "", f"fix the --{name.replace('_', '-')} value"))
            continue
        if name in ("cann", "mindspore", "mindformers", "torch", "torch_npu"):
            known = m.versions(name)
            if not any(spec.contains(v) for v in known):
                label = COMPONENTS[name].label
                near = nearest_versions(spec.exact, known) if spec.exact else known[:2]
                bad.append(Violation("unknown-version", f"{label} {spec} is not in the matrix", "",
                                     f"pick a known {label} version (nearest: {', '.join(map(str, near))}), "
                                     f"or add a site row with source: local in an overrides file"))
                continue
        parsed[name] = spec
    return parsed, bad


def _pin_text(name: str, spec: Any) -> str:
    label = COMPONENTS[name].label
    return f"{label} {spec}" if name not in ("driver", "firmware") else f"{label} {spec} (installed/pinned)"


def _stacks(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
            memo: dict[Any, Any]) -> list[tuple[dict[str, Any], dict[str, Component]]]:
    """Every consistent assignment under ``pins`` with every row (the second tier holds the first: a stack exists
    with ``pins`` iff this list is not empty); remembered in ``memo`` for the rest of one explanation."""
    key = ("all", chip.id if chip else None, framework, _pins_key(pins))
    found: list[tuple[dict[str, Any], dict[str, Component]]] | None = memo.get(key)
    if found is None:
        ctx = _Ctx(m, chip, framework, pins, preferred_only=False)
        found = []
        for a in _assignments(ctx):
            result = _evaluate(ctx, a)
            if result is not None:
                found.append((a, result[0]))
        memo[key] = found
    return found


def _feasible(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
              component: str, limit: int = 3, memo: dict[Any, Any] | None = None) -> list[str]:
    """Values of ``component`` that some stack with ``pins`` allows (newest first, at most ``limit``): one pass over
    the stacks ``pins`` allow, not one search per value."""
    memo = {} if memo is None else memo
    if component in ("driver", "firmware"):
        r = _search(m, chip, framework, pins, memo)
        if r is None:
            return []
        comp = r[0][component]
        out = [c.describe() for c in comp.constraints]
        if comp.recommended:
            out.append(f"recommended {comp.recommended}")
        return out
    stacks = _stacks(m, chip, framework, pins, memo)
    if component == "python":
        mask = 0
        for _, comps in stacks:
            allowed = (1 << len(_PY_GRID)) - 1
            for c in comps["python"].constraints:
                allowed &= c.python_mask(False)
            mask |= allowed
        minors = []
        for i, (minor, _, _) in enumerate(_PY_GRID):
            if mask >> i & 1 and minor not in minors:
                minors.append(minor)
        return [f"{a}.{b}" for a, b in minors[:limit]]
    values = {v for _, comps in stacks if component in comps and (v := comps[component].version) is not None}
    return [str(v) for v in _newest(values)[:limit]]


def _direct_rule(m: Matrix, a: str, av: Any, b: str) -> tuple[str, str]:
    """What the matrix says component ``a`` (pinned to ``av``) needs of ``b``: (text, source)."""
    v = av.exact
    if v is None:
        return "", ""

    def fmt(specs: Iterable[Any]) -> str:
        return " or ".join(sorted({str(s) for s in specs}))

    idx = _index(m)
    pairs: dict[tuple[str, str], Any] = {
        ("mindspore", "cann"): lambda: [(r.cann, r.meta.source) for r in m.mindspore if r.version == v],
        ("mindformers", "mindspore"): lambda: [(r.mindspore, r.meta.source) for r in m.mindformers if r.version == v],
        ("torch_npu", "cann"): lambda: [(r.cann, r.meta.source) for r in m.torch_npu if r.version == v],
        ("torch_npu", "torch"): lambda: [([parse_spec(f"=={r.torch}", "torch")], r.meta.source)
                                         for r in m.torch_npu if r.version == v],
        ("torch", "python"): lambda: [(r.python, r.meta.source) for r in m.torch if r.version == v and r.python],
        ("torch_npu", "python"): lambda: [(r.python, r.meta.source) for r in m.torch_npu
                                          if r.version == v and r.python],
        ("mindformers", "python"): lambda: [(r.python, r.meta.source) for r in m.mindformers
                                            if r.version == v and r.python],
        ("mindspore", "python"): lambda: [(r.python, r.meta.source) for r in m.mindspore
                                          if r.version == v and r.python],
        ("cann", "python"): lambda: [(r.python, r.meta.source) for r in idx.cann_python(v)],
        ("cann", "driver"): lambda: [(r.driver, r.meta.source) for r in idx.hdk(v) if r.driver],
        ("cann", "firmware"): lambda: [(r.firmware, r.meta.source) for r in idx.hdk(v) if r.firmware],
    }
    fn = pairs.get((a, b))
    if fn is None:
        return "", ""
    found = fn()
    if not found:
        return "", ""
    specs = [s for specs, _ in found for s in specs]
    text = fmt(specs)
    if (a, b) == ("mindspore", "cann"):
        named = {c for specs, _ in found for sp in specs for c in idx.releases_newest if sp.contains(c)}
        commercial = sorted({str(idx.commercial_of[c]) for c in named if c in idx.commercial_of}
                            - {str(c) for c in named})
        if commercial:
            text += f" (or its commercial release {' / '.join(commercial)})"
    return text, "; ".join(sorted({src for _, src in found}))


def _explain(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any]) -> list[Violation]:
    out: list[Violation] = []
    memo: dict[Any, Any] = {}
    names = [n for n in PIN_COMPONENTS if n in pins and pins[n] != "none"]
    for a, b in itertools.combinations(names, 2):
        pair = {a: pins[a], b: pins[b]}
        if _stacks(m, chip, framework, pair, memo):
            continue
        # orient the pair so that the rule reads "A needs B" when the matrix states it that way
        need, src = _direct_rule(m, a, pins[a], b)
        first, second = a, b
        if not need:
            need2, src2 = _direct_rule(m, b, pins[b], a)
            if need2:
                need, src, first, second = need2, src2, b, a
        la, lb = COMPONENTS[first].label, COMPONENTS[second].label
        if need:
            msg = f"{la} {pins[first]} needs {lb} {need}; you pinned {lb} {pins[second]}"
        else:
            msg = (f"no stack in the matrix combines {_pin_text(first, pins[first])} "
                   f"with {_pin_text(second, pins[second])}")
        keep_first = _feasible(m, chip, framework, {first: pins[first]}, second, memo=memo)
        keep_second = _feasible(m, chip, framework, {second: pins[second]}, first, memo=memo)
        fixes = [f"either unpin {lb}"]
        if keep_first:
            fixes.append(f"pick {lb} {' / '.join(keep_first)} (works with {la} {pins[first]})")
        if keep_second:
            fixes.append(f"pick {la} {' / '.join(keep_second)} (works with {lb} {pins[second]})")
        if second in ("driver", "firmware"):
            fixes[0] = f"either upgrade the {lb} to {need}"
        out.append(Violation(f"{first}-{second}", msg, src, "; or ".join(fixes)))
    if not out:
        for n in names:
            if not _stacks(m, chip, framework, {n: pins[n]}, memo):
                fw = f" with framework {framework}" if framework else ""
                chip_t = f" on chip {chip.id}" if chip else ""
                out.append(Violation(f"{n}-alone", f"{_pin_text(n, pins[n])} has no consistent stack{fw}{chip_t}",
                                     "", f"pick another {COMPONENTS[n].label} version or framework"))
    if not out:
        out.append(Violation("combination", "each pair of pins is consistent, but no single stack satisfies all of "
                                            f"them together ({', '.join(_pin_text(n, pins[n]) for n in names)})",
                             "", "drop one pin and resolve again to see what the others allow"))
    return out


def resolve(m: Matrix, request: Request) -> Stack | Conflict:
    """Resolve ``request`` against matrix ``m``.  A malformed request is a :class:`Conflict` of kind ``bad-input``
    (a chip, architecture, framework or version that is not one), a request no stack satisfies one of kind
    ``no-stack``; the command line exits 2 and 1 for them."""
    violations: list[Violation] = []
    chip: Chip | None = None
    arch: Arch | None = None
    if request.chip:
        try:
            chip = m.chip(request.chip)
        except VersionError as exc:
            violations.append(Violation("bad-chip", str(exc), "", "pass --chip with a known chip id"))
    if request.arch:
        try:
            arch = Arch.parse(request.arch)
        except VersionError as exc:
            violations.append(Violation("bad-arch", str(exc), "", "pass --arch x86_64 or aarch64"))
    pins, bad = _parse_pins(m, request.pins)
    violations += bad
    framework = request.framework
    implied = {n for n in ("mindspore", "mindformers") if n in pins and pins[n] != "none"}
    implied_t = {n for n in ("torch", "torch_npu") if n in pins}
    if framework is not None and framework not in FRAMEWORKS:
        violations.append(Violation("bad-framework", f"unknown framework {framework!r}", "",
                                    "use --framework mindspore or --framework torch"))
    elif implied and implied_t:
        violations.append(Violation("two-frameworks", f"pins name both MindSpore-side ({', '.join(sorted(implied))}) "
                                                      f"and torch-side ({', '.join(sorted(implied_t))}) components",
                                    "", "one environment holds one framework; drop the pins of the other"))
    elif (framework == "mindspore" and implied_t) or (framework == "torch" and implied):
        violations.append(Violation("framework-pin", f"framework {framework} does not use "
                                                     f"{', '.join(sorted(implied | implied_t))}",
                                    "", "drop those pins or change --framework"))
    elif framework is None:
        framework = "mindspore" if implied else "torch" if implied_t else None
    if violations:
        kind = BAD_INPUT if any(v.rule in INPUT_RULES for v in violations) else NO_STACK
        return Conflict(request, violations, kind=kind)
    found = _search(m, chip, framework, pins)
    if found is None:
        return Conflict(request, _explain(m, chip, framework, pins))
    comps, warnings, tier = found
    if tier == EARLIER:
        warnings.append("this stack follows an earlier version of a compatibility page (the newest version pairs "
                        "differently); unpin to get the newest page's stack")
    elif tier == "accepted":
        warnings.append("no stack exists with preferred rows only; this one uses a row marked preferred: false "
                        "(a secondary source); see the components' sources")
    order = ["driver", "firmware", "cann", "python", "mindspore", "mindformers", "torch", "torch_npu"]
    comps = {k: comps[k] for k in order if k in comps}
    cann = comps["cann"].version
    installers = installer_names(m, cann, chip, arch, comps["driver"].version or comps["driver"].recommended,
                                 comps["firmware"].version or comps["firmware"].recommended) if cann else {}
    return Stack(request, chip, arch, framework, tier, comps, installers, warnings)


def installer_names(m: Matrix, cann: Version | None, chip: Chip | None, arch: Arch | None,
                    driver: Version | None = None, firmware: Version | None = None) -> dict[str, str]:
    """File names of the ``.run`` installers for this stack (components whose inputs are known; ``cann=None``: the
    driver and firmware only)."""
    out: dict[str, str] = {}
    for row in m.installers:
        version = {"driver": driver, "firmware": firmware}.get(row.component, cann)
        if version is None or not row.versions.contains(version):
            continue
        needs_chip = "{chip}" in row.pattern
        needs_arch = "{arch" in row.pattern
        if (needs_chip and chip is None) or (needs_arch and arch is None):
            continue
        out[row.component] = row.pattern.format(
            version=version.canonical, version_file=version.file_spelling(),
            arch=arch.cann if arch else "", arch_driver=arch.driver if arch else "",
            chip=chip.file_chip if chip else "")
    return out


def layout_for(m: Matrix, cann: Version) -> dict[str, str] | None:
    """Install-path-relative locations of the toolkit files for ``cann`` (see installers.yaml layouts)."""
    for row in m.layouts:
        if row.versions.contains(cann):
            return {"toolkit_home": row.toolkit_home, "latest_link": row.latest_link,
                    "install_info": row.install_info, "set_env": row.set_env}
    return None
