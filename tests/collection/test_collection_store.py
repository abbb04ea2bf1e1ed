"""Store format, errors and crash-safety of the raw store API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from condsim.collection.store import DATABASE_FILE, FORMAT_VERSION, NewItem, Store
from condsim.errors import StoreError, StoreModelMismatchError, StoreVersionError
from helpers import unit

DIM = 8


def _items(count: int, prefix: str = "x") -> list[NewItem]:
    return [
        NewItem(f"{prefix}{i}.png", f"/data/{prefix}{i}.png", f"hash-{prefix}{i}", 10, 1)
        for i in range(count)
    ]


def test_add_reopen_roundtrip(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(0), 5, DIM).astype(np.float32)
    with Store.create(tmp_path / "s", "m", DIM) as store:
        assert store.add(vectors, _items(5)) == [0, 1, 2, 3, 4]
        version = store.version
    with Store.open(tmp_path / "s", model_id="m") as store:
        assert len(store) == 5 and store.version == version and store.format_version == FORMAT_VERSION
        np.testing.assert_array_equal(store.vectors(store.live_rows()), vectors)
        assert [item.relpath for item in store.items()] == [f"x{i}.png" for i in range(5)]


def test_float16_store(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(0), 4, DIM).astype(np.float32)
    with Store.create(tmp_path / "s", "m", 8, dtype="float16") as store:
        store.add(vectors, _items(4))
        assert store.embeddings().dtype == np.float16
        np.testing.assert_allclose(store.vectors([0, 1, 2, 3]), vectors, atol=1e-3)
        assert store.embeddings_path.stat().st_size == 4 * 8 * 2


def test_missing_store_has_index_hint(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "nowhere")
    assert "condsim index" in (caught.value.hint or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a condsim store"):
        Store.open(tmp_path / "empty")


def test_corrupt_database(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / DATABASE_FILE).write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="corrupt"):
        Store.open(tmp_path / "s")


def test_truncated_embedding_file_is_corrupt(tmp_path: Path) -> None:
    with Store.create(tmp_path / "s", "m", DIM) as store:
        store.add(unit(np.random.default_rng(0), 3, DIM).astype(np.float32), _items(3))
        path = store.embeddings_path
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StoreError, match="shorter"):
        Store.open(tmp_path / "s")


def test_newer_format_version(tmp_path: Path) -> None:
    Store.create(tmp_path / "s", "m", DIM).close()
    connection = sqlite3.connect(tmp_path / "s" / DATABASE_FILE)
    with connection:
        connection.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(FORMAT_VERSION + 1),))
    connection.close()
    with pytest.raises(StoreVersionError) as caught:
        Store.open(tmp_path / "s")
    assert "upgrade" in (caught.value.hint or "")


@pytest.mark.parametrize("version", ["abc", None])
def test_unreadable_format_version_is_corrupt(tmp_path: Path, version: str | None) -> None:
    Store.create(tmp_path / "s", "m", DIM).close()
    connection = sqlite3.connect(tmp_path / "s" / DATABASE_FILE)
    with connection:
        if version is None:
            connection.execute("DELETE FROM meta WHERE key='format_version'")
        else:
            connection.execute("UPDATE meta SET value=? WHERE key='format_version'", (version,))
    connection.close()
    with pytest.raises(StoreError, match="no readable format version"):
        Store.open(tmp_path / "s")


def test_model_mismatch(tmp_path: Path) -> None:
    Store.create(tmp_path / "s", "model-a", DIM).close()
    with pytest.raises(StoreModelMismatchError, match="model-a"):
        Store.open(tmp_path / "s", model_id="model-b")
    with pytest.raises(StoreModelMismatchError):
        Store.open_or_create(tmp_path / "s", "model-a", 16)


def test_uncommitted_rows_are_overwritten(tmp_path: Path) -> None:
    """Bytes appended by a batch whose metadata never committed are garbage and get replaced."""
    with Store.create(tmp_path / "s", "m", DIM) as store:
        store.add(unit(np.random.default_rng(1), 2, DIM).astype(np.float32), _items(2, "a"))
        with open(store.embeddings_path, "ab") as handle:  # a killed batch: rows written, no commit
            handle.write(unit(np.random.default_rng(2), 3, DIM).astype(np.float32).tobytes())
    with Store.open(tmp_path / "s") as store:
        assert store.n_rows == 2 and len(store) == 2
        new = unit(np.random.default_rng(3), 1, DIM).astype(np.float32)
        assert store.add(new, _items(1, "b")) == [2]
        assert store.embeddings_path.stat().st_size == 3 * 8 * 4
        np.testing.assert_array_equal(store.vectors([2]), new)


def test_compact_renumbers_atomically(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(0), 6, DIM).astype(np.float32)
    with Store.create(tmp_path / "s", "m", DIM) as store:
        store.add(vectors, _items(6))
        ids = {item.relpath: item.id for item in store.items()}
        store.remove([ids["x1.png"], ids["x4.png"]])
        assert store.holes() == 2
        old_file = store.embeddings_path
        assert store.compact()
        assert not old_file.exists() and store.n_rows == 4 and store.holes() == 0
        by_path = {item.relpath: item.row for item in store.items()}
        assert by_path == {"x0.png": 0, "x2.png": 1, "x3.png": 2, "x5.png": 3}
        np.testing.assert_array_equal(store.vectors([0, 1, 2, 3]), vectors[[0, 2, 3, 5]])
        assert not store.compact()
    # a stray file from an interrupted compaction is cleaned, the live one kept
    (tmp_path / "s" / "embeddings-9.f32").write_bytes(b"junk")
    with Store.open(tmp_path / "s") as store:
        store.remove_stray_files()
        assert not (tmp_path / "s" / "embeddings-9.f32").exists()
        assert len(store) == 4


def test_version_bumps_on_change(tmp_path: Path) -> None:
    with Store.create(tmp_path / "s", "m", DIM) as store:
        start = store.version
        store.add(unit(np.random.default_rng(0), 1, DIM).astype(np.float32), _items(1))
        assert store.version == start + 1
        store.touch([(store.items()[0].id, "/elsewhere/x0.png", 10, 2)])
        assert store.version == start + 1  # metadata refresh does not change the database


def test_rejects_bad_embeddings(tmp_path: Path) -> None:
    with Store.create(tmp_path / "s", "m", DIM) as store:
        with pytest.raises(StoreError):
            store.add(np.zeros((2, 7), np.float32), _items(2))
        bad = unit(np.random.default_rng(0), 1, DIM).astype(np.float32)
        bad[0, 0] = np.nan
        with pytest.raises(StoreError, match="NaN"):
            store.add(bad, _items(1))
        assert store.n_rows == 0


def test_find_path_and_hash(tmp_path: Path) -> None:
    with Store.create(tmp_path / "s", "m", DIM) as store:
        store.add(unit(np.random.default_rng(0), 2, DIM).astype(np.float32), _items(2))
        assert store.find_path("/data/x1.png").row == 1  # type: ignore[union-attr]
        assert store.find_path("x0.png").row == 0  # type: ignore[union-attr]
        assert store.find_path("/data/other.png") is None
        assert store.find_hash("hash-x1").relpath == "x1.png"  # type: ignore[union-attr]
