"""YAML loading for the package's data: libyaml's parser when PyYAML was built with it (about ten times faster:
the doctor and every resolve load the matrix), else PyYAML's own.  Both are the safe loader, with the same result.
PyYAML is imported on first use: a run that finds the matrix in its cache never needs it."""

from __future__ import annotations

from typing import Any

from .errors import AscendEnvError


class YamlError(AscendEnvError, ValueError):
    """Text that is not valid YAML; the message is PyYAML's (with the line and column)."""


def safe_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)) from None
