"""The controller's ascend_env package as the collection's filters see it: present, and of the collection's version.

The collection (roles, filters, the playbook) and the Python package (resolver, matrix, doctor, probe) are released
together with one version number; the filters run the package's code, so a controller with a collection of one
version and a wheel of another would resolve stacks with rules the roles were not written for.
"""

from __future__ import annotations

import json
from pathlib import Path

#: this file is <collection>/plugins/plugin_utils/package.py
COLLECTION_ROOT = Path(__file__).resolve().parents[2]


def collection_version() -> str | None:
    """The collection's version: MANIFEST.json of an installed collection, galaxy.yml of a checkout."""
    manifest = COLLECTION_ROOT / "MANIFEST.json"
    try:
        if manifest.is_file():
            return str(json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"])
        galaxy = COLLECTION_ROOT / "galaxy.yml"
        if galaxy.is_file():
            for line in galaxy.read_text(encoding="utf-8").splitlines():
                if line.startswith("version:"):
                    return line.split(":", 1)[1].strip().strip("'\"")
    except (OSError, ValueError, KeyError):
        return None
    return None


def install_hint(version: str | None) -> str:
    want = f"ascend-env=={version}" if version else "ascend-env"
    return (f"pip install '{want}' into the Python that runs ansible-playbook (offline: pip install "
            f"ascend_env-{version or '<version>'}-py3-none-any.whl; in a checkout: pip install -e .)")


def package_problem() -> str | None:
    """None when ascend_env imports and matches the collection's version; else what is wrong and the fix."""
    version = collection_version()
    try:
        import ascend_env
    except ImportError as exc:
        return (f"the ascend_env Python package is not importable on the controller ({exc}); the collection "
                f"ascend.env {version or ''} needs it. Fix: {install_hint(version)}")
    have = getattr(ascend_env, "__version__", None)
    if version and have != version:
        return (f"the collection ascend.env is version {version} but the ascend_env Python package on the controller "
                f"is version {have} ({Path(ascend_env.__file__).parent}); they are released together and must be the "
                f"same version. Fix: {install_hint(version)}, or install the collection of version {have}: "
                f"ansible-galaxy collection install ascend-env-{have}.tar.gz --force")
    return None
