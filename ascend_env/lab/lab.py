"""``lab up | status | down | fault``: orchestration of the simulated Ascend lab (I/O lives here)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import busy, engine, image, sshd, store
from .config import HostSpec, LabConfig, LabConfigError, build_config
from .faults import KINDS, Fault, desired, from_dicts
from .hostdeps import ensure_packages
from .inventory import render_inventory
from .layout import MARKER, HostPaths, LabPaths
from .procs import LabError, run
from .sysroot import build_host, write_fabric


def paths(cfg: LabConfig) -> LabPaths:
    return LabPaths(cfg.prefix, cfg.cache)


# --- state -------------------------------------------------------------------------------------------------

def read_state(lp: LabPaths) -> dict[str, Any] | None:
    try:
        return json.loads(lp.state.read_text())
    except (OSError, ValueError):
        return None


def write_state(lp: LabPaths, state: dict[str, Any]) -> None:
    tmp = lp.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    tmp.replace(lp.state)


def config_dict(cfg: LabConfig) -> dict[str, Any]:
    hosts = []
    for h in cfg.hosts:
        d = asdict(h)
        hosts.append(d)
    return {"hosts": hosts, "ssh_port": cfg.ssh_port, "suite": cfg.suite, "mirror": cfg.mirror}


def config_from_state(prefix: Path, cache: Path | None = None) -> LabConfig | None:
    """The config the lab at ``prefix`` was brought up with (so a plain ``lab up`` repeats it)."""
    st = read_state(LabPaths(prefix, cache or prefix))
    if not st:
        return None
    return build_config(st["config"], prefix=prefix, cache=cache or Path(st.get("cache", prefix)))


# --- safety ------------------------------------------------------------------------------------------------

def check_prefix_is_ours(lp: LabPaths) -> None:
    p = lp.prefix
    if p.exists() and not p.is_dir():
        raise LabError(f"lab prefix {p} exists and is not a directory; choose another --prefix")
    if p.exists() and any(p.iterdir()) and not lp.marker.exists():
        raise LabError(f"lab prefix {p} is a non-empty folder the lab did not create; the lab only writes into an "
                       "empty or lab-made folder. Choose another --prefix")


# --- loopback addresses ------------------------------------------------------------------------------------

LABEL = "lo:ascendlab"


def _lo_lines() -> list[str]:
    return run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], check=False).stdout.splitlines()


def address_present(address: str) -> bool:
    return any(f"inet {address}/32 " in line for line in _lo_lines())


def address_is_labs(address: str) -> bool:
    """True when ``address`` is on lo with the lab's label (a lab added it, e.g. before a reboot-less crash)."""
    return any(f"inet {address}/32 " in line and f" {LABEL}" in line for line in _lo_lines())


def add_address(address: str) -> str | None:
    """Put ``address`` on lo; returns "added", "adopted" (left by an earlier lab, labelled as ours) or None
    (present without our label: somebody else's, so `lab down` leaves it)."""
    if address_present(address):
        return "adopted" if address_is_labs(address) else None
    run(["ip", "addr", "add", f"{address}/32", "dev", "lo", "label", LABEL])
    return "added"


def del_address(address: str) -> None:
    if address_present(address):
        run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


# --- disk-full fault: a nearly full tmpfs on the install path ----------------------------------------------

def _mounted(path: Path) -> bool:
    return str(path) in engine.mounts_under(path.parent)


def _du_kib(path: Path) -> int:
    out = run(["du", "-sk", str(path)]).stdout.split()[0]
    return int(out)


def apply_disk(hp: HostPaths, free_mb: int | None) -> str | None:
    target = hp.ascend
    if free_mb is None:
        if _mounted(target):
            run(["umount", str(target)])
            return "install path back on its own filesystem"
        return None
    if _mounted(target):
        return None
    stage = target.with_name("Ascend.lab-stage")
    shutil.rmtree(stage, ignore_errors=True)
    run(["cp", "-a", str(target), str(stage)])
    size_k = _du_kib(stage) + 256 + free_mb * 1024
    run(["mount", "-t", "tmpfs", "-o", f"size={size_k}k,mode=0755", "ascend-lab-diskfull", str(target)])
    run(["cp", "-a", f"{stage}/.", str(target)])
    shutil.rmtree(stage)
    return f"install path is a tmpfs with {free_mb} MiB free"


# --- up ----------------------------------------------------------------------------------------------------

@dataclass
class UpResult:
    actions: list[str] = field(default_factory=list)
    seconds: float = 0.0


def up(cfg: LabConfig, wheels: list[str] | None = None, extra_cann: list[str] | None = None) -> UpResult:
    t0 = time.monotonic()
    res = UpResult()
    log = res.actions
    engine.require_root()
    lp = paths(cfg)
    check_prefix_is_ours(lp)
    state = _lab_state(cfg, lp, log)
    sshd.ensure_client_key(lp)
    for spec in cfg.hosts:
        _host_up(cfg, lp, state, spec, log)
    if write_fabric(_fabric_hosts(cfg, lp, state)):
        log.append("NPU ports of the other hosts (hccn_tool -ping)")
    sshd.write_client_files(lp, [(s, lp.host(s.name)) for s in cfg.hosts], cfg.ssh_port)
    inv = render_inventory(cfg, lp, lp.client_key.with_suffix(".pub").read_text().strip())
    lp.inventory.parent.mkdir(parents=True, exist_ok=True)
    if not lp.inventory.exists() or lp.inventory.read_text() != inv:
        lp.inventory.write_text(inv)
        log.append(f"inventory {lp.inventory}")
    _fill_store(cfg, lp, log, wheels, extra_cann)
    res.seconds = time.monotonic() - t0
    return res


def _lab_state(cfg: LabConfig, lp: LabPaths, log: list[str]) -> dict[str, Any]:
    """The lab's state file, made on the first ``up``; a lab up with other hosts or another configuration is an
    error (``lab down`` first)."""
    state = read_state(lp)
    if state and [h["name"] for h in state["config"]["hosts"]] != [h.name for h in cfg.hosts]:
        raise LabError(f"the lab at {lp.prefix} is up with hosts "
                       f"{', '.join(h['name'] for h in state['config']['hosts'])}; run `lab down` before bringing "
                       "it up with different hosts")
    if state and state["config"] != config_dict(cfg):
        raise LabError(f"the lab at {lp.prefix} is up with a different configuration; run `lab down` first "
                       "(faults are changed with `lab fault`, not by editing the config)")
    ensure_packages(log)
    lp.prefix.mkdir(parents=True, exist_ok=True)
    lp.marker.write_text("made by ascend-env lab; `python -m ascend_env lab down` removes this folder\n")
    if state is None:
        state = {"version": 1, "config": config_dict(cfg), "cache": str(cfg.cache),
                 "hosts": {h.name: {"faults": [], "address_added": False} for h in cfg.hosts}}
        write_state(lp, state)
        log.append(f"lab prefix {lp.prefix}")
    return state


def _host_up(cfg: LabConfig, lp: LabPaths, state: dict[str, Any], spec: HostSpec, log: list[str]) -> None:
    """One simulated host: its address, its sysroot with its faults, sshd, dockerd, the busy holders, its images."""
    hp = lp.host(spec.name)
    hs = state["hosts"][spec.name]
    how = add_address(spec.address)
    if how and not hs["address_added"]:
        hs["address_added"] = True
        write_state(lp, state)
        log.append(f"{spec.name}: address {spec.address}/32 on lo" + (
            f" (adopted: left on lo with label {LABEL} by an earlier lab)" if how == "adopted" else ""))
    want = desired(spec, from_dicts(hs["faults"]))
    changed = build_host(spec, hp, cfg.cache, want)
    if changed:
        log.append(f"{spec.name}: " + ", ".join(changed))
    note = apply_disk(hp, want.disk_free_mb)
    if note:
        log.append(f"{spec.name}: {note}")
    if sshd.start_sshd(spec, hp, lp, cfg.ssh_port):
        log.append(f"{spec.name}: sshd on {spec.address}:{cfg.ssh_port}")
    if engine.start_engine(spec.name, hp):
        log.append(f"{spec.name}: dockerd on {hp.docker_sock}")
    held = busy.sync(spec, hp, want)   # after the engine: a holder may live in one of its containers
    if held:
        build_host(spec, hp, cfg.cache, want)
        log.append(f"{spec.name}: " + ", ".join(held))
    if image.ensure_image(hp, cfg.cache, cfg.suite, cfg.mirror, log):
        log.append(f"{spec.name}: image {image.image_ref(cfg.suite)}")
    if spec.image != "debian" and image.ensure_variant(hp, cfg.cache, cfg.suite, cfg.mirror, spec.image, log):
        log.append(f"{spec.name}: image {image.variant_ref(cfg.suite, spec.image)}")


def _fill_store(cfg: LabConfig, lp: LabPaths, log: list[str], wheels: list[str] | None,
                extra_cann: list[str] | None) -> None:
    """The offline store: the base images, the CANN installers, the conda channel, the wheels, their manifest."""
    image.publish(cfg.cache, cfg.suite, cfg.mirror, lp.store / "images")
    for variant in sorted({h.image for h in cfg.hosts if h.image != "debian"}):
        image.publish(cfg.cache, cfg.suite, cfg.mirror, lp.store / "images", variant)
    store.fill_runs(cfg, lp, log, extra_cann)
    if any(h.conda for h in cfg.hosts):  # the conda container's channel and installer (not wheels the user chose)
        store.fill_conda(cfg, lp, log)
    if wheels is None:
        store.fill_wheels(lp, list(store.DEFAULT_WHEELS), log)
        for python, reqs in store.stack_wheel_sets(cfg).items():
            store.fill_wheels(lp, reqs, log, python=python)
    else:
        store.fill_wheels(lp, sorted(set(wheels)), log)
    store.write_manifest(lp.store)


# --- fault -------------------------------------------------------------------------------------------------

def _fabric_hosts(cfg: LabConfig, lp: LabPaths, state: dict[str, Any]) -> list:
    return [(s, lp.host(s.name), desired(s, from_dicts(state["hosts"].get(s.name, {}).get("faults", []))))
            for s in cfg.hosts]


def set_fault(cfg: LabConfig, host: str, fault: Fault | None, clear: str | None = None) -> list[str]:
    """Add ``fault`` (or clear ``clear``: a kind or "all") on ``host`` and rebuild it; returns what changed."""
    engine.require_root()
    lp = paths(cfg)
    state = read_state(lp)
    if state is None:
        raise LabError(f"no lab is up at {lp.prefix}; run `python -m ascend_env lab up` first")
    spec = cfg.host(host)
    hs = state["hosts"][host]
    rows = [r for r in hs["faults"]]
    if clear is not None:
        if clear != "all" and clear not in KINDS:
            raise LabConfigError(f"--clear {clear!r}; use all or one of: {', '.join(KINDS)}")
        rows = [] if clear == "all" else [r for r in rows if r["kind"] != clear]
    if fault is not None:
        rows = [r for r in rows if not (r["kind"] == fault.kind and r.get("device") == fault.params.get("device"))]
        rows.append(fault.as_dict())
    hs["faults"] = rows
    write_state(lp, state)
    hp = lp.host(host)
    want = desired(spec, from_dicts(rows))
    # Unmount first so a cleared fault's files land on the real tree, then rebuild, then mount if wanted.
    changed = []
    if want.disk_free_mb is None:
        note = apply_disk(hp, None)
        if note:
            changed.append(note)
    changed += busy.sync(spec, hp, want)
    changed += build_host(spec, hp, cfg.cache, want)
    changed += [f"{h}: NPU ports of the other hosts" for h in write_fabric(_fabric_hosts(cfg, lp, state))]
    note = apply_disk(hp, want.disk_free_mb)
    if note and want.disk_free_mb is not None:
        changed.append(note)
    return changed


# --- status ------------------------------------------------------------------------------------------------

@dataclass
class HostStatus:
    name: str
    address: str
    chip: str
    cards: int
    address_ok: bool
    sshd_ok: bool
    ssh_ok: bool
    ssh_detail: str
    dockerd_ok: bool
    image_ok: bool
    containers: list[str]
    npu_smi_ok: bool
    npu_smi_detail: str
    devices: list[str]
    faults: list[str]

    @property
    def healthy(self) -> bool:
        return self.address_ok and self.sshd_ok and self.ssh_ok and self.dockerd_ok and self.image_ok


def status(cfg: LabConfig) -> list[HostStatus]:
    from ..probe.npu_smi import NpuSmiParseError, detect_loader_error, parse_info

    lp = paths(cfg)
    state = read_state(lp) or {"hosts": {}}
    out = []
    for spec in cfg.hosts:
        hp = lp.host(spec.name)
        ok_ssh, detail = (False, "no ssh config (lab not up)")
        if lp.ssh_config.exists():
            ok_ssh, detail = sshd.ssh_ok(lp, spec.name, "echo $ASCEND_ENV_LAB_HOST")
            ok_ssh = ok_ssh and detail.strip() == spec.name
        smi = hp.root / spec.npu_smi_dir / "npu-smi"
        smi_ok, smi_detail = False, "npu-smi not built"
        if smi.exists():
            env = dict(os.environ, LD_LIBRARY_PATH=str(hp.driver_lib))
            cp = run([str(smi), "info"], check=False, env=env, timeout=30)
            if cp.returncode == 0:
                try:
                    info = parse_info(cp.stdout)
                    chips = [c for card in info.cards for c in card.chips]
                    bad = [f"{card.npu_id}:{c.chip_id}={c.health}" for card in info.cards for c in card.chips
                           if c.health != "OK"]
                    smi_ok = True
                    smi_detail = (f"npu-smi {info.version}: {len(info.cards)} cards, {len(chips)} chips"
                                  + (f", unhealthy {' '.join(bad)}" if bad else ", all OK"))
                except NpuSmiParseError as e:
                    smi_detail = f"output not parseable: {e}"
            else:
                lib = detect_loader_error(cp.stderr)
                smi_detail = f"cannot load {lib}" if lib else (cp.stderr or cp.stdout).strip()[:200]
        dockerd_ok = engine.engine_up(hp)
        containers: list[str] = []
        img = False
        if dockerd_ok:
            img = engine.image_present(hp, image.image_ref(cfg.suite))
            cp = run(["docker", "ps", "-a", "--format", "{{.Names}} ({{.Status}})"], env=engine.docker_env(hp),
                     check=False)
            containers = [c for c in cp.stdout.splitlines() if c]
        devices = sorted(p.name for p in hp.dev.glob("*")) if hp.dev.exists() else []
        faults = [f.describe() for f in from_dicts(state["hosts"].get(spec.name, {}).get("faults", []))]
        out.append(HostStatus(spec.name, spec.address, spec.chip, spec.cards, address_present(spec.address),
                              sshd.sshd_running(hp) is not None, ok_ssh, detail.splitlines()[-1] if detail else "",
                              dockerd_ok, img, containers, smi_ok, smi_detail, devices, faults))
    return out


# --- down --------------------------------------------------------------------------------------------------

def down(cfg: LabConfig, purge_cache: bool = False) -> list[str]:
    engine.require_root()
    lp = paths(cfg)
    log: list[str] = []
    if not lp.prefix.exists():
        return log
    if not lp.marker.exists():
        raise LabError(f"{lp.prefix} has no {MARKER} marker: it was not made by the lab, so `lab down` will not "
                       "delete it")
    state = read_state(lp) or {"hosts": {}}
    names = [h.name for h in cfg.hosts] or list(state["hosts"])
    for name in names:
        hp = lp.host(name)
        log += [f"{name}: {note}" for note in busy.stop_all(hp)]
        engine.stop_engine(name, hp)
        sshd.stop_sshd(hp, name)
        apply_disk(hp, None)
        log.append(f"{name}: stopped")
    for address in added_addresses(cfg):
        del_address(address)
    engine._unmount_under(lp.prefix)
    left = engine.mounts_under(lp.prefix)
    if left:
        raise LabError(f"mounts under {lp.prefix} remain ({', '.join(left)}); unmount them, then run lab down again")
    shutil.rmtree(lp.prefix)
    log.append(f"removed {lp.prefix}")
    if purge_cache and cfg.cache.exists():
        shutil.rmtree(cfg.cache)
        log.append(f"removed cache {cfg.cache}")
    return log


def added_addresses(cfg: LabConfig) -> list[str]:
    st = read_state(paths(cfg)) or {"hosts": {}}
    return [h.address for h in cfg.hosts if st["hosts"].get(h.name, {}).get("address_added")]


def leftovers(cfg: LabConfig, addresses: list[str] | None = None) -> list[str]:
    """Anything of the lab still on the machine (used by `lab down --verify` and the tests)."""
    lp = paths(cfg)
    found = []
    if lp.prefix.exists():
        found.append(f"folder {lp.prefix}")
    found += [f"mount {m}" for m in engine.mounts_under(lp.prefix)]
    for address in addresses or ():
        if address_present(address):
            found.append(f"address {address}")
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(lp.prefix) + "/" in cmd and "pytest" not in cmd:
            found.append(f"process {pid_dir.name}: {cmd.strip()[:120]}")
    return found
