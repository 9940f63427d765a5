"""The doctor's launcher group: the environment as `docker exec`, `ssh host CMD`, another user and a service meet it.

Pure checks on hand-made facts, then the probe for real on a host root (bash reading its startup files as it does
for a command run over ssh), as a lab host provisioned itself is read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.doctor.checks import Context, run_checks
from ascend_env.doctor.launcher import expectations
from ascend_env.probe import host
from ascend_env.render import EnvSpec, render_env_hook, render_env_profile, render_env_runner

ROOT = Path(__file__).resolve().parents[2]
VENV = "/opt/ascend-env/venv"
HOME = "/usr/local/Ascend/ascend-toolkit/latest"
LIB = f"{HOME}/lib64"
GOOD = {"env": {"PATH": f"{VENV}/bin:{HOME}/bin:/usr/bin:/bin", "LD_LIBRARY_PATH": LIB,
                "ASCEND_OPP_PATH": f"{HOME}/opp", "ASCEND_TOOLKIT_HOME": HOME, "VIRTUAL_ENV": VENV},
        "python3": f"{VENV}/bin/python3", "python3_prefix": VENV, "python": f"{VENV}/bin/python", "python_prefix": VENV}
BASE = {"env": {"PATH": "/usr/bin:/bin"}, "python3": "/usr/bin/python3", "python3_prefix": "/usr", "python": None}


def facts(runner: str | None = "/usr/local/bin/ascend-run", nnal: str | None = None, **views: dict) -> dict:
    dirs = {e: {"exists": True, "libs": ["libascendcl.so", "libhccl.so"] if e == LIB else []}
            for e in (f"{VENV}/bin", f"{HOME}/bin", LIB)}
    return {"system": {"in_container": True}, "cann": {"nnal": {"base": nnal} if nnal else None},
            "launchers": {"profile": "/etc/profile.d/ascend-env.sh", "runner": runner, "shell": "/bin/bash",
                          "set_env": "/usr/local/Ascend/ascend-toolkit/set_env.sh", "root": "/",
                          "views": {"baseline": BASE, "reference": GOOD, **views}, "dirs": dirs}}


def checks(f: dict, runtime: str = "docker") -> dict:
    return {c.id: c for c in run_checks(f, Context(matrix=None, runtime=runtime), ["launcher"])}  # type: ignore[arg-type]


def test_an_environment_every_launcher_gets_is_all_ok():
    got = checks(facts(exec=GOOD, ssh=GOOD, users=GOOD, service=GOOD))
    assert {k: c.status for k, c in got.items()} == {"launcher.exec": "ok", "launcher.ssh": "ok",
                                                     "launcher.users": "ok", "launcher.service": "ok"}
    assert "python3 of /opt/ascend-env/venv" in got["launcher.ssh"].summary


def test_docker_exec_with_the_images_python_and_no_cann_names_each_and_the_fix():
    bare = {"env": {"PATH": "/usr/local/bin:/usr/bin:/bin"}, "python3": "/usr/bin/python3", "python3_prefix": "/usr",
            "python": None}
    c = checks(facts(exec=bare, ssh=GOOD), runtime="isula")["launcher.exec"]
    assert c.status == "fail" and c.summary.startswith("isula exec (no shell): python3 is /usr/bin/python3 (/usr), "
                                                       "not the environment's (/opt/ascend-env/venv)")
    for part in ("no python on PATH", "ASCEND_OPP_PATH unset", "ASCEND_TOOLKIT_HOME unset", "VIRTUAL_ENV unset",
                 f"LD_LIBRARY_PATH lacks {LIB} (holding libascendcl.so, libhccl.so)"):
        assert part in c.detail
    assert f"PATH lacks {HOME}/bin" in c.detail and f"{VENV}/bin" not in c.detail.split("PATH lacks")[-1]
    assert "--tags container" in c.fix and "render env --as exec" in c.fix and "isula exec NAME" in c.fix


def test_a_changed_value_is_named_with_both_values():
    other = {**GOOD, "env": {**GOOD["env"], "ASCEND_OPP_PATH": "/elsewhere/opp"}}
    c = checks(facts(ssh=other))["launcher.ssh"]
    assert c.status == "fail" and f"ASCEND_OPP_PATH=/elsewhere/opp (the environment's: {HOME}/opp)" in c.detail


def test_nnal_is_not_asked_of_docker_exec():
    """NNAL's set_env.sh picks its C++ ABI from torch when sourced: the container's env at create leaves it out."""
    nnal_lib = "/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_0/lib"
    ref = {**GOOD, "env": {**GOOD["env"], "ATB_HOME_PATH": "/usr/local/Ascend/nnal/atb/latest/atb/cxx_abi_0",
                           "LD_LIBRARY_PATH": f"{nnal_lib}:{LIB}"}}
    f = facts(nnal="/usr/local/Ascend/nnal/atb", exec=GOOD, ssh=GOOD)
    f["launchers"]["views"]["reference"] = ref
    f["launchers"]["dirs"][nnal_lib] = {"exists": True, "libs": []}
    got = checks(f)
    assert got["launcher.exec"].status == "ok"
    assert got["launcher.ssh"].status == "fail" and "ATB_HOME_PATH unset" in got["launcher.ssh"].detail


def test_ssh_fix_depends_on_what_is_wrong():
    f = facts(ssh=BASE)
    c = checks(f)["launcher.ssh"]
    assert c.status == "fail" and "at the TOP of both" in c.fix and '[ -z "$PS1" ]' in c.fix
    assert "source /usr/local/Ascend/ascend-toolkit/set_env.sh" in c.fix
    f["launchers"]["shell"] = "/bin/sh"
    assert "chsh -s /bin/bash root" in checks(f)["launcher.ssh"].fix


def test_another_user_who_cannot_run_the_environments_python():
    locked = {**GOOD, "python3_prefix": None, "python3_error": "Permission denied", "python_prefix": None,
              "python_error": "Permission denied"}
    c = checks(facts(users=locked))["launcher.users"]
    assert c.status == "fail"
    assert "python3 (/opt/ascend-env/venv/bin/python3) does not run: Permission denied" in c.detail
    assert "chmod -R o+rX /opt/ascend-env/venv" in c.fix


def test_a_missing_runner_and_a_view_that_did_not_start():
    got = checks(facts(runner=None, ssh={"error": "exit 127: bash: not found"}))
    assert got["launcher.service"].status == "fail" and "ascend-run is missing" in got["launcher.service"].summary
    assert "render env --as runner" in got["launcher.service"].fix
    assert got["launcher.ssh"].detail == "could not start it: exit 127: bash: not found"


def test_no_reference_no_checks():
    assert checks({"system": {}}) == {}
    assert checks({"launchers": {"profile": None, "runner": None, "views": {}}}) == {}
    same = facts(ssh=BASE)
    same["launchers"]["views"]["reference"] = BASE          # nothing installed to expect
    assert expectations(same["launchers"]).empty and checks(same) == {}
    broken = facts(ssh=GOOD)
    broken["launchers"]["views"]["reference"] = {"error": "exit 1: set_env.sh: syntax error"}
    assert checks(broken)["launcher.ssh"].status == "skip"


# --- the probe, for real, on a host root ---------------------------------------------------------------------------

@pytest.fixture()
def host_root(tmp_path: Path) -> dict:
    """A host provisioned itself, under a root: a venv, CANN's set_env.sh, the profile, ascend-run, and root's
    Ubuntu .bashrc with the hook at its top (as the framework role leaves it)."""
    root = tmp_path / "root"
    venv = root / "opt/ascend-env/venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lib = root / "usr/local/Ascend/ascend-toolkit/latest/lib64"
    lib.mkdir(parents=True)
    (lib / "libhccl.so").write_text("")
    set_env = root / "usr/local/Ascend/ascend-toolkit/set_env.sh"
    set_env.write_text(f"export ASCEND_TOOLKIT_HOME={lib.parent}\nexport ASCEND_OPP_PATH={lib.parent}/opp\n"
                       "export LD_LIBRARY_PATH=${ASCEND_TOOLKIT_HOME}/lib64:$LD_LIBRARY_PATH\n")
    (root / "etc/profile.d").mkdir(parents=True)
    profile = root / host.PROFILE
    profile.write_text(render_env_profile(EnvSpec(set_env=str(set_env), venv=str(venv), driver_root=None)))
    runner = root / host.RUNNER
    runner.parent.mkdir(parents=True)
    runner.write_text(render_env_runner(str(profile)))
    runner.chmod(0o755)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "root").mkdir()
    ubuntu = (ROOT / "ascend_env/lab/data/ubuntu_root.bashrc").read_text()
    hook = render_env_hook(str(profile))
    (root / "root/.bashrc").write_text(hook + ubuntu)
    return {"root": root, "venv": venv, "hook": hook, "ubuntu": ubuntu, "runner": runner}


def _probe(root: Path, via: str = "ssh") -> dict:
    return {"system": {}, "cann": {}, "launchers": host.probe_launchers(str(root), via)}


def test_the_probe_meets_the_environment_as_ssh_and_a_service_do(host_root):
    f = _probe(host_root["root"])
    views = f["launchers"]["views"]
    assert views["reference"]["python3_prefix"] == str(host_root["venv"])
    got = checks(f)
    assert {k: c.status for k, c in got.items()} == {"launcher.ssh": "ok", "launcher.service": "ok"}, got


def test_the_probe_finds_the_hook_below_ubuntus_guard_and_a_lost_runner(host_root):
    root = host_root["root"]
    (root / "root/.bashrc").write_text(host_root["ubuntu"] + host_root["hook"])      # where the block used to be
    host_root["runner"].unlink()
    got = checks(_probe(root))
    assert got["launcher.ssh"].status == "fail"
    summary = got["launcher.ssh"].summary
    assert f"python3 is /usr/bin/python3 (/usr), not the environment's ({host_root['venv']})" in summary \
        or "no python3" in summary
    assert "ASCEND_OPP_PATH unset" in got["launcher.ssh"].detail and "libhccl.so" in got["launcher.ssh"].detail
    assert got["launcher.service"].status == "fail" and "is missing" in got["launcher.service"].summary


def test_the_probe_holds_the_profile_to_what_is_installed(host_root):
    """A profile that lost CANN's line (a variable removed): ssh and ascend-run lack CANN; the reference does not
    come from the profile, so the loss shows."""
    profile = host_root["root"] / host.PROFILE
    profile.write_text("\n".join(ln for ln in profile.read_text().splitlines() if "set_env.sh" not in ln) + "\n")
    got = checks(_probe(host_root["root"]))
    for cid in ("launcher.ssh", "launcher.service"):
        assert got[cid].status == "fail" and got[cid].summary.split(": ", 1)[1].startswith("ASCEND_OPP_PATH unset"), \
            got[cid].summary
    assert "libhccl.so" in got["launcher.ssh"].detail and "set_env.sh" in got["launcher.ssh"].fix


def test_nothing_installed_nothing_expected(tmp_path):
    assert host.probe_launchers(str(tmp_path), "ssh")["views"] == {}


def test_the_probe_reads_its_own_environment_as_docker_exec_gives_it(host_root, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    for key in ("VIRTUAL_ENV", "ASCEND_OPP_PATH", "ASCEND_TOOLKIT_HOME", "LD_LIBRARY_PATH"):
        monkeypatch.delenv(key, raising=False)
    c = checks(_probe(host_root["root"], via="exec"))["launcher.exec"]
    assert c.status == "fail" and "ASCEND_TOOLKIT_HOME unset" in c.detail
    venv = host_root["venv"]
    monkeypatch.setenv("PATH", f"{venv}/bin:/usr/bin:/bin")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    lib = host_root["root"] / "usr/local/Ascend/ascend-toolkit/latest"
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(lib))
    monkeypatch.setenv("ASCEND_OPP_PATH", f"{lib}/opp")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{lib}/lib64")
    assert checks(_probe(host_root["root"], via="exec"))["launcher.exec"].status == "ok"


def test_the_launcher_probe_keeps_only_the_stacks_variables(host_root, monkeypatch):
    monkeypatch.setenv("MY_SECRET_TOKEN", "hunter2")
    views = host.probe_launchers(str(host_root["root"]), "exec")["views"]
    assert "MY_SECRET_TOKEN" not in views["exec"]["env"] and "hunter2" not in str(views)
    assert os.environ["MY_SECRET_TOKEN"] == "hunter2"
