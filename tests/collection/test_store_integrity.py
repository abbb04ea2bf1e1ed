"""Issue 11, item 11: damaged embeddings are noticed. Blocks of rows carry a checksum written with
them; queries leave damaged rows out (never a non-finite or impossible score) with a warning naming
`condsim check --repair`; `condsim check` finds every kind of damage and `--repair` re-embeds the
rows from their images, reporting what it could not fix."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import condsim.cli as cli
from condsim.collection import Collection, index_folder
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
    # the damaged block holds all 20 rows: every readable image is re-embedded, the missing one dropped
    assert report.reembedded == 19 and report.removed == 1 and not report.healthy
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
