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
from typing import Any

from ..errors import AscendEnvError

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
    "worst_health",
]

# Health values from the npu-smi reference ("OK, Warning, Alarm, Critical or UNKNOWN",
# https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/npusmi_027.html); worst last.
HEALTH_ORDER: tuple[str, ...] = ("OK", "Warning", "Alarm", "Critical", "UNKNOWN")


class NpuSmiParseError(AscendEnvError, ValueError):
    """The text holds no ``npu-smi`` output at all; the message quotes the first line.

    A table that is only partly readable is *not* an error: :func:`parse_info` returns what it could read, marks
    each unreadable field unknown (``None``) and says why in :attr:`NpuSmiInfo.warnings`.
    """


@dataclass(frozen=True)
class ChipRow:
    chip_id: int | None
    device_id: int | None  # second number of "Chip Device" (310/310P/Duo) or "Chip Phy-ID" (A3); None for "Chip"
    bus_id: str | None
    aicore: int | None
    memory_used_mb: int | None
    memory_total_mb: int | None
    hbm_used_mb: int | None
    hbm_total_mb: int | None
    # Values of the name row printed just above this chip row (Duo/A3 print one per chip).
    health: str | None  # None: unreadable (a warning says why); npu-smi's own "UNKNOWN" stays a string
    power: float | None
    temp: int | None


@dataclass(frozen=True)
class Card:
    npu_id: int | None  # None: the id was masked or unreadable
    name: str | None
    health: str | None  # the worst health of the card's rows (HEALTH_ORDER); None if none was readable
    power: float | None  # first numeric power of the card's rows (the Duo prints NA, A3's second die "-")
    temp: int | None  # temperature of the card's first row
    hugepages_used: int | None
    hugepages_total: int | None
    chips: tuple[ChipRow, ...]


@dataclass(frozen=True)
class Process:
    npu_id: int | None
    chip_id: int | None
    pid: int | None
    name: str
    memory_mb: int | None
    #: the pid inside the process's container (``Process id in container``, drivers 25.6+/26.x); None on tables
    #: without the column and for host processes (npu-smi prints ``NA``)
    container_pid: int | None = None


@dataclass(frozen=True)
class NpuSmiInfo:
    tool_version: str | None
    version: str | None
    chip_header: str | None  # "Chip", "Chip Device" or "Chip Phy-ID"; None when the header rows were not pasted
    has_hbm_column: bool
    cards: tuple[Card, ...]
    processes: tuple[Process, ...]
    idle_npus: tuple[int, ...]  # NPU ids with "No running processes found in NPU N"
    #: one line per field or row that could not be read ("line 8: Bus-Id 'garbage' unreadable: unknown")
    warnings: tuple[str, ...] = ()
    #: "npu-name/chip" (``| NPU   Name |`` / ``| Chip |``, drivers up to 25.5), "npu-id/name" (``| NPU ID | Name |``,
    #: 25.6+), or "assumed" when the header rows were not pasted
    layout: str = "npu-name/chip"
    #: rows of the device section that could not be read as a card or a chip at all (an NPU may hide there)
    unread_rows: tuple[str, ...] = ()
    #: what npu-smi printed after the table about the installation ("The driver package may not be ...")
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class MappingRow:
    npu_id: int
    chip_id: int
    logic_id: int | None  # "-" (MCU rows) -> None
    chip_name: str


_BORDER = re.compile(r"^\+[-=+ ]*\+?$|^[-=]{10,}$")
_HEADER = re.compile(r"npu-smi\s+(\S+?)\s+Version\s*:\s*(\S+)", re.I)
_TOOL_ONLY = re.compile(r"npu-smi\s+v?(\d[\w.]*)", re.I)
# A PCI address as npu-smi prints it (0000:C1:00.0), without its domain (C1:00.0), or redacted by the person who
# pasted it (0000:XX:00.0, xxxx:xx:xx.x); "NA" on cards whose address the driver does not report.
_BUS = re.compile(r"^(?:[0-9A-Fa-fXx*#]{4,8}:)?[0-9A-Fa-fXx*#]{2}:[0-9A-Fa-fXx*#]{2}\.[0-9A-Fa-fXx*#]$|^NA$|^N/A$|^-$")
_BUS_REAL = re.compile(r"^(?:[0-9A-Fa-f]{4,8}:)?[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")
_IDLE = re.compile(r"No running processes? found in NPU\s*(\S+)", re.I)
_VALUE = re.compile(r"(\S+?)\s*/\s*(\S+)|(\S+)")
_LOADER = re.compile(r"error while loading shared libraries: ([^:\s]+): cannot open shared object file")
_HEALTH = {h.lower(): h for h in HEALTH_ORDER}
# What npu-smi prints after the table when the driver package is incomplete (npu-smi reference, "Querying Basic
# Information", note under the output description).
_NOTICE = re.compile(r"driver package may not be completely installed", re.I)

# Header names of more than one word, as npu-smi spells them; every other name is one whitespace-separated word.
# "NPU ID" (25.6+ layout, process section), "NPU Util(%)" (25.6+ chip row), the process section's columns.
_MULTIWORD = ("Process id in container", "Process memory(MB)", "Process name", "Process id", "NPU Util(%)",
              "NPU ID", "Chip ID")
# Column name (lower case, start of the word) -> field.  npu-smi writes "Power(W)", "Temp(C)", ...
_FIELD_OF = (("npu util", "aicore"), ("npu id", "npu"), ("npu", "npu"), ("name", "name"), ("health", "health"),
             ("power", "power"), ("temp", "temp"), ("hugepage", "hugepages"), ("chip id", "chip"), ("chip", "chip"),
             ("device", "device"), ("phy", "device"), ("bus", "bus"),
             ("aicore", "aicore"), ("memory", "memory"), ("hbm", "hbm"))
_PAIRED = {"hugepages", "memory", "hbm"}
_NO_VALUE = ("NA", "-", "N/A")

# The two header rows of the layout npu-smi printed up to driver 25.5 (and still prints for 910B/A3/310P on later
# drivers), by cell; used when a paste holds the rows without their header (an excerpt of one card).
_DEFAULT_HEAD = (("NPU", "Name"), ("Health",), ("Power(W)", "Temp(C)", "Hugepages-Usage(page)"))
_DEFAULT_CHIP = (("Chip", "Device"), ("Bus-Id",), ("AICore(%)", "Memory-Usage(MB)", "HBM-Usage(MB)"))


def _field(column: str) -> str | None:
    low = column.lower()
    return next((f for prefix, f in _FIELD_OF if low.startswith(prefix)), None)


def _fail(reason: str, line: str, lineno: int) -> NpuSmiParseError:
    return NpuSmiParseError(f"{reason} (line {lineno}: {line.strip()!r})")


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    return [c.strip() for c in body.split("|")]


def _names(cell: str) -> tuple[str, ...]:
    """The column names of one header cell: known multi-word names first, else one word each."""
    out: list[str] = []
    rest = " ".join(cell.split())
    while rest:
        name = next((m for m in _MULTIWORD if rest.lower().startswith(m.lower())
                     and (len(rest) == len(m) or rest[len(m)] == " ")), None)
        if name is None:
            name = rest.split(" ", 1)[0]
        out.append(rest[:len(name)])
        rest = rest[len(name):].strip()
    return tuple(out)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value == int(value) else None


@dataclass(frozen=True)
class _Layout:
    """What the header rows say: the names in each cell of the card row, of the chip row, of a process row."""

    head: tuple[tuple[str, ...], ...]
    chip: tuple[tuple[str, ...], ...]

    def index(self, row: str, field: str) -> int | None:
        cells = self.head if row == "head" else self.chip
        return next((i for i, names in enumerate(cells) if any(_field(n) == field for n in names)), None)

    @property
    def name(self) -> str:
        first = self.head[0] if self.head else ()
        return "npu-id/name" if [_field(n) for n in first] == ["npu"] else "npu-name/chip"


class _Reader:
    """State of one ``npu-smi info`` parse: warnings collect here instead of exceptions."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.unread: list[str] = []

    def warn(self, lineno: int, message: str) -> None:
        self.warnings.append(f"line {lineno}: {message}")

    def row(self, cells: list[str], schema: tuple[tuple[str, ...], ...], lineno: int, where: str) -> dict[str, Any]:
        """The values of a data row by field, each cell read with the names its header cell holds."""
        out: dict[str, Any] = {}
        for i, names in enumerate(schema):
            cell = cells[i] if i < len(cells) else ""
            out.update(self.cell(cell, names, lineno, where))
        if len(cells) > len(schema) and any(cells[len(schema):]):
            extra = " | ".join(c for c in cells[len(schema):] if c)
            self.warn(lineno, f"{where}: cells beyond the header's ignored: {extra!r}")
        return out

    def cell(self, cell: str, names: tuple[str, ...], lineno: int, where: str) -> dict[str, Any]:
        """One cell's values: tokens in the order of the names; a used/total pair counts as one token; the card
        name takes what is left of its cell (names never hold a '/', but may be redacted)."""
        tokens: list[tuple[str, ...]] = []
        for m in _VALUE.finditer(cell):
            tokens.append((m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3),))
        out: dict[str, Any] = {}
        i = 0
        for k, column in enumerate(names):
            field = _field(column)
            tok = tokens[i] if i < len(tokens) else None
            if field == "name" and k == len(names) - 1:
                out["name"] = " ".join("/".join(t) for t in tokens[i:]) or None
                i = len(tokens)
                continue
            if field is None:
                i += 1  # a column this parser does not know: skip its value
                continue
            want_pair = field in _PAIRED
            if tok is None:
                if field in ("hugepages", "device") or (field == "chip" and not cell):
                    pass  # old 310 tables print no hugepages value; the second id (Device/Phy-ID) is optional
                    # where the header was not pasted; the 25.6+ chip row has no chip id
                elif field not in ("name",):
                    self.warn(lineno, f"{where}: no {column} value: unknown")
                out[field] = (None, None) if want_pair else None
                continue
            if want_pair and len(tok) == 1:
                # "0 /" lost its second half, or the column is missing in this release: do not consume the token
                # when it could be the next column's single value
                self.warn(lineno, f"{where}: {column} {tok[0]!r} is not 'used / total': unknown")
                out[field] = (None, None)
                continue
            i += 1
            text = tok[0] if len(tok) == 1 else "/".join(tok)
            if want_pair:
                used, total = (_int(t) for t in tok)
                if any(_int(t) is None and t not in _NO_VALUE for t in tok):
                    self.warn(lineno, f"{where}: {column} {' / '.join(tok)!r} unreadable: unknown")
                out[field] = (used, total)
            elif field in ("power", "temp", "aicore"):
                value = _number(text) if field == "power" else _int(text)
                if value is None and text not in _NO_VALUE:
                    self.warn(lineno, f"{where}: {column} {text!r} is not a number: unknown")
                out[field] = value
            else:
                out[field] = text
        if i < len(tokens):
            extra = " ".join(" / ".join(t) for t in tokens[i:])
            self.warn(lineno, f"{where}: values beyond the known columns ignored: {extra!r}")
        return out


@dataclass
class _NameRow:
    npu_id: int | None
    name: str | None
    health: str | None
    power: float | None
    temp: int | None
    hp_used: int | None
    hp_total: int | None


def _health(rd: _Reader, raw: str | None, lineno: int) -> str | None:
    raw = raw or ""
    health = _HEALTH.get(raw.lower(), raw or None)
    if raw.upper() == "0K":  # a table typed by hand or read by OCR: digit zero for the letter O
        rd.warn(lineno, "Health '0K' (a zero) read as OK")
        return "OK"
    if health is None:
        rd.warn(lineno, "Health missing: unknown")
    elif health not in HEALTH_ORDER:
        rd.warn(lineno, f"Health {raw!r} is not one of {', '.join(HEALTH_ORDER)}: kept as written")
    return health


def _parse_name_row(rd: _Reader, cells: list[str], layout: _Layout, lineno: int) -> _NameRow:
    first = cells[0].split()
    where = f"NPU {first[0] if first else '?'}"
    values = rd.row(cells, layout.head, lineno, where)
    raw_id = values.get("npu")
    npu_id = _int(raw_id)
    if npu_id is None:
        rd.warn(lineno, f"NPU id {raw_id or ''!r} unreadable: unknown")
    name = values.get("name")
    if not name:
        rd.warn(lineno, "card name missing: unknown")
    if layout.index("head", "health") is None:
        rd.warn(lineno, f"{where}: the header has no Health column: health unknown")
        health = None
    else:
        health = _health(rd, values.get("health"), lineno)
    hp_used, hp_total = values.get("hugepages", (None, None))
    return _NameRow(npu_id, name or None, health, values.get("power"), values.get("temp"), hp_used, hp_total)


def _parse_chip_row(rd: _Reader, cells: list[str], head: _NameRow | None, layout: _Layout,
                    lineno: int) -> ChipRow:
    where = f"NPU {head.npu_id if head and head.npu_id is not None else '?'}"
    values = rd.row(cells, layout.chip, lineno, where)
    chip_id = _int(values.get("chip"))
    if values.get("chip") is not None and chip_id is None:
        rd.warn(lineno, f"chip id {values.get('chip')!r} unreadable: unknown")
    device_id = _int(values.get("device"))
    bus = values.get("bus") or ""
    if not _BUS_REAL.match(bus):
        if bus in _NO_VALUE:
            pass  # npu-smi's own "no value"
        elif _BUS.match(bus):
            rd.warn(lineno, f"Bus-Id {bus!r} is redacted: unknown")
        else:
            rd.warn(lineno, f"Bus-Id {bus!r} unreadable: unknown")
        bus_id = None
    else:
        bus_id = bus.upper() if bus.count(":") == 2 else "0000:" + bus.upper()
    mem_used, mem_total = values.get("memory", (None, None))
    hbm_used, hbm_total = values.get("hbm", (None, None))
    return ChipRow(
        chip_id=chip_id,
        device_id=device_id,
        bus_id=bus_id,
        aicore=values.get("aicore"),
        memory_used_mb=mem_used,
        memory_total_mb=mem_total,
        hbm_used_mb=hbm_used,
        hbm_total_mb=hbm_total,
        health=head.health if head else None,
        power=head.power if head else None,
        temp=head.temp if head else None,
    )


def _is_chip_row(cells: list[str], layout: _Layout, expecting_chip: bool) -> bool:
    """Card rows carry a health word where the header says Health, chip rows a PCI address (or NA) where it says
    Bus-Id; the 25.6+ chip row also leaves the NPU ID and Name cells empty."""
    bi = layout.index("chip", "bus")
    hi = layout.index("head", "health")
    bus = cells[bi] if bi is not None and bi < len(cells) else ""
    if _BUS.match(bus):
        return True
    health = cells[hi] if hi is not None and hi < len(cells) else ""
    if health.lower() in _HEALTH:
        return False
    if bi and all(not c for c in cells[:bi]):
        return True
    ids = cells[0].split()
    return expecting_chip and bool(ids) and all(t.isdigit() for t in ids) and len(ids) <= 2


def _parse_process_row(rd: _Reader, cells: list[str], columns: list[str], lineno: int) -> Process | None:
    """One process row; the columns come from the section's own header (4 or 5 of them by release; the first is
    ``NPU Chip`` up to driver 25.5, ``NPU ID`` in the 25.6+ layout)."""
    by_name = {col.lower(): cells[i] for i, col in enumerate(columns) if i < len(cells)}
    ids = cells[0].split() if cells else []
    pid_text = by_name.get("process id", cells[1] if len(cells) > 1 else "")
    name = by_name.get("process name", "")
    memory = next((v for k, v in by_name.items() if k.startswith("process memory")), "")
    in_container = by_name.get("process id in container", "")
    npu_id = _int(ids[0]) if ids else None
    chip_id = _int(ids[1]) if len(ids) > 1 else None
    pid = _int(pid_text)
    if npu_id is None or (pid is None and pid_text not in _NO_VALUE):
        rd.warn(lineno, f"process row unreadable ({' | '.join(cells)!r}): NPU or pid unknown")
    if pid is None and pid_text in _NO_VALUE:
        return None  # "| 2 | NA | NA | NA |": npu-smi's way of saying no process
    container_pid = _int(in_container)
    if container_pid is None and in_container not in ("", *_NO_VALUE):
        rd.warn(lineno, f"process {pid}: Process id in container {in_container!r} unreadable: unknown")
    return Process(npu_id, chip_id, pid, name, _int(memory), container_pid)


def worst_health(healths: list[str | None]) -> str | None:
    """The worst of the readable health values (HEALTH_ORDER; a value npu-smi does not document ranks worst)."""
    known = [h for h in healths if h is not None]
    if not known:
        return None

    def rank(h: str) -> int:
        return HEALTH_ORDER.index(h) if h in HEALTH_ORDER else len(HEALTH_ORDER)

    return max(known, key=rank)


def _build_cards(rows: list[tuple[_NameRow, list[ChipRow]]]) -> tuple[Card, ...]:
    """One card per NPU id (Duo and A3 print a name row per chip); rows with an unknown id stay separate."""
    grouped: list[tuple[int | None, list[tuple[_NameRow, list[ChipRow]]]]] = []
    index: dict[int, int] = {}
    for head, chips in rows:
        if head.npu_id is not None and head.npu_id in index:
            grouped[index[head.npu_id]][1].append((head, chips))
            continue
        if head.npu_id is not None:
            index[head.npu_id] = len(grouped)
        grouped.append((head.npu_id, [(head, chips)]))
    cards = []
    for npu_id, members in grouped:
        heads = [h for h, _ in members]
        unread = any(h.health is None for h in heads)
        cards.append(
            Card(
                npu_id=npu_id,
                name=next((h.name for h in heads if h.name), None),
                # a row whose health could not be read makes the card's health unknown unless another row of
                # it is already worse than OK
                health=(worst_health([h.health for h in heads]) if not unread
                        or worst_health([h.health for h in heads]) not in (None, "OK") else None),
                power=next((h.power for h in heads if h.power is not None), None),
                temp=heads[0].temp,
                hugepages_used=heads[0].hp_used,
                hugepages_total=heads[0].hp_total,
                chips=tuple(c for _, chips in members for c in chips),
            )
        )
    return tuple(cards)


_QUOTE = re.compile(r"^\s*(?:>[ ]?)+")


def _table_lines(text: str) -> list[tuple[int, str]]:
    """The text as pasted, made readable: CRLF, tabs, Markdown quotes and fences, and rows a terminal or a
    bug tracker wrapped (a row or border continued on the next line) joined again, character for character.
    Line numbers are the input's."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).split("\n")
    lines: list[tuple[int, str]] = []
    for lineno, line in enumerate(raw, 1):
        content = _QUOTE.sub("", line, count=1)
        stripped = content.strip()
        if stripped.startswith(("```", "~~~")):
            continue
        prev = lines[-1][1].strip() if lines else ""
        row_goes_on = prev.startswith("|") and not prev.endswith("|") and (
            not stripped.startswith(("|", "+")) or stripped == "|")
        border_goes_on = prev.startswith("+") and not prev.endswith("+") and stripped and set(stripped) <= set("-=+")
        if stripped and (row_goes_on or border_goes_on):
            lines[-1] = (lines[-1][0], lines[-1][1] + content)
            continue
        lines.append((lineno, content))
    return [(n, ln.strip()) for n, ln in lines]


def _header_kind(cells: list[str]) -> str | None:
    """Which header row this is, by the names in its cells (never by position): the card row's ("Name" with
    "Health" or "NPU"/"NPU ID"), the chip row's ("Bus-Id"), or the process section's ("Process id")."""
    words = {n.lower() for c in cells for n in _names(c)}
    if "process id" in words:
        return "process"
    if "bus-id" in words and not any(_BUS.match(c) for c in cells):
        return "chip"
    if "name" in words and ("health" in words or words & {"npu", "npu id"}):
        return "head"  # a data row has the NPU's number where the header says NPU / NPU ID
    return None


def parse_info(text: str) -> NpuSmiInfo:
    """Parse the ``npu-smi info`` table (device section and optional process section).

    The columns are read from the table's own header rows, by name: ``NPU  Name`` / ``Chip [Device|Phy-ID]``
    (drivers up to 25.5, and 910B/A3/310P tables of later drivers) and ``NPU ID | Name`` with a chip row that
    starts with two empty cells (25.6+: Ascend 950, Atlas 350, npu-smi's current reference), whatever the
    widths.  Tolerant of what people paste: a shell prompt or a date before the table, text after it, CRLF,
    tabs, Markdown quoting, wrapped rows, misaligned borders, a missing space before ``/``, redacted names and
    bus ids, ``NA``/``-`` values, several chips per card, and columns a newer release adds.  Each field it
    cannot read becomes ``None`` (unknown) with a line in :attr:`NpuSmiInfo.warnings`; a row of the device
    section it cannot read at all is listed in :attr:`NpuSmiInfo.unread_rows`; only text holding no npu-smi
    table at all raises :class:`NpuSmiParseError`.
    """
    lines = _table_lines(text)
    parser = _InfoParser()
    for lineno, line in lines:
        parser.read(lineno, line)
    return parser.finish(lines)


#: the process section's columns when its header row was not pasted (drivers up to 25.5)
_PROCESS_COLUMNS = ("NPU Chip", "Process id", "Process name", "Process memory(MB)")


class _InfoParser:
    """One ``npu-smi info`` table read line by line: the section it is in (start -> devices -> processes), the
    columns its header rows gave, the card rows read so far (``pending``: the card whose chip rows come next)."""

    def __init__(self) -> None:
        self.rd = _Reader()
        self.tool_version: str | None = None
        self.version: str | None = None
        self.chip_header: str | None = None
        self.layout = _Layout(_DEFAULT_HEAD, _DEFAULT_CHIP)
        self.head_seen = self.chip_seen = False
        self.proc_cols: list[str] = list(_PROCESS_COLUMNS)
        self.section = "start"
        self.pending: tuple[_NameRow, list[ChipRow]] | None = None
        self.rows: list[tuple[_NameRow, list[ChipRow]]] = []
        self.processes: list[Process] = []
        self.idle: list[int] = []
        self.notices: list[str] = []
        self.stray: list[tuple[int, str]] = []  # non-table lines; only those inside the table are reported
        self.first_table: int | None = None
        self.last_table: int | None = None

    def read(self, lineno: int, line: str) -> None:
        if not line or _BORDER.match(line):
            return
        if not line.startswith("|"):
            self._outside_a_row(lineno, line)
            return
        self._in_table(lineno)
        cells = _cells(line)
        if self._version_row(line, cells) or self._header_row(cells):
            return
        idle_match = _IDLE.search(line)
        if self.section == "processes" or idle_match:
            self._process_line(lineno, line, cells, idle_match)
        else:
            self._device_row(lineno, line, cells)

    def _in_table(self, lineno: int) -> None:
        self.first_table = self.first_table or lineno
        self.last_table = lineno

    def _outside_a_row(self, lineno: int, line: str) -> None:
        """A line without a leading ``|``: the version header whose borders were lost in the paste, the driver's
        installation notice, or text around the table."""
        header = _HEADER.search(line)
        if header and self.tool_version is None:
            self.tool_version, self.version = header.group(1), header.group(2)
            self._in_table(lineno)
        elif _NOTICE.search(line):
            self.notices.append(line)
        else:
            self.stray.append((lineno, line))

    def _version_row(self, line: str, cells: list[str]) -> bool:
        """``| npu-smi 24.1.rc2   Version: 24.1.rc2 |`` (or the tool's version alone): read, True."""
        header = _HEADER.search(line)
        if header and len([c for c in cells if c]) <= 2:
            self.tool_version, self.version = header.group(1), header.group(2)
            return True
        if len(cells) == 1 and cells[0].lower().startswith("npu-smi"):
            tool = _TOOL_ONLY.search(cells[0])
            if tool:
                self.tool_version = tool.group(1)
            return True
        return False

    def _header_row(self, cells: list[str]) -> bool:
        """A header row (the card row's, the chip row's, the process section's): its columns taken, True."""
        kind = _header_kind(cells)
        if kind == "head":
            self.section = "devices"
            self.head_seen = True
            self.layout = _Layout(tuple(_names(c) for c in cells), self.layout.chip if self.chip_seen else ())
        elif kind == "chip":
            self.section = "devices"
            self.chip_seen = True
            self.layout = _Layout(self.layout.head, tuple(_names(c) for c in cells))
            bi = self.layout.index("chip", "bus") or 0
            self.chip_header = " ".join(n for names in self.layout.chip[:bi] for n in names)  # "" in 25.6+
        elif kind == "process":
            if self.pending is not None:
                self.rows.append(self.pending)
                self.pending = None
            self.section = "processes"
            self.proc_cols = [" ".join(c.split()) for c in cells]
        return kind is not None

    def _process_line(self, lineno: int, line: str, cells: list[str], idle_match: re.Match[str] | None) -> None:
        if idle_match:
            npu = _int(idle_match.group(1))
            if npu is None:
                self.rd.warn(lineno, f"idle NPU id {idle_match.group(1)!r} unreadable")
            else:
                self.idle.append(npu)
        elif len(cells) >= 2:
            proc = _parse_process_row(self.rd, cells, self.proc_cols, lineno)
            if proc is not None:
                self.processes.append(proc)
        else:
            self.rd.warn(lineno, f"not a process row, skipped: {line!r}")

    def _device_row(self, lineno: int, line: str, cells: list[str]) -> None:
        """A card row or a chip row, read with the header rows' columns (npu-smi's usual ones where none were
        pasted)."""
        if self.section == "start":
            self.section = "devices"  # the column headers were not pasted: read rows with the default columns
            self.rd.warn(lineno, "no 'NPU Name' / 'Chip Bus-Id' header rows: columns assumed in npu-smi's usual order")
        if self.head_seen and not self.chip_seen and not self.layout.chip:
            self.layout = _Layout(self.layout.head, _DEFAULT_CHIP)
        if not self.layout.head:
            self.layout = _Layout(_DEFAULT_HEAD, self.layout.chip)
        if len(cells) < 2:
            self.rd.warn(lineno, f"not a device row, skipped: {line!r}")
            self.rd.unread.append(f"line {lineno}: {line}")
        elif _is_chip_row(cells, self.layout, expecting_chip=self.pending is not None):
            self._chip_row(lineno, line, cells)
        else:
            self._close_card(lineno)
            self.pending = (_parse_name_row(self.rd, cells, self.layout, lineno), [])

    def _chip_row(self, lineno: int, line: str, cells: list[str]) -> None:
        """A chip row belongs to the card row above it (the pending one, or the last one: a second chip row)."""
        head = self.pending[0] if self.pending else (self.rows[-1][0] if self.rows else None)
        chip = _parse_chip_row(self.rd, cells, head, self.layout, lineno)
        if self.pending is not None:
            self.pending[1].append(chip)
        elif self.rows:
            self.rows[-1][1].append(chip)  # a second chip row under one name row
        else:
            self.rd.warn(lineno, "chip row before any card row: its card is unknown")
            self.rd.unread.append(f"line {lineno}: {line}")
            self.rows.append((_NameRow(None, None, None, None, None, None, None), [chip]))

    def _close_card(self, lineno: int) -> None:
        """The pending card is complete (a card row or the end follows): kept, said when it had no chip row."""
        if self.pending is None:
            return
        if not self.pending[1]:
            self.rd.warn(lineno, f"card {self.pending[0].npu_id} ({self.pending[0].name}) has no chip row")
        self.rows.append(self.pending)

    def finish(self, lines: list[tuple[int, str]]) -> NpuSmiInfo:
        self._close_card(lines[-1][0] if lines else 0)
        self.pending = None
        first_table = self.first_table
        if first_table is None or (self.tool_version is None and self.chip_header is None and not self.rows
                                   and not self.head_seen):
            first_line = next((ln for _, ln in lines if ln.strip()), "")
            raise NpuSmiParseError(f"not an npu-smi info table (no header/column rows); first line: {first_line!r}")
        for lineno, line in self.stray:
            if first_table < lineno < (self.last_table or 0):
                self.rd.warn(lineno, f"not a table line, skipped: {line!r}")
        if self.tool_version is None:
            self.rd.warn(first_table, "no 'npu-smi <version>  Version: <version>' header: versions unknown")
        return NpuSmiInfo(
            tool_version=self.tool_version,
            version=self.version,
            chip_header=self.chip_header,
            has_hbm_column=any(_field(n) == "hbm" for names in self.layout.chip for n in names),
            cards=_build_cards(self.rows),
            processes=tuple(self.processes),
            idle_npus=tuple(self.idle),
            warnings=tuple(self.rd.warnings),
            layout=self.layout.name if self.head_seen else "assumed",
            unread_rows=tuple(self.rd.unread),
            notices=tuple(self.notices),
        )


def parse_info_m(text: str) -> tuple[MappingRow, ...]:
    """Parse ``npu-smi info -m`` (``NPU ID  Chip ID  Chip Logic ID  Chip Name``).  Lines before the header (a prompt,
    the command) are skipped, rows may be tab-indented, a chip name may hold spaces (``Ascend 910A``)."""
    result: list[MappingRow] = []
    seen_header = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not seen_header:
            seen_header = line.startswith("NPU ID") and "Chip Logic ID" in line
            continue
        parts = line.split(None, 3)
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            raise _fail("expected 'NPU ID  Chip ID  Chip Logic ID  Chip Name'", raw, lineno)
        logic = parts[2]
        if logic != "-" and not logic.isdigit():
            raise _fail("Chip Logic ID must be a number or '-'", raw, lineno)
        result.append(MappingRow(int(parts[0]), int(parts[1]), None if logic == "-" else int(logic), parts[3]))
    if not seen_header:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        raise NpuSmiParseError("not 'npu-smi info -m' output (missing the 'NPU ID ... Chip Name' header); first line: "
                               f"{first!r}")
    return tuple(result)


def parse_kv_sections(text: str) -> tuple[dict[str, str], ...]:
    """Split a ``key : value`` block into its blank-line separated sections (chip, MCU, ...).

    Lines without a colon (a prompt, the command, "Error parameter of -i") are skipped; a line with an empty key
    (``: node type=...``, how ``-t health`` continues its Error Information) continues the previous key's value,
    even across a blank line.  Text with no ``key : value`` line at all raises, quoting its first line."""
    sections: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: tuple[dict[str, str], str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if current:
                sections.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if not key.strip():
            if last is not None:
                owner, k = last
                owner[k] = f"{owner[k]}\n{value.strip()}" if owner[k] else value.strip()
            continue
        if key.strip() not in current:
            current[key.strip()] = value.strip()
            last = (current, key.strip())
    if current:
        sections.append(current)
    if not sections:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        raise NpuSmiParseError(f"no 'key : value' line in this output; first line: {first!r}")
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
