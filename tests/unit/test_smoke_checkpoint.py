"""The smoke run's checkpoint side: the generator, the safetensors reader/writer, and the errors for bad input."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from ascend_env.smoke import safetensors_io  # noqa: E402
from ascend_env.smoke.checkpoint import (  # noqa: E402
    INDEX,
    ensure_tiny_checkpoint,
    inspect_model_dir,
    read_weights,
    tiny_files,
    tiny_weights,
)
from ascend_env.smoke.errors import CheckpointError  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))[0]


@pytest.fixture
def copy(tiny: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(tiny, dst)
    return dst


def test_generator_is_deterministic_to_the_byte(tmp_path: Path):
    a, b = tiny_files(0), tiny_files(0)
    assert a == b
    assert tiny_files(1)["model.safetensors"] != a["model.safetensors"]
    ensure_tiny_checkpoint(tmp_path / "x")
    ensure_tiny_checkpoint(tmp_path / "y")
    for name in a:
        assert (tmp_path / "x" / name).read_bytes() == (tmp_path / "y" / name).read_bytes() == a[name]


def test_ensure_rewrites_only_what_differs(tmp_path: Path):
    d, written = ensure_tiny_checkpoint(tmp_path)
    assert written
    assert ensure_tiny_checkpoint(tmp_path) == (d, False)
    (d / "model.safetensors").write_bytes(b"garbage")
    assert ensure_tiny_checkpoint(tmp_path)[1]
    assert (d / "model.safetensors").read_bytes() == tiny_files(0)["model.safetensors"]


def test_tiny_config_is_what_transformers_needs(tiny: Path):
    cfg = json.loads((tiny / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["torch_dtype"] == "float32" and cfg["tie_word_embeddings"] is False
    assert (cfg["bos_token_id"], cfg["eos_token_id"]) == (1, 2)
    assert cfg["num_key_value_heads"] < cfg["num_attention_heads"]  # exercises GQA
    assert json.loads((tiny / "generation_config.json").read_text())["eos_token_id"] == 2


def test_weights_have_hf_llama_names_and_init(tiny: Path):
    w = tiny_weights(0)
    assert "model.embed_tokens.weight" in w and "lm_head.weight" in w and "model.norm.weight" in w
    assert w["model.layers.1.self_attn.k_proj.weight"].shape == (2 * 16, 64)
    assert all(a.dtype == np.float32 for a in w.values())
    assert np.all(w["model.layers.0.input_layernorm.weight"] == 1.0)
    assert abs(float(w["model.embed_tokens.weight"].std()) - 0.02) < 0.001


def test_safetensors_round_trip_and_layout(tmp_path: Path):
    tensors = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1.5, -2], dtype=np.float16)}
    path = tmp_path / "t.safetensors"
    safetensors_io.write(path, tensors)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert n % 8 == 0 and header["__metadata__"] == {"format": "pt"}
    assert header["a"] == {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}
    got = safetensors_io.read(path)
    assert got["b"].dtype == "F32" and np.array_equal(safetensors_io.to_float32(got["b"]), tensors["b"])
    assert np.array_equal(safetensors_io.to_float32(got["a"]), tensors["a"].astype(np.float32))


def test_bf16_is_widened_exactly(tmp_path: Path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    head = json.dumps({"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head + bits.tobytes())
    assert np.array_equal(safetensors_io.to_float32(safetensors_io.read(path)["x"]), values)


def test_the_safetensors_library_reads_our_file(tiny: Path):
    st = pytest.importorskip("safetensors.numpy")
    theirs = st.load_file(str(tiny / "model.safetensors"))
    ours = tiny_weights(0)
    assert set(theirs) == set(ours) and all(np.array_equal(theirs[k], ours[k]) for k in ours)


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda b: b[:4], "too short"),
    (lambda b: b[:200], "runs past the end"),
    (lambda b: b[:8] + b"{not json" + b[17:], "not valid JSON"),
    (lambda b: b[:-100], "outside the data section"),
])
def test_corrupt_weights_name_the_file(copy: Path, mutate, words: str):
    f = copy / "model.safetensors"
    f.write_bytes(mutate(f.read_bytes()))
    with pytest.raises(CheckpointError) as e:
        read_weights(inspect_model_dir(copy))
    assert str(f) in str(e.value) and words in str(e.value)
    assert e.value.exit_code == 2


def test_size_mismatch_is_named(tmp_path: Path):
    head = json.dumps({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head + bytes(8))
    with pytest.raises(CheckpointError, match=r"'x' has 8 bytes but shape \[3\] of F32 needs 12"):
        safetensors_io.read(path)


def test_shape_disagreeing_with_config_is_named(copy: Path):
    cfg = json.loads((copy / "config.json").read_text())
    cfg["intermediate_size"] = 128
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"mlp.gate_proj.weight has shape \[256, 64\], config.json implies"):
        read_weights(inspect_model_dir(copy))


@pytest.mark.parametrize(("remove", "words"), [
    ("model.safetensors", "no model.safetensors"),
    ("config.json", "missing config.json"),
    ("tokenizer.model", "missing tokenizer.model"),
])
def test_missing_files_are_named(copy: Path, remove: str, words: str):
    (copy / remove).unlink()
    with pytest.raises(CheckpointError, match=words) as e:
        inspect_model_dir(copy)
    assert str(copy) in str(e.value) and "Hugging Face layout" in str(e.value)


def test_missing_path(tmp_path: Path):
    with pytest.raises(CheckpointError, match="does not exist"):
        inspect_model_dir(tmp_path / "nope")


def test_wrong_layout_mindspore_ckpt(tmp_path: Path):
    (tmp_path / "llama2_7b.ckpt").write_bytes(b"x")
    with pytest.raises(CheckpointError) as e:
        inspect_model_dir(tmp_path)
    msg = str(e.value)
    assert "missing config.json" in msg and "llama2_7b.ckpt" in msg and "MindSpore .ckpt" in msg


def test_wrong_layout_pytorch_bin(copy: Path):
    (copy / "model.safetensors").rename(copy / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*convert them to safetensors"):
        inspect_model_dir(copy)


def test_wrong_model_type(copy: Path):
    cfg = json.loads((copy / "config.json").read_text())
    cfg["model_type"] = "qwen2"
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="model_type is 'qwen2', expected 'llama'"):
        inspect_model_dir(copy)


def test_corrupt_config_json(copy: Path):
    (copy / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"corrupt config\.json.*not valid JSON"):
        inspect_model_dir(copy)


def _shard(model: Path) -> None:
    """Split model.safetensors into two shards + index, as save_pretrained does for large models."""
    tensors = tiny_weights(0)
    names = sorted(tensors)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, part in parts.items():
        safetensors_io.write(model / fname, {n: tensors[n] for n in part})
    index = {"metadata": {}, "weight_map": {n: f for f, part in parts.items() for n in part}}
    (model / INDEX).write_text(json.dumps(index))
    (model / "model.safetensors").unlink()


def test_sharded_checkpoint_reads_the_same(copy: Path):
    _shard(copy)
    md = inspect_model_dir(copy)
    assert len(md.weight_files) == 2
    got = {n: safetensors_io.to_float32(t) for n, t in read_weights(md).items()}
    assert all(np.array_equal(got[n], a) for n, a in tiny_weights(0).items())


def test_sharded_missing_shard_and_missing_index(copy: Path):
    _shard(copy)
    (copy / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"missing weights file: .*model-00002-of-00002\.safetensors"):
        inspect_model_dir(copy)
    (copy / INDEX).unlink()
    with pytest.raises(CheckpointError, match=f"found shards model-00001-of-00002.safetensors but no {INDEX}"):
        inspect_model_dir(copy)
