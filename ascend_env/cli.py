"""``ascend-env`` / ``python -m ascend_env``: the command line.

Exit codes, for every subcommand: 0 ok, 1 conflict or invalid stack, 2 usage error.

Subcommand modules are imported only when needed: ``smoke`` runs inside containers whose venv has only the
framework + numpy (no PyYAML, packaging or Jinja2), so ``python -m ascend_env smoke ...`` builds the smoke parser
alone, and a subcommand whose dependencies are missing is still listed by ``--help`` (and says what is missing).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

_EPILOG = """\
examples:
  python -m ascend_env matrix resolve --chip 910b --arch aarch64 --framework mindspore --mindspore 2.2.11
  python -m ascend_env matrix show torch_npu
  python -m ascend_env render container --runtime docker --name llm --image ubuntu:22.04 --devices 0-3
  python -m ascend_env lab up && python -m ascend_env lab status
  python -m ascend_env smoke --framework torch --json
  python -m ascend_env ranktable --inventory inventory/hosts.yml --devices 0-7 --out hccl.json

exit codes: 0 ok, 1 conflict or invalid stack, 2 usage error
"""


#: subcommand -> its module (``add_<name>_parser`` and ``run_<name>`` in it); imported only when used
COMMANDS = {"matrix": "matrix_cli", "render": "render_cli", "lab": "lab_cli", "doctor": "doctor_cli",
            "smoke": "smoke_cli", "ranktable": "ranktable_cli", "collective": "collective_cli"}


def _add_unavailable(sub: Any, name: str, err: ImportError) -> None:
    p = sub.add_parser(name, help=f"(unavailable here: {err})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(unavailable=f"`{name}` needs {err.name or err}, which is not installed here: "
                              "pip install 'ascend-env' with its dependencies (PyYAML, packaging, Jinja2)")


def _module(name: str) -> Any:
    return importlib.import_module(f".{COMMANDS[name]}", __package__)


def _add_command(sub: Any, name: str) -> None:
    try:
        add = getattr(_module(name), f"add_{name}_parser")
    except ImportError as e:
        _add_unavailable(sub, name, e)
        return
    add(sub)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``only``: register that one subcommand (``smoke`` in a container: no other imports)."""
    parser = argparse.ArgumentParser(
        prog="ascend-env",
        description="Version-consistent Huawei Ascend NPU environments: matrix, resolver, renderers, lab, doctor "
                    "and the inference smoke run.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ascend-env {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", required=True)
    for name in COMMANDS if only is None else (only,):
        _add_command(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # only the invoked subcommand's module is imported (the doctor must start fast; smoke and collective run in
    # environments that have only the framework); --help and unknown commands get the full parser
    parser = build_parser(only=argv[0] if argv[:1] and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if getattr(args, "unavailable", None):
        print(f"error: {args.unavailable}", file=sys.stderr)
        return 2
    if args.command in COMMANDS:
        return int(getattr(_module(args.command), f"run_{args.command}")(args))
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
