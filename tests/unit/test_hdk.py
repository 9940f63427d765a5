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
