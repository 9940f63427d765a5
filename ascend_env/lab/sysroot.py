"""Lay down one simulated host's proprietary parts under its root (driver, firmware, npu-smi, /dev, PCI sysfs).

``<prefix>/hosts/<h>/root`` is the host's filesystem view: its ``usr/local/Ascend/driver`` is what the
container role bind-mounts to ``/usr/local/Ascend/driver``, its ``dev/davinci0`` becomes ``/dev/davinci0``.
Real formats: ascend-facts.md §1.1 (PCI ids), §2.1-2.4 (version files), §4.1-4.2 (device nodes, mounts).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from . import busy, hdk
from .config import CHIP_LIMITS, HostSpec
from .faults import Desired, desired
from .layout import HostPaths
from .npu_smi_build import build_npu_smi, default_state, read_state, write_state

#: PCI ids per chip (ascend-deployer: playbooks/facts/npu_info.fact.j2; ascend-facts §1.1).
PCI_IDS = {
    "910b": {"vendor": "0x19e5", "device": "0xd802", "subsystem_vendor": "0x19e5", "subsystem_device": "0x3000"},
    "310p": {"vendor": "0x19e5", "device": "0xd500", "subsystem_vendor": "0x19e5", "subsystem_device": "0x0100"},
    "300i-duo": {"vendor": "0x19e5", "device": "0xd500", "subsystem_vendor": "0x19e5", "subsystem_device": "0x0110"},
}
PCI_CLASS = "0x120000"  # processing accelerator; the deployer's fact matches the 0x1200 prefix

#: Device nodes.  The real majors are assigned at driver load; the lab uses 240-243, which Linux reserves for
#: local/experimental use (Documentation/admin-guide/devices.txt), so opening one fails with ENXIO exactly as
#: a node without its driver would, and nothing on the machine is ever reached through it.
DEV_MAJOR = {"davinci": 240, "davinci_manager": 241, "devmm_svm": 242, "hisi_hdc": 243}
MANAGER_NODES = ("davinci_manager", "devmm_svm", "hisi_hdc")

_UPGRADE_TOOL = r"""#!/bin/sh
# ascend-env lab: fake of /usr/local/Ascend/driver/tools/upgrade-tool (read-only queries only).
# Output lines follow ascend-facts §2.2 (Ascend/mind-cluster: docs/en/faultdiag/user_guide/03_collecting_logs.md).
here=$(cd "$(dirname "$0")" && pwd)
root=${here%/usr/local/Ascend/driver/tools}
fw=$(sed -n 's/^Version=//p' "$root/usr/local/Ascend/firmware/version.info" 2>/dev/null)
[ -n "$fw" ] || { echo "Get system version failed. firmware version.info not found"; exit 1; }
count=$(ls "$root/dev" 2>/dev/null | grep -c '^davinci[0-9][0-9]*$')
case "$*" in
  *--system_version*)
    i=0; echo "{"
    while [ "$i" -lt "$count" ]; do echo "{\"device_id\":$i, \"version\":$fw}"; i=$((i+1)); done
    echo "}";;
  *--component*--version*)
    i=0; echo "{"
    while [ "$i" -lt "$count" ]; do
      n=0
      for c in nve uefi imu imp; do
        echo "Get component version($fw) succeed for deviceId($i), componentType($n)."
        echo "{\"device_id\":$i, \"component\":$c, \"version\":$fw}"
        n=$((n+3))
      done
      i=$((i+1))
    done
    echo "}";;
  *) echo "usage: upgrade-tool --device_index -1 {--system_version | --component -1 --version}"; exit 1;;
esac
"""

_SETENV = """# ascend-env lab: driver environment (the seeds source driver/bin/setenv.bash)
export LD_LIBRARY_PATH=/usr/local/Ascend/driver/lib64:/usr/local/Ascend/driver/lib64/common:\
/usr/local/Ascend/driver/lib64/driver:${LD_LIBRARY_PATH}
"""


def device_count(spec: HostSpec) -> int:
    return spec.cards * CHIP_LIMITS[spec.chip][0]


def _write(path: Path, text: str, mode: int = 0o644) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_symlink() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(mode)
    return True


def mknod(path: Path, major: int, minor: int) -> None:
    if path.exists():
        st = path.lstat()
        if stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == major and os.minor(st.st_rdev) == minor:
            return
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, 0o660 | stat.S_IFCHR, os.makedev(major, minor))
    path.chmod(0o660)  # crw-rw---- as on real hosts (there owned by HwHiAiUser)


def device_nodes(spec: HostSpec) -> dict[str, tuple[int, int]]:
    nodes = {f"davinci{i}": (DEV_MAJOR["davinci"], i) for i in range(device_count(spec))}
    nodes.update({n: (DEV_MAJOR[n], 0) for n in MANAGER_NODES})
    return nodes


def make_dev(spec: HostSpec, hp: HostPaths, missing: frozenset[str] = frozenset()) -> None:
    wanted = device_nodes(spec)
    for name, (major, minor) in wanted.items():
        if name in missing:
            (hp.dev / name).unlink(missing_ok=True)
        else:
            mknod(hp.dev / name, major, minor)
    for extra in hp.dev.glob("davinci*"):  # nodes of a previous, larger config
        if extra.name not in wanted:
            extra.unlink()


def pci_dir(hp: HostPaths, bus_id: str) -> Path:
    return hp.root / "sys/bus/pci/devices" / bus_id.lower()


def make_pci(spec: HostSpec, hp: HostPaths, state: dict) -> None:
    """One PCI function per card.  A lost card stays on the bus: the driver lost it, lspci still sees it."""
    for card in state["cards"]:
        d = pci_dir(hp, card["bus_id"])
        for key, value in {**PCI_IDS[spec.chip], "class": PCI_CLASS}.items():
            _write(d / key, value + "\n")


def npu_state(spec: HostSpec, want: Desired, holders: list[dict] | tuple[dict, ...] = ()) -> dict:
    """The cards npu-smi shows: healthy defaults, the faults applied, and the processes that hold an NPU (the
    npu-busy fault's running processes: their memory counts in the chip's HBM/memory usage)."""
    state = default_state(spec.chip, spec.cards)
    per_card = CHIP_LIMITS[spec.chip][0]
    for card in state["cards"]:
        card["lost"] = card["npu_id"] in want.lost_cards
    for dev, health in want.health.items():
        state["cards"][dev // per_card]["chips"][dev % per_card]["health"] = health
    for h in sorted(holders, key=lambda r: r["device"]):
        card = state["cards"][h["device"] // per_card]
        chip = card["chips"][h["device"] % per_card]
        card.setdefault("processes", []).append(
            {"chip_id": chip["chip_id"], "pid": h["pid"], "name": h.get("name", "python3"),
             "memory": h.get("memory", busy.MEMORY_MB), "container": h.get("container"),
             "container_pid": h.get("container_pid")})
        usage = chip["hbm"] if chip.get("hbm") else chip["memory"]
        usage[0] = min(usage[1], usage[0] + int(h.get("memory", busy.MEMORY_MB)))
    return state


#: ``groupadd HwHiAiUser; useradd -g HwHiAiUser -d /home/HwHiAiUser -m HwHiAiUser -s /bin/bash`` on a Debian host.
_PASSWD = "root:x:0:0:root:/root:/bin/bash\nHwHiAiUser:x:1000:1000::/home/HwHiAiUser:/bin/bash\n"
_GROUP = "root:x:0:\nHwHiAiUser:x:1000:\n"

LIB = "libdrvdsmi_host.so"
BROKEN_SUFFIX = ".lab-fault"


#: The lab's isula client (a shim over the host's Docker engine; see ascend_env/lab/isula/isula.py).
ISULA_SHIM = Path(__file__).parent / "isula/isula.py"
ISULA_PATH = "usr/bin/isula"


HCCN_TOOL = Path(__file__).parent / "hccn_tool.sh"

#: Each lab host's /etc/os-release, verbatim from real hosts: Ubuntu 22.04.4 LTS's on docker hosts (as printed by
#: `cat /etc/os-release` on 22.04.4 servers in public READMEs and tests), openEuler 22.03 LTS-SP3's on isula hosts
#: (openEuler's own iSulad; the same six lines in public install notes for SP1-SP4).  The driver role reads it to name
#: the package manager of a fix (apt-get / yum).
OS_RELEASE = {
    "docker": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
              'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n'
              'HOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\n'
              'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\n'
              'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'
              'UBUNTU_CODENAME=jammy\n',
    "isula": 'NAME="openEuler"\nVERSION="22.03 (LTS-SP3)"\nID="openEuler"\nVERSION_ID="22.03"\n'
             'PRETTY_NAME="openEuler 22.03 (LTS-SP3)"\nANSI_COLOR="0;31"\n',
}
#: Marks a lab host's root: the fake driver installer looks for the host's build tools under it.
HOST_MARKER = "etc/ascend-env-lab/host"
#: The driver installer's build tools, as stand-ins (the lab builds no kernel module) where the real packages put them.
BUILD_TOOLS = {"dkms": "usr/sbin/dkms", "gcc": "usr/bin/gcc", "make": "usr/bin/make", "lspci": "usr/bin/lspci",
               "ifconfig": "usr/sbin/ifconfig"}
_STAND_IN = "#!/bin/sh\n# ascend-env lab: stand-in for {tool} on a simulated host (the lab builds no kernel module)\n" \
            'echo "{tool}: ascend-env lab stand-in" >&2\nexit 0\n'


def kernel_headers(root: Path, release: str | None = None) -> Path:
    """Where the running kernel's headers are on a host: /lib/modules/<uname -r>/build."""
    return root / "lib/modules" / (release or os.uname().release) / "build"


def driver_build_deps(root: Path, missing: frozenset[str] = frozenset(), release: str | None = None) -> list[str]:
    """Lay down (or take away, for ``missing``: dkms, headers, gcc, make) what the driver installer builds with."""
    changed = []
    _write(root / HOST_MARKER, "ascend-env lab host root: the driver installer's build tools are looked up here\n")
    for tool, rel in BUILD_TOOLS.items():
        path = root / rel
        if tool in missing:
            if path.exists():
                path.unlink()
                changed.append(f"{tool} removed")
        elif _write(path, _STAND_IN.format(tool=tool), 0o755):
            changed.append(tool)
    makefile = kernel_headers(root, release) / "Makefile"
    if "headers" in missing:
        if makefile.parent.exists():
            for f in makefile.parent.iterdir():
                f.unlink()
            makefile.parent.rmdir()
            changed.append("kernel headers removed")
    elif _write(makefile, "# ascend-env lab: stand-in for the running kernel's headers (kbuild Makefile)\n"):
        changed.append("kernel headers")
    return changed


def device_addresses(spec: HostSpec) -> dict[int, dict[str, str]]:
    """The 910B host's NPU port settings, unique in the lab: 10.<b>.<c>.<11+N>/24 for host 127.0.<b>.<c>, gateway
    and detection address .1 (one subnet per server, as every real Atlas A2 sample has; docs/lab.md)."""
    b, c = spec.address.split(".")[2:4]
    return {n: {"address": f"10.{b}.{c}.{11 + n}", "netmask": "255.255.255.0", "netdetect": f"10.{b}.{c}.1",
                "gateway": f"10.{b}.{c}.1", "send_arp_status": "1"} for n in range(device_count(spec))}


def hccn_conf(spec: HostSpec, want: Desired) -> str:
    """/etc/hccn.conf as hccn_tool keeps it (key_N=value, N the device's physical id), faults applied."""
    ports = device_addresses(spec)
    for dev, ip in want.ip_override:
        ports[dev]["address"] = ip or ports[(dev + 1) % len(ports)]["address"]
    lines = []
    for n, port in ports.items():
        for key in ("address", "netmask", "netdetect", "gateway", "send_arp_status"):
            if n in want.no_ip and key in ("address", "netmask", "gateway"):
                continue
            lines.append(f"{key}_{n}={port[key]}")
    return "\n".join(lines) + "\n"


FABRIC = "lab-hccn-fabric"


def fabric(hosts: list[tuple[HostSpec, Desired]]) -> dict[str, str]:
    """Per 910B host, the other 910B hosts' NPU ports as its hccn_tool fake reads them to answer ``-ping`` from a
    container (which cannot see the other hosts' trees): ``address_<host>.<N>=<ip>`` and ``link_<host>.<N>=DOWN``,
    the lines of lab-hccn-state.  Pure."""
    ports: dict[str, list[str]] = {}
    for spec, want in hosts:
        if spec.chip != "910b":
            continue
        lines = []
        for line in hccn_conf(spec, want).splitlines():
            key, _, value = line.partition("=")
            kind, _, n = key.rpartition("_")
            if kind == "address":
                lines.append(f"address_{spec.name}.{n}={value}")
        lines += [f"link_{spec.name}.{n}=DOWN" for n in sorted(want.links_down)]
        ports[spec.name] = lines
    return {name: "".join(f"{ln}\n" for other, lines in ports.items() if other != name for ln in lines)
            for name in ports}


def write_fabric(hosts: list[tuple[HostSpec, HostPaths, Desired]]) -> list[str]:
    """Write :func:`fabric` beside each 910B host's hccn_tool state; returns the hosts whose file changed."""
    texts = fabric([(spec, want) for spec, _, want in hosts])
    return [spec.name for spec, hp, _ in hosts if spec.name in texts
            and _write(hp.driver_lib / FABRIC, texts[spec.name])]


def build_network(spec: HostSpec, hp: HostPaths, want: Desired) -> list[str]:
    """hccn_tool, /etc/hccn.conf and the lab's carrier state on a 910B host (310P/Duo cards have no RoCE port)."""
    if spec.chip != "910b":
        return []
    changed = []
    if _write(hp.ascend / "driver/tools/hccn_tool", HCCN_TOOL.read_text(), 0o755):
        changed.append("driver/tools/hccn_tool")
    conf = hccn_conf(spec, want)
    if _write(hp.root / "etc/hccn.conf", conf):
        changed.append("etc/hccn.conf")
    links = "".join(f"link_{n}=DOWN\n" for n in sorted(want.links_down))
    if _write(hp.driver_lib / "lab-hccn-state", conf + links):   # the devices' live settings and carriers
        changed.append("NPU ports")
    return changed


def build_host(spec: HostSpec, hp: HostPaths, cache: Path, want: Desired | None = None,
               holders: list[dict] | None = None) -> list[str]:
    """Create or refresh the host tree to match spec + faults; returns what changed (empty on a no-op).
    ``holders``: the processes on the NPUs (default: the npu-busy fault's running ones, lab/busy.py)."""
    want = want or desired(spec, [])
    if holders is None:
        wanted = {d for d, _ in want.busy}
        holders = [r for r in busy.live(hp) if r["device"] in wanted]
    changed: list[str] = []
    a = hp.ascend
    if _write(a / "driver/version.info", hdk.driver_version_info(want.driver)):
        changed.append("driver/version.info")
    if _write(a / "firmware/version.info", hdk.firmware_version_info(want.firmware)):
        changed.append("firmware/version.info")
    _write(hp.root / "etc/ascend_install.info", hdk.ascend_install_info("/usr/local/Ascend"))
    # the host's accounts, for the driver installer's run-user check (HwHiAiUser made as ascend-facts §3.4 says)
    _write(hp.root / "etc/passwd", _PASSWD)
    _write(hp.root / "etc/group", _GROUP)
    _write(hp.root / "etc/os-release", OS_RELEASE[spec.runtime])
    built = driver_build_deps(hp.root, want.no_build)
    if built:
        changed.append("driver build tools: " + ", ".join(built))
    for d in ("driver/lib64/common", "driver/include", "add-ons"):
        (a / d).mkdir(parents=True, exist_ok=True)
    _write(a / "driver/include/dsmi_common_interface.h", "/* ascend-env lab placeholder */\n")
    _write(a / "driver/tools/upgrade-tool", _UPGRADE_TOOL, 0o755)
    _write(a / "driver/bin/setenv.bash", _SETENV)
    _write(hp.root / "usr/local/dcmi/dcmi_interface_api.h", "/* ascend-env lab placeholder */\n")
    _write(hp.root / "usr/local/dcmi/libdcmi.so.lab", "ascend-env lab placeholder for libdcmi.so\n")
    (hp.root / "var/log/npu/slog").mkdir(parents=True, exist_ok=True)
    if spec.runtime == "isula" and _write(hp.root / ISULA_PATH, ISULA_SHIM.read_text(), 0o755):
        changed.append(ISULA_PATH)
    npu_smi = hp.root / spec.npu_smi_dir / "npu-smi"
    lib, broken = hp.driver_lib / LIB, hp.driver_lib / (LIB + BROKEN_SUFFIX)
    if broken.exists() and not want.lib_broken:
        broken.rename(lib)
        changed.append("npu-smi library restored")
    if not npu_smi.exists() or not (lib.exists() or broken.exists()):
        build_npu_smi(hp.driver_lib, npu_smi, cache_dir=cache / "npu-smi")
        changed.append(f"{spec.npu_smi_dir}/npu-smi")
    if want.lib_broken and lib.exists():
        lib.rename(broken)
        changed.append("npu-smi library removed")
    state = npu_state(spec, want, holders)
    try:
        current = read_state(hp.driver_lib)
    except (OSError, ValueError):
        current = None
    if current != state:
        write_state(hp.driver_lib, state)
        changed.append("npu state")
    before = sorted(p.name for p in hp.dev.glob("*")) if hp.dev.exists() else []
    make_dev(spec, hp, want.missing_nodes)
    make_pci(spec, hp, state)
    if sorted(p.name for p in hp.dev.glob("*")) != before:
        changed.append("device nodes")
    changed += build_network(spec, hp, want)
    return changed
