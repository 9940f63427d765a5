"""Lab configuration: which simulated hosts, with which chip, driver and firmware (pure; validated up front).

A config file (``lab up --config lab.yml``) looks like::

    hosts:
      - {name: h1, chip: 910b, cards: 8, driver: 25.0.rc1.1, firmware: 7.7.0.1.231}
      - {name: h2, chip: 300i-duo, cards: 2, driver: 25.0.rc1.1, firmware: 7.7.0.1.231, runtime: isula}
      - {name: h3, chip: 910b, containers: false}     # site.yml provisions this host itself
      - {name: h4, chip: 910b, conda: true}           # its container's Python is a conda environment (3.9)
    ssh_port: 22

Every bad value is reported with the value and the fix before anything on the machine changes.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import AscendEnvError
from . import hdk

CHIPS = ("910b", "310p", "300i-duo")
#: The images a host's containers can start from: the debootstrap base, or a variant of it (lab/image.py VARIANTS).
IMAGES = ("debian", "ubuntu-bashrc")
#: Chip -> (chips per card, most cards a server of that kind holds).
CHIP_LIMITS = {"910b": (1, 16), "310p": (1, 8), "300i-duo": (2, 8)}
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


class LabConfigError(AscendEnvError, ValueError):
    """A lab configuration value that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    chip: str = "910b"
    cards: int = 8
    driver: str = "25.0.rc1.1"
    firmware: str = "7.7.0.1.231"
    npu_smi_dir: str = "usr/local/bin"   # some hosts have npu-smi in /usr/local/sbin (ascend-facts §4.2)
    runtime: str = "docker"              # container CLI: docker, or isula (the lab's isula shim over docker)
    containers: bool = True              # false: site.yml provisions the host itself (ascend_container_enabled)
    group: str = "ascend_hosts"          # the inventory group (another: a spare host site.yml leaves alone)
    conda: bool = False                  # its container is the lab's conda one (python_provider: conda, Python 3.9)
    image: str = "debian"                # its containers' image: debian (the base) or ubuntu-bashrc (Ubuntu's root
                                         # .bashrc with its interactive guard, on the base: ascend_env/lab/image.py)


@dataclass(frozen=True)
class LabConfig:
    prefix: Path
    cache: Path
    hosts: tuple[HostSpec, ...]
    ssh_port: int = 22
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    extra: dict[str, Any] = field(default_factory=dict)

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        names = ", ".join(h.name for h in self.hosts)
        raise LabConfigError(f"no simulated host named {name!r}; the lab has: {names}")


DEFAULT_HOSTS: tuple[dict[str, Any], ...] = (
    # most Ascend images are Ubuntu-based: h1's container starts from the base with Ubuntu's root .bashrc, whose
    # interactive guard a non-interactive `ssh host CMD` stops at (h2's keeps Debian's, which has none)
    {"chip": "910b", "cards": 8, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231", "image": "ubuntu-bashrc"},
    # MindSpore publishes cp311 x86_64 wheels from 2.7.0, which needs CANN 8.2.RC1 and so HDK 25.0 (matrix).
    {"chip": "300i-duo", "cards": 2, "driver": "25.0.rc1.1", "firmware": "7.7.0.1.231",
     # openEuler hosts run iSulad: this host's containers go through the isula code path (the lab's shim).
     "npu_smi_dir": "usr/local/sbin", "runtime": "isula"},
)


def source_checkout() -> Path | None:
    """The repository root when running from a source checkout (where ``.lab`` and ``.cache`` go)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "ascend_env").is_dir() else None


def default_prefix() -> Path:
    env = os.environ.get("ASCEND_ENV_LAB_PREFIX")
    if env:
        return Path(env).absolute()
    repo = source_checkout()
    return repo / ".lab" if repo else Path("/var/lib/ascend-env-lab")


def default_cache() -> Path:
    env = os.environ.get("ASCEND_ENV_LAB_CACHE")
    if env:
        return Path(env).absolute()
    repo = source_checkout()
    return repo / ".cache" / "lab" if repo else Path("/var/cache/ascend-env-lab")


def host_address(index: int) -> str:
    """Host ``index`` (0-based) gets 127.0.0.<index+2>: 127.0.0.1 stays the machine's own."""
    return str(ipaddress.IPv4Address("127.0.0.2") + index)


def _host(i: int, raw: Any, where: str) -> HostSpec:
    if not isinstance(raw, dict):
        raise LabConfigError(f"{where}: expected a mapping like {{name: h1, chip: 910b}}, got {raw!r}")
    unknown = set(raw) - {"name", "chip", "cards", "driver", "firmware", "address", "npu_smi_dir", "runtime",
                          "containers", "group", "conda", "image"}
    if unknown:
        raise LabConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: name, chip, cards, driver, "
                             "firmware, address, npu_smi_dir, runtime, containers, group, conda, image")
    name = str(raw.get("name", f"h{i + 1}"))
    if not _NAME.match(name):
        raise LabConfigError(f"{where}: host name {name!r} is not usable; use lower-case letters, digits and '-', "
                             "starting with a letter, at most 16 characters (e.g. h1)")
    chip, cards = _host_cards(raw, where)
    driver, firmware = _host_hdk(raw, where)
    address = _host_address(i, raw, where)
    npu_smi_dir, runtime = _host_engine(raw, where)
    containers, group, conda, image = _host_environments(raw, where)
    return HostSpec(name, address, chip, cards, driver, firmware, npu_smi_dir, runtime, containers, group, conda,
                    image)


def _host_cards(raw: dict[str, Any], where: str) -> tuple[str, int]:
    """The simulated chip and how many cards of it."""
    chip = str(raw.get("chip", "910b")).lower()
    if chip not in CHIPS:
        raise LabConfigError(f"{where}: chip {chip!r} is not simulated; use one of {', '.join(CHIPS)}")
    cards = raw.get("cards", 8 if chip == "910b" else 2)
    limit = CHIP_LIMITS[chip][1]
    if not isinstance(cards, int) or isinstance(cards, bool) or not 1 <= cards <= limit:
        raise LabConfigError(f"{where}: cards={cards!r} for {chip}; use a whole number from 1 to {limit}")
    return chip, cards


def _host_hdk(raw: dict[str, Any], where: str) -> tuple[str, str]:
    """The driver and firmware versions (ones the fake installers know)."""
    driver = str(raw.get("driver", "25.0.rc1.1"))
    firmware = str(raw.get("firmware", "7.7.0.1.231"))
    try:
        hdk.driver_sample(driver)
        hdk.firmware_sample(firmware)
    except ValueError as e:
        raise LabConfigError(f"{where}: {e}") from None
    return driver, firmware


def _host_address(i: int, raw: dict[str, Any], where: str) -> str:
    """A loopback address other than 127.0.0.1 (the lab binds nothing else)."""
    address = str(raw.get("address", host_address(i)))
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise LabConfigError(f"{where}: address {address!r} is not an IPv4 address; use 127.0.0.N") from None
    if not ip.is_loopback or address == "127.0.0.1":
        raise LabConfigError(f"{where}: address {address!r} is not allowed: the lab only binds 127.0.0.2-"
                             "127.255.255.254 (loopback, never the machine's own 127.0.0.1)")
    return address


def _host_engine(raw: dict[str, Any], where: str) -> tuple[str, str]:
    """Where npu-smi lives, and the container engine's command line (docker, or the isula shim)."""
    npu_smi_dir = str(raw.get("npu_smi_dir", "usr/local/bin")).strip("/")
    if npu_smi_dir not in ("usr/local/bin", "usr/local/sbin"):
        raise LabConfigError(f"{where}: npu_smi_dir {npu_smi_dir!r}; use usr/local/bin or usr/local/sbin")
    runtime = str(raw.get("runtime", "docker"))
    if runtime not in ("docker", "isula"):
        raise LabConfigError(f"{where}: runtime {runtime!r}; use docker or isula (isula is a shim over the host's "
                             "Docker engine that speaks isula's command line)")
    return npu_smi_dir, runtime


def _host_environments(raw: dict[str, Any], where: str) -> tuple[bool, str, bool, str]:
    """Containers or the host itself, the inventory group, conda, the base image."""
    containers = raw.get("containers", True)
    if not isinstance(containers, bool):
        raise LabConfigError(f"{where}: containers {containers!r}; use true (environments in containers) or false "
                             "(site.yml provisions the host itself)")
    group = str(raw.get("group", "ascend_hosts"))
    if not re.match(r"^[a-z][a-z0-9_]{0,31}$", group):
        raise LabConfigError(f"{where}: group {group!r}; use lower-case letters, digits and '_' (an inventory group "
                             "name, e.g. ascend_spare)")
    conda = raw.get("conda", False)
    if not isinstance(conda, bool):
        raise LabConfigError(f"{where}: conda {conda!r}; use true (the host's container gets a conda environment with "
                             "Python 3.9, ascend_python_provider: conda) or false")
    if conda and not containers:
        raise LabConfigError(f"{where}: conda: true needs containers: true (the lab's conda environment is built in a "
                             "container)")
    image = str(raw.get("image", "debian"))
    if image not in IMAGES:
        raise LabConfigError(f"{where}: image {image!r}; use one of {', '.join(IMAGES)} (ubuntu-bashrc: the base image "
                             "with Ubuntu's root .bashrc, which starts with an interactive guard)")
    return containers, group, conda, image


def build_config(raw: dict[str, Any] | None = None, *, prefix: Path | None = None, cache: Path | None = None,
                 hosts: int | None = None) -> LabConfig:
    """Validate ``raw`` (the parsed config file, or None for the defaults) into a :class:`LabConfig`."""
    raw = dict(raw or {})
    unknown = set(raw) - {"hosts", "ssh_port", "suite", "mirror"}
    if unknown:
        raise LabConfigError(f"lab config: unknown key(s) {sorted(unknown)}; allowed: hosts, ssh_port, suite, mirror")
    host_rows = raw.get("hosts")
    if host_rows is None:
        n = 2 if hosts is None else hosts
        if not isinstance(n, int) or not 1 <= n <= 64:
            raise LabConfigError(f"--hosts {n!r}: use a number of simulated hosts from 1 to 64")
        host_rows = [dict(DEFAULT_HOSTS[i % len(DEFAULT_HOSTS)]) for i in range(n)]
    elif hosts is not None and hosts != len(host_rows):
        raise LabConfigError(f"--hosts {hosts} disagrees with the {len(host_rows)} hosts in the config file; "
                             "drop --hosts or edit the file")
    if not isinstance(host_rows, list) or not host_rows:
        raise LabConfigError(f"lab config: hosts must be a non-empty list, got {host_rows!r}")
    specs = tuple(_host(i, r, f"hosts[{i}]") for i, r in enumerate(host_rows))
    for attr in ("name", "address"):
        seen: dict[str, int] = {}
        for i, h in enumerate(specs):
            v = getattr(h, attr)
            if v in seen:
                raise LabConfigError(f"hosts[{i}]: {attr} {v!r} is already used by hosts[{seen[v]}]; "
                                     f"give every host its own {attr}")
            seen[v] = i
    port = raw.get("ssh_port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535 or port == 223:
        raise LabConfigError(f"ssh_port {port!r}: use a TCP port from 1 to 65535 other than 223 "
                             "(223 is the containers' sshd port)")
    prefix = (prefix or default_prefix()).absolute()
    _check_prefix(prefix)
    return LabConfig(prefix=prefix, cache=(cache or default_cache()).absolute(), hosts=specs, ssh_port=port,
                     suite=str(raw.get("suite", "bookworm")), mirror=str(raw.get("mirror", _default_mirror())))


FORBIDDEN = (Path("/usr/local/Ascend"), Path("/dev"), Path("/etc"), Path("/usr"), Path("/var/lib/docker"),
             Path("/sys"), Path("/proc"), Path("/run/docker"))


def _check_prefix(prefix: Path) -> None:
    """The lab prefix must not be, or be inside, a system location the lab must never write."""
    if prefix == Path("/"):
        raise LabConfigError("lab prefix '/' is not allowed; pass --prefix /some/empty/dir")
    for bad in FORBIDDEN:
        if prefix == bad or bad in prefix.parents:
            raise LabConfigError(f"lab prefix {str(prefix)!r} is inside {bad}, which the lab never writes; "
                                 "pass --prefix (or ASCEND_ENV_LAB_PREFIX) pointing at a folder of your own, "
                                 "e.g. /srv/ascend-lab")
    # Long prefixes break unix socket paths (108 bytes) for dockerd/containerd under <prefix>/hosts/<h>/run.
    if len(str(prefix)) > 60:
        raise LabConfigError(f"lab prefix {str(prefix)!r} is {len(str(prefix))} characters; unix sockets under it "
                             "would exceed 108 bytes. Use a prefix of at most 60 characters")


def _default_mirror() -> str:
    """The Debian mirror apt already uses on this machine (users behind a mirror need nothing more)."""
    env = os.environ.get("ASCEND_ENV_LAB_MIRROR")
    if env:
        return env
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or \
            re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def load_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LabConfigError(f"cannot read lab config {str(path)!r}: {e.strerror}; check the path") from None
    except yaml.YAMLError as e:
        raise LabConfigError(f"lab config {str(path)!r} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LabConfigError(f"lab config {str(path)!r} must be a mapping with a 'hosts' list")
    return data
