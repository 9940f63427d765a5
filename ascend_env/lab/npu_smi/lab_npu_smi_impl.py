"""Simulated ``npu-smi`` for the ascend_env lab (NOT Huawei code; standard library only; Python 3.7+).

Started by ``libdrvdsmi_host.so`` (dsmi_lab.c) as ``python3 <libdir>/lab_npu_smi_impl.py <npu-smi args>``.
This file lives at ``<root>/usr/local/Ascend/driver/lib64/driver/``; ``<root>`` is ``/`` inside a container
that bind-mounts the driver at /usr/local/Ascend/driver.  It reads:

* ``<libdir>/lab-npu-state.json``      the simulated cards (schema: ascend_env/lab/npu_smi_build.py)
* ``<root>/usr/local/Ascend/driver/version.info``   ``Version=`` -> table header and board "Software Version"
* ``<root>/usr/local/Ascend/firmware/version.info`` ``Version=`` -> board "Firmware Version"
* ``<root>/dev/davinci_manager``, ``<root>/dev/davinci<N>`` and ``<root>/.dockerenv``/``<root>/run/.containerenv``

Output formats copy real samples; the source of each is named where it is produced.
"""

import json
import os
import sys

DRIVER_LIB_SUFFIX = os.path.join("usr", "local", "Ascend", "driver", "lib64", "driver")
STATE_NAME = "lab-npu-state.json"
FAMILIES = ("910b", "310p", "300i-duo")

# Real failure when the tool cannot reach the driver (no /dev/davinci_manager, driver not loaded/restarted):
# "dcmi module initialize failed. ret is -8005" (Ascend/mind-cluster: docs/zh FAQ "npu-smi info ... -8005";
# also quoted by several public checker scripts).  -8005 = DCMI_ERR_CODE_INNER_ERR (dcmi_interface_api.h).
DCMI_INIT_FAILED = "dcmi module initialize failed. ret is -8005"
# No public sample of npu-smi's bad "-i" message was found; modelled on the real "Error parameter of -t" form
# plus DCMI_ERR_CODE_INVALID_DEVICE_ID (-8007, dcmi_interface_api.h).
INVALID_ID = "The device id {id} is invalid. ret is -8007"
EXIT_DCMI_FAILED = 1
EXIT_USAGE = 1
EXIT_INVALID_ID = 1

# `npu-smi info -h` of driver 23.0.rc2 on 8x910B1 (https://arthurchiao.art/blog/gpu-advanced-notes-2-zh/,
# mirrored at https://github.com/guevara/read-it-later/issues/11547).
INFO_USAGE = """Usage: npu-smi info <watch|proc|-h|-m|-l|-t type> [Options...]

Commands:
       watch          Show all device's status in scrolling format
       proc           Show device's matrix process status in scrolling format
       -h, --help     Show this help text and exit
       -m             Show all device's mapping information
       -l             Show all device's topology information
       -t type        Show information for type
                      type: board, flash, memory, usages, sensors, temp, power, volt, mac-addr,
                            common, health, product, ecc, ip, sys-time, i2c_check, work-mode,
                            ecc-enable, p2p-enable, ssh-enable, license, customized-info,
                            device-share, nve-level, aicpu-config, pcie-err, mcu-monitor,
                            err-count, boot-area, vnpu-mode, info-vnpu, vnpu-svm, cpu-num-cfg,
                            first-power-on-date, proc-mem, phyid-remap, vnpu-cfg-recover, key-manage,
                            template-info, pkcs-enable, p2p-mem-cfg, pwm-mode, pwm-duty-ratio,
                            boot-select, topo.

Options:
       -i %d          Card ID
       -c %d          Chip ID
       -p %d          Chip Physical ID
"""
# Top-level usage: modelled (no verbatim public sample found); lists the command families of the reference.
TOP_USAGE = """Usage: npu-smi <info|set|clear|upgrade|-h|-v> [Options...]

Commands:
       info           Show information
       set            Set information
       clear          Clear information
       upgrade        Upgrade firmware
       -h, --help     Show this help text and exit
       -v, --version  Show the npu-smi version
"""
KNOWN_TYPES = [
    "board",
    "flash",
    "memory",
    "usages",
    "sensors",
    "temp",
    "power",
    "volt",
    "mac-addr",
    "common",
    "health",
    "product",
    "ecc",
    "ip",
    "sys-time",
    "i2c_check",
    "work-mode",
    "ecc-enable",
    "p2p-enable",
    "ssh-enable",
    "license",
    "customized-info",
    "device-share",
    "nve-level",
    "aicpu-config",
    "pcie-err",
    "mcu-monitor",
    "err-count",
    "boot-area",
    "vnpu-mode",
    "info-vnpu",
    "vnpu-svm",
    "cpu-num-cfg",
    "first-power-on-date",
    "proc-mem",
    "phyid-remap",
    "vnpu-cfg-recover",
    "key-manage",
    "template-info",
    "pkcs-enable",
    "p2p-mem-cfg",
    "pwm-mode",
    "pwm-duty-ratio",
    "boot-select",
    "topo",
]
SUPPORTED_TYPES = ("board", "common", "product", "health")

# Board defaults per family (`npu-smi info -t board -i N` field set: Ascend/mind-cluster:
# docs/en/faultdiag/user_guide/03_collecting_logs.md).  910B ids from a public 910B board sample (0xd802, board
# 0x60, community sample, repository unknown); 300I Duo ids from a public 300I Duo sample (0xd500/0x0110, board
# 0xb1, PCB E, BOM 3, Slot/Class NA, community sample); 310P (300I Pro) subsystem 0x0100 per ascend-deployer's
# npu_info.fact.j2, board id 0x6e from a public 310P3 note.  State "board" keys override these.
BOARD_DEFAULTS = {
    "910b": {
        "board_id": "0x60",
        "pcb_id": "A",
        "bom_id": "1",
        "slot_id": None,
        "class_id": "NA",
        "vendor_id": "0x19E5",
        "device_id": "0xD802",
        "subsystem_vendor_id": "0x19E5",
        "subsystem_device_id": "0x3003",
        "product_type": "Atlas 800T A2",
    },
    "310p": {
        "board_id": "0x6e",
        "pcb_id": "A",
        "bom_id": "1",
        "slot_id": None,
        "class_id": "NA",
        "vendor_id": "0x19E5",
        "device_id": "0xD500",
        "subsystem_vendor_id": "0x0200",
        "subsystem_device_id": "0x0100",
        "product_type": "Atlas 300I Pro",
    },
    "300i-duo": {
        "board_id": "0xb1",
        "pcb_id": "E",
        "bom_id": "3",
        "slot_id": "NA",
        "class_id": "NA",
        "vendor_id": "0x19E5",
        "device_id": "0xD500",
        "subsystem_vendor_id": "0x0200",
        "subsystem_device_id": "0x0110",
        "product_type": "Atlas 300I Duo",
    },
}
# Optional extra lines printed by newer drivers right after "NPU ID" (25.x board samples).
BOARD_EXTRA = (
    ("product_name", "Product Name"),
    ("model", "Model"),
    ("manufacturer", "Manufacturer"),
    ("serial_number", "Serial Number"),
)
AICORE = {"910b": (1800, 800, 20), "310p": (1080, 1080, 8), "300i-duo": (1080, 1080, 8)}  # freq, cur, count


class LabError(Exception):
    def __init__(self, message, code):
        Exception.__init__(self, message)
        self.code = code


def locate():
    libdir = os.path.dirname(os.path.realpath(os.path.abspath(__file__)))
    if not libdir.endswith(os.sep + DRIVER_LIB_SUFFIX):
        raise LabError(f"lab npu-smi: {libdir} is not under <root>/{DRIVER_LIB_SUFFIX}", 127)
    root = libdir[: -len(DRIVER_LIB_SUFFIX)].rstrip(os.sep) or os.sep
    return root, libdir


def read_version(path):
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith("Version="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


class Lab:
    def __init__(self, root, libdir):
        self.root = root
        self.libdir = libdir
        with open(os.path.join(libdir, STATE_NAME)) as handle:
            self.state = json.load(handle)
        self.family = self.state.get("chip", "910b")
        if self.family not in FAMILIES:
            raise LabError(f"lab npu-smi: unknown chip family {self.family!r} in {STATE_NAME}", 127)
        self.driver_version = read_version(self.path("usr/local/Ascend/driver/version.info")) or "NA"
        self.firmware_version = read_version(self.path("usr/local/Ascend/firmware/version.info")) or "NA"

    def path(self, rel):
        return os.path.join(self.root, rel)

    def in_container(self):
        return os.path.exists(self.path(".dockerenv")) or os.path.exists(self.path("run/.containerenv"))

    def driver_reachable(self):
        return os.path.exists(self.path("dev/davinci_manager"))

    def chip_visible(self, chip):
        # Real npu-smi in a container lists only the devices mapped into it (e.g. NPU 6 and 7 only).
        if not self.in_container():
            return True
        return os.path.exists(self.path("dev/davinci{}".format(chip.get("device_id", chip.get("chip_id", 0)))))

    def cards(self):
        """Visible cards as (card, visible_chips); a card with "lost": true fell off the bus and is never shown."""
        result = []
        for card in self.state.get("cards", []):
            if card.get("lost"):
                continue
            chips = [c for c in card.get("chips", []) if self.chip_visible(c)]
            if chips:
                result.append((card, chips))
        return result

    def card(self, npu_id):
        for card, chips in self.cards():
            if card.get("npu_id") == npu_id:
                return card, chips
        raise LabError(INVALID_ID.format(id=npu_id), EXIT_INVALID_ID)


def num(value, na="NA"):
    if value is None:
        return na
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def pair(values):
    values = values or [0, 0]
    return int(values[0]), int(values[1])


# ---------------------------------------------------------------------------------------------------- info table
def border(widths, fill):
    return "+" + "+".join(fill * w for w in widths) + "+"


def row(cells):
    return "|" + "|".join(cells) + "|"


def table_910b(lab):
    """Layout of https://github.com/vllm-project/vllm-ascend/issues/3403 and .../issues/336 (driver 24.1.0)."""
    widths = (27, 15, 52)
    total = sum(widths) + 2
    out = [
        "+" + "-" * total + "+",
        "|" + (" " + (f"npu-smi {lab.driver_version}").ljust(33) + f"Version: {lab.driver_version}").ljust(total) + "|",
        border(widths, "-"),
        "| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|",
        "| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |",
        border(widths, "="),
    ]
    cards = lab.cards()
    for card, chips in cards:
        hp_used, hp_total = pair(card.get("hugepages"))
        for index, chip in enumerate(chips):
            mem_used, mem_total = pair(chip.get("memory"))
            hbm = chip.get("hbm")
            hbm_used, hbm_total = pair(hbm)
            out.append(
                row(
                    [
                        " " + (str(card["npu_id"]).ljust(6) + str(card.get("name", ""))).ljust(26),
                        " " + str(chip.get("health", "OK")).ljust(14),
                        " "
                        + (
                            num(card.get("power") if index == 0 else None, "-").ljust(12)
                            + num(card.get("temp")).ljust(18)
                            + str(hp_used).ljust(5)
                            + "/ "
                            + str(hp_total)
                        ).ljust(51),
                    ]
                )
            )
            out.append(
                row(
                    [
                        " " + str(chip.get("chip_id", 0)).ljust(26),
                        " " + str(card.get("bus_id", "NA")).ljust(14),
                        " "
                        + (
                            str(chip.get("aicore", 0)).ljust(12)
                            + str(mem_used).ljust(5)
                            + "/ "
                            + str(mem_total).ljust(11)
                            + str(hbm_used).ljust(5)
                            + "/ "
                            + str(hbm_total)
                        ).ljust(51),
                    ]
                )
            )
            out.append(border(widths, "=") if index == len(chips) - 1 else "+" + "-" * total + "+")
    out += processes_section(lab, cards, widths, ("NPU     Chip", 8, 18), (14, 25, 24))
    return out


def table_310(lab):
    """Layout of https://github.com/Ascend/pytorch/issues/94 and https://github.com/Syllo/nvtop/issues/421."""
    widths = (31, 17, 54)
    total = sum(widths) + 2
    out = [
        "+" + "-" * total + "+",
        "|" + (" " + (f"npu-smi {lab.driver_version}").ljust(49) + f"Version: {lab.driver_version}").ljust(total) + "|",
        border(widths, "-"),
        "| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |",
        "| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |",
        border(widths, "="),
    ]
    cards = lab.cards()
    for card, chips in cards:
        hp_used, hp_total = pair(card.get("hugepages"))
        for index, chip in enumerate(chips):
            mem_used, mem_total = pair(chip.get("memory"))
            out.append(
                row(
                    [
                        " " + (str(card["npu_id"]).ljust(8) + str(card.get("name", ""))).ljust(30),
                        " " + str(chip.get("health", "OK")).ljust(16),
                        " "
                        + (
                            num(card.get("power")).ljust(13)
                            + num(card.get("temp")).ljust(18)
                            + str(hp_used).ljust(6)
                            + "/ "
                            + str(hp_total)
                        ).ljust(53),
                    ]
                )
            )
            out.append(
                row(
                    [
                        " " + (str(chip.get("chip_id", 0)).ljust(8) + str(chip.get("device_id", 0))).ljust(30),
                        " " + str(card.get("bus_id", "NA")).ljust(16),
                        " "
                        + (str(chip.get("aicore", 0)).ljust(13) + str(mem_used).ljust(5) + "/ " + str(mem_total)).ljust(
                            53
                        ),
                    ]
                )
            )
            out.append(border(widths, "=") if index == len(chips) - 1 else border(widths, "-"))
    out += processes_section(lab, cards, widths, ("NPU     Chip", 8, 22), (16, 25, 26))
    return out


def shown_processes(lab, card, visible):
    """The processes of the state on the visible chips, as npu-smi shows them.  On the host: only those still running
    (the driver drops a process that exits), named by the process itself (``/proc/<pid>/comm``).  In a container:
    every one, by its host pid and with an empty name -- the container cannot see the host's pids, as the 25.3.rc1
    table read inside a container shows (https://github.com/vllm-project/vllm-ascend/issues/4266)."""
    out = []
    for proc in card.get("processes", []):
        if proc.get("chip_id", 0) not in visible:
            continue
        proc = dict(proc)
        if lab.in_container():
            proc["name"] = ""
        else:
            try:
                with open("/proc/{}/comm".format(int(proc.get("pid", 0)))) as handle:
                    proc["name"] = handle.read().strip()
            except (OSError, ValueError):
                continue  # not running any more: the driver no longer lists it
        out.append(proc)
    return out


def processes_section(lab, cards, widths, head, proc_widths):
    """Process section; "No running processes found in NPU N" per idle card as in vllm-ascend#336."""
    total = sum(widths) + 2
    pid_w, name_w, mem_w = proc_widths
    out = [
        border(widths, "-"),
        row(
            [
                " NPU     Chip".ljust(widths[0]),
                " Process id".ljust(widths[1]),
                " Process name".ljust(name_w + 1),
                " Process memory(MB)".ljust(mem_w + 1),
            ]
        ),
        border(widths, "="),
    ]
    for card, chips in cards:
        visible = set(c.get("chip_id") for c in chips)
        procs = shown_processes(lab, card, visible)
        if not procs:
            out.append("|" + (" No running processes found in NPU {}".format(card["npu_id"])).ljust(total) + "|")
        for proc in procs:
            out.append(
                row(
                    [
                        " " + (str(card["npu_id"]).ljust(8) + str(proc.get("chip_id", 0))).ljust(widths[0] - 1),
                        " " + str(proc.get("pid", 0)).ljust(pid_w),
                        " " + str(proc.get("name", "")).ljust(name_w),
                        " " + str(proc.get("memory", 0)).ljust(mem_w),
                    ]
                )
            )
        out.append(border(widths, "="))
    return out


# ---------------------------------------------------------------------------------------------------- -m and -t
def columns(*values):
    """`npu-smi info -m` pads every column but the last to 31 characters."""
    return "".join(str(v).ljust(31) for v in values[:-1]) + str(values[-1])


def mapping(lab):
    """`npu-smi info -m` columns as in gpustack/gpustack: tests/detectors/npu_smi/data/*_mapping.txt."""
    out = [columns("NPU ID", "Chip ID", "Chip Logic ID", "Chip Name")]
    for card, chips in lab.cards():
        for chip in chips:
            name = card.get("chip_name") or "Ascend" + str(card.get("name", ""))
            out.append(columns(card["npu_id"], chip.get("chip_id", 0), chip.get("device_id", 0), name))
        if lab.family != "910b":  # 310/310P cards list their MCU with logic id "-" (same gpustack sample)
            out.append(columns(card["npu_id"], len(card.get("chips", [])), "-", "Mcu"))
    return out


def kv(key, value):
    return "        " + str(key).ljust(31) + ": " + str(value)


def board(lab, card, chips):
    ids = dict(BOARD_DEFAULTS[lab.family])
    ids.update(lab.state.get("board") or {})
    ids.update(card.get("board") or {})
    slot = ids.get("slot_id")
    out = [kv("NPU ID", card["npu_id"])]
    out += [kv(label, ids[key]) for key, label in BOARD_EXTRA if ids.get(key)]
    out += [
        kv("Software Version", lab.driver_version),
        kv("Firmware Version", lab.firmware_version),
        kv("Compatibility", ids.get("compatibility", "OK")),
        kv("Board ID", ids["board_id"]),
        kv("PCB ID", ids["pcb_id"]),
        kv("BOM ID", ids["bom_id"]),
        kv("PCIe Bus Info", card.get("bus_id", "NA")),
        kv("Slot ID", lab.state.get("cards", []).index(card) if slot is None else slot),
        kv("Class ID", ids["class_id"]),
        kv("PCI Vendor ID", ids["vendor_id"]),
        kv("PCI Device ID", ids["device_id"]),
        kv("Subsystem Vendor ID", ids["subsystem_vendor_id"]),
        kv("Subsystem Device ID", ids["subsystem_device_id"]),
        kv("Chip Count", len(card.get("chips", []))),
    ]
    return out


def percent(values):
    used, total = pair(values)
    return round(used * 100.0 / total) if total else 0


def common(lab, card, chips):
    """`-t common -i N`: per-chip sections as in https://arthurchiao.art/blog/gpu-advanced-notes-2-zh/ (23.0.rc2)."""
    freq, cur, count = AICORE[lab.family]
    out = [kv("NPU ID", card["npu_id"]), kv("Chip Count", len(card.get("chips", [])))]
    for chip in chips:
        out += ["", kv("Chip ID", chip.get("chip_id", 0)), kv("Memory Usage Rate(%)", percent(chip.get("memory")))]
        if chip.get("hbm") is not None:
            out.append(kv("HBM Usage Rate(%)", percent(chip.get("hbm"))))
        out += [
            kv("Aicore Usage Rate(%)", chip.get("aicore", 0)),
            kv("Aicore Freq(MHZ)", freq),
            kv("Aicore curFreq(MHZ)", cur),
            kv("Aicore Count", count),
            kv("Temperature(C)", num(card.get("temp"))),
            kv("NPU Real-time Power(W)", num(card.get("power"))),
        ]
    return out


def product(lab, card, chips):
    # Consumers read a single "key : value" line (ascend-deployer checks "300i"/"300v" in it; other tools read
    # "Product Type"); no verbatim public sample was found, the field name follows those consumers.
    ids = dict(BOARD_DEFAULTS[lab.family])
    ids.update(lab.state.get("board") or {})
    return [kv("Product Type", ids["product_type"])]


def health(lab, card, chips):
    """`-t health -i N`: https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/npusmi_027.html"""
    out = [kv("NPU ID", card["npu_id"]), kv("Chip Count", len(card.get("chips", [])))]
    for chip in chips:
        out += ["", kv("Chip ID", chip.get("chip_id", 0)), kv("Health", chip.get("health", "OK"))]
    return out


RENDER = {"board": board, "common": common, "product": product, "health": health}


def parse_options(args):
    opts = {}
    index = 0
    while index < len(args):
        flag = args[index]
        if flag in ("-t", "-i", "-c", "-p") and index + 1 < len(args):
            opts[flag] = args[index + 1]
            index += 2
        else:
            raise LabError(f"Error parameter of {flag}\n{INFO_USAGE}", EXIT_USAGE)
    return opts


def info(lab, args):
    if args[:1] in (["-h"], ["--help"]):
        return INFO_USAGE.rstrip("\n").split("\n")
    if not lab.driver_reachable():
        raise LabError(DCMI_INIT_FAILED, EXIT_DCMI_FAILED)
    if not args:
        return table_910b(lab) if lab.family == "910b" else table_310(lab)
    if args == ["-m"]:
        return mapping(lab)
    opts = parse_options(args)
    kind = opts.get("-t")
    # Real reply to an unknown type (seen in a public unit test): "Error parameter of -t" then the usage.
    if kind not in KNOWN_TYPES:
        raise LabError(f"Error parameter of -t\n{INFO_USAGE}", EXIT_USAGE)
    if kind not in SUPPORTED_TYPES:
        raise LabError(
            "lab npu-smi: '-t {}' is not simulated (supported: {})".format(kind, ", ".join(SUPPORTED_TYPES)), EXIT_USAGE
        )
    if "-i" not in opts:
        raise LabError(f"Error parameter of -i\n{INFO_USAGE}", EXIT_USAGE)
    try:
        npu_id = int(opts["-i"])
    except ValueError:
        raise LabError(INVALID_ID.format(id=opts["-i"]), EXIT_INVALID_ID) from None
    card, chips = lab.card(npu_id)
    if "-c" in opts:
        chips = [c for c in chips if str(c.get("chip_id")) == opts["-c"]]
        if not chips:
            raise LabError(INVALID_ID.format(id=npu_id), EXIT_INVALID_ID)
    return RENDER[kind](lab, card, chips)


def main(argv):
    prog = os.environ.get("LAB_NPU_SMI_ARGV0") or "npu-smi"
    try:
        root, libdir = locate()
        lab = Lab(root, libdir)
        if not argv or argv[0] in ("-h", "--help"):
            lines = TOP_USAGE.rstrip("\n").split("\n")
        elif argv[0] in ("-v", "--version"):
            lines = [f"npu-smi version: {lab.driver_version}"]
        elif argv[0] == "info":
            lines = info(lab, argv[1:])
        else:
            raise LabError(f"{prog}: '{argv[0]}' is not simulated\n{TOP_USAGE}", EXIT_USAGE)
    except LabError as err:
        # npu-smi prints its errors on stdout (scripts grep `npu-smi info 2>&1`); mirror that.
        sys.stdout.write(str(err).rstrip("\n") + "\n")
        return err.code
    except (OSError, ValueError) as err:
        sys.stderr.write(f"{prog}: lab state unreadable: {err}\n")
        return 127
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
