"""ascend_env.render and ``render`` CLI: container argv (docker / isula), sshd drop-in, shell environment block.

The container argv is parsed BACK with a small argparse model of `docker run` / `isula run` and the tests assert
facts about the parsed options, not string snapshots.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import pytest

from ascend_env import render
from ascend_env.cli.render import add_render_parser, detect_cards, run_render
from ascend_env.render import (
    MANAGER_DEVICES,
    SPEC_HASH_LABEL,
    ContainerSpec,
    EnvSpec,
    Mount,
    PortMapping,
    RenderError,
    SshdSpec,
    env_context,
    exec_env,
    format_device_list,
    parse_device_selection,
    render_container_argv,
    render_env_block,
    render_env_hook,
    render_env_profile,
    render_env_runner,
    render_sshd_config,
    spec_hash,
    sshd_context,
    template_dir,
    with_spec_hash_label,
)

ROOT = Path(__file__).resolve().parents[2]
HOST = list(range(8))
MANAGERS = {f"/dev/{m}" for m in MANAGER_DEVICES}
BASE_TARGETS = {"/usr/local/Ascend/driver/lib64", "/usr/local/Ascend/driver/include", "/usr/local/dcmi",
                "/usr/local/bin/npu-smi", "/usr/local/Ascend/driver/version.info", "/etc/ascend_install.info"}


# ---------------------------------------------------------------------------------------------------------------
# a model of the `docker run` / `isula run` command lines (only the options the renderer may emit)


class _Strict(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # an unknown or malformed option is a test failure, not an exit
        raise AssertionError(f"{self.prog}: {message}")


def run_parser(cli: str) -> argparse.ArgumentParser:
    """docker: docker/cli docs/reference/commandline/container_run.md; isula: iSulad src/cmd/isula/base/create.h,
    run.h, docs/manual/native_network.md. Only the network option is spelled differently (docker --network,
    isula --net); isula has no -w."""
    p = _Strict(prog=f"{cli} run", allow_abbrev=False, add_help=False)
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--name", required=True)
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--runtime", *(["-R"] if cli == "isula" else []))
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--ipc")
    p.add_argument("--network" if cli == "docker" else "--net", dest="network")
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--shm-size")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--restart")
    p.add_argument("-u", "--user")
    p.add_argument("--workdir", *(["-w"] if cli == "docker" else []))
    p.add_argument("--device", action="append", default=[])
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def parse_run(argv: Sequence[str]) -> argparse.Namespace:
    assert argv[0] in ("docker", "isula") and argv[1] == "run", argv[:2]
    ns = run_parser(argv[0]).parse_args(list(argv[2:]))
    ns.cli = argv[0]
    ns.device_map = {ctr: host for host, ctr in (d.split(":", 1) for d in ns.device)}  # container -> host
    ns.volume_map = {}
    for v in ns.volume:
        host, ctr, *mode = v.split(":")
        ns.volume_map[ctr] = (host, mode[0] if mode else "rw")
    ns.env_map = dict(e.split("=", 1) for e in ns.env)
    ns.label_map = dict(label.split("=", 1) for label in ns.label)
    return ns


def spec(**kw: Any) -> ContainerSpec:
    data: dict[str, Any] = {"name": "llm", "image": "quay.io/ascend/cann:8.0.0-910b-ubuntu22.04-py3.10",
                            "devices": "0-3"}
    data.update(kw)
    return ContainerSpec.from_dict(data, available=HOST)


def parsed(**kw: Any) -> argparse.Namespace:
    return parse_run(render_container_argv(spec(**kw)))


# ---------------------------------------------------------------------------------------------------------------
# device selection


@pytest.mark.parametrize(("text", "cards"), [
    ("0-3", [0, 1, 2, 3]), ("0-3,7", [0, 1, 2, 3, 7]), (" 7, 0-1 ", [0, 1, 7]),
    ("5", [5]), ("all", HOST), ("ALL", HOST), ("0-0", [0]),
])
def test_device_selection_resolves(text: str, cards: list[int]) -> None:
    assert parse_device_selection(text, HOST) == cards


@pytest.mark.parametrize(("text", "available", "fragment"), [
    ("9", HOST, "device 9 is not on this host (it has 0-7); pick from 0-7 or use 'all'"),
    ("6-9", HOST, "devices 8-9 are not on this host (it has 0-7)"),
    ("0-3,7", [0, 1, 2, 3], "device 7 is not on this host (it has 0-3)"),
    ("3-1", HOST, "reversed range '3-1'"),
    ("0,0", HOST, "device selection '0,0' selects card 0 twice; name each card once, e.g. '0'"),
    ("2-4,3", HOST, "device selection '2-4,3' selects card 3 twice; name each card once, e.g. '2-4'"),
    ("0-3,2-5", HOST, "selects cards 2-3 twice"),
    ("", HOST, "empty"),
    ("   ", HOST, "empty"),
    ("0-3,", HOST, "'0-3,' has an empty item"),
    ("0,,1", HOST, "'0,,1' has an empty item"),
    ("x", HOST, "bad device selection item 'x'"),
    ("-1", HOST, "'-1'"),
    ("0-3 7", HOST, "'0-3 7'"),
    ("davinci0", HOST, "'davinci0'"),
    ("all", None, "'all' needs the host's card list"),
    ("all", [], "no NPU cards were detected"),
    ("0", [], "device 0 is not on this host (no NPU cards were detected on it)"),
    ("0-99999", None, "99999"),
])
def test_bad_device_selection_names_the_value(text: str, available: list[int] | None, fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        parse_device_selection(text, available)
    assert fragment in str(exc.value)


def test_device_selection_without_host_list_accepts_numbers() -> None:
    assert parse_device_selection("12-13", None) == [12, 13]


def test_format_device_list() -> None:
    assert format_device_list([7, 0, 1, 2, 3]) == "0-3,7"
    assert format_device_list([0, 2, 4]) == "0,2,4"
    assert format_device_list([5]) == "5"


# ---------------------------------------------------------------------------------------------------------------
# container argv: devices and mounts


@pytest.mark.parametrize("runtime", ["docker", "isula"])
@pytest.mark.parametrize(("selection", "cards"), [("0-3", [0, 1, 2, 3]), ("0-3,7", [0, 1, 2, 3, 7])])
def test_exact_device_set(runtime: str, selection: str, cards: list[int]) -> None:
    ns = parsed(runtime=runtime, devices=selection)
    expected = {f"/dev/davinci{n}" for n in cards} | MANAGERS
    assert set(ns.device_map) == expected
    assert len(ns.device) == len(expected)  # no duplicates
    assert all(ns.device_map[ctr] == ctr for ctr in expected)  # host side /dev by default


def test_device_dir_changes_only_the_host_side() -> None:
    ns = parsed(devices="0-1", device_dir="/lab/npu-a/dev")
    assert ns.device_map == {"/dev/davinci0": "/lab/npu-a/dev/davinci0", "/dev/davinci1": "/lab/npu-a/dev/davinci1",
                             **{f"/dev/{m}": f"/lab/npu-a/dev/{m}" for m in MANAGER_DEVICES}}


def test_manager_devices_can_be_switched_off() -> None:
    ns = parsed(hisi_hdc=False)
    assert "/dev/hisi_hdc" not in ns.device_map and {"/dev/davinci_manager", "/dev/devmm_svm"} <= set(ns.device_map)


def test_base_mounts_are_read_only_with_real_container_paths() -> None:
    ns = parsed(host_ascend_root="/lab/a/usr/local/Ascend", host_dcmi_dir="/lab/a/usr/local/dcmi",
                host_npu_smi="/lab/a/usr/local/sbin/npu-smi", host_install_info="/lab/a/etc/ascend_install.info")
    assert set(ns.volume_map) == BASE_TARGETS
    assert all(mode == "ro" for _, mode in ns.volume_map.values())
    assert ns.volume_map["/usr/local/Ascend/driver/lib64"][0] == "/lab/a/usr/local/Ascend/driver/lib64"
    assert ns.volume_map["/usr/local/bin/npu-smi"][0] == "/lab/a/usr/local/sbin/npu-smi"
    assert ns.volume_map["/etc/ascend_install.info"][0] == "/lab/a/etc/ascend_install.info"


def test_defaults_are_the_real_host_paths() -> None:
    ns = parsed()
    assert {ctr: host for ctr, (host, _) in ns.volume_map.items()} == {t: t for t in BASE_TARGETS}


def test_mount_whole_driver_dir() -> None:
    ns = parsed(mount_driver_dir=True, host_driver_dir="/opt/drv")
    assert ns.volume_map["/usr/local/Ascend/driver"] == ("/opt/drv", "ro")
    assert not {"/usr/local/Ascend/driver/lib64", "/usr/local/Ascend/driver/include",
                "/usr/local/Ascend/driver/version.info"} & set(ns.volume_map)


def test_extra_mounts_env_labels_and_options() -> None:
    ns = parsed(mounts=["/data/models:/models:ro", {"host": "/home/dev/work", "container": "/work"}],
                env={"HF_HOME": "/models/hf", "OMP_NUM_THREADS": 8}, labels={"io.ascend-env.role": "train"},
                shm_size="128G", workdir="/work", user="1000:1000", pids_limit=409600, restart="always")
    assert ns.volume_map["/models"] == ("/data/models", "ro") and ns.volume_map["/work"] == ("/home/dev/work", "rw")
    assert ns.env_map == {"HF_HOME": "/models/hf", "OMP_NUM_THREADS": "8"}
    assert ns.label_map == {"io.ascend-env.role": "train"}
    assert (ns.shm_size, ns.workdir, ns.user, ns.pids_limit, ns.restart) == ("128g", "/work", "1000:1000", 409600,
                                                                              "always")
    assert ns.ipc == "host" and ns.network == "host" and ns.detach
    assert ns.command == ["sleep", "infinity"] and ns.image == "quay.io/ascend/cann:8.0.0-910b-ubuntu22.04-py3.10"


def test_quoting_cannot_break() -> None:
    nasty = "a b'c\"d $(id) `id` ; rm -rf / #\\ ü \t"
    argv = render_container_argv(spec(command=["bash", "-lc", "echo 'hi'\nexit 0"], env={"X": nasty},
                                      labels={"note": nasty}, mounts=["/data/my models:/models"]))
    ns = parse_run(argv)
    assert ns.env_map["X"] == nasty and ns.label_map["note"] == nasty
    assert ns.command == ["bash", "-lc", "echo 'hi'\nexit 0"]
    assert ns.volume_map["/models"] == ("/data/my models", "rw")
    assert shlex.split(shlex.join(argv)) == argv


@pytest.mark.parametrize("runtime", ["docker", "isula"])
def test_no_privileged_unless_asked(runtime: str) -> None:
    assert not parsed(runtime=runtime).privileged
    assert not parsed(runtime=runtime, ascend_runtime=True).privileged
    assert parsed(runtime=runtime, privileged=True).privileged


def test_no_detach_no_ipc_and_empty_command() -> None:
    ns = parsed(detach=False, ipc_host=False, command=[])
    assert not ns.detach and ns.ipc is None and ns.command == []


# ---------------------------------------------------------------------------------------------------------------
# docker vs isula


FULL = {"devices": "0-3,7", "network": "bridge", "ports": ["127.0.0.1:2223:223", "6006:6006"], "shm_size": "16g",
        "pids_limit": 409600, "restart": "on-failure:3", "user": "root", "workdir": "/root",
        "mounts": ["/data:/data"], "env": {"A": "1"}, "labels": {"k": "v"}, "privileged": True}


@pytest.mark.parametrize("options", [{}, FULL], ids=["defaults", "every-option"])
def test_docker_and_isula_differ_only_in_the_network_flag(options: dict[str, Any]) -> None:
    docker = render_container_argv(spec(runtime="docker", **options))
    isula = render_container_argv(spec(runtime="isula", **options))
    net = options.get("network", "host")
    assert set(docker) - set(isula) == {"docker", f"--network={net}"}
    assert set(isula) - set(docker) == {"isula", f"--net={net}"}
    assert len(docker) == len(isula)
    d, i = parse_run(docker), parse_run(isula)
    for attr in ("device_map", "volume_map", "env_map", "label_map", "publish", "network", "shm_size",
                 "pids_limit", "restart", "user", "workdir", "privileged", "ipc", "image", "command", "runtime"):
        assert getattr(d, attr) == getattr(i, attr), attr


def test_ascend_runtime_mode() -> None:
    for runtime in ("docker", "isula"):
        ns = parsed(runtime=runtime, devices="0-3,7", ascend_runtime=True)
        assert ns.device == []
        assert ns.env_map["ASCEND_VISIBLE_DEVICES"] == "0-3,7"
        # the runtime mounts the driver, dcmi and npu-smi; only the two info files (not in its base.list) remain
        assert set(ns.volume_map) == {"/usr/local/Ascend/driver/version.info", "/etc/ascend_install.info"}
    # isula: the installer keeps isulad's default runtime, so --runtime=ascend is always needed; docker: when asked
    docker = render_container_argv(spec(runtime="docker", ascend_runtime=True))
    isula = render_container_argv(spec(runtime="isula", ascend_runtime=True))
    assert set(isula) - set(docker) == {"isula", "--net=host", "--runtime=ascend"}
    assert parse_run(docker).runtime is None
    asked = render_container_argv(spec(runtime="docker", ascend_runtime=True, oci_runtime="ascend"))
    assert parse_run(asked).runtime == "ascend"
    assert set(isula) - set(asked) == {"isula", "--net=host"}


def test_ascend_runtime_refuses_a_hand_set_visible_devices() -> None:
    with pytest.raises(RenderError, match="ASCEND_VISIBLE_DEVICES"):
        spec(ascend_runtime=True, env={"ASCEND_VISIBLE_DEVICES": "0"})


def test_restart_policies_follow_the_cli() -> None:
    assert parsed(runtime="docker", restart="unless-stopped").restart == "unless-stopped"
    assert parsed(runtime="isula", restart="on-reboot").restart == "on-reboot"
    with pytest.raises(RenderError, match="'unless-stopped' is not valid for isula"):
        spec(runtime="isula", restart="unless-stopped")
    with pytest.raises(RenderError, match="'on-reboot' is not valid for docker"):
        spec(runtime="docker", restart="on-reboot")


# ---------------------------------------------------------------------------------------------------------------
# container validation


def test_ports_with_host_network_are_refused() -> None:
    with pytest.raises(RenderError) as exc:
        spec(ports=["2223:223"])
    assert "2223:223" in str(exc.value) and "'host'" in str(exc.value) and "bridge" in str(exc.value)
    with pytest.raises(RenderError, match="network 'none'"):
        spec(network="none", ports=["2223:223"])
    ns = parsed(network="bridge", ports=["127.0.0.1:2223:223", {"host_port": 6006, "container_port": 6006},
                                         "[::1]:2224:22", "5353:53/udp"])
    assert ns.publish == ["127.0.0.1:2223:223", "6006:6006", "[::1]:2224:22", "5353:53/udp"]


@pytest.mark.parametrize(("port", "fragment"), [
    ("0:223", "host port 0"), ("2223:70000", "container port 70000"), ("abc", "'abc'"), ("1:2:3:4", "'1:2:3:4'"),
    ("300.1.1.1:22:22", "'300.1.1.1'"), ("22:22/icmp", "'icmp'"),
])
def test_bad_ports(port: str, fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        PortMapping.parse(port)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"shm_size": "16"}, "'16'"), ({"shm_size": "lots"}, "'lots'"), ({"shm_size": "0g"}, "'0g'"),
    ({"mounts": ["data:/data"]}, "'data'"), ({"mounts": ["/data:data"]}, "'data'"), ({"mounts": ["/a"]}, "'/a'"),
    ({"mounts": ["/x:/usr/local/dcmi"]}, "'/usr/local/dcmi'"),
    ({"mounts": ["/a:/m", "/b:/m/"]}, "'/m/'"),
    ({"env": {"1BAD": "x"}}, "'1BAD'"), ({"env": {"A-B": "x"}}, "'A-B'"), ({"env": {"A": True}}, "A=True"),
    ({"labels": {"bad key": "x"}}, "'bad key'"),
    ({"name": "bad name"}, "'bad name'"), ({"image": "-rm"}, "'-rm'"), ({"runtime": "podman"}, "'podman'"),
    ({"network": "host;rm"}, "'host;rm'"), ({"workdir": "work"}, "'work'"), ({"user": "a b"}, "'a b'"),
    ({"device_dir": "dev"}, "'dev'"), ({"host_npu_smi": "/usr/local/bin/npu:smi"}, "':'"),
    ({"pids_limit": 0}, "pids_limit 0"), ({"pids_limit": True}, "pids_limit"),
    ({"privileged": "yes"}, "privileged"), ({"command": "sleep infinity"}, "list"),
    ({"oci_runtime": "as cend"}, "'as cend'"), ({"devices": "0-3,9"}, "device 9 is not on this host"),
    ({"devices": [0, 9]}, "device 9 is not on this host"), ({"devices": []}, "empty"),
    ({"env": {"X": "nul\x00"}}, "NUL"), ({"env": {"X": "emoji \U0001f600"}}, "U+1F600"),
    ({"volumes": ["/a:/b"]}, "'volumes'"),
])
def test_container_validation_names_the_value(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        spec(**kw)
    assert fragment in str(exc.value)


def test_mount_parse() -> None:
    assert Mount.parse("/a:/b:ro") == Mount("/a", "/b", True)
    assert Mount.parse("/a:/b:rw") == Mount("/a", "/b", False)
    with pytest.raises(RenderError, match="'/a:/b:rx'"):
        Mount.parse("/a:/b:rx")


def test_direct_construction_parses_a_selection() -> None:
    s = ContainerSpec(name="x", image="img", devices="0-1,3")  # no host list: numbers accepted as given
    assert s.devices == (0, 1, 3) and s.host_driver_dir == "/usr/local/Ascend/driver"
    with pytest.raises(RenderError, match="'all' needs the host's card list"):
        ContainerSpec(name="x", image="img", devices="all")


# ---------------------------------------------------------------------------------------------------------------
# spec hash


def test_spec_hash_is_stable_and_sensitive() -> None:
    base = {"name": "llm", "image": "img:1", "devices": "0-3", "env": {"A": "1", "B": "2"},
            "labels": {"x": "1", "y": "2"}}
    reordered = {"labels": {"y": "2", "x": "1"}, "env": {"B": "2", "A": "1"}, "devices": [3, 2, 1, 0],
                 "image": "img:1", "name": "llm"}
    h = spec_hash(ContainerSpec.from_dict(base, available=HOST))
    assert len(h) == 16 and int(h, 16) >= 0
    assert spec_hash(ContainerSpec.from_dict(reordered, available=HOST)) == h
    assert spec_hash(ContainerSpec.from_dict({**base, "devices": "0-2,4"}, available=HOST)) != h
    assert spec_hash(ContainerSpec.from_dict({**base, "devices": "0-2"}, available=HOST)) != h
    assert spec_hash(ContainerSpec.from_dict({**base, "runtime": "isula"}, available=HOST)) != h


def test_spec_hash_label_does_not_change_the_hash() -> None:
    s = spec()
    labelled = with_spec_hash_label(s)
    assert labelled.labels[SPEC_HASH_LABEL] == spec_hash(s) == spec_hash(labelled)
    assert parse_run(render_container_argv(labelled)).label_map[SPEC_HASH_LABEL] == spec_hash(s)


def test_specs_round_trip_through_dicts() -> None:
    s = spec(**FULL)
    assert ContainerSpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    sshd = SshdSpec(listen_addresses=("10.0.0.5",), extra_options={"MaxSessions": "20"})
    assert SshdSpec.from_dict(json.loads(json.dumps(sshd.to_dict()))) == sshd
    env = EnvSpec(set_env="/usr/local/Ascend/cann/set_env.sh", exports={"A": "1"})
    assert EnvSpec.from_dict(json.loads(json.dumps(env.to_dict()))) == env
    assert len({spec_hash(s), spec_hash(sshd), spec_hash(env)}) == 3


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(RenderError, match="'privilegd'"):
        spec(privilegd=True)
    with pytest.raises(RenderError, match="'port_number'"):
        SshdSpec.from_dict({"port_number": 22})
    with pytest.raises(RenderError, match="'setenv'"):
        EnvSpec.from_dict({"setenv": "/x"})


# ---------------------------------------------------------------------------------------------------------------
# sshd


def sshd_settings(text: str) -> dict[str, list[str]]:
    """keyword (lower case) -> values in file order; sshd uses the first one (Port/ListenAddress: all)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.setdefault(key.lower(), []).append(value)
    return out


def test_sshd_default_is_key_only() -> None:
    text = render_sshd_config(SshdSpec())
    assert text.startswith("# Managed by ascend-env")
    s = sshd_settings(text)
    assert s["passwordauthentication"] == ["no"] and s["permitrootlogin"] == ["prohibit-password"]
    assert s["pubkeyauthentication"] == ["yes"] and s["challengeresponseauthentication"] == ["no"]
    assert s["permitemptypasswords"] == ["no"]
    assert s["port"] == ["223"] and s["listenaddress"] == ["0.0.0.0"]
    assert s["clientaliveinterval"] == ["60"] and s["clientalivecountmax"] == ["3"]
    assert s["authorizedkeysfile"] == [".ssh/authorized_keys"]
    assert all(len(v) == 1 for v in s.values())


def test_sshd_password_login_only_when_asked() -> None:
    s = sshd_settings(render_sshd_config(SshdSpec(password_login=True)))
    assert s["passwordauthentication"] == ["yes"] and s["permitrootlogin"] == ["prohibit-password"]
    assert sshd_settings(render_sshd_config(SshdSpec(password_login=False)))["passwordauthentication"] == ["no"]


def test_sshd_listen_port_and_options() -> None:
    text = render_sshd_config(SshdSpec(port=2223, listen_addresses=("10.0.0.5", "::1"),
                                       extra_options={"MaxSessions": 20, "AllowUsers": "dev ops"}))
    s = sshd_settings(text)
    assert s["port"] == ["2223"] and s["listenaddress"] == ["10.0.0.5", "::1"]
    assert s["maxsessions"] == ["20"] and s["allowusers"] == ["dev ops"]


@pytest.mark.parametrize(("options", "fragment"), [
    ({"Banner /etc/issue\nPasswordAuthentication": "yes"}, "line break"),
    ({"Banner": "/etc/issue\nPasswordAuthentication yes"}, "line break"),
    ({"Banner": "/etc/issue\rPermitRootLogin yes"}, "line break"),
    ({"PasswordAuthentication": "yes"}, "password_login: true"),
    ({"passwordauthentication": "no"}, "allow_insecure"),
    ({"PermitRootLogin": "yes"}, "allow_insecure"),
    ({"AuthenticationMethods": "any"}, "allow_insecure"),
    ({"KbdInteractiveAuthentication": "yes"}, "allow_insecure"),
    ({"Match": "User dev"}, "'Match'"), ({"Include": "/etc/ssh/x"}, "'Include'"),
    ({"Port": "22"}, "use port"), ({"ListenAddress": "::"}, "use listen_addresses"),
    ({"Max Sessions": "2"}, "'Max Sessions'"), ({"MaxSessions": ""}, "empty"), ({"X11Forwarding": True}, "string"),
    ({"MaxSessions": "2", "maxsessions": "3"}, "twice"),
])
def test_sshd_bad_options_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        SshdSpec(extra_options=options)
    assert fragment in str(exc.value)


def test_sshd_explicit_override_replaces_the_managed_line() -> None:
    text = render_sshd_config(SshdSpec(extra_options={"PermitRootLogin": "yes", "PasswordAuthentication": "yes"},
                                       allow_insecure=True))
    s = sshd_settings(text)
    assert s["permitrootlogin"] == ["yes"] and s["passwordauthentication"] == ["yes"]
    assert sshd_context(SshdSpec(extra_options={"UsePAM": "no"}, allow_insecure=True))["extra_options"] == [
        ["UsePAM", "no"]]


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"listen_addresses": ("0.0.0.0\nPermitRootLogin yes",)}, "line break"),
    ({"listen_addresses": ("example.com",)}, "'example.com'"), ({"listen_addresses": ()}, "empty"),
    ({"listen_addresses": "0.0.0.0"}, "list"), ({"port": 0}, "sshd port 0"), ({"port": 65536}, "65536"),
    ({"permit_root_login": "yes"}, "allow_insecure"), ({"permit_root_login": "maybe"}, "'maybe'"),
    ({"client_alive_interval": 0}, "client_alive_interval 0"), ({"password_login": "yes"}, "password_login"),
    ({"authorized_keys_file": ".ssh/keys\nPermitRootLogin yes"}, "line break"),
])
def test_sshd_validation(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        SshdSpec(**kw)
    assert fragment in str(exc.value)


SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


@pytest.mark.skipif(SSHD is None or shutil.which("ssh-keygen") is None,
                    reason="sshd/ssh-keygen not installed; the rendered config is checked by sshd -t where it is")
def test_sshd_accepts_the_rendered_config(tmp_path: Path) -> None:
    key = tmp_path / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    for s in (SshdSpec(), SshdSpec(password_login=True, listen_addresses=("127.0.0.1", "::1"),
                                   extra_options={"MaxSessions": "20"})):
        cfg = tmp_path / "sshd_config"
        cfg.write_text(render_sshd_config(s))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        r = subprocess.run([str(SSHD), "-t", "-f", str(cfg), "-h", str(key)], capture_output=True, text=True)
        if r.returncode != 0 and "privilege separation" in r.stderr.lower():
            pytest.skip(f"sshd -t cannot run here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------------------------------------------
# shell environment block


DRIVER_LIBS = ["/usr/local/Ascend/driver/lib64", "/usr/local/Ascend/driver/lib64/common",
               "/usr/local/Ascend/driver/lib64/driver"]


def test_env_block_content() -> None:
    toolkit, nnal = "/usr/local/Ascend/ascend-toolkit/set_env.sh", "/usr/local/Ascend/nnal/atb/set_env.sh"
    text = render_env_block(EnvSpec(set_env=toolkit, npu_smi_dir="/usr/local/sbin", nnal_set_env=nnal,
                                    conda_prefix="/opt/conda", conda_env="mindspore",
                                    exports={"HCCL_CONNECT_TIMEOUT": "1200"}))
    for lib in DRIVER_LIBS:
        assert f"LD_LIBRARY_PATH={lib}$" in text
    assert f"if [ -f {toolkit} ]; then . {toolkit}; fi" in text
    assert f"if [ -f {nnal} ]; then . {nnal}; fi" in text
    assert "conda activate mindspore" in text and "export HCCL_CONNECT_TIMEOUT=1200" in text
    assert "BEGIN" not in text and "END" not in text  # the caller's markers are not part of the block
    # every source is guarded by a test of that very file
    for line in text.splitlines():
        if ". /" in line:
            assert re.search(r"\[ -f (\S+) \]; then \. \1", line), line


def _sh() -> str:
    sh = shutil.which("sh")
    if sh is None:  # pragma: no cover
        pytest.skip("no sh")
    return sh


def test_env_block_passes_sh_n(tmp_path: Path) -> None:
    for s in (EnvSpec(), EnvSpec(set_env="/opt/my cann/set_env.sh", npu_smi_dir="/usr/local/sbin",
                                 venv="/opt/venv $HOME", exports={"X": "a'b\"c $(id) `id`"}),
              EnvSpec(driver_root=None, conda_prefix="/opt/conda", conda_env="torch-2.1")):
        f = tmp_path / "block.sh"
        f.write_text(render_env_block(s))
        r = subprocess.run([_sh(), "-n", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + f.read_text()


def test_env_block_is_guarded_and_idempotent(tmp_path: Path) -> None:
    set_env = tmp_path / "cann dir" / "set_env.sh"
    set_env.parent.mkdir()
    set_env.write_text('ASCEND_SOURCED=$((${ASCEND_SOURCED:-0}+1))\n')
    block = tmp_path / "block.sh"
    block.write_text(render_env_block(EnvSpec(set_env=str(set_env), npu_smi_dir="/opt/npu bin",
                                              nnal_set_env=str(tmp_path / "missing" / "set_env.sh"),
                                              exports={"WEIRD": "a'b $x"})))
    script = f'. {shlex.quote(str(block))}; . {shlex.quote(str(block))}; ' \
             'printf "%s\\n" "$LD_LIBRARY_PATH" "$PATH" "$ASCEND_SOURCED" "$WEIRD"'
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/old/lib"}
    r = subprocess.run([_sh(), "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    ld, path, sourced, weird = r.stdout.splitlines()
    assert ld.split(":") == [*DRIVER_LIBS, "/old/lib"]  # in order, once, no empty entry
    assert path.split(":") == ["/opt/npu bin", "/usr/bin", "/bin"]
    assert sourced == "2"  # set_env.sh sourced each time; the missing NNAL one skipped without an error
    assert weird == "a'b $x"
    r = subprocess.run([_sh(), "-c", f". {shlex.quote(str(block))}; echo \"$LD_LIBRARY_PATH\""],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.stdout.strip().split(":") == DRIVER_LIBS  # no trailing ':' (an empty entry means the cwd)


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"set_env": "usr/local/Ascend/set_env.sh"}, "'usr/local/Ascend/set_env.sh'"),
    ({"driver_root": "/a:b"}, "':'"),
    ({"conda_prefix": "/opt/conda"}, "both conda_prefix and conda_env"),
    ({"conda_env": "ms"}, "both conda_prefix and conda_env"),
    ({"conda_prefix": "/opt/conda", "conda_env": "ms", "venv": "/v"}, "not both"),
    ({"conda_prefix": "/opt/conda", "conda_env": "my env"}, "'my env'"),
    ({"exports": {"1X": "a"}}, "'1X'"), ({"exports": {"X-Y": "a"}}, "'X-Y'"),
    ({"exports": {"PATH": "/x"}}, "npu_smi_dir"), ({"exports": {"LD_LIBRARY_PATH": "/x"}}, "driver_root"),
    ({"exports": {"X": "a\nexport Y=1"}}, "line break"), ({"set_env": "/x\n/y"}, "line break"),
])
def test_env_validation(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RenderError) as exc:
        EnvSpec(**kw)
    assert fragment in str(exc.value)


def test_env_context_is_pre_quoted() -> None:
    ctx = env_context(EnvSpec(set_env="/opt/my cann/set_env.sh"))
    assert ctx["set_env"] == "'/opt/my cann/set_env.sh'"


# ---------------------------------------------------------------------------------------------------------------
# templates


def test_template_dir_prefers_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert template_dir() == ROOT / "templates"
    pkg = tmp_path / "ascend_env"
    (pkg / "_templates").mkdir(parents=True)
    monkeypatch.setattr(render, "__file__", str(pkg / "render.py"))
    assert template_dir() == pkg / "_templates"


TEMPLATE_CASES = [
    ("sshd_config.j2", sshd_context(SshdSpec(extra_options={"MaxSessions": "3"}))),
    ("sshd_config.j2", sshd_context(SshdSpec())),
    ("env_block.sh.j2", env_context(EnvSpec(set_env="/a/set_env.sh", npu_smi_dir="/b", venv="/v",
                                            exports={"A": "1"}))),
    ("env_block.sh.j2", env_context(EnvSpec(driver_root=None))),
    ("env_block.sh.j2", env_context(EnvSpec(conda_prefix="/opt/conda", conda_env="ms"))),
    ("env_profile.sh.j2", env_context(EnvSpec(set_env="/a/set_env.sh", venv="/v"))),
    ("env_hook.sh.j2", {"profile": "/etc/profile.d/ascend-env.sh"}),
    ("env_runner.sh.j2", {"profile": "'/etc/profile.d/my env.sh'"}),
]


@pytest.mark.parametrize(("name", "context"), TEMPLATE_CASES)
def test_templates_render_the_same_under_ansible_settings(name: str, context: dict[str, Any]) -> None:
    """Ansible renders with trim_blocks=True (and users may set lstrip_blocks); only builtin filters are used."""
    outputs = set()
    for trim, lstrip in ((False, False), (True, False), (True, True)):
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), trim_blocks=trim,
                                 lstrip_blocks=lstrip, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        outputs.add(env.get_template(name).render(**context))
    assert len(outputs) == 1


def test_templates_need_every_variable() -> None:
    ctx = sshd_context(SshdSpec())
    del ctx["port"]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir())), undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("sshd_config.j2").render(**ctx)


# ---------------------------------------------------------------------------------------------------------------
# CLI


def cli(*args: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ascend-env")
    sub = parser.add_subparsers(dest="command", required=True)
    add_render_parser(sub)
    ns = parser.parse_args(["render", *args])
    out, err = io.StringIO(), io.StringIO()
    code = run_render(ns, out, err)
    return code, out.getvalue(), err.getvalue()


CLI_ARGS = ["container", "--runtime", "isula", "--name", "llm", "--image", "ubuntu:22.04", "--devices", "0-3,7",
            "--detected", "0-7", "--network", "bridge", "-p", "127.0.0.1:2223:223", "--shm-size", "16g",
            "-v", "/data:/data:ro", "-e", "A=x y", "--label", "k=v=w", "--workdir", "/root", "--user", "root"]


def test_cli_json_round_trips() -> None:
    code, out, err = cli(*CLI_ARGS, "--json")
    assert code == 0, err
    argv = json.loads(out)
    expected = ContainerSpec.from_dict(
        {"runtime": "isula", "name": "llm", "image": "ubuntu:22.04", "devices": "0-3,7", "network": "bridge",
         "ports": ["127.0.0.1:2223:223"], "shm_size": "16g", "mounts": ["/data:/data:ro"], "env": {"A": "x y"},
         "labels": {"k": "v=w"}, "workdir": "/root", "user": "root"}, available=HOST)
    assert argv == render_container_argv(expected)
    code, human, _ = cli(*CLI_ARGS)
    assert code == 0 and shlex.split(human) == argv


def test_cli_container_command_after_double_dash() -> None:
    code, out, err = cli("container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "0",
                         "--json", "--", "bash", "-lc", "echo hi; sleep 1")
    assert code == 0, err
    assert parse_run(json.loads(out)).command == ["bash", "-lc", "echo hi; sleep 1"]


def test_cli_devices_all_scans_the_device_dir(tmp_path: Path) -> None:
    for name in ("davinci0", "davinci1", "davinci3", "davinci_manager", "devmm_svm", "hisi_hdc", "davinci12x"):
        (tmp_path / name).touch()
    assert detect_cards(tmp_path) == [0, 1, 3]
    code, out, err = cli("container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "all",
                         "--device-dir", str(tmp_path), "--json")
    assert code == 0, err
    ns = parse_run(json.loads(out))
    assert set(ns.device_map) == {"/dev/davinci0", "/dev/davinci1", "/dev/davinci3"} | MANAGERS
    assert ns.device_map["/dev/davinci3"] == f"{tmp_path}/davinci3"
    code, _, err = cli("container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "2",
                       "--detected", "0,1,3")
    assert code == 2 and err.startswith("error: device 2 is not on this host (it has 0-1,3)")


@pytest.mark.parametrize("args", [
    ["container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "all", "--device-dir",
     "/nonexistent-dev"],
    ["container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "0", "-p", "2223:223"],
    ["container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "0", "-e", "NOVALUE"],
    ["container", "--runtime", "docker", "--name", "a", "--image", "img", "--devices", "0", "-v", "rel:/x"],
    ["sshd", "--option", "PasswordAuthentication=yes"],
    ["sshd", "--option", "Banner=/x\nPermitRootLogin yes"],
    ["sshd", "--listen", "localhost"],
    ["env", "--conda-prefix", "/opt/conda"],
    ["env", "--set-env", "relative/set_env.sh"],
])
def test_cli_errors_exit_2(args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err.startswith("error: ")


def test_cli_sshd_and_env() -> None:
    code, out, _ = cli("sshd", "--port", "2223", "--listen", "127.0.0.1", "--option", "MaxSessions=20")
    s = sshd_settings(out)
    assert code == 0 and s["port"] == ["2223"] and s["passwordauthentication"] == ["no"] and s["maxsessions"] == ["20"]
    assert sshd_settings(cli("sshd", "--password-login")[1])["passwordauthentication"] == ["yes"]
    code, out, _ = cli("env", "--set-env", "/usr/local/Ascend/cann/set_env.sh", "--venv", "/opt/venv")
    assert code == 0 and "/usr/local/Ascend/cann/set_env.sh" in out and "/opt/venv/bin/activate" in out


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ascend_env", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


@pytest.mark.parametrize("cmd", ["container", "sshd", "env"])
def test_help_has_examples(cmd: str) -> None:
    r = run_module("render", cmd, "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and f"render {cmd}" in r.stdout


def test_module_entry_point_and_usage_errors() -> None:
    r = run_module("render", "container", "--runtime", "docker", "--name", "llm", "--image", "ubuntu:22.04",
                   "--devices", "0-3", "--json")
    assert r.returncode == 0, r.stderr
    assert parse_run(json.loads(r.stdout)).device_map.keys() == {f"/dev/davinci{n}" for n in range(4)} | MANAGERS
    assert run_module("render", "container", "--runtime", "podman", "--name", "a", "--image", "i").returncode == 2
    assert run_module("render").returncode == 2
    r = run_module("render", "container", "--runtime", "docker", "--name", "a", "--image", "i", "--devices", "9",
                   "--detected", "0-7")
    assert r.returncode == 2
    assert "error: device 9 is not on this host (it has 0-7); pick from 0-7 or use 'all'" in r.stderr


# ---------------------------------------------------------------------------------------------------------------
# the environment in every process: profile, hook, runner, exec environment (docs/environment.md)

UBUNTU_ROOT_BASHRC = ROOT / "ascend_env/lab/data/ubuntu_root.bashrc"


def _bash() -> str:
    bash = shutil.which("bash")
    if bash is None:  # pragma: no cover
        pytest.skip("no bash")
    return bash


def _fake_venv(base: Path) -> Path:
    """A venv as far as the block can tell: bin/ and an activate that, like venv's, changes the prompt."""
    venv = base / "my venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(
        f'VIRTUAL_ENV={shlex.quote(str(venv))}; export VIRTUAL_ENV\n'
        'PATH="$VIRTUAL_ENV/bin:$PATH"; export PATH\nPS1="(venv) ${PS1:-}"; export PS1\n')
    return venv


def test_the_profile_enters_the_venv_without_a_prompt_outside_an_interactive_shell(tmp_path: Path) -> None:
    """venv's bin/activate exports PS1; sourced before `[ -z "$PS1" ] && return` in a non-interactive shell, that PS1
    would run the rest of the file as if interactive.  Non-interactive: VIRTUAL_ENV and bin/ first, PS1 untouched;
    interactive: activate itself (its prompt).  Twice is the same as once."""
    venv = _fake_venv(tmp_path)
    profile = tmp_path / "ascend-env.sh"
    profile.write_text(render_env_profile(EnvSpec(venv=str(venv), driver_root=None)))
    show = 'printf "%s|%s|%s\\n" "${PS1-unset}" "$VIRTUAL_ENV" "$PATH"'
    for sh in (_sh(), _bash()):         # dash sets a PS1 of its own even when not interactive: it must stay as it was
        r = subprocess.run([sh, "-c", f'before="${{PS1-unset}}"; . {shlex.quote(str(profile))}; '
                            f'. {shlex.quote(str(profile))}; echo "$before"; {show}'],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        before, after = r.stdout.splitlines()
        assert after == f"{before}|{venv}|{venv}/bin:/usr/bin:/bin", (sh, r.stdout)
    r = subprocess.run([_bash(), "--norc", "--noprofile", "-i", "-c", f". {shlex.quote(str(profile))}; {show}"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    assert r.stdout.strip().startswith("(venv) ") and f"|{venv}|{venv}/bin:/usr/bin:/bin" in r.stdout, r.stdout


def test_the_profile_enters_a_conda_environment_without_conda(tmp_path: Path) -> None:
    prefix = tmp_path / "conda"
    env = prefix / "envs" / "ms"
    (env / "conda-meta").mkdir(parents=True)
    (env / "etc/conda/activate.d").mkdir(parents=True)
    (env / "etc/conda/activate.d/x.sh").write_text("export HOOK_RAN=yes\n")
    profile = tmp_path / "p.sh"
    profile.write_text(render_env_profile(EnvSpec(conda_prefix=str(prefix), conda_env="ms", driver_root=None)))
    r = subprocess.run([_bash(), "-c", f". {profile}; . {profile}; "
                        'printf "%s|%s|%s|%s\\n" "${PS1-unset}" "$CONDA_PREFIX" "$HOOK_RAN" "$PATH"'],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.stdout.strip() == f"unset|{env}|yes|{env}/bin:/usr/bin:/bin", r.stderr


def _bash_reads_bashrc_for_ssh(tmp_path: Path) -> bool:
    home = tmp_path / "probe-home"
    home.mkdir()
    (home / ".bashrc").write_text("export SSH_STARTUP_READ=yes\n")
    r = subprocess.run([_bash(), "-c", 'echo "${SSH_STARTUP_READ:-no}"'], capture_output=True, text=True,
                       env={"HOME": str(home), "PATH": "/usr/bin:/bin", "SSH_CLIENT": "127.0.0.1 50000 22"})
    return r.stdout.strip() == "yes"


def test_the_hook_at_the_top_of_ubuntus_root_bashrc_reaches_a_command_run_over_ssh(tmp_path: Path) -> None:
    """What sshd runs for `ssh host CMD` (bash -c CMD with SSH_CLIENT set) reads ~/.bashrc and stops at Ubuntu's
    `[ -z "$PS1" ] && return`: a line after it is never read, the hook at the top is."""
    if not _bash_reads_bashrc_for_ssh(tmp_path):
        pytest.skip("this bash is built without SSH_SOURCE_BASHRC (it reads no ~/.bashrc for ssh commands)")
    venv = _fake_venv(tmp_path)
    profile = tmp_path / "etc" / "ascend-env.sh"
    profile.parent.mkdir()
    profile.write_text(render_env_profile(EnvSpec(venv=str(venv), driver_root=None, exports={"MARK": "yes"})))
    ubuntu = UBUNTU_ROOT_BASHRC.read_text()
    assert next(ln for ln in ubuntu.splitlines() if ln and not ln.startswith("#")) == '[ -z "$PS1" ] && return'
    home = tmp_path / "root"
    home.mkdir()
    ssh = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SSH_CLIENT": "127.0.0.1 50000 22",
           "SSH_CONNECTION": "127.0.0.1 50000 127.0.0.1 22"}
    command = [_bash(), "-c", 'printf "%s|%s\\n" "${MARK:-none}" "$(command -v python3 || echo none)"']
    marker = "# {mark} ascend-env environment (managed by Ansible)"
    hook = "\n".join([marker.format(mark="BEGIN"), render_env_hook(str(profile)).strip(), marker.format(mark="END")])
    (home / ".bashrc").write_text(ubuntu + hook + "\n")             # where the block used to go: after the guard
    assert subprocess.run(command, capture_output=True, text=True, env=ssh).stdout.startswith("none|")
    (venv / "bin" / "python3").write_text("#!/bin/sh\n")
    (venv / "bin" / "python3").chmod(0o755)
    (home / ".bashrc").write_text(hook + "\n" + ubuntu)              # at the top, as the framework role writes it
    assert subprocess.run(command, capture_output=True, text=True, env=ssh).stdout.strip() == \
        f"yes|{venv}/bin/python3"


def test_the_runner_runs_a_command_with_the_environment_from_nothing(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    profile = tmp_path / "etc profile.sh"
    profile.write_text(render_env_profile(EnvSpec(venv=str(venv), driver_root=None)))
    runner = tmp_path / "ascend-run"
    runner.write_text(render_env_runner(str(profile)))
    runner.chmod(0o755)
    assert runner.read_text().startswith("#!/bin/bash\n")
    r = subprocess.run([str(runner), "sh", "-c", 'echo "$VIRTUAL_ENV|$1"', "x", "a b"], capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == f"{venv}|a b", r.stderr
    usage = subprocess.run([str(runner)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert usage.returncode == 2 and "usage: ascend-run COMMAND" in usage.stderr
    profile.unlink()
    gone = subprocess.run([str(runner), "true"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert gone.returncode == 1 and f"{profile} is missing" in gone.stderr and "--tags framework" in gone.stderr


def test_exec_env_is_what_the_profile_gives_a_process_without_a_shell() -> None:
    home = "/usr/local/Ascend/ascend-toolkit/latest"
    env = exec_env(EnvSpec(venv="/opt/ascend-env/venv", npu_smi_dir="/usr/local/bin",
                           exports={"RANK_TABLE_FILE": "/etc/ascend-env/hccl.json"}), home, "aarch64")
    assert env["PATH"].split(":")[:2] == ["/opt/ascend-env/venv/bin", f"{home}/bin"]
    assert env["PATH"].endswith(":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    assert env["PATH"].count("/usr/local/bin") == 1                  # npu-smi's dir is in the base already
    assert env["VIRTUAL_ENV"] == "/opt/ascend-env/venv" and env["RANK_TABLE_FILE"] == "/etc/ascend-env/hccl.json"
    assert env["ASCEND_OPP_PATH"] == f"{home}/opp" and env["ASCEND_HOME_PATH"] == home
    ld = env["LD_LIBRARY_PATH"].split(":")
    assert f"{home}/lib64" in ld and f"{home}/opp/built-in/op_impl/ai_core/tbe/op_tiling/lib/linux/aarch64" in ld
    assert ld[-3:] == ["/usr/local/Ascend/driver/lib64", "/usr/local/Ascend/driver/lib64/common",
                       "/usr/local/Ascend/driver/lib64/driver"]
    assert "" not in env["PYTHONPATH"].split(":")                     # set_env.sh's trailing ':' would be the cwd
    conda = exec_env(EnvSpec(conda_prefix="/opt/conda", conda_env="ms", driver_root=None), None)
    assert conda == {"CONDA_DEFAULT_ENV": "ms", "CONDA_PREFIX": "/opt/conda/envs/ms",
                     "PATH": "/opt/conda/envs/ms/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    with pytest.raises(RenderError, match="'armv7l'"):
        exec_env(EnvSpec(), home, "armv7l")
    with pytest.raises(RenderError, match="empty entry"):
        exec_env(EnvSpec(), home, base_path="/usr/bin::/bin")


def test_cli_env_forms() -> None:
    code, out, _ = cli("env", "--as", "hook", "--profile", "/etc/profile.d/x y.sh")
    assert code == 0 and out == "if [ -r '/etc/profile.d/x y.sh' ]; then . '/etc/profile.d/x y.sh'; fi\n"
    code, out, _ = cli("env", "--as", "runner")
    assert code == 0 and out.startswith("#!/bin/bash\n") and out.rstrip().endswith('exec "$@"')
    code, out, _ = cli("env", "--as", "profile", "--venv", "/opt/v")
    assert code == 0 and out.startswith("# /etc/profile.d/ascend-env.sh") and "VIRTUAL_ENV=/opt/v" in out
    code, out, _ = cli("env", "--as", "exec", "--toolkit-home", "/t/latest", "--venv", "/opt/v", "--arch", "aarch64")
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert code == 0 and lines["PATH"].startswith("/opt/v/bin:/t/latest/bin:") and lines["VIRTUAL_ENV"] == "/opt/v"


def test_the_spec_label_records_the_spec_without_changing_the_hash_and_names_what_changed():
    """A container carries the spec it was made from, so a later run names the fields that changed (ascend-env plan:
    'recreated because ...'); neither label changes the hash, so containers made before the label stay."""
    import json

    from ascend_env.render import SPEC_LABEL, spec_changes, with_spec_labels

    s = ContainerSpec(name="llm", image="ubuntu:22.04", devices=(0, 1), env={"A": "1"})
    labelled = with_spec_labels(s)
    assert spec_hash(labelled) == spec_hash(s) == labelled.labels[SPEC_HASH_LABEL]
    recorded = json.loads(labelled.labels[SPEC_LABEL])
    assert SPEC_LABEL not in recorded["labels"] and SPEC_HASH_LABEL not in recorded["labels"]
    changed = with_spec_labels(ContainerSpec(name="llm", image="ubuntu:24.04", devices=(0, 1),
                                             env={"A": "2", "B": "x"}))
    assert spec_changes(recorded, changed.to_dict()) == ["env: A, B", "image ubuntu:22.04 -> ubuntu:24.04"]
    assert spec_changes(recorded, labelled.to_dict()) == []
    assert spec_changes(None, labelled.to_dict())[0].startswith("the spec (the running container predates")
