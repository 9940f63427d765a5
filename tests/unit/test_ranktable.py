"""`ranktable` (the writer): --devices, who takes part, what is written, progress, and errors instead of
tracebacks (issue 24); every table it writes passes `ranktable --check` for the fleet's chip (issue 20)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env import cli
from ascend_env.errors import AscendEnvError
from ascend_env.probe.hccn import NetInfo
from ascend_env.ranktable import Server, build, format_for, parse_devices, validate

# names main did not have are imported inside the tests that use them: the other tests also run (and fail for their
# own reasons) on a checkout without them

REPO = Path(__file__).resolve().parents[2]


def port(d: int, host: int = 1, **kw) -> NetInfo:
    return NetInfo(**{"device": d, "address": f"10.0.{host}.{d + 11}", "link": "UP", "health": "Success", **kw})


def server(name: str, host: int, n: int = 8, **kw) -> Server:
    return Server(name=name, server_id=f"192.0.2.{host}", ports=tuple(port(d, host) for d in range(n)), **kw)


# -- --devices -------------------------------------------------------------------------------------------------------

def test_devices_parse():
    assert parse_devices("0-3,6") == [0, 1, 2, 3, 6] and parse_devices(None) is None and parse_devices("all") is None


@pytest.mark.parametrize(("text", "said"), [
    ("0,0", "--devices '0,0': device 0 is named twice; name each device once, e.g. 0"),
    ("0-3,2", "--devices '0-3,2': device 2 is named twice; name each device once, e.g. 0-3"),
    ("0-99999999", "--devices '0-99999999': device 99999999 is beyond the chip's 32 devices (0-31)"),
    ("0-x", "--devices '0-x': '0-x' is not a device number or range; use e.g. 0-7 or 0,1,4-5"),
    ("5-2", "--devices '5-2': the range '5-2' runs backwards; write 2-5"),
])
def test_bad_devices_name_the_value_and_the_fix(text, said):
    from ascend_env.ranktable import RankTableError

    with pytest.raises(RankTableError) as e:
        parse_devices(text)
    assert str(e.value).startswith(said)
    assert isinstance(e.value, AscendEnvError) and isinstance(e.value, ValueError)


def test_devices_are_bounded_by_the_chip_before_anything_is_expanded():
    from ascend_env.ranktable import MAX_DEVICES, RankTableError, hccl_chip

    assert MAX_DEVICES == 32
    with pytest.raises(RankTableError, match=r"device 16 is beyond the chip's 16 devices \(0-15\)"):
        parse_devices("0-16", hccl_chip(["910b"]).devices)
    with pytest.raises(RankTableError, match="beyond the chip's 32 devices"):
        parse_devices("0-" + "9" * 4000)          # no list of 10^4000 entries
    with pytest.raises(RankTableError, match="is beyond the chip's 32 devices"):
        parse_devices("9" * 5000)                 # no int() of 5000 digits (Python's limit: a ValueError traceback)


# -- who takes part, and the format ------------------------------------------------------------------------------

def test_no_chip_means_no_format(matrix):
    from ascend_env.ranktable import RankTableError

    with pytest.raises(RankTableError, match="no host takes part, so there is no chip to choose a rank table format"):
        format_for(matrix, [])
    with pytest.raises(RankTableError, match="no rank table format is known for chip '300i-duo'"):
        format_for(matrix, ["300i-duo"])
    assert format_for(matrix, ["910b"])[0] == "1.0"


def test_cli_missing_inventory_is_bad_input(capsys):
    assert cli.main(["ranktable", "--inventory", "/nonexistent/hosts.yml"]) == 2
    err = capsys.readouterr().err
    assert "--inventory /nonexistent/hosts.yml: no such file or directory" in err and "Traceback" not in err


def _fleet(monkeypatch, hosts: dict[str, dict], reach=None):
    """An inventory of ``hosts`` (name -> hostvars) without ansible-inventory, and an SSH that ``reach`` answers."""
    from ascend_env import doctor_cli
    from ascend_env.doctor import transport
    from ascend_env.doctor.transport import SshTarget, TransportError

    monkeypatch.setattr(doctor_cli, "inventory_targets",
                        lambda path, limit: [(SshTarget(host=hv.get("ansible_host", n), name=n), hv)
                                             for n, hv in hosts.items()])

    def ssh(target, **kw):
        if reach is None:
            raise TransportError(f"cannot reach {target.host}:22: [Errno 111] Connection refused")
        return reach(target)

    monkeypatch.setattr(transport, "ssh", ssh)


@pytest.mark.parametrize(("hosts", "args", "said"), [
    ({}, [], "no hosts in it"),
    ({"duo": {"ascend_chip": "300i-duo"}}, [], "no host of INV takes part: none has ascend_ranktable_enabled: true"),
    ({"a": {"ascend_chip": "910b"}}, ["--hosts", ","], "--hosts ',' names no host; hosts: a"),
    ({"a": {"ascend_chip": "910b"}}, ["--hosts", "b"], "--hosts: no host b in the inventory; hosts: a"),
    ({"a": {"ascend_chip": "910b"}}, ["--devices", "0-16"], "device 16 is beyond the chip's 16 devices (0-15)"),
    ({"a": {"ascend_chip": "910b"}}, ["--chip", "910b"], "--chip 910b: only with --check FILE"),
])
def test_cli_when_no_host_takes_part_or_the_input_is_bad(monkeypatch, tmp_path, capsys, hosts, args, said):
    """Was StopIteration (a traceback) whenever no host took part."""
    _fleet(monkeypatch, hosts)
    inv = tmp_path / "hosts.yml"
    inv.write_text("all: {}\n")
    assert cli.main(["ranktable", "--inventory", str(inv), *args]) == 2
    err = capsys.readouterr().err
    assert said.replace("INV", str(inv)) in err and "Traceback" not in err


def test_cli_a_wrong_inventory_path_is_a_clear_error_not_a_traceback():
    cp = subprocess.run([sys.executable, "-m", "ascend_env", "ranktable", "--inventory", "inventory/nope.yml"],
                        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert cp.returncode == 2, cp.stderr
    assert "--inventory inventory/nope.yml: no such file or directory" in cp.stderr
    assert "Traceback" not in cp.stdout + cp.stderr


# -- progress ------------------------------------------------------------------------------------------------------

class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_quiet_when_piped(monkeypatch, tmp_path, capsys):
    hosts = {f"h{i:04}": {"ascend_chip": "910b", "ansible_host": f"198.51.100.{i % 250}"} for i in range(300)}
    _fleet(monkeypatch, hosts)
    inv = tmp_path / "hosts.yml"
    inv.write_text("all: {}\n")
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert cli.main(["ranktable", "--inventory", str(inv)]) == 1
    shown = tty.getvalue()
    assert "\rreading hosts: 300/300 done (300 unreachable)\n" in shown
    assert "h0000: unreachable (cannot reach 198.51.100.0:22" in shown
    monkeypatch.setattr(sys, "stderr", io.StringIO())           # piped: no progress line at all
    assert cli.main(["ranktable", "--inventory", str(inv)]) == 1
    assert "reading hosts" not in sys.stderr.getvalue()
    assert "h0299: unreachable" in sys.stderr.getvalue()


# -- what is written ----------------------------------------------------------------------------------------------

def _facts(ports: dict[int, str | None]) -> dict:
    def runs(d: int, ip: str | None) -> dict:
        return {"ip": {"rc": 0, "stdout": f"ipaddr:{ip}\nnetmask:255.255.255.0\n" if ip else
                       "Get ipconf failed, because no ip was preset there!\n"},
                "link": {"rc": 0, "stdout": "link status: DOWN\n"}, "net_health": {"rc": 0, "stdout": "net health "
                                                                               "status: Init\n"}}
    return {"network": {"tool": "/usr/local/Ascend/driver/tools/hccn_tool",
                        "devices": {str(d): runs(d, ip) for d, ip in ports.items()}},
            "devices": {"davinci": sorted(ports)}}


def test_one_server_needs_no_device_ip_as_in_hccls_example(monkeypatch, tmp_path, capsys):
    _fleet(monkeypatch, {"a": {"ascend_chip": "910b", "ansible_host": "192.0.2.10"}},
           reach=lambda t: _facts({0: None, 1: "10.0.0.12"}))
    inv = tmp_path / "hosts.yml"
    inv.write_text("all: {}\n")
    out = tmp_path / "hccl.json"
    assert cli.main(["ranktable", "--inventory", str(inv), "--out", str(out)]) == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert [d["device_ip"] for d in doc["server_list"][0]["device"]] == ["", "10.0.0.12"]
    assert cli.main(["ranktable", "--check", str(out)]) == 0


def test_two_servers_need_every_address_link_and_health():
    a = server("a", 10)
    b = Server(name="b", server_id="192.0.2.11", ports=(port(0, 11, address=None), port(1, 11, link="DOWN"),
                                                        *(port(d, 11) for d in range(2, 8))))
    table, problems = build([a, b])
    assert table is None and [str(p).split(". Fix")[0] for p in problems] == ["b NPU 0: no device IP",
                                                                             "b NPU 1: link DOWN"]
    said = "-ip: Device ID is out of the valid range. Cmd execute failed!"
    c = Server(name="c", server_id="192.0.2.12", ports=(port(0, 12, address=None, failure=said),
                                                        *(port(d, 12) for d in range(1, 8))))
    table, problems = build([a, c])
    assert str(problems[0]).startswith(f"c NPU 0: hccn_tool failed: {said}. Fix: run "
                                       "/usr/local/Ascend/driver/tools/hccn_tool -i 0 -ip -g on c")


def test_what_is_written_passes_the_check_or_is_not_written():
    from ascend_env.ranktable import hccl_chip

    table, problems = build([server("a", 10), server("b", 11)], chip=hccl_chip(["910b"]))
    assert problems == [] and validate(table, hccl_chip(["910b"])) == []
    assert [s["server_id"] for s in table["server_list"]] == ["192.0.2.10", "192.0.2.11"]
    bad = Server(name="b", server_id="192.0.2.11", ports=tuple(port(d, 11, address=f"fd00::{d + 1}")
                                                               for d in range(8)))
    table, problems = build([server("a", 10), bad])
    assert table is None
    assert "the table would break HCCL's rule: device_ip mixes IPv4 and IPv6 addresses across servers" in \
        str(problems[0])
    long_id = Server(name="c", server_id="h" * 65, ports=tuple(port(d, 12) for d in range(8)))
    table, problems = build([server("a", 10), long_id])
    assert table is None and problems[0].usage and "longer than 64 characters" in str(problems[0])


def test_the_ansible_filter_takes_the_same_rules(monkeypatch):
    from tests.unit.conftest import collection_plugin

    f = collection_plugin("filter.ascend_env").ascend_env_ranktable
    hv = {"a": {"ascend_chip": "910b", "ansible_host": "192.0.2.10"}}
    assert f(hv, [], "", "auto")["problems"][0].startswith("no host takes part")
    assert "device 0 is named twice" in f(hv, ["a"], "0,0", "auto")["problems"][0]
    assert "device 16 is beyond the chip's 16 devices" in f(hv, ["a"], "0-16", "auto")["problems"][0]
    ips = {"a": {0: "10.0.1.11", 1: "10.0.1.12"}, "b": {0: "10.0.2.11", 1: "10.0.2.12"}}
    fleet = {n: {"ascend_chip": "910b", "ansible_host": f"192.0.2.{10 + i}", "ascend_ranktable_facts": _facts(ips[n])}
             for i, n in enumerate(ips)}
    for n in ips:       # both servers ready: links up, net health Success
        for runs in fleet[n]["ascend_ranktable_facts"]["network"]["devices"].values():
            runs["link"]["stdout"], runs["net_health"]["stdout"] = "link status: UP\n", "net health status: Success\n"
    got = f(fleet, ["a", "b"], "", "auto")
    assert got["ok"] and got["ranks"] == 4 and got["problems"] == []
    assert validate(json.loads(got["text"])) == []
    fleet["b"]["ascend_ranktable_facts"]["network"]["devices"]["1"]["ip"]["stdout"] = "ipaddr:fd00::1\n"
    got = f(fleet, ["a", "b"], "", "auto")
    assert not got["ok"] and "device_ip mixes IPv4 and IPv6 addresses across servers" in got["problems"][0]
