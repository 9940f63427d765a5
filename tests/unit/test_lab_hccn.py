"""The lab's hccn_tool fake: the real tool's output lines and refusals, hccn.conf as its store, the network faults,
and the doctor reading a lab host through the same probe it uses on real hosts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ascend_env.doctor.checks import Context, run_checks
from ascend_env.lab import sysroot
from ascend_env.lab.config import LabConfigError, build_config
from ascend_env.lab.faults import desired, make_fault
from ascend_env.lab.layout import HostPaths
from ascend_env.probe import host as probe


@pytest.fixture()
def lab_host(tmp_path):
    cfg = build_config({"hosts": [{"name": "t1", "chip": "910b", "cards": 8, "address": "127.0.0.12"},
                                  {"name": "t2", "chip": "300i-duo", "cards": 2, "address": "127.0.0.13"}]},
                       prefix=Path("/tmp/ascend-env-unit-lab"))   # never created: build_network gets its own root
    hp = HostPaths(tmp_path / "t1")
    hp.dev.mkdir(parents=True)
    for n in range(8):
        (hp.dev / f"davinci{n}").write_text("")

    def build(*faults):
        sysroot.build_network(cfg.hosts[0], hp, desired(cfg.hosts[0], list(faults)))
        return hp

    return cfg, build


def tool(hp: HostPaths, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(hp.driver / "tools/hccn_tool"), *args], capture_output=True, text=True,
                          env=dict(os.environ, PATH="/usr/bin:/bin"))


def test_queries_print_what_the_real_tool_prints(lab_host):
    _cfg, build = lab_host
    hp = build()
    assert tool(hp, "-i", "0", "-ip", "-g").stdout == "ipaddr:10.0.12.11\nnetmask:255.255.255.0\n"
    assert tool(hp, "-i", "7", "-link", "-g").stdout == "link status: UP\n"
    assert tool(hp, "-i", "7", "-net_health", "-g").stdout == "net health status: Success\n"
    assert tool(hp, "-i", "3", "-gateway", "-g").stdout == "default gateway:10.0.12.1, Iface:eth3\n"
    assert tool(hp, "-i", "3", "-netdetect", "-g").stdout == "netdetect address: 10.0.12.1\n"
    bad = tool(hp, "-i", "8", "-ip", "-g")
    assert (bad.returncode, bad.stdout) == (1, "The device is not exist!\n")
    assert tool(hp, "-i", "0", "-frobnicate", "-g").stdout.startswith("Usage: hccn_tool")
    conf = (hp.root / "etc/hccn.conf").read_text().splitlines()
    assert conf[:5] == ["address_0=10.0.12.11", "netmask_0=255.255.255.0", "netdetect_0=10.0.12.1",
                        "gateway_0=10.0.12.1", "send_arp_status_0=1"]


def test_faults_and_the_repairs_the_doctor_suggests(lab_host, matrix):
    cfg, build = lab_host
    spec = cfg.hosts[0]
    hp = build(make_fault(spec, "link-down", device=2), make_fault(spec, "no-device-ip", device=3),
               make_fault(spec, "duplicate-ip", device=5))
    assert tool(hp, "-i", "2", "-net_health", "-g").stdout == "net health status: Fault\n"
    assert tool(hp, "-i", "3", "-ip", "-g").stdout == "Get ipconf failed, because no ip was preset there!\n"
    assert tool(hp, "-i", "3", "-net_health", "-g").stdout == "net health status: Init\n"
    assert tool(hp, "-i", "5", "-ip", "-g").stdout.startswith("ipaddr:10.0.12.17\n")   # device 6's address
    checks = {c.id: c for c in run_checks(probe.collect(str(hp.root), imports=False),
                                          Context(matrix=matrix, chip="910b"), ["network"])}
    assert sorted(checks) == ["network.duplicate", "network.health", "network.ip", "network.link"]
    # the doctor's own fixes, run against the fake, repair the host
    for fix in (checks["network.ip"].fix.split(" (addresses")[0], checks["network.duplicate"].fix):
        argv = fix.split()
        assert argv[0].endswith("hccn_tool"), fix
        done = tool(hp, *argv[1:])
        assert done.returncode == 0, done.stdout
    assert tool(hp, "-i", "3", "-gateway", "-s", "gateway", "10.0.13.1").stdout == (
        "The segment of configured gateway doesn't match that of the configured ip address!\n")
    assert tool(hp, "-i", "3", "-gateway", "-s", "gateway", "10.0.12.1").returncode == 0
    left = {c.id for c in run_checks(probe.collect(str(hp.root), imports=False),
                                     Context(matrix=matrix, chip="910b"), ["network"]) if c.status != "ok"}
    assert left == {"network.link", "network.health"}        # only the cable is left to fix


def test_set_refuses_like_the_real_tool(lab_host):
    _cfg, build = lab_host
    hp = build()
    conflict = tool(hp, "-i", "1", "-ip", "-s", "address", "10.0.12.11", "netmask", "255.255.255.0")
    assert (conflict.returncode, conflict.stdout) == (1, "The ip address configured is conflicted!\n")
    invalid = tool(hp, "-i", "1", "-ip", "-s", "address", "10.0.12.300", "netmask", "255.255.255.0")
    assert invalid.stdout == "The ip address you configured is invalid!\n"
    assert "address_1=10.0.12.12" in (hp.root / "etc/hccn.conf").read_text()


def test_fault_requests_are_checked(lab_host):
    cfg, _build = lab_host
    with pytest.raises(LabConfigError, match="only 910B hosts have NPU RoCE ports"):
        make_fault(cfg.hosts[1], "link-down", device=0)
    with pytest.raises(LabConfigError, match=r"--ip '10.0.12' for duplicate-ip"):
        make_fault(cfg.hosts[0], "duplicate-ip", device=0, ip="10.0.12")
    with pytest.raises(LabConfigError, match="--device 8 for link-down on t1: the device"):
        make_fault(cfg.hosts[0], "link-down", device=8)
    assert sysroot.build_network(cfg.hosts[1], HostPaths(Path("/nonexistent")), desired(cfg.hosts[1], [])) == []
