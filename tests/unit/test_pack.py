"""The package zip the smoke role ships into environments: reproducible, and importable from the zip alone."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

from ascend_env import pack


def test_the_zip_is_byte_for_byte_reproducible(tmp_path):
    assert pack.build_zip_bytes() == pack.build_zip_bytes()
    path, changed, digest = pack.write_zip(tmp_path / "a.zip")
    assert changed and path.is_file()
    assert pack.write_zip(tmp_path / "a.zip") == (path, False, digest)


def test_the_zip_holds_the_package_without_caches():
    names = zipfile.ZipFile(io.BytesIO(pack.build_zip_bytes())).namelist()
    assert "ascend_env/__main__.py" in names and "ascend_env/probe/host.py" in names
    assert "ascend_env/data/cann_releases.yaml" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_python_imports_the_package_from_the_zip_alone(tmp_path):
    path, _, _ = pack.write_zip(tmp_path / "ascend_env.zip")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import ascend_env, ascend_env.probe.host as h; "
            "print(ascend_env.__file__); print(callable(h.main))")
    # -S: no site-packages, so the editable install of the project cannot be what gets imported
    cp = subprocess.run([sys.executable, "-S", "-c", code, str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    where, ok = cp.stdout.split()
    assert where.startswith(str(path)) and ok == "True"


def test_a_changed_package_gives_a_changed_zip(tmp_path):
    root = tmp_path / "ascend_env"
    root.mkdir()
    (root / "__init__.py").write_text("x = 1\n")
    first = pack.build_zip_bytes(root)
    (root / "__init__.py").write_text("x = 2\n")
    assert pack.build_zip_bytes(root) != first
