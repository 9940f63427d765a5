"""The ascend_env package as one importable zip, for the environments site.yml builds.

``python -m ascend_env smoke`` (and ``doctor``) must work inside every provisioned container, offline, without
building a wheel or reaching an index. The smoke role copies this zip into the environment and puts it on the
venv's ``sys.path`` with a ``.pth`` file (Python imports packages from zips: zipimport). The zip is
byte-for-byte reproducible (sorted entries, fixed timestamps and modes), so an unchanged package is not copied
again and a changed one always is.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def package_files(root: Path = PACKAGE) -> list[tuple[str, Path]]:
    """Every file of the package as (name inside the package, path), sorted, without caches.  The templates are
    ``_templates/`` as an installed wheel has them, also when packing from a checkout (where they are the top-level
    ``templates/``): the zip is the same bytes whichever of the two the controller runs."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        out += [(Path(dirpath, f).relative_to(root).as_posix(), Path(dirpath) / f) for f in filenames
                if not f.endswith(_SKIP_SUFFIXES)]
    checkout_templates = root.parent / "templates"
    if not (root / "_templates").is_dir() and checkout_templates.is_dir():
        out += [(f"_templates/{p.name}", p) for p in checkout_templates.iterdir() if p.is_file()]
    return sorted(out)


def build_zip_bytes(root: Path = PACKAGE) -> bytes:
    """The zip's content: ``ascend_env/...`` entries with fixed metadata."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, path in package_files(root):
            info = zipfile.ZipInfo(f"{root.name}/{name}", date_time=_EPOCH)
            executable = os.access(path, os.X_OK) and path.suffix != ".py"
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    return buf.getvalue()


def write_zip(dest: Path, root: Path = PACKAGE) -> tuple[Path, bool, str]:
    """Write the zip to ``dest`` unless it already has these bytes; returns (path, changed, sha256)."""
    data = build_zip_bytes(root)
    digest = hashlib.sha256(data).hexdigest()
    dest = Path(dest)
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == digest:
        return dest, False, digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest, True, digest


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m ascend_env.pack",
                                     description="Write the ascend_env package as one reproducible, importable zip.")
    parser.add_argument("dest", type=Path, help="where to write the zip (e.g. ~/.cache/ascend-env/ascend_env.zip)")
    args = parser.parse_args(argv)
    path, changed, digest = write_zip(args.dest)
    print(json.dumps({"path": str(path), "changed": changed, "sha256": digest}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
