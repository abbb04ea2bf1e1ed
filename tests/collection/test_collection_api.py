"""The Python API's conventions: stable ids in results and in FAISS-style `search_vectors`,
`Collection.add` / `.remove`, and a moved folder found again (or reported in one line with the fix)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from condsim.collection import Collection, index_folder
from condsim.collection.store import Store
from condsim.errors import (
    CondsimWarning,
    DimensionMismatchError,
    ImageLoadError,
    InvalidInputError,
    StoreError,
)

COLOURS = [(220, 30, 30), (30, 40, 220), (30, 200, 40), (230, 220, 40), (200, 40, 200), (120, 120, 120)]


@pytest.fixture
def folder(tmp_path: Path, make_image: Any) -> Path:
    images = tmp_path / "photos"
    for index, colour in enumerate(COLOURS):
        make_image(images / ("sub" if index % 2 else "") / f"img{index}.png", colour, seed=index)
    return images


def _index(folder: Path, store: Path, make_encoder: Any) -> Any:
    encoder = make_encoder()
    index_folder(folder, store, encoder, show_progress=False)
    return encoder


# ------------------------------------------------------------------------------- ids, search_vectors


def test_results_carry_the_store_item_id(folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    with Collection.open(tmp_path / "store", encoder) as collection:
        results = collection.similar(folder / "img0.png", k=3, keep_duplicates=True)
        by_path = {item.abspath: item.id for item in collection.store.items()}
        assert results and all(result.id == by_path[result.path] for result in results)
        assert all(result.to_dict()["id"] == result.id for result in results)


def test_search_vectors_is_faiss_shaped_with_stable_ids(
    folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    with Collection.open(tmp_path / "store", encoder) as collection:
        _, database = collection.features(None)
        queries = database[:2]
        scores, ids = collection.search_vectors(queries, 3)
        assert scores.shape == ids.shape == (2, 3) and ids.dtype == np.int64 and scores.dtype == np.float32
        expected = np.sort(queries @ database.T, axis=1)[:, ::-1][:, :3]
        np.testing.assert_allclose(scores, expected, atol=1e-5)
        stored = {item.id: item for item in collection.store.items()}
        assert set(ids.ravel().tolist()) <= set(stored)
        first_ids = ids.copy()
        # removing other images and compacting moves rows, never ids
        keep = {int(first_ids[0, 0]), int(first_ids[1, 0])}
        removed = [item.id for item in stored.values() if item.id not in keep][:2]
        collection.store.remove(removed)
        collection.store.compact()
        _, after = collection.search_vectors(queries, 1)
        assert after[:, 0].tolist() == first_ids[:, 0].tolist()
        one_scores, one_ids = collection.search_vectors(queries[0], 2, by="color")
        assert one_scores.shape == one_ids.shape == (1, 2)


def test_search_vectors_pads_like_faiss_and_refuses_bad_input(
    folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    with Collection.open(tmp_path / "store", encoder) as collection:
        _, database = collection.features(None)
        scores, ids = collection.search_vectors(database[:1], 10)
        assert ids.shape == (1, 10) and (ids[0, 6:] == -1).all() and np.isneginf(scores[0, 6:]).all()
        assert (ids[0, :6] >= 0).all()
        text = collection.encoder.encode_texts(["a red object"])
        scores, ids = collection.search_vectors(text, 3, by="color", texts=True)
        results = collection.search("a red object", by="color", k=3, keep_duplicates=True)
        assert ids[0].tolist() == [result.id for result in results]
        np.testing.assert_allclose(scores[0], [result.score for result in results], atol=1e-5)
        with pytest.raises(DimensionMismatchError, match="query embeddings have shape"):
            collection.search_vectors(np.ones((2, 5), dtype=np.float32), 3)
        with pytest.raises(InvalidInputError, match="k=0"):
            collection.search_vectors(database[:1], 0)


# ---------------------------------------------------------------------------------------- add, remove


def test_add_and_remove_by_path_with_stable_ids(
    folder: Path, tmp_path: Path, make_encoder: Any, make_image: Any
) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    with Collection.open(tmp_path / "store", encoder) as collection:
        before = {item.relpath: item.id for item in collection.store.items()}
        new = make_image(folder / "new" / "late.png", (10, 250, 250), seed=50)
        embedded = encoder.images_embedded
        ids = collection.add([new, folder / "img0.png"])
        assert encoder.images_embedded == embedded + 1  # the stored, unchanged img0 is not re-embedded
        assert ids[1] == before["img0.png"] and ids[0] not in before.values()
        assert len(collection) == len(COLOURS) + 1
        hit = collection.similar(new, k=1, exclude_query=False, keep_duplicates=True)[0]
        assert hit.id == ids[0] and hit.relpath == "new/late.png"
        assert collection.remove("new/late.png") == [ids[0]]
        assert len(collection) == len(COLOURS) and collection.find(new) is None
        assert collection.add(str(folder / "img0.png")) == [before["img0.png"]]


def test_add_and_remove_bad_inputs_are_one_line_errors(
    folder: Path, tmp_path: Path, make_encoder: Any, make_image: Any
) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    outside = make_image(tmp_path / "elsewhere" / "x.png", (1, 2, 3))
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("text")
    with Collection.open(tmp_path / "store", encoder) as collection:
        cases: list[tuple[Any, type[Exception], str]] = [
            (lambda: collection.add([]), InvalidInputError, "at least one image path"),
            (lambda: collection.add(folder / "missing.png"), ImageLoadError, "no image file at"),
            (lambda: collection.add(folder / "notes.txt"), InvalidInputError, "not an image file name"),
            (lambda: collection.add(outside), InvalidInputError, "outside the indexed folder"),
            (lambda: collection.add(folder / "broken.png"), ImageLoadError, "none was added"),
            (
                lambda: collection.remove(["img0.png", "nope.png"]),
                InvalidInputError,
                "nothing was removed: nope",
            ),
        ]
        for call, error, words in cases:
            with pytest.raises(error, match=words) as raised:
                call()
            assert "\n" not in str(raised.value)
        assert len(collection) == len(COLOURS)


def test_add_to_a_store_never_indexed_takes_the_files_folder(
    tmp_path: Path, make_encoder: Any, make_image: Any
) -> None:
    encoder = make_encoder()
    files = [make_image(tmp_path / "in" / f"{i}.png", COLOURS[i], seed=i) for i in range(3)]
    Store.create(tmp_path / "store", encoder.model_id, encoder.dim).close()
    with Collection.open(tmp_path / "store", encoder) as collection:
        ids = collection.add(files)
        assert len(set(ids)) == 3 and collection.store.root == str((tmp_path / "in").resolve())
        assert {result.relpath for result in collection.similar(files[0], k=5)} <= {"0.png", "1.png", "2.png"}


# ----------------------------------------------------------------------------------------- moved folder


def test_a_store_inside_its_moved_folder_finds_it_again(
    folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    encoder = _index(folder, folder / ".condsim-store", make_encoder)
    moved = tmp_path / "renamed"
    shutil.move(folder, moved)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CondsimWarning)
        with Collection.open(moved / ".condsim-store", encoder) as collection:
            results = collection.similar(moved / "img0.png", k=3)
            assert results and all(Path(result.path).is_file() for result in results)
            assert all(result.path.startswith(str(moved)) for result in results)
            paths, _ = collection.features(None)
            assert all(Path(path).is_file() for path in paths)
            assert collection.find(moved / "sub" / "img1.png") is not None


def test_a_store_beside_its_moved_folder_finds_it_again(
    folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    encoder = _index(folder, tmp_path / "photos.condsim", make_encoder)
    (tmp_path / "new").mkdir()
    shutil.move(folder, tmp_path / "new" / "photos")
    shutil.move(tmp_path / "photos.condsim", tmp_path / "new" / "photos.condsim")
    with Collection.open(tmp_path / "new" / "photos.condsim", encoder) as collection:
        results = collection.search("a red object", k=6)
        assert all(Path(result.path).is_file() for result in results)


def test_a_moved_folder_given_as_root(folder: Path, tmp_path: Path, make_encoder: Any) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    target = tmp_path / "far" / "away"
    target.parent.mkdir()
    shutil.move(folder, target)
    with Collection.open(tmp_path / "store", encoder, root=target) as collection:
        assert all(Path(result.path).is_file() for result in collection.search("red", k=6))
    with pytest.raises(StoreError, match="does not hold the images") as raised:
        Collection.open(tmp_path / "store", encoder, root=tmp_path).search("red", k=2)
    assert "\n" not in str(raised.value)


def test_a_folder_found_nowhere_is_one_warning_with_the_fix(
    folder: Path, tmp_path: Path, make_encoder: Any
) -> None:
    encoder = _index(folder, tmp_path / "store", make_encoder)
    shutil.move(folder, tmp_path / "far-away-name")
    with Collection.open(tmp_path / "store", encoder) as collection:
        with pytest.warns(
            CondsimWarning, match=r"is gone .*condsim index NEW_DIR --store .* --replace"
        ) as caught:
            collection.search("red", k=2)
            collection.search("blue", k=2)
        assert len([w for w in caught if issubclass(w.category, CondsimWarning)]) == 1
        with pytest.raises(StoreError, match="is gone"):
            collection.add(tmp_path / "far-away-name" / "img0.png")
