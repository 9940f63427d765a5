"""hccn_tool parsing on real output (tests/unit/data/hccn/SOURCES.md) and the doctor's network group."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.doctor.checks import FAIL, OK, SKIP, WARN, Context
from ascend_env.doctor.checks import run_checks as run
from ascend_env.doctor.network import fleet_checks, suggest_address
from ascend_env.probe.hccn import (
    NetInfo,
    from_facts,
    no_value_message,
    parse_capture,
    parse_gateway,
    parse_hccn_conf,
    parse_ip,
    parse_link,
    parse_net_health,
    parse_netdetect,
    same_subnet,
)

DATA = Path(__file__).parent / "data" / "hccn"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_real_ip_outputs():
    assert parse_ip(read("hccn_tool_ip_-g_and_route_-g_910B_llm-action.txt")) == ("10.20.11.24", "255.255.255.0")
    cap = parse_capture(read("capture_910A_23.0.5_mindcluster_kg_parse_npu_info_before.txt"))
    assert parse_ip(cap[(0, "-ip")]) == ("192.161.200.10", "255.255.255.0")
    assert cap[(2, "-ip")] == "" and parse_ip(cap[(2, "-ip")]) == (None, None)     # no address: nothing printed
    assert parse_net_health(cap[(0, "-net_health")]) == "Socket failed"              # not the source's "Socket fail"
    err = read("error_ip_-g_no-ip-preset_live-doc.txt")
    assert parse_ip(err) == (None, None)
    assert no_value_message(err) == "Get ipconf failed, because no ip was preset there!"
    doc = parse_capture(read("mindcluster-doc_device0_all_hccn_commands_23.x.txt"))
    assert parse_net_health(doc[(0, "-net_health")]) == "Init" and parse_link(doc[(0, "-link")]) == "UP"
    assert parse_ip(doc[(0, "-ip")]) == ("10.xx.xx.10", "255.255.255.0")             # redacted, kept as written


def test_first_generation_910_uses_four_subnets_a2_one():
    cap = parse_capture(read("capture_mindcluster_cqe_worker-9_npu_info_after.txt"))
    ips = [parse_ip(cap[(d, "-ip")]) for d in range(8)]
    assert ips[0] == ("192.1.45.172", "255.255.0.0") and ips[4][0] == "192.1.157.81"
    assert same_subnet(ips) is False and same_subnet([ips[0], ips[4]]) is True
    deepseek = read("deepseek_910B3_multinode_checks.txt")
    assert parse_netdetect(deepseek) == "11.12.165.1" and parse_gateway(deepseek) == "11.12.165.1"
    conf = parse_hccn_conf(read("etc_hccn.conf_910B_single-subnet_llm-action.txt"))
    assert sorted(conf) == list(range(8))
    assert same_subnet([(c["address"], c["netmask"]) for c in conf.values()]) is True
    arthur = parse_hccn_conf(read("etc_hccn.conf_910B1_netdetect_gateway_arp_arthurchiao-blog.txt"))
    assert arthur[7] == {"address": "29.1.170.143", "netmask": "255.255.0.0", "netdetect": "29.1.0.1",
                         "gateway": "29.1.0.1", "send_arp_status": "1"}
    assert same_subnet([("10.xx.xx.10", "255.255.255.0")]) is None


def test_newer_wordings():
    assert parse_netdetect("netdetect addr: 10.0.0.1\n") == "10.0.0.1"        # 2026 sources' wording
    assert no_value_message("Get ip failed, because no ip was preset there!") is not None   # older sources
    assert parse_gateway("Get gateway failed, because no gateway was preset there!") is None


def facts(ports: dict[int, dict[str, str]], *, container: bool = False, conf: str | None = None,
          chip_pci: str = "0xd802") -> dict:
    """Probe-shaped facts: hccn_tool's raw answers per device, as the lab's fake and the real tool print them."""
    devices = {}
    for n, p in ports.items():
        ip = f"ipaddr:{p['address']}\nnetmask:{p.get('netmask', '255.255.255.0')}\n" if p.get("address") else \
            "Get ipconf failed, because no ip was preset there!\n"
        gw = f"default gateway:{p['gateway']}, Iface:eth{n}\n" if p.get("gateway") else \
            "Get gateway failed, because no gateway was preset there!\n"
        link = f"link status: {p.get('link', 'UP')}\n"
        devices[str(n)] = {"ip": {"rc": 0, "stdout": ip}, "link": {"rc": 0, "stdout": link},
                           "net_health": {"rc": 0, "stdout": f"net health status: {p.get('health', 'Success')}\n"},
                           "gateway": {"rc": 0, "stdout": gw},
                           "netdetect": {"rc": 0, "stdout": f"netdetect address: {p.get('netdetect', '')}\n"}}
    return {"system": {"in_container": container}, "devices": {"davinci": sorted(ports)},
            "pci": {"devices": [{"device": chip_pci, "subsystem_device": "0x3000"}]},
            "network": {"tool": "/usr/local/Ascend/driver/tools/hccn_tool", "conf": conf, "devices": devices}}


def good(n: int = 8, third: int = 12) -> dict[int, dict[str, str]]:
    return {d: {"address": f"10.0.{third}.{11 + d}", "gateway": f"10.0.{third}.1", "netdetect": f"10.0.{third}.1"}
            for d in range(n)}


@pytest.fixture(scope="module")
def ctx(matrix):
    return Context(matrix=matrix, chip="910b")


def by_id(checks):
    return {c.id: c for c in checks}


def test_a_healthy_host(ctx):
    conf = "".join(f"address_{d}=10.0.12.{11 + d}\nnetmask_{d}=255.255.255.0\n" for d in range(8))
    got = by_id(run(facts(good(), conf=conf), ctx, ["network"]))
    assert {k: c.status for k, c in got.items()} == {"network.ports": OK, "network.addresses": OK}
    assert "as in /etc/hccn.conf" in got["network.addresses"].summary


def test_each_fault_names_the_npu_and_the_hccn_tool_fix(ctx):
    ports = good()
    ports[3] = {}                                      # no device IP
    ports[2]["link"], ports[2]["health"] = "DOWN", "Fault"
    ports[5]["address"] = ports[6]["address"]          # duplicate
    ports[7]["health"] = "Detect ip set"
    ports[1]["gateway"] = ""
    got = by_id(run(facts(ports), ctx, ["network"]))
    assert got["network.ip"].status == FAIL and got["network.ip"].summary == "no device IP on NPU 3"
    assert "hccn_tool -i 3 -ip -s address 10.0.12.19 netmask 255.255.255.0" in got["network.ip"].fix
    assert got["network.link"].summary == "link DOWN on NPU 2" and "-i 2 -link_stat -g" in got["network.link"].fix
    assert got["network.health"].summary == "net health not Success: NPU 2 Fault, NPU 7 Detect ip set"
    assert got["network.duplicate"].summary == "10.0.12.17 is on NPU 5, 6"
    assert "hccn_tool -i 6 -ip -s address 10.0.12.20" in got["network.duplicate"].fix   # .19 goes to NPU 3
    assert got["network.gateway"].status == WARN and got["network.gateway"].summary.startswith("no gateway on NPU 1 ")
    assert got["network.gateway"].fix.endswith("hccn_tool -i 1 -gateway -s gateway 10.0.12.1")


def test_no_gateway_anywhere_when_a_port_without_an_address_has_none_either(ctx):
    """Was StopIteration -- the whole network.ports check became "could not check: internal error", hiding the
    missing address -- when the ports with an address had no gateway and the rest had no address."""
    ports = good(2)
    ports[0]["gateway"] = ""
    ports[1] = {}
    got = by_id(run(facts(ports), ctx, ["network"]))
    assert got["network.ip"].status == FAIL and got["network.ip"].summary == "no device IP on NPU 1"
    assert got["network.gateway"].status == WARN and got["network.gateway"].summary == "no gateway on any NPU port"
    assert not any("internal error" in c.summary for c in got.values())


def test_subnet_conf_and_not_applicable(ctx, matrix):
    ports = good()
    ports[4]["address"] = "10.0.13.15"
    conf = "address_0=10.0.12.99\nnetmask_0=255.255.255.0\n"
    got = by_id(run(facts(ports, conf=conf), ctx, ["network"]))
    assert got["network.subnet"].status == WARN and "move NPU 4 into 10.0.12.0/24" in got["network.subnet"].fix
    assert got["network.conf"].status == WARN and "NPU 0 10.0.12.99 vs 10.0.12.11" in got["network.conf"].summary
    duo = Context(matrix=matrix, chip="300i-duo")
    assert run(facts(good(2)), duo, ["network"]) == []                 # no RoCE ports on 300I Duo
    inside = run(facts(good(), container=True) | {"network": {"tool": None, "devices": {}}}, ctx, ["network"])
    assert [c.status for c in inside] == [SKIP]
    no_tool = run(facts(good()) | {"network": {"tool": None, "devices": {}}}, ctx, ["network"])
    assert no_tool[0].status == FAIL and "reinstall the driver" in no_tool[0].fix


def test_fleet_duplicate_across_hosts():
    a, b = facts(good(third=12)), facts(good(third=14))
    b["network"]["devices"]["0"]["ip"]["stdout"] = "ipaddr:10.0.12.11\nnetmask:255.255.255.0\n"
    got = fleet_checks([("t1", a), ("t3", b), ("t2", None)])
    assert set(got) == {"t1", "t3"}
    (c,) = got["t3"]
    assert c.status == FAIL and c.summary == "device IP 10.0.12.11 is used on 2 hosts: t1 NPU 0, t3 NPU 0"
    assert fleet_checks([("t1", a), ("t3", facts(good(third=14)))]) == {}


def test_suggest_address_skips_taken_and_broadcast():
    ports = [NetInfo(d, f"10.0.0.{251 + d}", "255.255.255.0") for d in range(4)] + [NetInfo(4)]
    assert suggest_address(ports) == ("10.0.0.1", "255.255.255.0")   # .254 taken, .255 broadcast: wraps to a free one
    assert from_facts(facts({0: {}})["network"])[0].error == "Get ipconf failed, because no ip was preset there!"
