"""The doctor on every real npu-smi sample (tests/unit/data/npu_smi, SOURCES.md) as the output of `npu-smi info`:
it never says ok for an NPU it could not read or one in Alarm/Critical, in any layout.  And the checks issue 20
changed: devices.pci per chip (PCI functions against npu-smi's chips), chip detection from chips.yaml, DCMI -8005."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
from test_doctor_checks import facts

from ascend_env.cli.doctor import exit_code, render
from ascend_env.doctor.checks import Context, detected_chip, run_checks
from ascend_env.probe.npu_smi import NpuSmiParseError, parse_info

DATA = Path(__file__).parent / "data" / "npu_smi"
SAMPLES = sorted(p.name for p in DATA.glob("real_*.txt"))
BAD = {"Alarm", "Critical", "UNKNOWN"}


@pytest.fixture(scope="module")
def ctx(matrix):
    return Context(matrix=matrix, chip="910b")


def smi(text: str, rc: int = 0, stderr: str = "") -> dict:
    return {"path": "/usr/local/bin/npu-smi", "info": {"rc": rc, "stdout": text, "stderr": stderr}}


def by_id(checks):
    return {c.id: c for c in checks}


@pytest.mark.parametrize("name", SAMPLES)
def test_the_doctor_never_says_ok_for_an_unreadable_or_alarmed_npu(name, ctx):
    text = (DATA / name).read_text(encoding="utf-8")
    got = by_id(run_checks(facts(npu_smi=smi(text)), ctx, ["npu"]))
    health = got["npu.health"]
    try:
        info = parse_info(text)
    except NpuSmiParseError:
        assert health.status == "unknown"                     # a table it could not read is never "ok"
        return
    healths = [ch.health for c in info.cards for ch in c.chips] + [c.health for c in info.cards if not c.chips]
    if any(h is not None and h not in ("OK", "Warning") for h in healths):
        assert health.status == "fail"                        # Alarm/Critical fail in every layout
    elif not healths or None in healths or info.unread_rows:
        assert health.status == "unknown"
    assert health.status != "ok" or (healths and all(h == "OK" for h in healths) and not info.unread_rows)


def test_new_layout_with_two_npus_in_alarm_fails(ctx):
    text = (DATA / "real_950pr_25.7.rc1_3npu_2-alarm_new-layout_lane-health-fixture.txt").read_text()
    checks = run_checks(facts(npu_smi=smi(text)), ctx, ["npu"])
    got = by_id(checks)
    assert got["npu.health"].status == "fail" and got["npu.health"].summary == "unhealthy: NPU 0 Alarm, NPU 1 Alarm"
    assert got["npu.health"].fix.startswith("see the alarm: npu-smi info -t health -i 0;")
    assert got["npu_smi.runs"].summary == "npu-smi 25.7.rc1: 3 NPU(s), 3 chip(s)"
    assert exit_code(checks) == 1


def test_unreadable_rows_and_empty_tables_are_unknown_and_exit_1(ctx):
    partial = (DATA / "real_910b4_25.5.3_partial_hami-1941.txt").read_text()
    checks = run_checks(facts(npu_smi=smi(partial)), ctx, ["npu"])
    health = by_id(checks)["npu.health"]
    assert health.status == "unknown" and "row(s) of the table unreadable (line 14: | 0)" in health.summary
    assert exit_code(checks) == 1 and "??" in render("", checks, tty=False)
    head_only = "\n".join((DATA / "real_950pr_25.7.rc1.6_single_new-layout_no-proc-header_env-report.txt")
                          .read_text().splitlines()[:6])
    empty = by_id(run_checks(facts(npu_smi=smi(head_only)), ctx, ["npu", "devices"]))
    assert empty["npu.health"].status == "unknown" and "lists no NPU" in empty["npu.health"].summary
    assert empty["devices.match"].status == "unknown"
    garbage = by_id(run_checks(facts(npu_smi=smi("Segmentation fault\n")), ctx, ["npu", "devices"]))
    assert garbage["npu.health"].status == "unknown" and garbage["devices.match"].status == "unknown"
    only_unknown = [c for c in run_checks(facts(npu_smi=smi("Segmentation fault\n")), ctx, ["npu.health"])]
    assert exit_code(only_unknown) == 2


def test_unreadable_health_in_the_new_layout_is_not_ok(ctx):
    text = (DATA / "real_950pr_25.7.rc1.6_single_new-layout_no-proc-header_env-report.txt").read_text()
    got = by_id(run_checks(facts(npu_smi=smi(text.replace("| OK            |", "| ??            |"))), ctx,
                           ["npu"]))
    assert got["npu.health"].status == "fail"   # a word npu-smi does not document is not OK
    got = by_id(run_checks(facts(npu_smi=smi(text.replace("| OK            |", "|               |"))), ctx,
                           ["npu"]))
    assert got["npu.health"].status == "unknown" and "health unreadable for NPU 0" in got["npu.health"].summary


# --- devices.pci: PCI functions against npu-smi's chips ----------------------------------------------------------

def host(text: str, functions: list[dict], davinci: list[int]) -> dict:
    nodes = {f"davinci{n}": {"char": True} for n in davinci}
    nodes.update({m: {"char": True} for m in ("davinci_manager", "devmm_svm", "hisi_hdc")})
    return facts(system={"arch": "x86_64", "in_container": False, "euid": 0},
                 devices={"nodes": nodes, "davinci": davinci, "managers": ["davinci_manager", "devmm_svm", "hisi_hdc"]},
                 pci={"devices": functions}, npu_smi=smi(text))


def fn(bdf: str, device: str, sub: str = "0x0100", cls: str = "0x120000") -> dict:
    return {"bdf": bdf, "vendor": "0x19e5", "device": device, "subsystem_vendor": "0x19e5", "subsystem_device": sub,
            "class": cls}


def test_atlas_300_four_310_chips_each_its_own_function(ctx):
    text = (DATA / "real_310x4-atlas300_20.2.2_5cards-20chips_indented_prompt_juawei-notes.txt").read_text()
    functions = [fn(f"0000:{b:02x}:00.0", "0xd100") for b in range(0x81, 0x95)]
    got = by_id(run_checks(host(text, functions, list(range(20))), ctx, ["devices"]))
    assert "devices.pci" not in got and got["devices.match"].status == "ok"
    assert got["devices.match"].summary == "20 chip(s) visible to npu-smi, nodes present"
    lost = by_id(run_checks(host(text, [*functions, fn("0000:95:00.0", "0xd100")], list(range(20))), ctx,
                            ["devices"]))["devices.pci"]
    assert lost.status == "fail" and lost.summary == ("1 of 21 NPU PCI function(s) not shown by npu-smi: "
                                                      "0000:95:00.0 (0xd100)")


def test_a3_two_dies_on_two_buses_and_a_huawei_nic_beside_them(ctx):
    text = (DATA / "real_a3-ascend910_26.0.rc2_wide_head_partial_vllm-ascend-12980.txt").read_text()
    functions = [fn("0000:9d:00.0", "0xd803"), fn("0000:9f:00.0", "0xd803"),
                 fn("0000:7d:00.0", "0xa222", "0x0454", "0x020000")]   # a Huawei NIC: not an NPU
    got = by_id(run_checks(host(text, functions, [0, 1]), ctx, ["devices"]))
    assert "devices.pci" not in got and got["devices.match"].status == "ok"


def test_300i_duo_two_chips_behind_one_function(ctx):
    text = (DATA / "300i_duo_24.1.rc2.txt").read_text()
    duo = [fn("0000:07:00.0", "0xd500", "0x0110")]
    assert "devices.pci" not in by_id(run_checks(host(text, duo, [0, 1]), ctx, ["devices"]))
    one_chip = "\n".join(ln for i, ln in enumerate(text.splitlines()) if i not in (9, 10))  # chip 1 lost
    got = by_id(run_checks(host(one_chip, duo, [0, 1]), ctx, ["devices"]))["devices.pci"]
    assert got.status == "fail" and got.summary == "0000:07:00.0 (300i-duo) carries 2 chips but npu-smi shows 1"


def test_no_bus_id_counts_chips_per_model_or_says_unknown(ctx):
    text = (DATA / "real_950dt_25.6.rc1.b169_busid-NA_wide_proc-in-container_new-layout_parser-fixture.txt").read_text()
    functions = [fn(f"0000:{b:02x}:00.0", "0xd806") for b in (0x11, 0x21, 0x61, 0x71)]
    got = by_id(run_checks(host(text, functions, [0, 1, 6, 7]), ctx, ["devices"]))["devices.pci"]
    assert got.status == "unknown" and "0xd806" in got.summary          # not in chips.yaml: not guessed
    masked = (DATA / "real_910b4-1_25.2.0_masked-busid_truncated_hami-webui-47.txt").read_text()
    b910 = [fn(f"0000:{b:02x}:00.0", "0xd802", "0x3000") for b in (0xc1, 0xc2, 0x81)]
    got = by_id(run_checks(host(masked, b910, [0, 1]), ctx, ["devices"]))["devices.pci"]
    assert got.status == "fail" and got.summary == "3 NPU PCI function(s) carry 3 chip(s) but npu-smi shows 2"


def test_chip_detection_reads_chips_yaml(ctx, matrix):
    f = host("", [fn("0000:07:00.0", "0xd500", "0x0110")], [0, 1])
    assert detected_chip(f, matrix) == "300i-duo"
    assert detected_chip(host("", [fn("0000:c1:00.0", "0xd802", "0x3000")], [0]), matrix) == "910b"
    moved = copy.copy(matrix)   # change a PCI id in the matrix's chips (what chips.yaml says): detection follows
    moved.chips = [dataclasses.replace(c, pci={**c.pci, "device": "0xd8ff"}) if c.id == "910b" else c
                   for c in matrix.chips]
    assert detected_chip(host("", [fn("0000:c1:00.0", "0xd8ff", "0x3000")], [0]), moved) == "910b"
    assert detected_chip(host("", [fn("0000:c1:00.0", "0xd802", "0x3000")], [0]), moved) is None


# --- DCMI -8005 ------------------------------------------------------------------------------------------------

ERR_8005 = (DATA / "real_error_-8005_container_vllm-ascend-2698.txt").read_text()


def test_8005_in_a_container_with_every_node_is_another_holder_first(ctx):
    f = facts(npu_smi=smi(ERR_8005, rc=1))
    c = by_id(run_checks(f, ctx, ["npu"]))["npu_smi.runs"]
    assert c.status == "fail" and c.summary == "npu-smi info failed: dcmi module initialize failed. ret is -8005"
    assert c.fix.startswith("1) another container or process holds the NPU: on the host, `npu-smi info`")
    assert "2) the container lacks" in c.fix and "(present here, so not that)" in c.fix
    assert "vllm-ascend#2698" in c.detail and "case_9289" in c.detail


def test_8005_with_the_manager_devices_missing_names_them_first(ctx):
    nodes = {"davinci0": {"char": True}}
    f = facts(npu_smi=smi(ERR_8005, rc=1), devices={"nodes": nodes, "davinci": [0], "managers": []})
    c = by_id(run_checks(f, ctx, ["npu"]))["npu_smi.runs"]
    assert c.fix.startswith("1) here: the container lacks /dev/davinci_manager, /dev/devmm_svm, /dev/hisi_hdc")
    assert "2) if they are present: another container or process holds the NPU" in c.fix
    non_root = facts(npu_smi=smi(ERR_8005, rc=1), system={"arch": "x86_64", "in_container": False, "euid": 1000})
    c = by_id(run_checks(non_root, ctx, ["npu"]))["npu_smi.runs"]
    assert c.fix.startswith("1) npu-smi ran as uid 1000, not root")
