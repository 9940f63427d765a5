"""The on-disk compatibility rules, on the real version-file samples of ascend-facts.md §2."""

from __future__ import annotations

import pytest

from ascend_env.compat import (
    driver_accepts_firmware,
    firmware_accepts_driver,
    parse_bounds,
    parse_kv,
    toolkit_accepts_driver,
)

DRIVER_VERSION_INFO = """\
Version=24.1.rc1
ascendhal_version=7.35.19
aicpu_version=1.0
tdt_version=1.0
log_version=1.0
prof_version=2.0
dvppkernels_version=1.1
tsfw_version=1.0
Innerversion=V100R001C15SPC006B220
compatible_version=[V100R001C30],[V100R001C13],[V100R001C15],[V100R001C17]
compatible_version_fw=[7.0.0,7.2.99]
"""
FIRMWARE_VERSION_INFO = """\
Version=7.1.0.11.220
firmware_version=1.0
package_version=23.0.7
compatible_version_drv=[23.0.rc3,23.0.rc3.],[23.0.0,23.0.0.]
"""
TOOLKIT_INFO_800 = """\
package_name=Ascend-cann-toolkit
version=8.0.0
innerversion=V100R001C20SPC001B251
compatible_version=[V100R001C15],[V100R001C17],[V100R001C18],[V100R001C19],[V100R001C20]
arch=aarch64
os=linux
path=/usr/local/Ascend/ascend-toolkit/8.0.0/aarch64-linux
"""
TOOLKIT_INFO_850 = """\
package_name=Ascend-cann-toolkit
version=8.5.0
innerversion=V100R001C25SPC001B212
compatible_version=[V100R001C15],[V100R001C18],[V100R001C19],[V100R001C20],[V100R001C21],[V100R001C23]
arch=aarch64
os=linux
path=/usr/local/Ascend/cann-8.5.0/aarch64-linux
"""


def test_parse_kv_reads_the_real_files():
    d = parse_kv(DRIVER_VERSION_INFO)
    assert d["Version"] == "24.1.rc1" and d["Innerversion"] == "V100R001C15SPC006B220"
    assert parse_kv(TOOLKIT_INFO_850)["path"] == "/usr/local/Ascend/cann-8.5.0/aarch64-linux"


def test_toolkit_800_accepts_the_24_1_rc1_driver():
    drv, tk = parse_kv(DRIVER_VERSION_INFO), parse_kv(TOOLKIT_INFO_800)
    r = toolkit_accepts_driver(tk["compatible_version"], drv["Innerversion"])
    assert r.ok is True


def test_toolkit_accepts_c_ranges():
    assert toolkit_accepts_driver("[V100R001C13,V100R001C19],[V100R001C30]", "V100R001C15SPC006B220").ok
    assert toolkit_accepts_driver("[V100R001C13,V100R001C19],[V100R001C30]", "V100R001C21SPC002B220").ok is False


def test_toolkit_rejects_a_driver_it_does_not_list():
    r = toolkit_accepts_driver("[V100R001C21],[V100R001C23]", "V100R001C15SPC006B220")
    assert r.ok is False and "V100R001C15SPC006B220" in r.message and r.fix


def test_driver_firmware_window():
    drv = parse_kv(DRIVER_VERSION_INFO)
    assert driver_accepts_firmware(drv["compatible_version_fw"], "7.1.0.11.220").ok is True
    assert driver_accepts_firmware(drv["compatible_version_fw"], "7.2.99.5.220").ok is True  # bound's sub-versions
    bad = driver_accepts_firmware(drv["compatible_version_fw"], "7.5.0.1.129")
    assert bad.ok is False and "7.5.0.1.129" in bad.message and "firmware" in bad.fix


def test_firmware_driver_window_with_trailing_dot_bounds():
    fw = parse_kv(FIRMWARE_VERSION_INFO)
    assert firmware_accepts_driver(fw["compatible_version_drv"], "23.0.0").ok is True
    assert firmware_accepts_driver(fw["compatible_version_drv"], "23.0.rc3").ok is True
    assert firmware_accepts_driver(fw["compatible_version_drv"], "24.1.rc1").ok is False
    assert firmware_accepts_driver("[23.0.0,23.0.0.],[24.0,24.0.],[24.1,24.1.]", "24.1.rc3").ok is True


@pytest.mark.parametrize("fn", [toolkit_accepts_driver, driver_accepts_firmware, firmware_accepts_driver])
def test_missing_values_cannot_be_checked(fn):
    r = fn(None, "x")
    assert r.ok is None and r.message.startswith("could not check")


def test_garbage_cannot_be_checked_and_says_why():
    r = driver_accepts_firmware("7.0.0-7.2.99", "7.1.0.5.220")
    assert r.ok is None and "bracket list" in r.message
    with pytest.raises(ValueError):
        parse_bounds("[7.0.0,7.1,7.2]")
