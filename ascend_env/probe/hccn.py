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
* ``-i N -ping -g address A [pkt SIZE]`` (hccn_tool source: ``tool_ping_cmd_execute``/``dsmi_ping_fun``, code-index
  ids 54654522539 and 54798230827): ``device N PING A``, then what the device's ping printed -- one line per packet,
  ``recv seq=0,time=0.067000ms`` or ``recv time out seq=0`` (the tool also flags ``Destination Host Unreachable`` and
  ``Message too long``) -- and ``3 packets transmitted, 3 received, 0.00% packet loss`` (captures: a DeepSeek-V3
  multi-node guide looping over 8 devices, code-index id 4829747145; MindIE's multi-node doc with a 33.33 % loss
  sample, code-index id 20121850198; MindCluster's FAQ quotes ``3 packets transmitted, 0 received, 100.00% packet
  loss`` for a broken RoCE network, code-index id 22356890441).  A lost packet makes the run fail (PING_INNER_ERROR),
  so hccn_tool's own error follows.  ``-hccs_ping`` (A3) prints ``packets loss``; UB ping (950) ``recv seq:0,time:``:
  both are read as well.
* ``/etc/hccn.conf``: ``address_N=``, ``netmask_N=``, ``netdetect_N=``, ``gateway_N=``, ``send_arp_status_N=`` lines
  (N the device's physical id), which hccn_tool writes on every successful set and restores at boot.
* Errors: hccn_tool prints its own message instead of a value, e.g. ``Device ID is out of the valid range.`` then
  ``Cmd execute failed!`` (older drivers first print ``call drvMngGetConsoleLogLevel failed , g_conLogLevel = 3``
  on every run), ``Command execute failed!``, ``The device is not exist!``, ``Get invalid device id.``,
  ``Get device health status failed!``, ``permission denied: pls check this cmd run permission.`` (hccn_tool's
  message tables, tool source: code-index id 54919648904; a real capture: tests/unit/data/hccn/SOURCES.md).  Such
  output is an error with the tool's own words (:func:`tool_error`), never "no address".

What people paste is read as well: lines indented (a Markdown or reStructuredText block), shell prompts, several
commands' outputs one after the other (:func:`parse_capture`), and the output of a ``for i in {0..7}; do hccn_tool
-i $i -ip -g; done`` loop, one device after the other with nothing between them (:func:`split_records`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = [
    "HEALTHY",
    "PING_OK",
    "NetInfo",
    "PingResult",
    "Session",
    "from_capture",
    "parse_capture",
    "parse_gateway",
    "parse_hccn_conf",
    "parse_ip",
    "parse_ip_all",
    "parse_link",
    "parse_net_health",
    "parse_netdetect",
    "parse_ping",
    "parse_ping_all",
    "parse_session",
    "same_subnet",
    "split_records",
    "tool_error",
]

HEALTHY = "Success"
# Every pattern allows the indentation a paste adds (a Markdown/reStructuredText block, a quoted mail).
_IP = re.compile(r"^[ \t>]*ipaddr\s*:\s*(\S+)\s*$", re.M)
_MASK = re.compile(r"^[ \t>]*netmask\s*:\s*(\S+)\s*$", re.M)
_LINK = re.compile(r"^[ \t>]*link status\s*:\s*(\S+)\s*$", re.M | re.I)
_HEALTH = re.compile(r"^[ \t>]*net health status\s*:\s*(.*?)\s*$", re.M | re.I)
_GATEWAY = re.compile(r"^[ \t>]*default gateway\s*:\s*([^,\s]+)", re.M | re.I)
_NETDETECT = re.compile(r"^[ \t>]*netdetect addr(?:ess)?\s*:\s*(\S+)\s*$", re.M | re.I)
_NO_VALUE = re.compile(r"\bno (?:ip|gateway|netdetect[\w ]*) was preset there\b", re.I)
_CONF = re.compile(r"^\s*([a-z_]+?)_(\d+)\s*=\s*(.*?)\s*$")
_COMMAND = re.compile(r"hccn_tool\s+-i\s+(\S+)\s+(-\w+)\s+(-[gs])\b")
# The warning older drivers print before every run; not the answer itself.
_NOISE = re.compile(r"drvMngGetConsoleLogLevel failed", re.I)
# The last line of a failed run (hccn_tool source: uda_handle_*_err print "Cmd execute failed!", the DSMI error
# table "Command execute failed!").
_FAILED = re.compile(r"\b(?:cmd|command) execute failed!?", re.I)
# hccn_tool's error messages (its message tables), and what the shell says when the tool cannot run at all.
_ERROR = re.compile(r"failed|fail\b|error|invalid|out of the valid range|is not exist|not support|denied|"
                    r"is busy|timeout|unreachable|not present|No such file|not found|cannot|can't|unknown option",
                    re.I)
# A shell loop over devices: `for i in {0..7}`, `for i in $(seq 0 7)`, `for i in 0 1 2 3`.
_LOOP = re.compile(r"\bfor\s+(\w+)\s+in\s+(?:\{(\d+)\.\.(\d+)\}|\$\(seq\s+(\d+)\s+(\d+)\)|((?:\d+\s*)+));")
_PROMPT = re.compile(r"^\s*(?:\([\w.-]+\)\s*)?(?:\[[^\]]*\][#$]|[\w.-]+@[\w.-]+:[^#$]*[#$]|[#$>])\s*")


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
    #: hccn_tool failed for this device: "-ip: Device ID is out of the valid range. Cmd execute failed!" (the query
    #: and the tool's own words); None when every query answered (with a value or "none preset")
    failure: str | None = None


def _valid_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def parse_ip(text: str) -> tuple[str | None, str | None]:
    """``(address, netmask)`` from ``-ip -g``; ``(None, None)`` when the device has none (empty output or
    "no ip was preset there") or the tool failed (:func:`tool_error` says so).  A redacted address
    (``10.xx.xx.10``) is returned as written.  Output of several devices: see :func:`split_records`."""
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


_VALUE_LINES = (_IP, _MASK, _LINK, _HEALTH, _GATEWAY, _NETDETECT)
#: the value lines that end one device's answer, per query option
_OPTION_LINES = {"-ip": (_MASK,), "-link": (_LINK,), "-net_health": (_HEALTH,), "-gateway": (_GATEWAY,),
                 "-netdetect": (_NETDETECT,)}


def tool_error(text: str, rc: int | None = None) -> str | None:
    """hccn_tool's own words when its output is an error rather than a value or "no value preset": its error lines
    (``Device ID is out of the valid range. Cmd execute failed!``), else, after a non-zero exit, whatever it printed
    (or that it printed nothing).  None when the output is a value or says that none was set."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if no_value_message(text) or any(p.search(ln) for p in _VALUE_LINES for ln in lines):
        return None
    meaningful = [ln for ln in lines if not _NOISE.search(ln)]
    errors = [ln for ln in meaningful if _ERROR.search(ln)]
    if errors:
        return " ".join(errors)
    if rc not in (None, 0):
        return " ".join(meaningful or lines) or f"hccn_tool exited with code {rc} and printed nothing"
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


def _line_kind(line: str, option: str) -> str:
    """How one output line of ``hccn_tool -i N <option> -g`` bounds a device's answer: "noise" (the driver's
    warning printed first on every run), "start" (the first of a two-line value: ``ipaddr:``), "end" (the last line
    of an answer: ``netmask:``, a one-line value, "no ... preset there", "Cmd execute failed!"), "error" (another
    error line), or "other"."""
    if _NOISE.search(line):
        return "noise"
    if _NO_VALUE.search(line) or _FAILED.search(line):
        return "end"
    own = _OPTION_LINES.get(option, ())
    if _IP.search(line) and option == "-ip":
        return "start"
    if any(p.search(line) for p in own):
        return "end"
    if any(p.search(line) for p in _VALUE_LINES):
        return "foreign"  # another query's answer pasted alongside: not this option's
    if _ERROR.search(line):
        return "error"
    return "other"


def split_records(text: str, option: str = "-ip") -> list[str]:
    """The answers of several devices printed one after the other (a ``for i in {0..7}; do hccn_tool -i $i -ip -g;
    done`` loop): one string per device, in order.  A device's answer ends with its last value line, hccn_tool's
    "no ... preset there" or "Cmd execute failed!"; the driver's warning line or a new ``ipaddr:`` starts the next
    one.  Lines that are none of these (a prompt, a heading pasted in between) stay with their neighbour; a chunk
    holding no hccn_tool line at all is dropped.  A device that printed nothing (driver 23.0.5 with no address)
    cannot be seen here: compare the count with the loop's devices (:func:`parse_session` does)."""
    records: list[list[tuple[str, str]]] = []
    cur: list[tuple[str, str]] = []

    def close() -> None:
        nonlocal cur
        while cur and cur[0][1] == "other":
            cur = cur[1:]  # text pasted before the answer (a heading, "返回示例：") is not the device's
        if cur:
            records.append(cur)
        cur = []

    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith(("```", "~~~")):
            continue
        kind = _line_kind(line, option)
        if kind == "foreign":
            continue
        if kind in ("noise", "start") and any(k in ("noise", "start", "error") for _, k in cur):
            close()
        cur.append((line, kind))
        if kind == "end":
            close()
    close()
    return ["\n".join(ln for ln, _ in rec) for rec in records]


def parse_ip_all(text: str) -> list[tuple[str | None, str | None]]:
    """``(address, netmask)`` of every device in the output of a loop of ``-ip -g`` runs, in order."""
    return [parse_ip(r) for r in split_records(text, "-ip")]


def _loop_devices(line: str) -> list[int] | None:
    m = _LOOP.search(line)
    if not m:
        return None
    if m.group(2) is not None:
        return list(range(int(m.group(2)), int(m.group(3)) + 1))
    if m.group(4) is not None:
        return list(range(int(m.group(4)), int(m.group(5)) + 1))
    return [int(t) for t in m.group(6).split()]


@dataclass(frozen=True)
class Session:
    """A pasted shell session of hccn_tool commands: each device's answer by ``(device, option)`` (``"-ip"`` for
    ``-ip -g``, ``"-ip -s"`` for a set), and what could not be attributed."""

    outputs: dict[tuple[int, str], str]
    problems: tuple[str, ...] = ()


def parse_session(text: str) -> Session:
    """A pasted session: ``hccn_tool -i N -<cmd> -g`` commands (with or without a prompt, indented or not), each
    followed by its output, and ``for`` loops over devices, whose output is split per device
    (:func:`split_records`) and given to the loop's devices in order.  When a loop printed a different number of
    answers than it has devices, its answers are not guessed onto devices: a problem says so."""
    outputs: dict[tuple[int, str], str] = {}
    problems: list[str] = []
    block: list[str] = []
    current: tuple[list[int] | None, str, int | None, int] | None = None  # (loop devices, option, device, line)

    def flush() -> None:
        if current is None:
            return
        devices, option, device, lineno = current
        body = "\n".join(block)
        if devices is None:
            if device is not None:
                outputs[(device, option)] = body.strip()
            return
        if option.split()[0] not in _OPTION_LINES:
            return  # a loop of a query this reader does not interpret (-ping, -lldp, -tls)
        answers = split_records(body, option.split()[0])
        if len(answers) != len(devices):
            problems.append(f"line {lineno}: the loop over {len(devices)} device(s) printed {len(answers)} "
                            "answer(s): which device said what is unknown")
            return
        for d, answer in zip(devices, answers, strict=True):
            outputs[(d, option)] = answer

    for lineno, raw in enumerate(text.replace("\r\n", "\n").splitlines(), 1):
        m = _COMMAND.search(raw)
        other_command = re.search(r"^\s*\S*(npu-smi|/usr/\S+|cat|ls|lspci)\s", _PROMPT.sub("", raw, count=1))
        if m or (other_command and not _IP.search(raw)):
            flush()
            block = []
            current = None
            if m:
                option = m.group(2) + (" -s" if m.group(3) == "-s" else "")
                loop = _loop_devices(raw)
                device = int(m.group(1)) if m.group(1).isdigit() else None
                if loop is None and device is None:
                    problems.append(f"line {lineno}: device {m.group(1)!r} of this command is not known")
                current = (loop, option, device, lineno)
            continue
        if raw.strip().startswith("#"):
            flush()  # a comment or a Markdown heading ends the command's output (hccn_tool never prints "#...")
            block = []
            current = None
            continue
        if current is not None:
            block.append(raw.strip())
    flush()
    return Session(outputs, tuple(problems))


def parse_capture(text: str) -> dict[tuple[int, str], str]:
    """A pasted session of ``hccn_tool -i N -<cmd> -g`` commands and loops, each followed by its output, as
    ``{(N, "-cmd"): output}`` (what MindCluster's log collection and people's bug reports contain); see
    :func:`parse_session` for what could not be attributed."""
    return parse_session(text).outputs


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
        failure = None
        for name, option in QUERIES.items():
            run = runs.get(name)
            if not run:
                continue
            said = run.get("error") or tool_error(text(name), run.get("rc"))
            if said:
                failure = f"{option}: {said}"
                break
        out.append(NetInfo(device=int(key), address=address, netmask=netmask, link=parse_link(text("link")),
                           health=parse_net_health(text("net_health")), gateway=parse_gateway(text("gateway")),
                           netdetect=parse_netdetect(text("netdetect")), error=next((e for e in errors if e), None),
                           failure=failure))
    return tuple(out)


def from_capture(text: str) -> tuple[NetInfo, ...]:
    """A pasted session (:func:`parse_session`) as one :class:`NetInfo` per device it shows ``-g`` answers for."""
    session = parse_session(text)
    devices = sorted({d for d, opt in session.outputs if not opt.endswith("-s")})
    facts = {"devices": {str(d): {name: {"stdout": session.outputs[(d, option)]}
                                  for name, option in QUERIES.items() if (d, option) in session.outputs}
                         for d in devices}}
    return from_facts(facts)


# --- hccn_tool -i N -ping -g address A ------------------------------------------------------------------------------

PING_OK, PING_LOSSY, PING_UNREACHABLE, PING_ERROR, PING_UNKNOWN = "ok", "lossy", "unreachable", "error", "unknown"
_PING_HEAD = re.compile(r"device\s+(\d+)\s+PING6?\s+(\S+)", re.I)
# "recv seq=0,time=0.067000ms"; pastes and OCR give "time-0.049000ms"; UB ping prints "recv seq:0,time:0.1ms",
# hccs_ping "recv seq 0, time = 12.345us"
_PING_REPLY = re.compile(r"recv\s+seq\s*[=:]?\s*(\w+)\s*,\s*time\s*[=:\-]?\s*([\d.]+)\s*(ms|us)", re.I)
_PING_TIMEOUT = re.compile(r"recv\s+time\s*out\s+seq\s*[=:]?\s*(\w+)", re.I)
_PING_SUMMARY = re.compile(r"(\d+)\s+packets?\s+transmitted\s*,\s*(\d+)\s+received\s*,\s*([\d.]+)\s*%\s*packets?"
                           r"\s+loss", re.I)
# the command itself, when a paste keeps it: "hccn_tool -i 0 -ping -g address 10.0.0.21 pkt 64"
_PING_COMMAND = re.compile(r"hccn_tool\s+-i\s+(\d+)\s+-ping\s+(?:-inet6\s+)?-g\b(?:.*?\b(?:ipv6_)?address\s+(\S+))?",
                           re.I)
_PING_FAULTS = re.compile(r"Destination Host Unreachable|Message too long|pkt send fail[^\n]*|This pkt send fail!?",
                          re.I)


@dataclass(frozen=True)
class PingResult:
    """One ``hccn_tool -i N -ping -g address A`` run, as read from its output."""

    device: int | None                 # N of "device N PING A" (None when the header was not printed or pasted)
    address: str | None                # A
    transmitted: int | None = None
    received: int | None = None
    loss_percent: float | None = None
    times_ms: tuple[float, ...] = ()   # round trips of the packets that came back
    timeouts: int = 0                  # "recv time out seq=K" lines
    faults: tuple[str, ...] = ()       # "Destination Host Unreachable", "Message too long", "pkt send fail seq:1"
    error: str | None = None           # hccn_tool's own words when it did not ping at all
    complete: bool = True              # False: no summary line (a cut paste); the packet lines are all there is

    @property
    def status(self) -> str:
        """``ok`` (every packet came back), ``lossy`` (some did), ``unreachable`` (none did), ``error`` (the tool
        refused: bad device, no permission...), ``unknown`` (nothing readable)."""
        if self.transmitted is not None and self.received is not None:
            if self.transmitted == 0:
                return PING_UNKNOWN
            if self.received >= self.transmitted:
                return PING_OK
            return PING_LOSSY if self.received > 0 else PING_UNREACHABLE
        if self.error:
            return PING_ERROR
        replies, lost = len(self.times_ms), self.timeouts + len(self.faults)
        if replies or lost:
            return PING_OK if not lost else (PING_LOSSY if replies else PING_UNREACHABLE)
        return PING_UNKNOWN

    @property
    def reachable(self) -> bool | None:
        return {PING_OK: True, PING_LOSSY: True, PING_UNREACHABLE: False}.get(self.status)

    @property
    def avg_ms(self) -> float | None:
        return sum(self.times_ms) / len(self.times_ms) if self.times_ms else None

    def summary(self) -> str:
        if self.transmitted is not None and self.received is not None:
            return f"{self.transmitted} packets transmitted, {self.received} received"
        if self.error:
            return f"hccn_tool: {self.error}"
        if self.times_ms or self.timeouts or self.faults:
            return f"{len(self.times_ms)} replies, {self.timeouts + len(self.faults)} lost (no summary line)"
        return "no ping output"


def _ping_lines(text: str) -> list[str]:
    out = []
    for raw in (text or "").replace("\r\n", "\n").replace("\r", "\n").splitlines():
        line = raw.strip().lstrip(">").strip()
        if not line or line.startswith(("```", "~~~")):
            continue
        out.append(line)
    return out


def _one_ping(lines: list[str], rc: int | None) -> PingResult:
    device = address = None
    times: list[float] = []
    timeouts = 0
    faults: list[str] = []
    summary = None
    other: list[str] = []
    for line in lines:
        head = _PING_HEAD.search(line)
        if head:
            device, address = int(head.group(1)), head.group(2)
            continue
        command = _PING_COMMAND.search(line)
        if command:
            device = int(command.group(1)) if device is None else device
            address = command.group(2) if address is None else address
            continue
        m = _PING_SUMMARY.search(line)
        if m:
            summary = m
            continue
        reply = _PING_REPLY.search(line)
        if reply:
            value = float(reply.group(2))
            times.append(value / 1000.0 if reply.group(3).lower() == "us" else value)
            continue
        if _PING_TIMEOUT.search(line):
            timeouts += 1
            continue
        fault = _PING_FAULTS.search(line)
        if fault:
            faults.append(fault.group(0))
            continue
        if not _COMMAND.search(line):
            other.append(line)
    pinged = summary is not None or times or timeouts or faults or _PING_HEAD.search("\n".join(lines))
    error = None
    if not pinged:
        error = tool_error("\n".join(other), rc) or (" ".join(other) if other and rc not in (None, 0) else None)
    return PingResult(device, address,
                      int(summary.group(1)) if summary else None, int(summary.group(2)) if summary else None,
                      float(summary.group(3)) if summary else None, tuple(times), timeouts, tuple(faults), error,
                      complete=summary is not None or not pinged)


def parse_ping(text: str, rc: int | None = None) -> PingResult:
    """One ``hccn_tool -i N -ping -g address A`` run.  Tolerant of what people paste (a prompt and the command
    before it, indentation, CRLF, fences, ``time-0.049000ms``); hccn_tool's own errors instead of a ping (``The
    device is not exist!``) are an error with its words, never "unreachable"; output with nothing readable is
    "unknown".  Several devices' answers in one text: :func:`parse_ping_all`."""
    return _one_ping(_ping_lines(text), rc)


def parse_ping_all(text: str) -> list[PingResult]:
    """The answers of a ``for i in {0..7}; do hccn_tool -i $i -ping -g address A; done`` loop: one per
    ``device N PING A`` header, in order (each answer names its device, so none is guessed)."""
    chunks: list[list[str]] = []
    done = True   # the current chunk has its summary (or there is none yet): a packet line starts another answer
    for line in _ping_lines(text):
        command = _PING_COMMAND.search(line)
        packet = _PING_REPLY.search(line) or _PING_TIMEOUT.search(line)
        head = _PING_HEAD.search(line)
        if not chunks or command or (head and not (chunks[-1] and _PING_COMMAND.search(chunks[-1][-1]))) or (
                packet and done):
            chunks.append([])
            done = False
        chunks[-1].append(line)
        done = done or bool(_PING_SUMMARY.search(line))
    results = [_one_ping(c, None) for c in chunks]
    return [r for r in results if r.status != PING_UNKNOWN or r.device is not None]
