"""What each host lacks of the controller's artefact store, and how the files travel: pure functions over the plan's
slice of a host, the store's manifest and the host's one-call reading (``ascend.env.ascend_state``, ``store``).

The ``ascend_artifacts`` role runs them once per run on the controller (the action plugin
``ascend.env.ascend_artifacts``): an unchanged host costs no question of its own, and a host that lacks nothing is
left out of the change tasks.

    need = host_need(wanted_files(plan, manifest), reading)       # what to send, check, record
    route(sends, "auto", controller_tools=..., host_tools=...)    # Route("fanout", "4 hosts need files, ...")
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .fanout import State, plan

__all__ = ["HostNeed", "ManifestFile", "Route", "checked_ok", "host_need", "manifest_files", "record_text", "route",
           "setting_word", "sums_text", "wanted_files"]

#: wheels a host needs only when one of its environments uses the framework (or conda's installer)
_FRAMEWORK_WHEELS = {"torch": re.compile(r"^wheels/torch(_npu)?-[0-9]"),
                     "mindspore": re.compile(r"^wheels/mind(spore|formers)-[0-9]")}
_CONDA_WHEELS = re.compile(r"^wheels/py_rattler-[0-9]")


@dataclass(frozen=True)
class ManifestFile:
    """One file of the store as ``manifest.json`` lists it (path relative to the store)."""

    path: str
    size: int
    sha256: str


def manifest_files(doc: Mapping[str, Any]) -> dict[str, ManifestFile]:
    """The manifest's files by path, in its order (``{"files": [{"path", "size", "sha256", ...}]}``)."""
    out: dict[str, ManifestFile] = {}
    for e in doc.get("files") or []:
        if isinstance(e, Mapping) and e.get("path"):
            out[str(e["path"])] = ManifestFile(str(e["path"]), int(e.get("size") or 0), str(e.get("sha256") or ""))
    return out


def wanted_files(host_plan: Mapping[str, Any], manifest: Mapping[str, ManifestFile],
                 wheels: bool = True) -> tuple[list[ManifestFile], list[str]]:
    """(the files the host needs, with their sha256; the named files the manifest does not list).

    From the plan's slice of the host (``HostPlan``): the CANN installers of its environments (``runs``), the image
    tar when it has containers, the store's wheels less those of frameworks none of its environments uses (all of
    them when ``wheels``), and the store's conda/ folder when an environment is a conda environment."""
    named = [f"runs/{r}" for r in host_plan.get("runs") or ()]
    if host_plan.get("containers", True) and host_plan.get("image_tar"):
        named.append(f"images/{host_plan['image_tar']}")
    frameworks = set(host_plan.get("frameworks") or ())
    conda = bool(host_plan.get("conda"))
    skip = [rx for fw, rx in _FRAMEWORK_WHEELS.items() if fw not in frameworks]
    if not conda:
        skip.append(_CONDA_WHEELS)
    out = [manifest[p] for p in dict.fromkeys(named) if p in manifest]
    for p, f in manifest.items():
        wheel = wheels and p.startswith("wheels/") and p.endswith(".whl") and not any(rx.search(p) for rx in skip)
        if wheel or (conda and p.startswith("conda/")):
            out.append(f)
    return out, [p for p in dict.fromkeys(named) if p not in manifest]


def record_text(files: Iterable[ManifestFile]) -> str:
    """The host's record of what it holds verified (``.received.sha256``: sha256sum's format, sorted by path)."""
    return sums_text(sorted(files, key=lambda f: f.path))


def sums_text(files: Iterable[ManifestFile]) -> str:
    """``sha256sum --check`` input for these files."""
    return "".join(f"{f.sha256}  {f.path}\n" for f in files)


@dataclass(frozen=True)
class HostNeed:
    """What one host lacks: ``send`` (missing, of another size, or arrived unrecorded), of which ``unrecorded`` are
    of the right size without a recorded sum (checked on the host before they are sent again); ``leftover``: a
    fan-out key an interrupted run left there; ``stale_record``: the host's record is not the one of the files it
    needs; ``unlisted``: files the host needs that the manifest does not list."""

    send: tuple[ManifestFile, ...] = ()
    unrecorded: tuple[ManifestFile, ...] = ()
    leftover: bool = False
    stale_record: bool = False
    unlisted: tuple[str, ...] = ()
    shared: bool = False
    wanted: tuple[ManifestFile, ...] = field(default=(), repr=False)

    @property
    def todo(self) -> bool:
        return bool(self.send or self.leftover or self.stale_record or self.unlisted)

    def to_dict(self) -> dict[str, Any]:
        """The role's view (a registered variable): small when there is nothing to do."""
        if not self.todo:
            return {"todo": False}
        out: dict[str, Any] = {"todo": True, "send": [f.path for f in self.send], "leftover": self.leftover,
                               "unlisted": list(self.unlisted), "shared": self.shared,
                               "unrecorded": [f.path for f in self.unrecorded],
                               "unrecorded_sums": sums_text(self.unrecorded)}
        # the record to write once the files are in place (also when nothing is sent but the record is stale)
        out["record"] = record_text(self.wanted) if (self.send or self.stale_record) and not self.shared else None
        return out


def host_need(wanted: Sequence[ManifestFile], reading: Mapping[str, Any], *, shared: bool = False,
              unlisted: Sequence[str] = ()) -> HostNeed:
    """Compare the files a host needs with what it has (``reading``: the ``store`` part of ``ascend_state``:
    ``sizes`` and ``sums``, the record of what arrived verified, and ``fanout_leftover``).

    A file is sent when it is missing or of another size, or (own copy only) when its recorded sha256 is not the
    manifest's; a shared store (``ascend_artifacts_shared_path``) is compared by size: nothing is copied there."""
    sizes = {str(k): int(v) for k, v in (reading.get("sizes") or {}).items()}
    sums = {str(k): str(v) for k, v in (reading.get("sums") or {}).items()}
    send = tuple(f for f in wanted if sizes.get(f.path) != f.size or (not shared and sums.get(f.path) != f.sha256))
    if shared:
        return HostNeed(send=send, unlisted=tuple(unlisted), shared=True, wanted=tuple(wanted))
    unrecorded = tuple(f for f in send if sizes.get(f.path) == f.size)
    return HostNeed(send=send, unrecorded=unrecorded, leftover=bool(reading.get("fanout_leftover")),
                    stale_record=sums != {f.path: f.sha256 for f in wanted}, unlisted=tuple(unlisted),
                    wanted=tuple(wanted))


def checked_ok(sha256sum_output: str) -> set[str]:
    """The paths ``sha256sum --check`` printed as ``<path>: OK``."""
    return {line[:-4] for line in sha256sum_output.splitlines() if line.endswith(": OK")}


def setting_word(fanout: Any) -> str:
    """``ascend_artifacts_fanout`` as one word: auto, true or false (the preflight has refused anything else)."""
    if isinstance(fanout, bool):
        return "true" if fanout else "false"
    word = str(fanout).strip().lower()
    return {"yes": "true", "1": "true", "no": "false", "0": "false"}.get(word, word)


@dataclass(frozen=True)
class Route:
    """How the artefacts travel this run: ``shared``, ``fanout``, ``direct``, or ``impossible`` (fan-out asked for
    and it cannot run), with the reason the role prints."""

    mode: str
    why: str

    @property
    def line(self) -> str:
        return f"artefacts: {self.mode} ({self.why})"


def route(sends: Mapping[str, Mapping[str, int]], fanout: Any, *, shared: Mapping[str, str] | None = None,
          controller_tools: Collection[str] = (), host_tools: Mapping[str, Collection[str]] | None = None) -> Route:
    """The mode from what each host with its own copy lacks (``sends``: {host: {path: size}}), the setting
    ``ascend_artifacts_fanout`` (auto, true, false), the hosts that read a shared store (``shared``: {host: path}),
    the controller's tools (rsync, ssh, ssh-keygen) and each host's (rsync, rrsync).

    Fan-out pays when more than one host lacks the same file: the controller then sends each file once and hosts
    that hold a verified copy serve the others; otherwise each host gets its files from the controller."""
    shared = dict(shared or {})
    if shared and not sends:
        paths = ", ".join(sorted(set(shared.values())))
        return Route("shared", f"ascend_artifacts_shared_path {paths}: the hosts read the controller's store there; "
                               "nothing is copied")
    also = (f"; {len(shared)} host(s) read the shared store at {', '.join(sorted(set(shared.values())))}"
            if shared else "")
    setting = setting_word(fanout)
    if setting == "false":
        return Route("direct", "ascend_artifacts_fanout is false: every host gets its files from the controller"
                     + also)
    counts: dict[str, int] = {}
    for files in sends.values():
        for f in files:
            counts[f] = counts.get(f, 0) + 1
    common = [f for f, n in counts.items() if n > 1]
    if not common:
        return Route("direct", "no file is needed by more than one host this run" + also)
    lacking = [f"the controller has no {tool} (apt-get install {pkg})"
               for tool, pkg in (("rsync", "rsync"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"))
               if tool not in controller_tools]
    for h in sorted(sends):
        if not sends[h]:
            continue
        missing = [t for t in ("rsync", "rrsync") if t not in (host_tools or {}).get(h, ())]
        if missing:
            lacking.append(f"{h} has no {' or '.join(missing)} (install the rsync package there)")
    if lacking:
        why = "; ".join(lacking) + "; each host gets its files from the controller instead"
        return Route("impossible" if setting == "true" else "direct", why + also)
    sizes = {f: s for files in sends.values() for f, s in files.items()}
    waves = plan(State(sizes=sizes, need={h: set(f) for h, f in sends.items() if f},
                       alive={h for h, f in sends.items() if f}))
    shared_mb = sum(sizes[f] for f in common) / 1e6
    return Route("fanout", f"{sum(1 for f in sends.values() if f)} hosts need files, {len(common)} of them "
                           f"({shared_mb:.0f} MB) by more than one: the controller sends each file once, hosts that "
                           f"hold a verified copy serve the others, {len(waves)} wave(s)" + also)
