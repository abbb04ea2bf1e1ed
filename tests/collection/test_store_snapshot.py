"""Issue 11, item 8: a reader sees one store version. Inside `Store.reading()` the rows, items and
embeddings all belong to the version the block began with, whatever another connection commits;
a collection's results keep their paths when a compaction renumbers the rows under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from condsim.collection import Collection
from condsim.collection.store import NewItem, Store
from helpers import unit

DIM = 8


def _filled(path: Path, vectors: np.ndarray) -> None:
    with Store.create(path, "fake:test", vectors.shape[1]) as store:
        store.add(vectors, [NewItem(f"x{i}.png", f"/data/x{i}.png", f"h{i}") for i in range(len(vectors))])


def test_reading_pins_one_version_across_a_compaction(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(0), 10, DIM).astype(np.float32)
    _filled(tmp_path / "s", vectors)
    with Store.open(tmp_path / "s") as reader, Store.open(tmp_path / "s") as writer:
        with reader.reading():
            version = reader.version
            rows = reader.live_rows()
            matrix = reader.embeddings()
            writer.remove([item.id for item in writer.items()[:6]])
            assert writer.compact()
            # still the pinned version: every row, its item and its vector
            assert reader.version == version and len(reader.items_by_rows(rows.tolist())) == 10
            np.testing.assert_array_equal(reader.vectors(rows), vectors)
            np.testing.assert_array_equal(matrix, vectors)
        assert reader.version > version and len(reader.live_rows()) == 4
        np.testing.assert_array_equal(reader.vectors(reader.live_rows()), vectors[6:])


def test_results_keep_their_paths_when_rows_are_renumbered(tmp_path: Path) -> None:
    """Rows ranked on one version map to items by id: a compaction in between cannot shift paths."""
    vectors = unit(np.random.default_rng(3), 12, DIM).astype(np.float32)
    _filled(tmp_path / "s", vectors)
    with Collection.open(tmp_path / "s") as collection:
        collection.refresh()
        best, rows = collection.similar_batch(vectors[7:8], k=5)
        with Store.open(tmp_path / "s") as writer:
            writer.remove([item.id for item in writer.items()[:4]])  # x0..x3: rows 4.. become 0..
            assert writer.compact()
        results = collection._results(best, rows, [[{} for _ in range(5)]])[0]
    expected = np.argsort(-(vectors @ vectors[7]))[:5]
    kept = [f"x{index}.png" for index in expected if index >= 4]  # x0..x3 are gone: dropped, not shifted
    assert [result.relpath for result in results] == kept


def test_a_query_answers_from_the_version_it_started_on(tmp_path: Path) -> None:
    """A compaction committed while a conditional query runs (after its sync, before the nested
    syncs of `image_mean` and the path filter) changes nothing in its answer: the query keeps its
    version's rows, items and vectors, so it still leaves out its own image and no other."""
    vectors = unit(np.random.default_rng(5), 12, DIM).astype(np.float32)
    with Store.create(tmp_path / "s", f"fake:test@{DIM}", DIM) as store:
        store.add(vectors, [NewItem(f"x{i}.png", f"/data/x{i}.png", f"h{i}") for i in range(12)])
    with Collection.open(tmp_path / "s") as collection:
        resolve = collection._spaces.resolve

        def compact_then_resolve(condition: object) -> object:
            with Store.open(tmp_path / "s") as writer:
                if len(writer) == 12:
                    writer.remove([item.id for item in writer.items()[:4]])  # x7: row 7 -> row 3
                    assert writer.compact()
            return resolve(condition)  # type: ignore[arg-type]

        collection._spaces.resolve = compact_then_resolve  # type: ignore[method-assign]
        results = collection.similar("x7.png", by="color", k=11, keep_duplicates=True, path="x*")
        assert sorted(result.relpath for result in results) == sorted(
            f"x{index}.png" for index in range(12) if index != 7
        )
        collection._spaces.resolve = resolve  # type: ignore[method-assign]
        after = collection.similar("x7.png", by="color", k=11, keep_duplicates=True)
    assert {result.relpath for result in after} == {f"x{index}.png" for index in (4, 5, 6, 8, 9, 10, 11)}
