"""The version model against every spelling in shared/reference/ascend-facts.md and the seeds."""

from __future__ import annotations

import pytest

from ascend_env.versions import Arch, Scheme, Version, VersionError, parse_spec

# (spelling as it appears in the facts file or a seed, component, canonical print)
CORPUS = [
    # CANN (ascend-facts §2.3, §5)
    ("8.0.RC1", "cann", "8.0.RC1"),
    ("8.0.rc1", "cann", "8.0.RC1"),
    ("8.0.RC1.beta1", "cann", "8.0.RC1.beta1"),
    ("7.0.0.beta1", "cann", "7.0.0.beta1"),
    ("7.0.RC1.B060", "cann", "7.0.RC1.B060"),
    ("8.0.RC2.alpha001", "cann", "8.0.RC2.alpha001"),
    ("6.3.RC2.alpha005", "cann", "6.3.RC2.alpha005"),
    ("8.0.0", "cann", "8.0.0"),
    ("8.5.0", "cann", "8.5.0"),
    ("9.1.0", "cann", "9.1.0"),
    ("6.3.RC3.1", "cann", "6.3.RC3.1"),
    ("5.0.RC1.B101", "cann", "5.0.RC1.B101"),
    ("8.5.0.2.220", "cann", "8.5.0.2.220"),  # opp/version.info Version=
    ("7.0.T3", "cann", "7.0.T3"),  # seed 004
    # driver / HDK (§2.1, §5.3, seeds)
    ("24.1.rc3", "driver", "24.1.RC3"),
    ("24.1.RC3", "driver", "24.1.RC3"),
    ("25.0.rc1.1", "driver", "25.0.RC1.1"),
    ("23.0.3", "driver", "23.0.3"),
    ("23.0.rc2.3", "driver", "23.0.RC2.3"),
    ("24.1.0", "driver", "24.1.0"),
    ("25.3.rc1", "driver", "25.3.RC1"),
    ("6.0.rc1.2", "driver", "6.0.RC1.2"),
    ("22.0.RC3.2", "driver", "22.0.RC3.2"),
    ("23.0.RC3.B060", "driver", "23.0.RC3.B060"),  # seed 003
    ("23.0.T50", "driver", "23.0.T50"),  # seed 004
    ("1.0.22.alpha", "driver", "1.0.22.alpha"),  # community HDK label
    ("1.0.RC3.alpha", "driver", "1.0.RC3.alpha"),
    ("c81-22.0.0.3", "driver", "c81-22.0.0.3"),  # ModelArts
    # firmware (§2.2, §5.3, seeds)
    ("7.1.0.5.220", "firmware", "7.1.0.5.220"),
    ("7.1.0.11.220", "firmware", "7.1.0.11.220"),
    ("7.5.0.1.129", "firmware", "7.5.0.1.129"),
    ("6.4.12.1.241", "firmware", "6.4.12.1.241"),
    ("7.0.t9.0.b221", "firmware", "7.0.T9.0.B221"),  # seed 003 package name
    # inner versions (§2.1, §2.3)
    ("V100R001C15SPC006B220", "inner", "V100R001C15SPC006B220"),
    ("V100R001C19SPC001B124", "inner", "V100R001C19SPC001B124"),
    ("V100R001C25SPC001B212", "inner", "V100R001C25SPC001B212"),
    ("V100R001C30", "inner", "V100R001C30"),
    # Python packages (§5.1, §5.2)
    ("2.1.0.post3", "torch_npu", "2.1.0.post3"),
    ("2.10.0.post4", "torch_npu", "2.10.0.post4"),
    ("1.11.0.post14", "torch_npu", "1.11.0.post14"),
    ("2.0.1.rc1", "torch_npu", "2.0.1rc1"),
    ("2.3.0rc2", "mindspore", "2.3.0rc2"),
    ("2.6.0-rc1", "mindspore", "2.6.0rc1"),
    ("3.7.5", "python", "3.7.5"),
    ("3.11.4", "python", "3.11.4"),
]


@pytest.mark.parametrize("text,component,canonical", CORPUS)
def test_corpus_parses_and_prints_canonically(text, component, canonical):
    v = Version.parse(text, component)
    assert str(v) == canonical
    # printing then parsing gives the same version
    assert Version.parse(str(v), component) == v


@pytest.mark.parametrize("text,component,canonical", CORPUS)
def test_corpus_scheme_is_guessed_without_a_component(text, component, canonical):
    expected = {"cann": Scheme.ASCEND, "driver": Scheme.ASCEND, "firmware": Scheme.ASCEND, "inner": Scheme.INNER}
    v = Version.parse(text)
    if component in expected:
        assert v.scheme is expected[component]


def test_case_and_spelling_variants_are_equal_and_hash_alike():
    assert Version.parse("24.1.rc3") == Version.parse("24.1.RC3")
    assert len({Version.parse("8.0.rc1"), Version.parse("8.0.RC1")}) == 1
    assert Version.parse("24.1.RC3", "driver").file_spelling() == "24.1.rc3"


def test_ascend_release_order():
    ordered = ["7.0.T3", "7.0.RC1", "7.0.RC1.B060", "7.0.0.beta1", "7.0.0", "7.0.1", "8.0.RC1.beta1", "8.0.RC1",
               "8.0.RC2.alpha001", "8.0.RC2.beta1", "8.0.RC2", "8.0.RC3", "8.0.0", "8.1.RC1", "8.5.0", "9.0.0"]
    parsed = [Version.parse(x, "cann") for x in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert Version.parse("25.0.rc1") < Version.parse("25.0.rc1.1") < Version.parse("25.0.rc2") < Version.parse("25.0.0")


def test_pep440_order_uses_packaging():
    assert Version.parse("2.1.0.post3", "torch_npu") < Version.parse("2.1.0.post4", "torch_npu")
    assert Version.parse("2.10.0", "torch") > Version.parse("2.9.0", "torch")
    assert Version.parse("2.3.0rc2", "mindspore") < Version.parse("2.3.0", "mindspore")


def test_numeric_versions_compare_across_schemes_but_tagged_ones_do_not():
    assert Version.parse("8.5.0", "cann") == Version.parse("8.5.0", "torch")
    with pytest.raises(TypeError):
        _ = Version.parse("8.0.RC1", "cann") < Version.parse("2.1.0.post3", "torch_npu")


@pytest.mark.parametrize("text,component,fragment", [
    ("8.0.RCX", "cann", "8.0.RC1"),
    ("banana", "driver", "24.1.RC3"),
    ("", "torch_npu", "2.1.0.post3"),
    ("2.1.0+cpu", "torch", "2.1.0"),
    ("V100X", "inner", "V100R001C15SPC006B220"),
])
def test_unparseable_input_quotes_it_and_gives_an_example(text, component, fragment):
    with pytest.raises(VersionError) as exc:
        Version.parse(text, component)
    msg = str(exc.value)
    assert fragment in msg
    if text:
        assert repr(text) in msg


def test_yaml_floats_are_rejected_with_a_hint():
    with pytest.raises(VersionError, match="quote it"):
        Version.parse(8.0, "cann")  # type: ignore[arg-type]


@pytest.mark.parametrize("spec,component,inside,outside", [
    ("25.0.*", "driver", ["25.0.rc1", "25.0.rc1.1", "25.0.0"], ["25.2.0", "24.1.rc3"]),
    (">=24.1.RC2", "driver", ["24.1.rc2", "24.1.0", "25.5.0"], ["24.1.rc1", "23.0.3"]),
    (">=8.0.RC2,<=8.3.RC1", "cann", ["8.0.RC2", "8.0.0", "8.2.RC1", "8.3.RC1"], ["8.0.RC1", "8.5.0"]),
    ("24.1.RC2", "driver", ["24.1.rc2"], ["24.1.rc2.1", "24.1.rc3"]),
    (">=3.7,<=3.11.4", "python", ["3.7.0", "3.11.4"], ["3.11.5", "3.12.0"]),
    ("3.9.*", "python", ["3.9.0", "3.9.18"], ["3.10.0"]),
])
def test_specs(spec, component, inside, outside):
    s = parse_spec(spec, component)
    for v in inside:
        assert s.contains(Version.parse(v, component)), v
    for v in outside:
        assert not s.contains(Version.parse(v, component)), v


def test_bad_spec_names_the_value():
    with pytest.raises(VersionError, match=r"'>=8\.0\.RCZ'"):
        parse_spec(">=8.0.RCZ", "cann")
    with pytest.raises(VersionError, match="wildcard"):
        parse_spec(">=8.0.*", "cann")


@pytest.mark.parametrize("text,arch,driver", [
    ("x86_64", Arch.X86_64, "x86-64"), ("x86-64", Arch.X86_64, "x86-64"), ("amd64", Arch.X86_64, "x86-64"),
    ("aarch64", Arch.AARCH64, "aarch64"), ("arm64", Arch.AARCH64, "aarch64"), ("AArch64", Arch.AARCH64, "aarch64"),
])
def test_arch_spellings(text, arch, driver):
    a = Arch.parse(text)
    assert a is arch and a.driver == driver and a.cann == arch.value


def test_bad_arch_names_it():
    with pytest.raises(VersionError, match="'ppc64le'"):
        Arch.parse("ppc64le")
