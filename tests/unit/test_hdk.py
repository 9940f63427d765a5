"""The driver/firmware install plan (ascend_env.hdk): order, flags, idempotence, bad input."""

from __future__ import annotations

import pytest

from ascend_env import hdk
from ascend_env.matrix import load_matrix

DRV, FW = "25.0.rc1.1", "7.7.0.1.231"
PKGS = {"driver": "Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-x86-64.run",
        "firmware": "Ascend-hdk-910b-npu-firmware_7.7.0.1.231.run"}


def kinds(steps: list[hdk.Step]) -> list[str]:
    return [s.kind for s in steps]


def test_nothing_to_do_when_both_match_whatever_the_spelling():
    assert hdk.plan("25.0.RC1.1", FW, DRV, FW, PKGS) == []
    assert hdk.plan("24.1.rc1", "7.1.0.11.220", None, None, PKGS) == []  # no pins: leave the HDK alone


def test_first_install_is_driver_then_firmware_with_the_run_user():
    steps = hdk.plan(None, None, DRV, FW, PKGS)
    assert kinds(steps) == ["driver", "firmware"]
    assert steps[0].args == ("--nox11", "--full", "--install-for-all", "--quiet", "--install-username=HwHiAiUser",
                             "--install-usergroup=HwHiAiUser")
    assert steps[1].args == ("--nox11", "--full", "--quiet")
    assert "first install" in steps[0].reason and steps[0].installed is None


def test_overwrite_install_is_firmware_then_driver_and_upgrade_when_the_tool_exists():
    steps = hdk.plan("24.1.rc1", "7.1.0.11.220", DRV, FW, PKGS, upgrade_tool=True)
    assert kinds(steps) == ["firmware", "driver"]
    assert steps[1].args == ("--nox11", "--upgrade", "--quiet")
    assert steps[1].reason == "driver 24.1.RC1 -> 25.0.RC1.1 (overwrite install)"
    no_tool = hdk.plan("24.1.rc1", FW, DRV, FW, PKGS, user="root", group="root", for_all=False)
    assert kinds(no_tool) == ["driver"]
    assert no_tool[0].args == ("--nox11", "--full", "--quiet", "--install-username=root", "--install-usergroup=root")


def test_only_the_part_that_differs_and_the_install_path_when_not_default():
    steps = hdk.plan(DRV, "7.1.0.11.220", DRV, FW, PKGS, install_path="/srv/lab/h1/usr/local/Ascend")
    assert kinds(steps) == ["firmware"]
    assert steps[0].args[-1] == "--install-path=/srv/lab/h1/usr/local/Ascend"
    assert not any(a.startswith("--install-path") for a in hdk.plan(None, None, DRV, FW, PKGS,
                                                                      install_path="/usr/local/Ascend/")[0].args)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"wanted_driver": "25.x"}, "ascend_host_pins.driver='25.x'"),
    ({"installed_driver": None, "wanted_driver": None}, "add ascend_host_pins.driver"),
    ({"user": "bad user"}, "'bad user' is not a user"),
    ({"install_path": "usr/local/Ascend"}, "not an absolute path"),
    ({"packages": {"firmware": PKGS["firmware"]}}, "no driver package named for driver 25.0.RC1.1"),
])
def test_bad_input_names_the_value_and_the_fix(kwargs, needle):
    args = {"installed_driver": "24.1.rc1", "installed_firmware": "7.1.0.11.220", "wanted_driver": DRV,
            "wanted_firmware": FW, "packages": PKGS}
    args.update(kwargs)
    if "installed_driver" in kwargs and kwargs["installed_driver"] is None:
        args["installed_firmware"] = None
    pos = [args.pop(k) for k in ("installed_driver", "installed_firmware", "wanted_driver", "wanted_firmware",
                                 "packages")]
    with pytest.raises(hdk.HdkPlanError, match=None) as err:
        hdk.plan(*pos, **args)
    assert needle in str(err.value)


def test_package_names_follow_the_matrix_patterns_per_arch():
    m = load_matrix()
    assert hdk.package_names(m, "910b", "x86_64", DRV, FW) == PKGS
    arm = hdk.package_names(m, "300i-duo", "aarch64", DRV, None)
    assert arm == {"driver": "Ascend-hdk-310p-npu-driver_25.0.rc1.1_linux-aarch64.run"}
    with pytest.raises(hdk.HdkPlanError):
        hdk.package_names(m, "920", "x86_64", DRV, FW)


def test_reboot_is_needed_when_an_installer_says_so():
    assert hdk.reboot_needed(["[Driver] [2025-01-01 00:00:00] [INFO]Driver package installed successfully! "
                              "Reboot needed for installation/upgrade to take effect! "])
    assert hdk.reboot_needed(["Firmware package installed successfully! Reboot now or after driver installation"])
    assert not hdk.reboot_needed(["Driver package installed successfully! The new version takes effect "
                                  "immediately. ", ""])


# --- what the driver installer needs, before any installer runs ------------------------------------------------------

UBUNTU = {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "22.04", "PRETTY_NAME": "Ubuntu 22.04.4 LTS"}
OPENEULER = {"ID": "openEuler", "ID_LIKE": None, "VERSION_ID": "22.03", "PRETTY_NAME": "openEuler 22.03 (LTS-SP3)"}
ALL_TOOLS = {t: f"/usr/bin/{t}" for t in ("dkms", "gcc", "make", "lspci", "ifconfig")}


def prereqs(**kw):
    base = {"tools": dict(ALL_TOOLS), "kernel": "5.15.0-91-generic", "headers": "/lib/modules/5.15.0-91-generic/build",
            "os": UBUNTU, "user": "HwHiAiUser", "user_exists": True, "group": "HwHiAiUser", "group_exists": True,
            "install_path": "/usr/local/Ascend", "free_bytes": 50 << 30}
    base.update(kw)
    return base


def test_a_host_with_everything_is_no_problem():
    assert hdk.prerequisite_problems(prereqs()) == []


@pytest.mark.parametrize(("osr", "family"), [
    (UBUNTU, "debian"), ({"ID": "debian"}, "debian"), (OPENEULER, "rpm"), ({"ID": "kylin"}, "rpm"),
    ({"ID": "centos", "ID_LIKE": "rhel fedora"}, "rpm"), ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "rpm"),
    ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "debian"), ({"ID": "gentoo"}, None), (None, None),
])
def test_os_family_from_os_release(osr, family):
    assert hdk.os_family(osr) == family


def test_each_missing_prerequisite_is_named_with_the_command_for_the_hosts_os():
    tools = dict(ALL_TOOLS, dkms=None, lspci=None)
    ubuntu = hdk.prerequisite_problems(prereqs(tools=tools, headers=None), host="t1")
    assert ubuntu == [
        "t1: dkms is missing, which the driver installer needs to build the driver's kernel modules; on Ubuntu 22.04.4 "
        "LTS: apt-get install -y dkms",
        't1: lspci is missing, which the driver installer needs (the installer stops with "The list of missing '
        'tools"); on Ubuntu 22.04.4 LTS: apt-get install -y pciutils',
        "t1: no kernel headers for the running kernel 5.15.0-91-generic (/lib/modules/5.15.0-91-generic/build), which "
        "dkms builds the driver against; on Ubuntu 22.04.4 LTS: apt-get install -y linux-headers-5.15.0-91-generic "
        "(or boot the kernel whose headers are installed)"]
    euler = hdk.prerequisite_problems(prereqs(os=OPENEULER, headers=None, tools=dict(ALL_TOOLS, make=None),
                                              kernel="5.10.0-182.0.0.95.oe2203sp3.aarch64"))
    assert euler[0].endswith("on openEuler 22.03 (LTS-SP3): yum install -y make")
    assert "yum install -y kernel-devel-5.10.0-182.0.0.95.oe2203sp3.aarch64 " \
           "kernel-headers-5.10.0-182.0.0.95.oe2203sp3.aarch64" in euler[1]
    unknown = hdk.prerequisite_problems(prereqs(os={}, tools=dict(ALL_TOOLS, gcc=None)))
    assert "apt-get install -y gcc (Debian, Ubuntu) or yum install -y gcc (openEuler, CentOS, Kylin)" in unknown[0]


def test_the_run_user_is_a_problem_only_when_the_role_does_not_create_it():
    missing = prereqs(user_exists=False, group_exists=False)
    assert hdk.prerequisite_problems(missing, create_user=True) == []
    line, = hdk.prerequisite_problems(missing)
    assert line.startswith("the driver's run user HwHiAiUser and group HwHiAiUser do not exist; create it as Huawei's "
                           "guide does: groupadd HwHiAiUser; useradd -g HwHiAiUser -d /home/HwHiAiUser -m HwHiAiUser")


def test_space_and_an_unreadable_host_are_problems_never_assumed_fine():
    line, = hdk.prerequisite_problems(prereqs(free_bytes=300 << 20), min_free_mb=1024)
    assert "only 300 MiB free on /usr/local/Ascend" in line and "ascend_driver_min_free_mb" in line
    assert "unknown" in hdk.prerequisite_problems(prereqs(free_bytes=None))[0]
    bad, = hdk.prerequisite_problems({"error": "PermissionError: /etc/passwd"}, host="h1")
    assert bad.startswith("h1: could not read the driver's prerequisites (PermissionError: /etc/passwd)")
    assert "could not read" in hdk.prerequisite_problems(None)[0]


def test_the_probe_reads_them_under_a_host_root(tmp_path):
    """A lab host's root, as sysroot lays it down: tools, headers, os-release, accounts; then without dkms."""
    from ascend_env.lab import sysroot
    from ascend_env.probe import host

    root = tmp_path / "root"
    sysroot.driver_build_deps(root)
    (root / "etc/os-release").write_text(sysroot.OS_RELEASE["isula"])
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "HwHiAiUser:x:1000:1000::/home/HwHiAiUser:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nHwHiAiUser:x:1000:\n")
    facts = host.probe_driver_prereqs(str(root))
    assert facts["tools"]["dkms"] == str(root / "usr/sbin/dkms") and facts["headers"]
    assert facts["os"]["ID"] == "openEuler" and facts["user_exists"] and facts["group_exists"]
    assert hdk.prerequisite_problems(facts) == []
    sysroot.driver_build_deps(root, frozenset({"dkms", "headers"}))
    lines = hdk.prerequisite_problems(host.probe_driver_prereqs(str(root)))
    assert [ln.split(";")[0] for ln in lines] == [
        "dkms is missing, which the driver installer needs to build the driver's kernel modules",
        f"no kernel headers for the running kernel {facts['kernel']} (/lib/modules/{facts['kernel']}/build), which "
        "dkms builds the driver against"]
    assert lines[0].endswith("yum install -y dkms")
