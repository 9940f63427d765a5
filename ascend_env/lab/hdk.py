"""Text of the driver/firmware metadata files a simulated host carries (pure functions).

Samples and their sources: ``data/hdk_samples.yaml`` (from ascend-facts.md §2.1, §2.2, §2.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..versions import Version


@dataclass(frozen=True)
class DriverSample:
    version: str
    innerversion: str
    compatible_version: str
    compatible_version_fw: str
    ascendhal_version: str
    package_version: str | None
    source: str


@dataclass(frozen=True)
class FirmwareSample:
    version: str
    package_version: str
    compatible_version_drv: str
    source: str


@cache
def _samples() -> dict[str, Any]:
    text = resources.files("ascend_env.lab").joinpath("data/hdk_samples.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _find(kind: str, version: str) -> dict[str, Any]:
    want = Version.parse(version)
    rows = _samples()[kind]
    for row in rows:
        if Version.parse(row["version"]) == want:
            return row
    known = ", ".join(r["version"] for r in rows)
    label = "driver" if kind == "drivers" else "firmware"
    raise ValueError(f"the lab has no {label} sample for {version!r}; choose one of {known} "
                     f"(samples: ascend_env/lab/data/hdk_samples.yaml)")


def driver_sample(version: str) -> DriverSample:
    r = _find("drivers", version)
    return DriverSample(r["version"], r["innerversion"], r["compatible_version"], r["compatible_version_fw"],
                        r["ascendhal_version"], r.get("package_version"), r["source"])


def firmware_sample(version: str) -> FirmwareSample:
    r = _find("firmwares", version)
    return FirmwareSample(r["version"], r["package_version"], r["compatible_version_drv"], r["source"])


def driver_version_info(version: str) -> str:
    """``/usr/local/Ascend/driver/version.info`` in the real key order (ascend-facts §2.1)."""
    s = driver_sample(version)
    lines = [
        f"Version={s.version}",
        f"ascendhal_version={s.ascendhal_version}",
        "aicpu_version=1.0",
        "tdt_version=1.0",
        "log_version=1.0",
        "prof_version=2.0",
        "dvppkernels_version=1.1",
        "tsfw_version=1.0",
        f"Innerversion={s.innerversion}",
        f"compatible_version={s.compatible_version}",
        f"compatible_version_fw={s.compatible_version_fw}",
    ]
    if s.package_version:
        lines.append(f"package_version={s.package_version}")
    return "\n".join(lines) + "\n"


def firmware_version_info(version: str) -> str:
    """``/usr/local/Ascend/firmware/version.info`` (ascend-facts §2.2)."""
    s = firmware_sample(version)
    return (f"Version={s.version}\nfirmware_version=1.0\npackage_version={s.package_version}\n"
            f"compatible_version_drv={s.compatible_version_drv}\n")


def ascend_install_info(install_path: str, user: str = "HwHiAiUser", group: str = "HwHiAiUser",
                        for_all: bool = True) -> str:
    """``/etc/ascend_install.info`` as the driver installer writes it (keys: ascend-facts §2.4)."""
    return (f"UserName={user}\nUserGroup={group}\nDriver_Install_Type=full\n"
            f"Driver_Install_Path_Param={install_path}\nDriver_Install_Mode=normal\n"
            f"Driver_Install_For_All={'yes' if for_all else 'no'}\n")
