"""Parsers of ascend_env.probe.npu_smi on real npu-smi output (fixtures copied verbatim, sources below)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.probe.npu_smi import (
    NpuSmiParseError,
    detect_loader_error,
    parse_info,
    parse_info_m,
    parse_kv_block,
    parse_kv_sections,
)

DATA = Path(__file__).parent / "data" / "npu_smi"


def load(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def test_910b_first_card_from_facts() -> None:
    # Source: ascend-facts.md §1.2 = https://github.com/vllm-project/vllm-ascend/issues/3403 (8x910B1, 24.1.0)
    info = parse_info(load("910b1_24.1.0_first_card.txt"))
    assert (info.tool_version, info.version) == ("24.1.0", "24.1.0")
    assert info.chip_header == "Chip" and info.has_hbm_column
    (card,) = info.cards
    assert (card.npu_id, card.name, card.health, card.power, card.temp) == (0, "910B1", "OK", 93.1, 36)
    assert (card.hugepages_used, card.hugepages_total) == (0, 0)
    (chip,) = card.chips
    assert (chip.chip_id, chip.device_id, chip.bus_id, chip.aicore) == (0, None, "0000:C1:00.0", 0)
    assert (chip.memory_used_mb, chip.memory_total_mb, chip.hbm_used_mb, chip.hbm_total_mb) == (0, 0, 3418, 65536)
    assert info.processes == () and info.idle_npus == ()


def test_misaligned_older_sample_with_process() -> None:
    # Source: ascend-facts.md §1.2 = Ascend/mind-cluster: docs/en/faultdiag/user_guide/03_collecting_logs.md
    # (driver 23.0.rc3, header and name row not aligned with the borders)
    info = parse_info(load("910_23.0.rc3_masked_processes.txt"))
    assert (info.tool_version, info.version) == ("23.0.rc3", "23.0.rc2.3")
    chip = info.cards[0].chips[0]
    assert (chip.memory_used_mb, chip.memory_total_mb, chip.hbm_used_mb, chip.hbm_total_mb) == (
        4565,
        15137,
        30710,
        32768,
    )
    assert info.cards[0].hugepages_used == 1123
    (proc,) = info.processes
    assert (proc.npu_id, proc.chip_id, proc.pid, proc.name, proc.memory_mb) == (0, 0, 139667, "python", 30780)


def test_full_8_card_910b3() -> None:
    # Source: https://github.com/vllm-project/vllm-ascend/issues/336 (8x910B3, 24.1.0; row 6 is misaligned)
    info = parse_info(load("910b3_8card_24.1.0.txt"))
    assert [c.npu_id for c in info.cards] == list(range(8))
    assert [c.chips[0].bus_id for c in info.cards] == [
        "0000:C1:00.0", "0000:C2:00.0", "0000:81:00.0", "0000:82:00.0",
        "0000:01:00.0", "0000:02:00.0", "0000:41:00.0", "0000:42:00.0",
    ]  # fmt: skip
    assert info.cards[6].power == 93.6 and info.cards[6].temp == 39
    assert info.cards[4].power == 98.2
    assert {c.chips[0].hbm_total_mb for c in info.cards} == {65536}
    assert info.idle_npus == tuple(range(8))


def test_300i_duo_two_chips_same_bus_no_hbm() -> None:
    # Source: https://github.com/Ascend/pytorch/issues/94 (Atlas 300I Duo, 310P3, driver 24.1.rc2)
    info = parse_info(load("300i_duo_24.1.rc2.txt"))
    assert info.chip_header == "Chip Device" and not info.has_hbm_column
    (card,) = info.cards
    assert (card.npu_id, card.name, card.power, card.temp) == (1792, "310P3", None, 36)
    assert [(c.chip_id, c.device_id, c.bus_id) for c in card.chips] == [(0, 0, "0000:07:00.0"), (1, 1, "0000:07:00.0")]
    assert [(c.memory_used_mb, c.memory_total_mb) for c in card.chips] == [(1821, 44280), (1041, 43693)]
    assert all(c.hbm_used_mb is None and c.hbm_total_mb is None for c in card.chips)
    assert info.idle_npus == (1792,)


def test_old_310_four_chips_no_hugepages() -> None:
    # Source: gpustack/gpustack: tests/detectors/npu_smi/data/
    # ai-server_atlas-800-inference-server_model-3000_version-1.0.0-1.0.10.txt (trailing doc URL line dropped)
    info = parse_info(load("310_20.2.0_chip_device.txt"))
    (card,) = info.cards
    assert card.npu_id == 215 and card.hugepages_used is None
    assert [c.device_id for c in card.chips] == [0, 1, 2, 3]
    assert [c.temp for c in card.chips] == [56, 57, 57, 55]


def test_mapping_with_mcu_row() -> None:
    # Source: gpustack/gpustack: tests/detectors/npu_smi/data/
    # ai-server_atlas-800-inference-server_model-3000_version-1.0.11-1.0.15_mapping.txt (URL line dropped)
    rows = parse_info_m(load("310_mapping_1.0.11.txt"))
    assert [(r.npu_id, r.chip_id, r.logic_id, r.chip_name) for r in rows][-2:] == [
        (6, 3, 3, "MiniD"),
        (6, 4, None, "Mcu"),
    ]
    assert len(rows) == 5


def test_board_and_common_blocks() -> None:
    # Source: Ascend/mind-cluster: docs/en/faultdiag/user_guide/03_collecting_logs.md (`-t board`, 23.0.5)
    board = parse_kv_block(load("board_910_23.0.5.txt"))
    assert board["PCIe Bus Info"] == "0000:61:00.0"
    assert (board["PCI Device ID"], board["Subsystem Device ID"], board["Chip Count"]) == ("0xD801", "0x0100", "1")
    assert board["Firmware Version"] == "7.1.0.7.220"
    # Source: ascend-facts.md §1.3 (mind-cluster doc, `-t common`)
    assert parse_kv_block(load("910b_common_block.txt"))["Aicore Count"] == "30"
    # Source: https://arthurchiao.art/blog/gpu-advanced-notes-2-zh/ (23.0.rc2, chip + MCU sections)
    text = load("common_910b1_23.0.rc2.txt")
    assert parse_kv_block(text)["Temperature(C)"] == "46"  # first (chip) value wins over the MCU's 38
    sections = parse_kv_sections(text)
    assert len(sections) == 3 and sections[2] == {"Chip Name": "mcu", "Temperature(C)": "38"}


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("dcmi module initialize failed. ret is -8005\n", "dcmi module initialize failed. ret is -8005"),
        ("", ""),
    ],
)
def test_not_a_table_quotes_line(text: str, quoted: str) -> None:
    with pytest.raises(NpuSmiParseError) as err:
        parse_info(text)
    assert repr(quoted) in str(err.value)


def test_unreadable_field_is_unknown_with_a_warning_not_a_failure() -> None:
    good = load("910b1_24.1.0_first_card.txt")
    bad = good.replace("| 0                         | 0000:C1:00.0  |", "| 0                         | garbage       |")
    bad = bad.replace("93.1        36", "9x.1        36")
    info = parse_info(bad)
    (card,) = info.cards
    assert card.name == "910B1" and card.power is None and card.temp == 36
    (chip,) = card.chips
    assert chip.bus_id is None and chip.hbm_total_mb == 65536  # the rest of the row is still read
    assert any("line 8" in w and "Bus-Id 'garbage' unreadable" in w for w in info.warnings)
    assert any("line 7" in w and "Power(W) '9x.1' is not a number" in w for w in info.warnings)
    assert len(info.warnings) == 2
    assert parse_info(good).warnings == ()


def test_kv_and_mapping_errors_name_the_line() -> None:
    with pytest.raises(NpuSmiParseError, match="Error parameter of -t"):
        parse_kv_block("Error parameter of -t\n")
    with pytest.raises(NpuSmiParseError, match="not 'npu-smi info -m'"):
        parse_info_m("dcmi module initialize failed. ret is -8005")


def test_detect_loader_error() -> None:
    # Message as reported in zzudongxiang/ascend.docker: README.md §3.3 (ascend-facts.md §4.2)
    stderr = (
        "npu-smi: error while loading shared libraries: libdrvdsmi_host.so: "
        "cannot open shared object file: No such file or directory\n"
    )
    assert detect_loader_error(stderr) == "libdrvdsmi_host.so"
    assert detect_loader_error("dcmi module initialize failed. ret is -8005") is None


def test_a3_two_dies_per_card_real_sample():
    # first card of the A3 table in https://github.com/vllm-project/vllm-ascend/issues/2035 (verbatim)
    from pathlib import Path

    from ascend_env.probe.npu_smi import parse_info

    info = parse_info((Path(__file__).parent / "data/npu_smi/a3_24.1.rc3.7_first_card.txt").read_text())
    assert info.version == "24.1.rc3.7" and len(info.cards) == 1
    card = info.cards[0]
    assert card.name == "Ascend910" and [c.chip_id for c in card.chips] == [0, 1]
    assert [c.device_id for c in card.chips] == [0, 1]            # the Phy-ID column
    assert [c.bus_id for c in card.chips] == ["0000:9D:00.0", "0000:9F:00.0"]
    assert [c.hbm_used_mb for c in card.chips] == [3397, 3186]
