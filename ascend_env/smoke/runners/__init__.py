"""The runners, by name, and which one ``--framework`` + ``--runner`` selects.

Importing a runner module imports only numpy; each framework is imported in the runner's ``prepare``.
"""

from __future__ import annotations

import importlib

from ..errors import RunnerUnavailable
from .base import Runner

#: name -> (module, class); the order is --list-runners' order
RUNNERS = {
    "numpy": ("numpy_ref", "NumpyRunner"),
    "torch-direct": ("torch_direct", "TorchDirectRunner"),
    "transformers": ("transformers_hf", "TransformersRunner"),
    "mindspore-direct": ("mindspore_direct", "MindSporeDirectRunner"),
    "mindformers": ("mindformers_hf", "MindFormersRunner"),
}
FRAMEWORKS = ("torch", "mindspore", "numpy")
KINDS = ("auto", "direct", "transformers", "mindformers")
_SELECT = {
    ("numpy", "direct"): "numpy",
    ("torch", "direct"): "torch-direct",
    ("torch", "transformers"): "transformers",
    ("mindspore", "direct"): "mindspore-direct",
    ("mindspore", "mindformers"): "mindformers",
}


def runner_class(name: str) -> type[Runner]:
    module, cls = RUNNERS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def select(framework: str, kind: str) -> str:
    """The runner name for ``--framework`` and ``--runner`` (auto = direct); RunnerUnavailable if none fits."""
    key = (framework, "direct" if kind == "auto" else kind)
    if key not in _SELECT:
        fits = [k for f, k in _SELECT if f == framework]
        raise RunnerUnavailable(f"--runner {kind} does not exist for --framework {framework}: choose "
                                f"{' or '.join(['auto', *fits])}")
    return _SELECT[key]
