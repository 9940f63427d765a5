"""The acceptance's steps, pure: the command each one runs (an argv, quoted into the remote shell line by
:mod:`.remote`) and what its output turns into -- named checks and measurements (:mod:`.results`).

* the doctor: each of its checks by id, its verdict, and npu-smi health (the doctor's ``npu.health``);
* ``ascend-dmi -c`` and ``ascend-dmi --bw -d N`` where the tool is installed (readers: ``ascend_env.probe.dmi``);
* the inference smoke in an environment, started as site.yml's smoke role starts it (CANN's ``set_env.sh`` sourced,
  the environment's Python, ``python -m ascend_env smoke ... --json``);
* the cross-host collective, one rank per environment, as the smoke play starts it (a plain ``ssh ENV 'python -m
  ascend_env collective ...'``).

A value that was not read is ``None`` (never a pass); a step that does not apply records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..doctor.status import FAIL, OK, SKIP, UNKNOWN, WARN
from ..errors import UsageError
from ..probe.dmi import INCOMPATIBLE, parse_bandwidth, parse_compat
from ..probe.dmi import OK as DMI_OK
from .results import Check, Measurement

if TYPE_CHECKING:
    from ..plan import EnvPlan
    from .remote import Ran

__all__ = ["COLLECTIVE", "DMI_BW", "DMI_COMPAT", "DOCTOR", "DOCTOR_PREFIX", "HEALTH", "RANKTABLE", "REACHABLE",
           "SMOKE", "SMOKE_TOK_S", "SMOKE_TTFT", "Items", "SmokeSettings", "collective_argv", "collective_item",
           "dmi_argv", "dmi_items", "doctor_items", "smoke_argv", "smoke_items"]

REACHABLE, DOCTOR, HEALTH, RANKTABLE = "reachable", "doctor", "npu-smi health", "rank table"
DOCTOR_PREFIX = "doctor: "
DMI_COMPAT, DMI_BW = "ascend-dmi -c", "ascend-dmi --bw"
SMOKE, SMOKE_TOK_S, SMOKE_TTFT = "smoke", "smoke decode tok/s", "smoke TTFT ms"
COLLECTIVE = "collective all_reduce"
#: what ascend-dmi's finder prints when the tool is not on the host (exit 127, as a shell's "command not found")
DMI_ABSENT = "ascend-accept: ascend-dmi is not installed"
DMI_NOT_INSTALLED = 127

#: measurements and checks of one host or environment
Items = tuple[dict[str, Measurement], dict[str, Check]]

_SMOKE_DEVICES = ("auto", "cpu", "npu", "cuda")     # ascend_env.smoke.devices.DEVICES (no torch/numpy import here)


# --- the smoke's settings (the inventory's ascend_smoke_* variables, as the smoke role reads them) -------------------

def _count(hostvars: Mapping[str, Any], var: str, default: int, low: int) -> int:
    value = hostvars.get(var, default)
    try:
        number = int(str(value).strip())
    except ValueError:
        number = low - 1
    if isinstance(value, bool) or number < low:
        raise UsageError(f"{var}: {value!r} is not a whole number of at least {low}; fix it in the inventory "
                         f"(the smoke role's default is {default})")
    return number


@dataclass(frozen=True)
class SmokeSettings:
    """``python -m ascend_env smoke``'s options in every environment (the smoke role's variables)."""

    device: str = "auto"
    model_path: str = ""
    warmup: int = 1
    repeat: int = 3
    max_new_tokens: int = 30
    extra_args: tuple[str, ...] = ()

    @classmethod
    def from_hostvars(cls, hostvars: Mapping[str, Any], device: str | None = None) -> SmokeSettings:
        """The settings a host's environments get (``ascend_smoke_device``, ``_model_path``, ``_warmup``,
        ``_repeat``, ``_max_new_tokens``, ``_extra_args``); ``device`` overrides the inventory's.  A value the smoke
        would refuse is bad input here, before any host is touched."""
        dev = str(device or hostvars.get("ascend_smoke_device") or "auto")
        if dev not in _SMOKE_DEVICES:
            where = "--smoke-device" if device else "ascend_smoke_device"
            raise UsageError(f"{where}: {dev!r} is not a smoke device; use one of {', '.join(_SMOKE_DEVICES)}")
        extra = hostvars.get("ascend_smoke_extra_args") or []
        if not isinstance(extra, list) or not all(isinstance(a, (str, int, float)) for a in extra):
            raise UsageError(f"ascend_smoke_extra_args: {extra!r} is not a list of arguments; write e.g. "
                             "['--runner', 'transformers']")
        return cls(dev, str(hostvars.get("ascend_smoke_model_path") or ""),
                   _count(hostvars, "ascend_smoke_warmup", 1, 0), _count(hostvars, "ascend_smoke_repeat", 3, 1),
                   _count(hostvars, "ascend_smoke_max_new_tokens", 30, 1), tuple(str(a) for a in extra))


# --- the doctor -----------------------------------------------------------------------------------------------------

def _verdict(statuses: Iterable[str]) -> bool | None:
    """A check's statuses (one check id may report several lines) as a pass: any fail fails; anything unread or
    skipped is undecided; only ok and warnings pass."""
    st = list(statuses)
    if FAIL in st:
        return False
    if not st or any(s in (UNKNOWN, SKIP) for s in st):
        return None
    return all(s in (OK, WARN) for s in st) or None


def doctor_items(checks: Sequence[Any], code: int) -> dict[str, Check]:
    """The doctor's run on a host as acceptance checks: its verdict (``code``: the doctor's exit code), npu-smi
    health, and each check by id (those that could not check are left out: the verdict counts them as the doctor
    does)."""
    by_id: dict[str, list[Any]] = {}
    for c in checks:
        by_id.setdefault(c.id, []).append(c)
    bad = [f"{c.id}: {c.summary}" for c in checks if c.status in (FAIL, UNKNOWN)]
    verdict = {0: True, 1: False if any(c.status == FAIL for c in checks) else None}.get(code)
    out = {DOCTOR: Check(verdict, "; ".join(bad) if bad else ("every check ran, none failed" if code == 0 else
                                                               "nothing could be checked"))}
    health = by_id.get("npu.health", [])
    out[HEALTH] = Check(_verdict(c.status for c in health),
                        "; ".join(c.summary for c in health) or "the doctor did not read npu-smi health")
    for cid, group in by_id.items():
        if cid == "npu.health" or all(c.status == SKIP for c in group):
            continue
        detail = "; ".join(c.summary for c in group if c.status != OK)
        out[DOCTOR_PREFIX + cid] = Check(_verdict(c.status for c in group), detail)
    return out


# --- ascend-dmi (MindCluster ToolBox) -------------------------------------------------------------------------------

# The ToolBox's own environment script puts ascend-dmi on PATH (ToolBox guide, "安装ToolBox": source
# /usr/local/Ascend/toolbox/set_env.sh); a host read under another root (the lab) looks only under that root.
_DMI_LINE = (
    'root=$1; shift; dmi=""; '
    'if [ -f "$root/usr/local/Ascend/toolbox/set_env.sh" ]; then . "$root/usr/local/Ascend/toolbox/set_env.sh"; fi; '
    'if [ -z "$root" ] || [ "$root" = / ]; then dmi=$(command -v ascend-dmi 2>/dev/null) || dmi=""; fi; '
    'for c in "$root/usr/local/Ascend/toolbox/latest/Ascend-DMI/bin/ascend-dmi" "$root/usr/local/bin/ascend-dmi"; do '
    'if [ -z "$dmi" ] && [ -x "$c" ]; then dmi=$c; fi; done; '
    f'if [ -z "$dmi" ]; then echo "{DMI_ABSENT}"; exit {DMI_NOT_INSTALLED}; fi; '
    'exec "$dmi" "$@"')


def dmi_argv(root: str, *args: str) -> list[str]:
    """``ascend-dmi ARGS`` on a host whose filesystem is ``root`` ('' or '/' on a real host), found as the ToolBox
    installs it; exit 127 with :data:`DMI_ABSENT` when it is not there."""
    return ["sh", "-c", _DMI_LINE, "ascend-accept", root or "/", *args]


def dmi_absent(ran: Ran) -> bool:
    return ran.rc == DMI_NOT_INSTALLED and DMI_ABSENT in ran.stdout


def dmi_items(compat: Ran, bandwidth: Sequence[tuple[int, Ran]]) -> Items:
    """``ascend-dmi -c`` (one check: every package OK) and ``ascend-dmi --bw -d N`` per device (the best GB/s of each
    direction, higher is better; one check: every device's figures read)."""
    checks: dict[str, Check] = {}
    measurements: dict[str, Measurement] = {}
    if compat.rc is None:
        checks[DMI_COMPAT] = Check(None, f"could not run ascend-dmi -c: {compat.why}")
    else:
        c = parse_compat(compat.stdout)
        passed = True if c.verdict == DMI_OK else False if c.verdict == INCOMPATIBLE else None
        checks[DMI_COMPAT] = Check(passed, "; ".join(c.problems) or f"{len(c.packages)} package(s) OK")
    unread: list[str] = []
    for device, ran in bandwidth:
        bw = parse_bandwidth(ran.stdout) if ran.rc is not None else None
        if bw is None or bw.status != DMI_OK:
            unread.append(f"NPU {device}: " + (ran.why if bw is None else "; ".join(bw.reasons) or "nothing read"))
            continue
        for kind in ("h2d", "d2h", "d2d"):
            best = bw.best(kind)
            if best is not None:
                measurements[f"{DMI_BW} {kind} NPU {device} GB/s"] = Measurement(best, "GB/s", "higher")
    if bandwidth:
        checks[DMI_BW] = Check(None if unread else True, "; ".join(unread) or f"{len(bandwidth)} device(s) measured")
    return measurements, checks


# --- the inference smoke --------------------------------------------------------------------------------------------

# as the smoke role runs it: CANN's set_env.sh first when it is there (the new layout's, else ascend-toolkit's)
_SET_ENV_LINE = 'for f in "$1" "$2"; do if [ -f "$f" ]; then . "$f"; break; fi; done; shift 2; exec "$@"'


def smoke_argv(env: EnvPlan, s: SmokeSettings) -> list[str]:
    """``python -m ascend_env smoke --json`` in the environment, with its Python and CANN's environment."""
    cann = env.paths.cann_install_path.rstrip("/")
    argv = ["bash", "-c", _SET_ENV_LINE, "ascend-accept", f"{cann}/cann/set_env.sh",
            f"{cann}/ascend-toolkit/set_env.sh", f"{env.python.bin.rstrip('/')}/python", "-m", "ascend_env", "smoke",
            "--framework", env.framework, "--device", s.device, "--warmup", str(s.warmup), "--repeat", str(s.repeat),
            "--max-new-tokens", str(s.max_new_tokens), "--json"]
    if s.model_path:
        argv += ["--model-path", s.model_path]
    return argv + list(s.extra_args)


def _json_doc(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        doc = json.loads(text[start:])
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def smoke_items(ran: Ran) -> tuple[Items, dict[str, Any] | None]:
    """The smoke's report as checks (passed only when it says ok) and measurements (decode tokens/s, time to the
    first token), and the report itself (None when none was printed)."""
    report = _json_doc(ran.stdout) if ran.rc is not None else None
    if report is None:
        return ({}, {SMOKE: Check(None, f"no smoke report: {ran.why}")}), None
    m = report.get("metrics") or {}
    tok_s, ttft = _number(m.get("decode_tok_s")), _number(m.get("ttft_s"))
    measurements = {SMOKE_TOK_S: Measurement(tok_s, "tok/s", "higher"),
                    SMOKE_TTFT: Measurement(None if ttft is None else round(ttft * 1000, 3), "ms", "lower")}
    if report.get("ok") is True and ran.rc == 0:
        return (measurements, {SMOKE: Check(True, f"{report.get('framework')}/{report.get('runner')} on "
                                                  f"{report.get('device')}")}), report
    why = report.get("error") or "; ".join(map(str, report.get("problems") or [])) or ran.why
    if "error" in report:            # it stopped before generating: nothing was measured
        measurements = {}
    return (measurements, {SMOKE: Check(False, str(why).splitlines()[0] if why else "failed")}), report


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- the cross-host collective ----------------------------------------------------------------------------------------

def collective_argv(env: EnvPlan, device: str, port: int, timeout: float) -> list[str]:
    """This environment's rank: ``python -m ascend_env collective`` with the table site.yml wrote into it, started by
    the environment's own shell (``ascend-run`` in front where its startup files are not the ones its ssh sessions
    read: a lab host provisioned itself), as the smoke play starts it."""
    launch = [] if env.root in ("", "/") else [env.paths.runner]
    return [*launch, "python", "-m", "ascend_env", "collective", "--rank-table", env.ranktable.path,
            "--server-id", env.ranktable.server_id, "--backend", "gloo" if device == "cpu" else "auto",
            "--port", str(port), "--timeout", str(int(timeout)), "--json"]


def collective_item(ran: Ran) -> tuple[Check, dict[str, Any] | None]:
    """One rank's report as a check: every rank of this environment got the right sum."""
    report = _json_doc(ran.stdout) if ran.rc is not None else None
    if report is None:
        return Check(None, f"no all_reduce report: {ran.why}"), None
    ranks = report.get("ranks") or []
    if report.get("ok") is True and ranks and ran.rc == 0:
        return Check(True, f"world {report.get('world_size')}, backend {report.get('backend')}"), report
    errors = [f"rank {r.get('rank')}: {r.get('error') or 'sum ' + str(r.get('got'))}" for r in ranks
              if not r.get("ok")]
    return Check(False, "; ".join(errors) or ran.why), report
