"""One release, two artefacts: the wheel's and the collection's version, the Ansible range pyproject restates from
meta/runtime.yml, the libraries the package declares, FQCN names for every role and filter the playbooks use, one
probe file, and the check that names a controller whose wheel and collection disagree."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import collection_plugin

import ascend_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_and_the_collection_have_one_version():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert galaxy["version"] == ascend_env.__version__
    assert (galaxy["namespace"], galaxy["name"]) == ("ascend", "env")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "ascend_env/__init__.py"
    changelog = yaml.safe_load((ROOT / "changelogs/changelog.yaml").read_text())
    assert ascend_env.__version__ in changelog["releases"]


def test_pyproject_states_the_ansible_range_of_meta_runtime():
    # meta/runtime.yml is the one source (the preflight reads it at run time: test_playbook_preflight.py); a
    # pyproject cannot read a file, so its `ansible` extra states the range again and this keeps the two equal
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"]
    low, high = re.fullmatch(r">=([\d.]+),<([\d.]+)", runtime).groups()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ansible"]
    core = next(d for d in extra if d.startswith("ansible-core"))
    assert core == f"ansible-core>={low.rsplit('.0', 1)[0]},<{high.rsplit('.0', 1)[0]}"


def _ansible_text() -> str:
    files = [*ROOT.glob("playbooks/*.yml"), *ROOT.glob("roles/*/tasks/*.yml"), ROOT / "site.yml"]
    return "\n".join(p.read_text() for p in files)


#: distribution -> the module it is imported as, where the two differ
IMPORT_NAMES = {"PyYAML": "yaml", "Jinja2": "jinja2", "py-rattler": "rattler"}


def _imported_modules() -> set[str]:
    """The top-level modules ascend_env and the collection's plugins import (anywhere in a file)."""
    names: set[str] = set()
    for path in [*(ROOT / "ascend_env").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_every_library_the_package_declares_is_imported():
    # the libraries the package itself uses: its dependencies, and the extras for doctor --ssh and the lab's conda
    # channel (the ansible and test extras are tools: ansible-core, pytest, ruff, mypy ... are run, not imported)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = [*project["dependencies"], *extras["remote"], *extras["lab-conda"]]
    imported = _imported_modules()
    unused = []
    for requirement in declared:
        dist = re.match(r"[A-Za-z0-9._-]+", requirement)[0]
        module = IMPORT_NAMES.get(dist, dist.lower().replace("-", "_"))
        if module not in imported:
            unused.append(f"{dist} (module {module})")
    assert not unused, f"declared in pyproject.toml but imported nowhere: {unused}; drop them"


def test_playbooks_and_roles_name_roles_and_filters_by_fqcn():
    text = _ansible_text()
    assert not re.findall(r"role: (?!ascend\.env\.)\S+", text)
    assert not re.findall(r"name: ascend_(?:driver|python|cann|ssh)\s*$", text, re.M)
    used = set(re.findall(r"\|\s*ascend\.env\.(ascend_env_\w+)", text))
    short = set(re.findall(r"\|\s*(ascend_env_\w+)", text))
    assert short == set(), f"filters used without FQCN: {short}"
    defined = set(collection_plugin("filter.ascend_env").FilterModule().filters())
    defined |= set(collection_plugin("filter.ascend_env_render").FilterModule().filters())
    defined |= set(collection_plugin("filter.ascend_env_changes").FilterModule().filters())
    defined |= set(collection_plugin("filter.ascend_env_upgrade").FilterModule().filters())
    assert used and used <= defined
    assert (ROOT / "site.yml").read_text().count("import_playbook: ascend.env.site") == 1


def test_there_is_one_probe_file():
    canonical = ROOT / "plugins/module_utils/ascend_probe.py"
    assert canonical.is_file() and not canonical.is_symlink()
    link = ROOT / "ascend_env/probe/host.py"
    assert link.is_symlink() and link.resolve() == canonical
    # the roles read hosts through the module ascend.env.ascend_state, which imports the same file as module_utils
    module = (ROOT / "plugins/modules/ascend_state.py").read_text()
    imported = re.search(r"from ansible_collections\.ascend\.env\.plugins\.module_utils\.ascend_probe "
                         r"import \(?([^)]*)", module)
    assert imported and {"collect", "probe_cann", "probe_python"} <= set(re.findall(r"\w+", imported.group(1)))
    assert not list(ROOT.glob("roles/*/files/ascend_probe.py"))


@pytest.fixture()
def package_module(monkeypatch, tmp_path):
    mod = collection_plugin("plugin_utils.package")
    monkeypatch.setattr(mod, "COLLECTION_ROOT", tmp_path)
    return mod


def test_package_check_names_both_versions_and_the_fix(package_module, tmp_path):
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "0.9.0"}}))
    problem = package_module.package_problem()
    assert problem.startswith("the collection ascend.env is version 0.9.0 but the ascend_env Python package on the "
                              f"controller is version {ascend_env.__version__}")
    assert "pip install 'ascend-env==0.9.0'" in problem
    assert f"ansible-galaxy collection install ascend-env-{ascend_env.__version__}.tar.gz --force" in problem


def test_package_check_passes_on_one_version_and_reads_a_checkout(package_module, tmp_path):
    (tmp_path / "galaxy.yml").write_text(f"namespace: ascend\nversion: '{ascend_env.__version__}'\n")
    assert package_module.collection_version() == ascend_env.__version__
    assert package_module.package_problem() is None
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": ascend_env.__version__}}))
    assert package_module.package_problem() is None


def test_package_check_without_the_package(package_module, tmp_path, monkeypatch):
    import builtins

    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": "1.2.3"}}))
    real = builtins.__import__

    def no_ascend_env(name, *args, **kwargs):
        if name == "ascend_env":
            raise ImportError("No module named 'ascend_env'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ascend_env)
    problem = package_module.package_problem()
    assert problem.startswith("the ascend_env Python package is not importable on the controller")
    assert "pip install 'ascend-env==1.2.3'" in problem and "ascend_env-1.2.3-py3-none-any.whl" in problem
