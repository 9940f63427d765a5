"""``render_container_argv`` builds the argv in Python (issue 21); it must be byte-for-byte the argv the Jinja
template it replaced rendered (templates/container_run.argv.j2 -> YAML -> list), for every spec."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
import yaml

from ascend_env.render import (
    ContainerSpec,
    RenderError,
    container_context,
    render_container_argv,
    spec_hash,
    template_dir,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def argv_from_template(spec: ContainerSpec, trim: bool = False) -> list[str]:
    """The path render_container_argv replaced: the template rendered (as ascend_env did, or with Ansible's
    trim_blocks), then read as YAML."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False, trim_blocks=trim)
    argv = yaml.safe_load(env.get_template("container_run.argv.j2").render(**container_context(spec)))
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


# values that stress the old transport: spaces, both quotes, backslashes, YAML and Jinja syntax, option-like text,
# JSON/HTML-escaped characters (tojson writes <, >, &, ' as \u escapes), control characters, non-ASCII in the BMP
AWKWARD = ["x y", "'", '"', "a\"b'c", "\\", "\\n", "{{ x }}", "{% raw %}", "#", ": ", "- a", "--rm", "-e", "yes", "no",
           "null", "~", "true", "1e3", "0x1F", "&amp;", "<b>", "a>b&c", "\t", "\x7f", "\x85", "\u2028", "é", "配置", "",
           "=", "a=b", "$HOME", "$(id)", "`id`", ";", "|", "*", "[a]", "{a: 1}", "%", "@", "!x"]
BMP = st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",), blacklist_characters="\x00\n\r")
text = st.one_of(st.sampled_from(AWKWARD), st.text(alphabet=BMP, max_size=12))
path_part = st.from_regex(r"\A[A-Za-z0-9_.@ -]{1,8}\Z")
abs_path = st.lists(path_part, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
name = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,10}\Z")
env_name = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
label_key = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._/-]{0,10}\Z")
port = st.builds(lambda h, c, ip, proto: {"host_port": h, "container_port": c, "host_ip": ip, "protocol": proto},
                 st.integers(1, 65535), st.integers(1, 65535),
                 st.sampled_from([None, "127.0.0.1", "0.0.0.0", "::1", "fe80::1"]),
                 st.sampled_from(["tcp", "udp", "sctp"]))
mount = st.builds(lambda h, c, ro: {"host": h, "container": c, "read_only": ro}, abs_path,
                  abs_path.map(lambda p: "/x" + p), st.booleans())


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    runtime = draw(st.sampled_from(["docker", "isula"]))
    data: dict[str, Any] = {"name": draw(name), "runtime": runtime,
                            "image": draw(st.sampled_from(["ubuntu:22.04", "quay.io/ascend/cann:8.0.0-910b",
                                                           "reg.io:5000/a/b@sha256:0123", "img"])),
                            "devices": draw(st.lists(st.integers(0, 15), min_size=1, max_size=8, unique=True))}
    network = draw(st.sampled_from(["host", "none", "bridge", "my-net"]))
    optional: dict[str, Any] = {
        "command": st.lists(st.one_of(text, st.sampled_from(["a\nb", "\r\n", "line\n"])), max_size=4),
        "detach": st.booleans(), "davinci_manager": st.booleans(),
        "devmm_svm": st.booleans(), "hisi_hdc": st.booleans(), "device_dir": abs_path, "host_ascend_root": abs_path,
        "host_driver_dir": abs_path, "host_dcmi_dir": abs_path, "host_npu_smi": abs_path,
        "host_install_info": abs_path, "mount_driver_dir": st.booleans(), "info_mounts": st.booleans(),
        "ipc_host": st.booleans(), "shm_size": st.sampled_from(["16g", "128G", "512m", "1T", "64kb"]),
        "workdir": abs_path, "user": st.sampled_from(["root", "1000:1000", "app:users", "u.1"]),
        "mounts": st.lists(mount, max_size=3), "env": st.dictionaries(env_name, text, max_size=4),
        "labels": st.dictionaries(label_key, text, max_size=3), "privileged": st.booleans(),
        "pids_limit": st.sampled_from([-1, 1, 409600, 2**31 - 1]),
        "restart": st.sampled_from(["no", "always", "on-failure", "on-failure:3",
                                    "unless-stopped" if runtime == "docker" else "on-reboot"]),
        "ascend_runtime": st.booleans(), "oci_runtime": st.sampled_from(["ascend", "runc", "io.containerd.runc.v2"]),
    }
    for key in draw(st.sets(st.sampled_from(sorted(optional)))):
        data[key] = draw(optional[key])
    data["network"] = network
    if network not in ("host", "none"):
        data["ports"] = draw(st.lists(port, max_size=3))
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
          derandomize=True, database=None)
@given(specs())
def test_the_argv_is_the_templates_for_any_spec(data: dict[str, Any]) -> None:
    try:
        spec = ContainerSpec.from_dict(data)
    except RenderError:
        hypothesis.assume(False)
        return
    argv = render_container_argv(spec)
    assert argv == argv_from_template(spec) == argv_from_template(spec, trim=True)


CASES = [
    {"name": "llm", "image": "ubuntu:22.04", "devices": [0, 1, 2, 3]},
    {"name": "llm", "image": "ubuntu:22.04", "devices": [0, 7], "runtime": "isula"},
    {"name": "a", "image": "i", "devices": [0], "runtime": "isula", "ascend_runtime": True, "command": []},
    {"name": "a", "image": "i", "devices": [0, 1], "runtime": "docker", "ascend_runtime": True, "oci_runtime": "ascend",
     "info_mounts": False},
    {"name": "a", "image": "i", "devices": [3], "mount_driver_dir": True, "davinci_manager": False, "hisi_hdc": False,
     "detach": False, "ipc_host": False, "command": ["bash", "-lc", "echo 'a b' \"c\" && x=$(id)\nnext line", ""]},
    {"name": "full", "image": "quay.io/ascend/cann:8.0.0-910b-ubuntu22.04-py3.10", "devices": [0, 1, 2, 3, 7],
     "network": "bridge", "ports": ["127.0.0.1:2223:223", "6006:6006/udp", "[::1]:8080:80"], "shm_size": "16G",
     "pids_limit": -1, "restart": "on-failure:3", "user": "1000:1000", "workdir": "/root/my dir",
     "mounts": ["/data/my models:/models:ro", "/a:/b"], "privileged": True,
     "env": {"SPACES": "a b  c", "QUOTES": "it's \"quoted\"", "BACKSLASH": "C:\\dir", "EMPTY": "", "JINJA": "{{ x }}",
             "HTML": "<a href='x'>&</a>", "UNICODE": "配置 é", "TAB": "a\tb", "YAML": "yes", "NUM": "007"},
     "labels": {"io.ascend-env.role": "llm", "k": "v=w", "q": "'\""}, "device_dir": "/srv/lab/h1/dev",
     "host_ascend_root": "/srv/lab/h1/usr/local/Ascend", "host_npu_smi": "/usr/local/sbin/npu-smi"},
    {"name": "isu", "image": "img", "devices": [1], "runtime": "isula", "network": "cni-net", "ports": ["2222:22"],
     "restart": "on-reboot", "oci_runtime": "runc", "env": {"A": "1"}},
]


@pytest.mark.parametrize("data", CASES)
def test_the_argv_is_the_templates_for_the_usual_specs(data: dict[str, Any]) -> None:
    spec = ContainerSpec.from_dict(data)
    assert render_container_argv(spec) == argv_from_template(spec) == argv_from_template(spec, trim=True)


#: spec_hash of each of CASES before the argv builder (computed on the lead branch at 77a70bd): the hash is of the spec,
#: not of the argv, and must not move -- a new hash would make the role recreate every container on the upgrade
HASHES_BEFORE = ["9f10ea47ac93690e", "c242e13c6f7c6a50", "a049e9c2eca18de3", "103f9b85a152d067", "2dc0d03515c1c09b",
                 "4e80d62a12d8aaca", "b3f928e81706695c"]


@pytest.mark.parametrize(("data", "expected"), list(zip(CASES, HASHES_BEFORE, strict=True)))
def test_the_spec_hash_is_unchanged(data: dict[str, Any], expected: str) -> None:
    assert spec_hash(ContainerSpec.from_dict(data)) == expected
