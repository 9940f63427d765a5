"""The doctor's checks: pure functions from the probe's facts (``ascend_env.probe.host``) to results.

Every check returns :class:`Check` rows with a status (``ok``, ``warn``, ``fail``, ``skip`` = "could not
check: why", or ``unknown`` = it ran but could not read what it must judge, e.g. an npu-smi table or a health value:
never ok), a one-line summary, and for anything not ok the exact fix: a command, a docker/isula flag, or an
inventory variable.  No I/O here: the facts come in, the matrix is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..compat import driver_accepts_firmware, firmware_accepts_driver, parse_bounds, toolkit_accepts_driver
from ..matrix import Matrix
from ..probe.npu_smi import NpuSmiParseError, detect_loader_error, parse_info, worst_health
from ..resolver import Conflict, Request, resolve
from ..versions import Version, VersionError
from ..yamlload import safe_load
from .status import FAIL, GROUPS, OK, SKIP, UNKNOWN, WARN

DRIVER_LIBDIR = "/usr/local/Ascend/driver/lib64/driver"
#: chip -> the kernels' soc directory name under opp/built-in/op_impl/ai_core/tbe/kernel
SOC_DIR = {"910b": "ascend910b", "310p": "ascend310p", "300i-duo": "ascend310p"}
#: Huawei's PCI vendor id; an Ascend NPU's PCI function has class 0x12xxxx (processing accelerator), which is how
#: ascend-deployer's npu_info fact tells NPUs from Huawei's NICs and RAID controllers on the same vendor id
#: (Ascend/ascend-deployer: playbooks/facts/npu_info.fact.j2)
HUAWEI = "0x19e5"
NPU_CLASS = "0x12"


@dataclass(frozen=True)
class Check:
    id: str
    group: str
    status: str
    summary: str
    detail: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What the checks know besides the facts."""

    matrix: Matrix
    chip: str | None = None            # from --chip / inventory; else detected from PCI ids
    expect: dict[str, str] | None = None
    runtime: str = "docker"            # for the flags in container fixes


CheckFn = Callable[[dict[str, Any], Context], list[Check]]
REGISTRY: list[tuple[str, str, str, CheckFn]] = []


def check(cid: str, group: str, doc: str) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        REGISTRY.append((cid, group, doc, fn))
        return fn
    return deco


def _skip(cid: str, group: str, why: str) -> list[Check]:
    return [Check(cid, group, SKIP, f"could not check: {why}")]


def in_container(f: dict[str, Any]) -> bool:
    return bool(f.get("system", {}).get("in_container"))


def _err(section: dict[str, Any] | None) -> str | None:
    return section.get("error") if isinstance(section, dict) else "not probed"


# --- helpers over the facts --------------------------------------------------------------------------------

def npu_functions(f: dict[str, Any]) -> list[dict[str, Any]]:
    """The host's NPU PCI functions: Huawei's vendor id and the processing-accelerator class (a probe without the
    class, e.g. an older one, counts every Huawei function)."""
    out = []
    for d in f.get("pci", {}).get("devices", []):
        cls = str(d.get("class") or "")
        if str(d.get("vendor") or HUAWEI).lower() == HUAWEI and (not cls or cls.lower().startswith(NPU_CLASS)):
            out.append(d)
    return out


def chip_of_function(d: dict[str, Any], matrix: Matrix) -> Any | None:
    """The chips.yaml row whose PCI ids (vendor, device, and subsystem where the row names one) this function has."""
    for c in matrix.chips:
        pci = c.pci
        if (str(d.get("vendor") or "").lower() == pci.get("vendor", HUAWEI)
                and str(d.get("device") or "").lower() == pci.get("device")
                and ("subsystem" not in pci or str(d.get("subsystem_device") or "").lower() == pci["subsystem"])):
            return c
    return None


def detected_chip(f: dict[str, Any], matrix: Matrix) -> str | None:
    """The chip id (chips.yaml) of the first NPU PCI function that chips.yaml knows."""
    for d in npu_functions(f):
        c = chip_of_function(d, matrix)
        if c is not None:
            return str(c.id)
    return None


def npu_table(f: dict[str, Any]) -> tuple[Any | None, str | None]:
    """The parsed ``npu-smi info`` (with the lib-path fix applied if that is what made it run), or why not."""
    smi = f.get("npu_smi", {})
    for key in ("info", "info_with_libpath"):
        r = smi.get(key)
        if r and r.get("rc") == 0:
            try:
                return parse_info(r["stdout"]), None
            except NpuSmiParseError as e:
                return None, f"npu-smi output not understood: {e}"
    return None, "npu-smi did not run"


def driver_values(f: dict[str, Any], part: str) -> dict[str, str] | None:
    d = f.get("driver", {}).get(part)
    return d["values"] if d else None


def toolkit(f: dict[str, Any]) -> dict[str, Any] | None:
    return (f.get("cann") or {}).get("toolkit")


def toolkit_version(f: dict[str, Any]) -> Version | None:
    tk = toolkit(f)
    if not tk:
        return None
    try:
        return Version.parse(tk["install_info"].get("version"), "cann")
    except VersionError:
        return None


def set_env_path(f: dict[str, Any]) -> str:
    tk = toolkit(f)
    if tk and tk.get("layout") == "cann":
        return "/usr/local/Ascend/cann/set_env.sh"
    return "/usr/local/Ascend/ascend-toolkit/set_env.sh"


# --- devices -----------------------------------------------------------------------------------------------

@check("devices.nodes", "devices", "davinciN, davinci_manager, devmm_svm, hisi_hdc present as character devices")
def devices_nodes(f: dict[str, Any], ctx: Context) -> list[Check]:
    dev = f.get("devices", {})
    if _err(dev):
        return _skip("devices.nodes", "devices", _err(dev) or "")
    nodes = dev["nodes"]
    missing_mgr = [m for m in ("davinci_manager", "devmm_svm", "hisi_hdc") if m not in nodes]
    not_char = sorted(n for n, v in nodes.items() if not v["char"])
    out = []
    if in_container(f):
        flag = "--device"  # the same flag for docker and isula
        if not dev["davinci"]:
            out.append(Check("devices.nodes", "devices", FAIL, "no /dev/davinciN in this container",
                             "the container was started without any NPU device",
                             f"recreate the container with {flag}=/dev/davinci0 (one per NPU you want), or with the "
                             "Ascend runtime: -e ASCEND_VISIBLE_DEVICES=0; inventory: ascend_containers[].devices"))
        if missing_mgr:
            out.append(Check("devices.managers", "devices", FAIL,
                             f"missing {', '.join('/dev/' + m for m in missing_mgr)}",
                             "npu-smi and the runtime need the manager devices besides /dev/davinciN",
                             "recreate the container adding " + " ".join(f"{flag}=/dev/{m}" for m in missing_mgr)))
    else:
        if not dev["davinci"]:
            out.append(Check("devices.nodes", "devices", FAIL, "no /dev/davinciN on this host",
                             "the NPU driver is not loaded or not installed",
                             "install or reload the driver: bash Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run "
                             "--full --install-for-all, then reboot"))
        if missing_mgr:
            out.append(Check("devices.managers", "devices", FAIL, f"missing {', '.join(missing_mgr)} on the host",
                             "", "reinstall the driver (--full) and reboot; the driver creates these nodes"))
    if not_char:
        out.append(Check("devices.chardev", "devices", FAIL, f"not character devices: {', '.join(not_char)}",
                         "", "remove the stray files and restart the container / reload the driver"))
    if not out:
        out.append(Check("devices.nodes", "devices", OK,
                         f"{len(dev['davinci'])} NPU device node(s) (davinci{','.join(map(str, dev['davinci']))}) "
                         "and the 3 manager nodes"))
    return out


def _chip_label(npu: int | None, chip: int | None) -> str:
    return f"NPU {npu if npu is not None else '?'}" + (f" chip {chip}" if chip is not None else "")


@check("devices.match", "devices", "device nodes agree with the chips npu-smi and the PCI bus report")
def devices_match(f: dict[str, Any], ctx: Context) -> list[Check]:
    table, why = npu_table(f)
    if table is None:
        if why and why.startswith("npu-smi output not understood"):
            return [Check("devices.match", "devices", UNKNOWN, "unknown: the npu-smi table could not be read, so its "
                          "chips cannot be compared with the device nodes and the PCI bus", why,
                          "compare `npu-smi info` with `ls /dev/davinci*` and `lspci -d 19e5:` by hand")]
        return _skip("devices.match", "devices", why or "")
    dev = f.get("devices", {})
    chips = [(c.npu_id, ch) for c in table.cards for ch in c.chips]
    if not chips:
        return [Check("devices.match", "devices", UNKNOWN, "unknown: npu-smi's table lists no chip to compare with "
                      "the device nodes", "; ".join(table.unread_rows[:2]) or "no card or chip row was read",
                      "run `npu-smi info` by hand and compare with `ls /dev/davinci*`")]
    out = []
    if not in_container(f):
        # npu-smi's Device/Phy-ID column (310/310P/Duo/A3) or the card order gives the davinci number of each chip
        want = sorted(ch.device_id if ch.device_id is not None else i for i, (_, ch) in enumerate(chips))
        missing = [n for n in want if n not in dev.get("davinci", [])]
        if missing:
            out.append(Check("devices.match", "devices", FAIL,
                             f"npu-smi lists {len(chips)} chip(s) but /dev/davinci{','.join(map(str, missing))} "
                             "is missing",
                             "the driver sees the chip but its device node is gone (deleted, or a udev rule failed)",
                             "recreate the nodes: reload the driver (or reboot); do not mknod them by hand"))
        out += _pci_per_chip(f, ctx, table)
    if not out:
        where = ("nodes present" if not in_container(f)
                 else "inside a container device numbers are compared by the host's doctor")
        out.append(Check("devices.match", "devices", OK, f"{len(chips)} chip(s) visible to npu-smi, {where}"))
    return out


def _pci_per_chip(f: dict[str, Any], ctx: Context, table: Any) -> list[Check]:
    """``devices.pci``: the NPU PCI functions against npu-smi's chips, like with like.  An Atlas 300 inference card
    carries four 310 chips, each its own PCI function (its own Bus-Id in npu-smi); an A3 NPU id two dies on two
    buses; a 300I Duo two 310P3 chips behind one function (npu-smi prints one Bus-Id for both).  So: every NPU
    function must be the Bus-Id of at least one chip npu-smi shows; where npu-smi prints no Bus-Id (NA, redacted),
    the chips each function carries (chips.yaml ``chips_per_card``: each of those cards is one function) must add
    up to npu-smi's chip count, and a PCI id chips.yaml does not know makes the comparison unknown."""
    functions = npu_functions(f)
    if not functions:
        return []
    chips = [(c.npu_id, ch) for c in table.cards for ch in c.chips]
    buses = {ch.bus_id.lower() for _, ch in chips if ch.bus_id}
    fix = ("check `dmesg | grep -i davinci`, then reset the NPU: npu-smi set -t reset -i <NPU id> -c 0, or reboot; "
           "if it stays missing, reseat the card / call support")
    if all(ch.bus_id for _, ch in chips):
        lost = [d for d in functions if str(d.get("bdf", "")).lower() not in buses]
        short = []  # a function npu-smi shows with fewer chips than its model carries (one chip of a Duo lost)
        for d in functions:
            model = chip_of_function(d, ctx.matrix)
            seen = sum(1 for _, ch in chips if (ch.bus_id or "").lower() == str(d.get("bdf", "")).lower())
            if model is not None and 0 < seen < model.chips_per_card:
                short.append((d, model, seen))
        if short and not lost:
            d, model, seen = short[0]
            return [Check("devices.pci", "devices", FAIL,
                          f"{d['bdf']} ({model.id}) carries {model.chips_per_card} chips but npu-smi shows {seen}",
                          "the driver lost a chip of the card", fix)]
        if not lost:
            return []
        models = {d["bdf"]: chip_of_function(d, ctx.matrix) for d in lost}
        return [Check("devices.pci", "devices", FAIL,
                      f"{len(lost)} of {len(functions)} NPU PCI function(s) not shown by npu-smi: "
                      + ", ".join(f"{d['bdf']} ({models[d['bdf']].id if models[d['bdf']] else d.get('device')})"
                                  for d in lost),
                      f"npu-smi shows {len(chips)} chip(s) on {len(buses)} bus id(s); the driver lost the others",
                      fix)]
    per_function = []
    for d in functions:
        model = chip_of_function(d, ctx.matrix)
        if model is None:
            return [Check("devices.pci", "devices", UNKNOWN,
                          f"unknown: npu-smi prints no Bus-Id for some chips and PCI id {d.get('device')} "
                          f"({d.get('bdf')}) is not in chips.yaml, so its chips per function are not known",
                          f"{len(functions)} NPU PCI function(s), {len(chips)} chip(s) in npu-smi",
                          "compare `lspci -d 19e5:` with `npu-smi info` by hand")]
        per_function.append(model.chips_per_card)
    expected = sum(per_function)
    if expected != len(chips):
        return [Check("devices.pci", "devices", FAIL,
                      f"{len(functions)} NPU PCI function(s) carry {expected} chip(s) but npu-smi shows {len(chips)}",
                      "npu-smi prints no Bus-Id here, so the functions are counted by chip model (chips.yaml)", fix)]
    return []


# --- driver and firmware -----------------------------------------------------------------------------------

@check("driver.present", "driver", "driver version.info present; firmware too on a host")
def driver_present(f: dict[str, Any], ctx: Context) -> list[Check]:
    d = f.get("driver", {})
    if _err(d):
        return _skip("driver.present", "driver", _err(d) or "")
    out = []
    drv = driver_values(f, "driver")
    if drv is None:
        fix = ("mount it: -v /usr/local/Ascend/driver:/usr/local/Ascend/driver:ro" if in_container(f) else
               "install the driver: bash Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run --full --install-for-all")
        out.append(Check("driver.present", "driver", FAIL, "no driver version.info under "
                         f"{d.get('install_path', '/usr/local/Ascend')}/driver", "", fix))
    else:
        out.append(Check("driver.present", "driver", OK, f"driver {drv.get('Version')} "
                         f"(Innerversion {drv.get('Innerversion', '?')})"))
    fw = driver_values(f, "firmware")
    if fw is None and not in_container(f):
        out.append(Check("firmware.present", "driver", FAIL, "no firmware version.info",
                         "", "install the firmware: bash Ascend-hdk-<chip>-npu-firmware_<ver>.run --full, then reboot"))
    elif fw is not None:
        out.append(Check("firmware.present", "driver", OK, f"firmware {fw.get('Version')}"))
    if in_container(f) and d.get("install_info") is None:
        out.append(Check("driver.install_info", "driver", WARN, "/etc/ascend_install.info is not in the container",
                         "torch_npu.utils.get_cann_version('DRIVER') and MindSpore locate the driver through it",
                         "add -v /etc/ascend_install.info:/etc/ascend_install.info:ro"))
    return out


@check("driver.firmware", "driver", "driver and firmware accept each other (compatible_version_fw / _drv)")
def driver_firmware(f: dict[str, Any], ctx: Context) -> list[Check]:
    drv, fw = driver_values(f, "driver"), driver_values(f, "firmware")
    if in_container(f) and fw is None:
        return []  # containers do not mount the firmware; the host's doctor checks the pair
    if drv is None or fw is None:
        return _skip("driver.firmware", "driver", "driver or firmware version.info not readable here")
    results = [driver_accepts_firmware(drv.get("compatible_version_fw"), fw.get("Version")),
               firmware_accepts_driver(fw.get("compatible_version_drv"), drv.get("Version"))]
    bad = [r for r in results if r.ok is False]
    if bad:
        return [Check("driver.firmware", "driver", FAIL,
                      f"driver {drv.get('Version')} and firmware {fw.get('Version')} do not match",
                      "; ".join(r.message for r in bad), bad[0].fix)]
    unknown = [r for r in results if r.ok is None]
    if len(unknown) == 2:
        return _skip("driver.firmware", "driver", "; ".join(r.message for r in unknown))
    return [Check("driver.firmware", "driver", OK, f"driver {drv.get('Version')} and firmware {fw.get('Version')} "
                  "accept each other")]


# --- npu-smi and chips -------------------------------------------------------------------------------------

def dcmi_8005(f: dict[str, Any]) -> tuple[str, str]:
    """Detail and fix for ``dcmi module initialize failed. ret is -8005``: the causes in order of likelihood, with
    how to tell them apart, and the one the facts already decide first.

    In a container the maintainers' answer is that the NPU is held by another container or process ("Usually
    -8005 error is because the device is already occupied by other containers", vllm-ascend#2698, citing Huawei's
    case library case_9289, whose causes are: the card is taken by another container and does not support
    sharing; the kernel was upgraded under the driver; a secure-boot-signed driver on a card without it); next, the
    container lacks the manager devices; a non-root user without access to /dev/davinci* gets the same code
    (openGauss' NPU guide, and reports of it working as root only)."""
    dev = f.get("devices") or {}
    nodes = dev.get("nodes") or {}
    missing = [m for m in ("davinci_manager", "devmm_svm", "hisi_hdc") if not _err(dev) and m not in nodes]
    euid = (f.get("system") or {}).get("euid")
    held = ("another container or process holds the NPU: on the host, `npu-smi info` lists the processes on each "
            "NPU and `docker ps -q | xargs docker inspect --format '{{.Name}} {{.HostConfig.Devices}} "
            "{{.Config.Env}}'` shows which container has /dev/davinciN (or ASCEND_VISIBLE_DEVICES=N); stop it or "
            "give this container other NPUs (a card that does not support sharing takes one container at a time)")
    lacks = ("the container lacks " + (", ".join("/dev/" + m for m in missing) or "the manager devices")
             + ": recreate it adding --device=/dev/davinci_manager --device=/dev/devmm_svm --device=/dev/hisi_hdc")
    user = (f"npu-smi ran as uid {euid}, not root: DCMI needs read/write on /dev/davinci* (run as root, or give the "
            "user access: the HwHiAiUser group / chown the nodes in the container's entrypoint)")
    detail = ("DCMI -8005 most often means the NPU is held by another container or process (vllm-ascend#2698, "
              "Huawei case library case_9289); next, missing manager devices; a non-root user gets it too")
    if in_container(f):
        if missing:
            return detail, f"1) here: {lacks} (the doctor sees them missing); 2) if they are present: {held}"
        steps = [held, f"{lacks} (present here, so not that)" if nodes else lacks]
        if euid not in (None, 0):
            steps.insert(0, user)
        return detail, "; ".join(f"{i}) {s}" for i, s in enumerate(steps, 1))
    if euid not in (None, 0):
        return detail, f"1) {user}; 2) {held}"
    return ("DCMI -8005 on a host: the driver is not usable by npu-smi (Huawei case library case_9289)",
            f"1) {held}; 2) the kernel was upgraded under the driver: `lsmod | grep drv_davinci` is empty and "
            "`dmesg | grep -i davinci` shows errors: reinstall the driver for this kernel (bash "
            "Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run --full --install-for-all), then reboot; 3) a "
            "secure-boot-signed driver on a card without secure boot: install the driver package without the "
            "signature")


@check("npu_smi.runs", "npu", "npu-smi is present and runs")
def npu_smi_runs(f: dict[str, Any], ctx: Context) -> list[Check]:
    smi = f.get("npu_smi", {})
    if _err(smi):
        return _skip("npu_smi.runs", "npu", _err(smi) or "")
    if not smi.get("path"):
        fix = ("mount it: -v /usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro (or /usr/local/sbin/npu-smi on some "
               "hosts)" if in_container(f) else "npu-smi comes with the driver: reinstall the driver package (--full)")
        return [Check("npu_smi.runs", "npu", FAIL, "npu-smi not found in /usr/local/bin, /usr/local/sbin or PATH",
                      "", fix)]
    first = smi.get("info", {})
    text = (first.get("stderr") or "") + (first.get("stdout") or "")
    lib = detect_loader_error(text)
    if lib:
        retry = smi.get("info_with_libpath") or {}
        if retry.get("rc") == 0:
            return [Check("npu_smi.runs", "npu", FAIL, f"npu-smi cannot load {lib}: the driver library directory is "
                          "not on LD_LIBRARY_PATH", text.strip().splitlines()[-1],
                          f"export LD_LIBRARY_PATH={DRIVER_LIBDIR}:$LD_LIBRARY_PATH (put it in ~/.bashrc, or source "
                          f"{set_env_path(f)}); in a container also mount /usr/local/Ascend/driver")]
        return [Check("npu_smi.runs", "npu", FAIL, f"npu-smi cannot load {lib}, even with {DRIVER_LIBDIR} on "
                      "LD_LIBRARY_PATH", f"{lib} is missing from the driver's lib64/driver",
                      "the driver installation is damaged: reinstall it (bash Ascend-hdk-<chip>-npu-driver_*.run "
                      "--full --install-for-all); in a container mount the host's /usr/local/Ascend/driver")]
    if first.get("rc") != 0:
        msg = text.strip().splitlines()[-1] if text.strip() else (first.get("error") or "no output")
        detail, fix = "", ("add --device=/dev/davinci_manager (and devmm_svm, hisi_hdc) to the container"
                           if in_container(f) else
                           "the driver is not reachable: if the driver/firmware were just upgraded, reboot")
        if "-8020" in text or "device is used" in text:
            # "dcmi model initialized failed, because the device is used. ret is -8020" (Ascend/cann-container-image#46)
            fix = ("another container or process holds the NPU: find it with `npu-smi info` on the host (process "
                   "section) and stop it, or give this container other devices")
        elif "-8005" in text:
            detail, fix = dcmi_8005(f)
        return [Check("npu_smi.runs", "npu", FAIL, f"npu-smi info failed: {msg}", detail, fix)]
    table, why = npu_table(f)
    if table is None:
        return [Check("npu_smi.runs", "npu", WARN, why or "npu-smi output not understood", "",
                      "report the output of `npu-smi info` (a layout this doctor does not know); npu.health is "
                      "unknown until it is read")]
    n_chips = sum(len(c.chips) for c in table.cards)
    out = [Check("npu_smi.runs", "npu", OK, f"npu-smi {table.version or '(version unknown)'}: "
                 f"{len(table.cards)} NPU(s), {n_chips} chip(s)")]
    for notice in table.notices:
        # npu-smi reference ("Querying Basic Information"): this last line means the driver package is incomplete
        out.append(Check("npu_smi.driver_package", "npu", WARN, f"npu-smi says: {notice}", "",
                         "reinstall the driver package: bash Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run "
                         "--full --install-for-all"))
    if table.warnings:
        out.append(Check("npu_smi.output", "npu", WARN,
                         f"{len(table.warnings)} field(s) of the npu-smi table unreadable: read as unknown",
                         "; ".join(table.warnings[:3]) + ("; ..." if len(table.warnings) > 3 else ""),
                         "compare with `npu-smi info` by hand; if this release prints a new layout, report it with "
                         "the output of `npu-smi info` (ascend-env doctor --json has every warning)"))
    return out


@check("npu.health", "npu", "every chip reports Health OK; HBM/memory use; processes holding NPUs")
def npu_health(f: dict[str, Any], ctx: Context) -> list[Check]:
    table, why = npu_table(f)
    if table is None:
        if why and why.startswith("npu-smi output not understood"):
            return [Check("npu.health", "npu", UNKNOWN, "NPU health unknown: the npu-smi table could not be read",
                          why, "read it by hand: npu-smi info -t health -i <NPU id> (and report the table's layout)")]
        return _skip("npu.health", "npu", why or "")
    # every chip, and a card npu-smi printed without a chip row (its health is still the card's)
    rows = [(c.npu_id, ch.chip_id, ch.health) for c in table.cards for ch in c.chips]
    rows += [(c.npu_id, None, c.health) for c in table.cards if not c.chips]
    bad = [(n, c, h) for n, c, h in rows if h is not None and h not in ("OK", "Warning")]
    warned = [(n, c, h) for n, c, h in rows if h == "Warning"]
    unknown = [(n, c) for n, c, h in rows if h is None]
    unread = list(table.unread_rows)
    out = []
    gaps = []
    if unknown:
        gaps.append("health unreadable for " + ", ".join(_chip_label(n, c) for n, c in unknown))
    if unread:
        gaps.append(f"{len(unread)} row(s) of the table unreadable ({unread[0]})")
    if not rows:
        gaps.append("npu-smi's table lists no NPU")
    if bad:
        worst = worst_health([h for *_, h in bad])
        n, c, _ = bad[0]
        chip_opt = f" -c {c}" if c is not None else ""
        out.append(Check("npu.health", "npu", FAIL,
                         "unhealthy: " + ", ".join(f"{_chip_label(n, c)} {h}" for n, c, h in bad)
                         + (f"; {'; '.join(gaps)}" if gaps else ""),
                         f"worst: {worst}",
                         f"see the alarm: npu-smi info -t health -i {n}{chip_opt}; then reset the NPU "
                         f"(npu-smi set -t reset -i {n}{chip_opt or ' -c 0'}) or reboot; persistent Critical: "
                         "hardware"))
    elif gaps:
        out.append(Check("npu.health", "npu", UNKNOWN, "NPU health unknown: " + "; ".join(gaps),
                         "a chip whose health cannot be read may be in Alarm; the doctor does not call it OK",
                         "read it by hand: npu-smi info -t health -i <NPU id> (the `-t health` block is "
                         "`Health Status : OK`)"))
    elif warned:
        n, c, _ = warned[0]
        out.append(Check("npu.health", "npu", WARN,
                         "minor alarm: " + ", ".join(f"{_chip_label(n, c)} Warning" for n, c, _ in warned), "",
                         f"see it: npu-smi info -t health -i {n}" + (f" -c {c}" if c is not None else "")))
    else:
        out.append(Check("npu.health", "npu", OK, f"{len(rows)} chip(s) Health OK"))
    full = [(c.npu_id, ch) for c in table.cards for ch in c.chips
            if (ch.hbm_total_mb and ch.hbm_used_mb is not None and ch.hbm_used_mb > 0.9 * ch.hbm_total_mb)
            or (not ch.hbm_total_mb and ch.memory_total_mb and ch.memory_used_mb is not None
                and ch.memory_used_mb > 0.9 * ch.memory_total_mb)]
    if full:
        out.append(Check("npu.memory", "npu", WARN, "NPU memory over 90% used on NPU "
                         + ", ".join(str(n) for n, _ in full), "", "find the holder: npu-smi info (process section)"))
    if table.processes:
        out.append(Check("npu.processes", "npu", WARN, f"{len(table.processes)} process(es) hold NPUs: "
                         + ", ".join(f"pid {p.pid} ({p.name}) on NPU {p.npu_id}" for p in table.processes[:5]),
                         "a new job on those NPUs may run out of memory", "stop them, or pick other devices"))
    return out


# --- CANN --------------------------------------------------------------------------------------------------

@check("cann.toolkit", "cann", "CANN toolkit installed; its version and layout")
def cann_toolkit(f: dict[str, Any], ctx: Context) -> list[Check]:
    c = f.get("cann", {})
    if _err(c):
        return _skip("cann.toolkit", "cann", _err(c) or "")
    tk = c.get("toolkit")
    if not tk and not in_container(f):
        return [Check("cann.toolkit", "cann", OK, "no CANN toolkit on this host: containers carry their own "
                      "(install one here only to run jobs on the host)")]
    if not tk:
        return [Check("cann.toolkit", "cann", FAIL, "no CANN toolkit in this container (looked in "
                      "$ASCEND_TOOLKIT_HOME, /usr/local/Ascend/ascend-toolkit/latest, /usr/local/Ascend/cann)", "",
                      "install it: bash Ascend-cann-toolkit_<ver>_linux-<arch>.run --install --quiet "
                      "(`python -m ascend_env matrix resolve ...` names the version for your driver)")]
    v = toolkit_version(f)
    arch = tk["install_info"].get("arch")
    out = [Check("cann.toolkit", "cann", OK, f"CANN toolkit {v} ({tk['layout']} layout) at {tk['home']}")]
    machine = f.get("system", {}).get("arch")
    if arch and machine and arch != machine:
        out.append(Check("cann.arch", "cann", FAIL, f"toolkit built for {arch} on a {machine} machine", "",
                         f"install Ascend-cann-toolkit_{v}_linux-{machine}.run"))
    if c.get("others"):
        out.append(Check("cann.toolkit.multiple", "cann", WARN, "more than one toolkit found: "
                         + ", ".join([tk["home"], *c["others"]]),
                         "ASCEND_TOOLKIT_HOME decides which one runs", f"source the one you want: {set_env_path(f)}"))
    return out


@check("cann.driver", "cann", "toolkit accepts the driver (compatible_version vs Innerversion, and the matrix)")
def cann_driver(f: dict[str, Any], ctx: Context) -> list[Check]:
    v = toolkit_version(f)
    drv = driver_values(f, "driver")
    if v is None or drv is None:
        return []  # nothing to compare: cann.toolkit / driver.present already say what is missing
    out = []
    tk = toolkit(f) or {}
    r = toolkit_accepts_driver(tk["install_info"].get("compatible_version"), drv.get("Innerversion"))
    if r.ok is False:
        out.append(Check("cann.driver.inner", "cann", FAIL, f"CANN {v} does not accept driver {drv.get('Version')}",
                         r.message, r.fix))
    chip = ctx.chip or detected_chip(f, ctx.matrix)
    if chip:
        res = resolve(ctx.matrix, Request(chip=chip, pins={"cann": v.canonical, "driver": drv.get("Version", "")}))
        if isinstance(res, Conflict):
            first = res.violations[0] if res.violations else None
            out.append(Check("cann.driver.matrix", "cann", FAIL,
                             f"the matrix pairs CANN {v} on {chip} with another driver than {drv.get('Version')}",
                             f"{first.message} [{first.source}]" if first else "",
                             first.fix if first else "upgrade the driver or install a CANN release for this driver"))
    if not out:
        out.append(Check("cann.driver", "cann", OK, f"CANN {v} works with driver {drv.get('Version')}"
                         + ("" if r.ok else " (no compatible_version in the toolkit to cross-check)")))
    return out


@check("cann.kernels", "cann", "kernels (ops) package matches the toolkit version and this chip")
def cann_kernels(f: dict[str, Any], ctx: Context) -> list[Check]:
    v = toolkit_version(f)
    if v is None:
        return []
    c = f["cann"]
    chip = ctx.chip or detected_chip(f, ctx.matrix)
    k = c.get("kernels")
    if not k:
        status = FAIL if chip == "910b" else WARN
        return [Check("cann.kernels", "cann", status, f"no kernels package installed for CANN {v}",
                      "Atlas A2 (910B) training with PyTorch needs the kernels package (ascend-deployer 6.0 guide)",
                      f"bash Ascend-cann-kernels-{(chip or '<chip>').replace('300i-duo', '310p')}_{v}_linux-<arch>.run "
                      "--install --quiet")]
    kv = k["version_info"].get("version_dir") or k["version_info"].get("Version")
    out = []
    try:
        same = Version.parse(kv, "cann") == v
    except VersionError:
        same = False
    if not same:
        out.append(Check("cann.kernels", "cann", FAIL, f"kernels {kv} do not match toolkit {v}", "",
                         f"install the kernels of the same release: Ascend-cann-kernels-<chip>_{v}_linux-<arch>.run "
                         "--install"))
    want = SOC_DIR.get(chip or "")
    socs = c.get("kernel_socs") or []
    if want and socs and want not in socs:
        out.append(Check("cann.kernels.chip", "cann", FAIL, f"kernels are for {', '.join(socs)}, this is a {chip}",
                         "", f"install Ascend-cann-kernels-{chip.replace('300i-duo', '310p')}_{v}_linux-<arch>.run"))
    if not out:
        out.append(Check("cann.kernels", "cann", OK, f"kernels {kv}" + (f" for {', '.join(socs)}" if socs else "")))
    nnal = c.get("nnal")
    if nnal:
        out.append(Check("cann.nnal", "cann", OK, f"NNAL {', '.join(nnal['versions']) or '(no version.info)'}"))
    return out


@check("cann.env", "cann", "set_env.sh sourced: ASCEND_TOOLKIT_HOME, ASCEND_OPP_PATH, LD_LIBRARY_PATH")
def cann_env(f: dict[str, Any], ctx: Context) -> list[Check]:
    tk = toolkit(f)
    if not tk:
        return []
    env = f.get("env", {})
    home = env.get("ASCEND_TOOLKIT_HOME") or env.get("ASCEND_HOME_PATH")
    lib = env.get("LD_LIBRARY_PATH") or ""
    missing = [k for k in ("ASCEND_TOOLKIT_HOME", "ASCEND_OPP_PATH") if not env.get(k)]
    if "lib64" not in lib or not any(p.rstrip("/").endswith("lib64") and "Ascend" in p for p in lib.split(":")):
        missing.append("LD_LIBRARY_PATH (toolkit lib64)")
    if missing:
        return [Check("cann.env", "cann", FAIL, "CANN environment not set: " + ", ".join(missing),
                      "without it frameworks fail with libascendcl.so / libhccl.so not found",
                      f"source {set_env_path(f)}  (add it to ~/.bashrc or the container's environment)")]
    if home and tk.get("env_home_resolved") and tk["env_home_resolved"] != tk["home"]:
        return [Check("cann.env", "cann", WARN, f"ASCEND_TOOLKIT_HOME={home} but the toolkit found is {tk['home']}",
                      "", f"source {set_env_path(f)}")]
    return [Check("cann.env", "cann", OK, "CANN environment set (ASCEND_TOOLKIT_HOME, ASCEND_OPP_PATH, "
                  "LD_LIBRARY_PATH)")]


# --- Python and frameworks ---------------------------------------------------------------------------------

def _environment(py: dict[str, Any]) -> str:
    """' (conda env NAME, PREFIX)' / ' (venv PREFIX)' for the environment the probe found, '' for a bare Python."""
    where = py.get("environment") or {}
    if where.get("kind") == "conda":
        extra = "" if where.get("history", True) else "; no conda-meta/history: not a conda environment"
        return f" (conda env {where.get('name')}, {where.get('prefix')}{extra})"
    if where.get("kind") == "venv":
        return f" (venv {where.get('prefix')})"
    return ""


@check("python.version", "python", "Python within the range the installed CANN supports")
def python_version(f: dict[str, Any], ctx: Context) -> list[Check]:
    py = f.get("python", {})
    if not py or not py.get("python"):
        return _skip("python.version", "python", (py or {}).get("error") or "python not probed")
    env = _environment(py)
    v = toolkit_version(f)
    if v is None:
        return [Check("python.version", "python", OK, f"Python {py['python']}{env} (no CANN to compare with)")]
    res = resolve(ctx.matrix, Request(pins={"cann": v.canonical, "python": _minor(py["python"])}))
    if isinstance(res, Conflict):
        allowed = [sp for r in ctx.matrix.cann_python if any(c.contains(v) for c in r.cann) for sp in r.python]
        rng = " or ".join(sorted({str(sp) for sp in allowed})) or "see `python -m ascend_env matrix show`"
        conda = (py.get("environment") or {}).get("kind") == "conda"
        fix = (f"pin a Python in {rng} (pins.python) and re-run site.yml: the conda provider makes a new environment "
               "with it" if conda else f"use a supported Python (e.g. conda create -n cann python=<one in {rng}>, or "
               "ascend_python_provider: conda)")
        return [Check("python.version", "python", FAIL, f"Python {py['python']}{env} is outside CANN {v}'s range "
                      f"({rng})", "the CANN installer refuses it, and te/hccl wheels will not import", fix)]
    return [Check("python.version", "python", OK, f"Python {py['python']}{env} is supported by CANN {v}")]


def _minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


@check("frameworks.versions", "frameworks", "torch/torch_npu, MindSpore/MindFormers versions against the matrix")
def framework_versions(f: dict[str, Any], ctx: Context) -> list[Check]:
    py = f.get("python", {})
    pk = (py or {}).get("packages") or {}
    names = [n for n in ("torch", "torch_npu", "mindspore", "mindformers") if n in pk]
    if not names:
        return [Check("frameworks.versions", "frameworks", OK, "no MindSpore or torch installed in "
                      f"{(py or {}).get('executable', 'this Python')}")]
    pins = {n: _strip_local(pk[n]) for n in names}
    v = toolkit_version(f)
    if v is not None:
        pins["cann"] = v.canonical
    if py.get("python"):
        pins["python"] = _minor(py["python"])
    framework = "torch" if "torch_npu" in names or "torch" in names else "mindspore"
    if "mindspore" in names and "torch_npu" not in names:
        framework = "mindspore"
    try:
        chip = ctx.chip or detected_chip(f, ctx.matrix)
        res = resolve(ctx.matrix, Request(chip=chip, framework=framework, pins=pins))
    except (VersionError, ValueError) as e:
        return _skip("frameworks.versions", "frameworks", str(e))
    label = ", ".join(f"{n} {pk[n]}" for n in names)
    if isinstance(res, Conflict):
        fixes = [x.fix for x in res.violations if x.fix]
        return [Check("frameworks.versions", "frameworks", FAIL, f"{label}: not a consistent stack"
                      + (f" with CANN {v}" if v else ""),
                      " | ".join(f"{x.message} [{x.source}]" for x in res.violations[:3]),
                      fixes[0] if fixes else "pick versions from `python -m ascend_env matrix resolve`")]
    if "torch" in names and "torch_npu" not in names:
        return [Check("frameworks.versions", "frameworks", WARN, f"{label}: torch without torch_npu runs on the CPU",
                      "", f"pip install torch-npu=={res.version('torch_npu')}" if res.version("torch_npu") else "")]
    return [Check("frameworks.versions", "frameworks", OK, f"{label}: consistent" + (f" with CANN {v}" if v else ""))]


def _strip_local(v: str) -> str:
    return v.split("+", 1)[0]


@cache
def framework_errors() -> list[dict[str, Any]]:
    try:
        text = (Path(__file__).resolve().parents[1] / "probe/framework_errors.yaml").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return []
    return list(safe_load(text) or [])


def explain_error(text: str, framework: str) -> dict[str, Any] | None:
    for row in framework_errors():
        if row.get("framework") not in (framework, "any", None):
            continue
        if re.search(row["pattern"], text):
            return row
    return None


@check("frameworks.import", "frameworks", "frameworks import and see the NPU (in a child Python)")
def framework_import(f: dict[str, Any], ctx: Context) -> list[Check]:
    py = f.get("python", {}) or {}
    imports = py.get("imports") or {}
    if not imports:
        return []
    out = []
    for name, r in imports.items():
        fw = "torch" if name == "torch_npu" else "mindspore"
        text = (r.get("stderr") or "") + "\n" + (r.get("stdout") or "")
        if (r.get("rc") == 0 and "npu_available True" in text) or (name == "mindspore" and r.get("rc") == 0):
            out.append(Check(f"frameworks.import.{name}", "frameworks", OK, f"{name} imports and targets the NPU"))
            continue
        if r.get("error"):
            out.append(Check(f"frameworks.import.{name}", "frameworks", SKIP, f"could not check: {r['error']}"))
            continue
        known = explain_error(text, fw)
        last = [ln for ln in text.strip().splitlines() if ln.strip()]
        line = last[-1] if last else "no output"
        if known:
            hit = next((ln for ln in last if re.search(known["pattern"], ln)), line)
            out.append(Check(f"frameworks.import.{name}", "frameworks", FAIL, f"{name}: {known['cause']}",
                             hit.strip(), known["fix"]))
        elif r.get("rc") == 0:
            out.append(Check(f"frameworks.import.{name}", "frameworks", FAIL, f"{name} imports but sees no NPU", line,
                             f"source {set_env_path(f)} and check the device nodes (doctor's devices group)"))
        else:
            out.append(Check(f"frameworks.import.{name}", "frameworks", FAIL, f"import {name} failed", line,
                             f"source {set_env_path(f)}; reinstall {name} at the version `matrix resolve` gives"))
    return out


# --- system ------------------------------------------------------------------------------------------------

GiB = 1 << 30


@check("system.timing", "system", "where the doctor's seconds went: the probe, and each framework import on its own")
def system_timing(f: dict[str, Any], ctx: Context) -> list[Check]:
    imports = ((f.get("python") or {}).get("imports") or {})
    parts = [f"probe {f.get('elapsed_ms', '?')} ms"]
    parts += [f"import {name} {r['elapsed_ms'] / 1000:.2f} s" for name, r in imports.items()
              if isinstance(r, dict) and isinstance(r.get("elapsed_ms"), int)]
    if f.get("elapsed_ms") is None:
        return []
    slow = [n for n, r in imports.items() if isinstance(r, dict) and (r.get("elapsed_ms") or 0) > 10_000]
    if slow:
        return [Check("system.timing", "system", WARN, "; ".join(parts),
                      f"importing {', '.join(slow)} took over 10 s (a cold disk, or a framework initialising devices)",
                      "run the doctor again (a warm cache is faster), or skip the imports: doctor --no-imports")]
    return [Check("system.timing", "system", OK, "; ".join(parts))]


@check("system.disk", "system", "free space on the install path (/usr/local/Ascend) and /dev/shm size")
def system_disk(f: dict[str, Any], ctx: Context) -> list[Check]:
    d = f.get("disk", {})
    if _err(d):
        return _skip("system.disk", "system", _err(d) or "")
    out = []
    ip = d["install_path"]
    free = ip["free_bytes"]
    if free < 10 * GiB:
        out.append(Check("system.disk", "system", FAIL if free < 2 * GiB else WARN,
                         f"only {free / GiB:.2f} GiB free on {ip['path']}",
                         "a CANN toolkit needs about 6 GiB, kernels 3 GiB, NNAL 1 GiB",
                         f"free space or grow the filesystem holding {ip['path']} (df -h {ip['path']})"))
    else:
        out.append(Check("system.disk", "system", OK, f"{free / GiB:.0f} GiB free on {ip['path']}"))
    shm = d.get("shm")
    if shm and in_container(f) and shm["size_bytes"] < GiB:
        out.append(Check("system.shm", "system", WARN, f"/dev/shm is {shm['size_bytes'] >> 20} MiB",
                         "docker's default 64 MiB breaks multi-worker data loading and HCCL",
                         "recreate the container with --shm-size=16g (or --ipc=host)"))
    return out


@check("system.sshd", "system", "sshd does not allow root login with a password")
def system_sshd(f: dict[str, Any], ctx: Context) -> list[Check]:
    s = f.get("sshd", {})
    if _err(s):
        return _skip("system.sshd", "system", _err(s) or "")
    if not s.get("files"):
        return []
    st = s["settings"]
    root = (st.get("permitrootlogin") or {}).get("value", "prohibit-password").lower()
    pw = (st.get("passwordauthentication") or {}).get("value", "yes").lower()
    if root == "yes" and pw == "yes":
        where = st["permitrootlogin"]["file"]
        return [Check("system.sshd", "system", WARN, "sshd allows root login with a password",
                      f"PermitRootLogin yes in {where}, PasswordAuthentication {pw}",
                      "set PermitRootLogin prohibit-password and use keys (the seeds' `PermitRootLogin yes` is the "
                      "risk)")]
    return [Check("system.sshd", "system", OK, f"sshd: PermitRootLogin {root}, PasswordAuthentication {pw}")]


# --- expected stack ----------------------------------------------------------------------------------------

def installed_versions(f: dict[str, Any]) -> dict[str, str]:
    out = {}
    drv, fw = driver_values(f, "driver"), driver_values(f, "firmware")
    if drv and drv.get("Version"):
        out["driver"] = drv["Version"]
    if fw and fw.get("Version"):
        out["firmware"] = fw["Version"]
    v = toolkit_version(f)
    if v:
        out["cann"] = v.canonical
    py = f.get("python") or {}
    if py.get("python"):
        out["python"] = py["python"]
    for k, val in (py.get("packages") or {}).items():
        if k in ("torch", "torch_npu", "mindspore", "mindformers"):
            out[k] = _strip_local(val)
    return out


@check("expect", "expect", "installed versions equal the expected stack (--expect)")
def expect_stack(f: dict[str, Any], ctx: Context) -> list[Check]:
    if not ctx.expect:
        return []
    have = installed_versions(f)
    out = []
    for comp, want in ctx.expect.items():
        got = have.get(comp)
        try:
            match = got is not None and (Version.parse(got, comp) == Version.parse(want, comp)
                                         or (comp == "python" and _minor(got) == _minor(want)))
        except VersionError:
            match = got == want
        if match:
            out.append(Check(f"expect.{comp}", "expect", OK, f"{comp} {got}"))
        else:
            out.append(Check(f"expect.{comp}", "expect", FAIL, f"{comp}: expected {want}, found {got or 'nothing'}",
                             "", f"run ansible-playbook site.yml for this host, or install {comp} {want}"))
    return out


def _registered() -> list[tuple[str, str, str, CheckFn]]:
    """Every check: this module's, the network group's and the launcher group's (which register themselves when
    imported, after these)."""
    from . import launcher, network  # noqa: F401  (imported here: `ascend_env.doctor` itself imports nothing heavy)

    return REGISTRY


def run_checks(facts: dict[str, Any], ctx: Context, only: Iterable[str] | None = None) -> list[Check]:
    wanted = set(only or ())
    out: list[Check] = []
    for cid, group, _doc, fn in _registered():
        if wanted and cid not in wanted and group not in wanted:
            continue
        try:
            out += fn(facts, ctx)
        except Exception as e:
            out.append(Check(cid, group, SKIP, f"could not check: internal error {type(e).__name__}: {e}"))
    return out


def list_checks() -> list[tuple[str, str, str]]:
    return [(cid, group, doc) for cid, group, doc, _ in _registered()]


__all__ = ["FAIL", "GROUPS", "OK", "SKIP", "WARN", "Check", "Context", "explain_error", "list_checks", "parse_bounds",
           "run_checks"]
