"""Which device a framework runs on: the ``--device auto`` rules, and diagnoses instead of tracebacks.

torch (``--device auto``):
  1. torch_npu installed (``importlib.util.find_spec``, which does not execute it) -> import it; if that fails the
     run fails (exit 1) with a diagnosis; if it loads and ``torch.npu.is_available()`` -> ``npu``.
  2. else ``cuda`` if ``torch.cuda.is_available()``, else ``cpu``.
  torch is always imported with ``TORCH_DEVICE_BACKEND_AUTOLOAD=0`` (set before the first ``import torch``), so an
  installed-but-unloadable torch_npu cannot break ``--device cpu``; torch_npu is imported explicitly when wanted.
MindSpore (``--device auto``): ``Ascend`` when CANN's environment is set (``ASCEND_HOME_PATH`` or
  ``ASCEND_TOOLKIT_HOME``, exported by CANN's ``set_env.sh``) and NPU device nodes exist (``/dev/davinci<N>``),
  else ``CPU``. ``npu`` maps to ``Ascend``, ``cuda`` to ``GPU``.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import RunnerUnavailable, SmokeFailed

DEVICES = ("auto", "cpu", "npu", "cuda")
FIX = "run `python -m ascend_env doctor`, or pass --device cpu"


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def dist_version(dist: str) -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def diagnose_load_failure(what: str, exc: BaseException, device: bool = True) -> str:
    """'<what> is installed but cannot load: <error> -- <likely cause>; <fix>'.

    ``device``: the failing import is a device backend (torch_npu, MindSpore-Ascend), so ``--device cpu`` avoids it.
    """
    err = f"{type(exc).__name__}: {exc}".strip()
    err = err.splitlines()[0] if err else type(exc).__name__
    text = str(exc)
    fix = FIX if device else "run `python -m ascend_env doctor`"
    if "Descriptors cannot be created directly" in text:
        cause = ("the installed protobuf is too new for this package's generated *_pb2 modules: pip install "
                 "'protobuf<=3.20.3', or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python")
    elif "cannot open shared object file" in text or "libascend" in text or "libge_runner" in text:
        cause = "CANN's set_env.sh is not sourced or CANN is not installed"
    elif "version" in text.lower() or "undefined symbol" in text:
        cause = "its version does not match the installed torch or CANN (`python -m ascend_env matrix resolve`)"
    elif device:
        cause = "CANN or the NPU driver is missing or does not match"
    else:
        cause = "the package or one of its dependencies is broken in this environment"
    return f"{what} is installed but cannot load: {err} -- {cause}; {fix}"


# -- torch -------------------------------------------------------------------------------------------------------

@dataclass
class TorchSetup:
    torch: Any
    device: str
    notes: list[str] = field(default_factory=list)
    versions: dict = field(default_factory=dict)


def import_torch() -> Any:
    """``import torch`` with backend auto-loading off (see the module doc); RunnerUnavailable if torch is absent."""
    if "torch" not in sys.modules:
        os.environ["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
    if not installed("torch"):
        raise RunnerUnavailable("torch is not installed here: pip install torch (the version `python -m ascend_env "
                                "matrix resolve --framework torch` gives), or choose --framework numpy/mindspore")
    try:
        import torch
    except Exception as e:
        raise SmokeFailed(diagnose_load_failure(f"torch {dist_version('torch') or ''}".strip(), e, device=False)) \
            from None
    return torch


def load_torch_npu() -> Any:
    """Import torch_npu (after torch); its failure propagates (callers turn it into exit 1 or 2)."""
    import torch_npu

    return torch_npu


def setup_torch(requested: str) -> TorchSetup:
    """Import torch and pick the device for ``--device requested`` (rules: module doc)."""
    if requested not in DEVICES:
        raise RunnerUnavailable(f"--device {requested}: expected one of {', '.join(DEVICES)}")
    torch = import_torch()
    setup = TorchSetup(torch, "cpu", versions={"torch": torch.__version__})
    npu_installed = installed("torch_npu")
    npu_what = f"torch_npu {dist_version('torch_npu') or dist_version('torch-npu') or ''}".replace("  ", " ").strip()
    if requested == "cpu":
        if npu_installed:
            setup.notes.append(f"{npu_what} is installed; not loaded (--device cpu)")
        return setup
    if requested == "npu" or (requested == "auto" and npu_installed):
        if not npu_installed:
            raise RunnerUnavailable("--device npu needs torch_npu, which is not installed: install the torch_npu "
                                    "matching torch (`python -m ascend_env matrix resolve --framework torch`), "
                                    "or pass --device cpu")
        try:
            torch_npu = load_torch_npu()
        except Exception as e:
            msg = diagnose_load_failure(npu_what, e)
            raise (RunnerUnavailable(msg) if requested == "npu" else SmokeFailed(msg)) from None
        setup.versions["torch_npu"] = getattr(torch_npu, "__version__", dist_version("torch_npu") or "?")
        if torch.npu.is_available() and torch.npu.device_count() > 0:
            setup.device = "npu:0"
            return setup
        why = "torch_npu loaded but torch.npu.is_available() is False (no NPU visible: driver, device nodes)"
        if requested == "npu":
            raise RunnerUnavailable(f"--device npu: {why}; {FIX}")
        setup.notes.append(why + "; falling back")
    if requested == "cuda" or requested == "auto":
        if torch.cuda.is_available():
            setup.device = "cuda:0"
            return setup
        if requested == "cuda":
            raise RunnerUnavailable("--device cuda: torch.cuda.is_available() is False (CPU-only torch build or no "
                                    "GPU); pass --device cpu")
    return setup


# -- MindSpore ---------------------------------------------------------------------------------------------------

def npu_device_nodes() -> list[str]:
    return sorted(glob.glob("/dev/davinci[0-9]*"))


def cann_env() -> str | None:
    return os.environ.get("ASCEND_HOME_PATH") or os.environ.get("ASCEND_TOOLKIT_HOME")


def mindspore_target(requested: str) -> tuple[str, str]:
    """``(device_target, why)`` for MindSpore."""
    if requested not in DEVICES:
        raise RunnerUnavailable(f"--device {requested}: expected one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return "CPU", "--device cpu"
    if requested == "npu":
        return "Ascend", "--device npu"
    if requested == "cuda":
        return "GPU", "--device cuda"
    nodes, env = npu_device_nodes(), cann_env()
    if nodes and env:
        return "Ascend", f"auto: CANN environment set ({env}) and {len(nodes)} NPU device node(s)"
    missing = " and ".join(x for x, ok in (("no CANN environment (ASCEND_HOME_PATH/ASCEND_TOOLKIT_HOME unset)",
                                            env), ("no /dev/davinci<N> device nodes", nodes)) if not ok)
    return "CPU", f"auto: {missing}"
