"""Each host's last passing stacks, kept on the controller, and the inventory overlay that returns a host to one.

Where: one JSON file per host, ``<folder of the inventory>/.ascend-env/stacks/<host>.json`` (for ``-i
inventory/prod.yml``: ``inventory/.ascend-env/stacks/``; for an inventory folder, inside it), so the records travel
with the inventory they describe (Ansible skips hidden names when it reads an inventory folder); ``--state-dir``
puts them elsewhere.  A file holds the host's stacks, newest last (at most :data:`KEEP`)::

    {"host": "npu-a", "format": 1, "stacks": [{"recorded_at": "2026-12-07T10:00:00Z", "source": "upgrade",
      "passed": true, "host": {"driver": "25.0.RC1.1", "firmware": "7.7.0.1.231"},
      "envs": {"llm-torch": {"framework": "torch", "versions": {"cann": "9.2.0", "python": "3.11",
                                                               "torch": "2.13.0", "torch_npu": "2.13.0"}}}}]}

A stack is written by ``ascend-env upgrade``/``rollback`` after the host's doctor and smoke pass (``source``
``upgrade``/``rollback``: the host's slice of the fleet plan, its pins and resolved versions), and before a host's
upgrade from what the doctor's probe reads there (``before-upgrade``; ``passed`` says whether the doctor's checks
passed on it -- no smoke runs then).  A rollback goes to the newest passing stack that is not the one the inventory
now asks for (:func:`rollback_target`), through an inventory overlay that pins it (:func:`overlay`): passed as a
second ``-i``, its host variables win over the inventory's.  Pure apart from :func:`load` and :func:`append`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AscendEnvError
from ..versions import Version, VersionError

if TYPE_CHECKING:
    from ..plan import HostPlan

__all__ = ["ENV_COMPONENTS", "FRAMEWORK_COMPONENTS", "HOST_COMPONENTS", "KEEP", "EnvStack", "RecordError",
           "StackEntry", "append", "entry_from_plan", "entry_from_reading", "load", "overlay", "rollback_target",
           "state_dir"]

HOST_COMPONENTS = ("driver", "firmware")
FRAMEWORK_COMPONENTS = {"torch": ("torch", "torch_npu"), "mindspore": ("mindspore", "mindformers")}
ENV_COMPONENTS = ("cann", "python", "torch", "torch_npu", "mindspore", "mindformers")
#: stacks kept per host
KEEP = 20
FORMAT = 1


class RecordError(AscendEnvError, ValueError):
    """A record that cannot be read or written; the message names the file and the fix."""


def _norm(component: str, value: Any) -> str:
    """A version as the resolver spells it (``25.0.rc1.1`` -> ``25.0.RC1.1``); Python as X.Y (a pin the resolver
    completes, so a stack read from a host with another patch release still resolves)."""
    text = str(value).strip()
    try:
        v = Version.parse(text, component)
    except VersionError:
        return text
    return v.major_minor if component == "python" else v.canonical


@dataclass(frozen=True)
class EnvStack:
    """What one environment ran: its framework, and the versions of CANN, Python and the framework's packages."""

    framework: str
    versions: dict[str, str]

    def pins(self) -> dict[str, str]:
        """The container pins that resolve to this stack again (``mindformers: none`` where MindSpore ran alone)."""
        out = dict(self.versions)
        if self.framework == "mindspore" and "mindspore" in out and "mindformers" not in out:
            out["mindformers"] = "none"
        return out


@dataclass(frozen=True)
class StackEntry:
    """One stack of a host: when and by what it was recorded, whether it passed, the host's driver and firmware and
    each environment's stack (by container name)."""

    recorded_at: str
    source: str
    passed: bool
    host: dict[str, str]
    envs: dict[str, EnvStack] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """What makes two entries the same stack (when and how they were recorded aside)."""
        return (tuple(sorted(self.host.items())),
                tuple(sorted((n, e.framework, tuple(sorted(e.versions.items()))) for n, e in self.envs.items())))

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in self.host.items()]
        for name, env in self.envs.items():
            parts.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in env.versions.items()))
        return "; ".join(parts) or "nothing recorded"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> StackEntry:
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: a stack is not a mapping")
        try:
            envs = {str(n): EnvStack(str(e["framework"]), {str(k): str(v) for k, v in dict(e["versions"]).items()})
                    for n, e in dict(data.get("envs") or {}).items()}
            return cls(str(data["recorded_at"]), str(data["source"]), bool(data["passed"]),
                       {str(k): str(v) for k, v in dict(data.get("host") or {}).items()}, envs)
        except (KeyError, TypeError, ValueError) as e:
            raise RecordError(f"{where}: a stack lacks or mangles {e}; remove that entry or the file (the next "
                              "passing upgrade writes it again)") from None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _stack_versions(stack: Mapping[str, Any]) -> dict[str, str]:
    comps = stack.get("components") or {}
    out = {}
    for comp in ENV_COMPONENTS:
        version = (comps.get(comp) or {}).get("version")
        if version:
            out[comp] = _norm(comp, version)
    return out


def entry_from_plan(hp: HostPlan, source: str, passed: bool = True, at: str | None = None) -> StackEntry:
    """The stack a host's slice of the fleet plan asks for (after a passing upgrade): the pinned driver and
    firmware, and each environment's resolved CANN, Python and framework versions."""
    host = {k: _norm(k, hp.pins[k]) for k in HOST_COMPONENTS if hp.pins.get(k)}
    envs = {e.container: EnvStack(e.framework, _stack_versions(e.stack)) for e in hp.envs}
    return StackEntry(at or now(), source, passed, host, envs)


def entry_from_reading(hp: HostPlan, host_versions: Mapping[str, str] | None,
                       env_versions: Mapping[str, Mapping[str, str] | None], passed: bool,
                       source: str = "before-upgrade", at: str | None = None) -> StackEntry:
    """The stack a host runs as read there (the doctor's probe: ``installed_versions`` of the host and of each
    environment); a component that was not read is left out (a rollback does not pin it)."""
    host = {k: _norm(k, v) for k, v in (host_versions or {}).items() if k in HOST_COMPONENTS and v}
    envs = {}
    for e in hp.envs:
        read = env_versions.get(e.container) or {}
        wanted = ("cann", "python", *FRAMEWORK_COMPONENTS.get(e.framework, ()))
        envs[e.container] = EnvStack(e.framework, {k: _norm(k, read[k]) for k in wanted if read.get(k)})
    return StackEntry(at or now(), source, passed, host, envs)


def state_dir(inventory: str | Path, override: str | Path | None = None) -> Path:
    """Where the records of a fleet go: ``override``, else ``.ascend-env/stacks`` in the inventory's folder (the
    inventory itself when it is a folder)."""
    if override:
        return Path(override)
    p = Path(inventory).resolve()
    return (p if p.is_dir() else p.parent) / ".ascend-env" / "stacks"


def _path(folder: Path, host: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in host)
    return folder / f"{safe}.json"


def load(folder: Path, host: str) -> list[StackEntry]:
    """The host's stacks, oldest first ([] when none was recorded)."""
    path = _path(folder, host)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise RecordError(f"{path}: cannot read the host's stack record ({e}); fix or remove the file") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("stacks"), list):
        raise RecordError(f"{path}: not a stack record (no 'stacks' list); fix or remove the file")
    return [StackEntry.from_json(s, f"{path} stack {i + 1}") for i, s in enumerate(doc["stacks"])]


def append(folder: Path, host: str, entry: StackEntry) -> Path:
    """Add ``entry`` as the host's newest stack (the same stack as the newest is replaced, not repeated); written
    whole to a temporary file and renamed, so a record is never half written."""
    entries = [e for e in load(folder, host) if e.key() != entry.key() or e.passed != entry.passed]
    entries = [*entries, entry][-KEEP:]
    folder.mkdir(parents=True, exist_ok=True)
    path = _path(folder, host)
    doc = {"host": host, "format": FORMAT, "stacks": [e.to_json() for e in entries]}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path


def rollback_target(entries: Sequence[StackEntry], current: StackEntry) -> StackEntry | None:
    """The stack a rollback returns to: the newest passing one that is not ``current`` (what the inventory now asks
    for); None when there is none."""
    for entry in reversed(entries):
        if entry.passed and entry.key() != current.key():
            return entry
    return None


def overlay(targets: Mapping[str, StackEntry], hostvars: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """An inventory (``ascend_hosts`` host variables) that pins each host of ``targets`` to its stack: the host's
    ``ascend_host_pins`` with the recorded driver and firmware, and its ``ascend_containers`` as the inventory has them
    with each recorded container's pins (other containers as they are)."""
    hosts: dict[str, Any] = {}
    for name, entry in targets.items():
        hv = hostvars.get(name) or {}
        pins = {**dict(hv.get("ascend_host_pins") or {}), **entry.host}
        containers = []
        for c in hv.get("ascend_containers") or []:
            c = dict(c)
            env = entry.envs.get(str(c.get("name")))
            if env is not None:
                c["pins"] = {**dict(c.get("pins") or {}), **env.pins()}
            containers.append(c)
        hosts[name] = {"ascend_host_pins": pins, "ascend_containers": containers}
    return {"ascend_hosts": {"hosts": hosts}}
