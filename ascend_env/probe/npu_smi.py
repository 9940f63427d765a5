"""Parse ``npu-smi`` output.  Pure functions: text in, frozen dataclasses out.

Formats handled (real samples, kept verbatim under ``tests/unit/data/npu_smi``):

* ``npu-smi info`` table, 910A/910B layout: one name row + one chip row per card, ``Chip`` header, HBM column
  (https://github.com/vllm-project/vllm-ascend/issues/3403, .../issues/336; Ascend/mind-cluster:
  docs/en/faultdiag/user_guide/03_collecting_logs.md).  Rows are *not* reliably column-aligned (the mind-cluster
  sample and row 6 of vllm-ascend#336 are off by one), so every row is split on ``|`` and then on whitespace.
* 310 / 310P / 300I Duo layout: ``Chip    Device`` header, no HBM column, a name row before *every* chip row,
  Power ``NA``, both chips of a Duo on the same Bus-Id (https://github.com/Ascend/pytorch/issues/94,
  https://github.com/Syllo/nvtop/issues/421; gpustack/gpustack: tests/detectors/npu_smi/data/).
* A3 layout: ``Chip  Phy-ID`` header, second die shows Power ``-``
  (https://github.com/vllm-project/vllm-ascend/issues/2534).
* Process section, including ``No running processes found in NPU N`` rows and the newer 5-column form with
  ``Process id in container`` (https://github.com/vllm-project/vllm-ascend/issues/12980).
* ``npu-smi info -m`` mapping (gpustack/gpustack: tests/detectors/npu_smi/data/*_mapping.txt; MCU rows have
  logic id ``-``).
* ``npu-smi info -t board|common|product|health -i N`` ``key : value`` blocks (mind-cluster doc above;
  health: https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/npusmi_027.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HEALTH_ORDER",
    "Card",
    "ChipRow",
    "MappingRow",
    "NpuSmiInfo",
    "NpuSmiParseError",
    "Process",
    "detect_loader_error",
    "parse_info",
    "parse_info_m",
    "parse_kv_block",
    "parse_kv_sections",
]

# Health values from the npu-smi reference ("OK, Warning, Alarm, Critical or UNKNOWN",
# https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/npusmi_027.html); worst last.
HEALTH_ORDER: tuple[str, ...] = ("OK", "Warning", "Alarm", "Critical", "UNKNOWN")


class NpuSmiParseError(ValueError):
    """The text is not the npu-smi output the parser expected; the message quotes the offending line."""


@dataclass(frozen=True)
class ChipRow:
    chip_id: int
    device_id: int | None  # second number of "Chip Device" (310/310P/Duo) or "Chip Phy-ID" (A3); None for "Chip"
    bus_id: str
    aicore: int | None
    memory_used_mb: int
    memory_total_mb: int
    hbm_used_mb: int | None
    hbm_total_mb: int | None
    # Values of the name row printed just above this chip row (Duo/A3 print one per chip).
    health: str
    power: float | None
    temp: int | None


@dataclass(frozen=True)
class Card:
    npu_id: int
    name: str
    health: str  # the worst health of the card's rows (HEALTH_ORDER)
    power: float | None  # first numeric power of the card's rows (the Duo prints NA, A3's second die "-")
    temp: int | None  # temperature of the card's first row
    hugepages_used: int | None
    hugepages_total: int | None
    chips: tuple[ChipRow, ...]


@dataclass(frozen=True)
class Process:
    npu_id: int
    chip_id: int
    pid: int
    name: str
    memory_mb: int | None


@dataclass(frozen=True)
class NpuSmiInfo:
    tool_version: str
    version: str
    chip_header: str  # "Chip", "Chip Device" or "Chip Phy-ID"
    has_hbm_column: bool
    cards: tuple[Card, ...]
    processes: tuple[Process, ...]
    idle_npus: tuple[int, ...]  # NPU ids with "No running processes found in NPU N"


@dataclass(frozen=True)
class MappingRow:
    npu_id: int
    chip_id: int
    logic_id: int | None  # "-" (MCU rows) -> None
    chip_name: str


_BORDER = re.compile(r"^\+[-=+]*\+?$")
_HEADER = re.compile(r"npu-smi\s+(\S+)\s+Version:\s*(\S+)")
_BUS = re.compile(r"^(?:[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]|NA)$")
_NAME_METRICS = re.compile(r"^(?P<power>\S+)\s+(?P<temp>\S+)(?:\s+(?P<hp_used>\d+)\s*/\s*(?P<hp_total>\d+))?$")
_CHIP_METRICS = re.compile(
    r"^(?P<aicore>\S+)\s+(?P<used>\d+)\s*/\s*(?P<total>\d+)(?:\s+(?P<hbm_used>\d+)\s*/\s*(?P<hbm_total>\d+))?$"
)
_IDLE = re.compile(r"^No running processes found in NPU (\d+)$")
_LOADER = re.compile(r"error while loading shared libraries: ([^:\s]+): cannot open shared object file")


def _fail(reason: str, line: str, lineno: int) -> NpuSmiParseError:
    return NpuSmiParseError(f"{reason} (line {lineno}: {line.strip()!r})")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _opt_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "NA" (310P/Duo), "-" (second A3 die)


def _opt_int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


@dataclass
class _NameRow:
    npu_id: int
    name: str
    health: str
    power: float | None
    temp: int | None
    hp_used: int | None
    hp_total: int | None


def _parse_name_row(cells: list[str], line: str, lineno: int) -> _NameRow:
    first = cells[0].split(None, 1)
    if len(cells) != 3 or len(first) != 2 or not first[0].isdigit():
        raise _fail("expected an 'NPU  Name | Health | Power Temp Hugepages' row", line, lineno)
    metrics = _NAME_METRICS.match(cells[2])
    if not metrics:
        raise _fail("cannot read Power/Temp/Hugepages", line, lineno)
    return _NameRow(
        npu_id=int(first[0]),
        name=first[1],
        health=cells[1],
        power=_opt_float(metrics["power"]),
        temp=_opt_int(metrics["temp"]),
        hp_used=_opt_int(metrics["hp_used"] or ""),
        hp_total=_opt_int(metrics["hp_total"] or ""),
    )


def _parse_chip_row(cells: list[str], head: _NameRow, line: str, lineno: int) -> ChipRow:
    ids = cells[0].split()
    if len(cells) != 3 or not 1 <= len(ids) <= 2 or not all(i.isdigit() for i in ids) or not _BUS.match(cells[1]):
        raise _fail("expected a 'Chip | Bus-Id | AICore Memory' row", line, lineno)
    metrics = _CHIP_METRICS.match(cells[2])
    if not metrics:
        raise _fail("cannot read AICore/Memory-Usage", line, lineno)
    return ChipRow(
        chip_id=int(ids[0]),
        device_id=int(ids[1]) if len(ids) == 2 else None,
        bus_id=cells[1],
        aicore=_opt_int(metrics["aicore"]),
        memory_used_mb=int(metrics["used"]),
        memory_total_mb=int(metrics["total"]),
        hbm_used_mb=_opt_int(metrics["hbm_used"] or ""),
        hbm_total_mb=_opt_int(metrics["hbm_total"] or ""),
        health=head.health,
        power=head.power,
        temp=head.temp,
    )


def _parse_process_row(cells: list[str], line: str, lineno: int) -> Process:
    ids = cells[0].split()
    if len(cells) < 4 or len(ids) != 2 or not all(i.isdigit() for i in ids) or not cells[1].isdigit():
        raise _fail("expected an 'NPU Chip | Process id | Process name | Process memory' row", line, lineno)
    return Process(int(ids[0]), int(ids[1]), int(cells[1]), cells[2], _opt_int(cells[3]))


def _worst(healths: list[str]) -> str:
    def rank(h: str) -> int:
        return HEALTH_ORDER.index(h) if h in HEALTH_ORDER else len(HEALTH_ORDER)

    return max(healths, key=rank)


def _build_cards(rows: list[tuple[_NameRow, ChipRow]]) -> tuple[Card, ...]:
    grouped: dict[int, list[tuple[_NameRow, ChipRow]]] = {}
    for head, chip in rows:
        grouped.setdefault(head.npu_id, []).append((head, chip))
    cards = []
    for npu_id, members in grouped.items():
        heads = [h for h, _ in members]
        power = next((h.power for h in heads if h.power is not None), None)
        cards.append(
            Card(
                npu_id=npu_id,
                name=heads[0].name,
                health=_worst([h.health for h in heads]),
                power=power,
                temp=heads[0].temp,
                hugepages_used=heads[0].hp_used,
                hugepages_total=heads[0].hp_total,
                chips=tuple(c for _, c in members),
            )
        )
    return tuple(cards)


def parse_info(text: str) -> NpuSmiInfo:
    """Parse the ``npu-smi info`` table (device section and optional process section)."""
    tool_version = version = chip_header = None
    has_hbm = False
    section = "start"  # start -> devices -> processes
    pending: _NameRow | None = None
    rows: list[tuple[_NameRow, ChipRow]] = []
    processes: list[Process] = []
    idle: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or _BORDER.match(line):
            continue
        if not line.startswith("|"):
            raise _fail("not an npu-smi table line", raw, lineno)
        cells = _cells(line)
        header = _HEADER.search(line)
        if header and len(cells) == 1:
            tool_version, version = header.group(1), header.group(2)
            continue
        first = " ".join(cells[0].split())
        if first == "NPU Name":
            section = "devices"
            continue
        if first.startswith("Chip") and len(cells) == 3 and "Bus-Id" in cells[1]:
            chip_header = first
            has_hbm = "HBM-Usage" in cells[2]
            continue
        if first == "NPU Chip" and len(cells) >= 2 and cells[1].startswith("Process id"):
            if pending is not None:
                raise _fail("card row without its chip row before the process section", raw, lineno)
            section = "processes"
            continue
        if section == "devices":
            if pending is None:
                pending = _parse_name_row(cells, line, lineno)
            else:
                rows.append((pending, _parse_chip_row(cells, pending, line, lineno)))
                pending = None
        elif section == "processes":
            idle_match = _IDLE.match(cells[0]) if len(cells) == 1 else None
            if idle_match:
                idle.append(int(idle_match.group(1)))
            else:
                processes.append(_parse_process_row(cells, line, lineno))
        else:
            raise _fail("table row before the 'NPU  Name' column header", raw, lineno)
    if pending is not None:
        raise NpuSmiParseError(f"card {pending.npu_id} ({pending.name}) has no chip row")
    if chip_header is None or tool_version is None or version is None:
        first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
        raise NpuSmiParseError(f"not an npu-smi info table (no header/column rows); first line: {first_line.strip()!r}")
    return NpuSmiInfo(
        tool_version=tool_version,
        version=version,
        chip_header=chip_header,
        has_hbm_column=has_hbm,
        cards=_build_cards(rows),
        processes=tuple(processes),
        idle_npus=tuple(idle),
    )


def parse_info_m(text: str) -> tuple[MappingRow, ...]:
    """Parse ``npu-smi info -m`` (``NPU ID  Chip ID  Chip Logic ID  Chip Name``)."""
    result: list[MappingRow] = []
    seen_header = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not seen_header:
            if not (line.startswith("NPU ID") and "Chip Logic ID" in line):
                raise _fail("not 'npu-smi info -m' output (missing the 'NPU ID ... Chip Name' header)", raw, lineno)
            seen_header = True
            continue
        parts = line.split(None, 3)
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            raise _fail("expected 'NPU ID  Chip ID  Chip Logic ID  Chip Name'", raw, lineno)
        logic = parts[2]
        if logic != "-" and not logic.isdigit():
            raise _fail("Chip Logic ID must be a number or '-'", raw, lineno)
        result.append(MappingRow(int(parts[0]), int(parts[1]), None if logic == "-" else int(logic), parts[3]))
    if not seen_header:
        raise NpuSmiParseError("empty 'npu-smi info -m' output")
    return tuple(result)


def parse_kv_sections(text: str) -> tuple[dict[str, str], ...]:
    """Split a ``key : value`` block into its blank-line separated sections (chip, MCU, ...)."""
    sections: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            if current:
                sections.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise _fail("expected 'key : value'", raw, lineno)
        current.setdefault(key.strip(), value.strip())
    if current:
        sections.append(current)
    if not sections:
        raise NpuSmiParseError("empty key/value output")
    return tuple(sections)


def parse_kv_block(text: str) -> dict[str, str]:
    """Parse ``npu-smi info -t board|common|product|health -i N``.

    Keys that repeat (the MCU section of ``-t common`` repeats ``Temperature(C)``, ``-t health`` repeats
    ``Health`` per chip) keep their *first* value; use :func:`parse_kv_sections` for every section.
    """
    merged: dict[str, str] = {}
    for section in parse_kv_sections(text):
        for key, value in section.items():
            merged.setdefault(key, value)
    return merged


def detect_loader_error(stderr: str) -> str | None:
    """The library glibc could not load (``error while loading shared libraries: <lib>: cannot open ...``)."""
    match = _LOADER.search(stderr)
    return match.group(1) if match else None
