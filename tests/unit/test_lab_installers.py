"""The lab's fake Huawei .run installers: built with the real makeself, run with bash, results checked on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ascend_env.compat import Bound, parse_bounds
from ascend_env.lab import installers as inst
from ascend_env.lab import sysroot
from ascend_env.versions import Version

pytestmark = pytest.mark.skipif(shutil.which("makeself") is None or not inst.STOCK_HEADER.exists(),
                                reason="makeself is not installed")

DRIVER_INFO = """Version=25.0.rc1.1
ascendhal_version=7.35.23
Innerversion=V100R001C21SPC002B220
compatible_version=[V100R001C17],[V100R001C18],[V100R001C19],[V100R001C20],[V100R001C21]
compatible_version_fw=[7.0.0,7.7.99]
package_version=25.0.rc1.1
"""
FIRMWARE_INFO = "Version=7.7.0.1.231\nfirmware_version=1.0\npackage_version=25.0.rc1.1\n"


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory, matrix) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("run")
    b = inst.build_cann_package
    return {
        "tk80rc2": b("toolkit", "8.0.RC2", "aarch64", out, matrix=matrix),
        "tk800": b("toolkit", "8.0.0", "aarch64", out, matrix=matrix),
        "tk850": b("toolkit", "8.5.0", "aarch64", out, matrix=matrix),
        "tk_x86": b("toolkit", "8.0.0", "x86_64", out, matrix=matrix),
        "k80rc2": b("kernels", "8.0.RC2", "aarch64", out, chip="910b", matrix=matrix),
        "k800": b("kernels", "8.0.0", "aarch64", out, chip="910b", matrix=matrix),
        "ops850": b("kernels", "8.5.0", "aarch64", out, chip="910b", matrix=matrix),
        "nnal": b("nnal", "8.0.0", "aarch64", out, matrix=matrix),
        "driver": inst.build_driver_package("25.0.rc1.1", "910b", "aarch64", out, DRIVER_INFO, matrix=matrix),
        "firmware": inst.build_firmware_package("7.7.0.1.231", "910b", out, FIRMWARE_INFO, matrix=matrix),
    }


@pytest.fixture
def lab(tmp_path):
    """A fake python3 (3.10.12) first on PATH, the lab root and an install path, all in tmp."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "python3").write_text('#!/bin/sh\necho "Python 3.10.12"\n')
    (fake / "python3").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASCEND_", "TOOLCHAIN_HOME"))}
    env.update(PATH=f"{fake}:{os.environ['PATH']}", ASCEND_LAB_IN_CONTAINER="0", ASCEND_LAB_ROOT=str(tmp_path / "root"),
               ASCEND_LAB_UNAME_M="aarch64", ASCEND_LAB_REQUIRED_KB="1", HOME=str(tmp_path / "home"))
    # the host's driver build tools and kernel headers, as every lab host has them (sysroot.driver_build_deps)
    sysroot.driver_build_deps(tmp_path / "root")
    return {"env": env, "path": tmp_path / "inst" / "Ascend", "root": tmp_path / "root", "tmp": tmp_path}


def run(pkg: Path, *args: str, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(pkg), *args], env={**env, **extra}, capture_output=True, text=True,
                          timeout=60, check=False)


def install(lab, pkg: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run(pkg, "--nox11", *(args or ("--install",)), "--quiet", f"--install-path={lab['path']}",
               env=lab["env"], **extra)


def kv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# --- pure helpers ------------------------------------------------------------------------------------------
def test_inner_versions_table_has_sources_and_real_samples():
    rows = {r.version.canonical: r for r in inst.load_inner_versions()}
    assert rows["8.0.0"].innerversion == "V100R001C20SPC001B251"
    assert rows["8.0.RC3"].compatible_version == "[V100R001C13,V100R001C19],[V100R001C30]"
    assert rows["8.5.0"].innerversion == "V100R001C25SPC001B212"
    assert all(r.source for r in rows.values())
    assert rows["8.0.RC2"].source.startswith("lab-derived")
    assert Bound("V100R001C15", None) in parse_bounds(rows["8.0.0"].compatible_version)  # as the toolkit rule reads it


def test_inner_version_for_betas_and_unknown_versions(matrix):
    beta = inst.inner_version_for("8.0.RC1.beta1", m=matrix)
    assert beta.derived and beta.innerversion == "V100R001C17SPC001B240"
    newer = inst.inner_version_for("9.0.0", m=matrix)
    assert newer.derived and newer.innerversion == "V100R001C25SPC001B212"


def test_python_support_comes_from_the_matrix(matrix):
    assert [mm for mm, _, _ in inst.python_support(matrix, "8.0.RC2")] == ["3.7", "3.8", "3.9", "3.10"]
    assert ("3.11", 0, 4) in inst.python_support(matrix, "8.0.0")
    assert ("3.9", 0, 7) in inst.python_support(matrix, "8.0.RC1")


def test_toolkit_layout_resolves_links(matrix):
    old = inst.toolkit_layout(matrix, "8.0.RC2", "aarch64")
    assert (old["LATEST_LINK_REL"], old["LINK_TARGET"]) == ("ascend-toolkit/latest", "8.0.RC2")
    new = inst.toolkit_layout(matrix, "8.5.0", "aarch64")
    assert (new["LATEST_LINK_REL"], new["LINK_TARGET"], new["SET_ENV_PHYS_REL"]) == \
        ("cann", "cann-8.5.0", "cann-8.5.0/set_env.sh")


def test_header_patch_fails_loudly_on_an_unknown_header():
    with pytest.raises(inst.InstallerBuildError, match="makeself header changed"):
        inst.patched_header("#!/bin/sh\necho not makeself\n")


# --- names, help, check --------------------------------------------------------------------------------------
def test_real_file_names(pkgs):
    names = {k: p.name for k, p in pkgs.items()}
    assert names["tk80rc2"] == "Ascend-cann-toolkit_8.0.RC2_linux-aarch64.run"
    assert names["k80rc2"] == "Ascend-cann-kernels-910b_8.0.RC2_linux.run"
    assert names["k800"] == "Ascend-cann-kernels-910b_8.0.0_linux-aarch64.run"
    assert names["ops850"] == "Ascend-cann-910b-ops_8.5.0_linux-aarch64.run"
    assert names["driver"] == "Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-aarch64.run"
    assert names["firmware"] == "Ascend-hdk-910b-npu-firmware_7.7.0.1.231.run"


def test_help_version_and_unknown_option(pkgs, lab):
    h = run(pkgs["tk800"], "--help", env=lab["env"])
    assert h.returncode == 0
    assert "--install-path=<path>" in h.stdout and "--check" in h.stdout and "--upgrade" in h.stdout
    v = run(pkgs["tk800"], "--version", env=lab["env"])
    assert v.returncode == 0 and v.stdout.strip().endswith("8.0.0")
    bad = run(pkgs["tk800"], "--install", "--frobnicate", env=lab["env"])
    assert bad.returncode != 0 and "--frobnicate" in bad.stderr


def test_check_passes_and_a_corrupted_archive_fails(pkgs, lab, tmp_path):
    ok = run(pkgs["tk800"], "--check", env=lab["env"])
    assert ok.returncode == 0 and "All good" in ok.stdout
    broken = tmp_path / pkgs["tk800"].name
    data = bytearray(pkgs["tk800"].read_bytes())
    data[-200] ^= 0xFF
    broken.write_bytes(bytes(data))
    assert run(broken, "--check", env=lab["env"]).returncode != 0
    res = run(broken, "--install", f"--install-path={lab['path']}", env=lab["env"])
    assert res.returncode != 0 and not lab["path"].exists()


def test_builds_are_reproducible(tmp_path, matrix):
    a = inst.build_cann_package("nnal", "8.0.0", "aarch64", tmp_path / "a", matrix=matrix)
    b = inst.build_cann_package("nnal", "8.0.0", "aarch64", tmp_path / "b", matrix=matrix)
    assert a.read_bytes() == b.read_bytes()


# --- toolkit -----------------------------------------------------------------------------------------------
def test_toolkit_install_lays_down_the_real_files(pkgs, lab):
    res = install(lab, pkgs["tk800"])
    assert res.returncode == 0, res.stderr
    assert "Ascend-cann-toolkit_8.0.0_linux-aarch64 install success" in res.stdout
    base = lab["path"] / "ascend-toolkit"
    assert os.readlink(base / "latest") == "8.0.0"
    info = kv(base / "latest" / "aarch64-linux" / "ascend_toolkit_install.info")
    assert info == {"package_name": "Ascend-cann-toolkit", "version": "8.0.0",
                    "innerversion": "V100R001C20SPC001B251",
                    "compatible_version": "[V100R001C15],[V100R001C17],[V100R001C18],[V100R001C19],[V100R001C20]",
                    "arch": "aarch64", "os": "linux", "path": f"{base}/8.0.0/aarch64-linux"}
    assert kv(base / "8.0.0" / "compiler" / "version.info") == {"Version": "7.6.0.1.220", "version_dir": "8.0.0"}
    assert (base / "8.0.0" / "opp" / "version.info").exists() and (base / "8.0.0" / "runtime" / "version.info").exists()
    set_env = (base / "set_env.sh").read_text()
    for needle in (f"export ASCEND_TOOLKIT_HOME={base}/latest", "${ASCEND_TOOLKIT_HOME}/lib64",
                   f"{lab['path']}/driver/lib64", "ccec_compiler/bin", "export ASCEND_HOME_PATH=",
                   "export ASCEND_OPP_PATH=", "export ASCEND_AICPU_PATH=", "export TOOLCHAIN_HOME=", "PYTHONPATH="):
        assert needle in set_env
    sourced = subprocess.run(["bash", "-c", f"source {base}/set_env.sh && echo $ASCEND_HOME_PATH"],
                             capture_output=True, text=True, check=True)
    assert sourced.stdout.strip() == f"{base}/latest"
    record = kv(lab["root"] / "etc" / "Ascend" / "ascend_cann_install.info")
    assert record == {"Install_Path": str(lab["path"]), "Toolkit_InstallPath": str(base)}
    log = (lab["tmp"] / "inst" / "ascend_lab_logs" / "ascend_toolkit_install.log").read_text()
    assert "[Toolkit] [" in log and "[INFO] install start" in log


def test_the_exec_environment_is_what_set_env_sh_gives(pkgs, lab):
    """A container's env at create (what docker exec gets, ascend_env.render.exec_env) equals what sourcing the
    toolkit's set_env.sh in an empty environment gives: every variable, every library and PATH entry, in order."""
    from ascend_env.render import DEFAULT_EXEC_PATH, EnvSpec, exec_env

    assert install(lab, pkgs["tk800"]).returncode == 0
    base = lab["path"] / "ascend-toolkit"
    sourced = subprocess.run(["bash", "--norc", "--noprofile", "-c", f". {base}/set_env.sh && env"],
                             capture_output=True, text=True, check=True, env={"PATH": DEFAULT_EXEC_PATH})
    got = dict(line.split("=", 1) for line in sourced.stdout.splitlines() if "=" in line)
    want = exec_env(EnvSpec(driver_root=str(lab["path"] / "driver")), str(base / "latest"), "aarch64")
    for key, value in want.items():
        if key in ("LD_LIBRARY_PATH", "PYTHONPATH"):   # set_env.sh leaves an empty entry (the cwd) at the end
            assert [e for e in got[key].split(":") if e] == value.split(":"), key
        else:
            assert got[key] == value, key
    assert {k for k in got if k.startswith(("ASCEND_", "TOOLCHAIN"))} == {k for k in want if k.startswith(
        ("ASCEND_", "TOOLCHAIN"))}


def test_toolkit_repeat_install_says_already_installed(pkgs, lab):
    assert install(lab, pkgs["tk800"]).returncode == 0
    again = install(lab, pkgs["tk800"])
    assert again.returncode == 0 and "already installed" in again.stdout


def test_toolkit_upgrade_replaces_and_uninstall_removes(pkgs, lab):
    assert install(lab, pkgs["tk80rc2"]).returncode == 0
    up = install(lab, pkgs["tk800"], "--upgrade")
    assert up.returncode == 0, up.stderr
    base = lab["path"] / "ascend-toolkit"
    assert os.readlink(base / "latest") == "8.0.0" and not (base / "8.0.RC2").exists()
    un = install(lab, pkgs["tk800"], "--uninstall")
    assert un.returncode == 0, un.stderr
    assert not (base / "8.0.0").exists() and not (base / "latest").is_symlink()
    assert not (lab["root"] / "etc" / "Ascend" / "ascend_cann_install.info").exists()


def test_toolkit_85_layout(pkgs, lab):
    res = install(lab, pkgs["tk850"])
    assert res.returncode == 0, res.stderr
    p = lab["path"]
    assert os.readlink(p / "cann") == "cann-8.5.0"
    info = kv(p / "cann" / "aarch64-linux" / "ascend_toolkit_install.info")
    assert info["version"] == "8.5.0" and info["path"] == f"{p}/cann-8.5.0/aarch64-linux"
    assert info["innerversion"] == "V100R001C25SPC001B212"
    assert f"export ASCEND_TOOLKIT_HOME={p}/cann" in (p / "cann" / "set_env.sh").read_text()
    assert (p / "ascend-toolkit" / "latest" / "aarch64-linux" / "ascend_toolkit_install.info").exists()
    ops = install(lab, pkgs["ops850"])
    assert ops.returncode == 0, ops.stderr
    assert (p / "cann-8.5.0" / "opp" / "built-in" / "op_impl" / "ai_core" / "tbe" / "kernel" / "ascend910b").is_dir()


def test_toolkit_refuses_the_wrong_arch(pkgs, lab):
    res = install(lab, pkgs["tk_x86"])
    assert res.returncode != 0
    assert "x86_64" in res.stderr and "aarch64" in res.stderr
    assert not lab["path"].exists()


def test_toolkit_refuses_without_a_supported_python(pkgs, lab, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for f in Path(d).iterdir() if Path(d).is_dir() else ():
            if not f.name.startswith("python") and not (tools / f.name).exists():
                (tools / f.name).symlink_to(f)
    (tools / "python3").write_text('#!/bin/sh\necho "Python 3.12.3"\n')
    (tools / "python3").chmod(0o755)
    res = install(lab, pkgs["tk800"], PATH=str(tools))
    assert res.returncode != 0
    assert ("There is no python3.7,python3.8,python3.9,python3.10,python3.11 in the current environment !"
            in res.stderr)
    assert not lab["path"].exists()


def test_refuses_the_real_install_path_outside_a_container(pkgs, lab):
    res = run(pkgs["tk800"], "--install", "--install-path=/usr/local/Ascend", env=lab["env"])
    assert res.returncode != 0 and "--install-path" in res.stderr
    res = run(pkgs["driver"], "--full", "--install-username=root", "--install-usergroup=root", env=lab["env"])
    assert res.returncode != 0 and "/usr/local/Ascend" in res.stderr


def test_refuses_when_space_is_short(pkgs, lab):
    res = install(lab, pkgs["tk800"], ASCEND_LAB_REQUIRED_KB=str(10**12))
    assert res.returncode != 0 and "not enough" in res.stderr
    assert not lab["path"].exists()


def test_recorded_install_path_wins(pkgs, lab, tmp_path):
    assert install(lab, pkgs["tk800"]).returncode == 0
    other = run(pkgs["k800"], "--install", f"--install-path={tmp_path / 'elsewhere'}", env=lab["env"])
    assert other.returncode != 0 and "'install-path' parameter are not supported" in other.stderr
    default = run(pkgs["k800"], "--install", env=lab["env"])  # no --install-path: the recorded one
    assert default.returncode == 0, default.stderr
    assert (lab["path"] / "ascend-toolkit" / "8.0.0" / "opp_kernel" / "version.info").exists()


# --- kernels, nnal ---------------------------------------------------------------------------------------
def test_kernels_need_the_matching_toolkit(pkgs, lab):
    alone = install(lab, pkgs["k800"])
    assert alone.returncode != 0 and "toolkit" in alone.stderr
    assert install(lab, pkgs["tk800"]).returncode == 0
    mismatch = install(lab, pkgs["k80rc2"])
    assert mismatch.returncode != 0
    assert "8.0.0" in mismatch.stderr and "8.0.RC2" in mismatch.stderr
    ok = install(lab, pkgs["k800"])
    assert ok.returncode == 0, ok.stderr
    home = lab["path"] / "ascend-toolkit" / "8.0.0"
    assert (home / "opp" / "built-in" / "op_impl" / "ai_core" / "tbe" / "kernel" / "ascend910b").is_dir()
    assert kv(home / "opp_kernel" / "version.info")["version_dir"] == "8.0.0"
    assert "already installed" in install(lab, pkgs["k800"]).stdout


def test_nnal_needs_the_toolkit_environment(pkgs, lab):
    assert install(lab, pkgs["tk800"]).returncode == 0
    bare = install(lab, pkgs["nnal"])
    assert bare.returncode != 0 and "set_env.sh" in bare.stderr
    home = lab["path"] / "ascend-toolkit" / "latest"
    ok = install(lab, pkgs["nnal"], ASCEND_HOME_PATH=str(home))
    assert ok.returncode == 0, ok.stderr
    atb = lab["path"] / "nnal" / "atb"
    assert os.readlink(atb / "latest") == "8.0.0"
    assert (atb / "8.0.0" / "atb" / "set_env.sh").exists()
    out = subprocess.run(["bash", "-c", f"source {atb}/set_env.sh && echo $ATB_HOME_PATH"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{atb}/latest/atb/cxx_abi_0"


# --- driver, firmware ----------------------------------------------------------------------------------
def test_driver_needs_its_run_user(pkgs, lab):
    res = install(lab, pkgs["driver"], "--full", "--install-username=no_such_user_lab")
    assert res.returncode != 0 and "ERR_NO:0x0091" in res.stderr and "no_such_user_lab not exists" in res.stderr
    assert not lab["path"].exists()


@pytest.mark.parametrize(("missing", "said"), [
    (frozenset({"headers"}), "Error! Your kernel headers for kernel {k} cannot be found at /lib/modules/{k}/build"),
    (frozenset({"dkms"}), "dkms: command not found"),
    (frozenset({"gcc", "make"}), "gcc: command not found; make: command not found"),
])
def test_driver_without_its_build_tools_fails_as_the_real_one(pkgs, lab, missing, said):
    """No dkms, no headers for the running kernel, no compiler: the real installer's two lines after its copy
    (hiascend instg_0066), dkms's own words in the log, and the installed driver left as it was."""
    first = install(lab, pkgs["driver"], "--full", "--install-for-all", "--install-username=root",
                    "--install-usergroup=root")
    assert first.returncode == 0, first.stderr
    before = (lab["path"] / "driver" / "version.info").read_text()
    sysroot.driver_build_deps(lab["root"], missing)
    res = install(lab, pkgs["driver"], "--upgrade", "--install-username=root", "--install-usergroup=root")
    log = lab["path"].parent / "ascend_lab_logs" / "ascend_install.log"
    assert res.returncode == 1
    assert f"[ERROR]Dkms install failed, details in : {log}. " in res.stdout
    assert f"[ERROR]Driver_ko_install failed, details in : {log}." in res.stderr
    assert said.format(k=os.uname().release) in log.read_text()
    assert (lab["path"] / "driver" / "version.info").read_text() == before
    sysroot.driver_build_deps(lab["root"])               # back: the same command installs
    assert install(lab, pkgs["driver"], "--upgrade", "--install-username=root",
                   "--install-usergroup=root").returncode == 0


def test_driver_names_the_missing_tools_before_anything(pkgs, lab):
    for tool in ("lspci", "ifconfig"):
        (lab["root"] / sysroot.BUILD_TOOLS[tool]).unlink()
    res = install(lab, pkgs["driver"], "--full", "--install-username=root", "--install-usergroup=root")
    assert res.returncode == 1 and "[ERROR]The list of missing tools: lspci,ifconfig" in res.stderr
    assert not lab["path"].exists() and "Dkms" not in res.stdout


def test_driver_then_firmware(pkgs, lab):
    fw_first = install(lab, pkgs["firmware"], "--full")
    assert fw_first.returncode != 0 and "driver not installed" in fw_first.stderr
    drv = install(lab, pkgs["driver"], "--full", "--install-for-all", "--install-username=root",
                  "--install-usergroup=root")
    assert drv.returncode == 0, drv.stderr
    assert "Driver package installed successfully!" in drv.stdout
    assert (lab["path"] / "driver" / "version.info").read_text() == DRIVER_INFO
    info = kv(lab["root"] / "etc" / "ascend_install.info")
    assert info["Driver_Install_Path_Param"] == str(lab["path"]) and info["Driver_Install_For_All"] == "yes"
    assert info["UserName"] == "root" and info["Driver_Install_Type"] == "full" and "Driver_Install_Mode" in info
    fw = install(lab, pkgs["firmware"], "--full")
    assert fw.returncode == 0, fw.stderr
    assert "Reboot now or after driver installation" in fw.stdout
    assert kv(lab["path"] / "firmware" / "version.info")["Version"] == "7.7.0.1.231"
    assert kv(lab["root"] / "etc" / "ascend_install.info")["Firmware_Install_Path_Param"] == str(lab["path"])
    again = install(lab, pkgs["driver"], "--upgrade", "--install-username=root", "--install-usergroup=root")
    assert again.returncode == 0 and "relationship check success" in again.stdout
    un = install(lab, pkgs["driver"], "--uninstall")
    assert un.returncode == 0 and not (lab["path"] / "driver").exists()
    assert "Driver_Install_Path_Param" not in kv(lab["root"] / "etc" / "ascend_install.info")


def test_version_objects_accepted(tmp_path, matrix):
    p = inst.build_cann_package("toolkit", Version.parse("8.0.0", "cann"), "x86-64", tmp_path, matrix=matrix)
    assert p.name == "Ascend-cann-toolkit_8.0.0_linux-x86_64.run"


def test_driver_upgrade_on_a_lab_host_keeps_user_npu_smi_and_host_paths(pkgs, lab):
    """Inside a lab host's root: accounts from its etc/, paths recorded as the host sees them, --upgrade keeps the
    recorded run user, and the lab's npu-smi library and card state survive the driver being replaced."""
    root = lab["root"]
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    path = root / "usr" / "local" / "Ascend"
    first = run(pkgs["driver"], "--nox11", "--full", "--quiet", f"--install-path={path}", env=lab["env"])
    assert first.returncode != 0 and "HwHiAiUser not exists" in first.stderr  # not in the host's etc/passwd
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                         "HwHiAiUser:x:1000:1000::/home/HwHiAiUser:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\nHwHiAiUser:x:1000:\n")
    ok = run(pkgs["driver"], "--nox11", "--full", "--install-for-all", "--quiet", f"--install-path={path}",
             env=lab["env"])
    assert ok.returncode == 0, ok.stderr
    assert "takes effect immediately" in ok.stdout
    info = kv(root / "etc" / "ascend_install.info")
    assert info["Driver_Install_Path_Param"] == "/usr/local/Ascend" and info["UserName"] == "HwHiAiUser"
    lib = path / "driver" / "lib64" / "driver"
    (lib / "libdrvdsmi_host.so").write_bytes(b"\x7fELF lab")
    (lib / "lab-npu-state.json").write_text('{"chip": "910b"}\n')
    (lib / "stale.so").write_text("from the old driver\n")
    up = run(pkgs["driver"], "--nox11", "--upgrade", "--quiet", f"--install-path={path}", env=lab["env"])
    assert up.returncode == 0, up.stderr
    assert "base version is" in up.stdout and "Reboot needed" in up.stdout
    assert "set username and usergroup, HwHiAiUser:HwHiAiUser" in up.stdout
    assert kv(root / "etc" / "ascend_install.info")["Driver_Install_For_All"] == "yes"
    assert (lib / "libdrvdsmi_host.so").read_bytes() == b"\x7fELF lab"
    assert (lib / "lab-npu-state.json").read_text() == '{"chip": "910b"}\n'
    assert not (lib / "stale.so").exists()


# --- what the roles read back: ascend.env.ascend_state (scope env) on what the installers laid down ----------
REPO = Path(__file__).resolve().parents[2]


def state(args: dict, env: dict[str, str] | None = None) -> dict:
    """Run the module as Ansible would (its arguments in a JSON file), with the collection importable."""
    import json
    import sys

    args_file = Path(args.pop("_tmp")) / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    cp = subprocess.run([sys.executable, str(REPO / "plugins/modules/ascend_state.py"), str(args_file)],
                        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "collections")},
                        capture_output=True, text=True, timeout=60, check=False)
    out = json.loads(cp.stdout)
    assert not out.get("failed"), out
    return out


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="builds x86_64 packages for this machine's arch")
def test_the_state_module_reads_what_the_installers_wrote(lab, tmp_path, matrix):
    b = inst.build_cann_package
    tk = b("toolkit", "8.0.0", "x86_64", tmp_path, matrix=matrix)
    ops = b("kernels", "8.0.0", "x86_64", tmp_path, chip="910b", matrix=matrix)
    nnal = b("nnal", "8.0.0", "x86_64", tmp_path, matrix=matrix)
    env = {**lab["env"], "ASCEND_LAB_UNAME_M": "x86_64"}
    none = state({"_tmp": tmp_path, "scope": "env", "cann_path": str(lab["path"])})
    assert none["cann"]["toolkit"] is None and none["cann"]["set_env"] == f"{lab['path']}/ascend-toolkit/set_env.sh"
    for pkg, extra in ((tk, {}), (ops, {}), (nnal, {"ASCEND_HOME_PATH": f"{lab['path']}/ascend-toolkit/latest"})):
        res = run(pkg, "--nox11", "--install", "--quiet", f"--install-path={lab['path']}", env=env, **extra)
        assert res.returncode == 0, res.stderr
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(os.path.realpath(__import__("sys").executable))
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text("[global]\n")
    out = state({"_tmp": tmp_path, "scope": "env", "cann_path": str(lab["path"]), "venv": str(venv),
                 "dists": ["PyYAML", "no-such-dist"], "system_python": "/usr/bin/python3",
                 "files": [str(pip_conf), str(tmp_path / "missing")], "texts": [str(pip_conf)]})
    cann = out["cann"]
    assert cann["toolkit"]["install_info"]["version"] == "8.0.0"
    assert cann["kernels"]["version_info"]["version_dir"] == "8.0.0"
    assert cann["nnal"]["versions"] == ["8.0.0"]                        # the "latest" link is not a version
    assert cann["set_env"] == f"{lab['path']}/ascend-toolkit/set_env.sh"
    seen = subprocess.run([str(venv / "bin/python"), "-c", "import platform, importlib.metadata as m; "
                           "print(platform.python_version(), m.version('PyYAML'))"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert [out["python"], out["packages"]] == [seen[0], {"PyYAML": seen[1]}]
    assert out["system_python"] == subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % "
                                                   "sys.version_info[:2])"], capture_output=True, text=True,
                                                  check=True).stdout.strip()
    import hashlib
    assert out["files"] == {str(pip_conf): hashlib.sha256(b"[global]\n").hexdigest(), str(tmp_path / "missing"): None}
    assert out["texts"] == {str(pip_conf): "[global]\n"}
    assert out["changed"] is False
