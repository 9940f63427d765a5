"""The release artefacts as users take them: the wheel in a clean venv (no checkout on any path) and the collection
in an empty collections folder; the bad inputs of installing them (an Ansible older than requires_ansible, a wheel
and a collection of different versions, no wheel at all) stop in the preflight with both values and the fix.

Needs the package index (pip installs Ansible into the fresh venvs); no lab, no root."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from labtools import RELEASE_ANSIBLE_ENV, REPO, recap

import ascend_env

EXAMPLE_INVENTORY = REPO / "inventory/example"
VERSION = ascend_env.__version__
REQUIRES_ANSIBLE = yaml.safe_load((REPO / "meta/runtime.yml").read_text())["requires_ansible"]  # ">=X,<Y"


def run(env: dict[str, str], argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def site_dir(tmp_path: Path) -> Path:
    """A directory holding only an inventory (the documented example fleet: nothing in it is contacted before
    the preflight passes)."""
    d = tmp_path / "site"
    shutil.copytree(EXAMPLE_INVENTORY, d / "inventory")
    return d


def test_the_wheel_alone_runs_the_cli_from_an_empty_folder(release, tmp_path):
    env, venv_bin = release["env"], release["where"] / "installed/venv/bin"
    where = run(env, [str(venv_bin / "python"), "-c", "import ascend_env; print(ascend_env.__file__)"], tmp_path)
    assert where.returncode == 0 and "/installed/venv/lib/" in where.stdout, where.stdout + where.stderr
    assert str(REPO) not in where.stdout
    version = run(env, [str(venv_bin / "ascend-env"), "--version"], tmp_path)
    assert version.stdout.strip() == f"ascend-env {VERSION}"
    resolved = run(env, [str(venv_bin / "ascend-env"), "matrix", "resolve", "--chip", "910b", "--framework", "torch",
                         "--json"], tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    stack = json.loads(resolved.stdout)
    assert stack["ok"] and stack["components"]["torch_npu"]["version"]
    doctor = run(env, [str(venv_bin / "ascend-env"), "doctor", "--json", "--no-imports"], tmp_path)
    doc = json.loads(doctor.stdout)
    assert doctor.returncode == doc["exit_code"] and doc["exit_code"] in (0, 1)   # this machine has no NPU: 1
    ids = {c["id"] for c in doc["checks"]}
    assert {"devices.nodes", "driver.present", "cann.toolkit"} <= ids
    # the templates and the matrix data came inside the wheel
    rendered = run(env, [str(venv_bin / "ascend-env"), "render", "sshd", "--port", "223"], tmp_path)
    assert rendered.returncode == 0 and "Port 223" in rendered.stdout


def test_the_collection_holds_the_ansible_content_only(release):
    with tarfile.open(release["artefacts"]["collection"]) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        runtime = yaml.safe_load(tar.extractfile("meta/runtime.yml"))
    assert manifest["collection_info"]["version"] == VERSION
    assert {"playbooks/site.yml", "meta/runtime.yml", "plugins/module_utils/ascend_probe.py",
            "plugins/plugin_utils/package.py", "roles/ascend_python/meta/argument_specs.yml", "CHANGELOG.md",
            "LICENSE", "changelogs/changelog.yaml"} <= names
    assert not {n for n in names if n.split("/")[0] in ("ascend_env", "bench", "scripts", "collections",
                                                          "inventory", "docs", "templates")}
    # of tests/, only ansible-test's ignore files (the collection's own sanity configuration)
    assert {n for n in names if n.startswith("tests/")} == {"tests/sanity", "tests/sanity/ignore-2.18.txt",
                                                           "tests/sanity/ignore-2.19.txt"}
    # the roles read hosts through the module ascend_state, whose probe is the module_utils file (one source of truth)
    assert links == {} and "plugins/modules/ascend_state.py" in names
    # the checkout's requires_ansible, the one source of the range (the preflight reads it from the collection)
    assert runtime["requires_ansible"] == REQUIRES_ANSIBLE


def test_the_sdist_builds_the_same_wheel_contents(release, tmp_path):
    with tarfile.open(release["artefacts"]["sdist"]) as tar:
        names = tar.getnames()
    assert any(n.endswith("plugins/module_utils/ascend_probe.py") for n in names)
    assert any(n.endswith("ascend_env/data/torch.yaml") for n in names)


def _collection_of_version(version: str, tmp_path: Path, env: dict[str, str]) -> Path:
    """A real collection tarball of another version: the collection's files with galaxy.yml saying ``version``."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("roles", "plugins", "playbooks", "meta", "changelogs"):
        shutil.copytree(REPO / name, src / name, symlinks=True)
    for name in ("README.md", "LICENSE", "CHANGELOG.md"):
        shutil.copy(REPO / name, src / name)
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    galaxy["version"] = version
    (src / "galaxy.yml").write_text(yaml.safe_dump(galaxy))
    cp = run(env, ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(src)], tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return tmp_path / f"ascend-env-{version}.tar.gz"


def test_a_collection_of_another_version_than_the_wheel_stops_the_preflight(release, tmp_path):
    env = dict(release["env"], ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "cols"))
    tarball = _collection_of_version("0.9.0", tmp_path, env)
    assert run(env, ["ansible-galaxy", "collection", "install", "-p", str(tmp_path / "cols"), str(tarball)],
               tmp_path).returncode == 0
    d = site_dir(tmp_path)
    cp = run(env, ["ansible-playbook", "ascend.env.site", "-i", "inventory/hosts.yml"], d)
    assert cp.returncode != 0
    assert (f"the collection ascend.env is version 0.9.0 but the ascend_env Python package on the controller is "
            f"version {VERSION}") in cp.stdout
    assert "pip install 'ascend-env==0.9.0'" in cp.stdout and f"ascend-env-{VERSION}.tar.gz" in cp.stdout
    rows = recap(cp.stdout)
    assert set(rows) == {"localhost"} and rows["localhost"]["failed"] == 1   # no NPU host was touched


def test_no_wheel_on_the_controller_stops_the_preflight(release, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([str(release["where"] / "installed/venv/bin/python"), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    # the same Ansible as the release venv, but not the wheel: a .pth points at the release venv's packages
    # minus ascend_env, so nothing is downloaded twice
    site = next((release["where"] / "installed/venv/lib").glob("python3*/site-packages"))
    only_ansible = tmp_path / "only-ansible"
    only_ansible.mkdir()
    for entry in site.iterdir():
        if not entry.name.startswith(("ascend_env", "ascend-env")):
            (only_ansible / entry.name).symlink_to(entry)
    own_site = next((venv / "lib").glob("python3*/site-packages"))
    (own_site / "release.pth").write_text(f"{only_ansible}\n")
    shutil.copy(release["where"] / "installed/venv/bin/ansible-playbook", venv / "bin/ansible-playbook")
    script = venv / "bin/ansible-playbook"
    script.write_text(script.read_text().replace(str(release["where"] / "installed/venv"), str(venv), 1))
    env = dict(release["env"], PATH=f"{venv / 'bin'}:{release['env']['PATH']}")
    probe = run(env, [str(venv / "bin/python"), "-c", "import ansible, ascend_env"], tmp_path)
    assert "No module named 'ascend_env'" in probe.stderr
    cp = run(env, [str(script), "ascend.env.site", "-i", "inventory/hosts.yml"], site_dir(tmp_path))
    assert cp.returncode != 0
    assert "the ascend_env Python package is not importable on the controller" in cp.stdout
    assert f"pip install 'ascend-env=={VERSION}'" in cp.stdout


@pytest.mark.parametrize("core", ["2.17.14"])
def test_an_ansible_older_than_requires_ansible_stops_before_anything_changes(release, tmp_path, core):
    venv = tmp_path / "venv"
    subprocess.run([str(release["where"] / "installed/venv/bin/python"), "-m", "venv", str(venv)], check=True)
    pip = run(release["env"], [str(venv / "bin/python"), "-m", "pip", "install", "-q",
                               str(release["artefacts"]["wheel"]), f"ansible-core=={core}"], tmp_path, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = dict(release["env"], PATH=f"{venv / 'bin'}:{release['env']['PATH']}", **RELEASE_ANSIBLE_ENV)
    cp = run(env, ["ansible-playbook", "ascend.env.site", "-i", "inventory/hosts.yml"], site_dir(tmp_path))
    assert cp.returncode != 0
    low, high = REQUIRES_ANSIBLE.removeprefix(">=").split(",<")
    assert f"ansible-core must be >= {low} and < {high}; you have {core}" in cp.stdout
    assert "does not support Ansible version" in cp.stderr      # Ansible's own warning from meta/runtime.yml
    rows = recap(cp.stdout)
    assert set(rows) == {"localhost"} and rows["localhost"]["failed"] == 1


def test_the_environment_zip_is_the_same_from_the_wheel_and_from_the_checkout(release, tmp_path):
    """The smoke role copies `python -m ascend_env.pack`'s zip into every environment: a controller running the
    wheel and one running this checkout must build the same bytes, or a re-run would copy it again."""
    venv_python = release["where"] / "installed/venv/bin/python"
    from_wheel = run(release["env"], [str(venv_python), "-m", "ascend_env.pack", str(tmp_path / "a.zip")], tmp_path)
    from ascend_env.pack import write_zip

    _, _, digest = write_zip(tmp_path / "b.zip")
    assert json.loads(from_wheel.stdout)["sha256"] == digest
