"""The drain and undrain hooks of a rollout (``ascend_upgrade_drain`` / ``ascend_upgrade_undrain``): commands the
controller runs before and after each host's upgrade, with the host's name in them.

A hook is an argv, never a shell line: ``kubectl cordon {host}`` is split the way a POSIX shell splits words
(:func:`shlex.split`) when the setting is written, and ``{host}`` is then replaced inside single words, so an
inventory name reaches the command as one argument whatever characters it has.  A list (``[scontrol, update,
"nodename={host}", state=drain, reason=ascend-env]``) is taken as the argv itself.  When the command is itself a shell
(``sh -c '...'``, ``bash -c``), the name is put into its script quoted (:func:`shlex.quote`).  ``{{`` and ``}}`` are
literal braces; any other ``{field}`` is bad input.  The hook also gets the host in ``ASCEND_UPGRADE_HOST`` and the
step (``drain``/``undrain``) in ``ASCEND_UPGRADE_STEP``.  Pure: :mod:`ascend_env.day2.upgrade_runner` runs it.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import AscendEnvError

__all__ = ["SHELLS", "Hook", "HookError", "parse_hook"]

#: commands whose ``-c`` argument is a shell script: the host's name goes into it quoted
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
_EXAMPLES = ("e.g. ascend_upgrade_drain: \"kubectl cordon {host}\", or a list: [scontrol, update, "
             "\"nodename={host}\", state=drain, reason=ascend-env]")


class HookError(AscendEnvError, ValueError):
    """A hook setting that cannot be run (bad input: exit 2); the message names the host, the value and the fix."""


@dataclass(frozen=True)
class Hook:
    """A drain or undrain command: its argv with ``{host}`` still in it."""

    setting: str
    argv: tuple[str, ...]

    def argv_for(self, host: str) -> list[str]:
        """The argv for ``host``: ``{host}`` replaced inside each word (quoted in a shell's ``-c`` script)."""
        script_at = _script_index(self.argv)
        return [a.format(host=shlex.quote(host) if i == script_at else host) for i, a in enumerate(self.argv)]

    def shown(self, host: str) -> str:
        """The command as a shell would need it typed (for reports)."""
        return shlex.join(self.argv_for(host))

    def environment(self, host: str, step: str) -> dict[str, str]:
        return dict(os.environ, ASCEND_UPGRADE_HOST=host, ASCEND_UPGRADE_STEP=step)


def _script_index(argv: Sequence[str]) -> int | None:
    """The index of a shell's ``-c`` script in ``argv`` (``sh -c SCRIPT``, ``bash -euc SCRIPT``), else None."""
    if not argv or os.path.basename(argv[0]) not in SHELLS:
        return None
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return i + 1 if i + 1 < len(argv) else None
    return None


def _fields(arg: str, where: str) -> None:
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as e:
        raise HookError(f"{where}: {arg!r} has an unmatched brace ({e}); write {{host}} for the host's name and "
                        f"{{{{ }}}} for literal braces ({_EXAMPLES})") from None
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if field != "host" or spec or conv:
            raise HookError(f"{where}: {{{field}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} in "
                            f"{arg!r} is not a placeholder the hook knows; only {{host}} (the inventory name) is "
                            f"replaced, write {{{{ }}}} for literal braces ({_EXAMPLES})")


def parse_hook(value: Any, where: str) -> Hook | None:
    """A hook setting (a command line or an argv list; None or empty: no hook) as a :class:`Hook`, checked:
    :class:`HookError` names ``where`` (e.g. ``npu-a: ascend_upgrade_drain``), the value and the fix."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise HookError(f"{where}: {value!r} cannot be split into words ({e}); close the quote "
                            f"({_EXAMPLES})") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(a, (str, int, float)) and not isinstance(a, bool)
                                                  for a in value):
        argv = [str(a) for a in value]
    else:
        raise HookError(f"{where}: {value!r} is not a command; give a command line or a list of words "
                        f"({_EXAMPLES})")
    if not argv or not argv[0].strip():
        raise HookError(f"{where}: {value!r} names no command ({_EXAMPLES})")
    for arg in argv:
        _fields(arg, where)
    return Hook(str(value), tuple(argv))
