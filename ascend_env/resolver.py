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

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .matrix import Chip, Matrix, nearest_versions
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
class Constraint:
    """A rule that bounds one component, with who imposes it and where that comes from."""

    component: str
    specs: tuple[Spec, ...]
    by: str
    source: str

    def allows(self, v: Version) -> bool:
        return any(s.contains(v) for s in self.specs)

    def describe(self) -> str:
        return " or ".join(str(s) for s in self.specs)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.describe(), "by": self.by, "source": self.source}


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

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "request": _request_dict(self.request),
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
    #: CANN's own Python dependencies for this CANN and Python (ascend_env.pydeps.PythonDeps); None: no sourced row
    python_deps: Any = None

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
            "python_deps": self.python_deps.to_dict() if self.python_deps is not None else None,
        }


def _request_dict(r: Request) -> dict[str, Any]:
    return {"chip": r.chip, "arch": r.arch, "framework": r.framework, "pins": dict(r.pins)}


_row_cache: dict[int, dict[tuple[str, bool], list[Any]]] = {}

# --- the search --------------------------------------------------------------------------------
class _Ctx:
    """Everything the search needs, pre-parsed once per request."""

    def __init__(self, m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
                 preferred_only: bool):
        self.m, self.chip, self.framework, self.pins = m, chip, framework, pins
        self.pref = preferred_only

    def rows(self, section: str) -> list[Any]:
        cache = _row_cache.setdefault(id(self.m), {})
        key = (section, self.pref)
        if key not in cache:
            cache[key] = [r for r in getattr(self.m, section) if r.meta.preferred or not self.pref]
        return cache[key]

    def pin_ok(self, name: str, v: Version | None) -> bool:
        p = self.pins.get(name)
        if p is None or p == "none":
            return True
        return v is not None and p.contains(v)


def _newest(vs: Iterable[Version]) -> list[Version]:
    return sorted(set(vs), key=_sort_key, reverse=True)


def _sort_key(v: Version) -> Any:
    return v.key


def _cann_candidates(ctx: _Ctx, specs: Iterable[Spec]) -> list[Version]:
    specs = list(specs)
    return [r for r in _releases_newest(ctx.m) if any(s.contains(r) for s in specs) and ctx.pin_ok("cann", r)]


def _releases_newest(m: Matrix) -> list[Version]:
    cache = _row_cache.setdefault(id(m), {})
    key = ("releases-newest", True)
    if key not in cache:
        cache[key] = _newest(x.version for x in m.releases)
    return cache[key]


def _assignments(ctx: _Ctx) -> Iterator[dict[str, Any]]:
    """Candidate assignments newest first: {component: (Version|None, [rows that justify it])}."""
    all_cann = [r.version for r in ctx.m.releases]
    if ctx.framework == "mindspore":
        ms_rows = ctx.rows("mindspore")
        mf_rows = ctx.rows("mindformers")
        for ms in _newest(r.version for r in ms_rows):
            if not ctx.pin_ok("mindspore", ms):
                continue
            rows_ms = [r for r in ms_rows if r.version == ms]
            mf_pin = ctx.pins.get("mindformers")
            mfs: list[tuple[Version | None, list[Any]]]
            if mf_pin == "none":
                mfs = [(None, [])]
            else:
                mfs = []
                for mf in _newest(r.version for r in mf_rows):
                    rows_mf = [r for r in mf_rows if r.version == mf and any(s.contains(ms) for s in r.mindspore)]
                    if rows_mf and ctx.pin_ok("mindformers", mf):
                        mfs.append((mf, rows_mf))
                if not mfs and mf_pin is None:
                    mfs = [(None, [])]
            canns = _cann_candidates(ctx, [s for r in rows_ms for s in r.cann])
            for (mf, rows_mf), cann in itertools.product(mfs, canns):
                rows_c = [r for r in rows_ms if any(s.contains(cann) for s in r.cann)]
                yield {"cann": (cann, []), "mindspore": (ms, rows_c), "mindformers": (mf, rows_mf)}
    elif ctx.framework == "torch":
        tn_rows = ctx.rows("torch_npu")
        for tn in _newest(r.version for r in tn_rows):
            if not ctx.pin_ok("torch_npu", tn):
                continue
            rows_tn = [r for r in tn_rows if r.version == tn]
            for torch in _newest(r.torch for r in rows_tn):
                if not ctx.pin_ok("torch", torch):
                    continue
                rows_t = [r for r in rows_tn if r.torch == torch]
                for cann in _cann_candidates(ctx, [s for r in rows_t for s in r.cann]):
                    rows_c = [r for r in rows_t if any(s.contains(cann) for s in r.cann)]
                    yield {"cann": (cann, []), "torch_npu": (tn, rows_c), "torch": (torch, [])}
    else:
        for cann in _newest(all_cann):
            if ctx.pin_ok("cann", cann):
                yield {"cann": (cann, [])}


def _same_as(ctx: _Ctx, cann: Version) -> Version | None:
    rel = ctx.m.release(cann)
    return rel.same_as if rel else None


def _python_constraints(ctx: _Ctx, a: dict[str, Any]) -> list[Constraint]:
    out: list[Constraint] = []
    cann = a["cann"][0]
    rows = [r for r in ctx.m.cann_python if any(s.contains(cann) for s in r.cann)]
    by = f"CANN {cann}"
    alias = _same_as(ctx, cann)
    if not rows and alias is not None:
        rows = [r for r in ctx.m.cann_python if any(s.contains(alias) for s in r.cann)]
        by = f"CANN {cann} (as its commercial release {alias})"
    if rows:
        out.append(Constraint("python", tuple(s for r in rows for s in r.python), by,
                              "; ".join(sorted({r.meta.source for r in rows}))))
    if "mindspore" in a:
        ms, rows_ms = a["mindspore"]
        # a MindSpore release's Python is its wheels', whichever CANN row was used: a row that names no Python (one
        # page's CANN pairing) takes the Python of the release's other rows
        rows_py = [r for r in rows_ms if r.python] or [r for r in ctx.rows("mindspore") if r.version == ms and r.python]
        if rows_py:
            out.append(Constraint("python", tuple(s for r in rows_py for s in r.python), f"MindSpore {ms}",
                                  "; ".join(sorted({r.meta.source for r in rows_py}))))
        mf, rows_mf = a["mindformers"]
        rows_py = [r for r in rows_mf if r.python]
        if mf is not None and rows_py:
            out.append(Constraint("python", tuple(s for r in rows_py for s in r.python), f"MindFormers {mf}",
                                  "; ".join(sorted({r.meta.source for r in rows_py}))))
    if "torch" in a:
        torch = a["torch"][0]
        rows_t = [r for r in ctx.rows("torch") if r.version == torch and r.python]
        if rows_t:
            out.append(Constraint("python", tuple(s for r in rows_t for s in r.python), f"torch {torch}",
                                  "; ".join(sorted({r.meta.source for r in rows_t}))))
    pin = ctx.pins.get("python")
    if pin is not None:
        out.append(Constraint("python", (pin,), "your pin", ""))
    return out


def choose_python(constraints: Sequence[Constraint]) -> Version | None:
    """The newest Python every constraint admits: ``3.10`` (any patch) or ``3.11.4`` (a capped patch)."""
    for major, minor in _PY_MINORS:
        ok_patches = [p for p in range(_PY_MAX_PATCH, -1, -1)
                      if all(c.allows(Version.parse(f"{major}.{minor}.{p}", "python")) for c in constraints)]
        if not ok_patches:
            continue
        if ok_patches[0] == _PY_MAX_PATCH:
            return Version.parse(f"{major}.{minor}", "python")
        return Version.parse(f"{major}.{minor}.{ok_patches[0]}", "python")
    return None


def _hdk(ctx: _Ctx, cann: Version, part: str) -> tuple[list[Any], Constraint | None]:
    def rows_for(v: Version) -> list[Any]:
        return [r for r in ctx.m.cann_hdk if r.cann == v and getattr(r, part)
                and (ctx.chip is None or ctx.chip.id in r.chips)]
    rows, by = rows_for(cann), f"CANN {cann}"
    alias = _same_as(ctx, cann)
    if not rows and alias is not None:
        rows, by = rows_for(alias), f"CANN {cann} (as its commercial release {alias})"
    if not rows:
        return [], None
    rel = ctx.m.release(cann)
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
        rows, c = _hdk(ctx, cann, part)
        pin = ctx.pins.get(part)
        pinned_v = pin.exact if pin is not None else None
        if c is not None and pinned_v is not None and not c.allows(pinned_v):
            return None
        if c is None and pinned_v is not None and ctx.pref:
            return None  # an installed driver/firmware needs evidence; unproven CANNs only in the second tier
        comp = Component(part, pinned_v, pinned=pinned_v is not None, constraints=[c] if c else [],
                         sources=[r.meta.source for r in rows], recommended=_recommended(rows, part) if rows else None)
        if c is None:
            chip = f" on {ctx.chip.id}" if ctx.chip else ""
            comp.notes.append(f"the matrix has no {part} pairing for CANN {cann}{chip}; "
                              f"the on-disk compatible_version rules still apply")
        comps[part] = comp
        if pinned_v is not None and rows:
            row = _earlier([r for r in rows if any(sp.contains(pinned_v) for sp in getattr(r, part))])
            if row is not None:
                warnings.append(_earlier_note(f"{part} {pinned_v} with CANN {cann}", row))
    py_cs = _python_constraints(ctx, a)
    py = choose_python(py_cs)
    if py is None:
        return None
    rel = ctx.m.release(cann)
    comps["cann"] = Component("cann", cann, pinned="cann" in ctx.pins, sources=[rel.meta.source] if rel else [])
    if rel and rel.channel == "community":
        comps["cann"].notes.append("community (alpha/beta) release")
    comps["python"] = Component("python", py, pinned="python" in ctx.pins, constraints=py_cs,
                                sources=[c.source for c in py_cs if c.source])
    if not any(c.by.startswith("CANN") for c in py_cs):
        warnings.append(f"the matrix has no Python range for CANN {cann}; Python {py} comes from the framework rows")
    for name in ("mindspore", "mindformers", "torch", "torch_npu"):
        if name not in a:
            continue
        v, rows = a[name]
        comp = Component(name, v, pinned=name in ctx.pins and ctx.pins[name] != "none",
                         sources=[r.meta.source for r in rows])
        comp.notes += sorted({r.meta.note for r in rows if r.meta.note})
        if name == "torch":
            comp.sources = [r.meta.source for r in ctx.m.torch if r.version == v]
            by_py = [r for r in ctx.m.torch if r.version == v and r.python and any(sp.contains(py) for sp in r.python)]
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
        comps[name] = comp
    return comps, warnings


def _search(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any]) -> tuple[dict, list, str] | None:
    for preferred_only in (True, False):
        ctx = _Ctx(m, chip, framework, pins, preferred_only)
        for a in _assignments(ctx):
            result = _evaluate(ctx, a)
            if result is not None:
                # a row used only because it was pinned and a later page version changed it makes the stack
                # "documented earlier" in either pass (an installed driver is checked against every HDK row)
                earlier = any(f" is {EARLIER}: " in w for w in result[1])
                return result[0], result[1], EARLIER if earlier else "preferred" if preferred_only else "accepted"
    return None


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


def _feasible(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any],
              component: str, limit: int = 3) -> list[str]:
    """Values of ``component`` that some stack with ``pins`` allows (newest first, at most ``limit``)."""
    if component in ("driver", "firmware"):
        r = _search(m, chip, framework, pins)
        if r is None:
            return []
        comp = r[0][component]
        out = [c.describe() for c in comp.constraints]
        if comp.recommended:
            out.append(f"recommended {comp.recommended}")
        return out
    if component == "python":
        out = []
        for major, minor in _PY_MINORS:
            p = dict(pins, python=parse_spec(f"=={major}.{minor}.*", "python"))
            if _search(m, chip, framework, p) is not None:
                out.append(f"{major}.{minor}")
            if len(out) >= limit:
                break
        return out
    out = []
    for v in m.versions(component):
        p = dict(pins, **{component: parse_spec(f"=={v.canonical}", component)})
        if _search(m, chip, framework, p) is not None:
            out.append(str(v))
            if len(out) >= limit:
                break
    return out


def _direct_rule(m: Matrix, a: str, av: Any, b: str) -> tuple[str, str]:
    """What the matrix says component ``a`` (pinned to ``av``) needs of ``b``: (text, source)."""
    v = av.exact
    if v is None:
        return "", ""

    def fmt(specs: Iterable[Any]) -> str:
        return " or ".join(sorted({str(s) for s in specs}))

    pairs: dict[tuple[str, str], Any] = {
        ("mindspore", "cann"): lambda: [(r.cann, r.meta.source) for r in m.mindspore if r.version == v],
        ("mindformers", "mindspore"): lambda: [(r.mindspore, r.meta.source) for r in m.mindformers if r.version == v],
        ("torch_npu", "cann"): lambda: [(r.cann, r.meta.source) for r in m.torch_npu if r.version == v],
        ("torch_npu", "torch"): lambda: [([parse_spec(f"=={r.torch}", "torch")], r.meta.source)
                                         for r in m.torch_npu if r.version == v],
        ("torch", "python"): lambda: [(r.python, r.meta.source) for r in m.torch if r.version == v and r.python],
        ("mindformers", "python"): lambda: [(r.python, r.meta.source) for r in m.mindformers
                                            if r.version == v and r.python],
        ("mindspore", "python"): lambda: [(r.python, r.meta.source) for r in m.mindspore
                                          if r.version == v and r.python],
        ("cann", "python"): lambda: [(r.python, r.meta.source) for r in m.cann_python
                                     if any(s.contains(v) for s in r.cann)],
        ("cann", "driver"): lambda: [(r.driver, r.meta.source) for r in m.cann_hdk if r.cann == v and r.driver],
        ("cann", "firmware"): lambda: [(r.firmware, r.meta.source) for r in m.cann_hdk if r.cann == v and r.firmware],
    }
    fn = pairs.get((a, b))
    if fn is None:
        return "", ""
    found = fn()
    if not found:
        return "", ""
    specs = [s for specs, _ in found for s in specs]
    return fmt(specs), "; ".join(sorted({src for _, src in found}))


def _explain(m: Matrix, chip: Chip | None, framework: str | None, pins: dict[str, Any]) -> list[Violation]:
    out: list[Violation] = []
    names = [n for n in PIN_COMPONENTS if n in pins and pins[n] != "none"]
    for a, b in itertools.combinations(names, 2):
        pair = {a: pins[a], b: pins[b]}
        if _search(m, chip, framework, pair) is not None:
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
        keep_first = _feasible(m, chip, framework, {first: pins[first]}, second)
        keep_second = _feasible(m, chip, framework, {second: pins[second]}, first)
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
            if _search(m, chip, framework, {n: pins[n]}) is None:
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
    """Resolve ``request`` against matrix ``m``."""
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
        return Conflict(request, violations)
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
    from .pydeps import python_deps

    deps = python_deps(m, cann, comps["python"].version)
    return Stack(request, chip, arch, framework, tier, comps, installers, warnings, python_deps=deps)


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
