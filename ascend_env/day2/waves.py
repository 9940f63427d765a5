"""The order a rollout takes the hosts in: a canary host alone, then waves (``ascend_upgrade_waves``).  Pure.

``ascend_upgrade_waves: [1, "10%", "100%"]`` (an inventory or group variable) or ``--waves 1,10%,100%``: each value
is how many of the hosts to upgrade are done once that wave ends -- a number of hosts, or a percentage of them
(rounded up, so a small fleet still moves) -- so the values grow, and the last is ``"100%"``.  The canary (the first
host to upgrade, or the one named) always goes first, alone: ``[1, "10%", "100%"]`` on 40 hosts is the canary, then
3 more (10 % of 40 = 4 done), then the other 36.  A value whose count is not more than the hosts already done adds
no wave (``10%`` of 5 hosts is 1: the canary has done it).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import AscendEnvError

__all__ = ["DEFAULT_WAVES", "Wave", "WaveError", "WaveSize", "parse_waves", "plan_waves"]

#: without a setting: the canary, a tenth of the fleet, then the rest
DEFAULT_WAVES = (1, "10%", "100%")
_EXAMPLE = 'e.g. ascend_upgrade_waves: [1, "10%", "100%"] or --waves 1,10%,100%'
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class WaveError(AscendEnvError, ValueError):
    """Waves that cannot be used (bad input: exit 2); the message names the value and the fix."""


@dataclass(frozen=True)
class WaveSize:
    """One value of ``ascend_upgrade_waves``: ``count`` hosts, or ``percent`` of the hosts to upgrade."""

    value: float
    percent: bool

    def hosts_done(self, total: int) -> int:
        """How many of ``total`` hosts are done at the end of this wave."""
        if self.percent:
            return min(total, math.ceil(total * self.value / 100 - 1e-9))
        return min(total, int(self.value))

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else str(int(self.value))


@dataclass(frozen=True)
class Wave:
    """The hosts one step of the rollout upgrades together (one site.yml run), and what it is called."""

    number: int
    hosts: tuple[str, ...]
    label: str


def _one(raw: Any, where: str) -> WaveSize:
    if isinstance(raw, bool):
        raise WaveError(f"{where}: {raw!r} is not a wave size; give a number of hosts or a percentage ({_EXAMPLE})")
    if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
        n = int(raw)
        if n < 1:
            raise WaveError(f"{where}: {raw!r} hosts is not a wave; a wave has at least 1 host ({_EXAMPLE})")
        return WaveSize(n, False)
    m = _PERCENT.match(raw) if isinstance(raw, str) else None
    if m is None:
        raise WaveError(f"{where}: {raw!r} is neither a number of hosts nor a percentage like \"10%\" ({_EXAMPLE})")
    pct = float(m.group(1))
    if not 0 < pct <= 100:
        raise WaveError(f"{where}: {raw!r} is outside 0-100 %; a percentage of the hosts is above 0 and at most "
                        f"100 ({_EXAMPLE})")
    return WaveSize(pct, True)


def parse_waves(value: Any, where: str = "ascend_upgrade_waves") -> tuple[WaveSize, ...]:
    """The wave sizes of a setting: a list (an inventory variable) or a comma-separated string (``--waves``).  Sizes of
    one kind grow, and the last is ``"100%"``; anything else is :class:`WaveError` naming the value and the fix."""
    if isinstance(value, str):
        items: Sequence[Any] = [v for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise WaveError(f"{where}: {value!r} is not a list of wave sizes ({_EXAMPLE})")
    if not items or any(isinstance(v, str) and not v.strip() for v in items):
        raise WaveError(f"{where}: {value!r} has an empty wave; list the sizes ({_EXAMPLE})")
    sizes = tuple(_one(v, where) for v in items)
    for kind in (False, True):
        same = [s for s in sizes if s.percent is kind]
        for before, after in itertools.pairwise(same):
            if after.value <= before.value:
                raise WaveError(f"{where}: {after} comes after {before}; each wave covers more hosts than the one "
                                f"before ({_EXAMPLE})")
    if not (sizes[-1].percent and sizes[-1].value == 100):
        raise WaveError(f"{where}: the last wave is {sizes[-1]}, so the rollout would stop before every host is "
                        f"upgraded; end with \"100%\" ({_EXAMPLE})")
    return sizes


def plan_waves(hosts: Sequence[str], sizes: Sequence[WaveSize], canary: str | None = None,
               where: str = "ascend_upgrade_waves") -> list[Wave]:
    """The waves over ``hosts`` (in inventory order): the canary alone first (``canary``, else the first host), then
    each size's hosts.  A size that, counted on these hosts, is below the one before it is :class:`WaveError`
    (``[5, "10%"]`` on 20 hosts is 5 then 2)."""
    if canary is not None and canary not in hosts:
        raise WaveError(f"--canary {canary}: not one of the hosts to upgrade ({', '.join(hosts) or 'none'}); name "
                        "one of them, or leave --canary out (the first host is the canary)")
    if not hosts:
        return []
    first = canary or hosts[0]
    order = [first, *(h for h in hosts if h != first)]
    waves = [Wave(1, (first,), f"canary ({first})")]
    done, highest, highest_size = 1, 0, None
    for size in sizes:
        target = size.hosts_done(len(order))
        if target < highest:
            raise WaveError(f"{where}: {size} of {len(order)} host(s) is {target}, fewer than the {highest} of "
                            f"{highest_size} before it; list the sizes so that each covers more hosts ({_EXAMPLE})")
        highest, highest_size = target, size
        if target <= done:
            continue
        batch = tuple(order[done:target])
        waves.append(Wave(len(waves) + 1, batch, f"wave {len(waves) + 1} ({size}: {len(batch)} host(s))"))
        done = target
    return waves
