"""Fault injection: what each fault changes on a simulated host, as pure data (applied by sysroot/lab).

Every fault is reversible: the lab rebuilds a host from its spec plus its active faults, so clearing a fault
and running the rebuild restores exactly the healthy tree.
"""

from __future__ import annotations

import ipaddress
import re
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
    "link-down": "the RoCE port of device <N> has no carrier: hccn_tool -link -g says DOWN, -net_health -g "
                 "Fault (910B)",
    "no-device-ip": "device <N> has no address: hccn.conf loses address_N/netmask_N/gateway_N, hccn_tool -ip -g "
                    "fails (910B)",
    "duplicate-ip": "device <N> gets --ip (default: the address of device N+1 on the same host) in hccn.conf (910B)",
    "no-dkms": "dkms is not installed on the host: the driver installer cannot build its kernel modules",
    "no-kernel-headers": "no headers for the running kernel (/lib/modules/$(uname -r)/build): dkms has nothing to "
                         "build the driver against",
    "no-build-tools": "gcc and make are not installed on the host",
    "npu-busy": "a real process holds device <N> (on the host, or in a running container): npu-smi lists it in its "
                "process table, the driver installer refuses to replace or remove the driver; clearing stops it",
}
#: what each build fault takes away (ascend_env/lab/sysroot.py lays them down on every host)
BUILD_FAULTS = {"no-dkms": ("dkms",), "no-kernel-headers": ("headers",), "no-build-tools": ("gcc", "make")}
NET_KINDS = ("link-down", "no-device-ip", "duplicate-ip")
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
               version: str | None = None, free_mb: int | None = None, ip: str | None = None,
               container: str | None = None) -> Fault:
    """Validate a fault request against the host; the error names the bad value and the allowed ones."""
    if kind not in KINDS:
        raise LabConfigError(f"unknown fault {kind!r}; choose one of: {', '.join(KINDS)}")
    params: dict[str, Any] = {}
    if kind in NET_KINDS and spec.chip != "910b":
        raise LabConfigError(f"{kind} on {spec.name}: only 910B hosts have NPU RoCE ports (hccn_tool); {spec.name} "
                             f"is a {spec.chip}")
    if kind in ("missing-device", "card-lost", "chip-unhealthy", "npu-busy", *NET_KINDS):
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
    if kind == "duplicate-ip" and ip is not None:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise LabConfigError(f"--ip {ip!r} for duplicate-ip: give an IPv4 address, e.g. 10.0.12.11") from None
        params["ip"] = ip
    elif ip is not None:
        raise LabConfigError(f"--ip is for duplicate-ip, not {kind}")
    if container is not None:
        if kind != "npu-busy":
            raise LabConfigError(f"--container is for npu-busy, not {kind}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", container):
            raise LabConfigError(f"--container {container!r}: give the name of a running container (letters, digits, "
                                 "'_', '.', '-'), e.g. llm-ms")
        params["container"] = container
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
    links_down: frozenset[int] = frozenset()
    no_ip: frozenset[int] = frozenset()
    ip_override: tuple[tuple[int, str | None], ...] = ()   # (device, address or None = the next device's)
    no_build: frozenset[str] = frozenset()                   # of dkms, headers, gcc, make
    busy: tuple[tuple[int, str | None], ...] = ()          # (device, container or None = the host) held by a process


def desired(spec: HostSpec, faults: list[Fault]) -> Desired:
    driver, firmware = spec.driver, spec.firmware
    missing: set[str] = set()
    lost: set[int] = set()
    health: dict[int, str] = {}
    lib_broken = False
    free: int | None = None
    down: set[int] = set()
    no_ip: set[int] = set()
    dup: list[tuple[int, str | None]] = []
    no_build: set[str] = set()
    busy: list[tuple[int, str | None]] = []
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
        elif f.kind == "link-down":
            down.add(f.params["device"])
        elif f.kind == "no-device-ip":
            no_ip.add(f.params["device"])
        elif f.kind == "duplicate-ip":
            dup.append((f.params["device"], f.params.get("ip")))
        elif f.kind in BUILD_FAULTS:
            no_build.update(BUILD_FAULTS[f.kind])
        elif f.kind == "npu-busy":
            busy.append((f.params["device"], f.params.get("container")))
    return Desired(driver, firmware, frozenset(missing), frozenset(lost), health, lib_broken, free,
                   frozenset(down), frozenset(no_ip), tuple(dup), frozenset(no_build),
                   tuple(sorted(busy, key=lambda b: b[0])))
