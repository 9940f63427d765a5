from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def matrix():
    from ascend_env.matrix import load_matrix  # lazily: the smoke tests also run in venvs without PyYAML

    return load_matrix()
