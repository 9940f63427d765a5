"""Build ``ascend_env/data/page_history.yaml`` from per-page reading files (the evidence behind the matrix).

    python scripts/matrix_history.py import READINGS_DIR... [-o ascend_env/data/page_history.yaml]
    python scripts/matrix_history.py import READINGS_DIR... --check   # exit 1 if the committed file is stale
    python scripts/matrix_history.py import scripts/readings --extend  # add readings to the committed file

The readings the file was first built from are not kept in the repository; scripts/readings/ holds the ones read
since, which ``--extend`` merges into the committed file (``--extend --check``: exit 1 if it lacks them).

``matrix audit`` (``python -m ascend_env matrix audit``) checks the matrix against the file this writes.

The reading files
-----------------
One YAML file per page and reading pass (``*.yaml`` in each READINGS_DIR; other files are skipped; files that read
the same page are merged)::

    page: "Ascend/pytorch: README.md"          # owner/repo: path, as matrix rows cite it (without "(ref)")
    concerns: [torch_npu, torch]
    versions_read:                              # every version of the page read: one entry per distinct content
      - ref: "v2.1.0-6.0.rc1"                   # a branch or tag; "@<commit>" for a page read commit by commit
        also_refs: ["v2.2.0-6.0.rc1"]           # other branches/tags holding the same content (optional)
        same_content_refs: ["@<commit>"]        # the same, for pages read commit by commit (optional)
        commit: "0123abcd45"                    # the commit the ref points to
        date: "2024-04-10"                      # optional (null when unknown)
        pairings:                               # every pairing the version states, values as the page writes them
          - {torch_npu: "2.1.0.post3", torch: "2.1.0", cann: "CANN 8.0.RC1", quote: "..."}
    history_read:                               # optional: states of the page between refs (intermediate commits)
      - {ref: "history@<commit>", commit: "<commit>", date: "...", pairings: [...]}

Pairing keys the matrix knows: cann, driver, firmware, chips, python, mindspore, mindformers, torch, torch_npu;
``kind`` qualifies cann_hdk/cann_python statements (exact, min, default, compat-Y, compat-N, page-wide, stack).
Every other key (quote, note, branch, pta, commercial, status, table, ...) is evidence for a reader, not imported.

What the import does (deterministic: same readings, same bytes)
---------------------------------------------------------------
* concerns: the matrix sections the page's imported pairings bear on (the reading's own list when none is in scope).
* versions: every entry of ``versions_read`` (ref, commit shortened to 8 hex digits, date, ``also`` = the other refs
  with the same content); ``history_read`` entries are counted in ``history_commits`` and their pairings cite
  ``@<commit8>``.
* each pairing is split into the matrix concerns it bears on, each normalised to matrix spelling:
  torch_npu {torch_npu, torch, cann}; torch {torch, python}; mindformers {mindformers, mindspore, python};
  mindspore {mindspore, cann, python}; cann_hdk {cann, driver | firmware, chips}; cann_python {cann, python}.
  A MindFormers row whose first cell is its branch ("r1.0") is that release on the branch's tag (r1.0 at tag
  v1.0.1 is 1.0.1) and is not imported elsewhere (it names no release).
  On MindFormers pages the Python is MindFormers' (on MindSpore's pages, MindSpore's); a MindSpore install page
  that names no MindSpore version is read at the version its release branch/tag names (r2.3.0 -> 2.3.0); a
  series branch (r2.2, r2.3.q1) names no release, so such a page's pairing is not imported.
* spelling: PEP 440 for Python packages ("2.6.0-rc1" -> "2.6.0rc1", "v2.3.0" -> "2.3.0"; MindFormers branch
  cells "r1.3.0" -> "1.3.0"); CANN as the page writes it minus "CANN " and with the community-beta suffix
  "-beta.N" written ".betaN" (the matrix's grammar); drivers minus "Ascend HDK " ("24.1RC1" -> "24.1.RC1"),
  a series "25.0.X" -> "25.0.*", a minimum ">= X" -> ">=X"; Python as ranges the matrix accepts ("3.9-3.11",
  "3.9, 3.10, 3.11", "cp39,cp310,cp311" -> ">=3.9,<3.12"; "3.11.4" -> "==3.11.4"; a list ending in a patch,
  "3.7, ..., 3.11.4" -> ">=3.7,<=3.11.4"; a union of separate minors stays a list).
* chips: 910b, 310p, 300i-duo as the page names them (Atlas A2 -> 910b; "300i-duo/310p" -> both); a page that
  names none applies to every chip (the key is left out), except the MindFormers and MindSpeed-LLM pages, which
  are Atlas A2 (910b) training suites.
* dropped, because they are not pairings of a release: PTA/TorchNPU product-version windows ("7.3.0 works with
  CANN 8.0.0 ... 8.5.0": they name no torch_npu package), ``kind: stack`` (a downstream project's own Python or
  driver requirement), ``kind: compat-N`` (a "not compatible" cell), placeholders that are not versions
  ("TBD", "尚未发布", "2023Q4商发", "RC2"), firmware given as an HDK bundle name ("Ascend HDK 24.1.RC1": the
  driver key carries it), MindFormers "dev" rows (a daily build), and values out of the matrix's scope:
  MindSpore < 2.2, MindFormers < 0.8, torch_npu and torch < 2.1, CANN < 7.0 for HDK/Python, chips other than
  910b / 310p / 300i-duo.  Values that are in scope but do not parse (typos such as "7.0.RC.beta1") are kept as
  written: the audit lists them, and page_history.yaml's ``ignored:`` list says why they are not encoded.
* ``ignored:`` (hand-written judgements) is kept from the existing output file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ascend_env.versions import Version, VersionError  # noqa: E402

DEFAULT_OUT = ROOT / "ascend_env" / "data" / "page_history.yaml"
HEADER = """\
# Every version of each compatibility page read for the matrix, and the pairings each states.  Built by
# scripts/matrix_history.py from per-page reading files; checked by `python -m ascend_env matrix audit`.
# Schema and rules: docs/matrix.md ("Page history").  Regenerate with
#   python scripts/matrix_history.py import <readings dir>
# `pages` is generated; `ignored` (pairings judged page errors, typos, daily builds or not a release's pairing)
# and `unread` (versions rows cite that no reading covers) are written by hand and kept by the import.
"""
KEYS = ("mindformers", "mindspore", "torch_npu", "torch", "cann", "driver", "firmware", "chips", "python")
CHIPS = ("910b", "310p", "300i-duo")
#: pages whose pairings are for 910B only (training suites that name no chip in their tables)
A2_ONLY = ("mindspore-lab/mindformers:", "mindspore-ai/docs: docs/mindformers/", "Ascend/MindSpeed-LLM:")


class Skip(Exception):
    """A value that is not a version in scope: the pairing (or that part of it) is not imported."""


# --- values ----------------------------------------------------------------------------------------
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _clean(text: Any) -> str:
    s = _LINK.sub(r"\1", str(text)).strip()
    return re.sub(r"\s+", " ", s)


def _release(text: str) -> tuple[int, int] | None:
    m = re.match(r"^[<>=v ]*(\d+)\.(\d+)", text)
    return (int(m[1]), int(m[2])) if m else None


def _parses(text: str, component: str) -> bool:
    try:
        Version.parse(text, component)
    except VersionError:
        return False
    return True


def norm_pep440(text: Any, component: str, floor: tuple[int, int]) -> str:
    """torch_npu / torch / MindSpore / MindFormers: PEP 440 spelling; Skip if below ``floor`` or not a version."""
    s = _clean(text)
    s = re.sub(r"^[vr](?=\d)", "", s)            # v2.3.0, r1.3.0 (a branch cell)
    s = re.sub(r"-(alpha|rc|beta)", r"\1", s)      # 2.6.0-rc1 -> 2.6.0rc1
    if not re.match(r"^\d+(\.\d+)+", s):
        raise Skip(f"{component} {text!r} is not a version")
    rel = _release(s)
    if rel is None or rel < floor:
        raise Skip(f"{component} {s} is out of scope")
    if not _parses(s, component):
        return s                                   # in scope but unparseable: kept as written
    return str(Version.parse(s, component))


def norm_cann(text: Any) -> list[str]:
    """CANN as the page writes it (several when a cell lists several); Skip when it is not a version."""
    s = _clean(text)
    if ":" in s and "," in s:                      # "every version offered by the page (...): 8.0.RC2, ..."
        s = s.rsplit(":", 1)[1]
    out = []
    for part in [p.strip() for p in s.split(",") if p.strip()]:
        part = re.sub(r"^CANN\s*", "", part)
        part = re.sub(r"^==\s*", "", part)
        op = ""
        m = re.match(r"^(>=|<=|>|<)\s*(.*)$", part)
        if m:
            op, part = m[1], m[2]
        part = re.sub(r"-(alpha|beta)\.(\d+)$", r".\1\2", part)   # 9.0.0-beta.1 -> 9.0.0.beta1
        part = re.sub(r"\.[xX]$", ".*", part)
        if not re.match(r"^\d+\.\d+", part):
            raise Skip(f"CANN {text!r} is not a version")
        out.append(op + part)
    if not out:
        raise Skip(f"CANN {text!r} is empty")
    return out


def norm_hdk(text: Any, part: str) -> list[str]:
    """Driver/firmware versions (several when the cell lists several)."""
    s = _clean(text)
    if part == "firmware" and "HDK" in s:
        raise Skip("firmware given as an HDK bundle name")
    out = []
    for item in re.split(r"\s*/\s*", s):
        item = re.sub(r"Ascend HDK\s*", "", item).strip()
        op = ""
        m = re.match(r"^(>=|<=|>|<)\s*(.*)$", item)
        if m:
            op, item = m[1], m[2]
        item = re.sub(r"(\d)RC(\d)", r"\1.RC\2", item)   # 24.1RC1 -> 24.1.RC1
        item = re.sub(r"\.[xX]$", ".*", item)
        if re.match(r"^\d+\.\d+$", item):                # "25.5 is recommended": the 25.5 series
            item += ".*"
        if not re.match(r"^\d+\.\d+", item):
            raise Skip(f"{part} {text!r} is not a version")
        out.append(op + item)
    return out


_PY_MAX = 99


def norm_python(text: Any) -> list[str]:
    """A Python statement as a union of ranges the matrix parses (usually one)."""
    s = _clean(text)
    s = re.sub(r"（", "(", re.sub(r"）", ")", s))
    s = re.sub(r"[Pp]ython\s*", "", s)
    s = re.sub(r"\*?x\*?", "x", s)
    m = re.match(r"^>=\s*(3\.\d+)\s*,\s*<\s*(3\.\d+)$", s)
    if m:
        return [f">={m[1]},<{m[2]}"]
    m = re.match(r"^(?:>=\s*)?(3\.\d+)(?: or higher)?$", s)
    if m and (">=" in s or "higher" in s):
        return [f">={m[1]}"]
    if re.match(r"^3\.\d+\.\*$", s):
        return [f"=={s}"]
    m = re.match(r"^(3)\.(\d+)\s*-\s*3\.(\d+)$", s)
    if m:
        return [f">=3.{m[2]},<3.{int(m[3]) + 1}"]
    if s.startswith("cp"):
        items = [f"3.{t.strip()[3:]}" for t in s.split(",")]
    else:
        items = [t.strip() for t in re.split(r"\s*(?:,\s*and\s+|,|、|/|\s+or\s+|\s+and\s+|，|和)\s*", s) if t.strip()]
    # intervals of (minor, lo_patch, hi_patch)
    iv: list[tuple[int, int, int]] = []
    for i, raw in enumerate(items):
        m = re.match(r"^3\.(\d+)\.x\s*\(3\.\d+\.(\d+)\s*~\s*3\.\d+\.(\d+)\)?$", raw)
        if m:
            iv.append((int(m[1]), int(m[2]), int(m[3])))
            continue
        item = re.sub(r"\s*\(.*\)$", "", raw).strip()
        m = re.match(r"^3\.(\d+)(?:\.x)?$", item)
        if m:
            lo = 0
            g = re.search(r">=\s*3\.\d+\.(\d+)|3\.\d+\.(\d+)及以上", raw)
            if g:
                lo = int(g[1] or g[2])
            iv.append((int(m[1]), lo, _PY_MAX))
            continue
        m = re.match(r"^3\.(\d+)\.(\d+)$", item)
        if m:
            minor, patch = int(m[1]), int(m[2])
            if len(items) == 1:
                iv.append((minor, patch, patch))
            elif i == len(items) - 1:
                iv.append((minor, 0, patch))          # "3.7, ..., 3.11.4": up to 3.11.4
            else:
                iv.append((minor, patch, _PY_MAX))    # "3.7.5, 3.8": from 3.7.5
            continue
        raise Skip(f"Python {text!r} is not a Python statement")
    iv.sort()
    merged: list[list[int]] = []   # [lo_minor, lo_patch, hi_minor, hi_patch]
    for minor, lo, hi in iv:
        if merged and merged[-1][3] == _PY_MAX and merged[-1][2] + 1 == minor and lo == 0:
            merged[-1][2:] = [minor, hi]
        else:
            merged.append([minor, lo, minor, hi])
    out = []
    for lo_m, lo_p, hi_m, hi_p in merged:
        if lo_m == hi_m and lo_p == hi_p:
            out.append(f"==3.{lo_m}.{lo_p}")
        elif lo_m == hi_m and lo_p == 0 and hi_p == _PY_MAX:
            out.append(f"==3.{lo_m}.*")
        else:
            lo = f">=3.{lo_m}" + (f".{lo_p}" if lo_p else "")
            hi = f"<3.{hi_m + 1}" if hi_p == _PY_MAX else f"<=3.{hi_m}.{hi_p}"
            out.append(f"{lo},{hi}")
    return out


_CHIP_RULES = (
    (re.compile(r"300i[- ]?duo", re.I), ("300i-duo",)),
    (re.compile(r"\b310p\b", re.I), ("310p",)),
    (re.compile(r"910b|\bA2\b|800T A2|910A/B", re.I), ("910b",)),
)


def norm_chips(text: Any) -> list[str]:
    s = _clean(text)
    out: list[str] = []
    if re.search(r"300i-duo/310p", s, re.I):
        return ["310p", "300i-duo"]
    for rx, ids in _CHIP_RULES:
        if rx.search(s):
            out += [i for i in ids if i not in out]
    if not out:
        raise Skip(f"chips {text!r} are out of scope")
    return [c for c in CHIPS if c in out]


# --- pairings ----------------------------------------------------------------------------------------
def _ms_from_ref(ref: str) -> str | None:
    m = re.match(r"^(?:r|v)(\d+\.\d+\.\d+(?:rc\d+)?)$", ref)
    return m[1] if m else None


def project(page: str, ref: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One page pairing -> normalised pairings, one per matrix concern it bears on (may be empty)."""
    kind = raw.get("kind")
    if kind in ("stack", "compat-N"):
        return []
    on_mf_page = "mindformers" in page          # MindFormers' README/VERSION_MAP and its docs pages
    out: list[dict[str, Any]] = []

    def attempt(fn) -> None:
        with contextlib.suppress(Skip):
            out.extend(fn())

    def cann_values() -> list[str]:
        vals = norm_cann(raw["cann"])
        keep = [v for v in vals if (_release(v) or (0, 0)) >= (7, 0)]
        if not keep:
            raise Skip("CANN out of scope")
        return keep

    py = None
    if "python" in raw:
        try:
            py = norm_python(raw["python"])
        except Skip:
            py = None
    pyval = (py[0] if len(py) == 1 else py) if py else None

    if "torch_npu" in raw and "torch" in raw and "cann" in raw:
        def tn():
            v = norm_pep440(raw["torch_npu"], "torch_npu", (2, 1))
            t = norm_pep440(raw["torch"], "torch", (2, 1))
            return [{"torch_npu": v, "torch": t, "cann": c} for c in norm_cann(raw["cann"])]
        attempt(tn)
    if "torch" in raw and pyval is not None:
        def tp():
            return [{"torch": norm_pep440(raw["torch"], "torch", (2, 1)), "python": pyval}]
        attempt(tp)

    ms_raw = raw.get("mindspore")
    if ms_raw is not None and re.match(r"^r\d+\.\d+(\.q\d+)?$", _clean(ms_raw)):
        ms_raw = None                                # a branch link (r2.2, r2.3.q1) names no release
    if ms_raw is None and "cann" in raw and "mindspore-ai/docs: install/" in page:
        ms_raw = _ms_from_ref(ref)
    if "mindformers" in raw and ms_raw is not None:
        def mf():
            if _clean(raw["mindformers"]).lower() == "dev":
                raise Skip("daily build")
            v = _clean(raw["mindformers"])
            m = re.match(r"^r(\d+\.\d+)(\.\d+)?$", v)
            if m and not m[2]:
                if not re.match(rf"^v{re.escape(m[1])}\.\d+$", ref):
                    raise Skip("a branch row (r1.0) names no release")
                v = ref[1:]                          # "r1.0" on tag v1.0.1 is 1.0.1
            d = {"mindformers": norm_pep440(v, "mindformers", (0, 8)),
                 "mindspore": norm_pep440(ms_raw, "mindspore", (2, 2))}
            if on_mf_page and pyval is not None:
                d["python"] = pyval
            return [d]
        attempt(mf)
    if ms_raw is not None and "cann" in raw:
        def ms():
            v = norm_pep440(ms_raw, "mindspore", (2, 2))
            rows = []
            for c in norm_cann(raw["cann"]):
                d = {"mindspore": v, "cann": c}
                if not on_mf_page and pyval is not None:
                    d["python"] = pyval
                rows.append(d)
            return rows
        attempt(ms)

    for part in ("driver", "firmware"):
        if part in raw and "cann" in raw:
            def hdk(part=part):
                vals = norm_hdk(raw[part], part)
                chips: list[str] | None = None
                if "chips" in raw:
                    chips = norm_chips(raw["chips"])
                elif page.startswith(A2_ONLY):
                    chips = ["910b"]
                rows = []
                for c in cann_values():
                    for v in vals:
                        d: dict[str, Any] = {"cann": c, part: v}
                        if chips and chips != list(CHIPS):
                            d["chips"] = chips
                        rows.append(d)
                return rows
            attempt(hdk)
    framework = any(k in raw for k in ("mindspore", "mindformers", "torch", "torch_npu")) or \
        "mindspore-ai/docs" in page
    if "cann" in raw and pyval is not None and not framework:
        def cp():
            return [{"cann": c, "python": pyval} for c in cann_values()]
        attempt(cp)
    return out


def _short(ref: str) -> str:
    """``history@<commit>`` / ``@<commit>`` -> ``@<commit8>``; ``branch@<commit>`` -> ``branch@<commit8>``."""
    m = re.match(r"^(?:history)?@([0-9a-f]{7,40})$", ref)
    if m:
        return f"@{m[1][:8]}"
    m = re.match(r"^(.+)@([0-9a-f]{7,40})$", ref)
    return f"{m[1]}@{m[2][:8]}" if m else ref


def _is_ref(text: str) -> bool:
    return bool(re.match(r"^[\w./@+-]+$", text))


def read_reading(path: Path) -> dict[str, Any] | None:
    """One reading file -> {page, concerns, entries: [{ref, also, commit, date, history, pairings}]}."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "page" not in doc:
        return None
    page = str(doc["page"])
    entries = []
    for history, section in ((False, "versions_read"), (True, "history_read")):
        for entry in doc.get(section) or []:
            ref = _short(str(entry.get("ref") or f"@{entry['commit']}"))
            also = [_short(str(r)) for r in (entry.get("also_refs") or []) + (entry.get("same_content_refs") or [])
                    if _is_ref(str(r))]
            pairings = [p for raw in entry.get("pairings") or [] for p in project(page, str(entry.get("ref", "")), raw)]
            entries.append({"ref": ref, "also": also, "commit": str(entry.get("commit", ""))[:8],
                            "date": str(entry["date"]) if entry.get("date") else "", "history": history,
                            "pairings": pairings})
    return {"page": page, "concerns": [str(c) for c in doc.get("concerns") or []], "entries": entries}


def merge(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """The readings of one page (a page may be read in several passes, e.g. one per concern) -> one page entry.

    A ref that one reading folds into another version ("same content") but another reading reads on its own
    becomes a version of its own, stating what the version it was folded into states plus its own pairings."""
    versions: dict[str, dict[str, Any]] = {}
    alias_of: dict[str, str] = {}
    found: dict[tuple, list[str]] = {}
    history: set[str] = set()
    concerns: list[str] = []

    def cite(key: tuple, ref: str) -> None:
        refs = found.setdefault(key, [])
        if ref not in refs:
            refs.append(ref)

    for reading in readings:
        concerns += [c for c in reading["concerns"] if c not in concerns]
        for e in reading["entries"]:
            ref = e["ref"]
            if e["history"]:
                history.add(ref)
            elif ref in versions:
                pass
            elif ref in alias_of:                        # promote: read on its own by this reading
                owner = versions[alias_of.pop(ref)]
                owner["also"].remove(ref)
                versions[ref] = {"ref": ref, "commit": e["commit"], "date": e["date"], "also": []}
                for refs in found.values():
                    if owner["ref"] in refs and ref not in refs:
                        refs.append(ref)
            else:
                versions[ref] = {"ref": ref, "commit": e["commit"], "date": e["date"], "also": []}
                for a in e["also"]:
                    if a not in versions and a not in alias_of:
                        alias_of[a] = ref
                        versions[ref]["also"].append(a)
            for p in e["pairings"]:
                cite(tuple((k, _freeze(p[k])) for k in KEYS if k in p), ref)
    vlist = []
    for v in sorted(versions.values(), key=lambda v: (v["date"], v["ref"])):
        d = {"ref": v["ref"], "commit": v["commit"]}
        if v["date"]:
            d["date"] = v["date"]
        if v["also"]:
            d["also"] = v["also"]
        vlist.append(d)
    rank = {v["ref"]: i for i, v in enumerate(vlist)}
    pairings = []
    for key in sorted(found, key=_pairing_sort):
        d = {k: _thaw(v) for k, v in key}
        d["refs"] = sorted(found[key], key=lambda r: (r not in rank, rank.get(r, 0), r))
        pairings.append(d)
    bearing = [c for c in ("mindformers", "mindspore", "torch_npu", "torch", "cann_hdk", "cann_python")
               if any(_concern(p) == c for p in pairings)]
    out: dict[str, Any] = {"source": readings[0]["page"], "concerns": bearing or concerns, "versions": vlist}
    if history:
        out["history_commits"] = len(history)
    out["pairings"] = pairings
    return out


def _concern(p: dict[str, Any]) -> str:
    for key, concern in (("torch_npu", "torch_npu"), ("mindformers", "mindformers"), ("mindspore", "mindspore"),
                         ("driver", "cann_hdk"), ("firmware", "cann_hdk"), ("torch", "torch")):
        if key in p:
            return concern
    return "cann_python"


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _thaw(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _vkey(component: str, text: Any) -> tuple:
    s = text[0] if isinstance(text, tuple) else text
    s = re.sub(r"^[<>=]+", "", str(s))
    try:
        return (0, Version.parse(s.replace(".*", ".0") if component != "python" else s.rstrip(".*"),
                                 component).key, str(text))
    except (VersionError, TypeError):
        return (1, str(text))


def _pairing_sort(key: tuple) -> tuple:
    d = dict(key)
    concern = next(k for k in KEYS if k in d)
    return (KEYS.index(concern), *[(_vkey(k if k != "chips" else "cann", d[k]) if k in d else (2,))
                                    for k in KEYS if k != "chips"], str(d.get("chips")))


def build(folders: Iterable[Path]) -> list[dict[str, Any]]:
    by_page: dict[str, list[dict[str, Any]]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            reading = read_reading(path)
            if reading is not None:
                by_page.setdefault(reading["page"], []).append(reading)
    return [merge(by_page[page]) for page in sorted(by_page)]


# --- output --------------------------------------------------------------------------------------------
def _flow(d: Any) -> str:
    """One-line YAML: mappings and lists in flow style, every string double-quoted (versions stay strings)."""
    if isinstance(d, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in d.items()) + "}"
    if isinstance(d, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in d) + "]"
    if isinstance(d, bool) or d is None or isinstance(d, int):
        return json.dumps(d)
    return json.dumps(str(d), ensure_ascii=False)


def render(pages: Iterable[dict[str, Any]], kept: dict[str, Any]) -> str:
    lines = [HEADER.rstrip("\n"), "pages:"]
    for p in pages:
        lines.append(f"  - source: {_flow(p['source'])}")
        lines.append(f"    concerns: {_flow(p['concerns'])}")
        lines.append("    versions:")
        lines += [f"      - {_flow(v)}" for v in p["versions"]]
        if "history_commits" in p:
            lines.append(f"    history_commits: {p['history_commits']}")
        if p["pairings"]:
            lines.append("    pairings:")
            lines += [f"      - {_flow(x)}" for x in p["pairings"]]
        else:
            lines.append("    pairings: []")
    for key in ("ignored", "unread"):
        items = kept.get(key) or []
        if items:
            lines.append(f"{key}:")
            lines += [f"  - {_flow(x)}" for x in items]
        else:
            lines.append(f"{key}: []")
    return "\n".join(lines) + "\n"


def extend(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` pages (as page_history.yaml holds them) plus ``new`` ones (from readings): a page in both gets the new
    versions (a ref it already lists keeps its entry, with the new aliases added) and every pairing of both, its refs
    merged.  Idempotent: extending with the same readings again changes nothing.  A reading that re-reads a page's
    intermediate commits (history_read) cannot be merged (their count is kept, not their list): ``build`` it whole."""
    pages = {p["source"]: p for p in old}
    for page in new:
        cur = pages.get(page["source"])
        if cur is None:
            pages[page["source"]] = page
            continue
        if page.get("history_commits"):
            raise SystemExit(f"error: the readings of {page['source']!r} re-read intermediate commits; extend a page "
                             f"with new versions only, or rebuild the file from every reading of the page")
        versions = {str(v["ref"]): dict(v) for v in cur["versions"]}
        for v in page["versions"]:
            have = versions.get(str(v["ref"]))
            if have is None:
                versions[str(v["ref"])] = dict(v)
            else:
                also = list(have.get("also") or [])
                also += [a for a in v.get("also") or [] if a not in also and a != have["ref"]]
                if also:
                    have["also"] = also
        vlist = sorted(versions.values(), key=lambda v: (str(v.get("date") or ""), str(v["ref"])))
        rank = {str(v["ref"]): i for i, v in enumerate(vlist)}
        found: dict[tuple, list[str]] = {}
        for q in [*cur["pairings"], *page["pairings"]]:
            key = tuple((k, _freeze(q[k])) for k in KEYS if k in q)
            refs = found.setdefault(key, [])
            refs += [str(r) for r in q.get("refs") or [] if str(r) not in refs]
        pairings = []
        for key in sorted(found, key=_pairing_sort):
            d = {k: _thaw(v) for k, v in key}
            d["refs"] = sorted(found[key], key=lambda r: (r not in rank, rank.get(r, 0), r))
            pairings.append(d)
        bearing = [c for c in ("mindformers", "mindspore", "torch_npu", "torch", "cann_hdk", "cann_python")
                   if any(_concern(q) == c for q in pairings)]
        merged: dict[str, Any] = {"source": cur["source"], "concerns": bearing or list(cur["concerns"]),
                                  "versions": vlist}
        if cur.get("history_commits"):
            merged["history_commits"] = cur["history_commits"]
        merged["pairings"] = pairings
        pages[cur["source"]] = merged
    return [pages[k] for k in sorted(pages)]


def cmd_import(args: argparse.Namespace) -> int:
    readings = [Path(r) for r in args.readings]
    for folder in readings:
        if not folder.is_dir():
            print(f"error: {folder} is not a folder of reading files", file=sys.stderr)
            return 2
    out = Path(args.output)
    kept: dict[str, Any] = {}
    if out.exists():
        kept = yaml.safe_load(out.read_text(encoding="utf-8")) or {}
    pages = build(readings)
    if args.extend:
        pages = extend(list(kept.get("pages") or []), pages)
    text = render(pages, kept)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is stale: run python scripts/matrix_history.py import {' '.join(map(str, readings))}",
                  file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    doc = yaml.safe_load(text)
    n = sum(len(p["pairings"]) for p in doc["pages"])
    v = sum(len(p["versions"]) for p in doc["pages"])
    print(f"wrote {out}: {len(doc['pages'])} pages, {v} versions, {n} pairings in scope")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("import", help="rebuild page_history.yaml from a folder of per-page reading files")
    q.add_argument("readings", nargs="+", help="folders of per-page reading YAML files (a page may be read in "
                                               "several files; their versions and pairings are merged)")
    q.add_argument("-o", "--output", default=str(DEFAULT_OUT), help=f"default: {DEFAULT_OUT.relative_to(ROOT)}")
    q.add_argument("--check", action="store_true", help="exit 1 if the output file differs from a fresh import")
    q.add_argument("--extend", action="store_true",
                   help="add the readings to the pages the output file already holds (new pages, new versions, "
                        "their pairings) instead of rebuilding it from the readings alone; e.g. "
                        "python scripts/matrix_history.py import scripts/readings --extend")
    args = ap.parse_args(argv)
    return cmd_import(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
