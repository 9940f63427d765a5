"""hccn_tool -i N -ping -g address A: real captures (tests/unit/data/hccn/SOURCES.md, "Added for issue 22")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.probe.hccn import parse_ping, parse_ping_all

DATA = Path(__file__).parent / "data" / "hccn"
GUIDE = "real_910B3_loops-commands-and-outputs_ip-ping-link-health-gateway_deepseek-guide.txt"
MINDIE = "real_ping_ok-typo-and-33pct-loss_prompt-indented_mindie-multinode-doc.txt"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_the_loop_of_eight_devices_from_the_multinode_guide():
    block = read(GUIDE).split("-ping -g address 11.12.165.80")[1].split("-lldp")[0]
    results = parse_ping_all(block)
    assert [(r.device, r.address, r.status) for r in results] == [(d, "11.12.165.80", "ok") for d in range(8)]
    assert results[0].times_ms == (0.114, 0.067, 0.063) and results[0].loss_percent == 0.0
    assert round(results[7].avg_ms, 6) == round((0.157 + 0.065 + 0.063) / 3, 6)


def test_a_prompted_indented_paste_with_a_typo_and_the_loss_sample():
    ok_block, loss_block = read(MINDIE).split("如果存在丢包")
    ok = parse_ping(ok_block)
    assert (ok.device, ok.address, ok.status, ok.transmitted, ok.received) == (0, "10.10.100.10", "ok", 3, 3)
    assert ok.times_ms == (0.067, 0.049, 0.047)          # "time-0.049000ms" read as the value it is
    loss = parse_ping(loss_block)
    assert (loss.device, loss.status, loss.received, loss.loss_percent, loss.timeouts) == (None, "lossy", 2, 33.33, 1)
    assert loss.reachable is True


def test_the_summary_alone_says_unreachable():
    r = parse_ping(read("real_ping_100pct-loss_summary-quoted_mindcluster-faq.txt"))
    assert (r.status, r.transmitted, r.received, r.reachable) == ("unreachable", 3, 0, False)


def test_a_cut_answer_keeps_what_its_lines_say_and_is_marked_incomplete():
    text = read("real_ping_pkt64_third-without-header_hccs-notes.txt")
    third = parse_ping(text.split("反向验证")[1])     # no header: the pasted command names device and address
    assert (third.device, third.address, third.status, third.complete, len(third.times_ms)) == (
        0, "10.0.0.11", "ok", False, 3)
    headless = parse_ping("\n".join(text.split("反向验证")[1].splitlines()[2:]))
    assert (headless.device, headless.address, headless.status) == (None, None, "ok")
    first = parse_ping(text.split("# node01 NPU0 → 本节点")[0])
    assert (first.address, first.status, first.complete) == ("10.0.0.21", "ok", True)
    assert [r.address for r in parse_ping_all(text)] == ["10.0.0.21", "10.0.0.12", "10.0.0.11"]


@pytest.mark.parametrize(("text", "rc", "error"), [
    ("The device is not exist!\n", 1, "The device is not exist!"),
    ("call drvMngGetConsoleLogLevel failed , g_conLogLevel = 3\nDevice ID is out of the valid range.\n"
     "Cmd execute failed!\n", 1, "Device ID is out of the valid range. Cmd execute failed!"),
    ("bash: hccn_tool: command not found\n", 127, "bash: hccn_tool: command not found"),
])
def test_the_tools_own_errors_are_errors_never_unreachable(text, rc, error):
    r = parse_ping(text, rc)
    assert (r.status, r.error, r.reachable) == ("error", error, None)


def test_nothing_readable_is_unknown_and_faults_count_as_lost():
    assert parse_ping("", 0).status == "unknown"
    assert parse_ping("some banner\n", 0).status == "unknown"
    r = parse_ping("device 2 PING 10.0.0.9\nDestination Host Unreachable\nCmd execute failed!\n", 1)
    assert (r.status, r.faults, r.device) == ("unreachable", ("Destination Host Unreachable",), 2)
    # the other ping flavours: -hccs_ping (A3, "packets loss", microseconds) and UB ping ("recv seq:0,time:")
    hccs = parse_ping("device 0 PING 192.1.2.199\n\nThis pkt ping success!\nrecv seq 0, time = 12.500us, "
                      "L1 plane check result = 0x0\n1 packets transmitted, 1 received, 0.00% packets loss\n")
    assert (hccs.status, hccs.times_ms) == ("ok", (0.0125,))
    ub = parse_ping("recv seq:0,time:0.100000ms\nrecv time out seq:1\n")
    assert (ub.status, ub.complete) == ("lossy", False)
