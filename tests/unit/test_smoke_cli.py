"""`python -m ascend_env smoke` end to end, in subprocesses as users (and the Ansible role) run it: exit codes, the
JSON report, bad input, a container venv without PyYAML/Jinja2/packaging, and torch_npu installed without CANN."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numpy")

from ascend_env.cli import smoke as smoke_cli
from ascend_env.smoke import run as smoke_run
from ascend_env.smoke.checkpoint import ensure_tiny_checkpoint
from ascend_env.smoke.devices import installed
from ascend_env.smoke.golden import load_golden

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None: unset
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=full_env)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("smoke-work"))


def test_numpy_json_report(work: str, tmp_path: Path):
    report_file = tmp_path / "r.json"
    r = run("smoke", "--framework", "numpy", "--work-dir", work, "--json", "--repeat", "2", "--report",
            str(report_file))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert json.loads(report_file.read_text()) == rep
    golden = load_golden()
    assert rep["schema"] == "ascend-env/smoke/1" and rep["ok"] is True and rep["exit_code"] == 0
    assert rep["runner"] == "numpy" and rep["device"] == "cpu" and rep["versions"]["numpy"]
    assert rep["output_ids"] == golden["output_ids"] and rep["prompt_ids"] == golden["prompt_ids"]
    assert rep["golden"] == {"checked": True, "match": True, "seed": 0, "expected_ids": golden["output_ids"]}
    assert rep["model"]["generated"] is True and rep["model"]["config"]["hidden_size"] == 64
    m = rep["metrics"]
    assert m["repeat"] == 2 and m["warmup"] == 1 and len(m["runs"]) == 2
    assert m["ttft_s"] > 0 and m["decode_tok_s"] > 0 and m["load_s"] > 0 and m["peak_rss_mb"] > 0
    assert all(x["new_tokens"] == 30 for x in m["runs"])
    assert "reference" not in rep and rep["problems"] == []


def test_human_output_and_module_entry_point(work: str):
    r = subprocess.run([sys.executable, "-m", "ascend_env.smoke", "--framework", "numpy", "--work-dir", work,
                        "--max-new-tokens", "5", "--repeat", "1"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "golden: match" in r.stdout and "first token" in r.stdout and r.stdout.rstrip().endswith("OK")


def test_other_prompt_checks_count_only(work: str):
    r = run("smoke", "--framework", "numpy", "--work-dir", work, "--prompt", "我爱北京", "--max-new-tokens", "7",
            "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and len(rep["output_ids"]) == 7 and rep["golden"] == {"checked": False}


@pytest.mark.parametrize(("args", "words"), [
    (["--framework", "numpy", "--runner", "transformers"], "--runner transformers does not exist"),
    (["--framework", "numpy", "--device", "npu"], "runs on the CPU only"),
    (["--framework", "numpy", "--max-new-tokens", "0"], "--max-new-tokens 0"),
    (["--framework", "numpy", "--max-new-tokens", "400"], "exceeds the model's max_position_embeddings 256"),
])
def test_bad_input_exits_2(work: str, args: list[str], words: str):
    r = run("smoke", *args, "--work-dir", work)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_missing_model_path_exits_2(tmp_path: Path):
    r = run("smoke", "--framework", "numpy", "--model-path", str(tmp_path / "nope"), "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 2 and rep["ok"] is False and rep["exit_code"] == 2 and rep["error_kind"] == "bad input"
    assert str(tmp_path / "nope") in rep["error"]


def test_wrong_layout_exits_2(tmp_path: Path):
    (tmp_path / "llama2_7b.ckpt").write_bytes(b"x")
    r = run("smoke", "--framework", "numpy", "--model-path", str(tmp_path))
    assert r.returncode == 2 and "missing config.json" in r.stderr and "llama2_7b.ckpt" in r.stderr


def test_corrupt_checkpoint_exits_2_naming_the_file(work: str, tmp_path: Path):
    model = tmp_path / "m"
    shutil.copytree(work, model) if (Path(work) / "config.json").exists() else ensure_tiny_checkpoint(model)
    f = model / "model.safetensors"
    f.write_bytes(f.read_bytes()[:1000])
    r = run("smoke", "--framework", "numpy", "--model-path", str(model))
    assert r.returncode == 2 and f"corrupt weights file {f}" in r.stderr and "Traceback" not in r.stderr


def test_given_model_path_runs_without_golden(work: str, tmp_path: Path):
    model = ensure_tiny_checkpoint(tmp_path / "m")[0]
    r = run("smoke", "--framework", "numpy", "--model-path", str(model), "--json", "--repeat", "1")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["model"]["generated"] is False and rep["golden"] == {"checked": False}
    assert len(rep["output_ids"]) == 30 and isinstance(rep["output_text"], str)


def test_golden_mismatch_exits_1(work: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    golden = load_golden()
    bad = dict(golden, output_ids=[*golden["output_ids"][:29], (golden["output_ids"][29] + 1) % 512])
    monkeypatch.setattr(smoke_run, "load_golden", lambda: bad)
    parser = smoke_cli.argparse.ArgumentParser()
    smoke_cli.fill_smoke_parser(parser)
    code = smoke_cli.run_smoke(parser.parse_args(["--work-dir", work, "--json", "--repeat", "1", "--warmup", "0"]))
    rep = json.loads(capsys.readouterr().out)
    assert code == 1 and rep["ok"] is False and rep["golden"]["match"] is False
    assert "differ from golden at new token 29" in rep["problems"][0]


def test_list_runners(work: str):
    r = run("smoke", "--list-runners", "--json")
    rows = {row["runner"]: row for row in json.loads(r.stdout)}
    assert r.returncode == 0 and set(rows) == {"numpy", "torch-direct", "transformers", "mindspore-direct",
                                                "mindformers"}
    assert rows["numpy"]["usable"] is True
    for name, module in (("torch-direct", "torch"), ("mindspore-direct", "mindspore"), ("mindformers", "mindformers")):
        assert rows[name]["usable"] == installed(module)
        if not installed(module):
            assert "not installed" in rows[name]["reason"]
    human = run("smoke", "--list-runners")
    assert "numpy" in human.stdout and "usable" in human.stdout


BLOCK = ("import sys, runpy\n"
         "for m in ('yaml', 'jinja2', 'packaging'): sys.modules[m] = None\n"
         "sys.argv = ['ascend_env'] + sys.argv[1:]\n"
         "runpy.run_module('ascend_env', run_name='__main__')\n")


def test_smoke_runs_without_yaml_jinja2_packaging(work: str):
    r = subprocess.run([sys.executable, "-c", BLOCK, "smoke", "--framework", "numpy", "--work-dir", work, "--json",
                        "--repeat", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
    h = subprocess.run([sys.executable, "-c", BLOCK, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert h.returncode == 0 and "smoke" in h.stdout and "matrix" in h.stdout and "unavailable here" in h.stdout
    m = subprocess.run([sys.executable, "-c", BLOCK, "matrix", "show"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert m.returncode == 2 and "not installed here" in m.stderr and "Traceback" not in m.stderr


def test_smoke_sources_are_python38_syntax():
    pkg = ROOT / "ascend_env"
    files = [*sorted((pkg / "smoke").rglob("*.py")), pkg / "cli" / "smoke.py", pkg / "cli" / "__init__.py",
             pkg / "__main__.py", pkg / "__init__.py"]
    for f in files:
        ast.parse(f.read_text(encoding="utf-8"), filename=str(f), feature_version=(3, 8))
        text = f.read_text(encoding="utf-8")
        for newer in (".removeprefix(", ".removesuffix(", "strict=True", "functools.cache("):  # 3.9+ APIs
            assert newer not in text, (f, newer)


def _torch_npu_unloadable() -> bool:
    if not installed("torch_npu"):
        return False
    probe = "import os; os.environ['TORCH_DEVICE_BACKEND_AUTOLOAD'] = '0'; import torch, torch_npu"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=120).returncode != 0


@pytest.mark.skipif(not _torch_npu_unloadable(), reason="needs torch_npu installed without CANN (cannot load)")
def test_torch_npu_installed_but_unloadable(work: str):
    env = {"TORCH_DEVICE_BACKEND_AUTOLOAD": None}  # unset, as in a user's shell: the tool must set it itself
    cpu = run("smoke", "--framework", "torch", "--device", "cpu", "--work-dir", work, "--json", env=env)
    assert cpu.returncode == 0, cpu.stderr
    rep = json.loads(cpu.stdout)
    assert rep["golden"]["match"] is True and rep["device"] == "cpu"
    auto = run("smoke", "--framework", "torch", "--work-dir", work, env=env)
    assert auto.returncode == 1, auto.stdout + auto.stderr
    for words in ("torch_npu", "libhccl", "--device cpu", "set_env.sh", "python -m ascend_env doctor"):
        assert words in auto.stderr, words
    assert "Traceback" not in auto.stderr + auto.stdout
    npu = run("smoke", "--framework", "torch", "--device", "npu", "--work-dir", work, env=env)
    assert npu.returncode == 2 and "libhccl" in npu.stderr and "Traceback" not in npu.stderr


def test_runs_from_a_zip_of_the_package(work: str, tmp_path: Path):
    """Containers get the package as a zip on sys.path (zipimport): golden.json must load from inside it."""
    import zipfile

    pkg = ROOT / "ascend_env"
    archive = tmp_path / "ascend_env.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(pkg.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                zf.write(f, f"ascend_env/{f.relative_to(pkg).as_posix()}")
    env = {**os.environ, "PYTHONPATH": str(archive)}
    r = subprocess.run([sys.executable, "-c", BLOCK, "smoke", "--framework", "numpy", "--work-dir", work, "--json",
                        "--repeat", "1"], capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["golden"]["match"] is True
