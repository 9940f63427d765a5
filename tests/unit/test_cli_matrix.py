"""`python -m ascend_env matrix ...` end to end, in a subprocess, as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_issue_example_human_and_json_agree():
    args = ["matrix", "resolve", "--chip", "910b", "--arch", "aarch64", "--framework", "mindspore",
            "--mindspore", "2.2.11"]
    human, js = run(*args), run(*args, "--json")
    assert human.returncode == 0 and js.returncode == 0, human.stderr + js.stderr
    data = json.loads(js.stdout)
    comps = data["components"]
    assert comps["mindformers"]["version"] == "1.0.0" and comps["cann"]["version"] == "7.0.0.beta1"
    assert comps["python"]["constraints"] and comps["driver"]["constraints"]
    for name in ("cann", "mindspore", "mindformers", "python", "driver", "firmware"):
        assert comps[name]["sources"], name
    # the human output shows the same values and the sources
    for value in ("1.0.0", "7.0.0.beta1", comps["python"]["version"], comps["driver"]["recommended"]):
        assert value in human.stdout
    assert "sources:" in human.stdout and "mindspore-lab/mindformers" in human.stdout


def test_contradiction_exits_1_with_every_rule():
    r = run("matrix", "resolve", "--framework", "mindspore", "--mindspore", "2.2.11", "--cann", "8.0.RC1",
            "--python", "3.11")
    assert r.returncode == 1
    assert r.stdout.count("✗ ") >= 3 and "fix:" in r.stdout
    j = json.loads(run("matrix", "resolve", "--framework", "mindspore", "--mindspore", "2.2.11", "--cann",
                       "8.0.RC1", "--json").stdout)
    assert j["ok"] is False and j["violations"][0]["source"]


def test_unknown_version_exits_1_with_nearest():
    r = run("matrix", "resolve", "--framework", "torch", "--torch-npu", "2.1.0.post5")
    assert r.returncode == 1 and "nearest" in r.stdout and "2.1.0.post4" in r.stdout


def test_usage_errors_exit_2():
    assert run("matrix", "resolve", "--framework", "jax").returncode == 2
    assert run("matrix").returncode == 2
    assert run("matrix", "show", "nonsense").returncode == 2


def test_show_and_check():
    r = run("matrix", "show", "torch_npu", "--json")
    rows = json.loads(r.stdout)
    assert r.returncode == 0 and all(row["source"] for row in rows)
    r = run("matrix", "check", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


def test_check_with_a_stack(tmp_path):
    ok = run("matrix", "check", "--chip", "910b", "--cann", "8.0.RC1", "--torch", "2.1.0", "--torch-npu",
             "2.1.0.post4", "--python", "3.9")
    assert ok.returncode == 0, ok.stdout
    bad = run("matrix", "check", "--cann", "8.0.RC1", "--torch-npu", "2.4.0.post2")
    assert bad.returncode == 1


def test_check_reports_bad_overrides(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text('torch:\n  - {version: "2.99.0", source: "somewhere"}\n')
    r = run("matrix", "check", "--overrides", str(f))
    assert r.returncode == 1 and "a public URL" in r.stdout and str(f) in r.stdout


@pytest.mark.parametrize("cmd", [["--help"], ["matrix", "resolve", "--help"], ["matrix", "show", "--help"],
                                 ["matrix", "check", "--help"]])
def test_help_has_examples(cmd):
    r = run(*cmd)
    assert r.returncode == 0 and "example" in r.stdout


def test_readme_matrix_table_is_generated_from_the_data():
    r = subprocess.run([sys.executable, "scripts/update_readme.py", "--check"], cwd=ROOT, capture_output=True,
                       text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
