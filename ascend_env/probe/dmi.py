"""Read ``ascend-dmi`` (Ascend DMI, MindCluster ToolBox) output: the compatibility check and the bandwidth test.  Pure.

What the tool prints, from Huawei's ToolBox user guide (the samples there are screenshots, so the columns below are
the guide's field lists, not a copied capture; no verbatim text capture was found in public sources):

* ``ascend-dmi -c [-fmt normal|json]`` (软硬件版本兼容性测试,
  https://www.hiascend.com/document/detail/zh/mindcluster/730/toolbox/toolboxug/toolboxug_0022.html): "System
  Information", "Architecture", "Type", "Component" (firmware type), then under "Compatibility Check Result" one row
  per package (toolkit, nnrt, nnae, tfplugin, toolbox, npu-driver, npu-firmware, MCU) with "Package", "Version",
  "Status", "Innerversion", "Dependencies".  Status is ``OK``, ``INCOMPATIBLE PACKAGE`` (npu-driver is checked per
  NPU; npu-firmware then names the Device IDs it does not fit) or ``NA`` (unknown: the version could not be read; a
  non-root user always sees ``NA`` for npu-firmware).
* ``ascend-dmi --bw [-t h2d|d2h|d2d|p2p] [-d ID] [-s SIZE] [--et N] [-fmt normal|json]`` (带宽测试,
  https://www.hiascend.com/document/detail/zh/mindcluster/730/toolbox/toolboxug/toolboxug_0015.html): per direction
  and device, rows of "Size(Bytes)" (or "Size(GB)"), "Execute Times", "Bandwidth(GB/s)" and "Elapsed Time(us)";
  without ``-s`` one row per size from 2 B to 32 MB (step mode), with ``-s`` one row (fixed mode); ``-t p2p`` without
  ``-ds/-dd`` prints a device-by-device matrix (read here as "not parsed", never as a value).

Both readers find columns by their header names (``|``-separated or aligned with two or more spaces), tolerate
prompts, banners and text around the table, and read ``-fmt json`` output by key names.  Anything they cannot read is
"unknown" with the reason, never "ok".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BandwidthRow", "DmiBandwidth", "DmiCompat", "DmiPackage", "parse_bandwidth", "parse_compat"]

OK, INCOMPATIBLE, UNKNOWN = "ok", "incompatible", "unknown"
_STATUS = {"ok": "OK", "incompatible package": "INCOMPATIBLE PACKAGE", "na": "NA", "n/a": "NA"}
_SYSTEM_KEYS = ("System Information", "Architecture", "Type", "Component")
_KINDS = ("h2d", "d2h", "d2d", "p2p")
_BORDER = re.compile(r"^[\s|+=\-_*]*$")
_ERROR = re.compile(r"command not found|No such file|error|failed|not support|permission denied|invalid", re.I)


def _cells(line: str) -> list[str]:
    body = line.strip()
    if "|" in body:
        return [c.strip() for c in body.strip("|").split("|")]
    return [c.strip() for c in re.split(r"\s{2,}|\t", body) if c.strip()]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9/]", "", name.lower())


def _json(text: str) -> Any | None:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def _walk(obj: Any):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def _reason(text: str, what: str) -> str:
    said = [ln.strip() for ln in text.splitlines() if _ERROR.search(ln)]
    return f"ascend-dmi said: {' '.join(said)}" if said else f"no {what} table in the output"


# --- ascend-dmi -c --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DmiPackage:
    package: str
    version: str | None
    status: str | None          # "OK", "INCOMPATIBLE PACKAGE", "NA", or what was printed; None: no status cell
    innerversion: str | None = None
    dependencies: str | None = None


@dataclass(frozen=True)
class DmiCompat:
    packages: tuple[DmiPackage, ...]
    system: dict[str, str]
    reasons: tuple[str, ...] = ()     # why the verdict is unknown

    @property
    def verdict(self) -> str:
        """``incompatible`` when any package is INCOMPATIBLE PACKAGE; ``ok`` only when every row read says OK;
        ``unknown`` otherwise (an NA, an unreadable status, no rows)."""
        if any(p.status == "INCOMPATIBLE PACKAGE" for p in self.packages):
            return INCOMPATIBLE
        if self.packages and all(p.status == "OK" for p in self.packages) and not self.reasons:
            return OK
        return UNKNOWN

    @property
    def problems(self) -> tuple[str, ...]:
        bad = [f"{p.package} {p.version or '?'}: {p.status or 'no status'}" for p in self.packages if p.status != "OK"]
        return tuple(bad) + self.reasons


def _status(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    return _STATUS.get(" ".join(raw.lower().split()), raw.strip())


def parse_compat(text: str) -> DmiCompat:
    """``ascend-dmi -c`` output (normal or ``-fmt json``)."""
    text = (text or "").replace("\r\n", "\n")
    doc = _json(text)
    if doc is not None:
        return _compat_json(doc)
    system: dict[str, str] = {}
    packages: list[DmiPackage] = []
    reasons: list[str] = []
    cols: dict[str, int] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _BORDER.match(line):
            continue
        cells = _cells(line)
        names = [_norm(c) for c in cells]
        if "package" in names and "status" in names:
            cols = {n: i for i, n in enumerate(names)}
            continue
        if cols is None:
            for key in _SYSTEM_KEYS:
                m = re.match(rf"^\|?\s*{re.escape(key)}\s*(?:[:|]|\s{{2,}})\s*(.*?)\s*\|?\s*$", line, re.I)
                if m and m.group(1):
                    system.setdefault(key, m.group(1))
            continue
        if len(cells) < 2 or _norm(cells[0]) in ("", "compatibilitycheckresult"):
            continue

        def cell(name: str, cells: list[str] = cells, cols: dict | None = cols) -> str | None:
            i = cols.get(name) if cols else None
            return cells[i] if i is not None and i < len(cells) and cells[i] not in ("", "-") else None

        package = cell("package") or cells[0]
        status = _status(cell("status"))
        if status is None:
            reasons.append(f"{package}: its status cell could not be read ({line!r})")
        version = cell("version")
        packages.append(DmiPackage(package, None if version in ("NA", "N/A") else version, status,
                                   cell("innerversion"), cell("dependencies")))
    if cols is None:
        reasons.append(_reason(text, "'Package ... Status' compatibility"))
    return DmiCompat(tuple(packages), system, tuple(reasons))


def _compat_json(doc: Any) -> DmiCompat:
    packages = []
    system: dict[str, str] = {}
    for d in _walk(doc):
        keys = {_norm(k): k for k in d}
        if "status" in keys and ("package" in keys or "name" in keys):
            v = d.get(keys.get("version", ""), None)
            packages.append(DmiPackage(str(d[keys.get("package") or keys["name"]]), None if v is None else str(v),
                                       _status(str(d[keys["status"]])), _opt(d, keys, "innerversion"),
                                       _opt(d, keys, "dependencies")))
        for key in _SYSTEM_KEYS:
            k = keys.get(_norm(key))
            if k and isinstance(d[k], (str, int, float)):
                system.setdefault(key, str(d[k]))
    reasons = () if packages else ("no package with a status in the JSON output",)
    return DmiCompat(tuple(packages), system, reasons)


def _opt(d: dict, keys: dict[str, str], name: str) -> str | None:
    k = keys.get(name)
    return None if k is None or d[k] in (None, "") else str(d[k])


# --- ascend-dmi --bw ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BandwidthRow:
    kind: str | None            # h2d, d2h, d2d, p2p; None when the output did not say
    device: int | None
    size_bytes: int | None
    execute_times: int | None
    bandwidth_gbps: float | None
    elapsed_us: float | None = None


@dataclass(frozen=True)
class DmiBandwidth:
    rows: tuple[BandwidthRow, ...]
    reasons: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return OK if any(r.bandwidth_gbps is not None for r in self.rows) else UNKNOWN

    def best(self, kind: str, device: int | None = None) -> float | None:
        """The highest bandwidth read for a direction (and device): the figure to compare run to run."""
        values = [r.bandwidth_gbps for r in self.rows if r.kind == kind and r.bandwidth_gbps is not None
                  and (device is None or r.device == device)]
        return max(values) if values else None


_SIZE = re.compile(r"^([\d.]+)\s*([KMG]?)(?:i?B)?$", re.I)


def _size(raw: str | None, unit_gb: bool) -> int | None:
    if raw is None:
        return None
    m = _SIZE.match(raw.strip())
    if not m:
        return None
    value = float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(value * (1 << 30)) if unit_gb and not m.group(2) else int(value)


def _num(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _column(names: list[str], *prefixes: str) -> int | None:
    return next((i for i, n in enumerate(names) if any(n.startswith(p) for p in prefixes)), None)


def parse_bandwidth(text: str) -> DmiBandwidth:
    """``ascend-dmi --bw`` output (normal or ``-fmt json``): one row per size read, with its direction and device
    from the lines above the table (``h2d``, ``Device: 0``, ...)."""
    text = (text or "").replace("\r\n", "\n")
    doc = _json(text)
    if doc is not None:
        return _bandwidth_json(doc)
    rows: list[BandwidthRow] = []
    reasons: list[str] = []
    kind: str | None = None
    device: int | None = None
    cols: dict[str, int | None] | None = None
    unit_gb = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _BORDER.match(line):
            continue
        cells = _cells(line)
        names = [_norm(c) for c in cells]
        if any(n.startswith("bandwidth") for n in names) and (
                any(n.startswith("size") for n in names) or any(n.startswith("execute") for n in names)):
            cols = {"size": _column(names, "size"), "times": _column(names, "executetimes", "execute"),
                    "bw": _column(names, "bandwidth"), "elapsed": _column(names, "elapsed", "time"),
                    "kind": _column(names, "type", "direction"), "device": _column(names, "device")}
            unit_gb = any(n.startswith("size") and "gb" in n for n in names)
            continue
        numeric = sum(_num(c) is not None or _size(c, False) is not None for c in cells)
        if cols is None or numeric < 2:
            found = re.search(r"\b(h2d|d2h|d2d|p2p)\b", line, re.I)
            if found:
                kind = found.group(1).lower()
            dev = re.search(r"\bdevice\s*(?:id)?\s*[:=]?\s*(\d+)\b", line, re.I)
            if dev:
                device = int(dev.group(1))
            if "**" in line:
                reasons.append("a p2p matrix: not read (run -t p2p with -ds/-dd for one pair)")
            continue

        def cell(name: str, cells: list[str] = cells, cols: dict | None = cols) -> str | None:
            i = cols.get(name) if cols else None
            return cells[i] if i is not None and i < len(cells) else None

        bw = _num(cell("bw"))
        if bw is None:
            reasons.append(f"row {line!r}: bandwidth unreadable")
        row_kind = (cell("kind") or "").lower() or kind
        dev_text = cell("device") or ""
        row_dev = int(dev_text) if dev_text.isdigit() else device
        times = _num(cell("times"))
        rows.append(BandwidthRow(row_kind if row_kind in _KINDS else kind, row_dev, _size(cell("size"), unit_gb),
                                 int(times) if times is not None else None, bw, _num(cell("elapsed"))))
    if cols is None:
        reasons.append(_reason(text, "'Size ... Bandwidth(GB/s)' bandwidth"))
    return DmiBandwidth(tuple(rows), tuple(dict.fromkeys(reasons)))


def _bandwidth_json(doc: Any) -> DmiBandwidth:
    rows = []
    for d in _walk(doc):
        keys = {_norm(k): k for k in d}
        bw_key = next((k for n, k in keys.items() if n.startswith("bandwidth")), None)
        if bw_key is None or isinstance(d[bw_key], (dict, list)):
            continue
        size_key = next((k for n, k in keys.items() if n.startswith("size")), None)
        times_key = next((k for n, k in keys.items() if n.startswith("execute")), None)
        elapsed_key = next((k for n, k in keys.items() if n.startswith("elapsed")), None)
        kind_key = next((k for n, k in keys.items() if n in ("type", "direction")), None)
        dev_key = next((k for n, k in keys.items() if n in ("device", "deviceid")), None)
        kind = str(d[kind_key]).lower() if kind_key else None
        times = _num(str(d[times_key])) if times_key else None
        rows.append(BandwidthRow(kind if kind in _KINDS else None,
                                 int(d[dev_key]) if dev_key and str(d[dev_key]).isdigit() else None,
                                 _size(str(d[size_key]), "gb" in _norm(size_key)) if size_key else None,
                                 int(times) if times is not None else None, _num(str(d[bw_key])),
                                 _num(str(d[elapsed_key])) if elapsed_key else None))
    return DmiBandwidth(tuple(rows), () if rows else ("no bandwidth value in the JSON output",))
