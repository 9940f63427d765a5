"""The ping matrix of a rank table: which pairs reach each other, each bad link named with its fix."""

from __future__ import annotations

import pytest

from ascend_env.day2.pingmesh import NOT_EXPECTED, NOT_RUN, commands, endpoints, mesh, pairs
from ascend_env.probe.hccn import NetInfo, parse_ping
from ascend_env.ranktable import Server, build

NAMES = {"127.0.0.2": "h1", "127.0.0.3": "h2"}


def port(d: int, ip: str) -> NetInfo:
    return NetInfo(device=d, address=ip, netmask="255.255.255.0", link="UP", health="Success")


def table(version: str = "1.0", devices: int = 2):
    servers = [Server("h1", "127.0.0.2", tuple(port(d, f"10.0.2.{11 + d}") for d in range(devices)),
                      super_pod_id="0", super_device_ids={d: str(d) for d in range(devices)}),
               Server("h2", "127.0.0.3", tuple(port(d, f"10.0.3.{11 + d}") for d in range(devices)),
                      super_pod_id="0", super_device_ids={d: str(100 + d) for d in range(devices)})]
    t, problems = build(servers, version=version)
    assert not problems
    return t


def answer(device: int, ip: str, ok: bool = True) -> str:
    """hccn_tool's answer in the real layout (device N PING A / recv seq=K,time=T ms / summary; SOURCES.md)."""
    if ok:
        return (f"device {device} PING {ip}\nrecv seq=0,time=0.114000ms\nrecv seq=1,time=0.067000ms\n"
                "recv seq=2,time=0.063000ms\n3 packets transmitted, 3 received, 0.00% packet loss\n")
    return (f"device {device} PING {ip}\nrecv time out seq=0\nrecv time out seq=1\nrecv time out seq=2\n"
            "3 packets transmitted, 0 received, 100.00% packet loss\nCmd execute failed!\n")


def run_all(t, broken_ip: str | None = None, mode: str = "all"):
    return {(s.server_id, s.device_id, d.ip): parse_ping(answer(s.device_id, d.ip, d.ip != broken_ip))
            for s, d in pairs(t, mode)}


def test_a_healthy_fleet_is_all_ok():
    t = table()
    m = mesh(t, run_all(t), names=NAMES)
    assert m.ok and not m.bad and not m.suspects
    assert [e.rank for e in m.endpoints] == [0, 1, 2, 3]
    assert m.matrix()[0] == ["", "ok", "ok", "ok"] and m.matrix()[3][3] == ""
    assert "src\\dst" in m.render(NAMES)


def test_a_dead_port_is_named_on_every_link_and_as_the_suspect():
    t = table()
    m = mesh(t, run_all(t, broken_ip="10.0.3.12"), names=NAMES)
    assert not m.ok
    bad = {(link.src.ip, link.dst.ip) for link in m.bad}
    assert bad == {("10.0.2.11", "10.0.3.12"), ("10.0.2.12", "10.0.3.12"), ("10.0.3.11", "10.0.3.12")}
    link = m.bad[0]
    assert link.status == "unreachable" and link.problem == "no reply (3 packets transmitted, 0 received)"
    assert "hccn_tool -i 1 -link -g and -net_health -g on h2" in link.fix and "-tls -g" in link.fix
    assert m.suspects == ("h2 NPU 1 (10.0.3.12) is reached by none of its 3 peers: check that port first "
                          "(/usr/local/Ascend/driver/tools/hccn_tool -i 1 -link -g, -net_health -g and -ip -g on h2)",)
    assert "h1 NPU 0 (10.0.2.11) -> 10.0.3.12 (h2 NPU 1 (10.0.3.12)): no reply" in m.render(NAMES)
    assert m.matrix()[0][3] == "X"


def test_missing_unreadable_failed_and_misattributed_results_are_never_ok():
    t = table()
    results = run_all(t)
    del results[("127.0.0.2", 0, "10.0.3.11")]
    results[("127.0.0.2", 1, "10.0.3.11")] = parse_ping("The device is not exist!\n", 1)
    results[("127.0.0.3", 0, "10.0.2.11")] = parse_ping("garbled\n", 0)
    results[("127.0.0.3", 1, "10.0.2.11")] = parse_ping(answer(1, "10.0.2.12"))     # the answer of another ping
    m = mesh(t, results, names=NAMES)
    status = {(link.src.server_id, link.src.device_id, link.dst.ip): link for link in m.links}
    assert status[("127.0.0.2", 0, "10.0.3.11")].status == NOT_RUN
    assert "run /usr/local/Ascend/driver/tools/hccn_tool -i 0 -ping -g address 10.0.3.11 on h1" in status[
        ("127.0.0.2", 0, "10.0.3.11")].fix
    assert status[("127.0.0.2", 1, "10.0.3.11")].status == "error"
    assert "doctor on h1" in status[("127.0.0.2", 1, "10.0.3.11")].fix
    assert status[("127.0.0.3", 0, "10.0.2.11")].status == "unknown"
    assert status[("127.0.0.3", 1, "10.0.2.11")].problem == "the result is for 10.0.2.12, not 10.0.2.11"
    assert not m.ok and len(m.bad) == 4


def test_lossy_links_are_bad_and_say_how_much():
    t = table(devices=1)
    results = run_all(t)
    results[("127.0.0.2", 0, "10.0.3.11")] = parse_ping(
        "device 0 PING 10.0.3.11\nrecv time out seq=O\nrecv seq=1,time=0.097000ms\nrecv seq=2,time=0.066000ms\n"
        "3 packets transmitted, 2 received, 33.33% packet loss\n")
    m = mesh(t, results)
    assert [link.problem for link in m.bad] == ["packets lost (3 packets transmitted, 2 received, 33.33% loss)"]


def test_a3_dies_of_one_card_are_not_expected_to_reach_each_other():
    t = table(version="1.2", devices=4)
    results = run_all(t)
    for s, d in pairs(t):
        if s.server_id == d.server_id and s.device_id // 2 == d.device_id // 2:
            results[(s.server_id, s.device_id, d.ip)] = parse_ping(answer(s.device_id, d.ip, ok=False))
    m = mesh(t, results)
    assert m.ok and sum(link.status == NOT_EXPECTED for link in m.links) == 8   # 2 servers x 2 cards x 2 ways
    assert m.matrix()[0][1] == "n/a"


def test_which_pings_to_run():
    t = table(devices=2)
    assert len(pairs(t)) == 12 and len(pairs(t, "rail")) == 4
    assert ("10.0.2.11", "10.0.3.11") in {(s.ip, d.ip) for s, d in pairs(t, "rail")}
    assert commands(t, "rail")["127.0.0.2"][0] == [
        "/usr/local/Ascend/driver/tools/hccn_tool", "-i", "0", "-ping", "-g", "address", "10.0.3.11"]
    with pytest.raises(ValueError, match="'ring'"):
        pairs(t, "ring")
    assert [e.ip for e in endpoints(t)] == ["10.0.2.11", "10.0.2.12", "10.0.3.11", "10.0.3.12"]


def test_an_invalid_table_is_not_a_mesh():
    m = mesh({"version": "1.0", "server_list": []}, {})
    assert not m.ok and m.problems and not m.links
