"""The doctor over a fleet: each target's facts read over SSH, the checks on them, and the checks that only the
whole fleet shows -- the code ``doctor --inventory`` and ``accept`` share (the command line only parses flags and
prints).  The checks themselves live in :mod:`.checks`, :mod:`.network`, :mod:`.launcher` and :mod:`.pydeps`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .status import FAIL, SKIP, UNKNOWN

if TYPE_CHECKING:
    from .checks import Check
    from .targets import Target

__all__ = ["Result", "exit_code", "judge", "probe", "with_fleet_checks"]

#: one target's results: its name, its facts (None: they could not be read), its checks
Result = tuple[str, "dict[str, Any] | None", "list[Check]"]


def exit_code(checks: Sequence[Check]) -> int:
    """0 nothing failed and nothing that must be judged was unreadable; 1 a check failed or is unknown (it could not
    read what it judges: never reported as fine); 2 nothing was checked (no check ran, or none could)."""
    if any(c.status == FAIL for c in checks):
        return 1
    if not checks or all(c.status in (SKIP, UNKNOWN) for c in checks):
        return 2
    if any(c.status == UNKNOWN for c in checks):
        return 1
    return 0


def probe(target: Target, python: str | None = None, imports: bool = True) -> dict[str, Any] | str:
    """The target's facts over SSH (the probe, through the host's own engine CLI for a container), or why they could
    not be read."""
    from . import transport

    try:
        return transport.ssh(target.ssh, python, imports, container_name=target.container, runtime=target.cli)
    except transport.TransportError as e:
        return str(e)


def judge(name: str, facts: dict[str, Any] | str, matrix: Any, *, chip: str | None, runtime: str,
          expect: dict[str, str] | None = None, only: list[str] | None = None) -> Result:
    """The checks on one target's facts (or, when they could not be read, one ``transport`` check saying why)."""
    from . import pydeps  # noqa: F401  (registers the python.cann_deps check)
    from .checks import Check, Context, run_checks

    if isinstance(facts, str):
        return name, None, [Check("transport", "system", SKIP, f"could not check: {facts}")]
    ctx = Context(matrix=matrix, chip=chip, expect=expect, runtime=runtime)
    return name, facts, run_checks(facts, ctx, only)


def with_fleet_checks(results: list[Result], only: list[str] | None = None) -> list[Result]:
    """``results`` with what only the whole fleet shows (network: device IPs shared between hosts, subnets) added to
    each target's checks, when there is more than one target and the network group is wanted."""
    if len(results) <= 1 or (only and "network" not in only):
        return results
    from .network import fleet_checks

    extra = fleet_checks([(n, f) for n, f, _ in results])
    return [(n, f, c + extra.get(n, [])) for n, f, c in results]
