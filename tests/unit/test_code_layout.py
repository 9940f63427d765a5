"""The package's shape (issue 21, item 4): one module per command in ``ascend_env/cli/``, and no domain module, plugin
or script importing command-line code (what they share lives in the domain module it belongs to)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ascend_env import cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ascend_env"
CLI = PACKAGE / "cli"
#: the entry points: ``python -m ascend_env`` and ``python -m ascend_env.smoke`` start the command line
ENTRY_POINTS = {PACKAGE / "__main__.py", PACKAGE / "smoke" / "__main__.py"}


def _imported(path: Path) -> list[str]:
    """The absolute names of the modules ``path`` imports (relative imports resolved against its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names]
    return names


def _is_cli(module: str) -> bool:
    """``ascend_env.cli`` and its modules, or one of the command modules the package root had before
    (``ascend_env.matrix_cli``, ...)."""
    parts = module.split(".")
    return parts[:2] == ["ascend_env", "cli"] or (parts[:1] == ["ascend_env"] and len(parts) > 1
                                                  and parts[1] in {f"{c}_cli" for c in cli.COMMANDS})


def _python_files() -> list[Path]:
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").rglob("*.py"), *(ROOT / "scripts").rglob("*.py"),
             *(ROOT / "bench").rglob("*.py")]
    return sorted(f for f in files if "__pycache__" not in f.parts)


def test_no_domain_module_plugin_or_script_imports_cli_code():
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in _python_files()
           if CLI not in f.parents and f not in ENTRY_POINTS for name in _imported(f) if _is_cli(name)]
    assert not bad, "move what they share into its domain module:\n" + "\n".join(bad)


def test_command_modules_do_not_import_each_other():
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in sorted(CLI.glob("*.py")) if f.name != "__init__.py"
           for name in _imported(f) if name.startswith("ascend_env.cli")]
    assert not bad, "\n".join(bad)


def test_no_command_module_at_the_package_root():
    assert not sorted(p.name for p in PACKAGE.glob("*_cli.py"))
    assert not (PACKAGE / "cli.py").exists()


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_each_command_is_one_module_of_the_cli_package(name: str):
    assert (CLI / f"{name}.py").is_file()
    module = cli._module(name)
    assert callable(getattr(module, f"add_{name}_parser")) and callable(getattr(module, f"run_{name}"))
    assert sorted(p.stem for p in CLI.glob("*.py") if p.name != "__init__.py") == sorted(cli.COMMANDS)


#: issue 21: "split until none exceeds ~60 lines" -- a function's lines from its first decorator to its last line
MAX_FUNCTION_LINES = 60


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            out.append((f"{prefix}{node.name}", (node.end_lineno or node.lineno) - start + 1))
            out += _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{prefix}{node.name}.")
        else:
            out += _functions(node, prefix)
    return out


def test_no_function_of_the_package_is_longer_than_60_lines():
    long = [f"{f.relative_to(ROOT)}:{name} {n} lines" for f in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in f.parts
            for name, n in _functions(ast.parse(f.read_text(encoding="utf-8"), filename=str(f)))
            if n > MAX_FUNCTION_LINES]
    assert not long, "split these by meaning (helpers whose names read as sentences):\n" + "\n".join(long)
