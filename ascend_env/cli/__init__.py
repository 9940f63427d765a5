"""``ascend-env`` / ``python -m ascend_env``: the command line.

Exit codes, for every subcommand: 0 ok, 1 conflict, invalid stack or failed check, 2 bad input (usage error; the
message on stderr names the bad value and the fix), 70 internal error (a bug: a short report on stderr, the full
traceback in a file it names), 130 interrupted (Ctrl-C), 141 output closed early (``... | head``).

:func:`main` is the one wrapper around every subcommand: an :class:`~ascend_env.errors.AscendEnvError` becomes its
``exit_code`` with ``error: <message>`` on stderr; a closed pipe and Ctrl-C end the command the Unix way (141/130,
no traceback, no wait for worker threads); anything else is a bug, reported in two lines and never swallowed.

Subcommand modules are imported only when needed: ``smoke`` runs inside containers whose venv has only the
framework + numpy (no PyYAML, packaging or Jinja2), so ``python -m ascend_env smoke ...`` builds the smoke parser
alone, and a subcommand whose dependencies are missing is still listed by ``--help`` (and says what is missing).
Each subcommand is one module of this package (``ascend_env/cli/<command>.py``); the domain modules it drives
import nothing from here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..errors import AscendEnvError

#: exit codes beyond the README's 0/1/2: a bug (sysexits.h EX_SOFTWARE), SIGINT and SIGPIPE as a shell reports them
EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 70, 130, 141

_EPILOG = """\
examples:
  python -m ascend_env matrix resolve --chip 910b --arch aarch64 --framework mindspore --mindspore 2.2.11
  python -m ascend_env matrix show torch_npu
  python -m ascend_env render container --runtime docker --name llm --image ubuntu:22.04 --devices 0-3
  python -m ascend_env lab up && python -m ascend_env lab status
  python -m ascend_env smoke --framework torch --json
  python -m ascend_env ranktable --inventory inventory/hosts.yml --devices 0-7 --out hccl.json
  python -m ascend_env accept -i inventory/hosts.yml --results acceptance/
  python -m ascend_env upgrade -i inventory/hosts.yml --waves 1,10%,100%

exit codes: 0 ok, 1 conflict, invalid stack or failed check, 2 bad input (usage error),
  70 internal error (report written to a file), 130 interrupted, 141 output closed early
"""


#: the subcommands; each is the module ``ascend_env.cli.<name>`` (``add_<name>_parser`` and ``run_<name>`` in it),
#: imported only when used
COMMANDS = ("matrix", "render", "lab", "doctor", "smoke", "ranktable", "collective", "plan", "accept", "upgrade",
            "rollback")


def _add_unavailable(sub: Any, name: str, err: ImportError) -> None:
    p = sub.add_parser(name, help=f"(unavailable here: {err})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(unavailable=f"`{name}` needs {err.name or err}, which is not installed here: "
                              "pip install 'ascend-env' with its dependencies (PyYAML, packaging, Jinja2)")


def _module(name: str) -> Any:
    return importlib.import_module(f"{__name__}.{name}")


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


def _run(argv: Sequence[str] | None) -> int:
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


def _say(text: str) -> None:
    """One line on stderr, whatever state stderr is in."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _exit_now(code: int) -> NoReturn:
    """Exit without joining worker threads (an SSH probe thread would hold Ctrl-C up for its timeout)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def crash_report(exc: BaseException, argv: Sequence[str] | None) -> Path | None:
    """Write the full traceback of an unexpected exception to a file; its path, or None when nothing could be
    written (then the traceback goes to stderr instead: never lost)."""
    text = (f"ascend-env {__version__} internal error, {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            f"command: {' '.join(['ascend-env', *(sys.argv[1:] if argv is None else argv)])}\n"
            f"python: {sys.version.split()[0]} ({sys.executable})\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    try:
        fd, name = tempfile.mkstemp(prefix="ascend-env-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        return Path(name)
    except OSError:
        _say(text)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns the exit code (see the module's docstring)."""
    try:
        code = _run(argv)
        sys.stdout.flush()       # a closed pipe shows here, not in the interpreter's own exit
        return code
    except AscendEnvError as e:
        _say(f"error: {e}")
        return int(getattr(e, "exit_code", 2))
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _say("interrupted")
        if threading.active_count() > 1:
            _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: report it in two lines, the whole traceback in a file
        path = crash_report(e, argv)
        where = f"the full traceback is in {path}" if path else "the full traceback is above"
        _say(f"ascend-env: internal error: {type(e).__name__}: {str(e)[:300]}")
        _say(f"  this is a bug in ascend-env, not in your input; {where} (please attach it to a bug report)")
        return EXIT_INTERNAL

