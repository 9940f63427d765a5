"""Build the lab's fake ``npu-smi`` and write its state file.

The fake is a real ELF binary linked (without rpath/runpath) against a real ``libdrvdsmi_host.so``, so that running it
without ``/usr/local/Ascend/driver/lib64/driver`` on ``LD_LIBRARY_PATH`` fails with glibc's own
``error while loading shared libraries: libdrvdsmi_host.so`` message, as the real tool does in containers
(zzudongxiang/ascend.docker: README.md §3.3).  The library execs ``lab_npu_smi_impl.py`` (standard library only),
which renders the tables from ``lab-npu-state.json``.

State schema (``lab-npu-state.json`` in the driver lib dir)::

    {"chip": "910b" | "310p" | "300i-duo",
     "board": {optional overrides: board_id, pcb_id, bom_id, slot_id, class_id, vendor_id, device_id,
               subsystem_vendor_id, subsystem_device_id, product_type, product_name, model, manufacturer,
               serial_number, compatibility},
     "cards": [{"npu_id": 0, "name": "910B3", "bus_id": "0000:C1:00.0", "lost": false, "power": 93.1 | null,
                "temp": 36, "hugepages": [0, 0],
                "processes": [{"chip_id", "pid", "name", "memory", "container", "container_pid"}] (optional; pid is
                the host's, as npu-smi prints it; the npu-busy fault writes them),
                "chips": [{"chip_id": 0, "device_id": 0, "health": "OK|Warning|Alarm|Critical", "aicore": 0,
                           "memory": [used, total], "hbm": [used, total] | null}]}]}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import AscendEnvError

STATE_FILE = "lab-npu-state.json"
LIB_NAME = "libdrvdsmi_host.so"
IMPL_NAME = "lab_npu_smi_impl.py"
SOURCES = ("dsmi_lab.c", "npu_smi_main.c", IMPL_NAME)
CHIPS = ("910b", "310p", "300i-duo")
HEALTH_VALUES = ("OK", "Warning", "Alarm", "Critical")

# Bus ids of an 8-card 910B3 server in NPU-id order (https://github.com/vllm-project/vllm-ascend/issues/336;
# same order on 8x910B2 in .../issues/10504).
BUS_910B = (
    "0000:C1:00.0", "0000:C2:00.0", "0000:81:00.0", "0000:82:00.0",
    "0000:01:00.0", "0000:02:00.0", "0000:41:00.0", "0000:42:00.0",
)  # fmt: skip
# 310P cards: one bus per card (both Duo chips share it, https://github.com/Ascend/pytorch/issues/94).  Plausible
# order modelled on the 4-card 310P3 listing in https://github.com/vllm-project/vllm-ascend/issues/1141.
BUS_310P = ("0000:01:00.0", "0000:81:00.0", "0000:41:00.0", "0000:82:00.0", "0000:42:00.0", "0000:02:00.0")


class CompilerMissingError(AscendEnvError, RuntimeError):
    """No C compiler: the fake npu-smi cannot be built."""


def _bus(table: tuple[str, ...], index: int) -> str:
    return table[index] if index < len(table) else f"0000:{0x10 + index:02X}:00.0"


def _card_910b(index: int) -> dict[str, Any]:
    # Idle values of https://github.com/vllm-project/vllm-ascend/issues/3403 (93.1 W, 36 C, 3418/65536 MB HBM).
    return {
        "npu_id": index, "name": "910B3", "bus_id": _bus(BUS_910B, index), "lost": False,
        "power": 93.1, "temp": 36, "hugepages": [0, 0],
        "chips": [{"chip_id": 0, "device_id": index, "health": "OK", "aicore": 0, "memory": [0, 0],
                   "hbm": [3418, 65536]}],
    }  # fmt: skip


def _card_310p(index: int, duo: bool) -> dict[str, Any]:
    # 300I Duo: two 310P3 chips per card, Power NA, ~44 GB DDR each (https://github.com/Syllo/nvtop/issues/421).
    memory = ([1529, 44280], [1412, 43693]) if duo else ([1821, 21527],)
    chips = [
        {"chip_id": n, "device_id": index * len(memory) + n, "health": "OK", "aicore": 0, "memory": list(mem),
         "hbm": None}
        for n, mem in enumerate(memory)
    ]  # fmt: skip
    return {
        "npu_id": index, "name": "310P3", "bus_id": _bus(BUS_310P, index), "lost": False,
        "power": None if duo else 15.8, "temp": 45 if duo else 42, "hugepages": [0, 0], "chips": chips,
    }  # fmt: skip


def default_state(chip: str, cards: int) -> dict[str, Any]:
    """A realistic idle state for ``cards`` cards of ``chip`` ("910b", "310p" or "300i-duo")."""
    if chip not in CHIPS:
        raise ValueError(f"unknown chip family {chip!r}; expected one of {', '.join(CHIPS)}")
    if cards < 1:
        raise ValueError("cards must be >= 1")
    make = _card_910b if chip == "910b" else lambda i: _card_310p(i, duo=chip == "300i-duo")
    return {"chip": chip, "board": {}, "cards": [make(i) for i in range(cards)]}


def _validate(state: dict[str, Any]) -> None:
    if state.get("chip") not in CHIPS:
        raise ValueError(f"state chip must be one of {CHIPS}, got {state.get('chip')!r}")
    for card in state.get("cards", []):
        for chip in card.get("chips", []):
            if chip.get("health", "OK") not in HEALTH_VALUES:
                raise ValueError(f"card {card.get('npu_id')}: health {chip.get('health')!r} not in {HEALTH_VALUES}")


def write_state(lib_dir: Path, state: dict[str, Any]) -> None:
    """Validate and atomically write ``lab-npu-state.json`` into the driver lib dir."""
    _validate(state)
    lib_dir.mkdir(parents=True, exist_ok=True)
    target = lib_dir / STATE_FILE
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def read_state(lib_dir: Path) -> dict[str, Any]:
    return json.loads((lib_dir / STATE_FILE).read_text(encoding="utf-8"))


def _source(name: str) -> bytes:
    return resources.files("ascend_env.lab").joinpath("npu_smi", name).read_bytes()


def sources_digest() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + _source(name) + b"\0")
    return digest.hexdigest()[:20]


def _find_cc(cc: str) -> str:
    found = shutil.which(cc)
    if found is None:
        raise CompilerMissingError(
            f"no C compiler {cc!r} on PATH; the lab's fake npu-smi is compiled locally. "
            "Install one with: apt-get install gcc libc6-dev"
        )
    return found


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")


def _compile(cc: str, out_dir: Path) -> None:
    """Compile the library and the binary into ``out_dir`` (binary linked with -L, no rpath/runpath)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        for name in ("dsmi_lab.c", "npu_smi_main.c"):
            (src / name).write_bytes(_source(name))
        lib = out_dir / LIB_NAME
        _run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(lib), str(src / "dsmi_lab.c"), "-ldl"])
        _run([cc, "-O2", "-Wall", "-o", str(out_dir / "npu-smi"), str(src / "npu_smi_main.c"),
              f"-L{out_dir}", "-ldrvdsmi_host"])  # fmt: skip


def _install(src: Path, dst: Path, mode: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.chmod(mode)
    os.replace(tmp, dst)


def build_npu_smi(lib_dir: Path, bin_path: Path, cache_dir: Path | None = None, cc: str = "cc") -> None:
    """Install ``libdrvdsmi_host.so`` + ``lab_npu_smi_impl.py`` into ``lib_dir`` and the binary at ``bin_path``.

    Compiled outputs are cached in ``cache_dir/npu-smi-<hash of sources>/``; a later build copies them.
    """
    key = f"npu-smi-{sources_digest()}"
    built = cache_dir / key if cache_dir is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        if built is None or not ((built / LIB_NAME).is_file() and (built / "npu-smi").is_file()):
            out = Path(tmp) / key
            out.mkdir()
            _compile(_find_cc(cc), out)
            if built is not None:
                built.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=built.parent, prefix=".building-"))
                for name in (LIB_NAME, "npu-smi"):
                    shutil.copy2(out / name, staging / name)
                try:
                    staging.rename(built)
                except OSError:  # another build won the race; its outputs are identical
                    shutil.rmtree(staging, ignore_errors=True)
            source_dir = out
        else:
            source_dir = built
        _install(source_dir / LIB_NAME, lib_dir / LIB_NAME, 0o755)
        _install(source_dir / "npu-smi", bin_path, 0o755)
    impl = lib_dir / IMPL_NAME
    impl.write_bytes(_source(IMPL_NAME))
    impl.chmod(0o644)
