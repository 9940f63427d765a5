"""ascend-dmi -c and --bw readers.  No verbatim text capture of either is public (Huawei's guide shows screenshots),
so these inputs are laid out from the guide's field lists (ascend_env/probe/dmi.py names the pages): what is tested is
that columns are found by their names in either separator style, that JSON is read by key, and that nothing
unreadable turns into "ok"."""

from __future__ import annotations

import pytest

from ascend_env.probe.dmi import parse_bandwidth, parse_compat

COMPAT_ALIGNED = """\
[root@node1 ~]# ascend-dmi -c
System Information   : Ubuntu 22.04
Architecture         : aarch64
Type                 : Atlas 800T A2
--------------------------------------------------------------------------
Compatibility Check Result
Package         Version         Status                 Innerversion           Dependencies
toolkit         8.2.RC1         OK                     V100R001C22SPC001B231  npu-driver
toolbox         7.3.0           OK                     V100R001C73            toolkit
npu-driver      25.0.rc1.1      OK                     V100R001C22SPC001B231  npu-firmware
npu-firmware    7.7.0.1.231     OK                     -                      -
"""

COMPAT_PIPES = """\
| Package      | Version     | Status               | Innerversion | Dependencies |
|--------------|-------------|----------------------|--------------|--------------|
| toolkit      | 8.2.RC1     | OK                   | V100R001C22  | npu-driver   |
| npu-driver   | 24.1.rc1    | INCOMPATIBLE PACKAGE | V100R001C17  | npu-firmware |
| npu-firmware | NA          | NA                   |              | Device ID: 0,1 |
"""


def test_every_package_ok_is_ok():
    c = parse_compat(COMPAT_ALIGNED)
    assert c.verdict == "ok" and not c.problems
    assert [p.package for p in c.packages] == ["toolkit", "toolbox", "npu-driver", "npu-firmware"]
    assert c.packages[2].version == "25.0.rc1.1" and c.packages[0].innerversion == "V100R001C22SPC001B231"
    assert c.system == {"System Information": "Ubuntu 22.04", "Architecture": "aarch64", "Type": "Atlas 800T A2"}


def test_incompatible_wins_and_na_is_never_ok():
    c = parse_compat(COMPAT_PIPES)
    assert c.verdict == "incompatible"
    assert c.problems == ("npu-driver 24.1.rc1: INCOMPATIBLE PACKAGE", "npu-firmware ?: NA")
    assert parse_compat(COMPAT_PIPES.replace("INCOMPATIBLE PACKAGE", "OK                  ")).verdict == "unknown"
    assert parse_compat(COMPAT_ALIGNED.replace("toolbox         7.3.0           OK  ",
                                               "toolbox         7.3.0             ")).verdict == "unknown"


@pytest.mark.parametrize("text", ["", "bash: ascend-dmi: command not found\n",
                                  "Permission denied, please run as root\n", "Package Version\n"])
def test_no_table_is_unknown_with_the_reason(text):
    c = parse_compat(text)
    assert c.verdict == "unknown" and c.reasons
    if "not found" in text:
        assert c.reasons == ("ascend-dmi said: bash: ascend-dmi: command not found",)


def test_compat_json_is_read_by_key():
    doc = ('{"System Information": "EulerOS", "Architecture": "x86_64", "Compatibility Check Result": ['
           '{"Package": "toolkit", "Version": "8.0.0", "Status": "OK"}, {"Package": "npu-driver", '
           '"Version": "24.1.rc3", "Status": "INCOMPATIBLE PACKAGE"}]}')
    c = parse_compat("ascend-dmi -c -fmt json\n" + doc)
    assert c.verdict == "incompatible" and c.system["Architecture"] == "x86_64"
    assert parse_compat('{"result": []}').verdict == "unknown"


BW_FIXED = """\
h2d bandwidth test, Device: 0
Size(Bytes)     Execute Times     Bandwidth(GB/s)     Elapsed Time(us)
536870912       100               25.31               2121174
d2h bandwidth test, Device: 0
Size(Bytes)     Execute Times     Bandwidth(GB/s)     Elapsed Time(us)
536870912       100               27.87               1926346
"""

BW_STEP_PIPES = """\
| Device | Type | Size(Bytes) | Execute Times | Bandwidth(GB/s) |
| 3      | h2d  | 2           | 5             | 0.00            |
| 3      | h2d  | 32M         | 5             | 24.10           |
| 3      | d2d  | 32M         | 1             | 781.5           |
"""


def test_bandwidth_rows_take_direction_and_device_from_the_lines_above():
    b = parse_bandwidth(BW_FIXED)
    assert b.status == "ok" and not b.reasons
    assert [(r.kind, r.device, r.size_bytes, r.execute_times, r.bandwidth_gbps) for r in b.rows] == [
        ("h2d", 0, 536870912, 100, 25.31), ("d2h", 0, 536870912, 100, 27.87)]
    assert b.rows[0].elapsed_us == 2121174.0 and b.best("d2h") == 27.87 and b.best("d2d") is None


def test_bandwidth_columns_in_the_rows_and_size_suffixes():
    b = parse_bandwidth(BW_STEP_PIPES)
    assert [(r.kind, r.device, r.size_bytes) for r in b.rows] == [
        ("h2d", 3, 2), ("h2d", 3, 32 << 20), ("d2d", 3, 32 << 20)]
    assert b.best("h2d", device=3) == 24.1 and b.best("h2d", device=0) is None
    gb = parse_bandwidth("Size(GB)   Execute Times   Bandwidth(GB/s)\n0.5        40              25.0\n")
    assert gb.rows[0].size_bytes == 1 << 29


def test_unreadable_bandwidth_is_unknown():
    assert parse_bandwidth("").status == "unknown"
    err = parse_bandwidth("[ERROR] Device 0 is occupied by other process, bandwidth test failed.\n")
    assert err.status == "unknown" and err.reasons[0].startswith("ascend-dmi said: [ERROR] Device 0")
    bad = parse_bandwidth("Size(Bytes)  Execute Times  Bandwidth(GB/s)\n1024  5  NA\n")
    assert bad.status == "unknown" and "bandwidth unreadable" in bad.reasons[0]
    matrix = parse_bandwidth("p2p\nSrc\\Dst  0       1\n0        **      28.1\n1        28.3    **\n")
    assert matrix.status == "unknown" and any("p2p matrix" in r for r in matrix.reasons)


def test_bandwidth_json_is_read_by_key():
    doc = ('{"h2d": [{"Device ID": 0, "Type": "h2d", "Size(Bytes)": 134217728, "Execute Times": 40, '
           '"Bandwidth(GB/s)": 24.9}]}')
    b = parse_bandwidth(doc)
    assert [(r.kind, r.device, r.size_bytes, r.bandwidth_gbps) for r in b.rows] == [("h2d", 0, 134217728, 24.9)]
    assert parse_bandwidth('{"x": 1}').status == "unknown"
