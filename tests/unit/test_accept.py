"""``ascend-env accept`` on a fleet plan through a fake remote (no host): a clean fleet is accepted, and a host that
cannot be reached, a bad link, a smoke that fails, ascend-dmi absent or incompatible, and a run slower than or
missing what the last passing run had each show where an operator looks -- the checks, the exit code, the report."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ascend_env.day2.accept import Options, accept, baseline_drift
from ascend_env.day2.accept_report import render
from ascend_env.day2.accept_steps import (
    COLLECTIVE,
    DMI_ABSENT,
    DMI_BW,
    DMI_COMPAT,
    DOCTOR,
    HEALTH,
    RANKTABLE,
    REACHABLE,
    SMOKE,
    SMOKE_TOK_S,
    SmokeSettings,
    doctor_items,
)
from ascend_env.day2.remote import Ran
from ascend_env.doctor.checks import Check as DoctorCheck
from ascend_env.doctor.status import FAIL, OK, SKIP, UNKNOWN, WARN
from ascend_env.errors import UsageError
from ascend_env.plan import plan

TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"
WHEN = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
ADDRESS = {"a": "10.0.0.5", "b": "10.0.0.6"}
DEVICE_IP = {"a": "192.168.1.1{}", "b": "192.168.1.2{}"}


def hostvars(name: str, **more) -> dict:
    return {"ansible_host": ADDRESS[name], "ascend_chip": "910b", "ascend_arch": "x86_64",
            "ascend_host_pins": {"driver": "25.0.rc1.1"}, "ascend_ranktable_enabled": True,
            "ascend_containers": [{"name": "llm", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}}],
            **more}


@pytest.fixture(scope="module")
def fleet(matrix):
    return plan({"a": hostvars("a"), "b": hostvars("b")}, matrix)


def host_facts(name: str, devices: int = 2, down: tuple[int, ...] = ()) -> dict:
    def port(d: int) -> dict:
        return {"ip": {"rc": 0, "stdout": f"ipaddr:{DEVICE_IP[name].format(d)}\nnetmask:255.255.255.0\n"},
                "link": {"rc": 0, "stdout": f"link status: {'DOWN' if d in down else 'UP'}\n"},
                "net_health": {"rc": 0, "stdout": f"net health status: {'Fault' if d in down else 'Success'}\n"}}
    return {"devices": {"davinci": list(range(devices))},
            "network": {"tool": TOOL, "devices": {str(d): port(d) for d in range(devices)}}}


PING_OK = ("device {d} PING {ip}\nrecv seq=0,time=0.114000ms\nrecv seq=1,time=0.067000ms\nrecv seq=2,time=0.063000ms\n"
           "3 packets transmitted, 3 received, 0.00% packet loss\n")
PING_LOST = ("device {d} PING {ip}\nrecv time out seq=0\nrecv time out seq=1\nrecv time out seq=2\n"
             "3 packets transmitted, 0 received, 100.00% packet loss\nCmd execute failed!\n")
COMPAT = """\
Package         Version         Status                 Innerversion           Dependencies
toolkit         8.2.RC1         {status}                     V100R001C22SPC001B231  npu-driver
npu-driver      25.0.rc1.1      OK                     V100R001C22SPC001B231  npu-firmware
"""
BANDWIDTH = """\
h2d bandwidth test, Device: {d}
Size(Bytes)     Execute Times     Bandwidth(GB/s)     Elapsed Time(us)
33554432        5                 {h2d}               2121
d2h bandwidth test, Device: {d}
Size(Bytes)     Execute Times     Bandwidth(GB/s)     Elapsed Time(us)
33554432        5                 27.87               1926
"""


def smoke_report(ok: bool = True, tok_s: float = 100.0) -> str:
    if not ok:
        return json.dumps({"schema": 1, "ok": False, "exit_code": 1, "framework": "torch", "runner": "auto",
                           "device": "npu", "error": "torch_npu cannot be imported: libhccl.so: cannot open shared "
                                                     "object file. Fix: source set_env.sh"})
    return json.dumps({"schema": 1, "ok": True, "framework": "torch", "runner": "direct", "device": "cpu",
                       "metrics": {"decode_tok_s": tok_s, "ttft_s": 0.002}, "problems": []})


class FakeRemote:
    """Hosts a and b as the fake fleet answers: their facts, ascend-dmi, the smoke, the pings, the collective."""

    def __init__(self, unreachable=(), dead=(), down=(), smoke=None, dmi=None, tok_s=100.0, barrier=None):
        self.unreachable, self.dead, self.down = set(unreachable), set(dead), dict(down)
        self.smoke, self.dmi, self.tok_s, self.barrier = dict(smoke or {}), dmi, tok_s, barrier
        self.calls: list[tuple[str, int, list[str]]] = []
        self.many: list[tuple[str, int, list[list[str]]]] = []
        self.lock = threading.Lock()

    def host(self, address: str) -> str:
        return next(n for n, a in ADDRESS.items() if a == address)

    def facts(self, target):
        if target.name in self.unreachable:
            return f"cannot reach {ADDRESS[target.name]}:22: [Errno 113] No route to host"
        return host_facts(target.name, down=tuple(self.down.get(target.name, ())))

    def run(self, conn, argv, timeout, stdin=None):
        argv = list(argv)
        with self.lock:
            self.calls.append((self.host(conn.address), conn.port, argv))
        if self.host(conn.address) in self.unreachable:
            return Ran(None, error=f"ssh to root@{conn.address}:{conn.port} failed: No route to host")
        if argv[:2] == ["sh", "-c"]:
            return self._dmi(argv[5:])
        if "smoke" in argv:
            ok = self.smoke.get(self.host(conn.address), True)
            return Ran(0 if ok else 1, smoke_report(ok, self.tok_s))
        if "collective" in argv:
            return Ran(0, json.dumps({"ok": True, "backend": "gloo", "world_size": 2, "expected": 3.0,
                                      "ranks": [{"rank": 0, "ok": True, "got": 3.0}]}))
        raise AssertionError(argv)

    def _dmi(self, args):
        if self.dmi is None:
            return Ran(127, DMI_ABSENT + "\n")
        if args == ["-c"]:
            return Ran(0, COMPAT.format(status=self.dmi))
        return Ran(0, BANDWIDTH.format(d=args[-1], h2d=25.31))

    def run_many(self, conn, commands, bound, timeout):
        if self.barrier is not None:
            self.barrier.wait()          # both hosts' pings must be under way at once
        host = self.host(conn.address)
        with self.lock:
            self.many.append((host, bound, [list(c) for c in commands]))
        out = []
        for c in commands:
            dev, dst = c[2], c[-1]
            lost = dst in self.dead or (host, int(dev)) in self.dead
            out.append(Ran(1 if lost else 0, (PING_LOST if lost else PING_OK).format(d=dev, ip=dst)))
        return out


def passing_doctor(fleet, facts):
    return {n: [DoctorCheck("npu.health", "npu", OK, "8 chip(s) Health OK"),
                DoctorCheck("driver.present", "driver", OK, "driver 25.0.rc1.1")]
            if isinstance(f, dict) else [DoctorCheck("transport", "system", SKIP, f"could not check: {f}")]
            for n, f in facts.items()}


def run(fleet, remote, when=WHEN, **opts):
    settings = {n: SmokeSettings(device="cpu") for n in fleet.hosts}
    return accept(fleet, settings, remote, when, opts=Options(**opts), name="rack7", doctor=passing_doctor)


def test_a_clean_fleet_is_accepted_with_every_check_read(fleet):
    remote = FakeRemote()
    acc = run(fleet, remote)
    assert acc.exit_code == 0 and acc.run.passed, [c for r in acc.run.results for c in r.checks.items()]
    a = acc.run.result("a")
    assert a.checks[REACHABLE].passed and a.checks[DOCTOR].passed and a.checks[HEALTH].passed
    assert a.checks[RANKTABLE].passed
    pings = [n for n in a.checks if n.startswith("ping ")]
    assert len(pings) == 6            # its 2 devices to the 3 other device IPs of the table
    assert acc.run.result("a/llm").checks[SMOKE].passed and acc.run.result("a/llm").checks[COLLECTIVE].passed
    assert acc.run.result("b/llm").measurements[SMOKE_TOK_S].value == 100.0
    # ascend-dmi is absent: said so, never a check (so never "ok")
    assert DMI_COMPAT not in a.checks and acc.notes["a"]["ascend-dmi"] == "not installed"
    report = render(acc)
    assert "# Acceptance of rack7: PASSED" in report
    assert re.search(r"\| a \| ok \| ok \| ok \| not installed \| ok \| 6/6 ok \| - \| - \|", report), report
    assert "| b/llm | - | - | - | - | - | - | ok, 100.0 tok/s | ok |" in report
    assert "collective all_reduce across a-llm, b-llm: world 2" in report


def test_pings_run_from_each_host_at_once_with_the_bound_and_the_probed_tool(fleet):
    remote = FakeRemote(barrier=threading.Barrier(2, timeout=10))
    acc = run(fleet, remote, ping_parallel=3)
    assert acc.exit_code == 0
    assert sorted((h, b, len(c)) for h, b, c in remote.many) == [("a", 3, 6), ("b", 3, 6)]
    for host, _, commands in remote.many:
        assert all(c[:2] == [TOOL, "-i"] and c[3:6] == ["-ping", "-g", "address"] for c in commands)
        everyone = {DEVICE_IP[o].format(d) for o in "ab" for d in range(2)}
        assert {(c[2], c[-1]) for c in commands} == {(str(d), ip) for d in range(2) for ip in everyone
                                                      if ip != DEVICE_IP[host].format(d)}


def test_a_host_that_cannot_be_reached_fails_the_run_and_is_named(fleet):
    acc = run(fleet, FakeRemote(unreachable={"b"}))
    assert acc.exit_code == 1
    b = acc.run.result("b")
    assert b.checks[REACHABLE].passed is False and "No route to host" in b.checks[REACHABLE].detail
    assert b.checks[DOCTOR].passed is None and b.checks[HEALTH].passed is None     # never ok for what was not read
    assert b.checks[RANKTABLE].passed is False and "unreachable" in b.checks[RANKTABLE].detail
    assert "the table lacks b" in acc.run.result("a").checks[RANKTABLE].detail
    assert acc.run.result("b/llm").checks[SMOKE].passed is None
    report = render(acc)
    assert "FAILED" in report and "b: reachable failed: cannot reach 10.0.0.6:22" in report


def test_a_bad_link_is_named_in_the_matrix_and_fails_the_run(fleet):
    acc = run(fleet, FakeRemote(dead={"192.168.1.21", ("b", 1)}, down={"b": (1,)}))
    assert acc.exit_code == 1
    bad = {(link.src.label({"10.0.0.5": "a", "10.0.0.6": "b"}), link.dst.ip) for link in acc.pings.mesh.bad}
    assert ("a NPU 0 (192.168.1.10)", "192.168.1.21") in bad and ("b NPU 1 (192.168.1.21)", "192.168.1.10") in bad
    assert len(bad) == 6        # every pair with b's NPU 1 at one end, both ways
    assert any("b NPU 1 (192.168.1.21) reaches none of its 3 peers" in s for s in acc.pings.mesh.suspects)
    # the job's table cannot be written (link DOWN), yet the matrix of its device IPs is shown
    assert acc.run.result("b").checks[RANKTABLE].passed is False
    assert "link DOWN" in acc.run.result("b").checks[RANKTABLE].detail
    assert acc.run.result("a").checks[RANKTABLE].passed is True
    report = render(acc)
    assert "a NPU 0 (192.168.1.10) -> 192.168.1.21 (b NPU 1 (192.168.1.21)): no reply" in report
    assert "| a | ok | ok | ok | not installed | ok | FAIL: 2 of 6 bad |" in report


def test_a_smoke_that_fails_fails_the_run_with_its_reason(fleet):
    acc = run(fleet, FakeRemote(smoke={"b": False}))
    assert acc.exit_code == 1
    smoke = acc.run.result("b/llm").checks[SMOKE]
    assert smoke.passed is False and "libhccl.so" in smoke.detail
    assert SMOKE_TOK_S not in acc.run.result("b/llm").measurements     # it measured nothing
    assert "b/llm: smoke failed: torch_npu cannot be imported" in render(acc)


def test_ascend_dmi_where_installed_is_checked_and_measured(fleet):
    acc = run(fleet, FakeRemote(dmi="OK"))
    a = acc.run.result("a")
    assert acc.exit_code == 0 and a.checks[DMI_COMPAT].passed and a.checks[DMI_BW].passed
    assert a.measurements[f"{DMI_BW} h2d NPU 1 GB/s"].value == 25.31
    assert "| a | ok | ok | ok | ok, h2d 25.3 GB/s |" in render(acc)
    bad = run(fleet, FakeRemote(dmi="INCOMPATIBLE PACKAGE"))
    assert bad.exit_code == 1 and bad.run.result("a").checks[DMI_COMPAT].passed is False
    unread = run(fleet, FakeRemote(dmi="NA"))
    assert unread.exit_code == 1 and unread.run.result("a").checks[DMI_COMPAT].passed is None


def test_drift_names_what_got_slower_and_what_went_missing_beside_the_last_passing_run(fleet):
    first = run(fleet, FakeRemote(dmi="OK"))
    failed = run(fleet, FakeRemote(dmi="OK", smoke={"a": False}), when=WHEN + timedelta(hours=1))
    later = run(fleet, FakeRemote(tok_s=40.0), when=WHEN + timedelta(hours=2))
    d = baseline_drift(later.run, [first.run, failed.run])
    assert d is not None and d.baseline == first.run.timestamp        # the last *passing* run, not the last one
    kinds = {(c.key, c.name): c.kind for c in d.regressions}
    assert kinds[("a/llm", SMOKE_TOK_S)] == "slower"
    assert kinds[("a", f"{DMI_BW} h2d NPU 0 GB/s")] == "missing" and kinds[("b", DMI_COMPAT)] == "missing"
    later = type(later)(later.run, later.pings, later.collective, later.notes, d)
    text = render(later)
    assert f"Drift from the last passing run ({first.run.timestamp})" in text
    assert "| a/llm | smoke decode tok/s | slower: 60.0% worse" in text
    other = run(fleet, FakeRemote(), when=WHEN + timedelta(hours=3))
    assert baseline_drift(other.run, [type(first.run)(first.run.timestamp, first.run.results, "other")]) is None


def test_doctor_items_never_pass_what_was_not_read():
    checks = [DoctorCheck("npu.health", "npu", WARN, "HBM 91% used"), DoctorCheck("cann.env", "cann", FAIL, "no"),
              DoctorCheck("system.sshd", "system", SKIP, "no sshd"), DoctorCheck("network.ports", "network", UNKNOWN,
                                                                               "unreadable")]
    items = doctor_items(checks, 1)
    assert items[DOCTOR].passed is False and items[HEALTH].passed is True
    assert items["doctor: cann.env"].passed is False and items["doctor: network.ports"].passed is None
    assert "doctor: system.sshd" not in items                   # could not check: the verdict counts it, as doctor
    assert doctor_items([DoctorCheck("npu.health", "npu", SKIP, "npu-smi not found")], 2)[HEALTH].passed is None
    assert doctor_items([], 2)[DOCTOR].passed is None


@pytest.mark.parametrize(("var", "value"), [("ascend_smoke_device", "tpu"), ("ascend_smoke_repeat", "0"),
                                            ("ascend_smoke_warmup", "x"), ("ascend_smoke_extra_args", "--x")])
def test_smoke_settings_the_smoke_would_refuse_are_bad_input(var, value):
    with pytest.raises(UsageError, match=var):
        SmokeSettings.from_hostvars({var: value})


def test_bad_options_are_refused_before_any_host_is_touched(fleet):
    remote = FakeRemote()
    for bad in ({"ping_mode": "ring"}, {"ping_parallel": 0}, {"forks": 1000}, {"smoke_timeout": 0}):
        with pytest.raises(UsageError):
            run(fleet, remote, **bad)
    assert remote.calls == [] and remote.many == []


def test_no_rank_table_means_no_matrix_and_no_collective(matrix):
    fleet = plan({"a": hostvars("a", ascend_ranktable_enabled=False)}, matrix)
    acc = run(fleet, FakeRemote())
    assert acc.exit_code == 0 and acc.pings.mesh is None
    assert "no host takes part in a rank table" in render(acc) and acc.collective.startswith("no rank table")
