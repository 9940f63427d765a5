"""Fan the artefact store out to a fleet: the controller sends each file once, hosts that hold a verified copy serve
the others, in waves.  Pure: the fleet's state in, the next wave (or the whole plan, assuming success) out.

Rules of a wave:
* a host serves at most one other host per wave and pulls from at most one peer per wave, so the number of holders
  of a file doubles each wave: a file every host needs reaches N hosts in 1 + ceil(log2 N) waves;
* a host only serves files it holds *verified* (sha256 against the manifest when they arrived, and again just
  before it serves them: a peer whose copy no longer matches is never a source for it);
* the controller sends a file that no live host holds, once, to one host that needs it; only when every holder of
  a file has died does it send that file again (the plan says so: its egress is no longer 1x);
* a destination takes from a peer the most bytes that peer can give it; what no host holds comes from the
  controller in the same wave.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTROLLER = "controller"


@dataclass(frozen=True)
class Transfer:
    src: str            # CONTROLLER or a host
    dst: str
    files: tuple[str, ...]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "files": list(self.files), "bytes": self.bytes}


@dataclass
class State:
    """What the fleet holds: ``sizes`` of every file, what each live host ``need``s, what each ``has`` verified,
    (host, file) pairs that failed verification at the source (``bad``), and what the controller ``sent``."""

    sizes: dict[str, int]
    need: dict[str, set[str]]
    has: dict[str, set[str]] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)
    bad: set[tuple[str, str]] = field(default_factory=set)
    sent: dict[str, int] = field(default_factory=dict)      # file -> times the controller sent it
    failed: set[tuple[str, str]] = field(default_factory=set)   # (src, dst) transfers that failed: not planned again

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> State:
        return cls(sizes={k: int(v) for k, v in (d.get("sizes") or {}).items()},
                   need={h: set(v) for h, v in (d.get("need") or {}).items()},
                   has={h: set(v) for h, v in (d.get("has") or {}).items()},
                   alive=set(d.get("alive") or (d.get("need") or {}).keys()),
                   bad={(h, f) for h, f in d.get("bad") or []},
                   sent={k: int(v) for k, v in (d.get("sent") or {}).items()},
                   failed={(a, b) for a, b in d.get("failed") or []})

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": self.sizes, "need": {h: sorted(v) for h, v in self.need.items()},
                "has": {h: sorted(v) for h, v in self.has.items()}, "alive": sorted(self.alive),
                "bad": sorted([list(x) for x in self.bad]), "sent": self.sent,
                "failed": sorted([list(x) for x in self.failed])}

    def missing(self, host: str) -> set[str]:
        return self.need.get(host, set()) - self.has.get(host, set())

    def holders(self, path: str) -> list[str]:
        return sorted(h for h in self.alive if path in self.has.get(h, set()) and (h, path) not in self.bad)

    def done(self) -> bool:
        return all(not self.missing(h) for h in self.alive)


def _bytes(state: State, files: Iterable[str]) -> int:
    return sum(state.sizes.get(f, 0) for f in files)


def next_wave(state: State) -> list[Transfer]:
    """The transfers of the next wave (empty when every live host has what it needs).

    Near-linear in hosts x files for the usual case (every holder of a bundle holds all of it): a destination takes
    the first free peer, by name, that can give it all it lacks; only when none can does it look at them all."""
    missing = {h: state.missing(h) for h in state.alive}
    size = state.sizes.get
    dsts = sorted((h for h, m in missing.items() if m), key=lambda h: (-sum(size(f, 0) for f in missing[h]), h))
    # what each live host can serve: its verified files, less those that failed verification there
    bad_by_host: dict[str, set[str]] = {}
    for h, f in state.bad:
        bad_by_host.setdefault(h, set()).add(f)
    avail = {h: state.has.get(h, set()) - bad_by_host.get(h, set()) for h in state.alive}
    sources = sorted(h for h, files in avail.items() if files)
    busy_src: set[str] = set()
    out: list[Transfer] = []
    # peers first: each destination takes the biggest share one free peer can give it
    for dst in dsts:
        want = missing[dst]
        best, best_files, best_bytes = None, set(), 0
        for src in sources:
            if src in busy_src or src == dst or (src, dst) in state.failed:
                continue
            give = want & avail[src]
            if not give:
                continue
            got = sum(size(f, 0) for f in give)
            if best is None or got > best_bytes:
                best, best_files, best_bytes = src, give, got
                if len(give) == len(want):
                    break             # all it lacks: no peer can give more (ties go to the first by name)
        if best is not None:
            busy_src.add(best)
            out.append(Transfer(best, dst, tuple(sorted(best_files)), best_bytes))
    # the controller: files no live host holds (verified) and that are not on their way this wave, and files whose
    # every holder already failed to deliver them to this destination
    coming = {(t.dst, f) for t in out for f in t.files}
    holders: dict[str, list[str]] = {}
    for h in sources:
        for f in avail[h]:
            holders.setdefault(f, []).append(h)
    planned: set[str] = set()
    for dst in dsts:
        if (CONTROLLER, dst) in state.failed:
            continue
        files = sorted(f for f in missing[dst] if (dst, f) not in coming
                       and ((not holders.get(f) and f not in planned)
                            or (holders.get(f) and all((h, dst) in state.failed for h in holders[f]))))
        if files:
            planned.update(files)
            out.append(Transfer(CONTROLLER, dst, tuple(files), _bytes(state, files)))
    return out


def apply(state: State, wave: list[Transfer], failed: Iterable[tuple[str, str]] = (),
          bad_sources: Iterable[tuple[str, str]] = (), dead: Iterable[str] = ()) -> State:
    """The state after a wave: every transfer not in ``failed`` ((src, dst) pairs) delivered verified files;
    ``bad_sources`` (host, file) failed verification at the source (the host needs the file again); ``dead`` hosts
    left the run."""
    failed = set(failed)
    new = State(dict(state.sizes), {h: set(v) for h, v in state.need.items()},
                {h: set(v) for h, v in state.has.items()}, set(state.alive) - set(dead), set(state.bad),
                dict(state.sent), set(state.failed) | failed)
    for host, path in bad_sources:
        new.bad.add((host, path))
        new.has.get(host, set()).discard(path)
    for t in wave:
        if t.src == CONTROLLER:
            for f in t.files:
                new.sent[f] = new.sent.get(f, 0) + 1
        if (t.src, t.dst) in failed or t.dst not in new.alive:
            continue
        new.has.setdefault(t.dst, set()).update(t.files)
        for f in t.files:
            new.bad.discard((t.dst, f))       # a fresh verified copy: the host may serve it again
    return new


def plan(state: State, max_waves: int = 64) -> list[list[Transfer]]:
    """Every wave until done, assuming each transfer succeeds (what the preflight shows and the tests check)."""
    waves = []
    for _ in range(max_waves):
        if state.done():
            break
        wave = next_wave(state)
        if not wave:
            break     # nothing can move: a needed file is held by no one and the controller has it not (see plan)
        waves.append(wave)
        state = apply(state, wave)
    return waves


def max_waves(hosts: int) -> int:
    """An upper bound for the wave loop: 1 + ceil(log2 N) waves for one shared bundle, with room for re-plans."""
    return 2 * (1 + math.ceil(math.log2(max(hosts, 1)))) + 4


def egress(waves: Iterable[Iterable[Transfer]]) -> dict[str, int]:
    """Bytes each source sent over the plan (the controller's is what the fan-out saves)."""
    out: dict[str, int] = {}
    for wave in waves:
        for t in wave:
            out[t.src] = out.get(t.src, 0) + t.bytes
    return out
