"""CANN's own Python dependencies: the sourced rows, how a release's rows combine, the resolver and `matrix resolve`
showing them, `matrix check` refusing bad rows, the doctor's check, and the probe reading every package named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ascend_env.doctor import pydeps as doctor_pydeps  # registers python.cann_deps
from ascend_env.doctor.checks import Context
from ascend_env.matrix import _data_dir, check_matrix, load_matrix
from ascend_env.matrix_text import format_stack
from ascend_env.probe import host
from ascend_env.pydeps import constraints_text, python_deps, unmet
from ascend_env.resolver import Request, Stack, resolve


@pytest.fixture(scope="module")
def m():
    return load_matrix()


def test_every_row_is_sourced_and_numpy_2_is_refused_where_the_guides_say(m):
    assert len(m.cann_pydeps) >= 10 and all(r.meta.source for r in m.cann_pydeps)
    d = python_deps(m, "8.0.0", "3.10")
    assert "numpy>=1.19.2,<=1.24" in d.constraints and "protobuf==3.20.*" in d.constraints
    assert {"attrs", "cython", "pathlib2", "absl-py"} <= set(d.requirements)
    assert python_deps(m, "8.2.RC1", "3.11").constraints == ("numpy<2.0",)
    assert python_deps(m, "9.1.0", "3.11").constraints == ("cffi>=1.12.3", "decorator>=4.4.0", "numpy>=1.19.2",
                                                           "sympy>=1.5.1")


def test_markers_pick_by_the_stacks_python_and_rows_of_one_release_intersect(m):
    assert "numpy>=1.19.2,<2.0" in python_deps(m, "8.5.0", "3.11").requirements
    assert "numpy>2.1" in python_deps(m, "8.5.0", "3.13.1").requirements
    # 8.0.RC1: two guides disagree (numpy>=1.14.3 / >=1.19.2): an environment meets both
    both = python_deps(m, "8.0.RC1", "3.9")
    assert "numpy>=1.19.2" in both.requirements and "sympy>=1.5.1" in both.requirements and len(both.sources) == 2
    # a community build takes its commercial release's rows (same_as)
    assert python_deps(m, "8.0.RC2.beta1", "3.9").requirements == python_deps(m, "8.0.RC2", "3.9").requirements


def test_a_release_without_a_row_is_unknown_not_empty(m):
    assert python_deps(m, "9.2.0", "3.11") is None and python_deps(m, None, "3.11") is None


def test_unmet_and_the_constraints_file(m):
    d = python_deps(m, "8.2.RC1", "3.11")
    assert unmet(d.requirements, {"numpy": "2.4.6"}) == [("numpy<2.0", "2.4.6")]
    assert unmet(d.requirements, {"numpy": "1.26.4"}) == []
    assert unmet(["absl-py", "pyyaml>=5"], {"absl_py": "2.1.0"}) == [("pyyaml>=5", None)]
    text = constraints_text(d)
    assert text.splitlines()[-1] == "numpy<2.0" and "vllm-project/vllm-ascend/issues/2210" in text


def test_the_resolved_stack_carries_them_and_matrix_resolve_shows_them(m):
    st = resolve(m, Request(chip="910b", arch="x86_64", framework="mindspore", pins={"mindspore": "2.7.0",
                                                                                     "python": "3.11"}))
    assert isinstance(st, Stack)
    assert st.to_dict()["python_deps"]["constraints"] == ["numpy<2.0"]
    text = format_stack(st)
    assert "CANN's Python dependencies (CANN 8.2.RC1" in text and "pip constraints: numpy<2.0" in text
    unknown = resolve(m, Request(chip="910b", arch="x86_64", framework="torch", pins={"torch": "2.13.0",
                                                                                    "python": "3.11"}))
    assert unknown.to_dict()["python_deps"] is None
    assert "CANN's Python dependencies: unknown" in format_stack(unknown)


@pytest.mark.parametrize(("row", "message"), [
    ({"cann": ["8.0.0"], "packages": ["numpy>>1"]}, "not a PEP 508 requirement"),
    ({"cann": ["8.0.0"], "packages": ["numpy; sys_platform == 'linux'"]}, "a marker may only test"),
    ({"cann": ["8.0.0"], "packages": ["numpy @ https://example.com/n.whl"]}, "names a URL"),
    ({"cann": ["7.7.7"], "packages": ["numpy"]}, "CANN 7.7.7 is not defined"),
    ({"cann": ["8.0.0"], "packages": "numpy"}, "packages must be a list"),
    ({"cann": ["8.0.0"], "packages": ["numpy"]}, "missing required field 'source'"),
])
def test_matrix_check_refuses_bad_rows_with_the_fix(tmp_path, row, message):
    data = tmp_path / "data"
    shutil.copytree(_data_dir(), data)
    doc = yaml.safe_load((data / "cann_pydeps.yaml").read_text())
    row = {"source": "https://example.com/guide", **row} if "source" not in message else row
    doc["rows"].append(row)
    (data / "cann_pydeps.yaml").write_text(yaml.safe_dump(doc))
    _, problems = check_matrix(data_dir=data)
    assert any("cann_pydeps.yaml" in p.where and message in p.message for p in problems), problems


def _facts(cann: str | None, packages: dict[str, str], constraints: list[dict] | None = None) -> dict:
    tk = {"install_info": {"version": cann}} if cann else None
    py = {"python": "3.11.2", "executable": "/opt/ascend-env/venv/bin/python", "packages": packages}
    if constraints is not None:
        py["pip_constraints"] = constraints
    return {"cann": {"toolkit": tk}, "python": py}


def test_the_doctor_names_what_cann_needs_and_the_fix(m):
    ctx = Context(matrix=m)
    bad = {c.id: c for c in doctor_pydeps.cann_deps(_facts("8.2.RC1", {"numpy": "2.4.6"}, []), ctx)}
    assert bad["python.cann_deps"].status == "fail" and "numpy<2.0 (found 2.4.6)" in bad["python.cann_deps"].summary
    assert bad["python.cann_deps"].fix == "/opt/ascend-env/venv/bin/python -m pip install 'numpy<2.0'"
    assert bad["python.pip_constraints"].status == "warn" and "constraint" in bad["python.pip_constraints"].fix
    held = [{"from": "/etc/pip.conf", "file": "/etc/ascend-env-constraints.txt", "lines": ["numpy<2.0"]}]
    good = {c.id: c for c in doctor_pydeps.cann_deps(_facts("8.2.RC1", {"numpy": "1.26.4"}, held), ctx)}
    assert good["python.cann_deps"].status == "ok" and good["python.pip_constraints"].status == "ok"
    unknown = doctor_pydeps.cann_deps(_facts("9.2.0", {"numpy": "2.4.6"}, []), ctx)
    assert [c.status for c in unknown] == ["skip"] and "no sourced row for CANN 9.2.0" in unknown[0].summary
    assert doctor_pydeps.cann_deps(_facts(None, {}), ctx) == []      # no CANN: nothing of CANN's to require
    missing = doctor_pydeps.cann_deps(_facts("8.0.0", {"numpy": "1.24.0"}, held), ctx)[0]
    assert missing.status == "fail" and "absl-py (missing)" in missing.summary


def test_the_probe_reads_every_package_the_rows_name(m):
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    named = {canonicalize_name(Requirement(p).name) for r in m.cann_pydeps for p in r.packages}
    probed = {canonicalize_name(n) for n in (*host.FRAMEWORK_DISTS, *host.CANN_PYDEPS_DISTS)}
    assert named <= probed, named - probed


def test_the_probe_reports_the_constraint_files_pip_honours(tmp_path: Path, monkeypatch):
    cons = tmp_path / "c.txt"
    cons.write_text("# CANN\nnumpy<2.0\n")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nconstraint = {cons}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_CONSTRAINT", str(tmp_path / "missing.txt"))
    out = host.probe_python(__import__("sys").executable, imports=False)
    assert {"from": str(conf), "file": str(cons), "lines": ["numpy<2.0"]} in out["pip_constraints"]
    assert {"from": "PIP_CONSTRAINT", "file": str(tmp_path / "missing.txt"), "lines": None} in out["pip_constraints"]
