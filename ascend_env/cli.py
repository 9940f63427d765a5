"""``ascend-env`` / ``python -m ascend_env``: the command line.

Exit codes, for every subcommand: 0 ok, 1 conflict or invalid stack, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .matrix_cli import add_matrix_parser, run_matrix

_EPILOG = """\
examples:
  python -m ascend_env matrix resolve --chip 910b --arch aarch64 --framework mindspore --mindspore 2.2.11
  python -m ascend_env matrix show torch_npu
  python -m ascend_env render container --runtime docker --name llm --image ubuntu:22.04 --devices 0-3
  python -m ascend_env lab up && python -m ascend_env lab status

exit codes: 0 ok, 1 conflict or invalid stack, 2 usage error
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ascend-env",
        description="Version-consistent Huawei Ascend NPU environments: matrix, resolver and renderers.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ascend-env {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{matrix,render,lab,doctor}", required=True)
    add_matrix_parser(sub)
    from .lab_cli import add_lab_parser
    from .render_cli import add_render_parser

    add_render_parser(sub)
    add_lab_parser(sub)
    from .doctor_cli import add_doctor_parser

    add_doctor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "matrix":
        return run_matrix(args)
    if args.command == "doctor":
        from .doctor_cli import run_doctor

        return run_doctor(args)
    if args.command == "lab":
        from .lab_cli import run_lab

        return run_lab(args)
    if args.command == "render":
        from .render_cli import run_render

        return run_render(args)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
