"""The project's error base class.

Every error ascend-env raises on purpose (bad input, an unreadable file, a refused request, a lab that cannot start)
derives from :class:`AscendEnvError`, so the command line can tell them from bugs: the CLI prints an
``AscendEnvError`` as one ``error: ...`` line on stderr and exits with its :attr:`~AscendEnvError.exit_code`
(2, "bad input", unless a subclass says otherwise); anything else is a bug and gets a short report with the path of
the full traceback.  Standard library only: the probe and the smoke run import it inside containers.
"""

from __future__ import annotations

__all__ = ["AscendEnvError", "UsageError"]


class AscendEnvError(Exception):
    """An error with a message a user can act on: it names the bad value and the fix."""

    #: the exit code the command line maps this error to (README: 0 ok, 1 conflict or failed check, 2 bad input)
    exit_code: int = 2


class UsageError(AscendEnvError, ValueError):
    """Bad command-line input (a flag's value, a file it names): exit 2, the message names the value and the fix."""
