"""The doctor's ``network`` group: each NPU's RoCE port, as a multi-node job needs it before HCCL can start.

Every NPU has a device IP, its link is UP, its net health is ``Success`` (hccn_tool's own detection against the
netdetect address), a gateway is set, the host's device IPs are one subnet (every real Atlas A2 / 910B sample puts all
8 ports of a server in one subnet; docs/multinode.md), no two ports share an address, and ``/etc/hccn.conf`` (what
the driver restores at boot) says what the ports say now.  Across a fleet (``doctor --inventory``) no two hosts share a
device IP.  Each finding carries the ``hccn_tool`` command that fixes it.  Pure functions over the probe's facts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from ..probe.hccn import HEALTHY, NetInfo, from_facts, parse_hccn_conf
from .checks import FAIL, OK, SKIP, WARN, Check, Context, check, detected_chip, in_container

#: chips whose NPUs have RoCE ports that HCCL uses between servers (Atlas 300I Duo / 310P talk over PCIe only)
ROCE_CHIPS = ("910b",)
TOOL = "/usr/local/Ascend/driver/tools/hccn_tool"


def _ports(f: dict[str, Any], ctx: Context) -> tuple[tuple[NetInfo, ...] | None, list[Check]]:
    """The host's ports, or why the group does not apply / cannot be checked here."""
    chip = ctx.chip or detected_chip(f, ctx.matrix)
    net = f.get("network")
    if chip is not None and chip not in ROCE_CHIPS:
        return None, []     # no RoCE ports: nothing to check (and nothing to say on every 300I Duo)
    if net is None and in_container(f):
        return None, []     # a container's probe without hccn_tool facts: the host's doctor checks the ports
    if not isinstance(net, dict) or net.get("error"):
        return None, [Check("network.tool", "network", SKIP,
                            f"could not check: {(net or {}).get('error') if isinstance(net, dict) else 'not probed'}")]
    if not net.get("tool"):
        if in_container(f):
            return None, [Check("network.tool", "network", SKIP, "could not check: hccn_tool is not in this "
                                "container; the host's doctor checks the NPU ports")]
        if chip is None and not (f.get("devices") or {}).get("davinci"):
            return None, []
        return None, [Check("network.tool", "network", FAIL, f"hccn_tool not found ({TOOL})",
                            "it comes with the NPU driver; without it the RoCE ports cannot be read or set",
                            "reinstall the driver: bash Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run --full "
                            "--install-for-all")]
    ports = from_facts(net)
    if not ports:
        return None, [Check("network.tool", "network", SKIP, "could not check: no NPU device to ask hccn_tool about")]
    return ports, []


def _net(p: NetInfo) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(f"{p.address}/{p.netmask}", strict=False)
    except (ValueError, TypeError):
        return None


def suggest_address(ports: Sequence[NetInfo], taken: Iterable[str] = ()) -> tuple[str, str] | None:
    """A free address in the subnet the host's other ports use (the next one after the highest), with its mask."""
    nets = [(p, _net(p)) for p in ports if p.address]
    nets = [(p, n) for p, n in nets if n is not None]
    if not nets:
        return None
    net = max(set(n for _, n in nets), key=lambda n: sum(1 for _, m in nets if m == n))
    used = {ipaddress.IPv4Address(p.address) for p, n in nets if n == net} | {
        ipaddress.IPv4Address(t) for t in taken if _valid(t)}
    candidate = max(used) + 1
    while candidate in used or candidate == net.broadcast_address:
        candidate += 1
    if candidate not in net or candidate == net.broadcast_address:
        free = [h for h in net.hosts() if h not in used]
        if not free:
            return None
        candidate = free[0]
    return str(candidate), str(net.netmask)


def planned_addresses(ports: Sequence[NetInfo]) -> dict[int, tuple[str, str]]:
    """One free address per port that needs one (no address, or the later holder of a duplicate), allocated in
    one pass so that two fixes never suggest the same address."""
    need = [p.device for p in ports if not p.address]
    seen: set[str] = set()
    for p in ports:
        if p.address and p.address in seen:
            need.append(p.device)
        elif p.address:
            seen.add(p.address)
    plan: dict[int, tuple[str, str]] = {}
    for device in need:
        s = suggest_address(ports, taken=[a for a, _ in plan.values()])
        if s:
            plan[device] = s
    return plan


def _valid(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _npus(items: Iterable[Any]) -> str:
    return ", ".join(str(i) for i in items)


@check("network.ports", "network", "every NPU's RoCE port: device IP, link UP, net health Success, gateway set")
def network_ports(f: dict[str, Any], ctx: Context) -> list[Check]:
    ports, why = _ports(f, ctx)
    if ports is None:
        return why
    out = (_tool_errors(ports) + _missing_addresses(ports) + _links(ports) + _net_health(ports)
           + _gateways(ports))
    if not out:
        out.append(Check("network.ports", "network", OK, f"{len(ports)} NPU port(s): IP set, link UP, net health "
                         "Success"))
    return out


def _tool_errors(ports: Sequence[NetInfo]) -> list[Check]:
    """hccn_tool failed on a device (the first failure says what to do)."""
    failed = [p for p in ports if p.failure]
    if not failed:
        return []
    first = failed[0]
    out_of_range = "out of the valid range" in (first.failure or "") or "invalid device id" in (
        first.failure or "").lower() or "is not exist" in (first.failure or "")
    fix = (f"NPU {first.device} is not a device hccn_tool knows here: `-i` takes the device's physical id "
           "(`npu-smi info -m`, or the davinci numbers in /dev); on hosts whose NPUs have no RoCE port "
           "(Atlas 300 inference cards) hccn_tool has nothing to configure" if out_of_range else
           f"run it by hand to see the whole message: {TOOL} -i {first.device} "
           f"{(first.failure or '-ip').split(':', 1)[0]} -g; then check the driver (`dmesg | grep -i davinci`, "
           "npu-smi info) and run as root")
    return [Check("network.tool_error", "network", FAIL,
                  "hccn_tool failed on NPU " + ", ".join(f"{p.device}" for p in failed),
                  "; ".join(f"NPU {p.device} {p.failure}" for p in failed[:3]) + ("; ..." if len(failed) > 3 else ""),
                  fix)]


def _missing_addresses(ports: Sequence[NetInfo]) -> list[Check]:
    """Ports without a device IP, each with the command that sets one (the address the plan suggests)."""
    no_ip = [p for p in ports if not p.address and not p.failure]
    if not no_ip:
        return []
    plan = planned_addresses(ports)
    fixes = []
    for p in no_ip:
        s = plan.get(p.device)
        fixes.append(f"hccn_tool -i {p.device} -ip -s address {s[0] if s else '<device IP>'} netmask "
                     f"{s[1] if s else '<netmask>'}")
    return [Check("network.ip", "network", FAIL, f"no device IP on NPU {_npus(p.device for p in no_ip)}",
                  no_ip[0].error or "hccn_tool -ip -g printed no address",
                  "; ".join(fixes) + " (addresses: the host's other ports' subnet, unique in the fleet)")]


def _links(ports: Sequence[NetInfo]) -> list[Check]:
    """Links down (a failure), or unreadable (a warning)."""
    down = [p for p in ports if p.link and p.link != "UP"]
    unknown_link = [p for p in ports if p.address and p.link is None and not p.failure]
    if down:
        return [Check("network.link", "network", FAIL, f"link DOWN on NPU {_npus(p.device for p in down)}",
                      "the port has no carrier: cable, optical module or switch port",
                      f"check the cable and the switch port; the link history: {TOOL} -i {down[0].device} "
                      f"-link_stat -g; the module: {TOOL} -i {down[0].device} -optical -g")]
    if unknown_link:
        return [Check("network.link", "network", WARN, f"link status unreadable on NPU "
                      f"{_npus(p.device for p in unknown_link)}", "hccn_tool -link -g printed no 'link status:'",
                      f"run {TOOL} -i {unknown_link[0].device} -link -g by hand")]
    return []


def _net_health(ports: Sequence[NetInfo]) -> list[Check]:
    """Ports whose net health is not Success: no detection address set, or it does not answer."""
    sick = [p for p in ports if p.address and p.health and p.health != HEALTHY]
    if not sick:
        return []
    detect = next((p.netdetect or p.gateway for p in ports if p.netdetect or p.gateway), None)
    first = sick[0]
    if first.health in ("Detect ip set", "Init") or not first.netdetect:
        fix = (f"set the detection address (usually the gateway): {TOOL} -i {first.device} -netdetect -s address "
               f"{detect or '<gateway IP>'}; then {TOOL} -i {first.device} -net_health -g")
    else:
        fix = (f"the detection address {first.netdetect} does not answer from NPU {first.device}: {TOOL} -i "
               f"{first.device} -ping -g address {first.netdetect}; check the link, the switch and the address")
    return [Check("network.health", "network", FAIL, "net health not Success: "
                  + ", ".join(f"NPU {p.device} {p.health}" for p in sick), "HCCL cannot reach peers from a "
                  "port whose health check fails; a job hangs at init", fix)]


def _gateways(ports: Sequence[NetInfo]) -> list[Check]:
    """Ports with an address but no gateway (the others' gateway is the fix), or no gateway anywhere."""
    no_gw = [p for p in ports if p.address and not p.gateway]
    gw = next((p.gateway for p in ports if p.gateway), None)
    if no_gw and gw:
        return [Check("network.gateway", "network", WARN, f"no gateway on NPU {_npus(p.device for p in no_gw)} "
                      f"(the others use {gw})", "", f"{TOOL} -i {no_gw[0].device} -gateway -s gateway {gw}")]
    if no_gw:
        return [Check("network.gateway", "network", WARN, "no gateway on any NPU port",
                      "ports in different subnets (one per server) reach each other only through a gateway",
                      f"{TOOL} -i <N> -gateway -s gateway <gateway IP>, for every NPU")]
    return []


@check("network.addresses", "network", "the host's device IPs: one subnet, no duplicates, /etc/hccn.conf agrees")
def network_addresses(f: dict[str, Any], ctx: Context) -> list[Check]:
    ports, why = _ports(f, ctx)
    if ports is None:
        return [c for c in why if c.id != "network.tool"]  # network.ports already said it
    with_ip = [p for p in ports if p.address]
    if not with_ip:
        return []
    out: list[Check] = []
    seen: dict[str, list[int]] = {}
    for p in with_ip:
        seen.setdefault(str(p.address), []).append(p.device)
    dup = {a: d for a, d in seen.items() if len(d) > 1}
    if dup:
        devs = next(iter(dup.values()))
        s = planned_addresses(ports).get(devs[-1])
        out.append(Check("network.duplicate", "network", FAIL, "; ".join(f"{a} is on NPU {_npus(d)}" for a, d in
                         dup.items()), "two ports with one address: HCCL links to the wrong NPU or not at all",
                         f"{TOOL} -i {devs[-1]} -ip -s address {s[0] if s else '<free IP>'} netmask "
                         f"{s[1] if s else with_ip[0].netmask}"))
    nets = {_net(p) for p in with_ip}
    if None in nets:
        out.append(Check("network.subnet", "network", SKIP, "could not check the subnet: an address or netmask is "
                         "not an IPv4 address (redacted?)"))
    elif len(nets) > 1:
        groups: dict[Any, list[int]] = {}
        for p in with_ip:
            groups.setdefault(_net(p), []).append(p.device)
        main = max(groups, key=lambda n: len(groups[n]))
        odd = [d for n, devs in groups.items() if n != main for d in devs]
        out.append(Check("network.subnet", "network", WARN, f"the device IPs are in {len(nets)} subnets ("
                         + "; ".join(f"{n}: NPU {_npus(d)}" for n, d in groups.items()) + ")",
                         "Atlas A2 (910B) servers put all their NPU ports in one subnet (docs/multinode.md)",
                         f"move NPU {_npus(odd)} into {main}: {TOOL} -i {odd[0]} -ip -s address <free IP in {main}> "
                         f"netmask {main.netmask}"))
    conf_text = (f.get("network") or {}).get("conf")
    if conf_text is not None:
        conf = parse_hccn_conf(conf_text)
        differ = [p for p in with_ip if conf.get(p.device, {}).get("address") not in (None, p.address)]
        missing = [p for p in with_ip if "address" not in conf.get(p.device, {})]
        if differ or missing:
            p = (differ or missing)[0]
            out.append(Check("network.conf", "network", WARN, "/etc/hccn.conf disagrees with the ports: "
                             + ", ".join(f"NPU {q.device} {conf.get(q.device, {}).get('address', 'absent')} vs "
                                         f"{q.address}" for q in differ + missing),
                             "the driver restores hccn.conf's addresses at boot; after a reboot the ports change",
                             f"set the address again with hccn_tool (it rewrites hccn.conf): {TOOL} -i {p.device} "
                             f"-ip -s address {p.address} netmask {p.netmask}"))
    if not out:
        out.append(Check("network.addresses", "network", OK, f"device IPs {with_ip[0].address}..{with_ip[-1].address}"
                         f" in one subnet, unique, as in /etc/hccn.conf" if conf_text is not None else
                         f"device IPs {with_ip[0].address}..{with_ip[-1].address} in one subnet, unique"))
    return out


def fleet_checks(results: Sequence[tuple[str, dict[str, Any] | None]]) -> dict[str, list[Check]]:
    """Across hosts (``doctor --inventory``): a device IP used on two hosts.  {target name: [checks]}."""
    owners: dict[str, list[tuple[str, int]]] = {}
    for name, facts in results:
        if not facts or (facts.get("system") or {}).get("in_container"):
            continue
        for p in from_facts(facts.get("network")):
            if p.address and _valid(p.address):
                owners.setdefault(p.address, []).append((name, p.device))
    out: dict[str, list[Check]] = {}
    for address, where in owners.items():
        hosts = sorted({n for n, _ in where})
        if len(hosts) < 2:
            continue
        text = ", ".join(f"{n} NPU {d}" for n, d in where)
        for n, d in where:
            out.setdefault(n, []).append(Check(
                "network.fleet_unique", "network", FAIL, f"device IP {address} is used on {len(hosts)} hosts: {text}",
                "a multi-node job sends one rank's traffic to another host's NPU",
                f"give one of them another address: {TOOL} -i {d} -ip -s address <free IP> netmask <netmask> "
                f"(on {n})"))
    return out
