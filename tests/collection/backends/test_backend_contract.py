"""One contract, run over every store backend (local folder, Milvus Lite, Milvus over gRPC on 127.0.0.1),
as scikit-learn's shared estimator checks run over every estimator."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.collection.backends import RAW, StorageBackend
from condsim.collection.backends.protocol import exact_top_k
from condsim.collection.store import NewItem
from condsim.errors import StoreError

DIM = 8


def unit_rows(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_items(names: list[str]) -> list[NewItem]:
    return [NewItem(f"dir/{name}.png", f"/photos/dir/{name}.png", f"hash-{name}", 10, 20) for name in names]


def half_space(vectors: np.ndarray) -> np.ndarray:
    """A toy condition: the first four coordinates, renormalised."""
    head = np.asarray(vectors, dtype=np.float32)[:, :4]
    return head / np.linalg.norm(head, axis=1, keepdims=True)


@pytest.fixture
def filled(empty_backend: StorageBackend) -> tuple[StorageBackend, np.ndarray, list[int]]:
    vectors = unit_rows(20, seed=1)
    rows = empty_backend.add(vectors, new_items([f"img{i:02d}" for i in range(20)]))
    return empty_backend, vectors, rows


def test_add_items_vectors_and_running_sum(filled: tuple[StorageBackend, np.ndarray, list[int]]) -> None:
    backend, vectors, rows = filled
    assert len(backend) == 20
    assert [item.relpath for item in backend.items()] == [f"dir/img{i:02d}.png" for i in range(20)]
    np.testing.assert_array_equal(backend.live_rows(), np.asarray(sorted(rows)))
    np.testing.assert_allclose(backend.vectors(rows[::-1]), vectors[::-1], atol=1e-6)
    total, count = backend.embedding_sum()
    np.testing.assert_allclose(total, vectors.astype(np.float64).sum(axis=0), atol=1e-5)
    assert count == 20
    found = backend.find_path("/photos/dir/img03.png")
    assert found is not None and found.row == rows[3]
    relative = backend.find_path("dir/img04.png")
    assert relative is not None and relative.hash == "hash-img04"
    assert backend.find_path("/photos/nowhere.png") is None
    assert backend.items_by_rows([rows[5]])[rows[5]].relpath == "dir/img05.png"


def test_every_change_bumps_the_version_and_keeps_the_sum(
    filled: tuple[StorageBackend, np.ndarray, list[int]],
) -> None:
    backend, vectors, rows = filled
    version = backend.version
    replacement = unit_rows(1, seed=9)
    backend.add(replacement, new_items(["img00"]))  # same relpath: replaces the stored item
    assert backend.version > version and len(backend) == 20
    expected = vectors.astype(np.float64).sum(axis=0) - vectors[0] + replacement[0]
    np.testing.assert_allclose(backend.embedding_sum()[0], expected, atol=1e-5)

    version = backend.version
    backend.remove([item.id for item in backend.items_by_rows([rows[1], rows[2]]).values()])
    assert backend.version > version and len(backend) == 18
    expected -= vectors[1] + vectors[2]
    np.testing.assert_allclose(backend.embedding_sum()[0], expected, atol=1e-5)
    assert backend.embedding_sum()[1] == 18

    version = backend.version
    moved = NewItem("other/img03.png", "/photos/other/img03.png", "hash-img03", 10, 20)
    backend.update_paths([(backend.items_by_rows([rows[3]])[rows[3]].id, moved)])
    assert backend.version > version
    item = backend.find_path("other/img03.png")
    assert item is not None and item.row == rows[3]
    np.testing.assert_allclose(backend.vectors([rows[3]])[0], vectors[3], atol=1e-6)

    version = backend.version
    backend.touch([(item.id, "/elsewhere/img03.png", 11, 21)])
    assert backend.version == version  # the searchable database did not change
    touched = backend.items_by_rows([rows[3]])[rows[3]]
    assert (touched.abspath, touched.size, touched.mtime_ns) == ("/elsewhere/img03.png", 11, 21)


def test_failures_and_root(empty_backend: StorageBackend) -> None:
    empty_backend.record_failures([("a.png", "/p/a.png", "unreadable")])
    empty_backend.record_failures([("b.png", "/p/b.png", "truncated")])
    assert empty_backend.failures() == [("/p/b.png", "truncated")]
    empty_backend.set_root("/p")
    assert empty_backend.root == "/p"


def test_raw_search_is_the_exact_top_k(filled: tuple[StorageBackend, np.ndarray, list[int]]) -> None:
    backend, vectors, rows = filled
    queries = unit_rows(3, seed=2)
    scores, found = backend.search(queries, 5)
    expected_scores, expected_rows = exact_top_k(queries, vectors, np.asarray(rows), 5)
    np.testing.assert_array_equal(found, expected_rows)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    assert scores.shape == found.shape == (3, 5)

    own = backend.search(vectors[:1], 3, exclude_rows=[rows[0]])[1][0]
    assert rows[0] not in own.tolist() and len(own) == 3

    padded_scores, padded_rows = backend.search(queries[:1], 25)
    assert (padded_rows[0, 20:] == -1).all() and np.isneginf(padded_scores[0, 20:]).all()


def test_a_vector_set_is_materialised_searched_and_rebuilt(
    filled: tuple[StorageBackend, np.ndarray, list[int]],
) -> None:
    backend, vectors, rows = filled
    backend.materialize("half", half_space)
    np.testing.assert_allclose(backend.set_vectors("half", rows[:4]), half_space(vectors[:4]), atol=1e-6)
    query = half_space(unit_rows(1, seed=3))
    _, found = backend.search(query, 4, vector_set="half")
    np.testing.assert_array_equal(found, exact_top_k(query, half_space(vectors), np.asarray(rows), 4)[1])

    target = np.zeros((1, DIM), dtype=np.float32)
    target[0, :4] = query[0]
    new_row = backend.add(target, new_items(["exactly-the-query"]))[0]
    backend.materialize("half", half_space)  # the store changed: the set is rebuilt, never stale
    assert backend.search(query, 1, vector_set="half")[1][0, 0] == new_row


def test_an_unmaterialised_set_is_refused(filled: tuple[StorageBackend, np.ndarray, list[int]]) -> None:
    backend, _, rows = filled
    with pytest.raises(StoreError, match="not materialised"):
        backend.set_vectors("never-built", rows[:1])
    with pytest.raises(StoreError, match="not materialised"):
        backend.search(np.ones((1, 4), dtype=np.float32) / 2, 3, vector_set="never-built")
    assert backend.search(np.ones((1, DIM), dtype=np.float32), 1, vector_set=RAW)[1].shape == (1, 1)


def test_one_writer_at_a_time(empty_backend: StorageBackend) -> None:
    with (
        empty_backend.writer_lock(),
        pytest.raises(StoreError, match="another process"),
        empty_backend.writer_lock(),
    ):
        pass
    with empty_backend.writer_lock():  # released after the first block
        pass
