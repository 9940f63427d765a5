"""Fault injection: what each fault changes on a simulated host, as pure data (applied by sysroot/lab).

Every fault is reversible: the lab rebuilds a host from its spec plus its active faults, so clearing a fault
and running the rebuild restores exactly the healthy tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import hdk
from .config import CHIP_LIMITS, HostSpec, LabConfigError

KINDS: dict[str, str] = {
    "missing-device": "remove /dev/davinci<N> (the card is still on the bus; npu-smi on the host still lists it)",
    "card-lost": "the driver loses card <N>: still on the PCI bus, but no /dev nodes and npu-smi does not list it",
    "chip-unhealthy": "chip <N> reports Health Alarm (or --health Critical/Warning) in npu-smi",
    "fw-mismatch": "firmware version.info from another HDK (default 7.1.0.11.220, HDK 23.0.7) that does not "
                   "accept this driver",
    "driver-too-old": "driver version.info of an older HDK (default 24.1.rc1), too old for current CANN",
    "npu-smi-libpath": "libdrvdsmi_host.so is missing from driver/lib64/driver: npu-smi fails to load even with "
                       "LD_LIBRARY_PATH set",
    "disk-full": "the install path /usr/local/Ascend is a nearly full filesystem (tmpfs with --free-mb left, "
                 "default 50)",
}
HEALTH = ("OK", "Warning", "Alarm", "Critical")


@dataclass(frozen=True)
class Fault:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params}

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}{' ' + extra if extra else ''}"


def make_fault(spec: HostSpec, kind: str, *, device: int | None = None, health: str | None = None,
               version: str | None = None, free_mb: int | None = None) -> Fault:
    """Validate a fault request against the host; the error names the bad value and the allowed ones."""
    if kind not in KINDS:
        raise LabConfigError(f"unknown fault {kind!r}; choose one of: {', '.join(KINDS)}")
    params: dict[str, Any] = {}
    if kind in ("missing-device", "card-lost", "chip-unhealthy"):
        per_card = CHIP_LIMITS[spec.chip][0]
        limit = spec.cards * per_card if kind != "card-lost" else spec.cards
        what = "card (npu-smi NPU id)" if kind == "card-lost" else "device (davinci number)"
        n = 0 if device is None else device
        if not 0 <= n < limit:
            raise LabConfigError(f"--device {n} for {kind} on {spec.name}: the {what} must be 0..{limit - 1}")
        params["device"] = n
    if kind == "chip-unhealthy":
        h = (health or "Alarm").capitalize()
        if h not in HEALTH[1:]:
            raise LabConfigError(f"--health {health!r}; use one of {', '.join(HEALTH[1:])}")
        params["health"] = h
    if kind in ("fw-mismatch", "driver-too-old"):
        default = "7.1.0.11.220" if kind == "fw-mismatch" else "24.1.rc1"
        v = version or default
        try:
            (hdk.firmware_sample if kind == "fw-mismatch" else hdk.driver_sample)(v)
        except ValueError as e:
            raise LabConfigError(f"--version for {kind}: {e}") from None
        params["version"] = v
    if kind == "disk-full":
        mb = 50 if free_mb is None else free_mb
        if not 1 <= mb <= 4096:
            raise LabConfigError(f"--free-mb {mb}: use 1..4096 MiB of free space to leave")
        params["free_mb"] = mb
    return Fault(kind, params)


def from_dicts(rows: list[dict[str, Any]]) -> list[Fault]:
    return [Fault(r["kind"], {k: v for k, v in r.items() if k != "kind"}) for r in rows]


@dataclass(frozen=True)
class Desired:
    """What a host should look like given its spec and active faults."""

    driver: str
    firmware: str
    missing_nodes: frozenset[str]
    lost_cards: frozenset[int]
    health: dict[int, str]          # davinci (device) number -> health
    lib_broken: bool
    disk_free_mb: int | None


def desired(spec: HostSpec, faults: list[Fault]) -> Desired:
    driver, firmware = spec.driver, spec.firmware
    missing: set[str] = set()
    lost: set[int] = set()
    health: dict[int, str] = {}
    lib_broken = False
    free: int | None = None
    per_card = CHIP_LIMITS[spec.chip][0]
    for f in faults:
        if f.kind == "missing-device":
            missing.add(f"davinci{f.params['device']}")
        elif f.kind == "card-lost":
            card = f.params["device"]
            lost.add(card)
            missing.update(f"davinci{card * per_card + c}" for c in range(per_card))
        elif f.kind == "chip-unhealthy":
            health[f.params["device"]] = f.params["health"]
        elif f.kind == "fw-mismatch":
            firmware = f.params["version"]
        elif f.kind == "driver-too-old":
            driver = f.params["version"]
        elif f.kind == "npu-smi-libpath":
            lib_broken = True
        elif f.kind == "disk-full":
            free = f.params["free_mb"]
    return Desired(driver, firmware, frozenset(missing), frozenset(lost), health, lib_broken, free)
