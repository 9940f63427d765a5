"""Issue 24, the matrix side: bad input gets one clear `error:` line on stderr and exit 2 (README: 0 ok, 1 conflict
or failed check, 2 bad input), never a traceback; a check that read nothing does not pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_env.errors import AscendEnvError
from ascend_env.matrix import check_matrix, override_paths
from ascend_env.matrix_history import HistoryError, load_history
from ascend_env.versions import Version, VersionError, parse_spec

ROOT = Path(__file__).resolve().parents[2]
HUGE = "1" * 5000


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=full)


def assert_usage_error(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-500:])
    assert r.stderr.startswith("error: "), r.stderr[-500:]
    for w in words:
        assert w in r.stderr, (w, r.stderr[-800:])
    assert "Traceback" not in r.stdout + r.stderr


# --- versions --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [HUGE, "8." + HUGE, "3." + "9" * 5000, f">={HUGE}", "2.1.0.post" + HUGE])
@pytest.mark.parametrize("component", ["cann", "python", "torch_npu", "driver"])
def test_a_version_with_thousands_of_digits_is_a_clean_error(text, component):
    with pytest.raises(VersionError) as e:
        parse_spec(text, component)
    assert "characters" in str(e.value) and len(str(e.value)) < 400
    with pytest.raises(VersionError):
        Version.parse(text.lstrip(">="), component)


def test_the_cli_refuses_a_huge_version_cleanly():
    assert_usage_error(run("matrix", "resolve", "--cann", HUGE), "--cann", "longer than")


def test_python_suggestions_are_pythons():
    r = run("matrix", "resolve", "--python", "abc")
    assert_usage_error(r, "'abc' is not a valid Python version", "3.9, 3.10 or 3.11.4", "--python")
    assert "post" not in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--chip", "999x"], ["unknown chip '999x'", "910b"]),
    (["--arch", "sparc"], ["unknown architecture 'sparc'", "aarch64"]),
    (["--cann", "8.0.R1"], ["'8.0.R1' is not a valid CANN version", "--cann"]),
    (["--torch-npu", "two"], ["torch_npu", "--torch-npu"]),
    (["--torch", "2.1.0", "--mindspore", "2.2.11"], ["both MindSpore-side"]),
])
def test_bad_values_exit_2_on_stderr(args, words):
    r = run("matrix", "resolve", *args)
    assert_usage_error(r, *words)
    assert r.stdout == ""
    j = run("matrix", "resolve", *args, "--json")
    assert j.returncode == 2 and json.loads(j.stdout)["kind"] == "bad-input"


def test_a_conflict_still_exits_1_on_stdout():
    r = run("matrix", "resolve", "--framework", "mindspore", "--mindspore", "2.2.11", "--cann", "8.0.RC1")
    assert r.returncode == 1 and "no consistent stack" in r.stdout and r.stderr == ""


# --- overrides files -----------------------------------------------------------------------------------------------
ROW = 'torch_npu:\n  - {version: "2.1.0.post99", torch: "2.1.0", cann: ["8.0.RC1"], source: local}\n'


def test_the_same_overrides_file_twice_is_read_once(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text(ROW)
    copy = tmp_path / "copy.yml"
    shutil.copy(f, copy)
    link = tmp_path / "link.yml"
    link.symlink_to(f)
    for paths in ([f, f], [f, tmp_path / "." / "site.yml"], [f, copy], [f, link]):
        assert len(override_paths(paths)) == 1
        m, problems = check_matrix(paths)
        assert problems == [] and len([r for r in m.torch_npu if str(r.version) == "2.1.0.post99"]) == 1
    r = run("matrix", "check", "--overrides", str(f), "--overrides", str(f),
            env={"ASCEND_ENV_MATRIX_OVERRIDES": str(copy)})
    assert r.returncode == 0 and "duplicate" not in r.stdout, r.stdout


def test_a_non_utf8_overrides_file_names_the_file(tmp_path):
    f = tmp_path / "latin1.yml"
    f.write_bytes(b"# caf\xe9\n" + ROW.encode())
    r = run("matrix", "check", "--overrides", str(f))
    assert r.returncode == 1 and str(f) in r.stdout and "not UTF-8" in r.stdout and "Traceback" not in r.stderr
    assert_usage_error(run("matrix", "resolve", "--overrides", str(f), "--torch-npu", "2.1.0.post4"),
                       str(f), "not UTF-8")


@pytest.mark.parametrize("field, value, words", [
    ("aliases", "7", ["aliases must be a list of names", "7"]),
    ("aliases", None, ["aliases must be a list of names"]),
    ("npu_smi_names", {"a": 1}, ["npu_smi_names must be a list of names"]),
    ("chips_per_card", "x", ["chips_per_card must be a whole number", "'x'"]),
    ("chips_per_card", [2], ["chips_per_card must be a whole number"]),
    ("chips_per_card", 0, ["chips_per_card must be a whole number"]),
    ("hbm", "yes please", ["hbm must be true or false"]),
])
def test_a_chip_row_with_a_bad_value_is_a_problem_not_a_crash(tmp_path, field, value, words):
    """Found by comparing check_matrix before and after its split (issue 21): these values raised TypeError or
    ValueError (exit 70, "internal error") instead of naming the field."""
    import yaml

    row = {"id": "npu-x", "name": "site chip", "pci": {"vendor": "0x19e5", "device": "0xd8ff"}, "file_chip": "x",
           "chips_per_card": 1, "source": "local", field: value}
    f = tmp_path / "site.yml"
    f.write_text(yaml.safe_dump({"chips": [row]}))
    m, problems = check_matrix([f])
    said = [str(p) for p in problems]
    assert len(said) == 1 and all(w in said[0] for w in words) and str(f) in said[0], said
    assert "npu-x" not in {c.id for c in m.chips}
    r = run("matrix", "check", "--overrides", str(f))
    assert r.returncode == 1 and field in r.stdout and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_chip_row_with_good_values_still_loads(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text('chips:\n  - {id: npu-x, name: site chip, pci: {vendor: "0x19e5", device: "0xd8ff"}, file_chip: x,\n'
                 '     chips_per_card: "2", hbm: true, aliases: [npux, 7], source: local}\n')
    m, problems = check_matrix([f])
    chip = next(c for c in m.chips if c.id == "npu-x")
    assert problems == [] and chip.chips_per_card == 2 and chip.hbm is True and chip.aliases == ("npux", "7")


# --- the audit's page history ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, words", [
    (b"pages: [unclosed\n", "not valid YAML"),
    (b"- a\n- list\n", "holds a list"),
    (b"pages: {a: 1}\n", "pages: must be a list"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
])
def test_a_bad_history_file_is_a_clean_error(tmp_path, content, words):
    f = tmp_path / "history.yaml"
    f.write_bytes(content)
    with pytest.raises(HistoryError) as e:
        load_history(f)
    assert isinstance(e.value, AscendEnvError) and str(f) in str(e.value)
    assert_usage_error(run("matrix", "audit", "--history", str(f)), str(f), words)
    assert_usage_error(run("matrix", "audit", "--strict", "--json", "--history", str(f)), words)


def test_a_missing_history_file_is_a_clean_error(tmp_path):
    assert_usage_error(run("matrix", "audit", "--history", str(tmp_path / "nope.yaml")), "cannot read")


@pytest.mark.parametrize("content", ["", "pages: []\n", "ignored: []\nunread: []\n"])
def test_an_empty_history_does_not_pass(tmp_path, content):
    f = tmp_path / "history.yaml"
    f.write_text(content)
    for args in (["--strict"], [], ["--strict", "--json"]):
        r = run("matrix", "audit", *args, "--history", str(f))
        assert r.returncode == 1, (args, r.stdout[-300:], r.stderr)
        assert "holds no page" in r.stderr and "Traceback" not in r.stderr


# --- render: errors name the flags the user typed ------------------------------------------------------------------
@pytest.mark.parametrize("args, flag, key", [
    (["sshd", "--permit-root-login", "yes"], "--allow-insecure", "allow_insecure"),
    (["sshd", "--option", "PasswordAuthentication=yes"], "--password-login", "password_login"),
    (["sshd", "--client-alive-interval", "0"], "--client-alive-interval", "client_alive_interval"),
    (["env", "--conda-env", "ms"], "--conda-prefix", "conda_prefix"),
    (["container", "--runtime", "docker", "--name", "x", "--image", "ubuntu:22.04", "--devices", "0",
      "--detected", "0", "--shm-size", "12q"], "--shm-size", "shm_size"),
])
def test_render_errors_name_the_flags(args, flag, key):
    r = run("render", *args)
    assert_usage_error(r, flag)
    assert key not in r.stderr
