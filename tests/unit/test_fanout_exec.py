"""The fan-out's wave loop (ascend_env.fanout_exec) over fake transports: the egress of a healthy fleet, a source
whose copy no longer matches, a receiver whose sha256 differs, a host that dies mid-wave, bounded retries that say
so, and a fleet that cannot finish."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ascend_env.fanout import CONTROLLER, State, Transfer
from ascend_env.fanout_exec import Step, run_fanout

BUNDLE = {"runs/toolkit.run": 600, "runs/kernels.run": 300, "images/base.tar": 90, "wheels/torch.whl": 200}
TOTAL = sum(BUNDLE.values())


@dataclass
class Fleet:
    """Hosts' store copies in memory: a copy is ``good`` or ``bad``; faults are set per test."""

    hosts: list[str]
    copies: dict[str, dict[str, str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)
    die_when_serving: dict[str, int] = field(default_factory=dict)     # host -> dies at its n-th serve
    rot_after_receiving: set[str] = field(default_factory=set)        # its copies go bad after it verified them
    corrupt_link: dict[tuple[str, str], int] = field(default_factory=dict)   # (src, dst) -> bad deliveries left
    flaky: dict[tuple[str, str], int] = field(default_factory=dict)   # (src, dst) -> failed attempts left
    calls: list[tuple[str, ...]] = field(default_factory=list)
    serves: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for h in self.hosts:
            self.copies.setdefault(h, {})

    def check(self, host: str, files: Sequence[str]) -> Step:
        self.calls.append(("check", host))
        if host in self.dead:
            return Step(ok=False, unreachable=True, message=f"ssh: connect to host {host}: Connection refused")
        bad = tuple(f for f in files if self.copies[host].get(f) != "good")
        return Step(ok=not bad, bad=bad, message="FAILED" if bad else "")

    def send(self, t: Transfer) -> Step:
        self.calls.append(("send", t.src, t.dst))
        if t.src != CONTROLLER:
            self.serves[t.src] = self.serves.get(t.src, 0) + 1
            if self.die_when_serving.get(t.src) == self.serves[t.src]:
                self.dead.add(t.src)
        if t.src in self.dead or t.dst in self.dead:
            return Step(ok=False, unreachable=True, message="rsync exit 255: connection unexpectedly closed")
        if self.flaky.get((t.src, t.dst), 0) > 0:
            self.flaky[(t.src, t.dst)] -= 1
            return Step(ok=False, message="rsync exit 12: error in rsync protocol data stream")
        for f in t.files:
            good = t.src == CONTROLLER or self.copies[t.src].get(f) == "good"
            if self.corrupt_link.get((t.src, t.dst), 0) > 0:
                good = False
            self.copies[t.dst][f] = "good" if good else "bad"
        if self.corrupt_link.get((t.src, t.dst), 0) > 0:
            self.corrupt_link[(t.src, t.dst)] -= 1
        return Step(ok=True, bytes=t.bytes)

    def alive(self, host: str) -> bool:
        self.calls.append(("alive", host))
        return host not in self.dead

    def verified_everywhere(self, hosts) -> bool:
        return all(self.copies[h].get(f) == "good" for h in hosts for f in BUNDLE)


def start(n: int) -> tuple[State, Fleet]:
    hosts = [f"h{i}" for i in range(1, n + 1)]
    return State(sizes=dict(BUNDLE), need={h: set(BUNDLE) for h in hosts}, alive=set(hosts)), Fleet(hosts)


def run(state, fleet, **kw):
    said, warned = [], []
    kw.setdefault("sleep", lambda s: None)
    report = run_fanout(state, fleet, say=said.append, warn=warned.append, **kw)
    return report, said, warned


def test_a_healthy_fleet_gets_the_bundle_once_from_the_controller_and_the_rest_from_peers():
    state, fleet = start(8)
    report, said, warned = run(state, fleet)
    assert report["done"] and fleet.verified_everywhere(fleet.hosts)
    assert report["bytes"] == {"controller": TOTAL, "peers": 7 * TOTAL}
    assert len(report["log"]) == 4 and not warned                     # 1 + log2(8)
    assert said[0] == ("artefacts: fan-out wave 1: 1 transfer(s): controller -> h1 (4 file(s), 0.0 MB)")
    # every peer checked what it served before serving it; every destination checked what arrived
    peer_sends = [c for c in fleet.calls if c[0] == "send" and c[1] != CONTROLLER]
    assert len(peer_sends) == 7
    for _, src, dst in peer_sends:
        i = fleet.calls.index(("send", src, dst))
        assert ("check", src) in fleet.calls[:i] and ("check", dst) in fleet.calls[i:]
    assert report["lost"] == [] and report["alive"] == fleet.hosts


def test_a_source_whose_copy_no_longer_matches_never_serves_it_and_gets_it_again():
    state, fleet = start(4)
    # wave 1 brings h1 the bundle; then its copy of the toolkit rots on disk
    original = fleet.check

    def rotting_check(host, files):
        verified = any(c[0] == "check" and c[1] == "h1" for c in fleet.calls)   # h1 checked what arrived
        if host == "h1" and fleet.serves.get("h1") is None and "runs/toolkit.run" in fleet.copies["h1"] and verified:
            fleet.copies["h1"]["runs/toolkit.run"] = "bad"
        return original(host, files)

    fleet.check = rotting_check  # type: ignore[method-assign]
    report, said, _ = run(state, fleet)
    assert report["done"] and fleet.verified_everywhere(fleet.hosts)
    second = report["log"][1]
    assert ["h1", "runs/toolkit.run"] in second["bad"] and ["h1", "h2"] in second["failed"]
    assert any("h1's copy of runs/toolkit.run no longer matches the manifest: not served" in s for s in said)
    # no live host held a sound toolkit any more, so the controller sent it again, once; h1 got a sound one too
    toolkit_from_controller = [t for w in report["log"] for t in w["transfers"]
                               if t["src"] == CONTROLLER and "runs/toolkit.run" in t["files"]]
    assert len(toolkit_from_controller) == 2
    assert any(t["dst"] == "h1" and "runs/toolkit.run" in t["files"] for w in report["log"][2:] for t in w["transfers"])


def test_a_receiver_whose_sha256_differs_is_planned_again_from_another_source():
    state, fleet = start(4)
    fleet.corrupt_link[("h1", "h3")] = 1               # wave 3: h1 -> h3 delivers a corrupt copy once
    report, said, _ = run(state, fleet)
    assert report["done"] and fleet.verified_everywhere(fleet.hosts)
    third = report["log"][2]
    assert ["h1", "h3"] in third["failed"] and third["bad"] == []
    assert any("h1 -> h3 failed: what arrived does not match the manifest's sha256" in s for s in said)
    later = [(t["src"], t["dst"]) for w in report["log"][3:] for t in w["transfers"]]
    assert later and all(dst == "h3" and src != "h1" for src, dst in later)
    assert report["bytes"]["controller"] == TOTAL                      # a peer served it, not the controller


def test_a_host_that_dies_mid_wave_leaves_the_others_converging():
    state, fleet = start(4)
    fleet.die_when_serving["h2"] = 1                   # h2 dies as it starts serving h4 in wave 3
    report, said, warned = run(state, fleet)
    assert report["done"] and report["lost"] == ["h2"] and "h2" not in report["alive"]
    assert fleet.verified_everywhere(["h1", "h3", "h4"])
    third = report["log"][2]
    assert ["h2", "h4"] in third["failed"] and third["dead"] == ["h2"]
    later = [(t["src"], t["dst"]) for w in report["log"][3:] for t in w["transfers"]]
    assert later and all(src != "h2" and dst != "h2" for src, dst in later) and ("h1", "h4") in later
    assert report["bytes"]["controller"] == TOTAL
    assert any("h2 no longer answers the controller: it leaves the fan-out" in s for s in said)
    assert len([w for w in warned if "h2 -> h4 failed" in w]) == 2    # bounded: 3 attempts, 2 retries said


def test_a_transient_failure_is_retried_with_backoff_and_said():
    state, fleet = start(2)
    fleet.flaky[(CONTROLLER, "h1")] = 2
    slept: list[float] = []
    report, _, warned = run(state, fleet, sleep=slept.append, backoff_s=1.5)
    assert report["done"] and report["log"][0]["failed"] == []
    assert slept == [1.5, 3.0]
    assert warned == [
        "artefacts: controller -> h1 failed (rsync exit 12: error in rsync protocol data stream); retrying, "
        "attempt 2 of 3, in 1.5 s",
        "artefacts: controller -> h1 failed (rsync exit 12: error in rsync protocol data stream); retrying, "
        "attempt 3 of 3, in 3 s"]
    assert [r["attempt"] for r in report["log"][0]["retries"]] == [2, 3]
    assert report["bytes"]["controller"] == TOTAL


def test_a_fleet_that_cannot_finish_stops_after_the_last_wave_and_says_not_done():
    state, fleet = start(2)
    fleet.flaky[(CONTROLLER, "h1")] = 10 ** 6          # the controller never gets through to h1
    fleet.flaky[(CONTROLLER, "h2")] = 10 ** 6
    report, _, _ = run(state, fleet, attempts=2)
    assert not report["done"]
    assert report["log"] and all(w["failed"] for w in report["log"])
    # wave 1: controller -> h1 fails; wave 2: controller -> h2 fails; then nothing can move (both pairs failed)
    assert [[(t["src"], t["dst"]) for t in w["transfers"]] for w in report["log"]] == [[(CONTROLLER, "h1")],
                                                                                      [(CONTROLLER, "h2")]]
    assert sorted(report["need"]) == ["h1", "h2"] and report["has"] == {}
