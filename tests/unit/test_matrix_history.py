"""Matrix truth across document versions: pairings an older version of a page gave (and a later one changed) are
accepted when pinned and named; the audit checks every row against every version read of its page."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ascend_env.matrix import _data_dir, check_matrix, load_matrix
from ascend_env.matrix_history import HISTORY_FILE, audit, load_history, split_source
from ascend_env.resolver import EARLIER, Request, Stack, resolve

ROOT = Path(__file__).resolve().parents[2]


def _resolve(m, chip=None, framework=None, **pins):
    return resolve(m, Request(chip=chip, framework=framework, pins={k: str(v) for k, v in pins.items()}))


def _v(st, name):
    return str(st.version(name)) if st.version(name) is not None else None


# --- disagreements between versions of one page --------------------------------------------------------
# (id, older request, the older page version the stack must name, the same request without the older pin,
#  component and value the newest page gives)
DISAGREEMENTS = [
    ("mindspore-cann: MindSpore 2.5.0 with CANN 8.0.RC3.beta1 (docker page r2.5.0)",
     dict(framework="mindspore", mindspore="2.5.0", cann="8.0.RC3.beta1"),
     "mindspore-ai/docs: install/mindspore_ascend_install_docker.md (r2.5.0)",
     dict(framework="mindspore", mindspore="2.5.0"), "cann", "8.0.0.beta1"),
    ("mindformers-mindspore: MindFormers 1.6.0 with MindSpore 2.7.0rc1 (README at tag v1.6.0)",
     dict(framework="mindspore", mindformers="1.6.0", mindspore="2.7.0rc1"),
     "mindspore-lab/mindformers: README.md (v1.6.0)",
     dict(framework="mindspore", mindformers="1.6.0"), "mindspore", "2.7.0"),
    ("mindspore-cann: MindSpore 2.7.0rc1 with CANN 8.2.RC1 (README at tag v1.6.0)",
     dict(framework="mindspore", mindspore="2.7.0rc1", cann="8.2.RC1"),
     "mindspore-lab/mindformers: README.md (v1.6.0)",
     dict(framework="mindspore", cann="8.2.RC1"), "mindspore", "2.7.0"),
    ("torch_npu-cann: CANN 8.1.RC1 with torch_npu 2.1.0.post11 (README at the v7.0.RC1.alpha002 tags)",
     dict(framework="torch", torch_npu="2.1.0.post11", cann="8.1.RC1"),
     "Ascend/pytorch: README.md (v7.0.RC1.alpha002-pytorch2.1.0)",
     dict(framework="torch", torch="2.1.0", cann="8.1.RC1"), "torch_npu", "2.1.0.post12"),
    ("torch_npu-cann: CANN 8.1.RC1 with torch_npu 2.3.1.post5",
     dict(framework="torch", torch_npu="2.3.1.post5", cann="8.1.RC1"),
     "Ascend/pytorch: README.md (v7.0.RC1.alpha002-pytorch2.1.0)",
     dict(framework="torch", torch="2.3.1", cann="8.1.RC1"), "torch_npu", "2.3.1.post6"),
    ("torch_npu-cann: CANN 8.1.RC1 with torch_npu 2.4.0.post3",
     dict(framework="torch", torch_npu="2.4.0.post3", cann="8.1.RC1"),
     "Ascend/pytorch: README.md (v7.0.RC1.alpha002-pytorch2.1.0)",
     dict(framework="torch", torch="2.4.0", cann="8.1.RC1"), "torch_npu", "2.4.0.post4"),
    ("torch_npu-cann: CANN 9.1.0 with torch_npu 2.10.0 (COMPATIBILITY.md's first commit)",
     dict(framework="torch", torch_npu="2.10.0", cann="9.1.0"),
     "Ascend/pytorch: COMPATIBILITY.md (@bba3d1dd)",
     dict(framework="torch", torch="2.10.0", cann="9.1.0"), "torch_npu", "2.10.0.post4"),
    ("torch_npu-cann: CANN 9.1.0 with torch_npu 2.9.0.post3",
     dict(framework="torch", torch_npu="2.9.0.post3", cann="9.1.0"),
     "Ascend/pytorch: COMPATIBILITY.md (@bba3d1dd)",
     dict(framework="torch", torch="2.9.0", cann="9.1.0"), "torch_npu", "2.9.0.post6"),
    ("torch_npu-cann: CANN 9.1.0 with torch_npu 2.7.1.post5",
     dict(framework="torch", torch_npu="2.7.1.post5", cann="9.1.0"),
     "Ascend/pytorch: COMPATIBILITY.md (@bba3d1dd)",
     dict(framework="torch", torch="2.7.1", cann="9.1.0"), "torch_npu", "2.7.1.post8"),
    ("torch-python: torch 2.9.0 with Python 3.9 (the 7.3.0 release notes' wider range)",
     dict(framework="torch", torch="2.9.0", python="3.9"),
     "Ascend/pytorch: docs/zh/release_notes/release_notes.md (v7.3.0-pytorch2.7.1)",
     dict(framework="torch", torch="2.9.0"), "python", None),
    ("cann-driver: CANN 8.5.2 with HDK 26.0.RC3 (the 2026-04-14 release note's '>= 25.5.1')",
     dict(chip="910b", cann="8.5.2", driver="26.0.RC3"),
     "hicann/release-management: 9.0.0/release-notes.md (@adcf65ca)",
     dict(chip="910b", cann="8.5.2"), "driver", "26.0.RC1"),
]


@pytest.mark.parametrize(("older", "older_page", "newer", "component", "newest"),
                         [d[1:] for d in DISAGREEMENTS], ids=[d[0] for d in DISAGREEMENTS])
def test_older_page_version_is_accepted_when_pinned_and_named(matrix, older, older_page, newer, component, newest):
    st = _resolve(matrix, **older)
    assert isinstance(st, Stack), st
    assert st.tier == EARLIER
    for name, value in older.items():
        if name not in ("chip", "framework"):
            got = _v(st, name) or str(st.components[name].version)
            assert got.startswith(value) or got == value, (name, got)
    named = [w for w in st.warnings if f" is {EARLIER}: " in w]
    assert named and any(older_page in w for w in named), st.warnings
    assert any("a later version of the page" in w and "accepted because you pinned it" in w for w in named)


@pytest.mark.parametrize(("older", "older_page", "newer", "component", "newest"),
                         [d[1:] for d in DISAGREEMENTS], ids=[d[0] for d in DISAGREEMENTS])
def test_unpinned_request_gets_the_newest_page_pairing(matrix, older, older_page, newer, component, newest):
    st = _resolve(matrix, **newer)
    assert isinstance(st, Stack), st
    assert st.tier == "preferred"
    assert not any(f" is {EARLIER}: " in w for w in st.warnings), st.warnings
    if component == "python":
        assert st.version("python").release[:2] >= (3, 10)   # the newest notes: 3.10 and later for torch 2.9.0
    elif component == "driver":
        assert str(st.components["driver"].recommended) == newest
    else:
        assert _v(st, component) == newest


def test_a_pairing_a_newer_compatibility_table_still_allows_is_not_earlier(matrix):
    # 9.0.0 <-> HDK 26.1.0: the 2026-04-14 9.0.0 note (changed on 04-29) and the 9.1.0/9.1.1 notes' compatibility
    # tables (9.0.X x 26.1.0 / 26.1.1: Y) both say so, so it is accepted without a warning
    st = _resolve(matrix, chip="910b", cann="9.0.0", driver="26.1.0")
    assert isinstance(st, Stack) and st.tier == "preferred"
    assert not any(EARLIER in w for w in st.warnings)


def test_stack_from_mindformers_install_page_at_an_older_docs_branch_resolves(matrix):
    # mindspore-ai/docs r2.6.0rc1, docs/mindformers/.../quick_start/install.md:
    # | 1.5.0 | 2.6.0-rc1 | 8.1.RC1 | 25.0.RC1 |, "当前套件建议使用的Python版本为3.11.4", Atlas 800T A2.  Refused before
    # ("MindSpore 2.6.0rc1 needs CANN 8.1.RC1.beta1").
    st = _resolve(matrix, chip="910b", mindformers="1.5.0", mindspore="2.6.0rc1", cann="8.1.RC1", driver="25.0.RC1",
                  python="3.11.4")
    assert isinstance(st, Stack), st
    assert (_v(st, "mindspore"), _v(st, "cann"), _v(st, "driver"), _v(st, "python")) == \
        ("2.6.0rc1", "8.1.RC1", "25.0.RC1", "3.11.4")
    assert any("mindspore-lab/mindformers: README.md (v1.5.0)" in s for s in st.components["mindspore"].sources)


def test_stack_from_mindformers_install_page_r2_4_0_resolves(matrix):
    # the same page at r2.4.0: | 1.3.0 | 2.4.0 | 8.0.RC3.beta1 | 24.1.RC3 |, Python 3.10
    st = _resolve(matrix, chip="910b", mindformers="1.3.0", mindspore="2.4.0", cann="8.0.RC3.beta1",
                  driver="24.1.RC3", python="3.10")
    assert isinstance(st, Stack), st


# --- the audit -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def history():
    return load_history()


def test_real_data_passes_the_strict_audit(matrix, history):
    report = audit(matrix, history)
    assert report.unencoded == [], [p.describe() for p in report.unencoded[:5]]
    assert report.problems == [], [f"{r.where}: {r.message}" for r in report.problems[:5]]
    assert report.history_problems == []
    assert report.ok
    # every row citing a repository page names its version
    for r in report.rows:
        if r.status not in ("url", "local"):
            assert split_source(r.source)[1], r.source


def test_the_history_covers_the_issues_scope(history):
    pages = history.pages
    assert len(pages) >= 60 and sum(len(p.versions) for p in pages.values()) >= 1000
    for source in ("mindspore-lab/mindformers: README.md", "Ascend/pytorch: README.md",
                   "mindspore-ai/docs: resource/release/release_list_zh_cn.md",
                   "hicann/release-management: 9.0.0/release-notes.md"):
        assert len(pages[source].versions) >= 4, source
    refs = {v["ref"] for v in pages["mindspore-ai/docs: install/mindspore_ascend_install_pip.md"].versions}
    assert {"r2.2", "r2.3.0", "r2.4.0", "r2.5.0", "r2.6.0"} <= refs          # every MindSpore 2.x docs branch
    assert all(history.count(c) > 100 for c in ("cann_hdk", "mindspore", "torch_npu", "torch"))


def test_every_ignored_pairing_has_a_reason(history):
    assert history.ignored
    for i in history.ignored:
        assert len(i.reason) > 20 and i.pairing and i.source in history.pages


def test_rows_report_the_versions_they_were_checked_against(matrix, history):
    report = audit(matrix, history)
    row = next(r for r in report.rows if r.source == "mindspore-lab/mindformers: README.md (v1.6.0)"
               and r.section == "mindformers")
    assert row.status == "ok" and row.versions_read >= 40 and row.stated_at == ["v1.6.0"]
    row = next(r for r in report.rows if r.source == "Ascend/pytorch: COMPATIBILITY.en.md (master)"
               and r.section == "torch_npu")
    assert row.status == "ok" and "master" in row.stated_at


def _audit_cli(*args):
    return subprocess.run([sys.executable, "-m", "ascend_env", "matrix", "audit", *args], cwd=ROOT,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_strict_audit_passes_on_the_repository_data():
    r = _audit_cli("--strict")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "every pairing the pages state is encoded" in r.stdout
    out = json.loads(_audit_cli("--json").stdout)
    assert out["ok"] and out["unencoded"] == [] and out["problems"] == []
    assert len(out["ignored"]) == len(load_history().ignored)


def _override(tmp_path: Path, rows: str) -> str:
    f = tmp_path / "site.yml"
    f.write_text(textwrap.dedent(rows))
    return str(f)


def test_strict_audit_fails_on_a_row_without_a_ref(tmp_path):
    f = _override(tmp_path, """\
        torch_npu:
          - {version: "2.1.0.post12", torch: "2.1.0", cann: ["8.1.RC1"], source: "Ascend/pytorch: COMPATIBILITY.en.md"}
        """)
    r = _audit_cli("--strict", "--overrides", f)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "names no version of the page" in r.stdout
    assert "Ascend/pytorch: COMPATIBILITY.en.md (master)" in r.stdout     # the fix: the version stating the row
    assert _audit_cli("--overrides", f).returncode == 0                    # without --strict: a report


def test_strict_audit_fails_on_an_unknown_or_unstated_ref(tmp_path):
    f = _override(tmp_path, """\
        torch_npu:
          - {version: "2.1.0.post12", torch: "2.1.0", cann: ["8.1.RC1"],
             source: "Ascend/pytorch: COMPATIBILITY.en.md (v9.9.9)"}
          - {version: "2.1.0.post11", torch: "2.1.0", cann: ["8.1.RC1"],
             source: "Ascend/pytorch: README.md (v2.1.0-7.0.0)"}
        """)
    out = json.loads(_audit_cli("--strict", "--json", "--overrides", f).stdout)
    by_source = {p["source"]: p for p in out["problems"] if "source" in p}
    assert by_source["Ascend/pytorch: COMPATIBILITY.en.md (v9.9.9)"]["status"] == "unknown-ref"
    stated = by_source["Ascend/pytorch: README.md (v2.1.0-7.0.0)"]
    assert stated["status"] == "not-stated" and "v7.0.RC1.alpha002" in stated["message"]


def test_superseded_by_must_name_a_version_that_changed_the_pairing(tmp_path):
    f = _override(tmp_path, """\
        torch_npu:
          - {version: "2.1.0.post12", torch: "2.1.0", cann: ["8.1.RC1"],
             source: "Ascend/pytorch: README.md (v2.3.1-7.0.0)", superseded_by: "Ascend/pytorch: README.md (v2.7.1)"}
        """)
    out = json.loads(_audit_cli("--json", "--overrides", f).stdout)
    assert any(p.get("status") == "superseded" and "still states this pairing" in p["message"] for p in out["problems"])


def test_local_override_rows_are_exempt(tmp_path):
    f = _override(tmp_path, """\
        torch_npu:
          - {version: "2.1.0.post12", torch: "2.1.0", cann: ["8.1.RC1"], source: "local: our mirror"}
        """)
    assert _audit_cli("--strict", "--overrides", f).returncode == 0


def _history_copy(tmp_path: Path) -> tuple[Path, dict]:
    doc = yaml.safe_load((_data_dir() / HISTORY_FILE).read_text(encoding="utf-8"))
    return tmp_path / HISTORY_FILE, doc


def test_audit_lists_an_unencoded_pairing(tmp_path):
    path, doc = _history_copy(tmp_path)
    page = next(p for p in doc["pages"] if p["source"] == "Ascend/pytorch: COMPATIBILITY.en.md")
    page["pairings"].append({"torch_npu": "2.1.0.post99", "torch": "2.1.0", "cann": "8.1.RC1", "refs": ["master"]})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    r = _audit_cli("--history", str(path))
    assert r.returncode == 0
    assert "1 pairing(s) stated by the pages that no row encodes" in r.stdout
    assert ("Ascend/pytorch: COMPATIBILITY.en.md: torch_npu 2.1.0.post99, torch 2.1.0, cann 8.1.RC1  [master]"
            in r.stdout)
    assert _audit_cli("--strict", "--history", str(path)).returncode == 1


def test_an_ignored_entry_that_matches_nothing_is_a_problem(tmp_path, matrix):
    path, doc = _history_copy(tmp_path)
    doc["ignored"].append({"source": "Ascend/pytorch: README.md", "pairing": {"torch_npu": "9.9.9"},
                           "reason": "x" * 30})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    report = audit(matrix, load_history(path))
    assert not report.ok and any("matches no unencoded pairing" in p for p in report.history_problems)


def test_load_matrix_does_not_read_the_page_history(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(_data_dir(), data)
    (data / HISTORY_FILE).write_text("pages: [this is not read\n")
    m, problems = check_matrix(data_dir=data)
    assert problems == [] and m.row_count() == load_matrix().row_count()


# --- the importer --------------------------------------------------------------------------------------
def _importer():
    spec = importlib.util.spec_from_file_location("matrix_history_script", ROOT / "scripts" / "matrix_history.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.mark.parametrize(("text", "expected"), [
    ("3.9-3.11", [">=3.9,<3.12"]),
    ("cp39,cp310,cp311", [">=3.9,<3.12"]),
    ("3.8, 3.9, 3.10", [">=3.8,<3.11"]),
    ("3.11.4", ["==3.11.4"]),
    ("3.9", ["==3.9.*"]),
    ("3.7, 3.8, 3.9, 3.10, 3.11.4", [">=3.7,<=3.11.4"]),
    ("Python3.9.*x*、Python3.10.*x*、Python3.11.*x*、Python3.12.*x*", [">=3.9,<3.13"]),
    ("3.7（3.7.5及以上）, 3.8, 3.9", [">=3.7.5,<3.10"]),
    ("3.7/3.9", ["==3.7.*", "==3.9.*"]),
])
def test_import_normalises_python(text, expected):
    assert _importer().norm_python(text) == expected


def test_import_normalises_versions():
    mod = _importer()
    assert mod.norm_cann("CANN 8.0.RC1") == ["8.0.RC1"]
    assert mod.norm_cann("9.0.0-beta.1") == ["9.0.0.beta1"]
    assert mod.norm_cann("8.5.X") == ["8.5.*"]
    assert mod.norm_hdk(">= Ascend HDK 25.5.1", "driver") == [">=25.5.1"]
    assert mod.norm_hdk("Ascend HDK >= 24.1RC1", "driver") == [">=24.1.RC1"]
    assert mod.norm_hdk("26.0.RC1/25.7.RC1", "driver") == ["26.0.RC1", "25.7.RC1"]
    assert mod.norm_pep440("2.6.0-rc1", "mindspore", (2, 2)) == "2.6.0rc1"
    with pytest.raises(mod.Skip):
        mod.norm_pep440("2.1.1", "mindspore", (2, 2))          # out of scope
    # a MindFormers branch row is its release only on that release's tag
    page = "mindspore-lab/mindformers: README.md"
    assert mod.project(page, "v1.0.1", {"mindformers": "r1.0", "mindspore": "2.2.11"}) == \
        [{"mindformers": "1.0.1", "mindspore": "2.2.11"}]
    assert mod.project(page, "r1.0", {"mindformers": "r1.0", "mindspore": "2.2.13"}) == []
    # a downstream project's own requirement is not imported
    assert mod.project("vllm-project/vllm-ascend: docs/source/installation.md", "main",
                       {"cann": "8.1.RC1", "python": ">= 3.9, < 3.12", "kind": "stack"}) == []


READING = textwrap.dedent("""\
    page: "example/docs: compat.md"
    concerns: [torch_npu]
    versions_read:
      - ref: "v2"
        commit: "bbbbbbbbbbbb"
        date: "2025-02-01"
        pairings:
          - {torch_npu: "2.1.0.post12", torch: "2.1.0", cann: "CANN 8.1.RC1", quote: "..."}
      - ref: "v1"
        also_refs: ["v1.0.1"]
        commit: "aaaaaaaaaaaa"
        date: "2025-01-01"
        pairings:
          - {torch_npu: "2.1.0.post11", torch: "2.1.0", cann: "CANN 8.1.RC1", quote: "..."}
          - {torch_npu: "1.11.0.post1", torch: "1.11.0", cann: "CANN 6.3.RC2", quote: "out of scope"}
    history_read:
      - ref: "history@cccccccccccc"
        commit: "cccccccccccc"
        pairings: [{torch_npu: "2.1.0.post11", torch: "2.1.0", cann: "8.1.RC1"}]
    """)


def test_import_is_deterministic_and_keeps_the_hand_written_lists(tmp_path):
    readings = tmp_path / "readings"
    readings.mkdir()
    (readings / "compat.yaml").write_text(READING)
    out = tmp_path / "page_history.yaml"
    out.write_text('ignored: [{source: "example/docs: compat.md", pairing: {torch_npu: "2.1.0.post11"}, '
                   'reason: "an example judgement"}]\n')
    script = [sys.executable, "scripts/matrix_history.py", "import", str(readings), "-o", str(out)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(script, cwd=ROOT, env=env, capture_output=True).returncode == 0
    first = out.read_bytes()
    assert subprocess.run(script, cwd=ROOT, env=env, capture_output=True).returncode == 0
    assert out.read_bytes() == first
    assert subprocess.run([*script, "--check"], cwd=ROOT, env=env, capture_output=True).returncode == 0
    doc = yaml.safe_load(first)
    page = doc["pages"][0]
    assert [v["ref"] for v in page["versions"]] == ["v1", "v2"] and page["versions"][0]["also"] == ["v1.0.1"]
    assert page["history_commits"] == 1
    assert page["pairings"] == [
        {"torch_npu": "2.1.0.post11", "torch": "2.1.0", "cann": "8.1.RC1", "refs": ["v1", "@cccccccc"]},
        {"torch_npu": "2.1.0.post12", "torch": "2.1.0", "cann": "8.1.RC1", "refs": ["v2"]},
    ]
    assert doc["ignored"][0]["reason"] == "an example judgement"
