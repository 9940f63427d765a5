"""The lab's isula client: isula's command line in, the same operation on Docker out; isula's refusals kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.render import ContainerSpec, render_container_argv

SHIM = Path(__file__).resolve().parents[2] / "ascend_env/lab/isula/isula.py"


@pytest.fixture
def fake_docker(tmp_path):
    """A `docker` on PATH that prints the argv it got, one word per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n")
    (bin_dir / "docker").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def isula(env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SHIM), *args], capture_output=True, text=True, env=env, timeout=30)


def test_the_rendered_isula_run_is_accepted_and_runs_on_docker(fake_docker):
    spec = ContainerSpec(name="llm", image="ascend-env/base:bookworm", runtime="isula", devices="0-1",
                         restart="on-reboot")
    argv = render_container_argv(spec)
    assert argv[0] == "isula" and "--net=host" in argv
    cp = isula(fake_docker, *argv[1:])
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout.splitlines()
    assert out[0] == "run" and "--network=host" in out and "--net=host" not in out
    assert "--restart=unless-stopped" in out
    assert "--device=/dev/davinci1:/dev/davinci1" in out
    assert out[-1] != "--detach" and "ascend-env/base:bookworm" in out


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--network=host", "img"], "Unknown flag found:'--network=host'"),
    (["run", "-w", "/work", "img"], "Unknown flag found:'w'"),
    (["run", "--restart=unless-stopped", "img"], "Unsupported restart policy: unless-stopped"),
    (["run", "--runtime=ascend", "img"], "runtime 'ascend' is not configured"),
    (["run", "--system-container", "img"], "--system-container is an iSulad feature"),
    (["run", "--name"], "Flag needs an argument: --name"),
    (["run", "-d"], "isula run requires at least 1 argument."),
    (["image", "inspect", "x"], 'command "image" not found'),
    (["load", "x.tar"], "isula load requires input file path"),
])
def test_what_isula_refuses_is_refused_with_its_message(fake_docker, args, message):
    cp = isula(fake_docker, *args)
    assert cp.returncode == 125
    assert message in cp.stderr
    assert cp.stdout == ""  # docker never ran


def test_inspect_load_rm_and_exec_pass_through(fake_docker):
    assert isula(fake_docker, "inspect", "llm").stdout.split() == ["inspect", "llm"]
    assert isula(fake_docker, "load", "-i", "/s/base.tar").stdout.split() == ["load", "--input=/s/base.tar"]
    assert isula(fake_docker, "rm", "-f", "llm").stdout.split() == ["rm", "--force", "llm"]
    got = isula(fake_docker, "exec", "-i", "llm", "sh", "-c", "echo hi").stdout.splitlines()
    assert got == ["exec", "--interactive", "llm", "sh", "-c", "echo hi"]


def test_runc_and_lcr_runtimes_run_on_the_engines_default(fake_docker):
    out = isula(fake_docker, "run", "-R", "lcr", "-d", "img").stdout.split()
    assert out == ["run", "--detach", "img"]
