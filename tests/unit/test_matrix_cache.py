"""The validated matrix is cached per exact input bytes: a hit is the same matrix, any change to a data or
override file is a miss, an invalid matrix is never cached, and a broken entry is rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ascend_env import matrix as mx

DATA = Path(mx.__file__).parent / "data"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(mx.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_hit_miss_and_invalid(cache, tmp_path):
    first = mx.load_matrix()
    entries = list(cache.glob("matrix-*.pickle"))
    assert len(entries) == 1
    again = mx.load_matrix()
    assert again.row_count() == first.row_count() and [c.id for c in again.chips] == [c.id for c in first.chips]
    over = tmp_path / "site.yml"
    over.write_text('releases:\n  - {version: "8.0.RC2.B050", channel: internal, source: local}\n')
    with_site = mx.load_matrix([over])
    assert with_site.row_count() == first.row_count() + 1
    assert len(list(cache.glob("matrix-*.pickle"))) == 2
    over.write_text('releases:\n  - {version: "8.0.RC2.B051", channel: internal, source: local}\n')
    assert str(mx.load_matrix([over]).releases[-1].version) == "8.0.RC2.B051"     # changed bytes: a new entry
    over.write_text('releases:\n  - {version: "8.0.RC2.B052", channel: internal}\n')  # no source: invalid
    with pytest.raises(mx.MatrixInvalid, match="missing required field 'source'"):
        mx.load_matrix([over])
    assert len(list(cache.glob("matrix-*.pickle"))) == 3


def test_a_broken_entry_is_rebuilt_and_off_disables(cache, monkeypatch, tmp_path):
    mx.load_matrix()
    (entry,) = cache.glob("matrix-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert mx.load_matrix().row_count() > 0
    assert entry.read_bytes() != b"not a pickle"
    monkeypatch.setenv(mx.CACHE_ENV, "off")
    shutil.rmtree(cache)
    mx.load_matrix()
    assert not cache.exists()


def test_a_data_dir_change_is_a_miss(cache, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    base = mx.load_matrix(data_dir=data).row_count()
    rows = (data / "hccl.yaml").read_text().replace("rank_tables:\n", "rank_tables:\n  - {chips: [310p], format: "
                                                    '"1.0", source: "https://example.org/x"}\n')
    (data / "hccl.yaml").write_text(rows)
    assert mx.load_matrix(data_dir=data).row_count() == base + 1


def test_old_entries_are_pruned(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(mx, "CACHE_KEEP", 2)
    over = tmp_path / "site.yml"
    for build in range(4):
        over.write_text(f'releases:\n  - {{version: "8.0.RC2.B05{build}", channel: internal, source: local}}\n')
        mx.load_matrix([over])
    entries = list(cache.glob("matrix-*.pickle"))
    assert len(entries) == 2
    # the newest (the last override) is kept: loading it again is a hit, nothing written
    before = {e: e.stat().st_mtime_ns for e in entries}
    assert str(mx.load_matrix([over]).releases[-1].version) == "8.0.RC2.B053"
    assert {e: e.stat().st_mtime_ns for e in cache.glob("matrix-*.pickle")} == before
