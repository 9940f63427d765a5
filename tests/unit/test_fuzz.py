"""Issue 24: generated inputs thrown at the parsers and validators (hypothesis, from PyPI).

Each must return a result or raise the project's own error (``AscendEnvError``, whose message the CLI prints as one
line); any other exception is a crash a user would see as a traceback.  Kept fast: a modest ``max_examples`` and no
deadline (the machine is shared), a few seconds for the whole file.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ascend_env import hostvalues, render, sshd_options  # noqa: E402
from ascend_env.errors import AscendEnvError  # noqa: E402
from ascend_env.preflight import check_addresses, check_host  # noqa: E402
from ascend_env.versions import COMPONENTS, Version, parse_spec  # noqa: E402

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True, database=None)


@functools.lru_cache(maxsize=1)
def matrix() -> Any:
    from ascend_env.matrix import load_matrix

    return load_matrix()


def clean(fn, *args: Any, **kw: Any) -> Any:
    """``fn(...)``'s result, or None when it raised the project's own error; anything else fails the test."""
    try:
        return fn(*args, **kw)
    except AscendEnvError:
        return None


# --- building blocks ---------------------------------------------------------------------------------------------
version_text = st.one_of(
    st.text(alphabet="0123456789.rcRCbetaalphapost+-_ ", max_size=24),
    st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4}){0,4}(\.?(RC|rc|beta|alpha|post)[0-9]{0,3})?\Z"),
    st.text(max_size=12),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True), version_text,
                    st.text(max_size=16))
device_text = st.one_of(st.from_regex(r"\A[0-9 ,\-]{0,16}\Z"), st.sampled_from(["all", "ALL", "", " ", "0-3,7"]),
                        st.text(max_size=10))
device_values = st.one_of(device_text, st.lists(st.one_of(st.integers(-2, 20), st.booleans(), st.text(max_size=2)),
                                                max_size=6), scalars)


def containers() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["name", "framework", "pins", "devices", "ssh_port", "image", "enabled", "nnal", "mounts",
                            "python_provider", "bogus"])
    pins = st.dictionaries(st.sampled_from([*COMPONENTS, "nope"]), scalars, max_size=4)
    value = st.one_of(scalars, pins, device_values, st.lists(scalars, max_size=3))
    return st.one_of(st.dictionaries(keys, value, max_size=8), scalars, st.lists(scalars, max_size=2))


hostvars = st.fixed_dictionaries({}, optional={
    "ascend_chip": st.one_of(st.sampled_from(["910b", "310p", "300i-duo", "910B"]), scalars),
    "ascend_arch": st.one_of(st.sampled_from(["x86_64", "aarch64", "arm64"]), scalars),
    "ascend_host_pins": st.one_of(st.dictionaries(st.sampled_from(["driver", "firmware", "cann", "x"]), scalars,
                                                  max_size=3), scalars),
    "ascend_containers": st.one_of(st.lists(containers(), max_size=3), scalars),
    "ascend_container_runtime": st.one_of(st.sampled_from(hostvalues.RUNTIMES), scalars),
    "ascend_container_cli": st.one_of(st.sampled_from(["docker", "/usr/bin/isula", "$(touch x)"]), scalars),
    "ascend_container_enabled": st.one_of(st.booleans(), scalars),
    "ascend_npu_count": scalars,
    "ascend_offline": scalars,
    "ascend_ranktable_enabled": scalars,
    "ascend_ranktable_devices": device_values,
    "ascend_ssh_password_login": scalars,
    "ascend_artifacts_fanout": scalars,
    "ansible_host": st.one_of(st.sampled_from(["192.0.2.1", "npu-a", "::1", "-oX"]), scalars),
    "ansible_port": scalars,
    "ansible_user": scalars,
})


# --- the properties ----------------------------------------------------------------------------------------------
@FAST
@given(hostvars)
def test_preflight_of_one_host_reports_problems_never_crashes(hv):
    problems = check_host("npu-a", hv, matrix(), None, None)
    assert all(str(p) for p in problems)


@FAST
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), hostvars, max_size=3))
def test_preflight_across_hosts_never_crashes(fleet):
    assert all(str(p) for p in check_addresses(fleet))


@FAST
@given(version_text, st.sampled_from(sorted(COMPONENTS)))
def test_version_parsing_is_a_version_or_a_version_error(text, component):
    v = clean(Version.parse, text, component)
    assert v is None or isinstance(v, Version)
    clean(parse_spec, text, component)


@FAST
@given(device_text, st.one_of(st.none(), st.lists(st.integers(0, 15), max_size=8)))
def test_device_selection_is_cards_or_a_render_error(text, available):
    cards = clean(render.parse_device_selection, text, available)
    assert cards is None or (cards == sorted(set(cards)) and all(isinstance(c, int) for c in cards))


@FAST
@given(device_values)
def test_container_devices_are_cards_or_a_render_error(value):
    clean(render.ContainerSpec.from_dict, {"runtime": "docker", "name": "c", "image": "i", "devices": value},
          available=list(range(8)))


sshd_key = st.one_of(st.sampled_from(sorted(sshd_options.KEYWORDS)), st.text(max_size=12))
sshd_value = st.one_of(st.text(max_size=24), st.sampled_from(["yes", "no", "none", "10:30:100", "1h30m", "+aes128-ctr",
                                                             "-x", "^ssh-ed25519", "1G 1h", "0777", '"a b']),
                       st.integers(-3, 10**6), st.booleans(), st.none())


@FAST
@given(st.dictionaries(sshd_key, sshd_value, max_size=3), st.booleans())
def test_sshd_options_are_a_config_or_a_render_error(options, insecure):
    spec = clean(render.SshdSpec, extra_options=options, allow_insecure=insecure)
    if spec is not None:
        assert render.render_sshd_config(spec).startswith("#")


@FAST
@given(st.one_of(scalars, st.text(max_size=20)))
def test_host_values_are_a_value_or_a_host_value_error(value):
    for check in (hostvalues.ssh_port, hostvalues.ssh_host, hostvalues.ssh_user, hostvalues.engine_cli,
                  hostvalues.runtime, hostvalues.container_name):
        clean(check, value)


@FAST
@given(st.binary(max_size=200))
def test_an_inventory_file_is_read_or_refused(tmp_path_factory, raw):
    from ascend_env.inventory import check_inventory_file

    path = tmp_path_factory.mktemp("inv") / "hosts.yml"
    path.write_bytes(raw)
    clean(check_inventory_file, path)


rank_device = st.one_of(st.fixed_dictionaries({}, optional={"device_id": scalars, "device_ip": scalars,
                                                            "rank_id": scalars}), scalars)
rank_table = st.one_of(
    st.fixed_dictionaries({}, optional={
        "version": st.one_of(st.sampled_from(["1.0", "1.2"]), scalars),
        "server_count": scalars, "status": st.one_of(st.just("completed"), scalars),
        "server_list": st.one_of(st.lists(st.one_of(st.fixed_dictionaries({}, optional={
            "server_id": scalars, "device": st.one_of(st.lists(rank_device, max_size=3), scalars)}), scalars),
            max_size=3), scalars)}),
    scalars, st.lists(scalars, max_size=2))


@FAST
@given(rank_table)
def test_rank_table_check_names_problems_never_crashes(table):
    from ascend_env import ranktable

    problems = clean(ranktable.validate, table)
    assert problems is None or all(isinstance(p, str) for p in problems)


npu_smi_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from([
        "+------------------------------------------------------------------------------------------------+",
        "| npu-smi 23.0.rc2                 Version: 23.0.rc2                                             |",
        "+---------------------------+---------------+----------------------------------------------------+",
        "| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|",
        "| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |",
        "+===========================+===============+====================================================+",
        "| 0     910B3               | OK            | 93.5        40                0    / 0             |",
        "| 0                         | 0000:C1:00.0  | 0           0    / 0          3339 / 65536         |",
        "| 0     910B3               | Warning       | NA          -                 0    / 0             |",
        "| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |",
        "| No running processes found in NPU 0                                                            |",
        "", "x", "|", "| |", "+=+"]), max_size=14).map("\n".join),
)


@FAST
@given(npu_smi_text)
def test_npu_smi_parsers_return_a_table_or_a_parse_error(text):
    from ascend_env.probe import npu_smi

    clean(npu_smi.parse_info, text)
    clean(npu_smi.parse_info_m, text)
    clean(npu_smi.parse_kv_sections, text)
