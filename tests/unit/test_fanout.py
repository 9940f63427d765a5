"""The fan-out planner: who copies from whom, the controller's egress, waves ~ log2(N), re-planning when a host
dies mid-wave, and a peer whose copy fails verification never serving it."""

from __future__ import annotations

import math
import random

import pytest

from ascend_env.fanout import CONTROLLER, State, Transfer, _bytes, apply, egress, max_waves, next_wave, plan

BUNDLE = {"runs/toolkit.run": 600, "runs/kernels.run": 300, "images/base.tar": 90, "wheels/torch.whl": 200}


def fleet(n: int, files=BUNDLE) -> State:
    hosts = [f"h{i:02d}" for i in range(1, n + 1)]
    return State(sizes=dict(files), need={h: set(files) for h in hosts}, alive=set(hosts))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 16, 64, 256])
def test_the_controller_sends_each_byte_once_and_waves_grow_like_log2(n):
    waves = plan(fleet(n))
    sent = egress(waves)
    assert sent[CONTROLLER] == sum(BUNDLE.values())                  # 1x the bundle, whatever N
    assert sum(sent.values()) == n * sum(BUNDLE.values())            # every host got it exactly once
    assert len(waves) == 1 + math.ceil(math.log2(n))
    assert len(waves) <= max_waves(n)


def test_who_copies_from_whom_for_four_hosts():
    waves = plan(fleet(4))
    pairs = [[(t.src, t.dst) for t in w] for w in waves]
    assert pairs == [[(CONTROLLER, "h01")], [("h01", "h02")], [("h01", "h03"), ("h02", "h04")]]
    for w in waves:                                                   # one serve and one pull per host per wave
        peers = [t for t in w if t.src != CONTROLLER]
        assert len({t.src for t in peers}) == len(peers) and len({t.dst for t in w}) == len(w)


def test_different_stacks_share_what_they_have_in_common():
    torch = {"runs/toolkit.run": 600, "wheels/torch.whl": 200, "images/base.tar": 90}
    ms = {"runs/toolkit.run": 600, "wheels/mindspore.whl": 250, "images/base.tar": 90}
    state = State(sizes={**torch, **ms}, need={"a": set(torch), "b": set(ms), "c": set(torch), "d": set(ms)},
                  alive={"a", "b", "c", "d"})
    waves = plan(state)
    sent = egress(waves)
    assert sent[CONTROLLER] == 600 + 200 + 90 + 250                  # each distinct file once
    final = state
    for w in waves:
        final = apply(final, w)
    assert final.done()


def test_a_host_that_dies_mid_wave_is_replanned_from_another_source():
    state = fleet(8)
    for _ in range(2):                                                # two waves: h01, h02 hold everything
        state = apply(state, next_wave(state))
    wave = next_wave(state)
    assert {t.src for t in wave} == {"h01", "h02"}
    victim = "h02"
    lost = [(t.src, t.dst) for t in wave if t.src == victim]
    state = apply(state, wave, failed=lost, dead=[victim])
    assert victim not in state.alive
    rest = plan(state)
    assert all(t.src != victim and t.dst != victim for w in rest for t in w)
    for w in rest:
        state = apply(state, w)
    assert state.done()
    assert egress(rest).get(CONTROLLER, 0) == 0                        # someone else still had every file


def test_the_controller_resends_only_what_every_holder_took_with_it():
    state = apply(fleet(4), next_wave(fleet(4)))                       # wave 1: only h01 holds the bundle
    state = apply(state, next_wave(state), failed=[("h01", "h02")], dead=["h01"])
    wave = next_wave(state)
    assert [(t.src, set(t.files)) for t in wave] == [(CONTROLLER, set(BUNDLE))]
    done = plan(state)
    assert egress(done)[CONTROLLER] == sum(BUNDLE.values())
    assert state.sent == {f: 1 for f in BUNDLE}                        # the plan records that it is a second send


def test_a_corrupt_peer_copy_is_refused_and_replaced():
    state = fleet(4)
    for _ in range(2):
        state = apply(state, next_wave(state))                         # h01, h02 hold everything
    state = apply(state, [], bad_sources=[("h02", "runs/toolkit.run")])  # h02's copy fails its check before serving
    assert "h02" not in state.holders("runs/toolkit.run")
    wave = next_wave(state)
    assert all("runs/toolkit.run" not in t.files for t in wave if t.src == "h02")
    assert any(t.dst == "h02" and "runs/toolkit.run" in t.files for w in plan(state) for t in w)
    for w in plan(state):
        state = apply(state, w)
    assert state.done() and state.holders("runs/toolkit.run") == ["h01", "h02", "h03", "h04"]


def test_state_round_trips_through_plain_data():
    state = apply(fleet(3), next_wave(fleet(3)))
    again = State.from_dict(state.to_dict())
    assert again.to_dict() == state.to_dict()
    assert [t.to_dict() for t in next_wave(again)] == [t.to_dict() for t in next_wave(state)]


def test_hosts_that_have_everything_are_left_alone():
    state = fleet(3)
    state.has = {h: set(BUNDLE) for h in state.alive}
    assert next_wave(state) == [] and plan(state) == []


def test_a_failed_transfer_is_not_planned_again():
    state = apply(fleet(2), next_wave(fleet(2)))                          # h01 holds everything
    wave = next_wave(state)
    assert [(t.src, t.dst) for t in wave] == [("h01", "h02")]
    state = apply(state, wave, failed=[("h01", "h02")])                  # the pull failed (the peer is alive)
    retry = next_wave(state)
    assert [(t.src, t.dst) for t in retry] == [(CONTROLLER, "h02")]      # another source: the controller
    state = apply(state, retry, failed=[(CONTROLLER, "h02")])
    assert next_wave(state) == []                                         # nothing left to try: the role reports it


def reference_wave(state: State) -> list[Transfer]:
    """The planner as first written (quadratic in hosts): the oracle the fast one must agree with."""
    busy_src: set[str] = set()
    busy_dst: set[str] = set()
    out: list[Transfer] = []
    dsts = sorted((h for h in state.alive if state.missing(h)), key=lambda h: (-_bytes(state, state.missing(h)), h))
    # peers first: each destination takes the biggest share one free peer can give it
    for dst in dsts:
        want = state.missing(dst)
        best, best_files = None, set()
        for src in sorted(state.alive - busy_src - {dst}):
            if (src, dst) in state.failed:
                continue
            give = {f for f in want if f in state.has.get(src, set()) and (src, f) not in state.bad}
            if _bytes(state, give) > _bytes(state, best_files) or (give and best is None):
                best, best_files = src, give
        if best is not None and best_files:
            busy_src.add(best)
            busy_dst.add(dst)
            out.append(Transfer(best, dst, tuple(sorted(best_files)), _bytes(state, best_files)))
    # the controller: files no live host holds (verified) and that are not on their way this wave, and files whose
    # every holder already failed to deliver them to this destination
    coming = {(t.dst, f) for t in out for f in t.files}
    planned: set[str] = set()
    for dst in dsts:
        if (CONTROLLER, dst) in state.failed:
            continue
        files = sorted(f for f in state.missing(dst) if (dst, f) not in coming
                       and ((not state.holders(f) and f not in planned)
                            or (state.holders(f) and all((h, dst) in state.failed for h in state.holders(f)))))
        if files:
            planned.update(files)
            out.append(Transfer(CONTROLLER, dst, tuple(files), _bytes(state, files)))
    return out



def test_the_fast_planner_agrees_with_the_first_one_on_random_fleets():
    """Random fleets (stacks sharing some files, partial holdings, corrupt copies, failed pairs, dead hosts): every
    wave of the planner equals the straightforward one's, until done."""
    rng = random.Random(13)
    for _ in range(300):
        files = {f"f{i}": rng.randint(1, 10) * 1000 for i in range(rng.randint(1, 8))}
        hosts = [f"h{i}" for i in range(rng.randint(1, 12))]
        state = State(sizes=files, need={h: set(rng.sample(sorted(files), rng.randint(0, len(files)))) for h in hosts},
                      has={h: set(rng.sample(sorted(files), rng.randint(0, len(files)))) for h in hosts},
                      alive=set(rng.sample(hosts, rng.randint(1, len(hosts)))),
                      bad={(h, f) for h in hosts for f in files if rng.random() < 0.05},
                      failed={(a, b) for a in [*hosts, CONTROLLER] for b in hosts if a != b and rng.random() < 0.05})
        for _wave in range(40):
            fast, ref = next_wave(state), reference_wave(state)
            assert fast == ref, (state.to_dict(), fast, ref)
            if not fast:
                break
            state = apply(state, fast)
