"""Issue 11, item 12: each kind of store damage is one line naming the problem and the repair, through
the library (`StoreCorruptError`) and through the command line (exit 2, no traceback)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import condsim.cli as cli
from condsim.collection import Collection, index_folder
from condsim.collection.store import DATABASE_FILE, LOCK_FILE, Store
from condsim.errors import StoreCorruptError

MODEL = "fake:damage@16"


@pytest.fixture
def indexed(tmp_path: Path, make_image) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    from condsim.encoders import load_encoder

    folder = tmp_path / "photos"
    for index in range(12):
        make_image(folder / f"img{index:02d}.png", (20 * index, 200 - 10 * index, 90), seed=index)
    store = tmp_path / "s"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    return folder, store


def _sql(store: Path, *statements: str) -> None:
    connection = sqlite3.connect(store / DATABASE_FILE)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def _corrupt_page(store: Path) -> None:
    database = store / DATABASE_FILE
    data = bytearray(database.read_bytes())
    page = 4096
    assert len(data) >= 2 * page
    data[page + 8 : 2 * page] = bytes(range(256)) * ((page - 8) // 256) + bytes((page - 8) % 256)
    database.write_bytes(bytes(data))


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (how to damage, words of the message, words of the hint)
    "corrupt page": (_corrupt_page, "corrupt", "--replace"),
    "unknown dtype": (
        lambda s: _sql(s, "UPDATE meta SET value='float64' WHERE key='dtype'"),
        "dtype",
        "--replace",
    ),
    "non-numeric version": (
        lambda s: _sql(s, "UPDATE meta SET value='v2' WHERE key='version'"),
        "version",
        "--replace",
    ),
    "dropped items": (lambda s: _sql(s, "DROP TABLE items"), "items", "--replace"),
    "dropped meta": (lambda s: _sql(s, "DROP TABLE meta"), "meta", "--replace"),
    "row out of range": (
        lambda s: _sql(s, "UPDATE items SET row=row+1000 WHERE id=(SELECT MIN(id) FROM items)"),
        "outside",
        "check",
    ),
    "truncated embeddings": (
        lambda s: next(s.glob("embeddings-*")).write_bytes(next(s.glob("embeddings-*")).read_bytes()[:100]),
        "shorter",
        "check",
    ),
}


def _one_line(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 2, err
    assert lines[0].startswith("error:") and lines[1].startswith("hint:"), err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_one_line(
    damage: str, indexed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], fake_default_model
) -> None:  # type: ignore[no-untyped-def]
    folder, store = indexed
    apply, message, hint = DAMAGE[damage]
    apply(store)
    with pytest.raises(StoreCorruptError) as caught:
        Collection.open(store).similar(str(folder / "img00.png"), k=3)
    assert message in str(caught.value) and hint in (caught.value.hint or "")
    for args in (
        ["similar", str(folder / "img00.png"), "--store", str(store), "-k", "3"],
        ["index", str(folder), "--store", str(store), "--model", MODEL],
    ):
        with pytest.raises(SystemExit) as exited:
            cli.main(args)
        _one_line(int(exited.value.code or 0), capsys.readouterr().err, message)


def test_lock_directory_names_the_repair(indexed: tuple[Path, Path]) -> None:
    folder, store = indexed
    (store / LOCK_FILE).unlink(missing_ok=True)
    (store / LOCK_FILE).mkdir()
    from condsim.encoders import load_encoder

    with pytest.raises(StoreCorruptError, match=r"\.lock") as caught:
        index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    assert "condsim check" in (caught.value.hint or "")


def test_deleted_wal_after_a_crash(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    """A crash copy whose -wal was deleted: the store falls back to the last checkpoint (consistent),
    or names the missing file and the repair; it never maps paths to the wrong rows."""
    _, store = indexed
    with Store.open(store) as opened:
        rows_before = {item.relpath: opened.vectors([item.row])[0] for item in opened.items()}
        opened.remove([item.id for item in opened.items()[:4]])
        assert opened.compact()
        crash = tmp_path / "crash"
        shutil.copytree(store, crash)  # taken while the connection is open: the compaction sits in the WAL
    (crash / f"{DATABASE_FILE}-wal").unlink(missing_ok=True)
    try:
        reopened = Store.open(crash)
    except StoreCorruptError as error:
        assert "embedding file" in str(error) and "condsim check" in (error.hint or "")
        return
    with reopened:
        assert reopened.n_rows >= len(reopened)
        for item in reopened.items():
            np.testing.assert_array_equal(reopened.vectors([item.row])[0], rows_before[item.relpath])


def test_index_replace_rebuilds_a_damaged_store(
    indexed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The repair the one-line error names for an unreadable database: `condsim index --replace`."""
    folder, store = indexed
    _corrupt_page(store)
    (store / "notes.txt").write_text("not a store file")
    with pytest.raises(SystemExit) as exited:
        cli.main(["index", str(folder), "--store", str(store), "--model", MODEL, "--replace"])
    assert exited.value.code == 0, capsys.readouterr().err
    with Store.open(store) as rebuilt:
        assert len(rebuilt) == 12
    assert (store / "notes.txt").read_text() == "not a store file"
