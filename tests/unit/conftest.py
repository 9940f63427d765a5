from __future__ import annotations

import pytest

from ascend_env.matrix import load_matrix


@pytest.fixture(scope="session")
def matrix():
    return load_matrix()
