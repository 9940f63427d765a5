"""Issue 20, the matrix's Python ranges: how the pages' Python statements combine (docs/matrix.md, "Python"), each
release's own Python, MindSpore's commercial CANN, the CANN and torch_npu versions vllm-ascend ships, and `matrix
audit` showing every row's Python with the page that states it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ascend_env.matrix import load_matrix
from ascend_env.resolver import Conflict, Request, Stack, installer_names, resolve
from ascend_env.versions import Arch, Version

ROOT = Path(__file__).resolve().parents[2]
QUICK_INSTALL = "https://hiascend.com/document/detail/zh/quick-installation/24.0.RC1/quickinstg/800_3000/"
BRANCH_README = "Ascend/pytorch: README.md (v2.2.0-6.0.rc1)"


def _resolve(m, chip=None, framework=None, **pins):
    return resolve(m, Request(chip=chip, framework=framework, pins={k: str(v) for k, v in pins.items()}))


def _v(st, name):
    return str(st.version(name)) if st.version(name) is not None else None


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=env)


# --- the cases -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("torch_npu", ["2.1.0.post4", "2.2.0"])
def test_torch_npu_on_python_3_10_is_accepted_with_the_disagreement_named(matrix, torch_npu):
    """CANN 8.0.RC1's quick-install page for one server model caps Python at 3.9.7; the release's own branch (README,
    setup.py classifiers) states 3.8-3.10 for the same CANN.  Pinned 3.10 is accepted, and the warning names both."""
    st = _resolve(matrix, framework="torch", torch_npu=torch_npu, python="3.10")
    assert isinstance(st, Stack), st
    assert _v(st, "cann") == "8.0.RC1" and st.version("python").major_minor == "3.10"
    warning = next(w for w in st.warnings if "Python 3.10" in w)
    assert QUICK_INSTALL in warning and BRANCH_README in warning and "accepted because you pinned it" in warning


def test_the_default_python_is_the_conservative_one_with_the_disagreement_named(matrix):
    st = _resolve(matrix, framework="torch", torch_npu="2.1.0.post4")
    assert _v(st, "python") == "3.9.7"                 # within both pages
    note = next(n for n in st.components["python"].notes if "disagree" in n)
    assert "CANN 8.0.RC1" in note and QUICK_INSTALL in note and BRANCH_README in note
    assert "conservative" in note
    # the Python the release's branch does not state stays refused (no cp311 wheel of 2.1.0.post4)
    c = _resolve(matrix, framework="torch", torch_npu="2.1.0.post4", python="3.11")
    assert isinstance(c, Conflict) and any("3.8,<3.11" in v.message for v in c.violations)


def test_the_cli_accepts_torch_npu_2_1_0_post4_on_python_3_10():
    r = run("matrix", "resolve", "--torch-npu", "2.1.0.post4", "--python", "3.10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Python     3.10  (pinned)" in r.stdout and "Traceback" not in r.stderr


def test_cann_pages_that_disagree_default_to_the_lower_ceiling(matrix):
    """CANN 9.0.0: the commercial zh guide says 3.7-3.13, the community en page 3.7-3.11."""
    st = _resolve(matrix, chip="910b", cann="9.0.0")
    assert st.version("python").major_minor == "3.11"
    assert any("disagree" in n and "3.13" not in _v(st, "python") for n in st.components["python"].notes)
    pinned = _resolve(matrix, chip="910b", cann="9.0.0", python="3.13")
    assert isinstance(pinned, Stack) and pinned.version("python").major_minor == "3.13"
    assert any("Python 3.13" in w and "CANNCommunityEdition/900" in w for w in pinned.warnings)
    js = st.to_dict()["components"]["python"]["constraints"][0]
    assert len(js["statements"]) >= 2 and all(s["source"] for s in js["statements"])


def test_the_rule_is_general_not_a_case_per_version(tmp_path):
    """A site CANN whose page says <=3.9 and a framework release paired with it whose page says 3.8-3.11: any
    stack gets the conservative 3.9, 3.11 is accepted when pinned (warning), 3.12 is refused."""
    f = tmp_path / "site.yml"
    f.write_text(textwrap.dedent("""\
        releases:
          - {version: "8.0.RC1.B900", channel: internal, source: "local: site build"}
        cann_python:
          - {cann: ["8.0.RC1.B900"], python: [">=3.8,<3.10"], source: "local: the site's install page"}
        torch_npu:
          - {version: "2.1.0.post99", torch: "2.1.0", cann: ["8.0.RC1.B900"], python: [">=3.8,<3.12"],
             source: "local: the site's torch_npu build notes"}
        """))
    m = load_matrix([f])
    st = _resolve(m, framework="torch", torch_npu="2.1.0.post99")
    assert _v(st, "cann") == "8.0.RC1.B900" and st.version("python").major_minor == "3.9"
    assert any("disagree" in n for n in st.components["python"].notes)
    wide = _resolve(m, framework="torch", torch_npu="2.1.0.post99", python="3.11")
    assert isinstance(wide, Stack) and any("the site's install page" in w for w in wide.warnings)
    assert isinstance(_resolve(m, framework="torch", torch_npu="2.1.0.post99", python="3.12"), Conflict)


def test_each_release_keeps_its_own_python(matrix):
    """COMPATIBILITY gives a PyTorch line the Python of its newest release (2.7.1: 3.9-3.13); torch_npu 2.7.1
    (PTA 7.2.0, CANN 8.3.RC1) was built for 3.9-3.11 (README and ci/build.sh at v2.7.1-7.2.0)."""
    st = _resolve(matrix, chip="910b", framework="torch", torch_npu="2.7.1", cann="8.3.RC1")
    assert st.version("python").major_minor == "3.11"
    assert isinstance(_resolve(matrix, chip="910b", framework="torch", torch_npu="2.7.1", cann="8.3.RC1",
                               python="3.12"), Conflict)
    # 7.3.0: README.md says 3.9-3.11, the release notes 3.9-3.12: default 3.11, 3.12 accepted when pinned
    st = _resolve(matrix, chip="910b", framework="torch", torch_npu="2.7.1.post2")
    assert st.version("python").major_minor == "3.11"
    st = _resolve(matrix, chip="910b", framework="torch", torch_npu="2.7.1.post2", python="3.12")
    assert isinstance(st, Stack) and any("release_notes.md (v2.7.1-7.3.0)" in w for w in st.warnings)


# --- MindSpore: the commercial release of the community build its pages name ------------------------------------
@pytest.mark.parametrize("mindspore", ["2.5.0", "2.4.10"])
def test_mindspore_with_the_commercial_cann_its_install_page_offers(matrix, mindspore):
    st = _resolve(matrix, framework="mindspore", mindspore=mindspore, cann="8.0.0")
    assert isinstance(st, Stack), st
    if mindspore == "2.5.0":   # 2.4.10 has a page naming 8.0.0 itself (MindFormers' README)
        assert any("commercial release of 8.0.0.beta1" in n for n in st.components["cann"].notes)
        # unpinned, the build the page names stays the default
        assert _v(_resolve(matrix, framework="mindspore", mindspore=mindspore), "cann") == "8.0.0.beta1"


def test_the_conflict_names_the_commercial_release_too(matrix):
    c = _resolve(matrix, framework="mindspore", mindspore="2.2.11", cann="8.0.RC1")
    (v,) = c.violations
    assert "needs CANN 7.0.0.beta1 (or its commercial release 7.0.0)" in v.message and "7.0.0 / 7.0.0.beta1" in v.fix


# --- the versions vllm-ascend's images ship ------------------------------------------------------------------------
@pytest.mark.parametrize("chip", ["910b", "310p"])
def test_vllm_ascend_stacks(matrix, chip):
    st = _resolve(matrix, chip=chip, framework="torch", torch_npu="2.7.1.post1", cann="8.3.RC2")
    assert isinstance(st, Stack) and _v(st, "torch") == "2.7.1" and st.version("python").major_minor == "3.11"
    assert any("vllm-ascend" in s for s in st.components["torch_npu"].sources)
    st = _resolve(matrix, chip=chip, framework="torch", cann="8.5.1")
    assert isinstance(st, Stack) and _v(st, "torch_npu") == "2.9.0"
    assert isinstance(_resolve(matrix, chip=chip, framework="torch", torch_npu="2.8.0.post2", cann="8.5.1"), Stack)
    # torch_npu 2.7.1.post1 is PTA 7.2.0.1, the patch of the CANN 8.3.RC1 branch
    assert isinstance(_resolve(matrix, chip=chip, framework="torch", torch_npu="2.7.1.post1", cann="8.3.RC1"), Stack)


def test_installer_names_of_the_new_cann_releases(matrix):
    a = Arch.parse("aarch64")
    assert installer_names(matrix, Version.parse("8.3.RC2"), matrix.chip("310p"), a)["kernels"] == \
        "Ascend-cann-kernels-310p_8.3.RC2_linux-aarch64.run"
    assert installer_names(matrix, Version.parse("8.5.1"), matrix.chip("910b"), a)["kernels"] == \
        "Ascend-cann-910b-ops_8.5.1_linux-aarch64.run"


# --- matrix audit: each row's Python and the page that states it --------------------------------------------------
def test_audit_shows_every_python_range_and_its_page():
    r = run("matrix", "audit", "--json")
    assert r.returncode == 0, r.stderr
    py = json.loads(r.stdout)["python"]
    rows = {(x["subject"], x["source"]): x["python"] for x in py["rows"]}
    assert rows[("torch_npu 2.1.0.post4 with CANN 8.0.RC1", BRANCH_README)] == ">=3.8,<3.11"
    assert any(s == "CANN 8.0.RC1" and src.startswith(QUICK_INSTALL) for s, src in rows)
    dis = {d["subject"]: d for d in py["disagreements"]}
    d = dis["CANN 8.0.RC1 with torch_npu 2.1.0.post4"]
    assert d["default_within"] == "3.8.0-3.8.11, 3.9.0-3.9.7" and "3.10" in d["accepted"]
    assert "CANN 9.0.0" in dis
    text = run("matrix", "audit").stdout
    assert "Python ranges: each row's, and the page that states it" in text
    assert f"torch_npu 2.1.0.post4 with CANN 8.0.RC1: python >=3.8,<3.11  [{BRANCH_README}]" in text
    assert "python: >=3.8,<3.11 (stated by this page)" in text


def test_audit_checks_a_releases_python_against_its_page(tmp_path):
    """A torch_npu row's Python must be what the cited page version states for its PyTorch line."""
    f = tmp_path / "o.yml"
    f.write_text(textwrap.dedent("""\
        torch_npu:
          - {version: "2.1.0.post4", torch: "2.1.0", cann: ["8.0.RC1"], python: [">=3.8,<3.12"],
             source: "Ascend/pytorch: README.md (v2.1.0-6.0.rc2)"}
        """))
    r = run("matrix", "audit", "--strict", "--json", "--overrides", str(f))
    assert r.returncode == 1
    problems = {p.get("source"): p for p in json.loads(r.stdout)["problems"]}
    assert problems["Ascend/pytorch: README.md (v2.1.0-6.0.rc2)"]["status"] == "not-stated"


def test_the_history_extension_is_reproducible(tmp_path):
    """scripts/readings/ (the pages read for issue 20) merged into the committed history gives the committed file;
    merging twice changes nothing."""
    script = [sys.executable, "scripts/matrix_history.py", "import", "scripts/readings", "--extend"]
    r = subprocess.run([*script, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    copy = tmp_path / "page_history.yaml"
    copy.write_bytes((ROOT / "ascend_env/data/page_history.yaml").read_bytes())
    for _ in range(2):
        assert subprocess.run([*script, "-o", str(copy)], cwd=ROOT, capture_output=True).returncode == 0
    assert copy.read_bytes() == (ROOT / "ascend_env/data/page_history.yaml").read_bytes()
