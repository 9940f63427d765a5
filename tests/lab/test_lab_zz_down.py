"""Runs last in the lab suite: lab down leaves nothing behind (and a second down is harmless), but keeps the cache of
downloads, so the next lab up fetches no wheel again."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from ascend_env.lab import store
from ascend_env.lab.layout import LabPaths

from .conftest import PREFIX, lab


@pytest.mark.usefixtures("lab_up")
def test_down_leaves_nothing_behind_but_the_cache_of_downloads(tmp_path, monkeypatch):
    state = json.loads((PREFIX / "state.json").read_text())
    cache = Path(state["cache"])
    stamp = (PREFIX / "store/wheels/.requirements").read_text()
    wheels = sorted(p.name for p in (PREFIX / "store/wheels").glob("*.whl"))
    assert wheels
    cp = lab("down")
    assert "nothing left behind" in cp.stdout
    assert not PREFIX.exists()
    addrs = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
    assert "127.0.0.12" not in addrs and "127.0.0.13" not in addrs
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(PREFIX) not in procs
    mounts = Path("/proc/self/mounts").read_text()
    assert str(PREFIX) not in mounts
    assert lab("down").returncode == 0
    # the downloads outlive the lab: every wheel the store had is in the cache, recorded by the set that brought it
    cached = {p.name for p in (cache / store.WHEEL_CACHE).glob("*.whl")}
    assert set(wheels) <= cached
    # and a new lab's store gets them from there without pip (what `lab up` after `lab down` does)
    def no_pip(argv, **kw):
        raise AssertionError(f"pip ran again after lab down: {argv}")

    monkeypatch.setattr(store, "run", no_pip)
    log: list[str] = []
    refilled: set[str] = set()
    had = {line for line in stamp.split("\n") if line.strip()}
    for i, key in enumerate(json.loads((cache / store.WHEEL_CACHE / store.WHEEL_SETS).read_text())):
        m = re.match(r"py(\d+\.\d+):", key)
        reqs = key[m.end():].split("\n") if m else key.split("\n")
        if {(m.group(0) if m else "") + r for r in reqs} <= had:   # a set this lab's store was filled with
            # each set into a store of its own: a store skips requirements it already has (their files are there)
            fresh = LabPaths(tmp_path / f"lab{i}", cache)
            store.fill_wheels(fresh, reqs, log, python=m.group(1) if m else None)
            refilled |= {p.name for p in (fresh.store / "wheels").glob("*.whl")}
    assert set(wheels) <= refilled, log
    assert log and all("from the cache" in line for line in log), log
    assert "--purge" in lab("down", "--help").stdout
