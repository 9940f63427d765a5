"""``npu-smi info`` as people paste it into bug reports: the real samples of tests/unit/data/npu_smi, changed the
ways a terminal, a shell session or an issue tracker changes them.  The parse must read the same cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from ascend_env.probe.npu_smi import NpuSmiInfo, NpuSmiParseError, parse_info

DATA = Path(__file__).parent / "data" / "npu_smi"
SAMPLES = ["910b3_8card_24.1.0.txt", "300i_duo_24.1.rc2.txt", "a3_24.1.rc3.7_first_card.txt",
           "910_23.0.rc3_masked_processes.txt", "310_20.2.0_chip_device.txt"]


def summary(info: NpuSmiInfo) -> list[tuple]:
    return [(c.npu_id, c.name, c.health, c.power, [(ch.chip_id, ch.bus_id, ch.memory_total_mb, ch.hbm_total_mb)
                                                  for ch in c.chips]) for c in info.cards]


def wrap(text: str, width: int) -> str:
    """What a terminal of ``width`` columns does to long lines when they are copied."""
    out = []
    for line in text.splitlines():
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return "\n".join(out)


VARIANTS = {
    "prompt, date and trailing prompt": lambda t: "(base) [root@node-1 ~]# npu-smi info\nMon Dec  1 10:00:01 2025\n"
                                              + t + "\n(base) [root@node-1 ~]# ",
    "CRLF": lambda t: t.replace("\n", "\r\n"),
    "markdown fence and indentation": lambda t: "```bash\n" + "\n".join("    " + ln for ln in t.splitlines())
                                                 + "\n```",
    "markdown quote": lambda t: "\n".join("> " + ln for ln in t.splitlines()),
    "tabs": lambda t: t.replace("        ", "\t"),
    "wrapped at 80 columns": lambda t: wrap(t, 80),
    "wrapped at 57 columns": lambda t: wrap(t, 57),
}


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pasted_variants_read_the_same_cards(sample: str, variant: str) -> None:
    text = (DATA / sample).read_text(encoding="utf-8")
    want = parse_info(text)
    got = parse_info(VARIANTS[variant](text))
    assert summary(got) == summary(want)
    assert (got.version, got.chip_header) == (want.version, want.chip_header)
    assert got.idle_npus == want.idle_npus and len(got.processes) == len(want.processes)


def test_redacted_bus_ids_and_names_are_unknown_not_fatal() -> None:
    text = (DATA / "910b3_8card_24.1.0.txt").read_text(encoding="utf-8")
    redacted = text.replace("0000:C1:00.0", "0000:XX:00.0").replace("| 1     910B3 ", "| 1     ***** ")
    info = parse_info(redacted)
    assert len(info.cards) == 8
    assert info.cards[0].chips[0].bus_id is None and info.cards[1].chips[0].bus_id == "0000:C2:00.0"
    assert info.cards[1].name == "*****"
    assert [w for w in info.warnings if "redacted" in w] == ["line 8: Bus-Id '0000:XX:00.0' is redacted: unknown"]


def test_rows_without_header_or_borders() -> None:
    # Only the two rows of one card pasted (a common excerpt in issues): read with npu-smi's usual columns.
    info = parse_info("| 0     910B1               | OK            | 93.1        36                0    / 0       |\n"
                      "| 0                         | 0000:C1:00.0  | 0           0    / 0          3418 / 65536   |\n")
    (card,) = info.cards
    assert (card.npu_id, card.name, card.power, card.chips[0].hbm_total_mb) == (0, "910B1", 93.1, 65536)
    assert info.version is None
    assert any("no 'npu-smi <version>" in w for w in info.warnings)


def test_health_values_and_unknown_health() -> None:
    text = (DATA / "910b1_24.1.0_first_card.txt").read_text(encoding="utf-8")
    assert parse_info(text.replace("| OK            |", "| Warning       |")).cards[0].health == "Warning"
    assert parse_info(text.replace("| OK            |", "| warning       |")).cards[0].health == "Warning"
    odd = parse_info(text.replace("| OK            |", "| Degraded      |"))
    assert odd.cards[0].health == "Degraded" and any("Health 'Degraded'" in w for w in odd.warnings)


def test_card_without_chip_row_and_extra_column() -> None:
    text = (DATA / "910b3_8card_24.1.0.txt").read_text(encoding="utf-8").splitlines()
    del text[7]  # the chip row of NPU 0
    info = parse_info("\n".join(text))
    assert info.cards[0].chips == () and len(info.cards) == 8
    assert any("card 0 (910B3) has no chip row" in w for w in info.warnings)


def test_columns_follow_the_header() -> None:
    # a release that adds a column: values are matched to the header's names, the extra one is skipped
    text = (DATA / "910b1_24.1.0_first_card.txt").read_text(encoding="utf-8")
    text = text.replace("Power(W)    Temp(C)   ", "Power(W)    Fan(%)   Temp(C)").replace(
        "93.1        36    ", "93.1        40       36")
    info = parse_info(text)
    assert (info.cards[0].power, info.cards[0].temp) == (93.1, 36)


@pytest.mark.parametrize("text", ["", "dcmi module initialize failed. ret is -8005\n",
                                  "bash: npu-smi: command not found\n"])
def test_no_table_at_all_is_an_error_naming_the_first_line(text: str) -> None:
    with pytest.raises(NpuSmiParseError) as err:
        parse_info(text)
    assert repr(text.strip()) in str(err.value)
