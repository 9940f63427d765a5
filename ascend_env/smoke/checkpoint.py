"""Model directories in the Hugging Face layout: generate the tiny one, check any one, read its weights.

Layout: ``config.json`` (``model_type: llama``), ``model.safetensors`` or shards ``model-0000x-of-0000y.safetensors``
with ``model.safetensors.index.json``, and the SentencePiece ``tokenizer.model``. The tiny checkpoint is written from
fixed-seed numpy weights (normal, std 0.02; norm weights 1.0; fp32) and a hand-built tokenizer: same seed, same bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import safetensors_io
from .errors import CheckpointError
from .model_spec import LlamaSpec, spec_from_config
from .safetensors_io import RawTensor
from .spm_model import serialize
from .vocab import build_model

DEFAULT_SEED = 0
INDEX = "model.safetensors.index.json"
#: the generated model: Llama architecture, small enough to run in well under a second on one core
TINY_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "torch_dtype": "float32",
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "hidden_act": "silu",
    "max_position_embeddings": 256,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "rms_norm_eps": 1e-06,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "tie_word_embeddings": False,
    "use_cache": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
GENERATION_CONFIG = {"bos_token_id": 1, "eos_token_id": 2, "do_sample": False}
TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizer",
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "model_max_length": 256,
    "legacy": False,
    "clean_up_tokenization_spaces": False,
}


@dataclass(frozen=True)
class ModelDir:
    """A checked model directory."""

    path: Path
    config: dict
    spec: LlamaSpec
    weight_files: tuple[Path, ...]
    weight_map: dict  # tensor name -> file name (sharded), or {} for a single file
    tokenizer: Path


# -- the tiny checkpoint -----------------------------------------------------------------------------------------

def _dumps(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def tiny_weights(seed: int = DEFAULT_SEED, config: dict | None = None) -> dict[str, np.ndarray]:
    """The tiny model's fp32 weights, drawn in Hugging Face order from ``numpy.random.default_rng(seed)``."""
    spec = spec_from_config(config or TINY_CONFIG)
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in spec.weight_shapes().items():
        if name.endswith("norm.weight"):
            out[name] = np.ones(shape, dtype=np.float32)
        else:
            out[name] = rng.normal(0.0, 0.02, size=shape).astype(np.float32)
    return out


def tiny_files(seed: int = DEFAULT_SEED) -> dict[str, bytes]:
    """File name -> bytes of the generated checkpoint (deterministic for a seed)."""
    return {
        "config.json": _dumps(TINY_CONFIG),
        "generation_config.json": _dumps(GENERATION_CONFIG),
        "tokenizer_config.json": _dumps(TOKENIZER_CONFIG),
        "special_tokens_map.json": _dumps({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}),
        "model.safetensors": safetensors_io.encode(tiny_weights(seed), {"format": "pt", "seed": str(seed)}),
        "tokenizer.model": serialize(build_model(TINY_CONFIG["vocab_size"])),
    }


def ensure_tiny_checkpoint(work_dir: Path, seed: int = DEFAULT_SEED) -> tuple[Path, bool]:
    """Write the generated checkpoint into ``work_dir`` unless every file is already byte-identical.

    Returns ``(work_dir, written)``. Files are replaced atomically, so a concurrent or interrupted run never leaves
    a half-written checkpoint behind.
    """
    work_dir = Path(work_dir)
    files = tiny_files(seed)
    written = False
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target = work_dir / name
            if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
                continue
            tmp = work_dir / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written = True
    except OSError as e:
        raise CheckpointError(f"cannot write the generated checkpoint into {work_dir}: {e} -- pass --work-dir "
                              "to a writable directory") from None
    return work_dir, written


# -- checking a directory ----------------------------------------------------------------------------------------

def _found(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} entries)" if len(names) > 8 else "")
    return shown or "nothing (empty directory)"


def _wrong_weights_hint(path: Path) -> str:
    if list(path.glob("*.ckpt")):
        return ("MindSpore .ckpt weights: this tool reads the Hugging Face layout; point --model-path at the "
                "Hugging Face checkpoint (MindFormers converts between the two)")
    if list(path.glob("pytorch_model*.bin")) or list(path.glob("*.pth")):
        return ("PyTorch pickle weights (pytorch_model.bin): convert them to safetensors, e.g. "
                "AutoModelForCausalLM.from_pretrained(d).save_pretrained(d, safe_serialization=True)")
    if list(path.glob("*.gguf")):
        return "GGUF weights: this tool reads safetensors in the Hugging Face layout"
    return "no weights"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"corrupt {path.name}: {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"corrupt {path.name}: {path} holds {type(data).__name__}, expected an object")
    return data


def inspect_model_dir(path: Path) -> ModelDir:
    """Check that ``path`` is a Llama checkpoint in the Hugging Face layout; CheckpointError says what was expected
    and what was found."""
    path = Path(path).expanduser()
    expected = ("expected the Hugging Face layout: config.json, model.safetensors (or model-0000x-of-0000y."
                "safetensors + model.safetensors.index.json) and tokenizer.model")
    if not path.exists():
        raise CheckpointError(f"model path {path} does not exist; {expected}")
    if not path.is_dir():
        raise CheckpointError(f"model path {path} is a file; {expected} in a directory")
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{path}: missing config.json; {expected}; found {_found(path)}"
                              + _maybe_hint(path))
    config = _read_json(cfg_path)
    model_type = config.get("model_type")
    if model_type != "llama":
        raise CheckpointError(f"{cfg_path}: model_type is {model_type!r}, expected 'llama' (LlamaForCausalLM, "
                              "e.g. Llama-2-7b-hf); other architectures are not supported by the smoke run")
    spec = spec_from_config(config, str(cfg_path))
    index_path = path / INDEX
    weight_map: dict = {}
    if index_path.is_file():
        index = _read_json(index_path)
        weight_map = index.get("weight_map") or {}
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"corrupt {INDEX}: {index_path} has no weight_map")
        files = tuple(path / f for f in sorted(set(weight_map.values())))
        for f in files:
            if not f.is_file():
                raise CheckpointError(f"missing weights file: {f} (listed in {index_path}) does not exist")
    elif (path / "model.safetensors").is_file():
        files = (path / "model.safetensors",)
    else:
        shards = sorted(path.glob("model-*-of-*.safetensors"))
        if shards:
            raise CheckpointError(f"{path}: found shards {', '.join(s.name for s in shards[:3])} but no {INDEX} "
                                  "-- copy the index file from the original checkpoint")
        raise CheckpointError(f"{path}: no model.safetensors; {expected}; found {_found(path)} -- "
                              f"{_wrong_weights_hint(path)}")
    tok = path / "tokenizer.model"
    if not tok.is_file():
        extra = " (found tokenizer.json only: the SentencePiece tokenizer.model is needed)" \
            if (path / "tokenizer.json").is_file() else ""
        raise CheckpointError(f"{path}: missing tokenizer.model{extra}; {expected}")
    return ModelDir(path, config, spec, files, weight_map, tok)


def _maybe_hint(path: Path) -> str:
    hint = _wrong_weights_hint(path)
    return "" if hint == "no weights" else f" -- {hint}"


def read_weights(model: ModelDir) -> dict[str, RawTensor]:
    """Every tensor the Llama forward pass needs, checked against the config's shapes (names the file if not)."""
    shapes = model.spec.weight_shapes()
    out: dict[str, RawTensor] = {}
    for f in model.weight_files:
        wanted = {n for n, file in model.weight_map.items() if file == f.name} if model.weight_map else None
        tensors = safetensors_io.read(f, None if wanted is None else wanted)
        if wanted is not None and wanted - set(tensors):
            missing = sorted(wanted - set(tensors))
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise CheckpointError(f"corrupt weights file {f}: {INDEX} lists {missing[0]}{more} but the file lacks it")
        out.update((n, t) for n, t in tensors.items() if n in shapes)
    where = model.weight_files[0] if len(model.weight_files) == 1 else model.path / INDEX
    for name, shape in shapes.items():
        if name not in out:
            raise CheckpointError(f"{where}: tensor {name} is missing (a Llama checkpoint of "
                                  f"{model.spec.num_hidden_layers} layers needs it)")
        if tuple(out[name].shape) != shape:
            raise CheckpointError(f"{where}: tensor {name} has shape {list(out[name].shape)}, config.json implies "
                                  f"{list(shape)}")
    return out
