"""The resolver: complete stacks, pins, disagreements and conflict reports."""

from __future__ import annotations

import itertools

import pytest

from ascend_env.resolver import Conflict, Request, Stack, installer_names, layout_for, resolve
from ascend_env.versions import Arch, Version


def _resolve(matrix, **kw) -> Stack | Conflict:
    req = {k: kw.pop(k) for k in ("chip", "arch", "framework") if k in kw}
    return resolve(matrix, Request(pins=kw, **req))


def _v(stack, name):
    return str(stack.version(name))


def test_issue_example_mindspore_2_2_11(matrix):
    st = _resolve(matrix, chip="910b", arch="aarch64", framework="mindspore", mindspore="2.2.11")
    assert isinstance(st, Stack)
    assert _v(st, "mindformers") == "1.0.0"
    assert _v(st, "cann") == "7.0.0.beta1"
    py = st.components["python"]
    assert py.version.major_minor == "3.9" and py.constraints and all(c.source for c in py.constraints)
    drv = st.components["driver"]
    assert drv.constraints and drv.constraints[0].source and str(drv.recommended) == "23.0.3"
    assert st.installers["toolkit"] == "Ascend-cann-toolkit_7.0.0.beta1_linux-aarch64.run"
    assert st.to_dict()["components"]["cann"]["version"] == "7.0.0.beta1"


def test_newest_consistent_stack_when_nothing_is_pinned(matrix):
    st = _resolve(matrix, chip="910b", framework="torch")
    newest = max(r.version for r in matrix.torch_npu if r.meta.preferred)
    assert st.version("torch_npu") == newest


def test_pinned_cann_keeps_torch_npu_in_its_row(matrix):
    st = _resolve(matrix, chip="910b", framework="torch", cann="8.0.RC1")
    assert _v(st, "cann") == "8.0.RC1"
    assert (_v(st, "torch"), _v(st, "torch_npu")) == ("2.2.0", "2.2.0")


def test_disagreement_post4_preferred_post3_accepted(matrix):
    st = _resolve(matrix, framework="torch", cann="8.0.RC1", torch="2.1.0")
    assert _v(st, "torch_npu") == "2.1.0.post4" and st.tier == "preferred"
    st3 = _resolve(matrix, framework="torch", torch_npu="2.1.0.post3")
    assert isinstance(st3, Stack) and _v(st3, "cann") == "8.0.RC1" and st3.tier == "accepted"
    assert any("preferred: false" in w for w in st3.warnings)


def test_disagreement_cann_8_1_rc1_driver(matrix):
    """CANN 8.1.RC1: the download page says 24.1.rc2 (minimum), VERSION_MAP and the deployer say 25.0.RC1."""
    st = _resolve(matrix, chip="910b", cann="8.1.RC1")
    assert str(st.components["driver"].recommended) == "25.0.RC1"
    for drv in ("24.1.rc2", "25.0.RC1"):
        assert isinstance(_resolve(matrix, chip="910b", cann="8.1.RC1", driver=drv), Stack), drv


def test_contradictory_request_names_the_rule_source_and_fix(matrix):
    c = _resolve(matrix, framework="mindspore", mindspore="2.2.11", cann="8.0.RC1")
    assert isinstance(c, Conflict)
    (v,) = c.violations
    assert "MindSpore 2.2.11 needs CANN 7.0.0.beta1" in v.message and "you pinned CANN 8.0.RC1" in v.message
    assert v.source
    assert "unpin CANN" in v.fix and "7.0.0.beta1" in v.fix and "MindSpore 2.3.0" in v.fix


def test_every_violated_rule_is_listed(matrix):
    c = _resolve(matrix, framework="mindspore", mindspore="2.2.11", cann="8.0.RC1", python="3.11")
    rules = {v.rule for v in c.violations}
    assert {"mindspore-cann", "mindspore-python", "cann-python"} <= rules


def test_driver_too_old_for_cann(matrix):
    c = _resolve(matrix, chip="910b", framework="torch", cann="8.1.RC1", driver="23.0.3")
    assert isinstance(c, Conflict)
    v = c.violations[0]
    assert "driver" in v.message and "23.0.3" in v.message and "upgrade the driver" in v.fix


def test_installed_driver_steers_the_choice(matrix):
    st = _resolve(matrix, chip="310p", framework="torch", driver="24.1.rc2")
    cann = st.version("cann")
    assert cann <= Version.parse("8.2.RC1") and st.components["driver"].constraints


def test_unknown_version_lists_the_nearest(matrix):
    c = _resolve(matrix, framework="mindspore", mindspore="2.2.12.5")
    assert isinstance(c, Conflict)
    assert "nearest" in c.violations[0].fix and "2.2.12" in c.violations[0].fix


def test_bad_inputs_are_conflicts_not_crashes(matrix):
    c = _resolve(matrix, chip="999x", arch="sparc", framework="jax")
    assert {v.rule for v in c.violations} == {"bad-chip", "bad-arch", "bad-framework"}
    c = _resolve(matrix, torch="2.1.0", mindspore="2.2.11")
    assert c.violations[0].rule == "two-frameworks"


def test_python_pin_minor_means_any_patch(matrix):
    st = _resolve(matrix, framework="torch", python="3.10")
    assert st.version("python").major_minor == "3.10"


def test_mindformers_none_skips_it(matrix):
    st = _resolve(matrix, framework="mindspore", mindspore="2.6.0", mindformers="none")
    assert st.version("mindformers") is None


def test_installer_names_across_layout_changes(matrix):
    chip = matrix.chip("910b")
    a = Arch.parse("x86-64")
    n = installer_names(matrix, Version.parse("8.0.RC1"), chip, a, Version.parse("24.1.rc1"))
    assert n["kernels"] == "Ascend-cann-kernels-910b_8.0.RC1_linux.run"
    assert n["driver"] == "Ascend-hdk-910b-npu-driver_24.1.rc1_linux-x86-64.run"
    assert installer_names(matrix, Version.parse("8.0.RC3"), chip, a)["kernels"] == \
        "Ascend-cann-kernels-910b_8.0.RC3_linux-x86_64.run"
    assert installer_names(matrix, Version.parse("8.5.0"), matrix.chip("300i-duo"), a)["kernels"] == \
        "Ascend-cann-310p-ops_8.5.0_linux-x86_64.run"
    assert layout_for(matrix, Version.parse("8.5.0"))["set_env"] == "cann/set_env.sh"
    assert layout_for(matrix, Version.parse("8.3.RC1"))["set_env"] == "ascend-toolkit/set_env.sh"


def test_every_resolved_stack_is_consistent(matrix):
    """Property: whatever the pins, a returned stack satisfies every row it cites."""
    for fw, cann in itertools.product(("mindspore", "torch"), matrix.versions("cann")[:12]):
        st = _resolve(matrix, chip="910b", framework=fw, cann=str(cann))
        if isinstance(st, Conflict):
            assert st.violations
            continue
        assert st.version("cann") == cann
        for comp in st.components.values():
            for c in comp.constraints:
                if comp.version is not None:
                    assert c.allows(comp.version), (fw, cann, comp.name, c)


@pytest.mark.parametrize("fw", ["mindspore", "torch", None])
def test_json_shape(matrix, fw):
    d = _resolve(matrix, chip="910b", framework=fw).to_dict()
    assert d["ok"] is True and {"components", "installers", "warnings", "tier"} <= set(d)
    assert {"driver", "firmware", "cann", "python"} <= set(d["components"])


def test_every_row_allowed_combination_resolves(matrix):
    """Each torch_npu and MindSpore row, with each CANN it names, is a consistent stack on every chip
    (a data gap, e.g. a torch row without Python, or a CANN without Python rows, shows up here)."""
    failures = []
    for chip in ("910b", "300i-duo"):
        for r in matrix.torch_npu:
            for c in matrix.versions("cann"):
                if any(s.contains(c) for s in r.cann):
                    res = _resolve(matrix, chip=chip, framework="torch", torch_npu=str(r.version), cann=str(c))
                    if isinstance(res, Conflict):
                        failures.append((chip, str(r.version), str(c), [str(v) for v in res.violations]))
        for r in matrix.mindspore:
            for c in matrix.versions("cann"):
                if any(s.contains(c) for s in r.cann):
                    res = _resolve(matrix, chip=chip, framework="mindspore", mindspore=str(r.version), cann=str(c))
                    if isinstance(res, Conflict):
                        failures.append((chip, str(r.version), str(c), [str(v) for v in res.violations]))
    assert failures == []
