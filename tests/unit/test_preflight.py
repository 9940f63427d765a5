"""The inventory preflight (ascend_env.preflight and the ascend_env_preflight filter): one line per bad input,
naming the host, the container, the bad value and the fix; and site.yml stopping on it before any other play."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ascend_env.preflight import Problem, check_fleet, check_host, read_manifest

ROOT = Path(__file__).resolve().parents[2]
_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
PLAYBOOK = shutil.which("ansible-playbook", path=_PATH)

TOOLKIT_X86 = "Ascend-cann-toolkit_8.1.RC1_linux-x86_64.run"
TOOLKIT_ARM = "Ascend-cann-toolkit_8.1.RC1_linux-aarch64.run"
KERNELS_910B = "Ascend-cann-kernels-910b_8.1.RC1_linux-x86_64.run"
KERNELS_310P = "Ascend-cann-kernels-310p_8.1.RC1_linux-x86_64.run"
NNAL_X86 = "Ascend-cann-nnal_8.1.RC1_linux-x86_64.run"
TORCH_WHL = "torch-2.5.1+cpu-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
TORCH_NPU_WHL = "torch_npu-2.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def container(**kw: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "llm-pt", "framework": "torch",
                         "pins": {"cann": "8.1.RC1", "torch": "2.5.1", "torch_npu": "2.5.1"}}
    c.update(kw)
    return c


def host(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    hv: dict[str, Any] = {"ascend_chip": "910b", "ascend_arch": "x86_64",
                          "ascend_host_pins": {"driver": "25.0.rc1.1"},
                          "ascend_containers": list(containers) if containers else [container()]}
    hv.update(kw)
    return hv


def lines(problems: list[Problem]) -> list[str]:
    out = [str(p) for p in problems]
    assert all("\n" not in line for line in out)
    return out


def only(problems: list[Problem]) -> str:
    got = lines(problems)
    assert len(got) == 1, got
    return got[0]


def make_store(root: Path, files: dict[str, bytes], manifest: dict[str, bytes] | None = None) -> Path:
    """A store with ``files`` ({relative path: content}); manifest.json lists the sha256 of ``manifest``'s content
    (default: of the files themselves)."""
    for sub in ("runs", "wheels", "images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    listed = files if manifest is None else manifest
    entries = [{"path": rel, "size": len(data), "mtime": 0, "sha256": hashlib.sha256(data).hexdigest()}
               for rel, data in listed.items()]
    (root / "manifest.json").write_text(json.dumps({"files": entries}))
    return root


def check(hv: dict[str, Any], matrix: Any, store: Path | None = None, name: str = "npu-a") -> list[Problem]:
    manifest = read_manifest(store) if store is not None else None
    return check_host(name, hv, matrix, manifest, store)


# --- a sound host is quiet -------------------------------------------------------------------------------
def test_sound_host_has_no_problems(matrix):
    assert check(host(), matrix) == []


def test_full_offline_store_has_no_problems_and_torch_local_tag_matches(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{TOOLKIT_X86}": b"t", f"runs/{KERNELS_910B}": b"k",
                                  f"wheels/{TORCH_WHL}": b"w1", f"wheels/{TORCH_NPU_WHL}": b"w2"})
    assert check(host(ascend_offline=True, ascend_offline_store=str(store)), matrix, store) == []


def test_example_inventory_hosts_are_sound(matrix):
    import yaml

    base = yaml.safe_load((ROOT / "inventory/example/group_vars/all/stack.yml").read_text())
    fleet = {h: {**base, **yaml.safe_load((ROOT / f"inventory/example/host_vars/{h}.yml").read_text())}
             for h in ("npu-a", "npu-b")}
    assert check_fleet(fleet, matrix, None) == []


# --- (a)-(i) ---------------------------------------------------------------------------------------------
def test_a_incompatible_pins(matrix):
    hv = host(container(name="llm-ms", framework="mindspore", pins={"mindspore": "2.2.11", "cann": "8.0.RC1"}))
    line = only(check(hv, matrix))
    assert line.startswith("npu-a / container llm-ms: pins {")
    assert "mindspore: '2.2.11'" in line and "cann: '8.0.RC1'" in line
    # 7.0.0.beta1 is the community build MindSpore's pages name; 7.0.0 the commercial release they offer beside it
    assert ("no consistent stack: MindSpore 2.2.11 needs CANN 7.0.0.beta1 (or its commercial release 7.0.0); "
            "you pinned CANN 8.0.RC1") in line
    assert "Fix: either unpin CANN; or pick CANN 7.0.0 / 7.0.0.beta1 (works with MindSpore 2.2.11)" in line


def test_b_unknown_version_cann(matrix):
    line = only(check(host(container(name="llm-ms", framework="mindspore", pins={"cann": "9.9.9"})), matrix))
    assert line.startswith("npu-a / container llm-ms: pins.cann '9.9.9': unknown CANN version; nearest known: ")
    assert "9.2.0" in line
    assert "Fix: pin a CANN version the matrix knows, or add a site row with source: local" in line


def test_b_unknown_version_torch_not_a_version(matrix):
    line = only(check(host(container(pins={"torch": "abc"})), matrix))
    newest = ", ".join(str(v) for v in matrix.versions("torch")[:5])
    assert line == (f"npu-a / container llm-pt: pins.torch 'abc': not a valid torch version; known (newest first): "
                    f"{newest}. Fix: write a torch version like 2.1.0, 2.4.0")


def test_b_unknown_host_pin_is_reported_once_for_the_host(matrix):
    line = only(check(host(ascend_host_pins={"drivr": "25.0.rc1"}), matrix))
    assert line.startswith("npu-a: ascend_host_pins.drivr '25.0.rc1': unknown component 'drivr'")
    assert "Fix: did you mean 'driver'?" in line


def test_c_wrong_arch_package_in_store(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{TOOLKIT_ARM}": b"arm"})
    line = only(check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store))
    assert line.startswith("npu-a / container llm-pt: ascend_arch 'x86_64': ")
    assert f"the store has {TOOLKIT_ARM} (for aarch64) but this x86_64 host needs {TOOLKIT_X86}" in line
    assert f"Fix: put {TOOLKIT_X86} in {store / 'runs'}/" in line


def test_c_wrong_arch_wheel_in_store(matrix, tmp_path):
    arm = TORCH_NPU_WHL.replace("x86_64", "aarch64")
    store = make_store(tmp_path, {f"wheels/{arm}": b"arm"})
    line = only(check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store))
    assert f"ascend_arch 'x86_64': the store has {arm} but no torch_npu 2.5.1 wheel for x86_64" in line
    assert "Fix: put a torch_npu==2.5.1 wheel for x86_64" in line


def test_wheel_for_another_python(matrix, tmp_path):
    cp310 = TORCH_NPU_WHL.replace("cp311", "cp310")
    store = make_store(tmp_path, {f"wheels/{cp310}": b"w"})
    line = only(check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store))
    assert f"pins.python '3.11': the store has {cp310} but none for Python 3.11" in line
    assert "Fix: put a torch_npu==2.5.1 wheel for Python 3.11 in" in line


def test_d_checksum_mismatch(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{TOOLKIT_X86}": b"corrupt"}, manifest={f"runs/{TOOLKIT_X86}": b"original"})
    have, want = hashlib.sha256(b"corrupt").hexdigest(), hashlib.sha256(b"original").hexdigest()
    line = only(check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store))
    assert line.startswith(f"npu-a: ascend_offline_store '{store / 'runs' / TOOLKIT_X86}': ")
    assert f"checksum mismatch: sha256 {have} but manifest.json says {want}" in line
    assert "Fix: the file is corrupt or was replaced: delete it and re-fetch it" in line
    assert "`python -m ascend_env lab store`" in line


def test_e_missing_artefact_offline(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{TOOLKIT_X86}": b"t", f"wheels/{TORCH_WHL}": b"w"})
    hv = host(container(nnal=True), ascend_offline=True, ascend_offline_store=str(store))
    line = only(check(hv, matrix, store))
    assert line.startswith(f"npu-a / container llm-pt: ascend_offline true: the offline store {store} lacks what "
                           f"this container needs: runs/{KERNELS_910B}, runs/{NNAL_X86}, "
                           f"wheels/torch_npu-2.5.1-*.whl")
    assert f"Fix: put the .run installers in {store / 'runs'}/ and the wheels in {store / 'wheels'}/" in line
    assert "pip download --only-binary=:all: --dest" in line and "torch==2.5.1 torch-npu==2.5.1" in line


def test_e_missing_artefacts_are_fine_online(matrix, tmp_path):
    store = make_store(tmp_path, {})
    assert check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store) == []


def test_e_offline_without_a_store(matrix):
    line = only(check(host(ascend_offline=True), matrix))
    assert line.startswith("npu-a: ascend_offline_store: ascend_offline is true but no store is set")
    assert "Fix: set ascend_offline_store to the controller path of the store" in line


def test_f_chip_kernels_mismatch(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{KERNELS_310P}": b"k"})
    line = only(check(host(ascend_offline=False, ascend_offline_store=str(store)), matrix, store))
    assert line.startswith("npu-a / container llm-pt: ascend_chip '910b': ")
    assert f"the store has CANN 8.1.RC1 kernels only for another chip ({KERNELS_310P}); " \
           f"this 910b host needs {KERNELS_910B}" in line
    assert f"Fix: put {KERNELS_910B} in {store / 'runs'}/ (kernels are chip-specific)" in line


def test_g_device_list_names_a_card_the_host_lacks(matrix):
    line = only(check(host(container(devices="0-9"), ascend_npu_count=8), matrix))
    assert line == ("npu-a / container llm-pt: devices '0-9': devices 8-9 are not on this host (it has 0-7). "
                    "Fix: pick from 0-7 or use 'all'")


def test_g_device_list_of_ints(matrix):
    line = only(check(host(container(devices=[0, 8]), ascend_npu_count=8), matrix))
    assert "devices [0, 8]: device 8 is not on this host (it has 0-7)" in line


def test_h_two_containers_on_one_port(matrix):
    hv = host(container(name="llm-pt"), container(name="llm-ms", framework="mindspore", pins={}))
    line = only(check(hv, matrix))
    assert line == ("npu-a / container llm-ms: ssh_port 223: port 223 (the default) is already used by container "
                    "llm-pt on this host; both llm-pt and llm-ms would listen on it. "
                    "Fix: give llm-ms its own ssh_port (e.g. ssh_port: 224)")


def test_h_disabled_container_may_share_a_port(matrix):
    hv = host(container(name="a", ssh_port=2222), container(name="b", ssh_port=2222, enabled=False))
    assert check(hv, matrix) == []


@pytest.mark.parametrize("driver", ["23.0.3", "24.1.rc1"])
def test_i_driver_too_old_for_the_cann(matrix, driver):
    line = only(check(host(ascend_host_pins={"driver": driver}), matrix))
    shown = driver.replace("rc", "RC")
    assert line.startswith(f"npu-a / container llm-pt: ascend_host_pins.driver '{driver}': "
                           f"driver {shown} is older than CANN 8.1.RC1 needs (>= 24.1.RC2)")
    assert "Fix: upgrade the driver to 24.1.RC2 or newer" in line
    assert f"or pin an older CANN that driver {shown} supports (" in line


# --- types, names, keys ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value"), [("enabled", "yes"), ("nnal", "false")])
def test_boolean_given_as_string_in_a_container(matrix, key, value):
    line = only(check(host(container(**{key: value})), matrix))
    assert line == (f"npu-a / container llm-pt: {key} '{value}': is a string, not a boolean. "
                    f"Fix: write {key}: true or {key}: false, without quotes")


def test_boolean_given_as_string_on_the_host(matrix):
    line = only(check(host(ascend_offline="yes"), matrix))
    assert line == ("npu-a: ascend_offline 'yes': is a string, not a boolean. "
                    "Fix: write ascend_offline: true or ascend_offline: false, without quotes (on the command line "
                    "-e ascend_offline=true gives a string: use -e '{\"ascend_offline\": true}')")


def test_misspelt_container_key_suggests_the_closest(matrix):
    line = only(check(host(container(framwork="torch")), matrix))
    assert line.startswith("npu-a / container llm-pt: framwork 'torch': unknown container key. "
                           "Fix: did you mean 'framework'? known keys: name, framework, pins,")


def test_misspelt_pin_component_suggests_the_closest(matrix):
    line = only(check(host(container(pins={"torch-npu": "2.5.1"})), matrix))
    assert "pins.torch-npu '2.5.1': unknown component 'torch-npu'. Fix: did you mean 'torch_npu'?" in line


def test_container_without_name(matrix):
    c = container()
    del c["name"]
    line = only(check(host(c), matrix))
    assert line == ("npu-a / container #1: name: the container has no name. "
                    "Fix: give it name: <name> ([a-zA-Z0-9][a-zA-Z0-9_.-]*, unique on the host)")


def test_container_with_invalid_name(matrix):
    line = only(check(host(container(name="-bad name")), matrix))
    assert line.startswith("npu-a / container #1: name '-bad name': is not a valid container name")


def test_duplicate_container_names(matrix):
    hv = host(container(ssh_port=2222), container(ssh_port=2223))
    line = only(check(hv, matrix))
    assert line == ("npu-a / container llm-pt: name 'llm-pt': containers #1 and #2 on this host share the name. "
                    "Fix: give every container on a host its own name")


@pytest.mark.parametrize("port", [0, 70000])
def test_ssh_port_out_of_range(matrix, port):
    line = only(check(host(container(ssh_port=port)), matrix))
    assert line == (f"npu-a / container llm-pt: ssh_port {port}: is out of range 1-65535. "
                    f"Fix: pick a free port between 1 and 65535 (default 223)")


def test_ssh_port_given_as_string(matrix):
    line = only(check(host(container(ssh_port="2222")), matrix))
    assert "ssh_port '2222': is a string, not a number. Fix: write ssh_port: 2222 without quotes" in line


def test_unknown_chip_arch_and_runtime(matrix):
    got = lines(check(host(ascend_chip="910c", ascend_arch="ppc64le", ascend_container_runtime="dokcer"), matrix))
    assert any(g.startswith("npu-a: ascend_chip '910c': unknown chip '910c'. Fix: set ascend_chip to one of 910b")
               for g in got)
    assert "npu-a: ascend_arch 'ppc64le': unknown architecture. Fix: set ascend_arch: x86_64 or ascend_arch: aarch64" \
        in got
    assert any("ascend_container_runtime 'dokcer'" in g and "did you mean 'docker'?" in g for g in got)


def test_unknown_framework(matrix):
    line = only(check(host(container(framework="pytorch")), matrix))
    assert "framework 'pytorch': unknown framework. Fix: did you mean 'torch'?" in line


def test_nnal_on_a_cann_without_nnal(matrix):
    hv = host(container(nnal=True, pins={"cann": "8.0.RC1"}), ascend_host_pins={})
    line = only(check(hv, matrix))
    assert "nnal true: CANN 8.0.RC1 has no NNAL package" in line and "Fix: set nnal: false" in line


def test_problems_name_every_bad_input_at_once(matrix):
    hv = host(container(name="a", enabled="yes", ssh_port=0), container(name="b", pins={"cann": "9.9.9"}))
    got = lines(check(hv, matrix))
    assert len(got) == 3
    assert [g.split(":")[0] for g in got] == ["npu-a / container a", "npu-a / container a", "npu-a / container b"]


# --- the fleet and the filter -----------------------------------------------------------------------------
def test_fleet_reads_each_store_once_and_checks_every_host(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{TOOLKIT_X86}": b"corrupt"}, manifest={f"runs/{TOOLKIT_X86}": b"orig"})
    fleet = {"npu-a": host(), "npu-b": host(container(devices="0-9"), ascend_npu_count=8)}
    got = lines(check_fleet(fleet, matrix, store))
    assert [g.split(":")[0] for g in got] == ["npu-a", "npu-b / container llm-pt", "npu-b"]
    assert "checksum mismatch" in got[0] and "devices 8-9 are not on this host" in got[1]
    assert "checksum mismatch" in got[2]


def test_fleet_reports_an_unreadable_manifest(matrix, tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    line = only(check_fleet({"npu-a": host()}, matrix, tmp_path))
    assert line.startswith(f"npu-a: ascend_offline_store '{tmp_path}': manifest.json is unusable")


def _filter_module() -> Any:
    from conftest import collection_plugin

    return collection_plugin("filter.ascend_env")


def test_filter_returns_problem_lines():
    pytest.importorskip("ansible")
    mod = _filter_module()
    f = mod.FilterModule().filters()
    assert {"ascend_env_resolve", "ascend_env_preflight"} <= set(f)
    assert f["ascend_env_preflight"](host(), "npu-a") == []
    got = f["ascend_env_preflight"]({**host(container(ssh_port=70000)), "unrelated": object()}, "npu-a")
    assert got == ["npu-a / container llm-pt: ssh_port 70000: is out of range 1-65535. "
                   "Fix: pick a free port between 1 and 65535 (default 223)"]


# --- site.yml --------------------------------------------------------------------------------------------
needs_playbook = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-playbook not installed "
                                                             "(scripts/bootstrap.sh installs it)")
BAD_INVENTORY = """\
ascend_hosts:
  hosts:
    bad-host:
      ansible_connection: local
      ascend_chip: 910b
      ascend_arch: x86_64
      ascend_host_pins: {driver: '25.0.rc1.1'}
      ascend_containers:
        - {name: llm-ms, framework: mindspore, pins: {cann: '9.9.9'}, ssh_port: 2222}
        - {name: llm-pt, framework: torch, ssh_port: 2222, enabled: 'yes'}
"""


def run_playbook(playbook: str | Path, inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PYTHONPATH=str(ROOT), PATH=_PATH)
    return subprocess.run([PLAYBOOK or "ansible-playbook", str(playbook), "-i", str(inventory), *extra], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


def plays(stdout: str) -> list[str]:
    return re.findall(r"^PLAY \[(.*)\]", stdout, re.MULTILINE)


@needs_playbook
def test_site_yml_stops_in_preflight_with_every_problem(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(BAD_INVENTORY)
    r = run_playbook("site.yml", inv)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "bad-host: 3 preflight problem(s)" in out
    assert "bad-host / container llm-ms: pins.cann '9.9.9': unknown CANN version" in out
    assert "bad-host / container llm-pt: enabled 'yes': is a string, not a boolean" in out
    assert "bad-host / container llm-pt: ssh_port 2222: port 2222 is already used by container llm-ms" in out
    # the failure is in the preflight play and the recap follows it: no later play started
    assert plays(r.stdout)[-1] == "Resolve the stack of every host and container", plays(r.stdout)
    recap = r.stdout[r.stdout.index("PLAY RECAP"):]
    assert re.search(r"bad-host\s*:.*failed=1", recap), recap
    assert "TASK [Resolve each container's stack" not in r.stdout


@needs_playbook
def test_one_bad_host_stops_every_host_before_any_later_play(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(BAD_INVENTORY + "    good-host:\n      ansible_connection: local\n      ascend_chip: 910b\n"
                                   "      ascend_arch: x86_64\n      ascend_containers: []\n")
    book = tmp_path / "site.yml"
    book.write_text("---\n- name: Run the preflight\n"
                    f"  ansible.builtin.import_playbook: {ROOT / 'playbooks/preflight.yml'}\n"
                    "- name: Stand in for the roles\n  hosts: ascend_hosts\n  gather_facts: false\n  tasks:\n"
                    "    - name: Mark that a later play ran\n"
                    "      ansible.builtin.debug:\n        msg: LATER-PLAY-RAN\n")
    r = run_playbook(book, inv)
    assert r.returncode != 0
    assert "LATER-PLAY-RAN" not in r.stdout and "Stand in for the roles" not in r.stdout, r.stdout


@needs_playbook
def test_ignoring_preflight_errors_warns_loudly(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(BAD_INVENTORY.replace("pins: {cann: '9.9.9'}", "pins: {}"))
    r = run_playbook(ROOT / "playbooks/preflight.yml", inv, "-e", "ascend_ignore_preflight_errors=true")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert ("WARNING: ascend_ignore_preflight_errors is true; IGNORING 2 preflight problem(s) on bad-host; "
            "the run goes on") in out
    assert "bad-host / container llm-pt: enabled 'yes': is a string, not a boolean" in out


# Each bad input the issue names, through site.yml itself: the run stops in the preflight play, with the value
# and the fix, and no later play (nothing on a host) starts.
SITE_CASES = {
    "a-incompatible-pins": (lambda s: host(container(name="llm-ms", framework="mindspore",
                                                     pins={"mindspore": "2.2.11", "cann": "8.0.RC1"})), {}, None,
                            "no consistent stack: MindSpore 2.2.11 needs CANN 7.0.0.beta1"),
    "b-unknown-version": (lambda s: host(container(pins={"cann": "9.9.9"})), {}, None,
                          "pins.cann '9.9.9': unknown CANN version"),
    "c-wrong-arch-package": (lambda s: host(ascend_offline_store=str(s)), {f"runs/{TOOLKIT_ARM}": b"arm"}, None,
                             f"the store has {TOOLKIT_ARM} (for aarch64) but this x86_64 host needs {TOOLKIT_X86}"),
    "d-checksum-mismatch": (lambda s: host(ascend_offline_store=str(s)), {f"runs/{TOOLKIT_X86}": b"corrupt"},
                            {f"runs/{TOOLKIT_X86}": b"original"}, "checksum mismatch: sha256 "),
    "e-missing-offline": (lambda s: host(ascend_offline=True, ascend_offline_store=str(s)),
                          {f"runs/{TOOLKIT_X86}": b"t"}, None, "lacks what this container needs"),
    "f-chip-kernels": (lambda s: host(ascend_offline_store=str(s)), {f"runs/{KERNELS_310P}": b"k"}, None,
                       f"kernels only for another chip ({KERNELS_310P}); this 910b host needs {KERNELS_910B}"),
    "g-device-lacking": (lambda s: host(container(devices="0-9"), ascend_npu_count=8), {}, None,
                         "devices 8-9 are not on this host (it has 0-7). Fix: pick from 0-7 or use 'all'"),
    "h-port-clash": (lambda s: host(container(name="llm-pt"), container(name="llm-ms", framework="mindspore",
                                                                        pins={})), {}, None,
                     "port 223 (the default) is already used by container llm-pt"),
    "i-driver-too-old": (lambda s: host(ascend_host_pins={"driver": "23.0.3"}), {}, None,
                         "driver 23.0.3 is older than CANN 8.1.RC1 needs (>= 24.1.RC2). Fix: upgrade the driver"),
}


@needs_playbook
@pytest.mark.parametrize("case", sorted(SITE_CASES))
def test_site_yml_stops_in_preflight_for_each_bad_input(case, tmp_path):
    import yaml

    build, files, manifest, fragment = SITE_CASES[case]
    store = make_store(tmp_path / "store", files, manifest)
    hv = {"ansible_connection": "local", **build(store)}
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"ascend_hosts": {"hosts": {"npu-a": hv}}}))
    r = run_playbook("site.yml", inv)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert fragment in out, out
    assert "Fix:" in out
    assert plays(r.stdout)[-1] == "Resolve the stack of every host and container", plays(r.stdout)
    assert re.search(r"npu-a\s*:.*changed=0 .*failed=1", r.stdout[r.stdout.index("PLAY RECAP"):])


def test_stack_request_filter_is_the_inventory_function():
    """The preflight play asks the resolver through ascend_env_stack_request: host pins overlaid by container pins."""
    pytest.importorskip("ansible")
    f = _filter_module().FilterModule().filters()
    hv = {**host(), "ascend_host_pins": {"driver": "24.1.rc3", "cann": "8.0.RC1"}}
    got = f["ascend_env_stack_request"](hv, {"name": "c", "framework": "torch", "pins": {"cann": "8.0.RC2"}})
    assert got == {"chip": hv["ascend_chip"], "arch": hv["ascend_arch"], "framework": "torch",
                   "pins": {"driver": "24.1.rc3", "cann": "8.0.RC2"}}
    with pytest.raises(Exception, match="one entry of ascend_containers"):
        f["ascend_env_stack_request"](hv, "llm-pt")


@pytest.mark.parametrize(("password", "why"), [
    (None, "ascend_ssh_password_login is true but no root password is set"),
    ("", "ascend_ssh_password_login is true but no root password is set"),
    ("s3cr:t", "is 6 characters long"),
    ("short", "is 5 characters long"),
    (12345678, "must be a string, got a int"),
])
def test_password_login_needs_a_usable_password_and_never_shows_it(password, why, matrix):
    hv = host(ascend_ssh_password_login=True)
    if password is not None:
        hv["ascend_ssh_root_password"] = password
    got = lines(check(hv, matrix))
    assert len(got) == 1 and why in got[0] and "ansible-vault encrypt_string" in got[0], got
    if password:
        assert str(password) not in got[0]


def test_password_login_with_a_good_password_or_off_is_fine(matrix):
    assert check(host(ascend_ssh_password_login=True, ascend_ssh_root_password="correct horse"), matrix) == []
    assert check(host(ascend_ssh_password_login=False, ascend_ssh_root_password="x"), matrix) == []
    got = lines(check(host(ascend_ssh_password_login="yes"), matrix))
    assert got == ["npu-a: ascend_ssh_password_login 'yes': is a string, not a boolean. Fix: write "
                   "ascend_ssh_password_login: true or ascend_ssh_password_login: false, without quotes (on the "
                   "command line -e ascend_ssh_password_login=true gives a string: use "
                   "-e '{\"ascend_ssh_password_login\": true}')"]


@pytest.mark.parametrize(("kw", "why"), [
    ({"ascend_artifacts_fanout": "sometimes"}, "ascend_artifacts_fanout 'sometimes': must be auto, true or false"),
    ({"ascend_artifacts_fanout_bwlimit": "50MB"}, "ascend_artifacts_fanout_bwlimit '50MB': must be a whole number"),
    ({"ascend_artifacts_fanout_bwlimit": -1}, "ascend_artifacts_fanout_bwlimit -1: must be a whole number"),
    ({"ascend_artifacts_shared_path": "mnt/store"}, "ascend_artifacts_shared_path 'mnt/store': must be an absolute"),
    ({"ascend_artifacts_fanout": True, "ascend_artifacts_shared_path": "/mnt/store"},
     "is true, but ascend_artifacts_shared_path /mnt/store means nothing is copied"),
])
def test_the_artefact_transport_settings_are_checked(kw, why, matrix):
    got = lines(check(host(**kw), matrix))
    assert len(got) == 1 and why in got[0] and "Fix: " in got[0], got


def test_good_artefact_transport_settings_pass(matrix):
    for kw in ({"ascend_artifacts_fanout": "auto"}, {"ascend_artifacts_fanout": False},
               {"ascend_artifacts_fanout": "false"}, {"ascend_artifacts_fanout_bwlimit": "50000"},
               {"ascend_artifacts_shared_path": "/mnt/store", "ascend_artifacts_fanout": "auto"}):
        assert check(host(**kw), matrix) == [], kw


def test_a_store_makes_the_host_offline_by_default(matrix, tmp_path):
    """With ascend_offline_store set and ascend_offline unset, the containers' pip installs from the store only
    (ascend_python_offline follows), so the preflight checks the store has what the stacks need."""
    store = make_store(tmp_path, {})
    got = lines(check(host(ascend_offline_store=str(store)), matrix, store))
    assert len(got) == 1 and got[0].startswith("npu-a / container llm-pt: ascend_offline true: the offline store")
    assert "or set ascend_offline: false" in got[0]


def test_host_mode_takes_exactly_one_environment(matrix):
    """ascend_container_enabled: false provisions the host itself: one environment, no port clash between entries."""
    one = host(container(ssh_port=223), ascend_container_enabled=False)
    assert check(one, matrix) == []
    two = host(container(), container(name="llm-b"), ascend_container_enabled=False)
    got = lines(check(two, matrix))
    assert got == ["npu-a: ascend_container_enabled false: the host itself holds one environment, but 2 entries of "
                   "ascend_containers are enabled (llm-pt, llm-b). Fix: keep one (set enabled: false on the others), "
                   "or set ascend_container_enabled: true to run 2 containers"]
    assert check(host(container(), container(name="llm-b", enabled=False), ascend_container_enabled=False),
                 matrix) == []
    got = lines(check(host(container(enabled=False), ascend_container_enabled=False), matrix))
    assert len(got) == 1 and "no entry of ascend_containers is enabled" in got[0]
    got = lines(check(host(ascend_container_enabled="false"), matrix))
    assert got == ["npu-a: ascend_container_enabled 'false': is a string, not a boolean. Fix: write "
                   "ascend_container_enabled: true or ascend_container_enabled: false, without quotes (on the "
                   "command line -e ascend_container_enabled=true gives a string: use "
                   "-e '{\"ascend_container_enabled\": true}')"]


# --- ascend_driver_manage: the HDK packages must be pinned and in the store ---------------------------------
DRIVER_X86 = "Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-x86-64.run"
DRIVER_ARM = "Ascend-hdk-910b-npu-driver_25.0.rc1.1_linux-aarch64.run"
FIRMWARE = "Ascend-hdk-910b-npu-firmware_7.7.0.1.231.run"
HDK_PINS = {"driver": "25.0.rc1.1", "firmware": "7.7.0.1.231"}


def test_driver_manage_with_both_packages_in_the_store_is_quiet(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{DRIVER_X86}": b"d", f"runs/{FIRMWARE}": b"f"})
    hv = host(ascend_driver_manage=True, ascend_host_pins=HDK_PINS, ascend_offline=False,
              ascend_offline_store=str(store))
    assert check(hv, matrix, store) == []


def test_driver_manage_names_the_missing_package_and_the_other_arch(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{DRIVER_ARM}": b"d", f"runs/{FIRMWARE}": b"f"})
    hv = host(ascend_driver_manage=True, ascend_host_pins=HDK_PINS, ascend_offline=False,
              ascend_offline_store=str(store))
    line = only(check(hv, matrix, store))
    assert line.startswith("npu-a: ascend_host_pins 'driver=25.0.rc1.1': ascend_driver_manage needs "
                           f"{DRIVER_X86} in the store, which lacks it (the store has {DRIVER_ARM}, for aarch64")
    assert f"Fix: put {DRIVER_X86} in {store / 'runs'}/" in line


def test_driver_manage_checks_the_packages_checksums(matrix, tmp_path):
    store = make_store(tmp_path, {f"runs/{DRIVER_X86}": b"d", f"runs/{FIRMWARE}": b"corrupt"},
                       manifest={f"runs/{DRIVER_X86}": b"d", f"runs/{FIRMWARE}": b"f"})
    hv = host(ascend_driver_manage=True, ascend_host_pins=HDK_PINS, ascend_offline=False,
              ascend_offline_store=str(store))
    assert "checksum mismatch" in only(check(hv, matrix, store))


@pytest.mark.parametrize(("kw", "needle"), [
    ({"ascend_host_pins": {}}, "ascend_driver_manage is true but the pins name no driver or firmware"),
    ({}, "ascend_driver_manage is true but no artefact store is set"),
    ({"ascend_driver_manage": "yes please"}, "ascend_driver_manage 'yes please'"),
])
def test_driver_manage_bad_input(matrix, kw, needle):
    hv = host(**{"ascend_driver_manage": True, **kw})
    if "ascend_host_pins" in kw:
        hv["ascend_containers"][0]["pins"] = {"cann": "8.1.RC1", "torch": "2.5.1", "torch_npu": "2.5.1"}
    assert any(needle in line for line in lines(check(hv, matrix))), lines(check(hv, matrix))


def test_driver_manage_off_needs_nothing(matrix):
    assert check(host(ascend_driver_manage=False), matrix) == []


# --- misspelt host variables -------------------------------------------------------------------------------
def test_known_variables_come_from_the_roles_argument_specs():
    from ascend_env.preflight import INVENTORY_VARIABLES, known_variables

    known = known_variables(ROOT / "roles")
    assert {"ascend_driver_reboot", "ascend_ssh_password_login", "ascend_python_venv"} <= known
    assert known >= INVENTORY_VARIABLES


@pytest.mark.parametrize(("name", "meant"), [
    ("ascend_driver_mange", "ascend_driver_manage"),
    ("ascend_ofline_store", "ascend_offline_store"),
    ("ascend_ssh_pasword_login", "ascend_ssh_password_login"),
])
def test_misspelt_variable_is_named_with_the_right_one(matrix, name, meant):
    from ascend_env.preflight import known_variables

    hv = host(**{name: True})
    line = only(check_host("npu-a", hv, matrix, None, None, known_variables(ROOT / "roles")))
    assert line.startswith(f"npu-a: {name} true: unknown variable, so Ansible ignores it")
    assert f"Fix: did you mean {meant!r}? Rename it" in line


def test_a_private_variable_far_from_any_known_name_is_left_alone(matrix):
    from ascend_env.preflight import known_variables

    hv = host(ascend_site_contact="ops@example.com")
    assert check_host("npu-a", hv, matrix, None, None, known_variables(ROOT / "roles")) == []


def test_container_mounts_are_checked(matrix):
    ok = container(mounts=["/srv/work:/root/work", {"host": "/data", "container": "/data", "read_only": True}])
    assert check(host(ok), matrix) == []
    bad = lines(check(host(container(mounts=["work:/root/work", "/a:/w", "/b:/w:ro"])), matrix))
    assert len(bad) == 2
    assert "mounts 'work:/root/work'" in bad[0] and "Fix: write each as HOST_PATH:CONTAINER_PATH[:ro]" in bad[0]
    assert "/w is already the target of /a:/w" in bad[1]
    assert "must be a list" in only(check(host(container(mounts="/a:/b")), matrix))


def test_store_checksums_are_read_once_per_file_version(tmp_path, monkeypatch):
    """Each host's preflight is its own Ansible worker process: the sha256 of a store file is kept on disk by path
    and stat, so the next process (another host, the next run) does not read the file again; any change to the
    file, even one that keeps its size and mtime, is read again."""
    from ascend_env import preflight

    monkeypatch.setenv("ASCEND_ENV_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "toolkit.run"
    f.write_bytes(b"original")
    assert preflight.file_sha256(f) == hashlib.sha256(b"original").hexdigest()
    cached = json.loads((tmp_path / "cache" / preflight.SUMS_CACHE).read_text())
    assert cached[str(f.resolve())][1] == hashlib.sha256(b"original").hexdigest()

    preflight._sha256.cache_clear()                     # a new worker process
    reads = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: (reads.append(str(p)), real_open(p, *a, **k))[1])
    assert preflight.file_sha256(f) == hashlib.sha256(b"original").hexdigest()
    assert str(f.resolve()) not in reads                # from the cache, not the file
    monkeypatch.setattr("builtins.open", real_open)

    st = f.stat()
    time.sleep(0.05)                                    # the kernel's ctime clock is coarse (a few ms)
    f.write_bytes(b"corrupt!")                          # same size, mtime set back: the ctime still moves
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    preflight._sha256.cache_clear()
    assert preflight.file_sha256(f) == hashlib.sha256(b"corrupt!").hexdigest()


def test_store_checksum_cache_can_be_off_or_broken(tmp_path, monkeypatch):
    from ascend_env import preflight

    f = tmp_path / "w.whl"
    f.write_bytes(b"wheel")
    monkeypatch.setenv("ASCEND_ENV_CACHE", "off")
    preflight._sha256.cache_clear()
    assert preflight.file_sha256(f) == hashlib.sha256(b"wheel").hexdigest()
    monkeypatch.setenv("ASCEND_ENV_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / preflight.SUMS_CACHE).write_text("{not json")
    preflight._sha256.cache_clear()
    assert preflight.file_sha256(f) == hashlib.sha256(b"wheel").hexdigest()   # rewritten, not an error
    assert json.loads((tmp_path / "cache" / preflight.SUMS_CACHE).read_text())[str(f.resolve())]
