"""Schema checks: the packaged data is valid, and broken data is rejected with located messages."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from ascend_env.matrix import DATA_FILES, MatrixInvalid, _data_dir, check_matrix, load_matrix


def test_packaged_matrix_is_valid():
    m, problems = check_matrix()
    assert problems == []
    assert m.row_count() > 200
    assert len(m.sources()) > 30


def test_every_row_has_a_source(matrix):
    for section in ("chips", "releases", "cann_hdk", "cann_python", "mindspore", "mindformers", "torch",
                    "torch_npu", "installers", "layouts"):
        for row in getattr(matrix, section):
            assert row.meta.source, row.meta.where


def test_issue_rows_are_present(matrix):
    # the extensions the issue asked for
    assert {str(v) for v in matrix.versions("torch_npu")} >= {"2.13.0", "2.14.0", "2.1.0.post3", "2.1.0.post4"}
    assert {str(v) for v in matrix.versions("mindformers")} >= {"1.0.0", "1.9.0"}
    assert {str(v) for v in matrix.versions("mindspore")} >= {"2.2.11", "2.7.0", "2.9.0"}


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(_data_dir(), d)
    return d


def _append(path: Path, section: str, row: dict) -> None:
    doc = yaml.safe_load(path.read_text())
    doc[section].append(row)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))


def _problems(data: Path, overrides=()) -> list[str]:
    _, problems = check_matrix(overrides, data_dir=data)
    return [str(p) for p in problems]


def test_row_without_source_is_rejected(data_copy):
    _append(data_copy / "torch.yaml", "torch", {"version": "2.99.0", "python": [">=3.10"]})
    probs = _problems(data_copy)
    assert any("torch[" in p and "missing required field 'source'" in p for p in probs), probs


def test_duplicate_row_is_rejected(data_copy):
    doc = yaml.safe_load((data_copy / "torch.yaml").read_text())
    _append(data_copy / "torch.yaml", "torch_npu", doc["torch_npu"][0])
    probs = _problems(data_copy)
    assert any("duplicate torch_npu row" in p for p in probs), probs


def test_unparseable_version_is_rejected(data_copy):
    _append(data_copy / "mindspore.yaml", "mindspore",
            {"version": "2.x.banana", "cann": ["8.0.RC1"], "source": "mindspore-ai/docs: install/x.md"})
    probs = _problems(data_copy)
    assert any("'2.x.banana' is not a valid MindSpore version" in p for p in probs), probs


def test_reference_to_undefined_version_is_rejected(data_copy):
    _append(data_copy / "torch.yaml", "torch_npu",
            {"version": "2.1.0.post99", "torch": "2.1.0", "cann": ["8.0.RC9"], "source": "Ascend/pytorch: README.md"})
    probs = _problems(data_copy)
    assert any("CANN 8.0.RC9 is not defined by any row" in p and "nearest known" in p for p in probs), probs


def test_undefined_torch_is_rejected(data_copy):
    _append(data_copy / "torch.yaml", "torch_npu",
            {"version": "3.0.0", "torch": "3.0.0", "cann": ["8.5.0"], "source": "Ascend/pytorch: README.md"})
    assert any("torch 3.0.0 has no torch row" in p for p in _problems(data_copy))


def test_bad_source_and_unknown_field_are_rejected(data_copy):
    _append(data_copy / "torch.yaml", "torch",
            {"version": "2.99.0", "source": "my notes", "pyhton": [">=3.10"]})
    probs = _problems(data_copy)
    assert any("not a public URL" in p for p in probs), probs
    assert any("unknown field 'pyhton'" in p for p in probs), probs


def test_local_source_is_only_for_overrides(data_copy):
    _append(data_copy / "torch.yaml", "torch", {"version": "2.99.0", "source": "local"})
    assert any("only for site override files" in p for p in _problems(data_copy))


def test_every_data_file_is_checked(data_copy):
    for fname in DATA_FILES:
        (data_copy / fname).write_text("- not a mapping\n")
    probs = _problems(data_copy)
    for fname in DATA_FILES:
        assert any(fname in p for p in probs), fname


OVERRIDE = textwrap.dedent("""\
    releases:
      - {version: "8.0.RC2.B050", channel: internal, source: local}
    cann_hdk:
      - {cann: "8.0.RC2.B050", chips: [910b], driver: [">=24.1.RC2"], source: "local: site build 2025-03"}
    torch_npu:
      - {version: "2.1.0.post99", torch: "2.1.0", cann: ["8.0.RC2.B050"], source: local}
""")


def test_site_overrides_add_local_rows(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text(OVERRIDE)
    m = load_matrix([f])
    assert any(str(r.version) == "2.1.0.post99" and r.meta.local for r in m.torch_npu)


def test_site_overrides_go_through_validation(tmp_path):
    f = tmp_path / "site.yml"
    f.write_text(OVERRIDE.replace('cann: ["8.0.RC2.B050"]', 'cann: ["8.0.RC7"]') + "tourch: []\n")
    with pytest.raises(MatrixInvalid) as exc:
        load_matrix([f])
    text = str(exc.value)
    assert "CANN 8.0.RC7 is not defined" in text and str(f) in text
    assert "unknown section 'tourch'" in text


def test_overrides_from_environment(tmp_path, monkeypatch):
    f = tmp_path / "site.yml"
    f.write_text(OVERRIDE)
    monkeypatch.setenv("ASCEND_ENV_MATRIX_OVERRIDES", str(f))
    m = load_matrix()
    assert str(f) in m.override_files


def test_missing_override_file_is_a_problem(tmp_path):
    _, problems = check_matrix([tmp_path / "nope.yml"])
    assert any("cannot read the file" in str(p) for p in problems)


def test_chip_aliases(matrix):
    assert matrix.chip("910B3").id == "910b"
    assert matrix.chip("a300iduo").id == "300i-duo"
    assert matrix.chip("Atlas 300I Duo").file_chip == "310p"
    with pytest.raises(ValueError, match="known chips: 910b, 310p, 300i-duo"):
        matrix.chip("950dt")
