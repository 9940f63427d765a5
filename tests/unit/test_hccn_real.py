"""hccn_tool output as people capture and paste it (issue 20): indented, after a prompt, several devices' answers from
one `for i in {0..7}` loop, and the tool's own errors, which are failures with its words, never "no device IP".
Real samples: tests/unit/data/hccn/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.doctor.checks import Context
from ascend_env.doctor.checks import run_checks as run
from ascend_env.probe.hccn import (
    from_capture,
    from_facts,
    parse_capture,
    parse_ip,
    parse_ip_all,
    parse_session,
    split_records,
    tool_error,
)

DATA = Path(__file__).parent / "data" / "hccn"
GUIDE = "real_910B3_loops-commands-and-outputs_ip-ping-link-health-gateway_deepseek-guide.txt"
ERRORS = "real_310_20.2.2_errors_out-of-range_loop-set_prompt_indented_juawei-notes.txt"
OUT_OF_RANGE = "Device ID is out of the valid range. Cmd execute failed!"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_indented_and_prompted_output_reads_the_address():
    indented = "    ipaddr:10.20.11.24\n    netmask:255.255.255.0\n"
    assert parse_ip(indented) == ("10.20.11.24", "255.255.255.0")
    session = "[root@node-1 ~]# hccn_tool -i 3 -ip -g\n    ipaddr:10.20.11.24\n    netmask:255.255.255.0\n" \
              "root@node-1:~# hccn_tool -i 3 -link -g\n  link status: UP\n"
    assert parse_capture(session) == {(3, "-ip"): "ipaddr:10.20.11.24\nnetmask:255.255.255.0",
                                      (3, "-link"): "link status: UP"}
    (port,) = from_capture(session)
    assert (port.device, port.address, port.link, port.failure) == (3, "10.20.11.24", "UP", None)


def test_a_loop_yields_every_device():
    ips = parse_ip_all(read("deepseek_910B3_multinode_checks.txt"))   # outputs only, other queries mixed in
    assert ips == [(f"11.12.165.{80 + d}", "255.255.255.0") for d in range(8)]
    session = parse_session(read(GUIDE))
    assert [parse_ip(session.outputs[(d, "-ip")])[0] for d in range(8)] == [f"11.12.165.{80 + d}" for d in range(8)]
    assert [session.outputs[(d, "-gateway")] for d in (0, 7)] == ["default gateway:11.12.165.1, Iface:eth0",
                                                                  "default gateway:11.12.165.1, Iface:eth7"]
    # the guide elides the -link/-net_health/-netdetect loops with "...": 2 answers for 8 devices are not guessed
    assert (0, "-link") not in session.outputs
    assert [p for p in session.problems if "printed 2 answer(s)" in p] and len(session.problems) == 3
    ports = from_capture(read(GUIDE))
    assert [p.address for p in ports] == [f"11.12.165.{80 + d}" for d in range(8)]
    assert {p.gateway for p in ports} == {"11.12.165.1"} and {p.failure for p in ports} == {None}


def test_tool_errors_from_a_real_loop_keep_the_tools_words():
    session = parse_session(read(ERRORS))
    assert session.problems == ()
    assert tool_error(session.outputs[(2048, "-ip -s")]) == OUT_OF_RANGE
    assert [tool_error(session.outputs[(d, "-ip -s")]) for d in range(20)] == \
        ["Command execute failed!"] * 8 + [OUT_OF_RANGE] * 12
    assert len(split_records("\n".join(read(ERRORS).splitlines()[10:62]), "-ip")) == 20
    assert tool_error(read("real_error_route-segment_cmd-execute-failed_case-library.txt")) == \
        "Failed to check the route network segment in the config file. Cmd execute failed!"
    # values and "none preset" are not errors; an exit code without words still is
    assert tool_error("ipaddr:1.2.3.4\nnetmask:255.255.255.0\n") is None
    assert tool_error("Get ipconf failed, because no ip was preset there!\n", rc=1) is None
    assert tool_error("", rc=255) == "hccn_tool exited with code 255 and printed nothing"


def net_facts(ip_run: dict) -> dict:
    ok = {"rc": 0}
    runs = {"ip": ip_run, "link": {**ok, "stdout": "link status: UP\n"},
            "net_health": {**ok, "stdout": "net health status: Success\n"},
            "gateway": {**ok, "stdout": "default gateway:10.0.12.1, Iface:eth0\n"},
            "netdetect": {**ok, "stdout": "netdetect address: 10.0.12.1\n"}}
    good = {"rc": 0, "stdout": "ipaddr:10.0.12.12\nnetmask:255.255.255.0\n"}
    return {"system": {"in_container": False}, "devices": {"davinci": [0, 1]},
            "pci": {"devices": [{"vendor": "0x19e5", "device": "0xd802", "subsystem_device": "0x3000",
                                 "class": "0x120000"}]},
            "network": {"tool": "/usr/local/Ascend/driver/tools/hccn_tool", "conf": None,
                        "devices": {"0": runs, "1": {**runs, "ip": good}}}}


@pytest.fixture(scope="module")
def ctx(matrix):
    return Context(matrix=matrix, chip="910b")


@pytest.mark.parametrize(("run_", "words"), [
    ({"rc": 1, "stdout": "call drvMngGetConsoleLogLevel failed , g_conLogLevel = 3\n"
                         "Device ID is out of the valid range.\nCmd execute failed!\n"}, OUT_OF_RANGE),
    ({"rc": 1, "stdout": "", "stderr": "The device is not exist!\n"}, "The device is not exist!"),
    ({"rc": 2, "stdout": ""}, "hccn_tool exited with code 2 and printed nothing"),
])
def test_a_tool_error_is_the_failure_not_a_missing_address(ctx, run_, words):
    (bad, good) = from_facts(net_facts(run_)["network"])
    assert bad.failure == f"-ip: {words}" and good.failure is None
    checks = {c.id: c for c in run(net_facts(run_), ctx, ["network"])}
    assert "network.ip" not in checks                       # no "no device IP set" with a fix to set one
    err = checks["network.tool_error"]
    assert err.status == "fail" and err.summary == "hccn_tool failed on NPU 0" and words in err.detail


def test_no_address_preset_is_still_no_device_ip(ctx):
    lab = {"rc": 1, "stdout": "Get ipconf failed, because no ip was preset there!\n"}   # the lab fake exits 1 too
    checks = {c.id: c for c in run(net_facts(lab), ctx, ["network"])}
    assert "network.tool_error" not in checks and checks["network.ip"].summary == "no device IP on NPU 0"
