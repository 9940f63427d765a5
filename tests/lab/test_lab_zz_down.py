"""Runs last in the lab suite: lab down leaves nothing behind (and a second down is harmless)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import PREFIX, lab


@pytest.mark.usefixtures("lab_up")
def test_down_leaves_nothing_behind():
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
