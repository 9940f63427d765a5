"""The conda provider without a lab: where the environment is, what the role runs for each installer (the site's
Miniforge/Miniconda .sh is covered here only: no real installer is reachable where this is built), the .condarc,
the preflight's checks, the environment block's activation without a conda command, the probe and the doctor; and
the rattler installer script against a small channel it solves and installs for real (py-rattler, no network)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from ascend_env import conda
from ascend_env.conda import CondaSettingError, conda_plan, python_env, python_range, spec_allows
from ascend_env.doctor.checks import Context, run_checks
from ascend_env.preflight import check_host, read_manifest
from ascend_env.probe import host as probe
from ascend_env.render import EnvSpec, render_env_block

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles/ascend_python/files/ascend_conda_rattler.py"


def stack(python: str = "3.9", pinned: bool = True, cann: str = "8.2.RC1",
          constraints: list[str] | None = None) -> dict[str, Any]:
    return {"components": {"cann": {"version": cann},
                           "python": {"version": python, "pinned": pinned,
                                      "constraints": [{"spec": s} for s in (constraints or [f"{python}.*"])]}}}


# --- where the environment is ------------------------------------------------------------------------------------
def test_the_venv_is_where_it_always_was():
    env = python_env({"stack": stack()})
    assert (env["provider"], env["path"], env["name"]) == ("venv", "/opt/ascend-env/venv", None)


def test_the_conda_environment_is_named_after_the_stack():
    env = python_env({"provider": "conda", "stack": stack("3.9")})
    assert env["name"] == "ascend-cann8.2-py3.9" and env["path"] == "/opt/conda/envs/ascend-cann8.2-py3.9"
    assert python_env({"provider": "conda", "stack": stack("3.9"), "python": "3.11"})["name"] == "ascend-cann8.2-py3.11"
    named = python_env({"provider": "conda", "conda_prefix": "/srv/conda/", "env_name": "ms", "stack": stack()})
    assert named["path"] == "/srv/conda/envs/ms" and named["bin"] == "/srv/conda/envs/ms/bin"


@pytest.mark.parametrize(("settings", "field", "words"), [
    ({"provider": "mamba"}, "ascend_python_provider", "use venv"),
    ({"provider": "conda", "env_name": "base"}, "ascend_python_env_name", "not 'base'"),
    ({"provider": "conda", "env_name": "my env"}, "ascend_python_env_name", "letters, digits"),
    ({"provider": "conda", "conda_prefix": "opt/conda"}, "ascend_conda_prefix", "absolute path"),
    ({"provider": "conda", "conda_prefix": "/opt/my conda"}, "ascend_conda_prefix", "without spaces"),
])
def test_bad_settings_name_the_variable_and_the_fix(settings, field, words):
    with pytest.raises(CondaSettingError) as e:
        python_env({"stack": stack(), **settings})
    assert e.value.field == field and words in str(e.value) and "Fix:" in str(e.value)


# --- the Python the environment gets -------------------------------------------------------------------------------
def test_the_python_spec_follows_the_stack(matrix):
    from ascend_env.resolver import Request, resolve

    def resolved(**pins: str) -> dict[str, Any]:
        return resolve(matrix, Request(chip="910b", arch="x86_64", framework="mindspore", pins=pins)).to_dict()

    # a pinned minor: any patch; CANN 8.0.RC1's documented 3.9.0-3.9.7: that range; a pinned patch: exactly it
    assert python_range(resolved(mindspore="2.7.0", python="3.9", mindformers="none"), "3.9") == "3.9.*"
    assert python_range(resolved(cann="8.0.RC1"), "3.9") == ">=3.9.0,<=3.9.7"
    assert python_range(resolved(cann="8.0.RC1", python="3.9.7"), "3.9.7") == "==3.9.7"
    assert python_range(resolved(mindspore="2.7.0"), "3.11") == "==3.11.4"    # MindFormers 1.6.0 says 3.11.4
    assert python_range(resolved(cann="8.0.RC1"), "3.8") == "3.8.*"           # another minor than the stack's
    assert spec_allows(">=3.9.0,<=3.9.7", "3.9.2") and not spec_allows(">=3.9.0,<=3.9.7", "3.9.8")
    assert spec_allows("3.9.*", "3.9.2") and not spec_allows("==3.11.4", "3.11.2")
    assert spec_allows("==3.9.1|==3.9.2", "3.9.2")


# --- what the role runs ---------------------------------------------------------------------------------------------
def test_rattler_plan_solves_from_the_store_channel():
    p = conda_plan({"stack": stack(), "python": "3.9", "offline": True})
    assert p["installer"] == "rattler" and p["install_argv"] == []
    assert p["channels"] == ["file:///opt/ascend-store/conda/channel"]
    assert p["create_argv"] == [
        "/opt/ascend-env/conda-tools/bin/python", "/opt/ascend-env/conda-tools/ascend_conda_rattler.py", "create",
        "--prefix", "/opt/conda/envs/ascend-cann8.2-py3.9", "--pkgs-dir", "/opt/conda/pkgs",
        "--channel", "file:///opt/ascend-store/conda/channel", "--spec", "python 3.9.*", "--spec", "pip",
        "--platform", "linux-64"]
    assert p["local_channels"] == ["/opt/ascend-store/conda/channel"] and p["remote_channels"] == []
    assert p["record_path"] == "/opt/conda/.ascend-env-environment" and p["environment"] == {}


def test_a_site_installer_is_run_in_batch_mode_then_conda_create():
    p = conda_plan({"stack": stack(), "installer": "Miniforge3-25.3.0-3-Linux-x86_64.sh", "offline": True})
    assert p["install_argv"] == ["bash", "/opt/ascend-store/conda/Miniforge3-25.3.0-3-Linux-x86_64.sh", "-b", "-p",
                                 "/opt/conda"]
    assert p["conda_bin"] == "/opt/conda/bin/conda"
    assert p["create_argv"] == ["/opt/conda/bin/conda", "create", "--yes", "--quiet", "--prefix",
                                "/opt/conda/envs/ascend-cann8.2-py3.9", "--override-channels",
                                "--channel", "file:///opt/ascend-store/conda/channel", "--offline", "python=3.9.*",
                                "pip"]
    online = conda_plan({"stack": stack(constraints=[">=3.9.0,<=3.9.7"], pinned=False, python="3.9.7"),
                         "python": "3.9", "installer": "Miniconda3-py39_24.1.2-0-Linux-aarch64.sh",
                         "arch": "aarch64", "channels": ["https://mirror.example/conda-forge/"],
                         "proxy": "http://proxy:3128", "ca_file": "/usr/local/share/ca-certificates/site.crt"})
    assert "--offline" not in online["create_argv"] and online["subdir"] == "linux-aarch64"
    assert online["create_argv"][-4:] == ["--channel", "https://mirror.example/conda-forge", "python>=3.9.0,<=3.9.7",
                                          "pip"]
    assert online["remote_channels"] == ["https://mirror.example/conda-forge"]
    assert online["environment"] == {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128",
                                     "SSL_CERT_FILE": "/usr/local/share/ca-certificates/site.crt",
                                     "REQUESTS_CA_BUNDLE": "/usr/local/share/ca-certificates/site.crt"}


def test_condarc_carries_channels_ca_bundle_and_proxy_like_pip_conf():
    offline = yaml.safe_load(conda_plan({"stack": stack(), "offline": True})["condarc"])
    assert offline == {"channels": ["file:///opt/ascend-store/conda/channel"],
                       "default_channels": ["file:///opt/ascend-store/conda/channel"],
                       "envs_dirs": ["/opt/conda/envs"], "pkgs_dirs": ["/opt/conda/pkgs"], "offline": True,
                       "auto_update_conda": False, "notify_outdated_conda": False}
    site = yaml.safe_load(conda_plan({"stack": stack(), "channels": ["https://m.example/c"], "proxy": "http://p:3128",
                                      "ca_file": "/etc/ca.crt"})["condarc"])
    assert site["channels"] == ["https://m.example/c"] and "offline" not in site
    assert site["ssl_verify"] == "/etc/ca.crt" and site["proxy_servers"] == {"http": "http://p:3128",
                                                                              "https": "http://p:3128"}


@pytest.mark.parametrize(("settings", "field", "words"), [
    ({"installer": "miniforge"}, "ascend_conda_installer", "neither rattler nor the file name"),
    ({"installer": "Miniforge3-Linux-aarch64.sh"}, "ascend_conda_installer", "built for aarch64, the host is x86_64"),
    ({"channels": ["conda-forge"]}, "ascend_conda_channels", "not a channel URL"),
    ({"channels": ["https://m.example/c"], "offline": True}, "ascend_conda_channels", "set ascend_offline: false"),
    ({"channels": "https://m.example/c", "arch": "ppc64le"}, "ascend_arch", "x86_64 or aarch64"),
])
def test_bad_conda_settings_are_refused(settings, field, words):
    with pytest.raises(CondaSettingError) as e:
        conda_plan({"stack": stack(), **settings})
    assert e.value.field == field and words in str(e.value), str(e.value)


# --- the preflight ----------------------------------------------------------------------------------------------------
def _store(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    entries = [{"path": rel, "size": len(d), "mtime": 0, "sha256": hashlib.sha256(d).hexdigest()}
               for rel, d in files.items()]
    (root / "manifest.json").write_text(json.dumps({"files": entries}))
    return root


def _repodata(*versions: str) -> bytes:
    return json.dumps({"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": {
        f"python-{v}-h0_0_cpython.conda": {"name": "python", "version": v, "build": "h0_0_cpython"} for v in versions
    }}).encode()


MS_WHEEL = "wheels/mindspore-2.7.0-cp39-cp39-manylinux1_x86_64.whl"
RATTLER_WHEEL = "wheels/py_rattler-0.28.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def conda_host(**kw: Any) -> dict[str, Any]:
    c = {"name": "llm-conda", "framework": "mindspore", "python_provider": "conda",
         "pins": {"python": "3.9", "mindspore": "2.7.0", "mindformers": "none"}}
    c.update(kw.pop("container", {}))
    hv = {"ascend_chip": "910b", "ascend_arch": "x86_64",
          "ascend_host_pins": {"driver": "25.0.rc1.1", "firmware": "7.7.0.1.231"}, "ascend_containers": [c]}
    hv.update(kw)
    return hv


def full_store(root: Path, **extra: bytes) -> Path:
    files = {MS_WHEEL: b"ms", RATTLER_WHEEL: b"rattler", "conda/channel/noarch/repodata.json": b"{}",
             "conda/channel/linux-64/repodata.json": _repodata("3.9.2", "3.11.2"),
             "conda/channel/linux-64/python-3.9.2-h0_0_cpython.conda": b"py39"}
    files.update(extra)
    return _store(root, files)


def preflight(hv: dict[str, Any], store: Path | None, matrix: Any) -> list[str]:
    if store is not None:
        hv = {**hv, "ascend_offline_store": str(store)}
    return [str(p) for p in check_host("npu-a", hv, matrix, read_manifest(store) if store else None, store)
            if "runs/" not in str(p)]   # the CANN installers are another check's


def test_a_sound_conda_container_passes_the_preflight(tmp_path, matrix):
    assert preflight(conda_host(ascend_offline=False), full_store(tmp_path), matrix) == []


def test_the_preflight_names_an_unknown_provider(tmp_path, matrix):
    got = preflight(conda_host(container={"python_provider": "conda-forge"}, ascend_python_provider="pixi",
                               ascend_offline=False), full_store(tmp_path), matrix)
    assert ("npu-a: ascend_python_provider 'pixi': is not a Python environment provider this version has. Fix: use "
            "venv") in got[0]
    assert got[1].startswith("npu-a / container llm-conda: python_provider 'conda-forge': is not a Python "
                             "environment provider this version has. Fix: did you mean 'conda'?")


def test_the_preflight_names_a_python_the_channel_lacks(tmp_path, matrix):
    got = preflight(conda_host(container={"pins": {"python": "3.10", "mindspore": "2.7.0", "mindformers": "none"}},
                               ascend_offline=False), full_store(tmp_path), matrix)
    want = "has no python 3.10.* for linux-64 (it has 3.9.2, 3.11.2). Fix: add that Python to the channel, or pin " \
           "one it has (3.11, 3.9)"
    assert any("pins.python '3.10': the store's conda channel" in g and want in g for g in got), got


def test_the_preflight_needs_the_channel_and_rattler_in_an_offline_store(tmp_path, matrix):
    store = _store(tmp_path, {MS_WHEEL: b"ms"})
    got = preflight(conda_host(ascend_offline=True), store, matrix)
    assert any("ascend_conda_installer 'rattler': the rattler installer needs the py-rattler wheel for x86_64" in g
               for g in got), got
    assert any("ascend_conda_channels []: the store's conda channel" in g and "manifest.json lists no "
               "conda/channel/noarch/repodata.json" in g and "lab store --conda" in g for g in got), got


def test_the_preflight_checks_a_site_installer_and_the_channel_by_sha256(tmp_path, matrix):
    store = full_store(tmp_path)
    got = preflight(conda_host(ascend_conda_installer="Miniforge3-25.3.0-3-Linux-x86_64.sh", ascend_offline=True),
                    store, matrix)
    assert any("ascend_conda_installer 'Miniforge3-25.3.0-3-Linux-x86_64.sh': manifest.json of" in g
               and "lists no conda/Miniforge3-25.3.0-3-Linux-x86_64.sh" in g for g in got), got
    (store / "conda/channel/linux-64/python-3.9.2-h0_0_cpython.conda").write_bytes(b"tampered")
    got = preflight(conda_host(ascend_offline=False), store, matrix)
    assert any("python-3.9.2-h0_0_cpython.conda" in g and "checksum mismatch" in g for g in got), got


def test_the_preflight_refuses_a_network_channel_offline_and_needs_a_channel(tmp_path, matrix):
    got = preflight(conda_host(ascend_offline=True, ascend_conda_channels=["https://m.example/conda-forge"]),
                    full_store(tmp_path), matrix)
    assert any("ascend_conda_channels 'https://m.example/conda-forge': is a network channel, but the environment is "
               "offline" in g for g in got), got
    got = preflight(conda_host(ascend_offline=False), None, matrix)
    assert got == ["npu-a / container llm-conda: ascend_conda_channels []: the conda environment comes from the "
                   "store's channel by default, but no artefact store is set. Fix: set ascend_offline_store (with "
                   "conda/channel in it), or set ascend_conda_channels to your site's conda mirror"]


def test_the_conda_variables_are_known_to_the_misspelling_check(matrix):
    from ascend_env.preflight import known_variables

    known = known_variables(ROOT / "roles")
    assert {"ascend_conda_channels", "ascend_conda_installer", "ascend_conda_prefix", "ascend_python_env_name",
            "ascend_python_provider"} <= known
    got = [str(p) for p in check_host("npu-a", conda_host(ascend_conda_channel=["x"]), matrix, None, None, known)]
    assert any("ascend_conda_channel ['x']: unknown variable" in g and "'ascend_conda_channels'" in g for g in got)


# --- the environment block -------------------------------------------------------------------------------------------
def test_the_block_activates_a_conda_environment_without_a_conda_command(tmp_path):
    """An environment made by rattler has no conda.sh: the block sets what `conda activate` sets, once."""
    prefix = tmp_path / "conda"
    env = prefix / "envs" / "ascend-cann8.2-py3.9"
    (env / "conda-meta").mkdir(parents=True)
    (env / "bin").mkdir()
    (env / "etc/conda/activate.d").mkdir(parents=True)
    (env / "etc/conda/activate.d/hook.sh").write_text('HOOKED=$((${HOOKED:-0}+1))\n')
    block = tmp_path / "block.sh"
    block.write_text(render_env_block(EnvSpec(driver_root=None, conda_prefix=str(prefix),
                                              conda_env="ascend-cann8.2-py3.9")))
    script = f'. {shlex.quote(str(block))}; . {shlex.quote(str(block))}; ' \
             'printf "%s\\n" "$PATH" "$CONDA_PREFIX" "$CONDA_DEFAULT_ENV" "$HOOKED" "${ascend_env_hook:-unset}"'
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    path, cp, name, hooked, leftover = r.stdout.splitlines()
    assert path.split(":") == [str(env / "bin"), "/usr/bin", "/bin"]
    assert (cp, name, hooked, leftover) == (str(env), "ascend-cann8.2-py3.9", "2", "unset")
    r = subprocess.run(["sh", "-n", str(block)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(env / "conda-meta")   # not a conda environment (yet): the block leaves PATH alone
    r = subprocess.run(["sh", "-c", f'. {shlex.quote(str(block))}; echo "$PATH"'], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.stdout.strip() == "/usr/bin:/bin"


# --- the probe and the doctor -------------------------------------------------------------------------------------
def _python(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)


def test_the_probe_finds_the_conda_environment(tmp_path):
    env = tmp_path / "opt/conda/envs/ascend-cann8.2-py3.9"
    _python(env / "bin/python")
    (env / "conda-meta").mkdir()
    (env / "conda-meta/history").write_text("")
    (env / "conda-meta/python-3.9.2-h0_0_cpython.json").write_text("{}")
    assert probe.find_environment(str(tmp_path), {})["kind"] == "conda"          # the only environment
    _python(tmp_path / "opt/conda/envs/other/bin/python")
    (tmp_path / "opt/conda/envs/other/conda-meta").mkdir()
    (tmp_path / "opt/conda/envs/other/conda-meta/history").write_text("")
    assert probe.find_environment(str(tmp_path), {})["kind"] == "system"         # two: which one is unknown
    (tmp_path / "opt/conda/.ascend-env-environment").write_text("ascend-cann8.2-py3.9\n")
    found = probe.find_environment(str(tmp_path), {})                            # the one ascend-env made
    assert found == {"python": str(env / "bin/python"), "kind": "conda", "name": "ascend-cann8.2-py3.9",
                     "prefix": str(env), "source": ".ascend-env-environment", "history": True,
                     "python_record": "python-3.9.2-h0_0_cpython.json"}
    active = probe.find_environment(str(tmp_path), {"CONDA_PREFIX": str(tmp_path / "opt/conda/envs/other"),
                                                    "CONDA_DEFAULT_ENV": "other"})
    assert (active["name"], active["source"]) == ("other", "CONDA_PREFIX")
    venv = tmp_path / "venv"
    _python(venv / "bin/python")
    assert probe.find_environment(str(tmp_path), {"VIRTUAL_ENV": str(venv)})["kind"] == "venv"


def test_the_doctor_names_the_conda_environment(matrix):
    from test_doctor_checks import facts

    where = {"kind": "conda", "name": "ascend-cann8.0-py3.9", "prefix": "/opt/conda/envs/ascend-cann8.0-py3.9",
             "history": True}
    ctx = Context(matrix=matrix, chip="910b")
    ok = {c.id: c for c in run_checks(facts(python={"python": "3.9.2", "packages": {}, "imports": {},
                                                     "environment": where}), ctx)}["python.version"]
    assert ok.status == "ok"
    assert ok.summary == ("Python 3.9.2 (conda env ascend-cann8.0-py3.9, /opt/conda/envs/ascend-cann8.0-py3.9) is "
                          "supported by CANN 8.0.RC3")
    bad = {c.id: c for c in run_checks(facts(python={"python": "3.6.15", "packages": {}, "imports": {},
                                                      "environment": where}), ctx)}["python.version"]
    assert bad.status == "fail" and "(conda env ascend-cann8.0-py3.9," in bad.summary
    assert "outside CANN 8.0.RC3's range" in bad.summary and "pins.python" in bad.fix


# --- the rattler installer, for real, on a small channel -------------------------------------------------------------
def _wheel(tmp: Path) -> Path:
    """A pure wheel of one module (no dependencies) with a console script."""
    whl = tmp / "ascend_env_conda_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("ascend_env_conda_probe.py", "def main():\n    print('hello from conda')\n")
        z.writestr("ascend_env_conda_probe-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: ascend-env-conda-probe\nVersion: 1.0\n")
        z.writestr("ascend_env_conda_probe-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr("ascend_env_conda_probe-1.0.dist-info/entry_points.txt",
                   "[console_scripts]\nconda-probe = ascend_env_conda_probe:main\n")
        z.writestr("ascend_env_conda_probe-1.0.dist-info/RECORD", "")
    return whl


@pytest.fixture(scope="module")
def channel(tmp_path_factory):
    """A channel with a noarch: python package (from a wheel, as the lab makes pip's) and a noarch: generic one whose
    script names the install prefix through conda's placeholder (what conda and rattler rewrite at install)."""
    pytest.importorskip("rattler")
    pytest.importorskip("conda_package_handling")
    from ascend_env.lab import conda_channel as cc

    tmp = tmp_path_factory.mktemp("channel")
    ch = tmp / "channel"
    (ch / "noarch").mkdir(parents=True)
    (ch / "linux-64").mkdir()
    wheel_pkg = cc.wheel_to_noarch(_wheel(tmp), ch, tmp)
    pkg = tmp / "generic"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "bin/ascend-probe").write_text(f"#!/bin/sh\necho {cc.PLACEHOLDER}\n")
    (pkg / "bin/ascend-probe").chmod(0o755)
    entries, has_prefix = cc._paths(pkg, cc.PLACEHOLDER)
    cc._write_info(pkg, {"name": "ascend-env-probe", "version": "1.0", "build": "0", "build_number": 0,
                         "depends": [], "noarch": "generic", "subdir": "noarch"}, entries, has_prefix, {})
    cc._pack(pkg, ch / "noarch/ascend-env-probe-1.0-0.conda")
    cc.index(ch)
    return {"dir": ch, "wheel_pkg": wheel_pkg, "has_prefix": has_prefix}


def _create(tmp: Path, channel: str, *specs: str, home: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), "create", "--prefix", str(tmp / "conda/envs/probe"), "--pkgs-dir",
            str(tmp / "conda/pkgs"), "--channel", channel]
    for s in specs:
        argv += ["--spec", s]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(home)})


def test_packages_carry_conda_metadata(channel):
    repodata = json.loads((channel["dir"] / "noarch/repodata.json").read_text())
    records = {r["name"]: r for r in repodata["packages.conda"].values()}
    assert (records["ascend-env-conda-probe"]["build"], records["ascend-env-conda-probe"]["noarch"]) == \
        ("pyh_0", "python")
    assert records["ascend-env-conda-probe"]["depends"] == ["python"]
    with zipfile.ZipFile(channel["wheel_pkg"]) as z:
        assert "metadata.json" in z.namelist() and any(n.startswith("info-") for n in z.namelist())
    assert channel["has_prefix"] == [f"{__import__('ascend_env.lab.conda_channel').lab.conda_channel.PLACEHOLDER} "
                                     "text bin/ascend-probe"]


def test_the_script_creates_a_conda_prefix_as_conda_does(channel, tmp_path):
    home = tmp_path / "home"
    url = f"file://{channel['dir']}"
    r = _create(tmp_path, url, "ascend-env-probe 1.0.*", home=home)
    assert r.returncode == 0, r.stderr
    env = tmp_path / "conda/envs/probe"
    out = json.loads(r.stdout)
    assert out == {"prefix": str(env), "python": None, "packages": ["ascend-env-probe-1.0-0"]}
    # the placeholder is rewritten to the prefix, as conda does
    run = subprocess.run([str(env / "bin/ascend-probe")], capture_output=True, text=True)
    assert run.stdout.strip() == str(env)
    record = json.loads((env / "conda-meta/ascend-env-probe-1.0-0.json").read_text())
    assert record["name"] == "ascend-env-probe" and record["files"] == ["bin/ascend-probe"]
    assert record["requested_spec"] if "requested_spec" in record else record["requested_specs"]
    history = (env / "conda-meta/history").read_text().splitlines()
    assert history[0].startswith("==> ") and history[0].endswith(" <==")
    assert history[1].startswith("# cmd: ascend_conda_rattler.py create --prefix ")
    assert history[2].startswith("# rattler version: py-rattler ")
    assert history[3] == f"+{url}/noarch::ascend-env-probe-1.0-0"
    assert history[4] == "# update specs: ['ascend-env-probe 1.0.*']"
    assert (home / ".conda/environments.txt").read_text() == f"{env}\n"
    again = _create(tmp_path, url, "ascend-env-probe", home=home)
    assert again.returncode == 2 and "exists; remove it first" in again.stderr
    assert "never changes one in place" in again.stderr


def test_the_script_names_what_cannot_be_solved_and_creates_nothing(channel, tmp_path):
    url = f"file://{channel['dir']}"
    r = _create(tmp_path, url, "python 3.10.*", "pip", home=tmp_path / "home")
    assert r.returncode == 2
    assert f"cannot make probe from channel(s) {url}: the specs python 3.10.*, pip could not be solved" in r.stderr
    assert not (tmp_path / "conda/envs/probe").exists()


def test_the_script_names_an_unreachable_channel_and_creates_nothing(tmp_path):
    pytest.importorskip("rattler")
    r = _create(tmp_path, "http://127.0.0.1:9/conda-forge", "python 3.9.*", "pip", home=tmp_path / "home")
    assert r.returncode == 2
    assert "cannot make probe from channel(s) http://127.0.0.1:9/conda-forge" in r.stderr, r.stderr
    assert not (tmp_path / "conda/envs/probe").exists()


def test_a_lab_host_with_conda_gets_the_conda_container_and_its_wheels_per_python():
    from ascend_env.lab import store
    from ascend_env.lab.config import LabConfigError, build_config
    from ascend_env.lab.inventory import lab_container

    cfg = build_config({"hosts": [{"name": "c1", "conda": True}, {"name": "c2"}]}, prefix=Path("/tmp/lab-x"))
    assert lab_container(cfg.hosts[0], 0)["python_provider"] == "conda"
    assert "python_provider" not in lab_container(cfg.hosts[1], 1)
    assert store.stack_wheel_sets(cfg) == {"3.11": ["mindformers==1.6.0", "mindspore==2.7.0"],
                                           "3.9": ["mindspore==2.7.0"]}
    with pytest.raises(LabConfigError, match="conda: true needs containers: true"):
        build_config({"hosts": [{"name": "c1", "conda": True, "containers": False}]}, prefix=Path("/tmp/lab-x"))
    with pytest.raises(LabConfigError, match="use true"):
        build_config({"hosts": [{"name": "c1", "conda": "yes"}]}, prefix=Path("/tmp/lab-x"))


def test_the_conda_module_exports():
    assert set(conda.__all__) <= set(dir(conda))


# --- the lab's channel: undoing Debian's /usr-only layout ---------------------------------------------------------
SITE_39 = '''def getsitepackages(prefixes=None):
    for prefix in prefixes:
        if os.sep == '/':
            if 'VIRTUAL_ENV' in os.environ or sys.base_prefix != sys.prefix:
                sitepackages.append(os.path.join(prefix, "lib",
                                                 "python" + sys.version[:3],
                                                 "site-packages"))
            sitepackages.append(os.path.join(prefix, "local/lib",
                                             "python" + sys.version[:3],
                                             "dist-packages"))
'''
SITE_311 = SITE_39.replace("if 'VIRTUAL_ENV' in os.environ or sys.base_prefix != sys.prefix:",
                           "if is_virtual_environment:").replace('"python" + sys.version[:3],',
                                                                 '"python%d.%d" % sys.version_info[:2],')
INSTALL = '''            else:
                if os.path.normpath(self.prefix) == '/usr/local':
                    self.prefix = self.exec_prefix = '/usr'
                self.select_scheme("unix_local")
'''
SYSCONFIG_311 = '''    else:
        deb_build = os.environ.get('DEB_PYTHON_INSTALL_LAYOUT', 'posix_local')
        if deb_build in ('deb', 'deb_system'):
            prefix_scheme = 'deb_system'
        else:
            prefix_scheme = 'posix_local'
'''


@pytest.mark.parametrize("site", [SITE_39, SITE_311])
def test_the_channel_python_puts_site_packages_on_the_path_in_every_prefix(tmp_path, site):
    from ascend_env.lab.conda_channel import _undo_debian_layout

    (tmp_path / "distutils/command").mkdir(parents=True)
    (tmp_path / "site.py").write_text(site)
    (tmp_path / "distutils/command/install.py").write_text(INSTALL)
    sysconfig = SYSCONFIG_311 if "is_virtual" in site else "def _get_default_scheme(): pass\n"
    (tmp_path / "sysconfig.py").write_text(sysconfig)
    notes = _undo_debian_layout(tmp_path)
    patched = (tmp_path / "site.py").read_text()
    assert "if True:  # ascend-env (conda layout)" in patched and "VIRTUAL_ENV" not in patched
    assert "is_virtual_environment" not in patched and '"site-packages"))' in patched
    assert ('self.select_scheme("unix_local" if os.path.normpath(sys.prefix) == \'/usr\' else "unix_prefix")'
            in (tmp_path / "distutils/command/install.py").read_text())
    assert len(notes) == (4 if "is_virtual" in site else 3)
    # the frozen site of 3.11+ does not read site.py: sitecustomize.py in the stdlib folder adds the folder too
    custom = (tmp_path / "sitecustomize.py").read_text()
    assert "_site.addsitedir(_sp)" in custom and "'site-packages'" in custom
    compile(custom, "sitecustomize.py", "exec")
    if "is_virtual" in site:
        assert "prefix_scheme = 'posix_prefix'  # ascend-env" in (tmp_path / "sysconfig.py").read_text()
    compile((tmp_path / "site.py").read_text(), "site.py", "exec")   # still Python


def test_the_channel_build_stops_when_debian_changed_what_it_patches(tmp_path):
    from ascend_env.lab.conda_channel import _undo_debian_layout, build_channel
    from ascend_env.lab.procs import LabError

    (tmp_path / "site.py").write_text("def getsitepackages(prefixes=None):\n    return []\n")
    with pytest.raises(LabError, match=r"site\.py: Debian's venv-only site-packages branch was not found"):
        _undo_debian_layout(tmp_path)
    with pytest.raises(LabError, match=r"no recipe for Python 3\.10"):
        build_channel(tmp_path, "x86_64", "http://deb.debian.org/debian", ["3.10"], [])
