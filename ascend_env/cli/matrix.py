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

from ..errors import AscendEnvError
from ..matrix import Matrix, MatrixInvalid, Problem, check_matrix, load_matrix
from ..matrix_text import (
    COVERAGE_HEADERS,
    READ_HEADER,
    coverage_markdown,
    coverage_rows,
    format_audit,
    format_conflict,
    format_stack,
    row_dict,
    table,
)
from ..resolver import BAD_INPUT, PIN_COMPONENTS, Conflict, Request, Stack, resolve
from ..versions import COMPONENTS

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


def _show(m: Matrix, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.section is None or args.coverage:
        _show_coverage(m, args, out)
        return EXIT_OK
    if args.section not in _SHOW_SECTIONS:
        print(f"error: unknown section {args.section!r}; choose from {', '.join(_SHOW_SECTIONS)}", file=err)
        return EXIT_USAGE
    dicts = [row_dict(r) for r in getattr(m, args.section)]
    if args.json:
        print(json.dumps(dicts, indent=2), file=out)
        return EXIT_OK
    headers = list(dicts[0]) if dicts else ["(empty)"]
    print(table(headers, [[d[h] for h in headers] for d in dicts], markdown=args.markdown), file=out)
    return EXIT_OK


def _show_coverage(m: Matrix, args: argparse.Namespace, out: TextIO) -> None:
    from ..matrix_history import load_history, versions_read

    read = versions_read(load_history())
    headers = (*COVERAGE_HEADERS, READ_HEADER)
    if args.json:
        print(json.dumps([dict(zip(headers, r, strict=True)) for r in coverage_rows(m, read)], indent=2), file=out)
    elif args.markdown:
        print(coverage_markdown(m, read), file=out)
    else:
        print(table(headers, coverage_rows(m, read)), file=out)
        print(f"\n{m.row_count()} rows from {len(m.sources())} distinct sources", file=out)


# --- audit -------------------------------------------------------------------------------------------
def _audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..matrix_history import audit as run_audit
    from ..matrix_history import load_history

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
