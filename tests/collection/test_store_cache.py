"""Issue 11, item 10: every cache file is verified (shape, dtype and values, through a checksum of the
whole file recorded in its name at write time); a damaged one is recomputed, never trusted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import condsim.cli as cli
from condsim.collection import Collection, index_folder
from condsim.collection.cache import ArrayCache
from condsim.collection.store import CACHE_DIR
from condsim.errors import StoreCorruptError

MODEL = "fake:cache@64"


@pytest.fixture
def indexed(tmp_path: Path, make_image) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    from condsim.encoders import load_encoder

    folder = tmp_path / "photos"
    for index in range(16):
        make_image(folder / f"img{index:02d}.png", (15 * index, 220 - 12 * index, 60 + 9 * index), seed=index)
    store = tmp_path / "s"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    return folder, store


def _query(folder: Path, store: Path) -> list[tuple[str, float]]:
    with Collection.open(store) as collection:
        return [
            (hit.relpath, hit.score) for hit in collection.similar(str(folder / "img03.png"), by="color", k=8)
        ]


def _wrong_shape(path: Path) -> None:
    np.save(path.with_suffix(".tmp.npy"), np.ones((3, 2), np.float32))
    path.with_suffix(".tmp.npy").replace(path)


def _wrong_values(path: Path) -> None:
    array = np.load(path)
    np.save(path.with_suffix(".tmp.npy"), array * 3.0)
    path.with_suffix(".tmp.npy").replace(path)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "zero bytes": lambda path: path.write_bytes(b""),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:-40]),
    "wrong shape": _wrong_shape,
    "wrong values": _wrong_values,
    "random bytes": lambda path: path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size)),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_cache_files_are_recomputed(
    damage: str, indexed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], fake_default_model
) -> None:  # type: ignore[no-untyped-def]
    folder, store = indexed
    clean = _query(folder, store)
    files = sorted((store / CACHE_DIR).glob("*.npy"))
    assert {path.name.split("-")[0] for path in files} >= {"z", "mean", "prompts"}
    for path in files:
        DAMAGE[damage](path)
    assert _query(folder, store) == clean
    for path in files:
        if path.exists():
            DAMAGE[damage](path)
    with pytest.raises(SystemExit) as exited:
        cli.main(["similar", str(folder / "img03.png"), "--store", str(store), "--by", "color", "-k", "8"])
    assert exited.value.code == 0, capsys.readouterr().err


def test_cache_file_name_carries_the_checksum(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path / "cache")
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.get_or_compute("z", "k" * 32, lambda: value, tag="t1")
    (written,) = (tmp_path / "cache").glob("z-t1-*.npy")
    assert len(written.stem.rpartition("-")[2]) == 8
    fresh = ArrayCache(tmp_path / "cache")
    np.testing.assert_array_equal(fresh.get_or_compute("z", "k" * 32, lambda: value * 0, tag="t1"), value)
    assert fresh.info()["z"]["disk_hits"] == 1


def test_symlinked_cache_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").symlink_to(elsewhere)
    with pytest.raises(StoreCorruptError, match="symbolic link"):
        ArrayCache(tmp_path / "cache")
