"""Issue 24: every documented example of every ``--help`` text runs without a traceback and ends with a documented
exit code (0 ok, 1 conflict or failed check, 2 bad input).  The examples are parsed out of the help output itself,
so a new example is tested the day it is written; those that need the lab, a network peer or SSH are listed apart
(they run in tests/lab)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
PREFIX = "python -m ascend_env"
#: examples that need what a unit test does not have: the lab (root, dockerd), SSH to a host, a peer to all_reduce
#: with, an NPU framework, a container engine
NEEDS_LAB = re.compile(r"^(lab (?!fault --list)|collective|doctor --ssh|doctor --container|doctor --inventory \.lab|"
                       r"smoke --framework (torch|mindspore)|ranktable --inventory \.lab)")


def _help(args: list[str]) -> str:
    cp = subprocess.run([sys.executable, "-m", "ascend_env", *args, "--help"], capture_output=True, text=True,
                        cwd=ROOT, timeout=120, env={**os.environ, "PATH": _PATH})
    assert cp.returncode == 0 and "Traceback" not in cp.stderr, (args, cp.stderr)
    return cp.stdout


def _subcommands(text: str) -> list[str]:
    m = re.search(r"\{([a-z_,-]+)\}", text)
    return m.group(1).split(",") if m else []


@lru_cache(maxsize=1)
def examples() -> list[str]:
    """Every ``python -m ascend_env ...`` line of every help text (continuations joined, comments dropped)."""
    found: list[str] = []
    queue: list[list[str]] = [[]]
    seen: set[tuple[str, ...]] = set()
    while queue:
        args = queue.pop(0)
        if tuple(args) in seen:
            continue
        seen.add(tuple(args))
        text = _help(args)
        if len(args) < 2:
            queue += [[*args, sub] for sub in _subcommands(text)]
        joined = re.sub(r"\\\n\s*", " ", text)
        for line in joined.splitlines():
            line = line.strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(PREFIX):
                    cmd = re.split(r"\s+#\s", part)[0].strip()
                    if cmd not in found:
                        found.append(cmd)
    return found


def test_every_subcommand_documents_examples():
    cmds = examples()
    assert len(cmds) >= 30
    for sub in ("matrix", "render", "lab", "doctor", "smoke", "ranktable", "collective", "accept"):
        assert any(c.startswith(f"{PREFIX} {sub}") for c in cmds), sub


def _runnable() -> list[str]:
    return [c for c in examples() if not NEEDS_LAB.match(c[len(PREFIX):].strip())]


@pytest.mark.parametrize("example", _runnable())
def test_a_documented_example_runs_without_a_traceback(example, tmp_path):
    argv = shlex.split(example)[3:]
    cp = subprocess.run([sys.executable, "-m", "ascend_env", *argv], capture_output=True, text=True, cwd=tmp_path,
                        timeout=300, env={**os.environ, "PATH": _PATH, "PYTHONPATH": str(ROOT)})
    said = cp.stdout[-1500:] + cp.stderr[-1500:]
    assert "Traceback" not in cp.stdout + cp.stderr, said
    assert cp.returncode in (0, 1, 2), (cp.returncode, said)
    if cp.returncode == 2:          # bad input: one message on stderr that says what
        assert cp.stderr.strip(), said
