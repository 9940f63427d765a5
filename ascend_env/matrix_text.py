"""The matrix and the resolver's results as text: a resolved stack, a conflict, the coverage table (the README's,
scripts/update_readme.py), matrix rows, the audit report.  Pure functions: the command line (``ascend_env.cli.matrix``)
and the Ansible filters print what these return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .matrix import Matrix
from .resolver import Conflict, Stack
from .versions import COMPONENTS

if TYPE_CHECKING:
    from .matrix_history import AuditReport

__all__ = ["COVERAGE_HEADERS", "READ_HEADER", "coverage_markdown", "coverage_rows", "format_audit", "format_conflict",
           "format_stack", "row_dict", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    body = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return "\n".join([line.rstrip(), "  ".join("-" * w for w in widths), *body])


class _Sources:
    """Numbers sources in order of first use: [1], [2], ..."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def ref(self, text: str) -> str:
        refs = []
        for s in [x.strip() for x in text.split(";") if x.strip()]:
            if s not in self.order:
                self.order.append(s)
            refs.append(f"[{self.order.index(s) + 1}]")
        return "".join(refs)

    def render(self) -> str:
        return "\n".join(f"  [{i}] {s}" for i, s in enumerate(self.order, 1))


def format_stack(st: Stack) -> str:
    src = _Sources()
    head = " / ".join(x for x in (st.chip.id if st.chip else "any chip", str(st.arch) if st.arch else "any arch",
                                  st.framework or "no framework") if x)
    lines = [f"✓ resolved stack for {head}  (rows: {st.tier})", ""]
    rows = []
    details: list[str] = []
    for name, c in st.components.items():
        label = COMPONENTS[name].label
        if c.version is not None:
            shown = f"{c.version}" + ("  (pinned)" if c.pinned else "")
        elif c.recommended is not None:
            shown = f"{c.recommended}  (recommended)"
        else:
            shown = "-"
        refs = "".join(src.ref(s) for s in sorted({x.strip() for text in c.sources for x in text.split(";")
                                                    if x.strip()}))
        rows.append((label, shown, refs))
        for con in c.constraints:
            if con.by == "your pin":
                continue
            details.append(f"  {label}: {con.describe()}  (by {con.by}) {src.ref(con.source)}")
        for note in c.notes:
            details.append(f"  {label}: {note}")
    lines.append(table(("component", "version", "sources"), rows))
    if details:
        lines += ["", "constraints:", *details]
    if st.installers:
        lines += ["", "installers:"] + [f"  {k:<9} {v}" for k, v in st.installers.items()]
    if st.warnings:
        lines += ["", "warnings:"] + [f"  ! {w}" for w in st.warnings]
    lines += ["", "sources:", src.render()]
    return "\n".join(lines)


def format_conflict(c: Conflict) -> str:
    lines = [f"✗ no consistent stack: {len(c.violations)} violated rule(s)"]
    for v in c.violations:
        lines.append(f"  ✗ {v.message}" + (f"  [{v.source}]" if v.source else ""))
        lines.append(f"    fix: {v.fix}")
    return "\n".join(lines)


def coverage_rows(m: Matrix, read: dict[str, str] | None = None) -> list[tuple[str, ...]]:
    """(concern, file, rows, versions covered, sources[, page versions read]) for the README table.  ``read``
    (concern -> text, from :func:`ascend_env.matrix_history.versions_read`) adds the last column."""

    def span(vs: Sequence[Any]) -> str:
        vs = sorted(set(vs))
        return f"{vs[0]} … {vs[-1]} ({len(vs)})" if vs else "-"

    def srcs(rows: Sequence[Any]) -> str:
        return str(len({r.meta.source for r in rows}))

    rows: list[tuple[str, ...]] = [
        ("chips", "chips.yaml", str(len(m.chips)), ", ".join(c.id for c in m.chips), srcs(m.chips)),
        ("CANN releases", "cann_releases.yaml", str(len(m.releases)), span([r.version for r in m.releases]),
         srcs(m.releases)),
        ("CANN ↔ driver/firmware per chip", "cann_hdk.yaml", str(len(m.cann_hdk)),
         "CANN " + span([r.cann for r in m.cann_hdk]), srcs(m.cann_hdk)),
        ("CANN ↔ Python", "cann_python.yaml", str(len(m.cann_python)),
         f"{len({str(s) for r in m.cann_python for s in r.cann})} CANN versions/series", srcs(m.cann_python)),
        ("MindSpore ↔ CANN ↔ Python", "mindspore.yaml", str(len(m.mindspore)),
         "MindSpore " + span([r.version for r in m.mindspore]), srcs(m.mindspore)),
        ("MindFormers ↔ MindSpore", "mindspore.yaml", str(len(m.mindformers)),
         "MindFormers " + span([r.version for r in m.mindformers]), srcs(m.mindformers)),
        ("torch ↔ Python", "torch.yaml", str(len(m.torch)), "torch " + span([r.version for r in m.torch]),
         srcs(m.torch)),
        ("torch_npu ↔ torch ↔ CANN", "torch.yaml", str(len(m.torch_npu)),
         "torch_npu " + span([r.version for r in m.torch_npu]), srcs(m.torch_npu)),
        ("installer names", "installers.yaml", str(len(m.installers)),
         ", ".join(sorted({r.component for r in m.installers})), srcs(m.installers)),
        ("toolkit layouts", "installers.yaml", str(len(m.layouts)), f"{len(m.layouts)} layouts", srcs(m.layouts)),
        ("HCCL rank table format", "hccl.yaml", str(len(m.rank_tables)),
         ", ".join(f"{'/'.join(r.chips)}: {r.format}" for r in m.rank_tables), srcs(m.rank_tables)),
    ]
    if read is None:
        return rows
    keys = (None, None, "cann_hdk", "cann_python", "mindspore", "mindformers", "torch", "torch_npu", None, None, None)
    return [(*r, read.get(k, "-") if k else "-") for r, k in zip(rows, keys, strict=True)]


COVERAGE_HEADERS = ("concern", "file", "rows", "covers", "sources")
READ_HEADER = "page versions read"


def coverage_markdown(m: Matrix, read: dict[str, str] | None = None) -> str:
    headers = (*COVERAGE_HEADERS, READ_HEADER) if read is not None else COVERAGE_HEADERS
    text = (f"{table(headers, coverage_rows(m, read), markdown=True)}\n\n"
            f"Total: {m.row_count()} rows from {len(m.sources())} distinct sources.")
    if read is not None:
        text += (f"\n\n{READ_HEADER}: every version of the pages the rows cite (and of related pages) read for the "
                 f"matrix, per concern (intermediate commits counted too); `python -m ascend_env matrix audit` checks "
                 f"each row against them (docs/matrix.md, \"Page history\").")
    return text


def row_dict(row: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in vars(row).items():
        if key == "meta":
            continue
        if isinstance(value, tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        out[key] = "" if value is None else str(value)
    out["preferred"] = "yes" if row.meta.preferred else "no"
    out["source"] = row.meta.source
    return out


# --- audit -------------------------------------------------------------------------------------------
def _refs_text(refs: Sequence[str], own: str | None) -> str:
    shown = list(refs) if len(refs) <= 6 else [*refs[:2], "…", *refs[-3:]]
    if own and own in refs and own not in shown:
        shown.append(own)
    return ", ".join(shown)


def format_audit(report: AuditReport) -> str:
    rows = [r for r in report.rows if r.status not in ("url", "local")]
    lines = [f"matrix audit: {report.pages} pages, {report.versions} page versions read; "
             f"{len(rows)} row sources name a repository page", ""]
    status_text = {"ok": "ok", "missing-ref": "✗ no page version", "unknown-ref": "✗ unknown page version",
                   "not-stated": "✗ not stated at its version", "superseded": "✗ superseded_by",
                   "unread": "! version not read", "no-history": "- page not in the history"}
    for r in rows:
        detail = ""
        if r.status in ("ok", "not-stated", "superseded"):
            detail = (f"checked against {r.versions_read} version(s); stated at {len(r.stated_at)}: "
                      f"{_refs_text(r.stated_at, r.ref)}" if r.stated_at else
                      f"checked against {r.versions_read} version(s) (the row is older than the history's scope)")
        lines.append(f"  {r.where}  {r.source}")
        lines.append(f"      {status_text.get(r.status, r.status)}" + (f": {detail}" if detail else ""))
        if r.python:
            lines.append(f"      python: {r.python} (stated by this page)")
        if r.message:
            lines.append(f"      {r.message}")
    lines.append("")
    lines += _format_python(report.python)
    lines.append("")
    if report.unencoded:
        lines.append(f"✗ {len(report.unencoded)} pairing(s) stated by the pages that no row encodes "
                     f"(encode them, or list them under ignored: in page_history.yaml with the reason):")
        for p in report.unencoded:
            lines.append(f"  - {p.source}: {p.describe()}  [{_refs_text(p.refs, None)}]")
    else:
        lines.append(f"✓ every pairing the pages state is encoded ({len(report.ignored)} judged not a release's "
                     f"pairing and listed under ignored: in page_history.yaml)")
    for text in report.history_problems:
        lines.append(f"✗ {text}")
    problems = report.problems
    unread = [r for r in rows if r.status == "unread"]
    if unread:
        lines.append(f"! {len(unread)} row(s) cite a page version no reading covers (page_history.yaml unread:)")
    lines.append(f"✗ {len(problems)} row problem(s)" if problems else "✓ every row names a page version that states it")
    return "\n".join(lines)


def _format_python(py: dict[str, Any]) -> list[str]:
    """The audit's Python section: every row's Python range with the page that states it, then the components whose
    pages disagree (the resolver's default stays within all of them, a Python one of them states is accepted)."""
    if not py:
        return []
    lines = ["Python ranges: each row's, and the page that states it (docs/matrix.md, \"Python\"):"]
    for r in py.get("rows", []):
        lines.append(f"  {r['subject']}: python {r['python']}  [{r['source']}]  ({r['where']})")
    dis = py.get("disagreements", [])
    if dis:
        lines += ["", f"pages that disagree on a Python range ({len(dis)}): the default stays within every page, a "
                      f"Python one page states is accepted when pinned (with a warning naming the pages):"]
        for d in dis:
            pages = "; ".join(f"{s['python']} [{s['source']}]" for s in d["statements"])
            lines.append(f"  {d['subject']}: default within {d['default_within']}; accepted {d['accepted']}  "
                         f"({pages})")
    return lines
