"""Every exception class ascend_env defines derives from ascend_env.errors.AscendEnvError (GUIDE: "Project
exceptions derive from AscendEnvError"): the command line prints those as one ``error: ...`` line with their exit
code and treats anything else as a bug, so an error class outside the hierarchy turns bad input into a traceback."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

from ascend_env.errors import AscendEnvError

PACKAGE = Path(__file__).resolve().parents[2] / "ascend_env"

#: exception classes that do not derive from AscendEnvError, each with the reason
JUSTIFIED = {
    # a standalone script: the lab's fake libdrvdsmi runs it with the system python3 inside containers, where
    # ascend_env is not importable (standard library only); the class only carries npu-smi's message and exit code
    # from where it is raised to the script's own main(), which prints it the way npu-smi does
    "ascend_env.lab.npu_smi.lab_npu_smi_impl.LabError": "standalone script, internal control flow",
}


def _module_names() -> list[str]:
    """Every module of the package by file, namespace directories included; ``__main__`` modules run the program
    when imported, and define no classes."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def _import_all() -> tuple[list[ModuleType], dict[str, str]]:
    """The modules that import here, and {module: the missing optional dependency} for those that do not."""
    modules, unavailable = [], {}
    for name in _module_names():
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if not exc.name or exc.name.split(".")[0] == "ascend_env":
                raise
            unavailable[name] = exc.name
    return modules, unavailable


def _exception_classes(holder: object, module: str) -> dict[str, type[BaseException]]:
    """Exception classes defined in ``module``: at its top level and inside its classes."""
    found: dict[str, type[BaseException]] = {}
    for value in vars(holder).values():
        if inspect.isclass(value) and value.__module__ == module:
            if issubclass(value, BaseException):
                found[f"{module}.{value.__qualname__}"] = value
            if value is not holder:
                found.update(_exception_classes(value, module))
    return found


def _source_strays(path: Path, project: set[str]) -> list[str]:
    """For a module that cannot be imported here, from its source: classes whose bases name an ``...Error`` or
    ``...Exception`` class (built-in or not) and none of the ``project`` error class names."""
    strays = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
            if any(b.endswith(("Error", "Exception")) for b in bases) and not bases & project:
                strays.append(node.name)
    return strays


def _module_path(module: str) -> Path:
    path = PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")
    return path if path.is_file() else path.with_suffix("") / "__init__.py"


def _project_errors() -> dict[str, type[BaseException]]:
    modules, _ = _import_all()
    found: dict[str, type[BaseException]] = {}
    for m in modules:
        found.update(_exception_classes(m, m.__name__))
    return found


def test_the_walk_finds_the_package_and_its_errors():
    modules, _ = _import_all()
    assert len(modules) > 50  # the package's modules, not a wrong path
    found = _project_errors()
    assert "ascend_env.versions.VersionError" in found
    assert "ascend_env.smoke.errors.TokenizerError" in found  # a subclass of a subclass
    assert "ascend_env.lab.npu_smi.lab_npu_smi_impl.LabError" in found  # a directory without __init__.py


def test_every_exception_class_derives_from_ascend_env_error():
    found = _project_errors()
    strays = sorted(name for name, cls in found.items()
                    if not issubclass(cls, AscendEnvError) and name not in JUSTIFIED)
    # a module that needs an optional dependency this environment lacks (none in the project's .venv) is read instead
    _, unavailable = _import_all()
    project = {"AscendEnvError"} | {name.rsplit(".", 1)[1] for name, cls in found.items()
                                    if issubclass(cls, AscendEnvError)}
    for module in unavailable:
        strays += [f"{module}.{c}" for c in _source_strays(_module_path(module), project)
                   if f"{module}.{c}" not in JUSTIFIED]
    assert not strays, (f"exception classes outside ascend_env.errors.AscendEnvError: {strays}; derive them from it "
                        f"(class FooError(AscendEnvError, ValueError)) or add each to JUSTIFIED with the reason")


def test_the_justified_exceptions_still_exist_and_are_still_outside():
    found = _project_errors()
    for name in JUSTIFIED:
        assert name in found, f"{name} is gone: delete it from JUSTIFIED"
        assert not issubclass(found[name], AscendEnvError), f"{name} derives from AscendEnvError now: delete it"


def test_the_source_check_for_unimportable_modules(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import json\n"
                   "class Good(AscendEnvError, ValueError): pass\n"
                   "class AlsoGood(errors.SmokeError): pass\n"
                   "class Bad(ValueError): pass\n"
                   "class AlsoBad(json.JSONDecodeError): pass\n"
                   "class Plain: pass\n")
    assert _source_strays(src, {"AscendEnvError", "SmokeError"}) == ["Bad", "AlsoBad"]
