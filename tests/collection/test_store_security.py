"""Issue 11, item 1: every path read from a store is untrusted; a crafted store never makes condsim
write, truncate or delete a file outside it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from condsim.collection import index_folder
from condsim.collection.store import DATABASE_FILE, LOCK_FILE, NewItem, Store
from condsim.errors import StoreCorruptError, StoreError


def _store_with_rows(path: Path, rows: int = 4) -> None:
    vectors = np.eye(rows, 8, dtype=np.float32)
    with Store.create(path, "fake:test", 8) as store:
        store.add(vectors, [NewItem(f"x{i}.png", f"/data/x{i}.png", f"h{i}") for i in range(rows)])


def _set_meta(store: Path, key: str, value: str) -> None:
    connection = sqlite3.connect(store / DATABASE_FILE)
    with connection:
        connection.execute("UPDATE meta SET value=? WHERE key=?", (value, key))
    connection.close()


@pytest.mark.parametrize("kind", ["relative", "absolute", "symlink"])
def test_embeddings_file_outside_the_store_is_refused(
    tmp_path: Path, kind: str, fake_encoder, make_image
) -> None:  # type: ignore[no-untyped-def]
    victim = tmp_path / "victim" / "important.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"precious" * 100)
    store = tmp_path / "s"
    _store_with_rows(store)
    if kind == "relative":
        name = "../victim/important.txt"
    elif kind == "absolute":
        name = str(victim)
    else:
        (store / "link.f32").symlink_to(victim)
        name = "link.f32"
    _set_meta(store, "embeddings_file", name)
    with pytest.raises(StoreCorruptError, match="embeddings_file") as caught:
        Store.open(store)
    assert "--replace" in (caught.value.hint or "")
    folder = tmp_path / "photos"
    make_image(folder / "a.png", (200, 10, 10))
    with pytest.raises(StoreError):
        index_folder(folder, store, fake_encoder, show_progress=False)
    assert victim.read_bytes() == b"precious" * 100


def test_compaction_never_unlinks_outside(tmp_path: Path) -> None:
    """An open store whose metadata is rewritten under it still refuses the foreign file."""
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"x" * 1000)
    store_path = tmp_path / "s"
    _store_with_rows(store_path)
    with Store.open(store_path) as store:
        store.remove([store.items()[0].id])
        _set_meta(store_path, "embeddings_file", str(victim))
        with pytest.raises(StoreCorruptError):
            store.compact()
    assert victim.read_bytes() == b"x" * 1000


def test_lock_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    store_path = tmp_path / "s"
    _store_with_rows(store_path)
    (store_path / LOCK_FILE).unlink(missing_ok=True)
    os.symlink(victim, store_path / LOCK_FILE)
    with (
        Store.open(store_path) as store,
        pytest.raises(StoreCorruptError, match="not a plain file"),
        store.writer_lock(),
    ):
        pass
    assert victim.read_text() == "keep"


def test_stray_cleanup_only_touches_store_files(tmp_path: Path) -> None:
    store_path = tmp_path / "s"
    _store_with_rows(store_path)
    (store_path / "notes-embeddings-1.txt").write_text("user file")
    (store_path / "embeddings-7.f32").write_bytes(b"old")
    with Store.open(store_path) as store:
        store.remove_stray_files()
    assert (store_path / "notes-embeddings-1.txt").exists()
    assert not (store_path / "embeddings-7.f32").exists()
