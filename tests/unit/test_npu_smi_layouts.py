"""The npu-smi layouts by their header names (issue 20): the 25.6+ ``| NPU ID | Name | Health |`` table with chip rows
that start with two empty cells (Ascend 950PR/950DT, Atlas 350, npu-smi's current reference), the wide 26.x tables of
910B and A3, and Atlas 300 inference cards with four 310 chips each.  Real samples: tests/unit/data/npu_smi/SOURCES.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.probe.npu_smi import parse_info

DATA = Path(__file__).parent / "data" / "npu_smi"
BUSES_310 = [f"0000:{b:02X}:00.0" for b in range(0x81, 0x95)]

# file -> (layout, version, NPU ids, chips per NPU, names, health of every chip, bus ids of every chip, processes
#          as (npu, chip, pid, name, memory), idle NPUs, unread rows)
NEW = {
    "real_950pr_25.7.rc1_3npu_2-alarm_new-layout_lane-health-fixture.txt":
        ("npu-id/name", "25.7.rc1", [0, 1, 2], [1, 1, 1], {"Ascend950PR"}, ["Alarm", "Alarm", "OK"],
         ["0000:71:00.0", "0000:61:00.0", "0000:81:00.0"],
         [(0, None, 1530715, "python", 4724), (0, None, 1655234, "python", 4728)], (), 0),
    "real_950pr_25.7.rc1.6_single_new-layout_no-proc-header_env-report.txt":
        ("npu-id/name", "25.7.rc1.6", [0], [1], {"Ascend950PR"}, ["OK"], ["0000:61:00.0"], [], (0,), 0),
    "real_950pr_25.7.rc1_7npu_empty-procname_new-layout_orchestrator-fixture.txt":
        ("npu-id/name", "25.7.rc1", list(range(7)), [1] * 7, {"Ascend950PR"}, ["OK"] * 7,
         ["0000:01:00.0", "0000:11:00.0", "0000:61:00.0", "0000:71:00.0", "0000:81:00.0", "0000:91:00.0",
          "0000:F1:00.0"], [(0, None, 846718, "", 332), (1, None, 2430352, "", 544)], (2,), 0),
    "real_atlas350_x.x.x_new-layout_npu-smi-reference-doc.txt":
        ("npu-id/name", "x.x.x", [0], [1], {"xxx"}, ["OK"], ["0000:91:00.0"], [], (0,), 0),
    "real_950dt_25.6.rc1.b169_busid-NA_wide_proc-in-container_new-layout_parser-fixture.txt":
        ("npu-id/name", "25.6.rc1.b169", [0, 1, 6, 7], [1] * 4, {"Ascend950DT"}, ["OK"] * 4, [None] * 4,
         [(6, None, 3621066, "/home/lp/sglang/worker.py", 40000),
          (6, None, 3624823, "/home/rjw/sglang-k3/worker.py", 61140),
          (6, None, 3624824, "/home/rjw/sglang-k3/helper.py", 20000)], (), 0),
    "real_910b4_26.0.rc1_wide_prompt-double-space_triton-ascend-doc.txt":
        ("npu-name/chip", "26.0.rc1", [0], [1], {"910B4"}, ["OK"], ["0000:C1:00.0"], [], (0,), 0),
    "real_310x4-atlas300_20.2.2_5cards-20chips_indented_prompt_juawei-notes.txt":
        ("npu-name/chip", "20.2.2", [2048, 2049, 2050, 2051, 2052], [4] * 5, {"310"}, ["OK"] * 20, BUSES_310, [],
         (), 0),
    "real_910b4_25.5.3_partial_hami-1941.txt":
        ("npu-name/chip", "25.5.3", [0, 1, 2], [1, 1, 0], {"910B4"}, ["OK", "OK"], ["0000:C1:00.0", "0000:01:00.0"],
         [], (), 1),
    "real_a3-ascend910_26.0.rc2_wide_head_partial_vllm-ascend-12980.txt":
        ("npu-name/chip", "26.0.rc2", [0], [2], {"Ascend910"}, ["OK", "OK"], ["0000:9D:00.0", "0000:9F:00.0"], [],
         (), 0),
    "real_a3-ascend910_26.0.rc2_wide_tail-procs-in-container_partial_vllm-ascend-12980.txt":
        ("assumed", None, [7], [1], {"Ascend910"}, ["OK"], ["0000:83:00.0"], [(0, 0, 632268, "python3.1", 197)],
         (1, 2), 0),
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_layouts_are_read_by_their_header_names(name):
    layout, version, ids, per_npu, names, healths, buses, procs, idle, unread = NEW[name]
    info = parse_info((DATA / name).read_text(encoding="utf-8"))
    assert (info.layout, info.version) == (layout, version)
    assert [c.npu_id for c in info.cards] == ids                      # the header row never becomes a card
    assert [len(c.chips) for c in info.cards] == per_npu
    assert {c.name for c in info.cards} == names
    assert [ch.health for c in info.cards for ch in c.chips] == healths
    assert [ch.bus_id for c in info.cards for ch in c.chips] == buses
    assert [(p.npu_id, p.chip_id, p.pid, p.name, p.memory_mb) for p in info.processes] == procs
    assert info.idle_npus == idle and len(info.unread_rows) == unread


def test_new_layout_values_and_chip_ids():
    info = parse_info((DATA / "real_950pr_25.7.rc1_3npu_2-alarm_new-layout_lane-health-fixture.txt").read_text())
    chip = info.cards[0].chips[0]
    # NPU Util(%) is read as the utilisation column; the 25.6+ chip row has no chip id (two empty cells)
    assert (chip.chip_id, chip.aicore, chip.hbm_used_mb, chip.hbm_total_mb) == (None, 100, 90633, 114688)
    assert (info.cards[0].power, info.cards[0].temp, info.cards[0].hugepages_total) == (205.7, 71, 0)
    assert info.chip_header == "" and info.has_hbm_column and info.warnings == ()
    a3 = parse_info((DATA / "real_a3-ascend910_26.0.rc2_wide_head_partial_vllm-ascend-12980.txt").read_text())
    assert a3.chip_header == "Chip Phy-ID" and [ch.device_id for ch in a3.cards[0].chips] == [0, 1]
    b310 = parse_info((DATA / "real_310x4-atlas300_20.2.2_5cards-20chips_indented_prompt_juawei-notes.txt")
                      .read_text())
    assert [ch.device_id for c in b310.cards for ch in c.chips] == list(range(20))
    assert [ch.chip_id for ch in b310.cards[1].chips] == [0, 1, 2, 3]


def test_new_layout_unreadable_health_is_unknown_not_ok():
    text = (DATA / "real_950pr_25.7.rc1.6_single_new-layout_no-proc-header_env-report.txt").read_text()
    info = parse_info(text.replace("| OK            |", "|               |"))
    assert info.cards[0].health is None and info.cards[0].chips[0].health is None
    assert any("Health missing" in w for w in info.warnings)
    # a header without a Health column: every health unknown, said so
    no_health = parse_info(text.replace("| Health        |", "| Status        |"))
    assert no_health.cards == () or all(c.health is None for c in no_health.cards)


def test_driver_package_notice_after_the_table():
    # npu-smi reference ("Querying Basic Information"): printed as the last line when the driver is incomplete
    text = (DATA / "real_950pr_25.7.rc1.6_single_new-layout_no-proc-header_env-report.txt").read_text()
    info = parse_info(text + "The driver package may not be completely installed, which may cause function "
                             "abnormal. Please reinstall it.\n")
    assert info.notices and info.notices[0].startswith("The driver package may not be completely installed")
