"""``ascend-env matrix show|resolve|check|audit``: the matrix and the resolver on the command line.

Exit codes: 0 ok, 1 conflict / invalid stack / invalid data (``check``) / failed audit, 2 usage error or bad input
(a value that is not a chip, architecture, framework or version; an overrides or history file that cannot be read):
one ``error:`` line per problem on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .errors import AscendEnvError
from .matrix import Matrix, MatrixInvalid, Problem, check_matrix, load_matrix
from .resolver import BAD_INPUT, PIN_COMPONENTS, Conflict, Request, Stack, resolve
from .versions import COMPONENTS

EXIT_OK, EXIT_CONFLICT, EXIT_USAGE = 0, 1, 2

_RESOLVE_EXAMPLES = """\
examples:
  # the seed's stack: MindSpore 2.2.11 on a 910B, arm
  python -m ascend_env matrix resolve --chip 910b --arch aarch64 --framework mindspore --mindspore 2.2.11
  # newest torch stack that runs on the driver this host already has
  python -m ascend_env matrix resolve --chip 910b --framework torch --driver 24.1.rc2 --json
  # a contradictory request exits 1 and names every violated rule
  python -m ascend_env matrix resolve --framework mindspore --mindspore 2.2.11 --cann 8.0.RC1
"""

_SHOW_EXAMPLES = """\
examples:
  python -m ascend_env matrix show                 # coverage: rows, versions and sources per concern
  python -m ascend_env matrix show torch_npu       # every torch_npu row with its source
  python -m ascend_env matrix show cann_hdk --json
  python -m ascend_env matrix show --coverage --markdown   # the README table
"""

_CHECK_EXAMPLES = """\
examples:
  python -m ascend_env matrix check                               # validate the packaged data
  python -m ascend_env matrix check --overrides site-matrix.yml     # ... plus your site rows
  python -m ascend_env matrix check --chip 910b --cann 8.0.RC1 --torch 2.1.0 --torch-npu 2.1.0.post4 --python 3.10
"""


_AUDIT_EXAMPLES = """\
examples:
  python -m ascend_env matrix audit                 # per row: the page versions read and those stating it
  python -m ascend_env matrix audit --strict        # CI: exit 1 on a row without a (known) page version, a pairing
                                                    # the pages state that no row encodes, ...
  python -m ascend_env matrix audit --json | jq '.unencoded'
"""


def add_matrix_parser(sub: Any) -> None:
    p = sub.add_parser("matrix", help="show, resolve and check the compatibility matrix",
                       description="The sourced compatibility matrix and the stack resolver.")
    msub = p.add_subparsers(dest="matrix_cmd", metavar="{show,resolve,check,audit}", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--overrides", action="append", default=[], metavar="FILE",
                       help="site-local matrix rows (source: local); repeatable; also $ASCEND_ENV_MATRIX_OVERRIDES")
        q.add_argument("--json", action="store_true", help="machine-readable output")

    def pins(q: argparse.ArgumentParser) -> None:
        q.add_argument("--chip", help="910b, 310p or 300i-duo (aliases accepted: 910B3, a300iduo, ...)")
        q.add_argument("--arch", help="x86_64 or aarch64 (x86-64, amd64, arm64 accepted)")
        q.add_argument("--framework", choices=("mindspore", "torch"), help="the framework of the environment")
        for name in PIN_COMPONENTS:
            example = COMPONENTS[name].examples[0]
            extra = " (mindformers: 'none' to skip it)" if name == "mindformers" else ""
            extra += " (installed versions are pins too)" if name in ("driver", "firmware") else ""
            q.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="VER",
                           help=f"pin {COMPONENTS[name].label}, e.g. {example}{extra}")

    fmt = argparse.RawDescriptionHelpFormatter
    q = msub.add_parser("show", help="print matrix rows or the coverage summary", epilog=_SHOW_EXAMPLES,
                        formatter_class=fmt)
    q.add_argument("section", nargs="?", help="one of: " + ", ".join(_SHOW_SECTIONS))
    q.add_argument("--coverage", action="store_true", help="the coverage summary (default without a section)")
    q.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    common(q)
    q = msub.add_parser("resolve", help="complete a partial request into a consistent stack",
                        description="Complete a partial request into a consistent stack, newest first unless "
                                    "pinned; or list every violated rule.", epilog=_RESOLVE_EXAMPLES,
                        formatter_class=fmt)
    pins(q)
    common(q)
    q = msub.add_parser("check", help="validate the matrix data, or check a full stack against it",
                        epilog=_CHECK_EXAMPLES, formatter_class=fmt)
    pins(q)
    common(q)
    q = msub.add_parser("audit", help="check every row against every version of the page it cites",
                        description="Check the matrix against page_history.yaml (every version read of the pages the "
                                    "rows cite): per row, the page versions it was checked against and which of them "
                                    "state it; rows whose source names no page version or an unknown one; pairings "
                                    "the pages state that no row encodes.", epilog=_AUDIT_EXAMPLES, formatter_class=fmt)
    q.add_argument("--strict", action="store_true",
                   help="exit 1 on any problem: a missing or unknown source ref, a ref whose page version does not "
                        "state the row, an unencoded pairing (what CI runs)")
    q.add_argument("--history", metavar="FILE", help="page history file (default: the packaged page_history.yaml)")
    common(q)


_SHOW_SECTIONS = ("chips", "releases", "cann_hdk", "cann_python", "mindspore", "mindformers", "torch",
                  "torch_npu", "installers", "layouts", "rank_tables")


def run_matrix(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``matrix show|resolve|check|audit``; returns the exit code.  The project's own errors (bad input, a file
    that cannot be read) are one ``error:`` line on stderr and exit 2, never a traceback."""
    try:
        return _run(args, out, err)
    except AscendEnvError as exc:
        print(f"error: {exc}", file=err)
        return int(getattr(exc, "exit_code", EXIT_USAGE))


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.matrix_cmd == "audit":
        return _audit(args, out, err)
    if args.matrix_cmd == "check" and not _has_request(args):
        m, problems = check_matrix(args.overrides)
        return _print_check(m, problems, args.json, out)
    try:
        m = load_matrix(args.overrides)
    except MatrixInvalid as exc:
        # the packaged data is checked by CI: an invalid matrix here is the user's overrides file, i.e. bad input
        if args.json:
            print(json.dumps({"ok": False, "problems": [str(p) for p in exc.problems]}, indent=2), file=out)
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    if args.matrix_cmd == "show":
        return _show(m, args, out, err)
    request = Request(chip=args.chip, arch=args.arch, framework=args.framework,
                      pins={n: getattr(args, n) for n in PIN_COMPONENTS if getattr(args, n)})
    result = resolve(m, request)
    if isinstance(result, Conflict) and result.kind == BAD_INPUT:
        # a value that is not a chip, an architecture, a framework or a version: a usage error (exit 2, stderr),
        # each named with its flag and the fix
        if args.json:
            print(json.dumps(result.to_dict(), indent=2), file=out)
        for v in result.violations:
            print(f"error: {_flag_words(v.message)}; {_flag_words(v.fix)}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result.to_dict(), indent=2), file=out)
    elif isinstance(result, Stack):
        print(format_stack(result), file=out)
    else:
        print(format_conflict(result), file=out)
    return EXIT_OK if isinstance(result, Stack) else EXIT_CONFLICT


def _flag_words(text: str) -> str:
    """The resolver names pins as the inventory does (``torch_npu``); on the command line they are flags."""
    return re.sub(r"--([a-z]+)_([a-z_]+)", lambda mo: "--" + mo[0][2:].replace("_", "-"), text)


def _has_request(args: argparse.Namespace) -> bool:
    return any(getattr(args, n, None) for n in (*PIN_COMPONENTS, "chip", "arch", "framework"))


def _print_check(m: Matrix, problems: Sequence[Problem], as_json: bool, out: TextIO) -> int:
    if as_json:
        print(json.dumps({"ok": not problems, "rows": m.row_count(), "sources": len(m.sources()),
                          "override_files": m.override_files, "problems": [str(p) for p in problems]},
                         indent=2), file=out)
    elif problems:
        print(f"✗ the matrix has {len(problems)} problem(s):", file=out)
        for p in problems:
            print(f"  - {p}", file=out)
    else:
        extra = f" (+ overrides: {', '.join(m.override_files)})" if m.override_files else ""
        print(f"✓ matrix valid: {m.row_count()} rows from {len(m.sources())} sources{extra}", file=out)
    return EXIT_CONFLICT if problems else EXIT_OK


# --- formatting --------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
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
    lines.append(_table(("component", "version", "sources"), rows))
    if details:
        lines += ["", "constraints:", *details]
    if st.installers:
        lines += ["", "installers:"] + [f"  {k:<9} {v}" for k, v in st.installers.items()]
    lines += ["", *_python_deps_lines(st, src)]
    if st.warnings:
        lines += ["", "warnings:"] + [f"  ! {w}" for w in st.warnings]
    lines += ["", "sources:", src.render()]
    return "\n".join(lines)


def _python_deps_lines(st: Stack, src: _Sources) -> list[str]:
    """CANN's Python dependencies: installed before the framework; their limits kept by pip's constraints file."""
    deps = st.python_deps
    cann = st.version("cann")
    if deps is None:
        return [f"CANN's Python dependencies: unknown -- no sourced row for CANN {cann or '-'} in cann_pydeps.yaml "
                "(its install guide's list); nothing is installed or constrained for it"]
    refs = "".join(src.ref(s) for s in deps.sources)
    lines = [f"CANN's Python dependencies (CANN {deps.cann}, Python {deps.python or '-'}) {refs}:",
             "  install: " + (" ".join(deps.requirements) or "-"),
             "  pip constraints: " + (" ".join(deps.constraints) or "none")]
    return lines + [f"  note: {n}" for n in deps.notes]


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

    rows = [
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
        ("CANN's Python dependencies", "cann_pydeps.yaml", str(len(m.cann_pydeps)),
         f"{len({str(s) for r in m.cann_pydeps for s in r.cann})} CANN versions/series", srcs(m.cann_pydeps)),
    ]
    if read is None:
        return rows
    keys = (None, None, "cann_hdk", "cann_python", "mindspore", "mindformers", "torch", "torch_npu", None, None, None,
            None)
    return [(*r, read.get(k, "-") if k else "-") for r, k in zip(rows, keys, strict=True)]


_COVERAGE_HEADERS = ("concern", "file", "rows", "covers", "sources")
_READ_HEADER = "page versions read"


def coverage_markdown(m: Matrix, read: dict[str, str] | None = None) -> str:
    headers = (*_COVERAGE_HEADERS, _READ_HEADER) if read is not None else _COVERAGE_HEADERS
    table = _table(headers, coverage_rows(m, read), markdown=True)
    text = f"{table}\n\nTotal: {m.row_count()} rows from {len(m.sources())} distinct sources."
    if read is not None:
        text += (f"\n\n{_READ_HEADER}: every version of the pages the rows cite (and of related pages) read for the "
                 f"matrix, per concern (intermediate commits counted too); `python -m ascend_env matrix audit` checks "
                 f"each row against them (docs/matrix.md, \"Page history\").")
    return text


def _show(m: Matrix, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.section is None or args.coverage:
        from .matrix_history import load_history, versions_read

        read = versions_read(load_history())
        headers = (*_COVERAGE_HEADERS, _READ_HEADER)
        if args.json:
            print(json.dumps([dict(zip(headers, r, strict=True)) for r in coverage_rows(m, read)], indent=2), file=out)
        elif args.markdown:
            print(coverage_markdown(m, read), file=out)
        else:
            print(_table(headers, coverage_rows(m, read)), file=out)
            print(f"\n{m.row_count()} rows from {len(m.sources())} distinct sources", file=out)
        return EXIT_OK
    if args.section not in _SHOW_SECTIONS:
        print(f"error: unknown section {args.section!r}; choose from {', '.join(_SHOW_SECTIONS)}", file=err)
        return EXIT_USAGE
    rows = getattr(m, args.section)
    dicts = [_row_dict(r) for r in rows]
    if args.json:
        print(json.dumps(dicts, indent=2), file=out)
        return EXIT_OK
    headers = list(dicts[0]) if dicts else ["(empty)"]
    print(_table(headers, [[d[h] for h in headers] for d in dicts], markdown=args.markdown), file=out)
    return EXIT_OK


def _row_dict(row: Any) -> dict[str, str]:
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
def _audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .matrix_history import audit as run_audit
    from .matrix_history import load_history

    m, problems = check_matrix(args.overrides)
    if problems:
        return _print_check(m, problems, args.json, out) or EXIT_CONFLICT
    history = load_history(args.history)   # HistoryError (exit 2) when the file cannot be read as a page history
    report = run_audit(m, history)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), file=out)
    else:
        print(format_audit(report), file=out)
    if report.checked_nothing:
        # no page version to check any row against: a report that checked nothing is not a pass, --strict or not
        print(f"error: {report.history_problems[0]}", file=err)
        return EXIT_CONFLICT
    return EXIT_CONFLICT if args.strict and not report.ok else EXIT_OK


def _refs_text(refs: Sequence[str], own: str | None) -> str:
    shown = list(refs) if len(refs) <= 6 else [*refs[:2], "…", *refs[-3:]]
    if own and own in refs and own not in shown:
        shown.append(own)
    return ", ".join(shown)


def format_audit(report: Any) -> str:
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
