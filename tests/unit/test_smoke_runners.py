"""Golden ids: every runner usable in this venv must reproduce ``golden.json`` exactly on the generated checkpoint
(fp32, CPU). Runners whose framework is not installed here are skipped; run this file from a venv with torch,
transformers or mindspore to check them (docs/smoke.md lists the venvs and versions verified)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")  # an unloadable torch_npu must not break `import torch`
np = pytest.importorskip("numpy")

from ascend_env.smoke.checkpoint import ensure_tiny_checkpoint, inspect_model_dir, tiny_files  # noqa: E402
from ascend_env.smoke.devices import installed  # noqa: E402
from ascend_env.smoke.golden import PROMPT, golden_problems, load_golden, make_golden, sha256  # noqa: E402
from ascend_env.smoke.runners import RUNNERS, runner_class, select  # noqa: E402

NEEDS = {"numpy": "numpy", "torch-direct": "torch", "transformers": "transformers", "mindspore-direct": "mindspore",
         "mindformers": "mindformers"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return inspect_model_dir(ensure_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))[0])


@pytest.fixture(scope="module")
def golden() -> dict:
    return load_golden()


def test_golden_file_describes_the_generator(golden: dict):
    files = tiny_files(golden["seed"])
    assert golden["model_safetensors_sha256"] == sha256(files["model.safetensors"])
    assert golden["tokenizer_model_sha256"] == sha256(files["tokenizer.model"])
    assert golden["prompt"] == PROMPT and golden["max_new_tokens"] == len(golden["output_ids"]) == 30
    assert golden["min_logit_margin"] > 1e-4  # fp32 rounding (~1e-7) cannot flip a token


def test_numpy_reference_reproduces_golden(golden: dict):
    fresh = make_golden(golden["seed"])
    for key in ("prompt_ids", "output_ids", "output_text", "model_safetensors_sha256", "tokenizer_model_sha256"):
        assert fresh[key] == golden[key], key


def test_golden_check_catches_any_difference(model, golden: dict):
    ids = list(golden["output_ids"])
    assert golden_problems(golden, model.path, PROMPT, golden["prompt_ids"], ids) == []
    ids[17] = (ids[17] + 1) % 512
    (problem,) = golden_problems(golden, model.path, PROMPT, golden["prompt_ids"], ids)
    assert "differ from golden at new token 17" in problem
    (problem,) = golden_problems(golden, model.path, PROMPT, [1, 2], golden["output_ids"])
    assert "prompt ids" in problem


@pytest.mark.parametrize("name", list(RUNNERS))
def test_runner_reproduces_golden_on_cpu(name: str, model, golden: dict):
    if not installed(NEEDS[name]):
        pytest.skip(f"{NEEDS[name]} not installed in this venv")
    runner = runner_class(name)()
    avail = runner.availability()
    if not avail.usable:
        pytest.skip(f"{name}: {avail.reason}")
    assert runner.prepare("cpu") == "cpu"
    runner.load(model)
    prompt_ids = runner.encode(PROMPT)
    assert prompt_ids == golden["prompt_ids"]
    for _ in range(2):  # warm-up, then the checked run: both exact
        gen = runner.generate(prompt_ids, 30)
        assert gen.ids == golden["output_ids"], f"{name} {runner.versions}"
    assert len(gen.stamps) == 30 and gen.ttft_s > 0 and gen.decode_tok_s and gen.decode_tok_s > 0
    text = runner.decode(gen.ids)
    if runner.kind == "direct":  # the checkpoint's tokenizer.model, decoded as sentencepiece does
        assert text == golden["output_text"]
    else:  # the framework's own tokenizer: invalid UTF-8 byte runs may decode differently (HF: one U+FFFD per byte)
        assert isinstance(text, str) and text.endswith(golden["output_text"][-8:])


def test_selection():
    assert select("torch", "auto") == "torch-direct" and select("torch", "transformers") == "transformers"
    assert select("mindspore", "direct") == "mindspore-direct" and select("numpy", "auto") == "numpy"
    with pytest.raises(Exception, match="--runner transformers does not exist for --framework mindspore"):
        select("mindspore", "transformers")


def test_mindspore_auto_rule(monkeypatch: pytest.MonkeyPatch):
    from ascend_env.smoke import devices

    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    monkeypatch.setattr(devices, "npu_device_nodes", lambda: ["/dev/davinci0"])
    target, why = devices.mindspore_target("auto")
    assert target == "CPU" and "no CANN environment" in why
    monkeypatch.setenv("ASCEND_HOME_PATH", "/usr/local/Ascend/ascend-toolkit/latest")
    assert devices.mindspore_target("auto")[0] == "Ascend"
    monkeypatch.setattr(devices, "npu_device_nodes", lambda: [])
    assert devices.mindspore_target("auto") == ("CPU", "auto: no /dev/davinci<N> device nodes")
    assert devices.mindspore_target("npu")[0] == "Ascend" and devices.mindspore_target("cpu")[0] == "CPU"


def test_load_failure_diagnosis_names_the_cause_and_the_fix():
    err = ImportError("libhccl.so: cannot open shared object file: No such file or directory")
    msg = __import__("ascend_env.smoke.devices", fromlist=["x"]).diagnose_load_failure("torch_npu 2.13.0", err)
    assert msg.startswith("torch_npu 2.13.0 is installed but cannot load: ImportError: libhccl.so")
    assert "set_env.sh is not sourced" in msg and "python -m ascend_env doctor" in msg and "--device cpu" in msg
    # CANN found, the driver's libraries not: the loader names libascend_hal.so (CANN's libraries load it)
    hal = ImportError("libascend_hal.so: cannot open shared object file: No such file or directory")
    msg = __import__("ascend_env.smoke.devices", fromlist=["x"]).diagnose_load_failure("torch_npu 2.13.0", hal)
    assert "driver's libraries are not on LD_LIBRARY_PATH" in msg and "set_env.sh is not sourced" not in msg


def test_weights_path_for_tied_embeddings_and_unused_files(tmp_path: Path):
    """A config with tie_word_embeddings needs no lm_head tensor; the numpy runner uses the embedding."""
    import json

    from ascend_env.smoke import safetensors_io
    from ascend_env.smoke.checkpoint import read_weights, tiny_weights

    d = ensure_tiny_checkpoint(tmp_path)[0]
    cfg = json.loads((d / "config.json").read_text())
    cfg["tie_word_embeddings"] = True
    (d / "config.json").write_text(json.dumps(cfg))
    w = tiny_weights(0)
    del w["lm_head.weight"]
    safetensors_io.write(d / "model.safetensors", w)
    md = inspect_model_dir(d)
    assert "lm_head.weight" not in read_weights(md)
    runner = runner_class("numpy")()
    runner.prepare("cpu")
    runner.load(md)
    assert len(runner.generate(runner.encode(PROMPT), 5).ids) == 5
