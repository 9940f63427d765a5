"""Parse ``hccn_tool`` output and ``/etc/hccn.conf``.  Pure functions: text in, values out.

``hccn_tool`` (``/usr/local/Ascend/driver/tools/hccn_tool``, from the NPU driver) configures and reports each NPU's
RoCE port.  Formats, from real output (sources in docs/lab.md's fidelity table and tests/unit/data/hccn/SOURCES.md):

* ``-i N -ip -g``: ``ipaddr:10.20.11.24`` / ``netmask:255.255.255.0`` (no space after the colon; a paste may carry a
  blank line first).  A device without an address prints nothing (driver 23.0.5) or
  ``Get ipconf failed, because no ip was preset there!`` (older sources: ``Get ip failed, ...``).
* ``-i N -link -g``: ``link status: UP`` or ``DOWN``.
* ``-i N -net_health -g``: ``net health status: <word>``; hccn_tool's table is Success, Socket fail, Receive timeout,
  Unreachable, Time exceeded, Fault, Init, Thread error, Detect ip set, Unknown, and real output also shows
  ``Socket failed``: the word is kept as written, only ``Success`` is healthy.
* ``-i N -gateway -g``: ``default gateway:11.12.165.1, Iface:eth0``; none: ``Get gateway failed, because no gateway
  was preset there!``.
* ``-i N -netdetect -g``: ``netdetect address: 11.12.165.1`` (newer sources print ``netdetect addr: ...``).
* ``/etc/hccn.conf``: ``address_N=``, ``netmask_N=``, ``netdetect_N=``, ``gateway_N=``, ``send_arp_status_N=`` lines
  (N the device's physical id), which hccn_tool writes on every successful set and restores at boot.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = [
    "HEALTHY",
    "NetInfo",
    "parse_capture",
    "parse_gateway",
    "parse_hccn_conf",
    "parse_ip",
    "parse_link",
    "parse_net_health",
    "parse_netdetect",
    "same_subnet",
]

HEALTHY = "Success"
_IP = re.compile(r"^ipaddr\s*:\s*(\S+)\s*$", re.M)
_MASK = re.compile(r"^netmask\s*:\s*(\S+)\s*$", re.M)
_LINK = re.compile(r"^link status\s*:\s*(\S+)\s*$", re.M | re.I)
_HEALTH = re.compile(r"^net health status\s*:\s*(.*?)\s*$", re.M | re.I)
_GATEWAY = re.compile(r"^default gateway\s*:\s*([^,\s]+)", re.M | re.I)
_NETDETECT = re.compile(r"^netdetect addr(?:ess)?\s*:\s*(\S+)\s*$", re.M | re.I)
_NO_VALUE = re.compile(r"\bno (?:ip|gateway|netdetect[\w ]*) was preset there\b", re.I)
_CONF = re.compile(r"^\s*([a-z_]+?)_(\d+)\s*=\s*(.*?)\s*$")
_COMMAND = re.compile(r"hccn_tool\s+-i\s+(\d+)\s+(-\w+)\s+-g\b")


@dataclass(frozen=True)
class NetInfo:
    """One NPU port as hccn_tool reports it; None where it reported nothing (or was not asked)."""

    device: int
    address: str | None = None
    netmask: str | None = None
    link: str | None = None          # "UP" / "DOWN" as printed
    health: str | None = None        # the net health word as printed
    gateway: str | None = None
    netdetect: str | None = None
    error: str | None = None         # what hccn_tool said instead of a value (first such line)


def _valid_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def parse_ip(text: str) -> tuple[str | None, str | None]:
    """``(address, netmask)`` from ``-ip -g``; ``(None, None)`` when the device has none (empty output or
    "no ip was preset there").  A redacted address (``10.xx.xx.10``) is returned as written."""
    ip, mask = _IP.search(text or ""), _MASK.search(text or "")
    return (ip.group(1) if ip else None), (mask.group(1) if mask else None)


def parse_link(text: str) -> str | None:
    m = _LINK.search(text or "")
    return m.group(1).upper() if m else None


def parse_net_health(text: str) -> str | None:
    m = _HEALTH.search(text or "")
    return m.group(1) if m and m.group(1) else None


def parse_gateway(text: str) -> str | None:
    m = _GATEWAY.search(text or "")
    return m.group(1) if m else None


def parse_netdetect(text: str) -> str | None:
    m = _NETDETECT.search(text or "")
    return m.group(1) if m else None


def no_value_message(text: str) -> str | None:
    """hccn_tool's "... was preset there!" line, if that is what it said."""
    for line in (text or "").splitlines():
        if _NO_VALUE.search(line):
            return line.strip()
    return None


def parse_hccn_conf(text: str) -> dict[int, dict[str, str]]:
    """``/etc/hccn.conf`` as ``{device: {"address": ..., "netmask": ..., ...}}``; comments and other lines skipped."""
    out: dict[int, dict[str, str]] = {}
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0]
        m = _CONF.match(line)
        if m:
            out.setdefault(int(m.group(2)), {})[m.group(1)] = m.group(3)
    return out


def same_subnet(addresses: list[tuple[str, str]]) -> bool | None:
    """Whether every ``(address, netmask)`` lies in one IPv4 network; None if any is unreadable (redacted)."""
    nets = set()
    for address, mask in addresses:
        if not (_valid_ipv4(address) and _valid_ipv4(mask)):
            return None
        nets.add(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
    return len(nets) <= 1


def parse_capture(text: str) -> dict[tuple[int, str], str]:
    """A pasted session of ``hccn_tool -i N -<cmd> -g`` commands, each followed by its output, as
    ``{(N, "-cmd"): output}`` (what MindCluster's log collection and people's bug reports contain)."""
    out: dict[tuple[int, str], str] = {}
    key: tuple[int, str] | None = None
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").splitlines():
        m = _COMMAND.search(line)
        if m or re.search(r"^\S*(npu-smi|/usr/\S+)\s", line):
            if key is not None:
                out[key] = "\n".join(lines).strip()
            key = (int(m.group(1)), m.group(2)) if m else None
            lines = []
            continue
        if key is not None:
            lines.append(line)
    if key is not None:
        out[key] = "\n".join(lines).strip()
    return out


#: the hccn_tool queries the probe runs per device (``hccn_tool -i N <option> -g``), by fact key
QUERIES = {"ip": "-ip", "link": "-link", "net_health": "-net_health", "gateway": "-gateway", "netdetect": "-netdetect"}


def from_facts(network: dict | None) -> tuple[NetInfo, ...]:
    """The probe's ``network`` facts (raw hccn_tool runs per device) as one :class:`NetInfo` per device."""
    out = []
    for key, runs in sorted(((network or {}).get("devices") or {}).items(), key=lambda kv: int(kv[0])):
        def text(name: str, runs: dict = runs) -> str:
            r = runs.get(name) or {}
            return (r.get("stdout") or "") + "\n" + (r.get("stderr") or "")

        address, netmask = parse_ip(text("ip"))
        errors = [no_value_message(text(n)) or ((runs.get(n) or {}).get("error")) for n in ("ip", "link", "net_health")]
        out.append(NetInfo(device=int(key), address=address, netmask=netmask, link=parse_link(text("link")),
                           health=parse_net_health(text("net_health")), gateway=parse_gateway(text("gateway")),
                           netdetect=parse_netdetect(text("netdetect")), error=next((e for e in errors if e), None)))
    return tuple(out)
