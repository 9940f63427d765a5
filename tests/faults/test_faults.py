"""Fault tests: inject a fault into the converged fault lab, run site.yml, check the outcome, run again, check that
it converged with nothing lost.  Tests run in file order on one lab; each leaves it converged."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from labtools import REPO, ansible_env, failures, recap, run_playbook

from .conftest import PREFIX, lab, write_inventory

pytestmark = pytest.mark.usefixtures("fleet")
NO_SMOKE = ("--skip-tags", "smoke")


def limit(*hosts: str) -> tuple[str, str]:
    return ("--limit", ",".join([*hosts, *(f"{h}-*" for h in hosts), "localhost"]))


def engine(fleet: dict[str, Any], host: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=fleet["hosts"][host]["ascend_docker_host"])
    return subprocess.run(["docker", *argv], env=env, capture_output=True, text=True, check=check, timeout=300)


def host_root(fleet: dict[str, Any], host: str) -> Path:
    return Path(fleet["hosts"][host]["ascend_host_root"])


class Background:
    """ansible-playbook in its own process group, its output collected line by line."""

    def __init__(self, inventory: Path, *extra: str):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(["ansible-playbook", "site.yml", "-i", str(inventory), *extra], cwd=REPO,
                                     env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, what: Any, timeout: float = 900) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if what() if callable(what) else any(what in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended before {what!r}:\n{''.join(self.lines)[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what!r}:\n{''.join(self.lines)[-4000:]}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def finish(self, timeout: float = 1800) -> str:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return "".join(self.lines)


def pids_matching(text: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if int(p) != os.getpid()]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants (what a crash or `kill -9` of the whole run leaves)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for child in children:
        kill_tree(int(child))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def converges(fleet: dict[str, Any], *hosts: str, idempotent: bool = False) -> str:
    again = run_playbook(fleet["inventory"], *limit(*hosts), *NO_SMOKE)
    assert again.returncode == 0, failures(again.stdout)
    if idempotent:
        third = run_playbook(fleet["inventory"], *limit(*hosts), *NO_SMOKE)
        rows = recap(third.stdout)
        assert third.returncode == 0 and all(r["changed"] == 0 for r in rows.values()), third.stdout[-3000:]
    return again.stdout


# --- container deleted, then the run killed in the middle of the pip install ------------------------------
def test_container_deleted_then_run_killed_mid_pip_install_recovers_and_keeps_the_workdir(fleet):
    """The container is deleted between runs (its work folder is a host mount); the next run recreates it and is
    killed with SIGKILL while pip installs torch (pip killed too); the run after that converges, the versions are
    exactly the resolved ones and the file in the work folder is still there."""
    assert engine(fleet, "f1", "exec", "llm-torch", "sh", "-c", "echo kept > /root/work/notes.txt").returncode == 0
    engine(fleet, "f1", "rm", "-f", "llm-torch", check=True)
    run = Background(fleet["inventory"], *limit("f1"), *NO_SMOKE)
    run.wait_for(lambda: bool(pids_matching("venv/bin/pip install .*torch")), timeout=1200)
    time.sleep(2)                                   # well inside the install of a 200 MB wheel set
    pips = pids_matching("venv/bin/pip install .*torch")
    run.kill()
    for pid in pips:
        kill_tree(pid)
    assert not pids_matching("venv/bin/pip install .*torch")
    out = converges(fleet, "f1")
    assert "torch 2.13.0" in out or "matmul on cpu is correct" in out
    check = engine(fleet, "f1", "exec", "llm-torch", "/opt/ascend-env/venv/bin/python", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    kept = engine(fleet, "f1", "exec", "llm-torch", "cat", "/root/work/notes.txt")
    assert kept.stdout.strip() == "kept"
    assert (host_root(fleet, "f1") / "srv/ascend-work/notes.txt").read_text().strip() == "kept"


# --- killed in the middle of the CANN toolkit install -----------------------------------------------------
def _remove_cann(root: Path) -> None:
    ascend = root / "usr/local/Ascend"
    for p in ascend.iterdir():
        if p.name not in ("driver", "firmware", "add-ons"):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    (root / "etc/Ascend/ascend_cann_install.info").unlink(missing_ok=True)


def test_run_killed_mid_cann_toolkit_install_is_repaired(fleet):
    """f2 (the host itself) loses its CANN; the next run is killed with SIGKILL, installer included, while the
    toolkit is half laid down (files and install info written, latest/ and set_env.sh not); the run after that
    finds the toolkit's installer saying "already installed" for a toolkit it cannot see, uninstalls the half,
    installs again and converges; a further run changes nothing."""
    root = host_root(fleet, "f2")
    _remove_cann(root)
    pause = root / "tmp/ascend-lab-pause-toolkit-links"
    pause.parent.mkdir(parents=True, exist_ok=True)
    pause.touch()
    try:
        run = Background(fleet["inventory"], *limit("f2"), *NO_SMOKE)
        run.wait_for(lambda: pause.with_name(pause.name + ".reached").exists(), timeout=900)
        installers = pids_matching("Ascend-cann-toolkit")
        run.kill()
        for pid in installers:
            kill_tree(pid)
    finally:
        pause.unlink(missing_ok=True)
        pause.with_name(pause.name + ".reached").unlink(missing_ok=True)
    infos = list((root / "usr/local/Ascend").glob("*/*-linux/ascend_toolkit_install.info"))
    assert infos, "the kill did not leave a half-installed toolkit"
    assert not (root / "usr/local/Ascend/cann/set_env.sh").exists()
    out = converges(fleet, "f2", idempotent=True)
    assert "Uninstall the half-installed" in out
    assert (root / "usr/local/Ascend/cann/set_env.sh").exists()


# --- container stopped -------------------------------------------------------------------------------------
def test_stopped_container_is_started_and_reached(fleet):
    engine(fleet, "f1", "stop", "-t", "1", "llm-torch", check=True)
    out = converges(fleet, "f1")
    assert "Start the stopped container llm-torch" in out
    assert recap(out)["f1"]["changed"] >= 1 and recap(out)["f1-llm-torch"]["failed"] == 0
    state = json.loads(engine(fleet, "f1", "inspect", "llm-torch", check=True).stdout)[0]["State"]
    assert state["Running"] is True


# --- the docker daemon restarted during a run ---------------------------------------------------------------
def test_docker_daemon_stopped_fails_clearly_then_converges(fleet):
    """The host's one-call reading asks the engine about every container: an engine that does not answer is a clear
    failure naming it (never read as "no containers", which would recreate them), and the next run converges."""
    pid_file = PREFIX / "hosts/f1/run/dockerd.pid"
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)                       # dockerd stops its containers, then exits
    for _ in range(600):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    bad = run_playbook(fleet["inventory"], *limit("f1"), *NO_SMOKE)
    out = bad.stdout
    assert bad.returncode != 0, out[-3000:]
    assert recap(out)["f1"]["failed"] >= 1, out[-3000:]
    flat = " ".join(out.split())
    assert "the container engine did not answer" in flat and "Cannot connect to the Docker daemon" in flat, \
        failures(out)
    assert all(r["changed"] == 0 for r in recap(out).values())
    lab("up")                                                   # the daemon back, as after a host reboot
    converges(fleet, "f1", idempotent=False)


# --- an artefact corrupted in the store ---------------------------------------------------------------------
def test_corrupted_store_artefact_is_refused_by_checksum_before_any_change(fleet):
    victims = sorted((PREFIX / "store/runs").glob("Ascend-cann-toolkit_*.run"))
    saved = {v: v.read_bytes() for v in victims}
    try:
        for v, data in saved.items():
            v.write_bytes(data[:-64] + b"\0" * 64)
        bad = run_playbook(fleet["inventory"], *limit("f1"), *NO_SMOKE)
        assert bad.returncode != 0
        named = [v for v in victims if f"ascend_offline_store '{v}'" in bad.stdout]
        assert named and "checksum mismatch: sha256" in bad.stdout, bad.stdout[-3000:]
        assert "nothing was" in bad.stdout and "Fix: the file is corrupt or was replaced" in bad.stdout
        assert all(r["changed"] == 0 for r in recap(bad.stdout).values())
    finally:
        for v, data in saved.items():
            v.write_bytes(data)
    converges(fleet, "f1")


# --- the install path's disk full -------------------------------------------------------------------------
def test_install_path_out_of_space_is_a_clear_error_and_leaves_nothing_half_written(fleet):
    """f2 loses its CANN, then the lab's disk-full fault makes its /usr/local/Ascend a tmpfs with 50 MiB free (the
    tree copied in): the toolkit installer refuses with the path and the space it needs, nothing of the toolkit is
    written; with the fault cleared, the next run converges."""
    root = host_root(fleet, "f2")
    ascend = root / "usr/local/Ascend"
    _remove_cann(root)
    lab("fault", "f2", "disk-full")
    try:
        before = sorted(p.name for p in ascend.iterdir())
        bad = run_playbook(fleet["inventory"], *limit("f2"), *NO_SMOKE)
        assert bad.returncode != 0
        said = " ".join(bad.stdout.split())                 # the YAML callback folds long lines
        assert f"The space of {ascend} is not enough to install Ascend-cann-toolkit" in said, failures(bad.stdout)
        assert "KB is required, but only" in said and "Fix: free space there" in said
        assert sorted(p.name for p in ascend.iterdir()) == before
    finally:
        lab("fault", "f2", "--clear", "disk-full")
    converges(fleet, "f2", idempotent=False)


# --- an sshd option that sshd -t rejects --------------------------------------------------------------------
def test_sshd_option_rejected_by_sshd_t_keeps_the_previous_config_and_the_container_reachable(fleet):
    conf = "/etc/ssh/sshd_config.d/ascend-env.conf"
    before = engine(fleet, "f1", "exec", "llm-torch", "cat", conf, check=True).stdout
    # a keyword and value the renderer's own check (ascend_env.sshd_options) passes, but sshd -t refuses: only sshd
    # knows that a PermitOpen target needs a port (an unknown keyword is refused before anything is written)
    bad = run_playbook(fleet["inventory"], "--tags", "ssh", *limit("f1"),
                       "-e", '{"ascend_ssh_extra_options": {"PermitOpen": "foo"}}')
    assert bad.returncode != 0
    assert "PermitOpen bad port number" in bad.stdout, bad.stdout[-3000:]
    assert engine(fleet, "f1", "exec", "llm-torch", "cat", conf, check=True).stdout == before
    hv = fleet["hosts"]["f1"]
    port = str(hv["ascend_containers"][0].get("ssh_port", 223))
    reach = subprocess.run(["ssh", "-i", hv["ansible_ssh_private_key_file"], "-p", port, "-o", "BatchMode=yes",
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            f"root@{hv['ansible_host']}", "true"], capture_output=True, text=True, timeout=60)
    assert reach.returncode == 0, reach.stderr
    converges(fleet, "f1")


# --- a host unreachable in a fleet run ----------------------------------------------------------------------
def test_unreachable_host_does_not_stop_the_others_and_the_summary_names_it(fleet, tmp_path):
    ghost = dict(fleet["hosts"]["f1"], ansible_host="127.0.0.39", ansible_port=9)   # nothing listens there
    inventory = write_inventory(tmp_path / "hosts.yml", {"f9": ghost})
    cp = run_playbook(inventory, *NO_SMOKE)
    rows = recap(cp.stdout)
    assert cp.returncode == 4, cp.stdout[-3000:]                # ansible-playbook's "a host was unreachable"
    assert rows["f9"]["unreachable"] == 1
    assert all(rows[h]["failed"] == 0 and rows[h]["unreachable"] == 0 for h in ("f1", "f2", "f1-llm-torch",
                                                                                 "f2-llm-torch"))
    assert "f9: NOT READY (unreachable or failed" in cp.stdout


# --- security alongside -------------------------------------------------------------------------------------
def test_generated_files_are_tight_and_the_container_is_not_privileged(fleet):
    info = json.loads(engine(fleet, "f1", "inspect", "llm-torch", check=True).stdout)[0]
    assert info["HostConfig"]["Privileged"] is False
    modes = engine(fleet, "f1", "exec", "llm-torch", "stat", "-c", "%n %a %U",
                   "/root/.ssh", "/root/.ssh/authorized_keys", "/etc/ssh/sshd_config.d/ascend-env.conf",
                   check=True).stdout.split("\n")
    got = {line.split()[0]: line.split()[1:] for line in modes if line}
    assert got["/root/.ssh"] == ["700", "root"]
    assert got["/root/.ssh/authorized_keys"] == ["600", "root"]
    mode, owner = got["/etc/ssh/sshd_config.d/ascend-env.conf"]
    assert owner == "root" and int(mode, 8) & 0o022 == 0
    key = Path(fleet["hosts"]["f1"]["ansible_ssh_private_key_file"])
    assert key.stat().st_mode & 0o077 == 0


def test_no_private_key_material_in_verbose_output(fleet):
    key = Path(fleet["hosts"]["f1"]["ansible_ssh_private_key_file"]).read_text()
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    cp = run_playbook(fleet["inventory"], "--tags", "ssh", *limit("f1"), "-vvv")
    assert cp.returncode == 0, failures(cp.stdout)
    assert not any(line in cp.stdout + cp.stderr for line in body)
    assert "PRIVATE KEY" not in cp.stdout + cp.stderr
