"""Issue 11, item 11: damaged embeddings are noticed. Blocks of rows carry a checksum written with
them; queries leave damaged rows out (never a non-finite or impossible score) with a warning naming
`condsim check --repair`; `condsim check` finds every kind of damage and `--repair` re-embeds the
rows from their images, reporting what it could not fix."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import pytest

import condsim.cli as cli
from condsim.collection import Collection, index_folder, integrity
from condsim.collection.integrity import check_store
from condsim.collection.store import DATABASE_FILE, LOCK_FILE, NewItem, Store
from condsim.collection.store_format import BLOCK_ROWS
from condsim.errors import CondsimWarning, StoreCorruptError

MODEL = "fake:integrity@32"


@pytest.fixture
def indexed(tmp_path: Path, make_image) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    from condsim.encoders import load_encoder

    folder = tmp_path / "photos"
    for index in range(20):
        make_image(folder / f"img{index:02d}.png", (12 * index, 230 - 11 * index, 40 + 7 * index), seed=index)
    store = tmp_path / "s"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    return folder, store


def _rows_of(store: Path, *names: str) -> list[int]:
    with Store.open(store) as opened:
        by_name = {item.relpath: item.row for item in opened.items()}
    return [by_name[name] for name in names]


def _overwrite_rows(store: Path, rows: list[int], values: np.ndarray | bytes) -> None:
    with Store.open(store) as opened:
        path, dim = opened.embeddings_path, opened.dim
    with open(path, "r+b") as handle:
        for row in rows:
            handle.seek(row * dim * 4)
            handle.write(values if isinstance(values, bytes) else np.asarray(values, "<f4").tobytes())


def _search(folder: Path, store: Path) -> list[tuple[str, float]]:
    with Collection.open(store) as collection:
        return [(hit.relpath, hit.score) for hit in collection.similar(str(folder / "img05.png"), k=19)]


def test_block_checksums_are_written_with_the_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((BLOCK_ROWS + 300, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Store.create(tmp_path / "s", "m", 4) as store:
        for start in range(0, len(vectors), 500):  # batches straddle the block boundary
            chunk = vectors[start : start + 500]
            store.add(
                chunk,
                [NewItem(f"{start + i}.png", f"/{start + i}.png", str(start + i)) for i in range(len(chunk))],
            )
        assert store.block_checksums().keys() == {0, 1}
        assert store.block_checksums()[1][0] == 300
        store.remove([item.id for item in store.items()[:700]])
        assert store.compact()
        assert {block: rows for block, (rows, _) in store.block_checksums().items()} == {0: 624}
    assert check_store(tmp_path / "s").problems == []


@pytest.mark.parametrize("damage", ["random bytes", "nan row", "huge row", "flipped bit"])
def test_damaged_rows_are_left_out_of_queries_and_repaired(
    damage: str, indexed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], fake_default_model
) -> None:  # type: ignore[no-untyped-def]
    folder, store = indexed
    clean = _search(folder, store)
    rows = _rows_of(store, "img02.png", "img07.png")
    with Store.open(store) as opened:
        dim = opened.dim
    if damage == "random bytes":
        _overwrite_rows(store, rows, np.random.default_rng(1).bytes(dim * 4))
    elif damage == "nan row":
        _overwrite_rows(store, rows, np.full(dim, np.nan))
    elif damage == "huge row":
        _overwrite_rows(store, rows, np.full(dim, 3e37))
    else:  # one mantissa bit: the vector still looks like a unit vector, only the checksum sees it
        with Store.open(store) as opened:
            data = bytearray(opened.embeddings_path.read_bytes())
            data[rows[0] * dim * 4] ^= 0x01
            opened.embeddings_path.write_bytes(bytes(data))
    if damage != "flipped bit":
        with pytest.warns(CondsimWarning, match="condsim check --store .* --repair"):
            damaged = _search(folder, store)
        assert all(np.isfinite(score) and -1.0001 <= score <= 1.0001 for _, score in damaged)
        assert damaged and not {name for name, _ in damaged} & {"img02.png", "img07.png"}
    report = check_store(store)
    assert not report.healthy and report.damaged_items >= 1
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "--store", str(store)])
    assert exited.value.code == 2 and "--repair" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "--store", str(store), "--repair", "--model", MODEL])
    assert exited.value.code == 0, capsys.readouterr().err
    assert "re-embedded" in capsys.readouterr().out
    assert check_store(store).problems == []
    repaired = _search(folder, store)
    assert [name for name, _ in repaired] == [name for name, _ in clean]
    np.testing.assert_allclose([s for _, s in repaired], [s for _, s in clean], atol=1e-5)


def test_repair_reports_what_it_cannot_fix(indexed: tuple[Path, Path]) -> None:
    from condsim.encoders import load_encoder

    folder, store = indexed
    rows = _rows_of(store, "img03.png", "img04.png")
    _overwrite_rows(store, rows, np.full(32, np.nan))
    (folder / "img04.png").unlink()
    report = check_store(store, repair=True, encoder=load_encoder)
    # the damaged block holds all 20 rows: every readable image is re-embedded, the missing one dropped;
    # of the 19 re-embedded only img03's stored vector was damaged, and the report says so
    assert report.reembedded == 19 and report.removed == 1 and not report.healthy
    assert report.damaged_items == 20 and report.invalid_items == 2 and report.differed == 1
    assert any("1 had a damaged stored embedding, 18 were intact" in line for line in report.fixed)
    assert any("img04.png" in line and "removed" in line for line in report.not_fixed)
    with Store.open(store) as opened:
        assert len(opened) == 19 and opened.holes() == 0
    assert check_store(store).problems == []


def test_truncated_embedding_file_and_rows_out_of_range_are_repaired(indexed: tuple[Path, Path]) -> None:
    from condsim.encoders import load_encoder

    _, store = indexed
    with Store.open(store) as opened:
        path = opened.embeddings_path
    path.write_bytes(path.read_bytes()[: 15 * 32 * 4 + 7])
    connection = sqlite3.connect(store / DATABASE_FILE)
    with connection:
        connection.execute("UPDATE items SET row=row+500 WHERE relpath='img00.png'")
    connection.close()
    with pytest.raises(StoreCorruptError, match=r"condsim check|shorter|outside") as caught:
        Store.open(store)
    assert "condsim check" in (caught.value.hint or "")
    report = check_store(store, repair=True, encoder=load_encoder)
    assert report.healthy and report.reembedded == 20, report.to_dict()
    with Store.open(store) as opened:
        assert len(opened) == 20
    assert check_store(store).problems == []


def test_lock_directory_and_dropped_failures_table_are_repaired(
    indexed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, store = indexed
    (store / LOCK_FILE).unlink(missing_ok=True)
    (store / LOCK_FILE).mkdir()
    connection = sqlite3.connect(store / DATABASE_FILE)
    with connection:
        connection.execute("DROP TABLE failures")
    connection.close()
    with pytest.raises(StoreCorruptError, match="failures"):
        Store.open(store)
    with pytest.raises(SystemExit) as exited:
        cli.main(["check", "--store", str(store), "--repair", "--json"])
    assert exited.value.code == 0
    output = json.loads(capsys.readouterr().out)
    assert output["healthy"] and len(output["fixed"]) == 2
    assert (store / LOCK_FILE).is_dir() is False
    with Store.open(store) as opened:
        assert len(opened) == 20


def test_a_store_from_before_block_checksums_gains_them(tmp_path: Path) -> None:
    """A format-1 store written before `blocks` and `identity_crc` existed opens, and its first
    write records the checksums of the rows it holds."""
    vectors = np.eye(6, 8, dtype=np.float32)
    with Store.create(tmp_path / "s", "m", 8) as store:
        store.add(vectors[:4], [NewItem(f"{i}.png", f"/{i}.png", str(i)) for i in range(4)])
    connection = sqlite3.connect(tmp_path / "s" / DATABASE_FILE)
    with connection:
        connection.execute("DROP TABLE blocks")
        connection.execute("DELETE FROM meta WHERE key='identity_crc'")
    connection.close()
    with Store.open(tmp_path / "s") as store:
        assert store.block_checksums() == {}
        store.add(vectors[4:], [NewItem(f"{i}.png", f"/{i}.png", str(i)) for i in range(4, 6)])
        assert store.block_checksums().keys() == {0} and store.block_checksums()[0][0] == 6
    assert check_store(tmp_path / "s").problems == []


def test_repair_counts_the_rows_really_damaged_not_the_block(indexed: tuple[Path, Path]) -> None:
    """One bad row in a block of 20: the block fails its checksum, all 20 are re-embedded (a checksum
    cannot tell which row is bad), and the report says 1 was damaged and 19 intact."""
    from condsim.encoders import load_encoder

    _, store = indexed
    _overwrite_rows(store, _rows_of(store, "img09.png"), np.full(32, np.nan))
    found = check_store(store)
    assert (found.damaged_items, found.invalid_items) == (20, 1)
    assert any("20 items lie in them, 1 of them not finite" in line for line in found.problems)
    report = check_store(store, repair=True, encoder=load_encoder)
    assert report.healthy and (report.reembedded, report.differed) == (20, 1), report.to_dict()
    assert any("1 had a damaged stored embedding, 19 were intact" in line for line in report.fixed)


def _damage_keeping_mtime(store: Path, rows: list[int]) -> None:
    """NaN in one row, random bytes in another, then the file's mtime put back (only its ctime and
    content tell): what bit rot, a stray writer or a restore from backup can leave."""
    with Store.open(store) as opened:
        path = opened.embeddings_path
    before = path.stat()
    _overwrite_rows(store, rows[:1], np.full(32, np.nan))
    _overwrite_rows(store, rows[1:], np.random.default_rng(3).bytes(32 * 4))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def _query(folder: Path, store: Path, collection: Collection | None = None) -> tuple[list[str], list[str]]:
    """(relpaths of a plain query's hits, the warnings it gave); scores must be finite cosines."""
    from condsim.encoders import load_encoder

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = collection or Collection.open(store, load_encoder(MODEL))
        hits = opened.similar(str(folder / "img05.png"), k=19, keep_duplicates=True)
        if collection is None:
            opened.close()
    assert all(np.isfinite(hit.score) and -1.0001 <= hit.score <= 1.0001 for hit in hits)
    return [hit.relpath for hit in hits], [str(warning.message) for warning in caught]


def _query_in_a_new_process(folder: Path, store: Path) -> tuple[list[str], list[str]]:
    """`_query` in a forked process: its own Collection and in-memory caches, the store's disk cache."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=lambda: sender.send(_query(folder, store)))
    child.start()
    answer: tuple[list[str], list[str]] = receiver.recv()
    child.join()
    assert child.exitcode == 0
    return answer


@pytest.mark.parametrize("where", ["same collection", "new process"])
def test_damage_written_after_a_first_query_is_noticed(
    where: str, indexed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verification of a version is remembered (in memory and in the store's cache) only while
    the embedding file's stat stays: damage after a first query is noticed by the next query, in the
    same collection or in a new process, plain or conditional, with one warning naming the repair."""
    from condsim.encoders import load_encoder

    folder, store = indexed
    monkeypatch.setattr(integrity, "_RACY_NS", 0)  # remember verifications at once (no 2 s wait)
    collection = Collection.open(store, load_encoder(MODEL))
    clean, quiet = _query(folder, store, collection)
    assert len(clean) == 19 and quiet == []
    assert _query_in_a_new_process(folder, store) == (clean, [])  # verification cached on disk
    _damage_keeping_mtime(store, _rows_of(store, "img02.png", "img07.png"))
    if where == "same collection":
        hits, said = _query(folder, store, collection)
    else:
        hits, said = _query_in_a_new_process(folder, store)
    collection.close()
    assert hits == [name for name in clean if name not in {"img02.png", "img07.png"}]
    assert len(said) == 1 and "2 stored embeddings" in said[0], said
    assert f"condsim check --store {store} --repair" in said[0]
    with (
        pytest.warns(CondsimWarning, match="left out of the results.*--repair"),
        Collection.open(store, load_encoder(MODEL)) as conditional,
    ):
        results = conditional.similar(str(folder / "img05.png"), by="color", k=19)
    assert results and not {hit.relpath for hit in results} & {"img02.png", "img07.png"}
    assert all(np.isfinite(hit.score) for hit in results)


def test_damage_during_a_query_is_a_store_error_naming_the_repair(indexed: tuple[Path, Path]) -> None:
    """A NaN written between the query's verification and its transform reaches CLAY's transform: that
    is the store's damage (`StoreCorruptError`, `condsim check --repair`), not a caller's bad input."""
    from condsim.encoders import load_encoder

    folder, store = indexed
    rows = _rows_of(store, "img02.png")
    with Collection.open(store, load_encoder(MODEL)) as collection:
        collection.similar(str(folder / "img05.png"), k=3)
        fitted = collection._spaces.fitted

        def fit_then_damage(*args: object, **kwargs: object) -> object:
            space = fitted(*args, **kwargs)  # type: ignore[arg-type]
            _overwrite_rows(store, rows, np.full(32, np.nan))
            return space

        collection._spaces.fitted = fit_then_damage  # type: ignore[method-assign]
        with pytest.raises(StoreCorruptError) as caught:
            collection.similar(str(folder / "img05.png"), by="color", k=3)
    assert "NaN" not in str(caught.value) and "damaged" in str(caught.value)
    assert f"condsim check --store {store} --repair" in (caught.value.hint or "")
