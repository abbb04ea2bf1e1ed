"""Issue 11, items 5 and 9: creating a store is atomic (a full disk or a lost race leaves no store that
later runs call corrupt), and a full disk while indexing is one `StoreError` with the store intact."""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import condsim.collection.store as store_module
from condsim.collection import index_folder
from condsim.collection.store import DATABASE_FILE, NewItem, Store
from condsim.errors import StoreError


def _enospc(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_creating_leaves_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = store_module.build_database

    def build_then_fail(database: Path, meta: dict[str, str]) -> None:
        real_build(database, meta)
        _enospc()

    monkeypatch.setattr(store_module, "build_database", build_then_fail)
    with pytest.raises(StoreError, match="no space left on device") as caught:
        Store.create(tmp_path / "s", "m", 8)
    assert "nothing was lost" in (caught.value.hint or "")
    assert not (tmp_path / "s" / DATABASE_FILE).exists()
    assert [p.name for p in (tmp_path / "s").iterdir() if p.name.endswith(".creating")] == []
    monkeypatch.undo()
    with Store.open_or_create(tmp_path / "s", "m", 8) as store:  # a later run just creates it
        assert len(store) == 0


def test_half_created_store_of_an_older_condsim_is_recreated(tmp_path: Path) -> None:
    """An older condsim wrote the schema, then the disk filled before the metadata: not 'corrupt'."""
    (tmp_path / "s").mkdir()
    connection = sqlite3.connect(tmp_path / "s" / DATABASE_FILE)
    connection.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    connection.close()
    with Store.open_or_create(tmp_path / "s", "m", 8) as store:
        assert store.model_id == "m" and len(store) == 0


def _create(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        with Store.open_or_create(path, "m", 4) as store:
            results.put(f"ok {store.store_id}")
    except Exception as error:  # reported to the parent, which asserts there is none
        results.put(f"{type(error).__name__}: {error}")


def test_two_processes_creating_one_store(tmp_path: Path) -> None:
    """Racing creators: one wins, every other opens the winner's store (no IntegrityError, no
    false "corrupt")."""
    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        path = str(tmp_path / f"s{attempt}")
        barrier, results = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_create, args=(path, barrier, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert all(outcome.startswith("ok ") for outcome in outcomes), outcomes
        assert len(set(outcomes)) == 1, outcomes  # every process opened the one store that won


def test_disk_full_while_indexing_is_one_line_and_keeps_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_encoder, make_image
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "photos"
    for index in range(10):
        make_image(folder / f"img{index}.png", (20 * index, 100, 200 - 15 * index), seed=index)
    store_path = tmp_path / "s"
    calls = {"fsync": 0}
    real_fsync = os.fsync

    def fsync_until_full(descriptor: int) -> None:
        calls["fsync"] += 1
        if calls["fsync"] > 4:
            _enospc()
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    with pytest.raises(StoreError, match="no space left on device"):
        index_folder(folder, store_path, fake_encoder, batch_size=3, show_progress=False)
    monkeypatch.undo()
    with Store.open(store_path) as store:
        kept = len(store)
        assert 0 < kept < 10 and store.n_rows == kept
    report = index_folder(folder, store_path, fake_encoder, batch_size=3, show_progress=False)
    assert report.total == 10 and report.indexed == 10 - kept


def test_disk_full_on_a_small_tmpfs(tmp_path: Path, fake_encoder, make_image) -> None:  # type: ignore[no-untyped-def]
    """A real full disk (a 1 MiB tmpfs): needs root to mount, skipped otherwise."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    if os.system(f"mount -t tmpfs -o size=1m tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        folder = tmp_path / "photos"
        for index in range(40):
            make_image(folder / f"img{index}.png", (6 * index, 90, 240 - 6 * index), seed=index)
        from condsim.encoders import load_encoder

        wide = load_encoder("fake:wide@4096")  # 16 KiB a row: the tmpfs fills after a few dozen
        with pytest.raises(StoreError, match="no space left on device"):
            index_folder(folder, mount / "s", wide, batch_size=4, show_progress=False)
        with Store.open(mount / "s") as store:
            assert store.n_rows == len(store) and len(store) < 40
            rows = store.vectors(store.live_rows())
            np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        for stray in mount.glob("s/*.tmp"):
            raise AssertionError(f"temporary left behind: {stray}")
    finally:
        os.system(f"umount -l {mount}")


def test_creating_a_store_on_a_full_tmpfs(tmp_path: Path) -> None:
    """A real full disk at creation (root only): one line, no half store; once space is freed the
    same call creates it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    if os.system(f"mount -t tmpfs -o size=256k tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # fill the disk to the last byte (unbuffered, so closing the file writes nothing more)
        with open(mount / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"x" * 512)
        with pytest.raises(StoreError, match="no space left on device"):
            Store.create(mount / "s", "m", 8)
        assert not (mount / "s" / DATABASE_FILE).exists()
        (mount / "filler").unlink()
        with Store.open_or_create(mount / "s", "m", 8) as store:
            assert len(store) == 0
    finally:
        os.system(f"umount -l {mount}")


def test_store_add_after_enospc_is_consistent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = np.eye(3, 8, dtype=np.float32)
    with Store.create(tmp_path / "s", "m", 8) as store:
        store.add(vectors[:1], [NewItem("a.png", "/a.png", "ha")])
        monkeypatch.setattr(os, "fsync", _enospc)
        with pytest.raises(StoreError, match="no space left"):
            store.add(vectors[1:], [NewItem("b.png", "/b.png", "hb"), NewItem("c.png", "/c.png", "hc")])
        monkeypatch.undo()
        assert len(store) == 1 and store.n_rows == 1
        assert store.add(vectors[1:2], [NewItem("b.png", "/b.png", "hb")]) == [1]
