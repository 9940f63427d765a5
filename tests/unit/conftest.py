from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def matrix():
    from ascend_env.matrix import load_matrix  # lazily: the smoke tests also run in venvs without PyYAML

    return load_matrix()


def collection_plugin(module: str):
    """Import one of the collection's Python files as Ansible does, by its ``ansible_collections`` name (this
    checkout is the collection ascend.env through collections/ansible_collections/ascend/env)."""
    import importlib
    from pathlib import Path

    pytest.importorskip("ansible")
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    root = Path(__file__).resolve().parents[2] / "collections"
    if not any(type(f).__name__ == "_AnsibleCollectionFinder" for f in __import__("sys").meta_path):
        _AnsibleCollectionFinder(paths=[str(root)])._install()
    return importlib.import_module(f"ansible_collections.ascend.env.plugins.{module}")
