"""Fixtures shared by the suites: the release artefacts, built once per session."""

from __future__ import annotations

import pytest
from labtools import build_release, install_release


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """The two release artefacts built from this checkout and installed into empty folders (README: Install): the
    wheel in a fresh venv (with Ansible), the collection in a fresh collections folder."""
    where = tmp_path_factory.mktemp("release")
    artefacts = build_release(where / "dist")
    return {"artefacts": artefacts, "env": install_release(artefacts, where / "installed"), "where": where}
