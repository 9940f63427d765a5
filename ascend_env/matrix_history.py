"""The matrix checked against every version of the pages it cites (``ascend-env matrix audit``).

``ascend_env/data/page_history.yaml`` (built by ``scripts/matrix_history.py`` from per-page readings) lists, per
page, every version read and every pairing each states.  :func:`audit` answers, for the matrix:

* per row citing ``owner/repo: path (ref)``: which versions of that page were read, which of them state the row's
  pairing, and whether the row's own ref is one of them;
* problems: a row whose source names no version (``missing-ref``), a ref that is not among the versions read
  (``unknown-ref``), a ref whose version does not state the row's pairing (``not-stated``), a ``superseded_by``
  naming an unknown version or one that still states the pairing;
* every pairing the pages state (in the matrix's scope) that no row accepts (``unencoded``), unless
  page_history.yaml's ``ignored:`` list gives the reason it is not encoded.

The history is read only here, never by :func:`ascend_env.matrix.load_matrix` (the resolver does not need it).
Pure functions apart from :func:`load_history`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import AscendEnvError
from .matrix import _LOCAL_RE, SECTIONS, Matrix, _data_dir
from .versions import Spec, Version, VersionError, parse_spec

__all__ = ["AuditReport", "History", "HistoryError", "HistoryPairing", "Page", "RowReport", "accepts", "audit",
           "load_history", "python_report", "row_states", "split_source", "versions_read"]

HISTORY_FILE = "page_history.yaml"
CHIPS = ("910b", "310p", "300i-duo")
#: pairing keys in display order
KEYS = ("mindformers", "mindspore", "torch_npu", "torch", "cann", "driver", "firmware", "chips", "python")
_REF_RE = re.compile(r"^(?P<page>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+: \S.*?)(?: \((?P<ref>[^()]*)\))?$")


def split_source(source: str) -> tuple[str, str | None]:
    """``"owner/repo: path (ref)"`` -> (``"owner/repo: path"``, ``"ref"``); a source without a ref -> (.., None)."""
    m = _REF_RE.match(source.strip())
    if not m:
        return source.strip(), None
    return m["page"], m["ref"]


def _is_repo(source: str) -> bool:
    return bool(re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+: \S", source))


# --- the history -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryPairing:
    source: str
    values: dict[str, Any]
    refs: tuple[str, ...]

    @property
    def concern(self) -> str:
        v = self.values
        if "torch_npu" in v:
            return "torch_npu"
        if "mindformers" in v:
            return "mindformers"
        if "mindspore" in v:
            return "mindspore"
        if "driver" in v or "firmware" in v:
            return "cann_hdk"
        if "torch" in v:
            return "torch"
        return "cann_python"

    def describe(self) -> str:
        return ", ".join(f"{k} {_text(self.values[k])}" for k in KEYS if k in self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "concern": self.concern, **self.values, "refs": list(self.refs)}


def _text(v: Any) -> str:
    return "/".join(v) if isinstance(v, list) else str(v)


@dataclass
class Page:
    source: str
    concerns: tuple[str, ...]
    versions: list[dict[str, Any]]
    pairings: list[HistoryPairing]
    history_commits: int = 0
    _known: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for v in self.versions:
            ref = str(v["ref"])
            for alias in [ref, *[str(a) for a in v.get("also", [])]]:
                self._known.setdefault(alias, ref)
            if v.get("commit"):
                self._known.setdefault(f"@{v['commit']}", ref)
        for p in self.pairings:
            for r in p.refs:
                self._known.setdefault(r, r)

    def version_of(self, ref: str) -> str | None:
        """The version (as ``pairings`` cite it) a ref names: itself, an alias with the same content, or a commit."""
        if ref in self._known:
            return self._known[ref]
        m = re.match(r"^@([0-9a-f]{7,40})$", ref)
        if m:
            for known, canon in self._known.items():
                k = re.match(r"^(?:.+)?@([0-9a-f]{7,40})$", known)
                if k and (k[1].startswith(m[1][:8]) or m[1].startswith(k[1])):
                    return canon
        return None

    @property
    def version_refs(self) -> set[str]:
        return {str(v["ref"]) for v in self.versions}

    @property
    def newest(self) -> str:
        return str(self.versions[-1]["ref"]) if self.versions else ""


@dataclass(frozen=True)
class Ignored:
    source: str
    pairing: dict[str, Any]
    reason: str

    def matches(self, p: HistoryPairing) -> bool:
        return p.source == self.source and all(p.values.get(k) == v for k, v in self.pairing.items())


@dataclass(frozen=True)
class Unread:
    source: str
    reason: str


@dataclass
class History:
    pages: dict[str, Page]
    ignored: list[Ignored]
    unread: list[Unread]
    problems: list[str] = field(default_factory=list)

    def count(self, concern: str) -> int:
        """Page versions read (refs plus intermediate states) over the pages whose pairings bear on ``concern``."""
        return sum(len(p.versions) + p.history_commits for p in self.pages.values() if concern in p.concerns)


class HistoryError(AscendEnvError, ValueError):
    """A page history file that cannot be read: missing, not UTF-8, not YAML, or not a mapping."""


def _loader() -> Any:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_history(path: str | Path | None = None) -> History:
    """Read page_history.yaml (the packaged one by default); :class:`HistoryError` when the file cannot be read as
    one (its entries' own faults are the history's ``problems``)."""
    p = Path(path) if path else _data_dir() / HISTORY_FILE
    fix = "pass the page_history.yaml that scripts/matrix_history.py writes, or leave --history out"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise HistoryError(f"cannot read the page history {p}: {exc.strerror or exc}; {fix}") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"the page history {p} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                           f"{exc.start}); {fix}") from None
    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise HistoryError(f"the page history {p} is not valid YAML ({' '.join(str(exc).split())}); {fix}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise HistoryError(f"the page history {p} holds a {type(doc).__name__}, not a mapping with pages:, ignored: "
                           f"and unread:; {fix}")
    for key in ("pages", "ignored", "unread"):
        if doc.get(key) is not None and not isinstance(doc[key], list):
            raise HistoryError(f"the page history {p}: {key}: must be a list, got a {type(doc[key]).__name__}; {fix}")
    problems: list[str] = []
    pages: dict[str, Page] = {}
    for i, raw in enumerate(doc.get("pages") or []):
        where = f"{p.name}:pages[{i}]"
        try:
            source = str(raw["source"])
            pairings = [HistoryPairing(source, {k: v for k, v in d.items() if k != "refs"},
                                       tuple(str(r) for r in d.get("refs") or ()))
                        for d in raw.get("pairings") or []]
            pages[source] = Page(source, tuple(raw.get("concerns") or ()), list(raw.get("versions") or []),
                                 pairings, int(raw.get("history_commits") or 0))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{where}: malformed page entry ({exc}); rebuild it with scripts/matrix_history.py")
    ignored = []
    for i, raw in enumerate(doc.get("ignored") or []):
        if not isinstance(raw, dict) or not raw.get("source") or not raw.get("pairing") or not raw.get("reason"):
            problems.append(f"{p.name}:ignored[{i}]: needs source, pairing (the values it matches) and reason")
            continue
        ignored.append(Ignored(str(raw["source"]), dict(raw["pairing"]), str(raw["reason"])))
    unread = []
    for i, raw in enumerate(doc.get("unread") or []):
        if not isinstance(raw, dict) or not raw.get("source") or not raw.get("reason"):
            problems.append(f"{p.name}:unread[{i}]: needs source (with its ref) and reason")
            continue
        unread.append(Unread(str(raw["source"]), str(raw["reason"])))
    return History(pages, ignored, unread, problems)


# --- does the matrix accept a pairing? -------------------------------------------------------------
@functools.lru_cache(maxsize=8192)
def _version(text: str, component: str) -> Version | None:
    try:
        return Version.parse(text, component)
    except VersionError:
        return None


@functools.lru_cache(maxsize=8192)
def _spec(text: str, component: str) -> Spec | None:
    try:
        return parse_spec(text, component)
    except VersionError:
        return None


def _open_range(s: Spec) -> bool:
    return s.canonical.startswith((">=", ">")) and "<" not in s.canonical


def _covers(specs: Sequence[Spec], value: str, component: str) -> bool:
    """Do ``specs`` (a row's accepted list) admit ``value`` (an exact version, a series ``X.*`` or ``>=X``)?"""
    if value.startswith((">", "<")) or value.endswith(".*"):
        want = _spec(value, component)
        if want is None:
            return False
        if any(s.canonical == want.canonical for s in specs):
            return True
        base = _version(re.sub(r"^[<>=]+|\.\*$", "", value), component)
        return base is not None and any(_open_range(s) and s.contains(base) for s in specs)
    v = _version(value, component)
    return v is not None and any(s.contains(v) for s in specs)


_PY_ALL = tuple(Version.parse(f"3.{minor}.{patch}", "python") for minor in range(6, 16) for patch in range(0, 41))


def _python_specs(value: Any) -> list[Spec] | None:
    items = value if isinstance(value, list) else [value]
    specs = [_spec(str(x), "python") for x in items]
    return None if any(s is None for s in specs) else specs  # type: ignore[return-value]


def _python_covered(value: Any, specs: Sequence[Spec]) -> bool:
    """Every Python the page names is admitted by ``specs`` (a union)."""
    want = _python_specs(value)
    if want is None:
        return False
    return _grid_set(want) <= _grid_set(specs)


def _canns(m: Matrix, value: str) -> list[Version]:
    """The CANN releases a pairing's CANN names: itself, or the defined (non-pre-release) releases of a series or
    range."""
    if value.startswith((">", "<")) or value.endswith(".*"):
        spec = _spec(value, "cann")
        if spec is None:
            return []
        return [r.version for r in m.releases if spec.contains(r.version) and not r.version.key.pre]  # type: ignore[union-attr]
    v = _version(value, "cann")
    return [v] if v is not None else []


def _chips(p: HistoryPairing) -> list[str]:
    c = p.values.get("chips")
    return list(c) if c else list(CHIPS)


def accepts(m: Matrix, p: HistoryPairing) -> bool:
    """Would the matrix accept this pairing, the way the resolver reads its rows (several rows for one version are
    a union; a community build without HDK/Python rows of its own takes its ``same_as`` release's)?"""
    v = p.values
    c = p.concern
    if c == "torch_npu":
        tn, t = _version(str(v["torch_npu"]), "torch_npu"), _version(str(v["torch"]), "torch")
        canns = _canns(m, str(v["cann"]))
        npu_rows = [r for r in m.torch_npu if r.version == tn and r.torch == t]
        return bool(tn and t and canns and npu_rows) and all(any(s.contains(x) for r in npu_rows for s in r.cann)
                                                             for x in canns)
    if c in ("mindspore", "mindformers"):
        version = _version(str(v[c]), c)
        other = "cann" if c == "mindspore" else "mindspore"
        if version is None:
            return False
        cands = [r for r in getattr(m, c) if r.version == version and _covers(getattr(r, other), str(v[other]), other)]
        if not cands:
            return False
        py_rows = [r for r in cands if r.python]
        return "python" not in v or not py_rows or _python_covered(v["python"], [s for r in py_rows for s in r.python])
    if c == "torch":
        t = _version(str(v["torch"]), "torch")
        torch_rows = [r for r in m.torch if r.version == t and r.python]
        return bool(torch_rows) and _python_covered(v["python"], [s for r in torch_rows for s in r.python])
    canns = _canns(m, str(v["cann"]))
    if c == "cann_python":
        for x in canns:
            cp_rows = [r for r in m.cann_python if any(s.contains(x) for s in r.cann)]
            rel = m.release(x)
            if not cp_rows and rel is not None and rel.same_as is not None:
                cp_rows = [r for r in m.cann_python if any(s.contains(rel.same_as) for s in r.cann)]
            if not cp_rows or not _python_covered(v["python"], [s for r in cp_rows for s in r.python]):
                return False
        return bool(canns)
    part = "driver" if "driver" in v else "firmware"
    for x in canns:
        for chip in _chips(p):
            def for_cann(y: Version, chip: str = chip) -> list[Any]:
                return [r for r in m.cann_hdk if r.cann == y and getattr(r, part) and chip in r.chips]
            cands = for_cann(x)
            rel = m.release(x)
            if not cands and rel is not None and rel.same_as is not None:
                cands = for_cann(rel.same_as)
            if not _covers([s for r in cands for s in getattr(r, part)], str(v[part]), part):
                return False
    return bool(canns)


def _python_within(row_specs: Sequence[Spec], value: Any) -> bool:
    """Every Python ``row_specs`` admit is one the page names (the row claims no more than the page says)."""
    want = _python_specs(value)
    if want is None:
        return False
    return _grid_set(row_specs) <= _grid_set(want)


def row_states(m: Matrix, section: str, row: Any, p: HistoryPairing) -> bool:
    """Does page pairing ``p`` state (support) matrix ``row``?  The row's versions match the page's, the page's value
    is among the row's accepted ones, and a Python range the row claims is within what the page says."""
    v = p.values
    if _ROW_CONCERN.get(section) != p.concern:
        return False
    if section == "torch_npu":
        return (_version(str(v["torch_npu"]), "torch_npu") == row.version
                and _version(str(v["torch"]), "torch") == row.torch
                and any(any(s.contains(x) for s in row.cann) for x in _canns(m, str(v["cann"]))))
    if section in ("mindspore", "mindformers", "torch"):
        if _version(str(v[section]), section) != row.version:
            return False
        if section != "torch":
            other = "cann" if section == "mindspore" else "mindspore"
            if not _covers(getattr(row, other), str(v[other]), other):
                return False
        return not row.python or ("python" in v and _python_within(row.python, v["python"]))
    if section == "cann_python":
        return (any(any(s.contains(x) for s in row.cann) for x in _canns(m, str(v["cann"])))
                and _python_within(row.python, v["python"]))
    part = "driver" if "driver" in v else "firmware"
    return (row.cann in _canns(m, str(v["cann"])) and not set(row.chips).isdisjoint(_chips(p))
            and _covers(getattr(row, part), str(v[part]), part))


def _states_exactly(section: str, row: Any, p: HistoryPairing) -> bool:
    """``p`` states one of the row's values as the row writes it (for superseded_by: the later version must not)."""
    def canon(specs: Sequence[Spec]) -> set[str]:
        return {s.canonical for s in specs}

    def same(value: Any, specs: Sequence[Spec], component: str) -> bool:
        items = value if isinstance(value, list) else [value]
        got = [_spec(str(x), component) for x in items]
        return all(g is not None for g in got) and {g.canonical for g in got} <= canon(specs)  # type: ignore[union-attr]

    v = p.values
    if section in ("torch", "mindspore", "mindformers", "cann_python") and row.python and (
            "python" not in v or {s.canonical for s in (_python_specs(v["python"]) or [])} != canon(row.python)):
        return False
    if section == "cann_hdk":
        part = "driver" if "driver" in v else "firmware"
        return same(v[part], getattr(row, part), part)
    if section == "torch_npu":
        return same(v["cann"], row.cann, "cann")
    if section == "mindspore":
        return same(v["cann"], row.cann, "cann")
    if section == "mindformers":
        return same(v["mindspore"], row.mindspore, "mindspore")
    return True


# --- the audit ------------------------------------------------------------------------------------
_ROW_CONCERN = {"mindspore": "mindspore", "mindformers": "mindformers", "torch": "torch", "torch_npu": "torch_npu",
                "cann_hdk": "cann_hdk", "cann_python": "cann_python"}


@dataclass
class RowReport:
    where: str
    section: str
    source: str
    status: str            # ok, missing-ref, unknown-ref, not-stated, unread, no-history, url, local
    page: str = ""
    ref: str | None = None
    versions_read: int = 0
    stated_at: list[str] = field(default_factory=list)
    message: str = ""
    #: the Python range the row states ("" when it states none)
    python: str = ""

    @property
    def problem(self) -> bool:
        return self.status in ("missing-ref", "unknown-ref", "not-stated", "superseded")

    def to_dict(self) -> dict[str, Any]:
        d = {"where": self.where, "section": self.section, "source": self.source, "status": self.status,
             "versions_read": self.versions_read, "stated_at": self.stated_at}
        if self.message:
            d["message"] = self.message
        if self.python:
            d["python"] = self.python
        return d


@dataclass
class AuditReport:
    rows: list[RowReport]
    unencoded: list[HistoryPairing]
    ignored: list[tuple[HistoryPairing, str]]
    history_problems: list[str]
    pages: int = 0
    versions: int = 0
    #: every Python range the rows state, the page stating it, and the components whose pages disagree
    python: dict[str, Any] = field(default_factory=dict)

    @property
    def checked_nothing(self) -> bool:
        """An empty page history: no row was checked against anything."""
        return self.pages == 0

    @property
    def problems(self) -> list[RowReport]:
        return [r for r in self.rows if r.problem]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unencoded and not self.history_problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "pages": self.pages, "versions": self.versions,
                "problems": [r.to_dict() for r in self.problems] + [{"message": p} for p in self.history_problems],
                "rows": [r.to_dict() for r in self.rows],
                "unencoded": [p.to_dict() for p in self.unencoded],
                "ignored": [{**p.to_dict(), "reason": why} for p, why in self.ignored],
                "python": self.python}


def _suggest(page: Page, stated: Sequence[str]) -> str:
    return stated[-1] if stated else page.newest


#: sections whose rows list several accepted values, each of which the citing version must state
_LISTED = {"mindspore": ("cann", "cann"), "mindformers": ("mindspore", "mindspore"), "torch_npu": ("cann", "cann"),
           "cann_hdk": ("hdk", "driver")}


def _stated_at(m: Matrix, section: str, row: Any, page: Page) -> list[str]:
    """The versions of ``page`` that state ``row``'s pairing (oldest first, as the page lists them)."""
    refs: list[str] = []
    if section == "releases":
        hits = [p for p in page.pairings if (x := _version(str(p.values.get("cann", "")), "cann")) is not None
                and x == row.version]
    elif section in _ROW_CONCERN:
        hits = [p for p in page.pairings if row_states(m, section, row, p)]
    else:
        return refs
    for p in hits:
        for r in p.refs:
            if r not in refs:
                refs.append(r)
    listed = _LISTED.get(section)
    if listed:   # a version states the row only if it states every value the row lists (cann: [a, b] -> a and b)
        key, component = listed
        parts = [(key, component)] if key != "hdk" else [("driver", "driver"), ("firmware", "firmware")]
        refs = [r for r in refs if all(any(r in p.refs and _covers([spec], str(p.values.get(c, "")), c) for p in hits)
                                       for k, c in parts for spec in getattr(row, k))]
    if section == "torch_npu" and row.python:
        # the release's Python: what the same version of the page states for its PyTorch line
        refs = [r for r in refs if _python_within(row.python, _torch_python_at(page, str(row.torch), r))]
    order = {str(v["ref"]): i for i, v in enumerate(page.versions)}
    return sorted(refs, key=lambda r: (r not in order, order.get(r, 0), r))


def _torch_python_at(page: Page, torch: str, ref: str) -> list[str]:
    """The Python the page states for PyTorch ``torch`` at version ``ref`` (a union of its statements)."""
    out: list[str] = []
    for p in page.pairings:
        if p.concern == "torch" and ref in p.refs and _version(str(p.values["torch"]), "torch") == \
                _version(torch, "torch"):
            values = p.values["python"]
            out += [str(x) for x in (values if isinstance(values, list) else [values])]
    return out


#: the history holds pairings in the issue's scope only; older rows are checked for their ref, not their pairing
_FLOOR = {"mindspore": (2, 2), "mindformers": (0, 8), "torch": (2, 1), "torch_npu": (2, 1), "releases": (7, 0),
          "cann_hdk": (7, 0), "cann_python": (7, 0)}


def in_scope(m: Matrix, section: str, row: Any) -> bool:
    """Is ``row`` within the history's scope (MindSpore >= 2.2, MindFormers >= 0.8, torch/torch_npu >= 2.1, CANN
    >= 7.0 for HDK/Python and releases)?"""
    floor = _FLOOR.get(section)
    if floor is None:
        return False
    if section == "cann_hdk":
        return bool(row.cann.release[:2] >= floor)
    if section == "cann_python":
        return any(s.contains(r.version) for s in row.cann for r in m.releases if r.version.release[:2] >= floor)
    return bool(row.version.release[:2] >= floor)


def _row_report(m: Matrix, h: History, section: str, row: Any) -> list[RowReport]:
    meta = row.meta
    out = []
    py = " or ".join(str(x) for x in getattr(row, "python", ()) or ())
    for source in [s.strip() for s in meta.source.split(";") if s.strip()]:
        r = RowReport(meta.where, section, source, "ok", python=py)
        out.append(r)
        if _LOCAL_RE.match(source):
            r.status = "local"
            continue
        if not _is_repo(source):
            r.status = "url"
            continue
        page_name, ref = split_source(source)
        r.page, r.ref = page_name, ref
        page = h.pages.get(page_name)
        stated = _stated_at(m, section, row, page) if page else []
        r.stated_at, r.versions_read = stated, (len(page.versions) + page.history_commits) if page else 0
        if ref is None:
            hint = f" ({_suggest(page, stated)})" if page else " (<tag, branch or @commit>)"
            r.status = "missing-ref"
            r.message = (f"source {source!r} names no version of the page; append the ref it was read at, e.g. "
                         f"{page_name + hint!r}")
            continue
        if page is None:
            r.status = "no-history"
            continue
        canon = page.version_of(ref)
        if canon is None:
            if any(u.source == source for u in h.unread):
                r.status = "unread"
                continue
            r.status = "unknown-ref"
            known = ", ".join(str(v["ref"]) for v in page.versions[-3:])
            r.message = (f"ref {ref!r} is not among the {r.versions_read} versions of {page_name!r} read (e.g. "
                         f"{known}); cite a version that was read, or add its reading and rebuild page_history.yaml")
            continue
        if (section in _ROW_CONCERN or section == "releases") and in_scope(m, section, row) and canon not in stated:
            r.status = "not-stated"
            tips = [x for x in stated if x in page.version_refs]
            shown = ", ".join(tips[-3:]) + (f" (and {len(stated) - len(tips)} intermediate commits)"
                                             if len(stated) > len(tips) else "")
            where = f"it is stated at {shown or ', '.join(stated[-3:])}" if stated else \
                "no version of the page read states it"
            r.message = f"the page at ({ref}) does not state this row's pairing; {where}"
            continue
        problem = _superseded_problem(m, h, section, row, page)
        if problem:
            r.status, r.message = "superseded", problem
    return out


def _superseded_problem(m: Matrix, h: History, section: str, row: Any, page: Page) -> str:
    """What is wrong with the row's ``superseded_by`` (empty: nothing, or none given)."""
    sup = row.meta.superseded_by
    if not sup or not _is_repo(sup):
        return ""
    sp, sref = split_source(sup)
    if sref is None:
        return (f"superseded_by {sup!r} names no version of the page; append the later version's ref, "
                f"e.g. ({page.newest})")
    spage = h.pages.get(sp)
    if spage is None:
        return ""
    scanon = spage.version_of(sref)
    if scanon is None:
        return f"superseded_by names ref {sref!r}, which is not among the versions of {sp!r} read"
    if spage is page and any(scanon in p.refs and row_states(m, section, row, p) and _states_exactly(section, row, p)
                             for p in page.pairings):
        return (f"superseded_by ({sref}) still states this pairing, so the row is not documented earlier; "
                f"drop superseded_by")
    return ""


def audit(m: Matrix, h: History) -> AuditReport:
    rows: list[RowReport] = []
    for section in SECTIONS:
        for row in getattr(m, section):
            rows += _row_report(m, h, section, row)
    unencoded: list[HistoryPairing] = []
    ignored: list[tuple[HistoryPairing, str]] = []
    for page in h.pages.values():
        for p in page.pairings:
            if accepts(m, p):
                continue
            why = next((i.reason for i in h.ignored if i.matches(p)), None)
            if why is not None:
                ignored.append((p, why))
            else:
                unencoded.append(p)
    problems = list(h.problems)
    if not h.pages:
        problems.insert(0, f"{HISTORY_FILE}: the page history holds no page, so no row was checked against any page "
                           f"version; pass the page_history.yaml that scripts/matrix_history.py writes")
    used = {id(i) for i in h.ignored for p, _ in ignored if i.matches(p)}
    for i in h.ignored:
        if id(i) not in used:
            problems.append(f"{HISTORY_FILE}: ignored entry {i.source}: {i.pairing} matches no unencoded pairing "
                            f"(encoded since, or mistyped); delete it")
    return AuditReport(rows, unencoded, ignored, problems, len(h.pages),
                       sum(len(p.versions) for p in h.pages.values()), python_report(m))


def versions_read(h: History) -> dict[str, str]:
    """concern -> "N in P pages": the page versions read (tips plus intermediate commits) for the README table."""
    out = {}
    for concern in ("cann_hdk", "cann_python", "mindspore", "mindformers", "torch", "torch_npu"):
        pages = [p for p in h.pages.values() if concern in p.concerns]
        out[concern] = f"{h.count(concern)} in {len(pages)} pages" if pages else "-"
    return out


# --- the Python ranges ---------------------------------------------------------------------------------------------
def _subject(m: Matrix, section: str, row: Any) -> str:
    if section == "cann_python":
        return "CANN " + " / ".join(str(c) for c in row.cann)
    if section == "torch_npu":
        return f"torch_npu {row.version} with CANN {' / '.join(str(c) for c in row.cann)}"
    if section == "mindspore":
        return f"MindSpore {row.version} with CANN {' / '.join(str(c) for c in row.cann)}"
    label = {"mindformers": "MindFormers", "torch": "torch"}[section]
    return f"{label} {row.version}"


def _grid_set(specs: Sequence[Spec]) -> frozenset[Version]:
    return _grid_set_of(tuple(specs))


@functools.lru_cache(maxsize=4096)
def _grid_set_of(specs: tuple[Spec, ...]) -> frozenset[Version]:
    return frozenset(v for v in _PY_ALL if any(s.contains(v) for s in specs))


def python_report(m: Matrix) -> dict[str, Any]:
    """Every row that states a Python range (the range, the page, the row) and every component whose pages disagree
    on it -- the statements the resolver combines (docs/matrix.md, "Python"): a CANN release's rows plus the framework
    rows that pair a release with it and state a Python; a torch_npu, MindSpore, MindFormers or torch release's rows.
    Where they disagree, a Python any of them states is accepted and the default is within all of them."""
    rows = []
    for section in ("cann_python", "torch_npu", "torch", "mindspore", "mindformers"):
        for row in getattr(m, section):
            if row.python:
                rows.append({"where": row.meta.where, "section": section, "subject": _subject(m, section, row),
                             "python": " or ".join(str(x) for x in row.python), "source": row.meta.source})
    groups: dict[str, list[tuple[str, tuple[Spec, ...]]]] = {}
    for rel in m.releases:
        cann = rel.version
        own = [r for r in m.cann_python if any(s.contains(cann) for s in r.cann)]
        if not own and rel.same_as is not None:
            own = [r for r in m.cann_python if any(s.contains(rel.same_as) for s in r.cann)]
        if not own:
            continue
        groups[f"CANN {cann}"] = [(r.meta.source, r.python) for r in own]
        ceiling = _grid_set([s for r in own for s in r.python])
        # a framework page that pairs a release with this CANN and states more than CANN's own pages: the stack is
        # accepted up to it, the default stays within CANN's pages
        for section, label in (("torch_npu", "torch_npu"), ("mindspore", "MindSpore")):
            for r in getattr(m, section):
                if r.python and any(s.contains(cann) for s in r.cann) and _grid_set(r.python) - ceiling:
                    groups.setdefault(f"CANN {cann} with {label} {r.version}", list(groups[f"CANN {cann}"])).append(
                        (r.meta.source, r.python))
    for section, label in (("torch_npu", "torch_npu"), ("torch", "torch"), ("mindspore", "MindSpore"),
                           ("mindformers", "MindFormers")):
        for row in getattr(m, section):
            if row.python and not row.meta.superseded_by:   # a documented-earlier row is not a current statement
                groups.setdefault(f"{label} {row.version}", []).append((row.meta.source, row.python))
    disagree = []
    for subject, stmts in groups.items():
        by_source: dict[str, list[Spec]] = {}
        for src, specs in stmts:
            by_source.setdefault(src, []).extend(specs)
        if len(by_source) < 2:
            continue
        sets = [_grid_set(specs) for specs in by_source.values()]
        union, common = frozenset().union(*sets), frozenset.intersection(*sets)
        if union == common:
            continue
        disagree.append({"subject": subject,
                         "statements": [{"python": " or ".join(dict.fromkeys(str(x) for x in specs)), "source": src}
                                        for src, specs in by_source.items()],
                         "default_within": _span(common), "accepted": _span(union)})
    return {"rows": rows, "disagreements": disagree}


def _span(vs: frozenset[Version]) -> str:
    """A set of grid Pythons as minor ranges: "3.8-3.10", "3.9.0-3.9.7"; "none" when empty."""
    if not vs:
        return "none"
    by_minor: dict[tuple[int, ...], list[int]] = {}
    for v in vs:
        by_minor.setdefault(v.release[:2], []).append(v.release[2])
    parts = []
    for minor in sorted(by_minor):
        patches = sorted(by_minor[minor])
        full = patches == list(range(0, 41))
        parts.append(f"{minor[0]}.{minor[1]}" if full else f"{minor[0]}.{minor[1]}.{patches[0]}-"
                                                             f"{minor[0]}.{minor[1]}.{patches[-1]}")
    return ", ".join(parts)
