"""The environment roles' comparison (ascend_env.plan.envdiff): one reading of an environment against its slice of the
fleet plan and the role's settings gives the role's named changes with a reason -- none on an environment that is
what the plan says, so its change tasks are not even loaded -- and the texts the roles write are byte for byte what
the roles wrote before (an environment built by an earlier version is unchanged, not rewritten)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ascend_env.plan import envdiff, plan
from ascend_env.render import EnvSpec, render_env_hook, render_env_profile, render_env_runner

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {
    "npu-a": {"ansible_host": "10.0.0.5", "ascend_chip": "910b", "ascend_arch": "x86_64",
              "ascend_host_pins": {"driver": "25.0.rc1.1"},
              "ascend_conda_channels": ["https://mirror.example/conda-forge"],
              "ascend_containers": [
                  {"name": "llm-pt", "framework": "torch", "pins": {"python": "3.11", "torch": "2.13.0"}},
                  {"name": "llm-ms", "framework": "mindspore", "ssh_port": 224,
                   "pins": {"python": "3.9", "mindspore": "2.7.0", "mindformers": "none"}},
                  {"name": "llm-conda", "framework": "mindspore", "ssh_port": 225, "python_provider": "conda",
                   "pins": {"python": "3.9", "mindspore": "2.7.0", "mindformers": "none"}}]},
    "npu-b": {"ansible_host": "10.0.0.6", "ascend_chip": "910b", "ascend_arch": "x86_64",
              "ascend_host_pins": {"driver": "25.0.rc1.1"}, "ascend_host_root": "/lab/npu-b/",
              "ascend_container_enabled": False, "ascend_ranktable_enabled": True,
              "ascend_containers": [{"name": "host", "framework": "torch",
                                     "pins": {"python": "3.11", "torch": "2.13.0"}}]},
}
FRAMEWORK_DEFAULTS = yaml.safe_load((ROOT / "roles/ascend_framework/defaults/main.yml").read_text())
RATTLER_SHA = hashlib.sha256((ROOT / "roles/ascend_python/files/ascend_conda_rattler.py").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def envs(matrix) -> dict[str, dict[str, Any]]:
    fleet = plan(HOSTS, matrix)
    assert fleet.problems == {}
    return {e.name: e.dump() for e in fleet.envs()}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def py_settings(env: dict[str, Any], **over: Any) -> dict[str, Any]:
    deps = env["stack"].get("python_deps") or {}
    s = {"version": env["python"]["python"], "pip_index_url": "", "pip_extra_index_url": "", "pip_trusted_host": "",
         "pip_cert_src": "", "pip_cert_sha256": "", "pip_proxy": "", "offline": env["offline"],
         "cann_requirements": deps.get("requirements") or [], "cann_constraints": deps.get("constraints") or [],
         "rattler_sha256": RATTLER_SHA}
    return {**s, **over}


def fw_settings(**over: Any) -> dict[str, Any]:
    s = {"components": None, "extra_requirements": [], "env_block": True,
         "marker": FRAMEWORK_DEFAULTS["ascend_framework_marker"], "check_device": "cpu",
         "check_scripts": FRAMEWORK_DEFAULTS["ascend_framework_check_scripts"],
         "system_packages": FRAMEWORK_DEFAULTS["ascend_framework_system_packages"], "recheck": False}
    return {**s, **over}


def converged(env: dict[str, Any]) -> dict[str, Any]:
    """The reading of an environment the roles built as the plan says (what ascend_state returns)."""
    paths, python, stack = env["paths"], env["python"], env["stack"]
    comps = stack["components"]
    cann = comps["cann"]["version"]
    packages = {"pip": "24.0", "numpy": "1.26.4"}
    for r in (stack.get("python_deps") or {}).get("requirements") or []:
        name = re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0]
        packages.setdefault(name, "1.26.4" if name == "numpy" else "99.0")
    for c in ("torch", "torch_npu", "mindspore", "mindformers"):
        if (comps.get(c) or {}).get("version"):
            packages[c] = comps[c]["version"] + ("+cpu" if c == "torch" else "")
    s = py_settings(env)
    files = {paths["pip_conf"]: sha(envdiff.pip_conf_text(env, s)), f"{paths['ca_dir']}/{envdiff.CA_FILE}": None,
             paths["pip_constraints"]: sha(envdiff.constraints_text(env, s)) if s["cann_constraints"] else None}
    set_env = paths["cann_set_env"]
    requirements = envdiff._requirements(env, fw_settings())
    key = envdiff.check_key(requirements, set_env, fw_settings(), env["framework"])
    spec = EnvSpec(set_env=set_env, driver_root=paths["driver_root"], npu_smi_dir=paths["npu_smi_dir"],
                   venv=python["path"] if python["provider"] == "venv" else None, conda_prefix=python["prefix"],
                   conda_env=python["name"],
                   exports={"RANK_TABLE_FILE": env["ranktable"]["path"]} if env["ranktable"]["enabled"] else {})
    marker = FRAMEWORK_DEFAULTS["ascend_framework_marker"]
    hook = "\n".join([marker.replace("{mark}", "BEGIN"), render_env_hook(paths["profile"]).strip(),
                      marker.replace("{mark}", "END"), ""])
    texts = {paths["profile"]: render_env_profile(spec), paths["runner"]: render_env_runner(paths["profile"]),
             paths["bashrc"]: hook + '[ -z "$PS1" ] && return\n', paths["framework_record"]: key + "\n",
             paths["system_bashrcs"][0]: hook + "# the system's own\n", paths["system_bashrcs"][1]: None}
    exists: dict[str, bool] = {}
    if python["provider"] == "conda":
        from ascend_env.conda import conda_plan

        c = conda_plan(envdiff._conda_settings(env, s))
        texts.update({c["condarc_path"]: c["condarc"], c["record_path"]: c["name"] + "\n"})
        files[f"{c['tool_venv']}/ascend_conda_rattler.py"] = RATTLER_SHA
        exists.update({f"{c['path']}/conda-meta/history": True, f"{c['tool_venv']}/bin/python": True})
    return {"system_python": "3.11" if python["provider"] == "conda" else python["python"],
            "python": python["python"] + ".2", "packages": packages, "pip_constraints": [],
            "cann": {"toolkit": {"install_info": {"version": cann}}, "kernels": {"version_info": {"version_dir": cann}},
                     "nnal": None},
            "files": files, "texts": texts, "exists": exists}


def reasons(changes: list[envdiff.Change]) -> list[str]:
    return [c.reason for c in changes]


def parts(changes: list[envdiff.Change]) -> list[str]:
    return [c.part for c in changes]


ENVS = ("npu-a-llm-pt", "npu-a-llm-ms", "npu-a-llm-conda", "npu-b-host")


@pytest.mark.parametrize("name", ENVS)
def test_an_environment_that_is_what_the_plan_says_has_no_changes(envs, name):
    env = envs[name]
    state = converged(env)
    assert envdiff.python_changes(state, env, py_settings(env)) == []
    assert envdiff.cann_changes(state, env) == []
    assert envdiff.framework_changes(state, env, fw_settings()) == []


def test_the_reading_covers_every_file_the_roles_compare(envs):
    pt, conda_env, host = envs["npu-a-llm-pt"], envs["npu-a-llm-conda"], envs["npu-b-host"]
    reads = envdiff.env_reads(pt)
    assert reads["venv"] == "/opt/ascend-env/venv" and reads["dists"] == ["*"]
    assert reads["system_python"] == "/usr/bin/python3" and reads["cann_path"] == "/usr/local/Ascend"
    assert reads["files"] == ["/etc/pip.conf", "/usr/local/share/ca-certificates/ascend-env-pip.crt",
                              "/etc/ascend-env-constraints.txt"]
    assert reads["texts"] == ["/root/.bashrc", "/opt/ascend-env/venv/.ascend-env-framework-check",
                              "/etc/profile.d/ascend-env.sh", "/usr/local/bin/ascend-run", "/etc/bash.bashrc",
                              "/etc/bashrc"]
    assert reads["exists"] == []
    c = envdiff.env_reads(conda_env)
    assert c["venv"] == "/opt/conda/envs/ascend-cann8.2-py3.9"
    assert c["exists"] == ["/opt/conda/envs/ascend-cann8.2-py3.9/conda-meta/history",
                           "/opt/ascend-env/conda-tools/bin/python", "/opt/conda/bin/conda"]
    assert {"/opt/conda/.condarc", "/opt/conda/.ascend-env-environment"} <= set(c["texts"])
    h = envdiff.env_reads(host)
    assert all(p.startswith("/lab/npu-b/") for p in h["files"] + h["texts"] + [h["venv"], h["cann_path"]])
    # the rank table, where the environment takes part in one (its play writes it only where the sha256 differs)
    assert host["ranktable"]["enabled"] and h["files"][-1] == host["ranktable"]["path"]
    assert not pt["ranktable"]["enabled"] and len(reads["files"]) == 3
    # every path a comparison looks up is one the reading asked for
    for name in ENVS:
        env, state = envs[name], converged(envs[name])
        asked = envdiff.env_reads(env)
        assert set(state["files"]) <= set(asked["files"]) and set(state["texts"]) <= set(asked["texts"])
        assert set(state["exists"]) <= set(asked["exists"])


def test_the_plan_names_cann_set_env_by_the_matrix_layout(envs):
    """CANN 8.2.RC1 (MindSpore 2.7.0) has the ascend-toolkit/ layout, CANN 9.2.0 (torch 2.13.0) the cann/ one."""
    assert envs["npu-a-llm-ms"]["stack"]["components"]["cann"]["version"] == "8.2.RC1"
    assert envs["npu-a-llm-ms"]["paths"]["cann_set_env"] == "/usr/local/Ascend/ascend-toolkit/set_env.sh"
    assert envs["npu-a-llm-pt"]["paths"]["cann_set_env"] == "/usr/local/Ascend/cann/set_env.sh"
    assert envs["npu-b-host"]["paths"]["cann_set_env"] == "/lab/npu-b/usr/local/Ascend/cann/set_env.sh"
    assert envs["npu-b-host"]["paths"]["pip_constraints"] == "/lab/npu-b/opt/ascend-env/venv/ascend-env-constraints.txt"


# --- ascend_python -----------------------------------------------------------------------------------------------

def test_pip_settings_each_named_where_they_differ(envs):
    env = envs["npu-a-llm-ms"]
    state = converged(env)
    state["files"]["/etc/pip.conf"] = sha("[global]\n")
    state["files"]["/etc/ascend-env-constraints.txt"] = None
    got = envdiff.python_changes(state, env, py_settings(env))
    assert reasons(got) == ["CANN's pip constraints /etc/ascend-env-constraints.txt are missing",
                            "pip.conf /etc/pip.conf differs"]
    assert "constraint = /etc/ascend-env-constraints.txt\n" in got[1].data["text"]
    assert "numpy<2.0\n" in got[0].data["text"]
    with_ca = envdiff.python_changes(converged(env), env, py_settings(env, pip_cert_src="/site/ca.pem",
                                                                       pip_cert_sha256="ab" * 32))
    assert parts(with_ca) == ["ca", "pip_conf"]      # pip.conf now names the bundle too
    assert with_ca[0].reason == ("the CA bundle /usr/local/share/ca-certificates/ascend-env-pip.crt is not yet "
                                 "ascend_python_pip_cert_src /site/ca.pem")


def test_pip_conf_is_the_text_the_role_always_wrote():
    env = {"paths": {"ca_dir": "/usr/local/share/ca-certificates", "store": "/opt/ascend-store",
                     "pip_constraints": "/etc/ascend-env-constraints.txt"}}
    assert envdiff.pip_conf_text(env, {"offline": True, "cann_constraints": ["numpy<2.0"]}) == (
        "# managed by ascend-env (ascend_python role)\n[global]\nno-index = true\n"
        "find-links = /opt/ascend-store/wheels\nconstraint = /etc/ascend-env-constraints.txt\n"
        "disable-pip-version-check = true\n")
    assert envdiff.pip_conf_text(env, {"pip_index_url": "https://m/simple", "pip_trusted_host": "m",
                                       "pip_cert_src": "/ca.pem", "pip_proxy": "http://p:3128"}) == (
        "# managed by ascend-env (ascend_python role)\n[global]\nindex-url = https://m/simple\ntrusted-host = m\n"
        "cert = /usr/local/share/ca-certificates/ascend-env-pip.crt\nproxy = http://p:3128\n"
        "disable-pip-version-check = true\n")


def test_the_images_python_not_the_stacks_stops_with_the_fix(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["system_python"] = "3.10"
    (stop,) = envdiff.python_changes(state, env, py_settings(env))
    assert stop.stop and stop.part == "stop"
    assert stop.reason == ('npu-a-llm-pt: the stack needs Python 3.11, the image has 3.10. Fix: pin python: "3.10" for '
                           "this container (if the matrix allows it), use an image with Python 3.11, or set "
                           "ascend_python_provider: conda (a conda environment with Python 3.11).")
    state["system_python"] = None
    assert "the image has no /usr/bin/python3." in envdiff.python_changes(state, env, py_settings(env))[0].reason


def test_a_missing_venv_is_made_and_cann_dependencies_go_into_it(envs):
    env = envs["npu-a-llm-ms"]
    state = converged(env)
    state.update(python=None, packages={})
    got = envdiff.python_changes(state, env, py_settings(env))
    assert parts(got) == ["venv", "cann_deps"]
    assert got[0].reason == "the venv /opt/ascend-env/venv does not exist"
    assert got[1].targets == tuple(env["stack"]["python_deps"]["requirements"])


def test_cann_dependencies_missing_or_out_of_range_are_named(envs):
    env = envs["npu-a-llm-ms"]
    state = converged(env)
    state["packages"]["numpy"] = "2.1.0"
    settings = py_settings(env, cann_requirements=["attrs", "numpy<2.0", "PyYAML>=5.1"])
    state["packages"]["pyyaml"] = "6.0.1"
    (deps,) = envdiff.python_changes(state, env, settings)
    assert deps.part == "cann_deps" and deps.targets == ("attrs", "numpy<2.0")
    assert deps.reason == ("CANN's Python dependencies missing or out of range: attrs (not installed), numpy<2.0 "
                           "(2.1.0 installed)")


def test_requirement_unmet_as_pip_compares():
    have = {"numpy": "1.26.4", "pyyaml": "6.0.1", "torch": "2.13.0+cpu"}
    assert envdiff.requirement_unmet("numpy<2.0", have) is None
    assert envdiff.requirement_unmet("PyYAML>=5", have) is None                  # names as pip compares them
    assert envdiff.requirement_unmet("torch==2.13.0", have) is None              # the local label ignored
    assert envdiff.requirement_unmet("numpy>=2", have) == "1.26.4 installed"
    assert envdiff.requirement_unmet("absl-py", have) == "not installed"


def test_constraints_a_stack_no_longer_has_are_removed(envs):
    env = envs["npu-a-llm-pt"]                          # CANN 9.2.0: no sourced row, no constraints
    state = converged(env)
    state["files"]["/etc/ascend-env-constraints.txt"] = "ab" * 32
    got = envdiff.python_changes(state, env, py_settings(env))
    assert [(c.part, c.reason) for c in got] == [
        ("constraints_remove", "CANN's pip constraints /etc/ascend-env-constraints.txt are left from another stack "
                               "(this one has none)")]


def test_the_conda_environment_made_again_for_another_python(envs):
    env = envs["npu-a-llm-conda"]
    state = converged(env)
    state["python"] = "3.11.2"
    got = envdiff.python_changes(state, env, py_settings(env))
    assert parts(got) == ["conda", "cann_deps"]
    assert got[0].reason == ("conda environment ascend-cann8.2-py3.9 has Python 3.11.2, the stack needs Python 3.9")
    assert got[0].data["made"] and got[0].data["conda"]["path"] == "/opt/conda/envs/ascend-cann8.2-py3.9"
    state = converged(env)
    state["python"], state["exists"]["/opt/conda/envs/ascend-cann8.2-py3.9/conda-meta/history"] = None, False
    assert reasons(envdiff.python_changes(state, env, py_settings(env)))[0] == (
        "conda environment ascend-cann8.2-py3.9 does not exist")


def test_the_conda_prefix_settings_and_installer_are_compared(envs):
    env = envs["npu-a-llm-conda"]
    state = converged(env)
    state["texts"]["/opt/conda/.condarc"] = "channels: []\n"
    (condarc,) = envdiff.python_changes(state, env, py_settings(env))
    assert (condarc.part, condarc.reason, condarc.data["made"]) == ("conda", "/opt/conda/.condarc differs", False)
    state = converged(env)
    state["texts"]["/opt/conda/.ascend-env-environment"] = "ascend-cann8.0-py3.9\n"
    assert reasons(envdiff.python_changes(state, env, py_settings(env))) == [
        "/opt/conda/.ascend-env-environment does not name ascend-cann8.2-py3.9"]
    state = converged(env)
    state["exists"]["/opt/ascend-env/conda-tools/bin/python"] = False
    assert reasons(envdiff.python_changes(state, env, py_settings(env))) == [
        "the rattler installer's tool venv /opt/ascend-env/conda-tools is missing or differs"]


def test_another_python_than_the_plans_is_read_where_it_is_made(envs):
    """ascend_python_version (an extra var) names another environment than the one read before the roles."""
    env = envs["npu-a-llm-conda"]
    got = envdiff.python_changes(converged(env), env, py_settings(env, version="3.11"))
    assert got[0].part == "conda" and got[0].data["made"]
    assert got[0].reason.startswith("the environment is ascend-cann8.2-py3.11 (Python 3.11), not ascend-cann8.2-py3.9")


# --- ascend_cann -------------------------------------------------------------------------------------------------

def test_cann_packages_named_with_the_versions(envs):
    env = envs["npu-a-llm-ms"]
    state = converged(env)
    state["cann"]["toolkit"]["install_info"]["version"] = "8.0.RC1"
    state["cann"]["kernels"] = None
    got = envdiff.cann_changes(state, env)
    assert reasons(got) == ["CANN toolkit 8.0.RC1 -> 8.2.RC1", "CANN kernels (none) -> 8.2.RC1"]
    assert got[0].data == {"file": env["stack"]["installers"]["toolkit"], "have": "8.0.RC1", "want": "8.2.RC1"}
    assert got[1].data["have"] is None


def test_nnal_only_where_the_container_asks_for_it(envs):
    env = dict(envs["npu-a-llm-ms"])
    state = converged(env)
    assert envdiff.cann_changes(state, env) == []          # nnal: false
    env["nnal"] = True
    if "nnal" in env["stack"]["installers"]:
        assert reasons(envdiff.cann_changes(state, env)) == ["CANN nnal (none) -> 8.2.RC1"]
        state["cann"]["nnal"] = {"versions": ["8.1.RC1", "8.2.RC1"]}
        assert envdiff.cann_changes(state, env) == []


def test_cann_stops_without_a_toolkit_installer_or_a_reading(envs):
    env = dict(envs["npu-a-llm-ms"])
    env["stack"] = {**env["stack"], "installers": {}}
    (stop,) = envdiff.cann_changes(converged(envs["npu-a-llm-ms"]), env)
    assert stop.stop and stop.reason == "npu-a-llm-ms: the resolved stack has no toolkit installer name (CANN 8.2.RC1)"
    state = converged(envs["npu-a-llm-ms"])
    state["cann"] = {"error": "PermissionError: /usr/local/Ascend"}
    (stop,) = envdiff.cann_changes(state, envs["npu-a-llm-ms"])
    assert stop.stop and "could not be read: PermissionError" in stop.reason


# --- ascend_framework --------------------------------------------------------------------------------------------

def test_framework_versions_named_and_the_check_runs_after_an_install(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["packages"]["torch"] = "2.1.0+cpu"
    del state["packages"]["torch_npu"]
    got = envdiff.framework_changes(state, env, fw_settings())
    assert [(c.part, c.reason) for c in got] == [
        ("install", "torch 2.1.0 -> 2.13.0, torch-npu (none) -> 2.13.0"),
        ("check", "the torch check runs: the framework is installed now")]
    data = got[1].data
    assert data["requirements"] == ["torch==2.13.0", "torch-npu==2.13.0"] and data["missing"] == data["requirements"]
    assert data["set_env"] == "/usr/local/Ascend/cann/set_env.sh"


def test_the_check_runs_again_when_its_record_covers_another_stack_or_cann_changed(envs):
    env = envs["npu-a-llm-ms"]
    state = converged(env)
    state["texts"][env["paths"]["framework_record"]] = "0" * 64 + "\n"
    assert reasons(envdiff.framework_changes(state, env, fw_settings())) == [
        "the mindspore check runs: the last passing framework check covered another stack (versions, CANN's "
        "set_env.sh, device, check program or system libraries)"]
    state = converged(env)
    state["stale"] = ["cann"]
    assert reasons(envdiff.framework_changes(state, env, fw_settings())) == [
        "the mindspore check runs: CANN changed this run"]
    assert reasons(envdiff.framework_changes(converged(env), env, fw_settings(recheck=True))) == [
        "the mindspore check runs: ascend_framework_recheck is true"]
    assert parts(envdiff.framework_changes(converged(env), env, fw_settings(check_device="npu"))) == ["check"]


def test_without_a_check_to_run_a_missing_record_changes_nothing(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["texts"][env["paths"]["framework_record"]] = None     # the check never ran, so it never wrote its record
    assert parts(envdiff.framework_changes(state, env, fw_settings(check_device="skip"))) == []
    assert parts(envdiff.framework_changes(state, env, fw_settings(check_scripts={}))) == []
    assert parts(envdiff.framework_changes(state, env, fw_settings())) == ["check"]
    state["packages"]["torch"] = "2.1.0+cpu"                     # a changed pin is still installed
    assert parts(envdiff.framework_changes(state, env, fw_settings(check_device="skip"))) == ["install", "check"]


def test_an_environment_made_now_gets_the_framework_whatever_was_read(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["stale"] = ["python"]
    assert parts(envdiff.framework_changes(state, env, fw_settings())) == ["install", "check"]


def test_without_a_toolkit_the_environment_sources_no_set_env(envs):
    """--tags framework on an environment without CANN: no set_env.sh in the profile or the check (as before)."""
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["cann"] = {"toolkit": None}
    got = {c.part: c for c in envdiff.framework_changes(state, env, fw_settings())}
    assert set(got) == {"check", "profile"} and got["check"].data["set_env"] == ""
    assert "set_env.sh" not in got["profile"].data["text"]


def test_the_hook_is_written_at_the_top_and_a_lower_block_taken_off(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    block = state["texts"]["/root/.bashrc"].split('[ -z "$PS1" ]')[0]
    state["texts"]["/root/.bashrc"] = '[ -z "$PS1" ] && return\n' + block
    state["texts"]["/etc/bashrc"] = "# openEuler's own\n"
    state["texts"]["/etc/profile.d/ascend-env.sh"] = None
    got = {c.part: c for c in envdiff.framework_changes(state, env, fw_settings())}
    assert set(got) == {"profile", "hook"}
    assert got["profile"].reason == "the profile /etc/profile.d/ascend-env.sh is missing"
    assert got["hook"].targets == ("/root/.bashrc", "/etc/bashrc")
    assert got["hook"].data["take_off"] == ["/root/.bashrc"]
    assert got["hook"].data["block"] == render_env_hook("/etc/profile.d/ascend-env.sh").strip()
    assert envdiff.framework_changes(state, env, fw_settings(env_block=False)) == []


def test_the_checks_record_is_the_key_the_role_always_wrote():
    """The role hashed `[requirements, set_env, device, program, libraries] | to_json | hash('sha256')`: Ansible's
    own filters give the same key, so an environment checked by an earlier version is not checked again."""
    pytest.importorskip("ansible")
    from ansible.plugins.filter.core import get_hash, to_json

    s = fw_settings()
    reqs = ["mindspore==2.7.0"]
    old = get_hash(to_json([reqs, "/usr/local/Ascend/ascend-toolkit/set_env.sh", "cpu",
                            s["check_scripts"]["mindspore"], ["libgomp1"]]), "sha256")
    assert envdiff.check_key(reqs, "/usr/local/Ascend/ascend-toolkit/set_env.sh", s, "mindspore") == old


def test_changes_are_plain_data_for_the_roles_and_the_plan_command(envs):
    env = envs["npu-a-llm-pt"]
    state = converged(env)
    state["files"]["/etc/pip.conf"] = None
    (change,) = envdiff.python_changes(state, env, py_settings(env))
    doc = change.as_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert (doc["role"], doc["part"], doc["reason"]) == ("python", "pip_conf", "pip.conf /etc/pip.conf is missing")
    assert doc["stop"] is False and doc["targets"] == []


# --- what the roles read -------------------------------------------------------------------------------------------

ENV_ROLES = ("ascend_python", "ascend_cann", "ascend_framework", "ascend_smoke")
#: what every environment role may read besides its own ascend_<role>_* variables
SHARED = {"ascend_env_plan", "ascend_env_state"}
#: the rank table play's verdict on the controller (whether the smoke runs the cross-host all_reduce)
CONTROLLER_FACTS = {"ascend_smoke": {"ascend_ranktable_collective_ready"}}


_BARE = ("when", "that", "until", "failed_when", "changed_when")


def _expressions(node: Any, key: str = "") -> list[str]:
    """The Jinja expressions of a role's YAML: every {{ }} and {% %}, and the bare conditions (when, that, ...)."""
    if isinstance(node, dict):
        return [e for k, v in node.items() for e in _expressions(v, str(k))]
    if isinstance(node, list):
        return [e for v in node for e in _expressions(v, key)]
    if not isinstance(node, str):
        return []
    found = re.findall(r"{{(.*?)}}|{%(.*?)%}", node, re.S)
    return [a or b for a, b in found] + ([node] if key in _BARE else [])


def _names(expression: str) -> set[str]:
    """The ascend_* variables an expression reads (string literals and the collection's filters left out)."""
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "''", expression)
    code = re.sub(r"ascend\.env\.ascend_\w+", "", code)
    return set(re.findall(r"(?<![\w.])ascend_\w+", code))


@pytest.mark.parametrize("role", ENV_ROLES)
def test_an_environment_role_reads_only_its_own_variables_the_plan_and_the_reading(role):
    """No role reaches into another role's variables (the framework role read the CANN role's set_env.sh and its
    'changed' note): its own ascend_<role>_*, the plan and the shared reading."""
    prefix = role.removeprefix("ascend_")
    names: set[str] = set()
    for f in sorted((ROOT / "roles" / role).glob("*/*.yml")):
        for expression in _expressions(yaml.safe_load(f.read_text())):
            names |= _names(expression)
    others = sorted(n for n in names if not n.startswith(f"ascend_{prefix}_") and n not in SHARED
                    and n not in CONTROLLER_FACTS.get(role, set()))
    assert others == [], f"{role} reads other roles' or legacy variables: {others}"


def test_the_reading_module_gives_every_distribution_pip_constraints_and_existence(tmp_path):
    """ascend_state (scope env) with dists [*]: every installed distribution of the environment's Python (so an extra
    requirement needs no second read), the constraint files its pip honours, and whether the paths asked exist."""
    import os
    import subprocess
    import sys

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(os.path.realpath(sys.executable))
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nconstraint = " + str(tmp_path / "c.txt") + "\n")
    (tmp_path / "c.txt").write_text("# CANN's\nnumpy<2.0\n")
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "scope": "env", "venv": str(venv), "dists": ["*"], "exists": [str(conf), str(tmp_path / "nothing")]}}))
    cp = subprocess.run([sys.executable, str(ROOT / "plugins/modules/ascend_state.py"), str(args)],
                        env={**os.environ, "PYTHONPATH": str(ROOT / "collections"), "PIP_CONFIG_FILE": str(conf)},
                        capture_output=True, text=True, timeout=60, check=False)
    out = json.loads(cp.stdout)
    assert not out.get("failed"), out
    seen = subprocess.run([str(venv / "bin/python"), "-c", "import importlib.metadata as m, json; print(json.dumps("
                           "{d.metadata['Name']: d.version for d in m.distributions()}))"],
                          capture_output=True, text=True, check=True).stdout
    every = json.loads(seen)
    assert out["packages"] == {k.replace("-", "_"): v for k, v in every.items()} and "pip" in out["packages"]
    assert {"from": str(conf), "file": str(tmp_path / "c.txt"), "lines": ["numpy<2.0"]} in out["pip_constraints"]
    assert out["exists"] == {str(conf): True, str(tmp_path / "nothing"): False}
