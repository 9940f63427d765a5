"""Run the artefact fan-out: the wave loop around the planner (:mod:`ascend_env.fanout`), over a transport.

Each wave: plan it from what the fleet holds verified, run its transfers in parallel (a peer source first checks
the files it serves against the manifest's sha256, never serving a copy that no longer matches; the transfer is
retried a bounded number of times; the destination then verifies what arrived), apply the outcome to the state and
plan the next wave.  A source that fails is avoided for that destination and the destination is planned again
from another source (the controller last); a host the controller can no longer reach leaves the fan-out and its
receivers are re-planned.  The transport does the I/O (:mod:`ascend_env.fanout_rsync`: rsync over SSH); this
module holds no subprocess, so the loop is tested with fake transports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from .fanout import CONTROLLER, State, Transfer, apply, max_waves, next_wave

__all__ = ["Carried", "Step", "Transport", "run_fanout", "wave_line"]


@dataclass(frozen=True)
class Step:
    """The outcome of one transport call: ``ok``; ``bytes`` moved (a transfer's, as rsync counts them); ``bad``:
    files whose sha256 did not match (a check); ``unreachable``: the host itself did not answer (SSH's own
    failure); ``message``: what went wrong, for the output."""

    ok: bool
    bytes: int = 0
    bad: tuple[str, ...] = ()
    unreachable: bool = False
    message: str = ""


class Transport(Protocol):
    def check(self, host: str, files: Sequence[str]) -> Step:
        """sha256 of ``files`` in the host's store copy against the manifest's."""
        ...

    def send(self, transfer: Transfer) -> Step:
        """Copy the transfer's files from its source (the controller or a peer) to its destination."""
        ...

    def alive(self, host: str) -> bool:
        """Whether the controller still reaches the host."""
        ...


@dataclass
class Carried:
    """What became of one transfer of a wave."""

    transfer: Transfer
    ok: bool = False
    bytes: int = 0
    bad_sources: list[tuple[str, str]] = field(default_factory=list)
    suspects: set[str] = field(default_factory=set)     # hosts to ask whether they are still there
    retries: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def wave_line(number: int, wave: Sequence[Transfer], limit: int = 8) -> str:
    """``artefacts: fan-out wave 3: 2 transfer(s): f3 -> f5 (12 files, 701.8 MB); f4 -> f6 (...)``."""
    parts = [f"{t.src} -> {t.dst} ({len(t.files)} file(s), {_mb(t.bytes)})" for t in wave[:limit]]
    more = f"; and {len(wave) - limit} more" if len(wave) > limit else ""
    return f"artefacts: fan-out wave {number}: {len(wave)} transfer(s): " + "; ".join(parts) + more


class _Runner:
    def __init__(self, transport: Transport, attempts: int, backoff_s: float, warn: Callable[[str], None],
                 sleep: Callable[[float], None]):
        self.transport, self.attempts, self.backoff_s = transport, max(1, attempts), backoff_s
        self.warn, self.sleep = warn, sleep

    def retried(self, what: str, call: Callable[[], Step], again: Callable[[Step], bool],
                log: list[dict[str, Any]]) -> Step:
        """``call`` up to ``attempts`` times while ``again(step)``, waiting backoff, 2 x backoff, ... between; says
        so for each retry (a warning) and logs it."""
        step = call()
        for attempt in range(2, self.attempts + 1):
            if not again(step):
                break
            delay = self.backoff_s * 2 ** (attempt - 2)
            self.warn(f"artefacts: {what} failed ({step.message or 'no reason given'}); retrying, attempt {attempt} "
                      f"of {self.attempts}, in {delay:g} s")
            log.append({"what": what, "attempt": attempt, "after": step.message})
            self.sleep(delay)
            step = call()
        return step

    def carry(self, t: Transfer) -> Carried:
        out = Carried(t)
        if t.src != CONTROLLER:
            # the source checks what it serves before serving it: a copy that no longer matches is never served
            chk = self.retried(f"checking {t.src}'s copy before it serves {t.dst}",
                               lambda: self.transport.check(t.src, t.files), lambda s: s.unreachable, out.retries)
            if not chk.ok:
                if chk.unreachable:
                    out.suspects.add(t.src)
                else:
                    # files that failed, or all it was to serve when the check itself did not run there
                    out.bad_sources = [(t.src, f) for f in (chk.bad or t.files) if f in t.files]
                out.message = (f"{t.src}'s copy of {', '.join(chk.bad)} no longer matches the manifest: not served"
                               if chk.bad else f"{t.src} could not check its copy ({chk.message})")
                return out
        sent = self.retried(f"{t.src} -> {t.dst}", lambda: self.transport.send(t), lambda s: not s.ok, out.retries)
        if not sent.ok:
            out.suspects.update(h for h in (t.src, t.dst) if h != CONTROLLER)
            out.message = sent.message or "the transfer failed"
            return out
        got = self.retried(f"verifying what {t.dst} received", lambda: self.transport.check(t.dst, t.files),
                           lambda s: s.unreachable, out.retries)
        if not got.ok:
            if got.unreachable or not got.bad:
                out.suspects.add(t.dst)
            out.message = (f"what arrived does not match the manifest's sha256: {', '.join(got.bad)}" if got.bad
                           else f"{t.dst} could not verify what arrived ({got.message})")
            return out
        out.ok, out.bytes = True, sent.bytes
        return out


def run_fanout(state: State, transport: Transport, *, waves: int | None = None, attempts: int = 3,
               backoff_s: float = 1.0, workers: int = 16, say: Callable[[str], None] = print,
               warn: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Every wave until every live host holds what it needs (or ``waves``, default :func:`max_waves`, ran out, or
    nothing can move).  Returns the report: the final state (``to_dict``), ``done``, ``bytes`` {controller, peers}
    (as the transport counted them: rsync's own --stats), ``log`` (per wave: transfers, failed (src, dst) pairs,
    bad (host, file) sources, dead hosts, bytes, retries), ``alive`` and ``lost`` (hosts that left the run)."""
    runner = _Runner(transport, attempts, backoff_s, warn, sleep)
    limit = waves if waves is not None else max_waves(len(state.alive))
    start = set(state.alive)
    total = {"controller": 0, "peers": 0}
    log: list[dict[str, Any]] = []
    for number in range(1, limit + 1):
        if state.done():
            break
        wave = next_wave(state)
        if not wave:
            break
        say(wave_line(number, wave))
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wave)))) as pool:
            carried = list(pool.map(runner.carry, wave))
        suspects = sorted({h for c in carried for h in c.suspects})
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(suspects) or 1))) as pool:
            dead = [h for h, up in zip(suspects, pool.map(transport.alive, suspects), strict=True) if not up]
        failed = [(c.transfer.src, c.transfer.dst) for c in carried if not c.ok]
        bad = [x for c in carried for x in c.bad_sources]
        moved = {"controller": sum(c.bytes for c in carried if c.ok and c.transfer.src == CONTROLLER),
                 "peers": sum(c.bytes for c in carried if c.ok and c.transfer.src != CONTROLLER)}
        for c in carried:
            if not c.ok:
                t = c.transfer
                again = "" if t.dst in dead else f"; {t.dst} is planned again from another source"
                say(f"artefacts: wave {number}: {t.src} -> {t.dst} failed: {c.message}{again}")
        for h in dead:
            say(f"artefacts: {h} no longer answers the controller: it leaves the fan-out, the hosts it was to serve "
                "are planned again")
        state = apply(state, wave, failed=failed, bad_sources=bad, dead=dead)
        total = {k: total[k] + v for k, v in moved.items()}
        log.append({"transfers": [t.to_dict() for t in wave], "failed": [list(x) for x in failed],
                    "bad": [list(x) for x in bad], "dead": dead, "bytes": moved,
                    "retries": [r for c in carried for r in c.retries]})
    report = state.to_dict()
    report.update(done=state.done(), bytes=total, log=log, alive=sorted(state.alive),
                  lost=sorted(start - state.alive))
    return report
