"""The smoke run's error types, each mapped to one exit code of ``python -m ascend_env smoke``."""

from __future__ import annotations

from ..errors import AscendEnvError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class SmokeError(AscendEnvError):
    """Base class: ``exit_code`` is what the CLI returns, ``str(e)`` names the bad value and the fix."""

    exit_code = EXIT_FAILED


class CheckpointError(SmokeError):
    """A model directory or weights file is missing, corrupt or in the wrong layout (bad input: exit 2)."""

    exit_code = EXIT_USAGE


class TokenizerError(CheckpointError):
    """``tokenizer.model`` is missing, corrupt or of a kind the pure-Python encoder cannot read."""


class RunnerUnavailable(SmokeError):
    """The requested runner or device cannot be used here (exit 2): the message says why and what to do."""

    exit_code = EXIT_USAGE


class SmokeFailed(SmokeError):
    """The run itself failed: golden mismatch, wrong token count, or a diagnosed runtime failure (exit 1)."""

    exit_code = EXIT_FAILED
