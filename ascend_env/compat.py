"""The three compatibility rules Ascend writes into its own version files; no table needed.

- toolkit ``ascend_toolkit_install.info`` ``compatible_version=[V100R001C15],[V100R001C13,V100R001C19]``
  lists the driver ``Innerversion`` prefixes (or inclusive ranges) it runs on;
- driver ``version.info`` ``compatible_version_fw=[7.0.0,7.2.99]`` bounds the firmware ``Version``;
- firmware ``version.info`` ``compatible_version_drv=[23.0.rc3,23.0.rc3.],[24.0,24.0.]`` bounds the driver
  ``Version``; an upper bound ending in ``.`` (``23.0.rc3.``) means "that version and its sub-versions".

Each rule is a pure function from the file values to a :class:`RuleResult`, which the doctor prints and
the Ansible roles assert on.  Samples: ascend-facts.md §2.1-§2.3 (Ascend/mind-cluster docs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .versions import Scheme, Version, VersionError

__all__ = [
    "Bound",
    "RuleResult",
    "driver_accepts_firmware",
    "firmware_accepts_driver",
    "parse_bounds",
    "parse_kv",
    "toolkit_accepts_driver",
]


@dataclass(frozen=True)
class RuleResult:
    """``ok`` is True/False, or None when the rule could not be evaluated (a value is missing)."""

    rule: str
    ok: bool | None
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Bound:
    """One ``[lo]`` or ``[lo,hi]`` entry of a compatible_version* list."""

    low: str
    high: str | None

    def __str__(self) -> str:
        return f"[{self.low}]" if self.high is None else f"[{self.low},{self.high}]"


def parse_kv(text: str) -> dict[str, str]:
    """Parse a ``key=value`` file (``version.info``, ``*_install.info``, ``/etc/ascend_install.info``).

    Blank lines and ``#`` comments are skipped; keys keep their case; the first ``=`` splits.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def parse_bounds(text: str) -> list[Bound]:
    """``[V100R001C30],[V100R001C13,V100R001C19]`` -> two bounds.  Raises VersionError if malformed."""
    text = text.strip()
    found = _BRACKET.findall(text)
    if not found or _BRACKET.sub("", text).replace(",", "").strip():
        raise VersionError(f"{text!r} is not a bracket list; expected e.g. [7.0.0,7.2.99],[V100R001C15]")
    out = []
    for body in found:
        parts = [p.strip() for p in body.split(",")]
        if len(parts) == 1 and parts[0]:
            out.append(Bound(parts[0], None))
        elif len(parts) == 2 and parts[0] and parts[1]:
            out.append(Bound(parts[0], parts[1]))
        else:
            raise VersionError(f"bad entry [{body}] in {text!r}; expected [lo] or [lo,hi]")
    return out


def _inner_key(v: Version) -> tuple[int, ...]:
    """The key of an inner version (``V100R001C15`` -> (100, 1, 15, -1, -1): -1 for a part it does not have)."""
    key = v.key
    if not isinstance(key, tuple):
        raise VersionError(f"{v} is not an inner version like V100R001C15")
    return key


def _release(v: Version) -> tuple[int, ...]:
    """The whole numeric release of an Ascend or PEP 440 version (``7.2.99.5.220`` -> (7, 2, 99, 5, 220))."""
    key = v.key
    if isinstance(key, tuple):
        raise VersionError(f"{v} is an inner version; expected a version like 7.0.0")
    return key.release


def _inner_in(bound: Bound, inner: Version) -> bool:
    low = _inner_key(Version.parse(bound.low, scheme=Scheme.INNER))
    mine = _inner_key(inner)
    if bound.high is None:  # a prefix: V100R001C15 matches V100R001C15SPC006B220
        n = sum(1 for x in low if x >= 0)
        return mine[:n] == low[:n]
    high = _inner_key(Version.parse(bound.high, scheme=Scheme.INNER))
    return low[:3] <= mine[:3] <= high[:3]


def _version_in(bound: Bound, v: Version) -> bool:
    low = Version.parse(bound.low, scheme=Scheme.ASCEND)
    if bound.high is None:
        return _starts_with(v, low)
    high_text = bound.high
    sub = high_text.endswith(".")
    high = Version.parse(high_text.rstrip("."), scheme=Scheme.ASCEND)
    if v < low:
        return False
    # the upper bound includes its own sub-versions: [7.0.0,7.2.99] admits 7.2.99.5.220
    return not (high < v) or _starts_with(v, high) or (sub and _starts_with(v, high))


def _starts_with(v: Version, prefix: Version) -> bool:
    pre = _release(prefix)
    return _release(v)[: len(pre)] == pre


def toolkit_accepts_driver(toolkit_compatible_version: str | None, driver_innerversion: str | None) -> RuleResult:
    """Toolkit ``compatible_version`` against the driver's ``Innerversion``."""
    rule = "toolkit-driver"
    if not toolkit_compatible_version or not driver_innerversion:
        missing = "the toolkit's compatible_version" if not toolkit_compatible_version else "the driver's Innerversion"
        return RuleResult(rule, None, f"could not check: {missing} is unknown")
    try:
        bounds = parse_bounds(toolkit_compatible_version)
        inner = Version.parse(driver_innerversion, scheme=Scheme.INNER)
        ok = any(_inner_in(b, inner) for b in bounds)
    except VersionError as exc:
        return RuleResult(rule, None, f"could not check: {exc}")
    listed = ",".join(map(str, bounds))
    if ok:
        return RuleResult(rule, True, f"driver {inner} is in the toolkit's compatible_version {listed}")
    return RuleResult(rule, False,
                      f"driver Innerversion {inner} is not in the toolkit's compatible_version {listed}",
                      "install a driver whose Innerversion the toolkit lists, or a toolkit built for this driver "
                      "(python -m ascend_env matrix resolve --driver <installed driver> shows which)")


def _window_rule(rule: str, bounds_text: str | None, bounds_name: str, value: str | None, component: str,
                 value_name: str, fix: str) -> RuleResult:
    """``value`` (a driver or firmware version) against a ``[lo,hi],...`` window from the other's file."""
    label = "driver" if component == "driver" else "firmware"
    if not bounds_text or not value:
        missing = bounds_name if not bounds_text else value_name
        return RuleResult(rule, None, f"could not check: {missing} is unknown")
    try:
        bounds = parse_bounds(bounds_text)
        v = Version.parse(value, component)
        ok = any(_version_in(b, v) for b in bounds)
    except VersionError as exc:
        return RuleResult(rule, None, f"could not check: {exc}")
    listed = ",".join(map(str, bounds))
    if ok:
        return RuleResult(rule, True, f"{label} {v} is in {bounds_name} {listed}")
    return RuleResult(rule, False, f"{label} {v} is outside {bounds_name} {listed}", fix)


def driver_accepts_firmware(driver_compatible_version_fw: str | None, firmware_version: str | None) -> RuleResult:
    """Driver ``compatible_version_fw`` against the firmware ``Version``."""
    return _window_rule("driver-firmware", driver_compatible_version_fw, "the driver's compatible_version_fw",
                        firmware_version, "firmware", "the firmware Version",
                        "install the firmware package released with this driver (same Ascend HDK version): "
                        "bash Ascend-hdk-<chip>-npu-firmware_<ver>.run --full, then reboot")


def firmware_accepts_driver(firmware_compatible_version_drv: str | None, driver_version: str | None) -> RuleResult:
    """Firmware ``compatible_version_drv`` against the driver ``Version``."""
    return _window_rule("firmware-driver", firmware_compatible_version_drv, "the firmware's compatible_version_drv",
                        driver_version, "driver", "the driver Version",
                        "install the driver released with this firmware (same Ascend HDK version): "
                        "bash Ascend-hdk-<chip>-npu-driver_<ver>_linux-<arch>.run --full --install-for-all")
