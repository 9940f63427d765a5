"""What it takes to bring a host's NPU driver and firmware (the HDK) to the pinned versions (pure functions).

The ``ascend_driver`` role asks :func:`plan` for the ``.run`` invocations, in order, and runs them.

Rules, with their sources:

- Order.  First install (no driver on the host): driver, then firmware.  Overwrite install or upgrade (a driver is
  installed): firmware, then driver ("First-time installation ... driver > firmware"; "Overwrite installation ...
  firmware > driver": https://www.hiascend.com/document/detail/en/CANNCommunityEdition/900/softwareinst/instg/
  instg_0005.html; the same two rules in the 24.0/23.0 quick-install guides and the Atlas 200I A2 guide).
  The firmware package refuses to install without a driver (ascend-deployer task_firmware.yml; ascend-facts §3.3).
- Flags.  Driver: ``--nox11 --full --install-for-all --quiet --install-username=U --install-usergroup=G``
  (instg_0005: a running user other than HwHiAiUser, root included, must be named); when the installed driver
  carries ``driver/**/upgrade-tool``: ``--nox11 --upgrade --quiet`` (ascend-deployer task_driver_common.yml).
  Firmware: ``--nox11 --full --quiet`` (ascend-deployer task_firmware.yml).  ``--install-path=`` only when the
  install path is not the default ``/usr/local/Ascend``.
- Reboot.  A driver upgrade and any firmware install take effect after a reboot; the installers say so in their
  last line ("Reboot needed for installation/upgrade to take effect!", "Reboot now or after driver installation
  ..."), and :func:`reboot_needed` reads that line; a first driver install "takes effect immediately".
- Prerequisites (:func:`prerequisite_problems`, before any installer runs).  The driver builds its kernel modules
  with dkms, gcc and make against the running kernel's headers; per OS family the packages are dkms, gcc, make,
  linux-headers-$(uname -r) (Debian, Ubuntu: `apt-get install -y`) or dkms, gcc, make, kernel-devel-$(uname -r),
  kernel-headers-$(uname -r) (openEuler, CentOS, Kylin, BC-Linux, ...: `yum install -y`) ("安装驱动源码编译所需依赖":
  https://www.hiascend.com/document/detail/zh/CANNCommunityEdition/81RC1beta1/softwareinst/instg/instg_0051.html).
  Without them the install fails after its copy with "[ERROR]Dkms install failed, details in :
  /var/log/ascend_seclog/ascend_install.log." and "[ERROR]Driver_ko_install failed, ..."; without lspci or ifconfig
  it stops at once with "[ERROR]The list of missing tools: lspci,ifconfig" (pciutils, net-tools) ("驱动安装出现报错":
  https://www.hiascend.com/document/detail/en/CANNCommunityEdition/900/softwareinst/instg/instg_0066.html).  The run
  user and group must exist ("groupadd HwHiAiUser; useradd -g HwHiAiUser -d /home/HwHiAiUser -m HwHiAiUser -s
  /bin/bash": instg_0005 and the quick-install guides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from .errors import AscendEnvError
from .matrix import Matrix
from .resolver import installer_names
from .versions import Arch, Version, VersionError

DEFAULT_INSTALL_PATH = "/usr/local/Ascend"
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$", re.IGNORECASE)
_REBOOT_RE = re.compile(r"\bReboot (needed|now)\b")

Kind = Literal["driver", "firmware"]


class HdkPlanError(AscendEnvError, ValueError):
    """An input the planner cannot act on; the message names the value and the fix."""


@dataclass(frozen=True)
class Step:
    kind: Kind
    package: str
    args: tuple[str, ...]
    installed: str | None
    wanted: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "package": self.package, "args": list(self.args), "installed": self.installed,
                "wanted": self.wanted, "reason": self.reason}


def _version(value: object, component: str, field: str) -> Version | None:
    if value in (None, ""):
        return None
    try:
        return Version.parse(value, component)
    except VersionError as exc:
        raise HdkPlanError(f"{field}={value!r} is not a {component} version ({exc})") from None


def _name(value: str, what: str) -> str:
    if not _USER_RE.match(value):
        raise HdkPlanError(f"{what} {value!r} is not a user or group name; set ascend_driver_{what} to an existing "
                           "account (default HwHiAiUser: groupadd HwHiAiUser; useradd -g HwHiAiUser -m HwHiAiUser)")
    return value


def plan(installed_driver: str | None, installed_firmware: str | None, wanted_driver: str | None,
         wanted_firmware: str | None, packages: dict[str, str], *, upgrade_tool: bool = False,
         user: str = "HwHiAiUser", group: str = "HwHiAiUser", for_all: bool = True,
         install_path: str = DEFAULT_INSTALL_PATH) -> list[Step]:
    """The installer runs that bring the host from installed to wanted, in the order Huawei prescribes.

    ``packages`` maps ``driver``/``firmware`` to the ``.run`` file names (only the ones to install are needed).
    An unset wanted version means "leave that part alone".  Empty list: nothing to do.
    """
    have_drv = _version(installed_driver, "driver", "installed driver")
    have_fw = _version(installed_firmware, "firmware", "installed firmware")
    want_drv = _version(wanted_driver, "driver", "ascend_host_pins.driver")
    want_fw = _version(wanted_firmware, "firmware", "ascend_host_pins.firmware")
    if not install_path.startswith("/"):
        raise HdkPlanError(f"ascend_driver_install_path={install_path!r} is not an absolute path; "
                           f"use the default {DEFAULT_INSTALL_PATH} or another absolute path")
    path_args = () if install_path.rstrip("/") == DEFAULT_INSTALL_PATH else (f"--install-path={install_path}",)
    need: dict[Kind, tuple[Version, Version | None]] = {}
    if want_drv is not None and have_drv != want_drv:
        need["driver"] = (want_drv, have_drv)
    if want_fw is not None and have_fw != want_fw:
        need["firmware"] = (want_fw, have_fw)
    if "firmware" in need and have_drv is None and "driver" not in need:
        raise HdkPlanError("the host has no driver and ascend_host_pins names no driver to install; the firmware "
                           "package refuses to install without one: add ascend_host_pins.driver")
    first_install = have_drv is None
    order: list[Kind] = ["driver", "firmware"] if first_install else ["firmware", "driver"]
    steps: list[Step] = []
    for kind in order:
        if kind not in need:
            continue
        want, have = need[kind]
        pkg = packages.get(kind)
        if not pkg:
            raise HdkPlanError(f"no {kind} package named for {kind} {want}; put the Ascend-hdk-<chip>-npu-{kind}_"
                               f"{want.file_spelling()}... .run file in the artefact store's runs/")
        if kind == "driver" and have is not None and upgrade_tool:
            args: tuple[str, ...] = ("--nox11", "--upgrade", "--quiet")
        elif kind == "driver":
            args = ("--nox11", "--full", *(("--install-for-all",) if for_all else ()), "--quiet",
                    f"--install-username={_name(user, 'user')}", f"--install-usergroup={_name(group, 'group')}")
        else:
            args = ("--nox11", "--full", "--quiet")
        scene = "first install" if first_install else "overwrite install"
        reason = f"{kind} {have} -> {want} ({scene})" if have is not None else f"{kind} {want} ({scene})"
        steps.append(Step(kind, pkg, args + path_args, str(have) if have else None, str(want), reason))
    return steps


def package_names(m: Matrix, chip: str, arch: str, driver: str | None, firmware: str | None) -> dict[str, str]:
    """``{driver: Ascend-hdk-910b-npu-driver_..._linux-x86-64.run, firmware: ...}`` for the pinned versions."""
    try:
        c, a = m.chip(chip), Arch.parse(arch)
    except VersionError as exc:
        raise HdkPlanError(str(exc)) from None
    return installer_names(m, None, c, a, _version(driver, "driver", "ascend_host_pins.driver"),
                           _version(firmware, "firmware", "ascend_host_pins.firmware"))


#: OS families by os-release ID / ID_LIKE: Debian's (apt) and the RPM distributions of Huawei's tables (yum).
_DEBIAN_IDS = ("debian", "ubuntu", "uos", "deepin", "kylin-desktop", "ubuntukylin", "velinux")
_RPM_IDS = ("openeuler", "euleros", "hce", "kylin", "centos", "rhel", "fedora", "bclinux", "ctyunos", "culinux",
            "anolis", "alinux", "rocky", "almalinux", "tencentos", "tlinux", "mtos", "antos", "uniontech")
#: tool -> (Debian package, RPM package)
_TOOL_PACKAGES = {"dkms": ("dkms", "dkms"), "gcc": ("gcc", "gcc"), "make": ("make", "make"),
                  "lspci": ("pciutils", "pciutils"), "ifconfig": ("net-tools", "net-tools")}


def os_family(os_release: dict[str, Any] | None) -> str | None:
    """``debian`` (apt-get) or ``rpm`` (yum) from os-release's ID and ID_LIKE; None when neither is recognisable."""
    osr = os_release or {}
    ids = [str(osr.get("ID") or "").lower(), *str(osr.get("ID_LIKE") or "").lower().split()]
    for i in ids:
        if i in _DEBIAN_IDS:
            return "debian"
        if i in _RPM_IDS:
            return "rpm"
    return None


def install_command(family: str | None, debian: list[str], rpm: list[str]) -> str:
    """The command that installs the packages on that OS family (both when the family is unknown)."""
    apt, yum = "apt-get install -y " + " ".join(debian), "yum install -y " + " ".join(rpm)
    if family == "debian":
        return apt
    if family == "rpm":
        return yum
    return f"{apt} (Debian, Ubuntu) or {yum} (openEuler, CentOS, Kylin)"


def prerequisite_problems(facts: dict[str, Any] | None, *, create_user: bool = False, min_free_mb: int = 1024,
                          host: str = "") -> list[str]:
    """What the driver installer would stop at on this host, one line each with the command that fixes it, from the
    probe's ``probe_driver_prereqs`` facts.  ``create_user``: the role creates a missing run user and group (as the
    guide does), so they are no problem.  A reading that failed is a problem too: nothing is assumed present."""
    who = f"{host}: " if host else ""
    if not facts or facts.get("error"):
        why = (facts or {}).get("error") or "no reading"
        return [f"{who}could not read the driver's prerequisites ({why}); fix the reading, or set "
                "ascend_driver_check_prerequisites: false to install without checking them"]
    family = os_family(facts.get("os"))
    osname = (facts.get("os") or {}).get("PRETTY_NAME") or "this OS"
    out = []
    tools = facts.get("tools") or {}
    for tool, (deb, rpm) in _TOOL_PACKAGES.items():
        if not tools.get(tool):
            need = ("to build the driver's kernel modules" if tool in ("dkms", "gcc", "make")
                    else "(the installer stops with \"The list of missing tools\")")
            out.append(f"{who}{tool} is missing, which the driver installer needs {need}; on {osname}: "
                       f"{install_command(family, [deb], [rpm])}")
    kernel = str(facts.get("kernel") or "")
    if not facts.get("headers"):
        out.append(f"{who}no kernel headers for the running kernel {kernel} (/lib/modules/{kernel}/build), which dkms "
                   f"builds the driver against; on {osname}: "
                   + install_command(family, [f"linux-headers-{kernel}"],
                                     [f"kernel-devel-{kernel}", f"kernel-headers-{kernel}"])
                   + " (or boot the kernel whose headers are installed)")
    user, group = str(facts.get("user") or "HwHiAiUser"), str(facts.get("group") or "HwHiAiUser")
    if not create_user and not (facts.get("user_exists") and facts.get("group_exists")):
        missing = " and ".join(x for x, ok in ((f"user {user}", facts.get("user_exists")),
                                                (f"group {group}", facts.get("group_exists"))) if not ok)
        verb = "do" if " and " in missing else "does"
        out.append(f"{who}the driver's run {missing} {verb} not exist; create it as Huawei's guide does: groupadd "
                   f"{group}; useradd -g {group} -d /home/{user} -m {user} -s /bin/bash (or set "
                   "ascend_driver_create_user: true)")
    free, where = facts.get("free_bytes"), facts.get("install_path")
    if not isinstance(free, int):
        out.append(f"{who}free space on {where} unknown; check it with df -h {where}")
    elif free < min_free_mb * (1 << 20):
        out.append(f"{who}only {free >> 20} MiB free on {where}, the driver install wants {min_free_mb} MiB "
                   f"(ascend_driver_min_free_mb); free space there (df -h {where})")
    return out


def reboot_needed(outputs: list[str]) -> bool:
    """True when an installer's output asks for a reboot (driver upgrade, firmware)."""
    return any(_REBOOT_RE.search(text or "") for text in outputs)
