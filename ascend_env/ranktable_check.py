"""Does HCCL load this rank table?  HCCL's own rules for ``RANK_TABLE_FILE`` (``hccl.json``), one by one.

Pure: a parsed JSON document (and the chip it is for, when known) in, the findings out.  Each rule below names
where it comes from; docs/multinode.md lists them.  Sources (the parser is the authority on what HCCL accepts; the
user guide where the parser is silent or the guide is stricter and says so):

* HCCL's parser, ``hicann/hcomm`` (read at the mirror xiaobingling93-pixel/cann-hcomm@b5f3e5be):
  ``src/framework/common/src/config.cc`` (``CfgGetClusterInfo``, ``CheckRankListInfo``, ``CheckRankIpFamily``,
  ``CheckDeviceId``, ``CheckDeviceNumValid``), ``src/framework/common/src/topo/topoinfo_ranktableParser.cc``
  (``LoadFile``, ``RefreshStatus``, ``GetRanktableVersion``, ``GetJsonProperty``, ``CheckUniquePara``),
  ``topoinfo_ranktableConcise.cc`` (versions 1.0 and 1.2: ``GetServerList``, ``GetSingleServer``,
  ``GetDeviceList``, ``GetSingleDevice``, ``GetSingleDeviceIp``, ``GetSingleDevicePort``, ``GetSuperPodList``,
  ``CheckSuperPodInfo``), ``src/platform/common/hccl_ip_address.cc`` (``SetReadableAddress``: ``inet_pton``),
  ``src/platform/common/device_capacity.cc`` (``GetMaxDevNum``), ``src/pub_inc/hccl_common.h``
  (``HCCL_AISERVER_DEVICE_NUM``), ``topoinfo_ranktableParser_pub.h`` (``SERVERID_MAX_LENGTH``, versions);
* HCCL's user guide, ``hicann/hccl`` docs/zh/user_guide (@09300b70): ``cluster_info_config/rank_table_config_a2.md``,
  ``rank_table_config_a3.md``, ``rank_table_config_910.md``, ``rank_table_config_300i_duo.md``,
  ``rank_table_config_a5.md``, ``fault_diagnosis/rank_table_load_fail.md``;
* MindSpore's rank table tutorial (mindspore-ai/docs: tutorials/source_en/parallel/rank_table.md): the rank_id order
  follows the dictionary order of server_id (a MindSpore rule, reported as a warning: HCCL does not check it).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import AscendEnvError

PARSER = "hcomm topoinfo_ranktableConcise.cc"
CONFIG = "hcomm config.cc"
BASE = "hcomm topoinfo_ranktableParser.cc"
GUIDE = "HCCL guide rank_table_config"
FORMATS = ("1.0", "1.2")          # HCCL_CLUSTER_VERSION, SUPERPOD_CLUSTER_VERSION (topoinfo_ranktableParser_pub.h)
SERVER_ID_MAX = 64                # SERVERID_MAX_LENGTH (topoinfo_ranktableParser_pub.h)
NAME_MAX = 127                    # GROUP_NAME_MAX_LEN (hccl_common.h): super_pod_id (CheckUniquePara)
U32_MAX = 0xFFFFFFFF              # SalStrToULong refuses anything larger
PORT_MAX = 65535                  # MAX_PORT_NUMBER; 0 is HCCL_SOCKET_PORT_RANGE_AUTO, refused


class RankTableFormatError(AscendEnvError, ValueError):
    """The file is a rank table in a format ascend-env does not check (exit 2), or no rank table at all."""


@dataclass(frozen=True)
class HcclChip:
    """What HCCL's parser does differently per device type (``DevType``)."""

    key: str
    name: str
    devices: int          # device_id in [0, devices-1]
    same_count: bool      # config.cc CheckDeviceNumValid: every server has the same number of devices
    source: str


# device_id bound: GetSingleDevice -- 310P3, 910B and 910_93 up to GetMaxDevNum() - 1 (32 on 310P3, 16 otherwise:
# device_capacity.cc), every other chip up to HCCL_AISERVER_DEVICE_NUM - 1 (7).  Device counts: CheckDeviceNumValid
# returns early for DEV_TYPE_910B and DEV_TYPE_910_93 ("不对910B进行Server间卡数一致性的校验"), so A2 and A3 load
# servers with different numbers of devices (multiModuleDiffDeviceNumMode); 910 and 310P do not.
CHIPS: dict[str, HcclChip] = {
    "910": HcclChip("910", "Atlas training series (Ascend 910)", 8, True,
                    "GetSingleDevice: device_id > HCCL_AISERVER_DEVICE_NUM - 1; CheckDeviceNumValid"),
    "910b": HcclChip("910b", "Atlas A2 (Ascend 910B)", 16, False,
                     "GetSingleDevice: device_id > GetMaxDevNum() - 1 (16); CheckDeviceNumValid skips 910B"),
    "a3": HcclChip("a3", "Atlas A3 (Ascend 910_93)", 16, False,
                   "GetSingleDevice: device_id > GetMaxDevNum() - 1 (16); CheckDeviceNumValid skips 910_93"),
    "310p": HcclChip("310p", "Atlas 300I Duo / 310P", 32, True,
                     "GetSingleDevice: device_id > GetMaxDevNum() - 1 (32 on 310P3); CheckDeviceNumValid"),
}
ALIASES = {"910": "910", "910a": "910", "ascend910": "910", "atlas-training": "910",
           "910b": "910b", "ascend910b": "910b", "a2": "910b", "atlas-a2": "910b",
           "a3": "a3", "910_93": "a3", "910c": "a3", "ascend910_93": "a3", "atlas-a3": "a3",
           "310p": "310p", "310p3": "310p", "300i-duo": "310p", "300iduo": "310p", "atlas-300i-duo": "310p",
           "300i-pro": "310p"}
# Without a chip: device ids up to 15 (the bound of every chip but 310P3, GetMaxDevNum's default, and of A2/A3, the
# chips the matrix gives a rank table format), and the stricter rules where chips differ (equal device counts,
# device_ip on every device of a multi-server table); --chip applies one chip's rules exactly.
UNKNOWN = HcclChip("", "an unnamed chip (the strictest of HCCL's per-chip rules, device ids 0-15)", 16, True,
                   "GetSingleDevice / CheckDeviceNumValid per chip")


def chip_named(name: str | None) -> HcclChip | None:
    """The chip for ``--chip`` (None: not given); RankTableFormatError names the known spellings."""
    if name in (None, "", "auto"):
        return None
    key = ALIASES.get(str(name).strip().lower().replace(" ", "-"))
    if key is None:
        raise RankTableFormatError(f"--chip {name!r}: not a chip HCCL reads rank tables on; use one of "
                                   f"{', '.join(CHIPS)} (910 = Atlas training, 910b = Atlas A2, a3 = Atlas A3, "
                                   "310p = Atlas 300I Duo)")
    return CHIPS[key]


@dataclass(frozen=True)
class Finding:
    where: str
    message: str          # what is wrong, and the fix
    source: str           # the rule's origin
    error: bool = True    # False: a warning (HCCL loads the table)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Report:
    version: str | None = None
    chip: HcclChip | None = None
    servers: int = 0
    ranks: int = 0
    findings: list[Finding] = field(default_factory=list)
    unsupported: str | None = None     # set: a format ascend-env does not check, and what to do

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.error]

    @property
    def exit_code(self) -> int:
        """0 HCCL loads it, 1 HCCL refuses it, 2 a format ascend-env does not check."""
        return 2 if self.unsupported else 1 if self.errors else 0


# -- reading the file ----------------------------------------------------------------------------------------------

def load_text(text: str) -> tuple[Any, str | None]:
    """The JSON document, or None and why HCCL's reader (nlohmann::json, topoinfo_ranktableParser.cc ReadFile /
    LoadString: "load file to json fail", EI0004) refuses the text."""
    if text.startswith("\ufeff"):      # nlohmann::json skips a UTF-8 byte order mark
        text = text[1:]
    if not text.strip():
        return None, "the file is empty (HCCL: json file length is zero)"
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "not JSON HCCL can read: nested thousands of levels deep"
    except ValueError as e:
        why = f"not JSON ({e})"
        if re.search(r"(^|[\s,{\[\]}])//", text, re.M) or "/*" in text:
            why += (": it has // comments, which HCCL's JSON reader rejects; the guide's samples carry them "
                    "for reading only (\"实际使用时，请删除JSON文件中的注释\"): delete every comment")
        elif re.search(r"^\s*\.\.\.\s*,?\s*$", text, re.M):
            why += ": it has `...` where entries were left out (a documentation sample); write every entry out"
        return None, why


# -- values --------------------------------------------------------------------------------------------------------

def _decimal(value: str) -> int | None:
    """HCCL reads numbers with SalStrToULong (std::stoull, base 10, at most 2^32-1); the guide: "请配置为整数"."""
    return int(value) if re.fullmatch(r"[0-9]+", value) and int(value) <= U32_MAX else None


def ip_family(text: str) -> int | None:
    """4 or 6 as HcclIpAddress::SetReadableAddress reads an address (two or more ':' make it IPv6, an optional
    %interface suffix, inet_pton for the rest); None when it refuses it."""
    cut = text.find("%")
    if cut == 0 or (cut >= 0 and cut == len(text) - 1):
        return None
    ip = text if cut < 0 else text[:cut]
    try:
        if ip.count(":") >= 2:
            ipaddress.IPv6Address(ip)
            return 6
        ipaddress.IPv4Address(ip)        # like inet_pton: four decimal parts 0-255, no leading zeros
        return 4
    except ValueError:
        return None


def _bad_ip(value: str, key: str) -> str:
    if re.search(r"[*xX]", value) and re.search(r"[.:]", value):
        return (f"{key} {value!r} is a placeholder (documentation samples mask addresses), not an address: HCCL "
                f"refuses it (\"is not a valid ip address\"); put the port's address (hccn_tool -i <device_id> -ip "
                f"-g, or address_<device_id> in /etc/hccn.conf)")
    return (f"{key} {value!r} is not an IPv4 or IPv6 address: HCCL refuses it (\"is not a valid ip address\", "
            f"EI0014); put the port's address (hccn_tool -i <device_id> -ip -g)")


@dataclass
class _Tally:
    """What the rules across servers need, gathered server by server."""

    multi: bool                         # more than one server
    chip: HcclChip
    pod_count: int                      # super pods in super_pod_list
    ids: dict[str, int] = field(default_factory=dict)                   # server_id -> its index
    ranks: list[tuple[int, str, str]] = field(default_factory=list)     # (rank, server_id, where)
    per_server: dict[str, list[int]] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)                   # device IP -> where
    families: dict[str, set[int]] = field(default_factory=lambda: {"device_ip": set(), "host_ip": set()})
    ip_counts: set[int] = field(default_factory=set)
    host_deploy: list[bool] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)               # server_id -> its devices


class _Checker:
    def __init__(self, table: dict[str, Any], chip: HcclChip | None) -> None:
        self.t = table
        self.chip = chip
        self.r = Report(version=table.get("version") if isinstance(table.get("version"), str) else None, chip=chip)

    def err(self, where: str, message: str, source: str) -> None:
        self.r.findings.append(Finding(where, message, source))

    def warn(self, where: str, message: str, source: str) -> None:
        self.r.findings.append(Finding(where, message, source, error=False))

    def string(self, obj: dict[str, Any], key: str, where: str, required: bool) -> str | None:
        """A property HCCL reads as a string (GetJsonProperty / GetJsonArrayMemberProperty: a missing required one
        is EI0017, a non-string one "is not string!")."""
        if key not in obj:
            if required:
                self.err(where, f"{key} is missing; HCCL requires it", f"{BASE} GetJsonArrayMemberProperty")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.err(where, f"{key} is {json.dumps(value)[:40]}, a JSON {type(value).__name__}: HCCL reads only "
                            f"strings (\"json object property value of Name[{key}] is not string\"); write it "
                            f"as \"{value}\"", f"{BASE} GetJsonArrayMemberProperty")
            return None
        return value

    def port(self, obj: dict[str, Any], key: str, where: str) -> None:
        # GetSingleDevicePort / GetSingleDeviceHostPort / GetSingleBackupDevicePort: optional; 0 is the reserved
        # HCCL_SOCKET_PORT_RANGE_AUTO, above 65535 "exceed max port number"; the guides: [1,1023] are system ports
        value = self.string(obj, key, where, required=False)
        if value is None:
            return
        n = _decimal(value)
        if n is None or not 1 <= n <= PORT_MAX:
            self.err(where, f"{key} {value!r} is not a port 1-65535: HCCL refuses it; use a free port such as "
                            "16666", f"{PARSER} GetSingleDevicePort")
        elif n <= 1023:
            self.warn(where, f"{key} {n} is a system port; the guide asks for one above 1023",
                      f"{GUIDE}_a2.md device_port")

    # -- the table ----------------------------------------------------------------------------------------------

    def run(self) -> Report:
        t = self.t
        # status: RefreshStatus reads it as a required string; LoadFile waits (1 s steps) until it is "completed"
        # and gives up after HCCL_RANKTABLE_TIMEOUT_S (30 min); the guides: completed / initializing
        status = self.string(t, "status", "", required=True)
        if status is not None and status != "completed":
            self.err("", f"status {status!r}: HCCL starts only on \"completed\" (it waits up to 30 minutes for it, "
                         "then fails); write \"status\": \"completed\" once the table is whole",
                     f"{BASE} LoadFile / RefreshStatus")
        servers = t.get("server_list")
        # server_list: GetJsonProperty(..., false) -- required, and "size is zero" is refused
        if not isinstance(servers, list) or not servers:
            self.err("", "server_list is missing or empty; HCCL needs every server of the job in it",
                     f"{PARSER} GetServerList")
            return self.r
        self.r.servers = len(servers)
        self._server_count(servers)
        self._servers(servers)
        return self.r

    def _server_count(self, servers: list[Any]) -> None:
        # GetServerList: server_count is optional (missing: the list's length, with a warning); when present it
        # must equal the list's length and not be 0.  The A2 / 910 / 300I Duo guides call it required, A3's optional.
        if "server_count" not in self.t:
            self.warn("", f"server_count is missing: HCCL takes the list's length ({len(servers)}); the A2, 910 "
                          f"and 300I Duo guides ask for it: add \"server_count\": \"{len(servers)}\"",
                      f"{PARSER} GetServerList; {GUIDE}_a2.md")
            return
        value = self.string(self.t, "server_count", "", required=False)
        if value is None:
            return
        n = _decimal(value)
        if n is None or n != len(servers):
            self.err("", f"server_count {value!r} but server_list has {len(servers)} server(s): HCCL refuses it "
                         f"(\"serverList size neq server num\"); write \"server_count\": \"{len(servers)}\"",
                     f"{PARSER} GetServerList")

    def _servers(self, servers: list[Any]) -> None:
        chip = self.chip or UNKNOWN
        pods = self._super_pods(servers) if self.r.version == "1.2" else {}
        tally = _Tally(multi=len(servers) > 1, chip=chip, pod_count=len({p for p in pods.values() if p is not None}))
        for i, s in enumerate(servers):
            self._server(i, s, tally)
        self.r.ranks = sum(tally.counts.values())
        self._across_servers(tally)
        if self.r.version == "1.2" and pods:
            self._pod_order(servers, pods)

    def _server(self, i: int, s: Any, tally: _Tally) -> None:
        """One entry of server_list: its server_id, host_ip and devices, gathered into ``tally``."""
        where = f"server_list[{i}]"
        if not isinstance(s, dict):
            self.err(where, f"is {json.dumps(s)[:40]}, not an object with server_id and device",
                     f"{PARSER} GetSingleServer")
            return
        sid = self._server_id(s, i, tally.ids)
        if sid is not None:
            where = f"server {sid}"
        sid_key = sid if sid is not None else f"#{i}"
        host_ip = self._host_ip(s, where, tally.families)
        devices = s.get("device")
        # GetDeviceList: "device" is required, an array, and "deviceList size is zero" is refused
        if not isinstance(devices, list) or not devices:
            self.err(where, "has no devices (\"device\" is missing, empty or not a list): HCCL refuses a server "
                            "without devices; list its NPUs or leave the server out", f"{PARSER} GetDeviceList")
            return
        tally.counts[sid_key] = len(devices)
        seen_ids: dict[int, int] = {}
        for j, d in enumerate(devices):
            dwhere = f"{where} device[{j}]"
            if not isinstance(d, dict):
                self.err(dwhere, f"is {json.dumps(d)[:40]}, not an object with device_id, device_ip and "
                                 "rank_id: HCCL refuses it (\"has no property called rank_id\")",
                         f"{BASE} GetJsonArrayMemberProperty")
                continue
            self._device(d, dwhere, tally.chip, seen_ids, j)
            self._rank_id(d, dwhere, sid_key, tally)
            parts = self._device_ip(d, dwhere, tally.multi, tally.chip, host_ip, tally.pod_count, tally.ips,
                                    tally.families)
            if parts is not None:
                tally.ip_counts.add(parts)
            tally.host_deploy.append(host_ip is not None and not str(d.get("device_ip") or ""))
            self._device_extras(d, where, dwhere, j)

    def _server_id(self, s: dict[str, Any], i: int, ids: dict[str, int]) -> str | None:
        """The server's server_id (None when it has none HCCL reads); ``ids``: server_id -> its index."""
        sid = self.string(s, "server_id", f"server_list[{i}]", required=True)
        if sid is None:
            return None
        where = f"server {sid}"
        # GetSingleServer: not empty, at most SERVERID_MAX_LENGTH, unique (CheckUniqueAndInsertPool)
        if not sid:
            self.err(f"server_list[{i}]", "server_id is empty: HCCL refuses it; use the host's address",
                     f"{PARSER} GetSingleServer")
        elif len(sid) > SERVER_ID_MAX:
            self.err(where, f"server_id is {len(sid)} characters long; HCCL takes at most {SERVER_ID_MAX}",
                     f"{PARSER} GetSingleServer (SERVERID_MAX_LENGTH)")
        elif sid in ids:
            self.err(where, f"server_id {sid!r} is also server_list[{ids[sid]}]'s: HCCL refuses a server_id "
                            "twice (\"is already exist\"); give every server its own (its address)",
                     f"{BASE} CheckUniqueAndInsertPool")
        else:
            ids[sid] = i
        return sid

    def _host_ip(self, s: dict[str, Any], where: str, families: dict[str, set[int]]) -> str | None:
        host_ip = self.string(s, "host_ip", where, required=False)
        if host_ip is not None:
            # GetSingleServer: ConvertIpAddress; the guides: "要求为常规IPv4格式"
            fam = ip_family(host_ip)
            if fam is None:
                self.err(where, _bad_ip(host_ip, "host_ip"), f"{PARSER} GetSingleServer / ConvertIpAddress")
            else:
                families["host_ip"].add(fam)
        return host_ip

    def _rank_id(self, d: dict[str, Any], where: str, sid_key: str, tally: _Tally) -> None:
        rid = self.string(d, "rank_id", where, required=True)
        if rid is None:
            return
        n = _decimal(rid)
        if n is None:
            self.err(where, f"rank_id {rid!r} is not a non-negative integer: HCCL refuses it (EI0014)",
                     f"{PARSER} GetSingleDevice")
        else:
            tally.ranks.append((n, sid_key, where))
            tally.per_server.setdefault(sid_key, []).append(n)

    def _device_extras(self, d: dict[str, Any], where: str, dwhere: str, j: int) -> None:
        """A device's super_device_id, ports and backup_device_ip."""
        if self.r.version == "1.2":
            self._super_device_id(d, dwhere)
        elif "super_device_id" in d and j == 0:
            self.warn(where, "super_device_id is ignored in a version 1.0 table (HCCL reads it only in "
                             "1.2, the A3 super pod format)", f"{PARSER} GetSingleDevice")
        for key in ("device_port", "host_port", "backup_device_port", "device_vnic_port"):
            self.port(d, key, dwhere)
        backup = d.get("backup_device_ip")
        if isinstance(backup, str) and backup:
            # read only on A3 with AI_CPU expansion and op retry (GetSingleBackupDeviceIp); then refused
            # when it is not an address
            for part in _split(backup):
                if ip_family(part) is None:
                    self.warn(dwhere, _bad_ip(part, "backup_device_ip") + " (HCCL reads it only with "
                              "HCCL_OP_RETRY_ENABLE and AI_CPU expansion on A3)",
                              f"{PARSER} GetSingleBackupDeviceIp")

    def _across_servers(self, tally: _Tally) -> None:
        """The rules that compare servers: device IP counts, NIC deployment, address families, ranks, devices."""
        # GetDeviceList: every device carries the same number of comma-separated device IPs
        if len(tally.ip_counts) > 1:
            self.err("", f"devices carry different numbers of comma-separated device_ip addresses "
                         f"({', '.join(map(str, sorted(tally.ip_counts)))}): HCCL refuses it; give each the same "
                         "number", f"{PARSER} GetDeviceList")
        # CheckNicDeployConsistence: when the first rank uses the host NIC (host_ip, no device_ip) every rank must
        if tally.host_deploy and tally.host_deploy[0] and not all(tally.host_deploy):
            self.err("", "the first server uses its host NIC (host_ip without device_ip) but others do not: HCCL "
                         "refuses mixed NIC deployment (\"hostIp config between ranks is different\")",
                     f"{PARSER} CheckNicDeployConsistence")
        self._families(tally.multi, tally.families)
        self._ranks(tally.ranks, tally.per_server, tally.ids)
        self._device_counts(tally.counts, tally.chip)

    def _device(self, d: dict[str, Any], where: str, chip: HcclChip, seen: dict[int, int], j: int) -> None:
        did = self.string(d, "device_id", where, required=True)
        if did is None:
            return
        n = _decimal(did)
        if n is None:
            self.err(where, f"device_id {did!r} is not a device number (the N of /dev/davinciN)",
                     f"{PARSER} GetSingleDevice (SalStrToULong)")
            return
        if n >= chip.devices:
            other = {c.key: c.devices for c in CHIPS.values() if n < c.devices}
            hint = (f"; valid with --chip {', '.join(other)} if the table is for that chip" if other and
                    self.chip is None else "")
            self.err(where, f"device_id {n} is beyond 0-{chip.devices - 1}, the range HCCL reads on "
                            f"{chip.name}: HCCL refuses it (\"device_id more than maxDeviceNum\"); use the "
                            f"host's own device ids (ls /dev/davinci*){hint}",
                     f"{PARSER} GetSingleDevice; {chip.source}")
        if n in seen:
            self.err(where, f"device_id {n} is also device[{seen[n]}] of this server: HCCL refuses it (\"device id "
                            "repeat for one server\"); each NPU once per server", f"{CONFIG} CheckDeviceId")
        seen.setdefault(n, j)

    def _device_ip(self, d: dict[str, Any], where: str, multi: bool, chip: HcclChip, host_ip: str | None,
                   pods: int, ips: dict[str, str], families: dict[str, set[int]]) -> int | None:
        present = "device_ip" in d
        value = self.string(d, "device_ip", where, required=False) if present else None
        if present and value is None:
            return None
        if not value:
            # GetSingleDeviceIp: on one server device_ip may be missing or "" (a warning; HCCL's own example
            # writes ""); with several servers it is required -- on 910B even "" is refused, on A3 within one
            # super pod the vNIC is used instead (and 1.0 tables count no super pod), and elsewhere a host_ip
            # stands in when the key is missing.  The guides: "多机场景下，device_ip必须配置".
            if not multi:
                return 1
            if chip.key == "a3" and pods <= 1:
                return 1
            if chip.key in ("910", "310p") and not present and host_ip is not None:
                return 1
            self.err(where, "device_ip is " + ("empty" if present else "missing") + " in a table of several "
                            "servers: HCCL refuses it (\"'device_ip' is not set correctly, must be set when multi "
                            "Server\"); put the port's address (hccn_tool -i <device_id> -ip -g)",
                     f"{PARSER} GetSingleDeviceIp; {GUIDE}_a2.md device_ip")
            return 1
        parts = _split(value)
        for part in parts:
            fam = ip_family(part)
            if fam is None:
                self.err(where, _bad_ip(part, "device_ip"), f"{BASE} CheckUniquePara; hccl_ip_address.cc")
                continue
            families["device_ip"].add(fam)
            if part in ips:
                self.err(where, f"device_ip {part} is also {ips[part]}'s: HCCL refuses an address twice (\"is "
                                "already exist\"); every port has its own", f"{BASE} CheckUniqueAndInsertPool")
            ips.setdefault(part, where)
        return len(parts)

    def _super_device_id(self, d: dict[str, Any], where: str) -> None:
        # GetSingleSuperDeviceId: optional (AI Server mode without it); when present a u32 -- "" is the guide's
        # own load-failure case ("super_device_id[] is invalid", rank_table_load_fail.md)
        value = self.string(d, "super_device_id", where, required=False)
        if value is not None and _decimal(value) is None:
            self.err(where, f"super_device_id {value!r} is not a non-negative integer: HCCL refuses it "
                            "(\"super_device_id[] is invalid\"); put the SDID that npu-smi info -t spod-info -i "
                            "<NPU> -c <chip> shows", f"{PARSER} GetSingleSuperDeviceId; rank_table_load_fail.md")

    def _super_pods(self, servers: list[Any]) -> dict[str, str | None]:
        """server_id -> super_pod_id from super_pod_list (empty when there is none: AI Server mode)."""
        if "super_pod_list" not in self.t:
            return {}        # GetSuperPodList: optional ("'super_pod_list' is not found", a warning)
        pods = self.t["super_pod_list"]
        if not isinstance(pods, list) or not pods:
            self.err("", "super_pod_list is not a non-empty list: HCCL refuses it; list each super pod with its "
                         "servers, or leave super_pod_list out (AI Server mode)", f"{PARSER} GetSuperPodList")
            return {}
        known = {_sid(s) for s in servers} - {None}
        member: dict[str, str | None] = {}
        pod_ids: set[str] = set()
        for k, pod in enumerate(pods):
            where = f"super_pod_list[{k}]"
            if not isinstance(pod, dict):
                self.err(where, "is not an object with super_pod_id and server_list", f"{PARSER} GetSingleSuperPod")
                continue
            pid = self._super_pod_id(pod, where, pod_ids)
            self._pod_members(pod, where, pid, known, member)
        self._super_device_ids(servers, member)
        return member

    def _super_pod_id(self, pod: dict[str, Any], where: str, pod_ids: set[str]) -> str | None:
        pid = self.string(pod, "super_pod_id", where, required=True)
        if pid is not None:
            # GetSingleSuperPod: non-empty, unique, at most GROUP_NAME_MAX_LEN (CheckUniquePara)
            if not pid or len(pid) > NAME_MAX:
                self.err(where, f"super_pod_id {pid!r} must be a non-empty string of at most {NAME_MAX} "
                                "characters", f"{PARSER} GetSingleSuperPod")
            elif pid in pod_ids:
                self.err(where, f"super_pod_id {pid!r} appears twice: HCCL refuses it; merge the two entries",
                         f"{BASE} CheckUniqueAndInsertPool")
            pod_ids.add(pid)
        return pid

    def _pod_members(self, pod: dict[str, Any], where: str, pid: str | None, known: set[str | None],
                     member: dict[str, str | None]) -> None:
        """A super pod's server_list into ``member`` (server_id -> super_pod_id): each a server of the table, in
        one super pod."""
        members = pod.get("server_list")
        if not isinstance(members, list) or not members:
            self.err(where, "has no server_list: HCCL refuses it", f"{PARSER} GetSuperPodServerList")
            return
        for m in members:
            msid = m.get("server_id") if isinstance(m, dict) else None
            if not isinstance(msid, str) or msid not in known:
                self.err(where, f"server_id {msid!r} is not in server_list: HCCL refuses it (\"is not found "
                                "in server_list\")", f"{PARSER} GetSingleSuperPodSever")
                continue
            if msid in member and member[msid] != pid:
                self.err(where, f"server {msid} is also in super pod {member[msid]!r}: a server belongs to one "
                                "super pod (HCCL: \"serverNum in super_pod_list and server_list are "
                                "inconsistent\")", f"{PARSER} CheckSuperPodInfo")
            member.setdefault(msid, pid)

    def _super_device_ids(self, servers: list[Any], member: dict[str, str | None]) -> None:
        """CheckSuperPodInfo: every rank needs its super pod and its super_device_id, unique within the super pod."""
        sdids: dict[tuple[str | None, str], str] = {}
        for s in servers:
            if not isinstance(s, dict) or not isinstance(s.get("server_id"), str):
                continue
            sid = s["server_id"]
            if sid not in member:
                self.err(f"server {sid}", "is in no super pod of super_pod_list: HCCL refuses it (\"superPod in "
                                          "rank is invalid\"); add it to its super pod", f"{PARSER} CheckSuperPodInfo")
                continue
            missing = 0
            devices = s.get("device")
            for j, d in enumerate(devices if isinstance(devices, list) else []):
                if not isinstance(d, dict):
                    continue
                sdid = d.get("super_device_id")
                if sdid is None:
                    missing += 1
                elif isinstance(sdid, str) and _decimal(sdid) is not None:
                    key = (member[sid], str(_decimal(sdid)))
                    if key in sdids:
                        self.err(f"server {sid} device[{j}]", f"super_device_id {sdid} is also {sdids[key]}'s in "
                                 f"super pod {member[sid]}: HCCL refuses it (\"is already exist\")",
                                 f"{PARSER} CheckSuperPodInfo")
                    sdids.setdefault(key, f"server {sid} device[{j}]")
            if missing:
                self.err(f"server {sid}", f"{missing} device(s) have no super_device_id while super_pod_list is "
                         "given: HCCL refuses it (\"the configuration may be missing\"); add each SDID (npu-smi "
                         "info -t spod-info -i <NPU> -c <chip>) or leave super_pod_list out (AI Server mode)",
                         f"{PARSER} CheckSuperPodInfo")

    def _pod_order(self, servers: list[Any], pods: dict[str, str | None]) -> None:
        # the A3 guide: "请将属于同一超节点内的AI Server信息配置在一起 ... 不支持交叉配置"
        order = [pods.get(sid) for sid in map(_sid, servers) if sid is not None]
        runs = [p for k, p in enumerate(order) if p is not None and (k == 0 or order[k - 1] != p)]
        if len(runs) != len(set(runs)):
            self.err("", "the servers of a super pod are not listed together in server_list (super pods "
                         f"{' '.join(str(p) for p in runs)}): HCCL does not support interleaving them; list each "
                         "super pod's servers one after another", f"{GUIDE}_a3.md (super_pod_list note)")

    def _families(self, multi: bool, families: dict[str, set[int]]) -> None:
        # CheckRankIpFamily (only when serverNum > 1): one address family for all device IPs, one for all host IPs
        if not multi:
            return
        for key, fams in families.items():
            if len(fams) > 1:
                self.err("", f"{key} mixes IPv4 and IPv6 addresses across servers: HCCL refuses it (\"device ip "
                             "family is not same as others\"); use one family for every server",
                         f"{CONFIG} CheckRankIpFamily")

    def _ranks(self, ranks: list[tuple[int, str, str]], per_server: dict[str, list[int]], ids: dict[str, int]
               ) -> None:
        if not ranks:
            return
        # CheckRankListInfo: sorted by rank_id, the n-th rank must be n -- so 0..N-1, each once
        values = sorted(r for r, _, _ in ranks)
        if values != list(range(len(values))):
            dup = sorted(r for r, n in Counter(values).items() if n > 1)[:5]
            gaps = sorted(set(range(len(values))) - set(values))[:5]
            detail = (f"repeated: {', '.join(map(str, dup))}" if dup else "") + \
                     ("; " if dup and gaps else "") + (f"missing: {', '.join(map(str, gaps))}" if gaps else "")
            self.err("", f"rank_ids must be 0..{len(values) - 1}, each once ({detail}): HCCL refuses the table "
                         "(\"rank_id is less than the communication size and must be unique\", EI0014)",
                     f"{CONFIG} CheckRankListInfo")
            return
        # the guides: "不同AI Server中的rank_id不支持交叉配置" -- each server's rank_ids one contiguous block
        for sid, mine in per_server.items():
            mine = sorted(mine)
            if mine and mine[-1] - mine[0] + 1 != len(mine):
                self.err(f"server {sid}", f"its rank_ids {_ranges(mine)} are interleaved with another server's: HCCL "
                                          "does not support that (the guide's counter-example {0,1,2,7} / {3,4,5,6}); "
                                          "number each server's devices in one block", f"{GUIDE}_a2.md rank_id")
        # MindSpore: "the order of rank_id is consistent with the dictionary order of server_id"
        first = sorted((min(v), sid) for sid, v in per_server.items() if v)
        order = [sid for _, sid in first]
        if len(order) > 1 and order != sorted(order):
            self.warn("", f"rank_ids do not follow the dictionary order of server_id ({' < '.join(order)} by "
                          "rank): HCCL loads it; MindSpore's rank table start-up requires that order",
                      "mindspore-ai/docs tutorials/source_en/parallel/rank_table.md")

    def _device_counts(self, counts: dict[str, int], chip: HcclChip) -> None:
        if len(set(counts.values())) <= 1 or not chip.same_count:
            return
        text = "; ".join(f"{n} on {sid}" for sid, n in counts.items())
        if self.chip is None:
            who = "Atlas training (910) and Atlas 300I Duo"
            hint = ("; HCCL on Atlas A2/A3 loads it (it skips this check there): if the table is for A2/A3, "
                    "check it with --chip 910b or --chip a3")
        else:
            who, hint = chip.name, ""
        self.err("", f"servers carry different numbers of devices ({text}): HCCL on {who} refuses it (\"devices "
                     f"num of each server error\"), and ascend-env writes every server with the same devices{hint}",
                 f"{CONFIG} CheckDeviceNumValid")


def _sid(server: Any) -> str | None:
    """A server's server_id when it is one (a string), else None."""
    sid = server.get("server_id") if isinstance(server, dict) else None
    return sid if isinstance(sid, str) else None


def _split(value: str) -> list[str]:
    """device_ip may list several addresses, comma-separated (TopoinfoRanktableConcise::SplitString: a trailing
    comma adds nothing, an empty middle part is kept -- and then refused as no address)."""
    parts = value.split(",")
    return parts[:-1] if len(parts) > 1 and parts[-1] == "" else parts


def _ranges(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


# -- formats ascend-env does not check -------------------------------------------------------------------------------

def _unsupported(table: dict[str, Any]) -> str | None:
    """What to do with a table HCCL reads with another parser (config.cc CfgGetClusterInfo picks it by version)."""
    if "version" not in table:
        # GetRanktableVersion: no version -> "Standard" (TopoinfoRanktableStandard: group_count / group_list /
        # instance_list) -- the 910 guide's template 2, "兼容部分已有场景，新版本不推荐使用"
        kind = "the legacy group_list template (no \"version\": HCCL's Standard parser, Atlas training only, " \
               "\"not recommended in new versions\")" if "group_list" in table else \
               "a table without \"version\" (HCCL reads it as the legacy group_list template)"
        return (f"unsupported format: {kind}. ascend-env checks versions 1.0 and 1.2 (server_list / device / "
                "rank_id); rewrite it as version 1.0 (HCCL guide rank_table_config_910.md template 1), or let "
                "`ascend-env ranktable --inventory <inventory> --out hccl.json` write it")
    version = table.get("version")
    if version == "1.1":
        return ("unsupported format: version 1.1 is HCCL's heterogeneous-cluster table (collective_id / node_list / "
                "ranks, TopoinfoRanktableHeterog); ascend-env does not check it. For NPU servers write version 1.0 "
                "(`ascend-env ranktable --inventory <inventory>`)")
    if version == "2.0":
        return ("unsupported format: version 2.0 is the Ascend 950 (A5) table (rank_count / rank_list / level_list, "
                "read together with the topology files in /usr/local/Ascend/driver/topo/: HCCL guide "
                "rank_table_config_a5.md); ascend-env does not check it. Check it against that guide; for "
                "Atlas A2/A3 write version 1.0 or 1.2")
    return None


def check(table: Any, chip: HcclChip | None = None) -> Report:
    """HCCL's rules applied to a parsed rank table; ``chip``: the chip's own rules (None: see ``UNKNOWN``;
    a version 1.2 table is read as Atlas A3's)."""
    if not isinstance(table, dict):
        r = Report()
        r.findings.append(Finding("", f"a rank table is a JSON object, this is a JSON {type(table).__name__}: HCCL "
                                      "refuses it", f"{BASE} RefreshStatus"))
        return r
    unsupported = _unsupported(table)
    if unsupported:
        return Report(version=str(table.get("version")) if "version" in table else None, chip=chip,
                      unsupported=unsupported)
    version = table.get("version")
    if not isinstance(version, str) or version not in FORMATS:
        r = Report(chip=chip)
        r.findings.append(Finding("", f"version {json.dumps(version)} is not a rank table version: HCCL refuses it "
                                      "(\"version is not support\", EI0014); 1.0 (Atlas training, A2, 300I Duo, A3 "
                                      "AI Server mode) or 1.2 (A3 super pod)", f"{CONFIG} CfgGetClusterInfo"))
        return r
    if chip is None and version == "1.2":
        chip = CHIPS["a3"]       # 1.2 is the A3 super pod format (SUPERPOD_CLUSTER_VERSION; HCCL guide a3)
    return _Checker(table, chip).run()
