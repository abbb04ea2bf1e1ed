"""The FAISS index beside a local store: good recall, FAISS shapes, saved, and never used when stale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from condsim.collection.backends.faiss_index import AnnConfig, FaissIndex, index_key, load_or_build
from condsim.collection.backends.protocol import exact_top_k
from condsim.errors import InvalidInputError


def clustered(count: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    vectors = centres[rng.integers(0, 20, count)] + 0.3 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_recall_against_the_exact_top_k(kind: str) -> None:
    vectors = clustered(3000)
    rows = np.arange(100, 3100, dtype=np.int64)  # store rows need not start at 0
    queries = clustered(50, seed=1)
    index = FaissIndex.build(vectors, rows, "k", AnnConfig(kind=kind, threshold=0))  # type: ignore[arg-type]
    scores, found = index.search(queries, 10)
    _, expected = exact_top_k(queries, vectors, rows, 10)
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), expected.tolist(), strict=True)]
    )
    assert recall >= 0.95
    assert scores.shape == found.shape == (50, 10)
    # the scores of the rows found are their exact inner products
    np.testing.assert_allclose(scores[0], vectors[found[0] - 100] @ queries[0], atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_the_query_row_is_left_out_and_short_results_are_padded() -> None:
    vectors = clustered(30)
    rows = np.arange(30, dtype=np.int64)
    index = FaissIndex.build(vectors, rows, "k", AnnConfig(threshold=0))
    _, found = index.search(vectors[:2], 5, exclude_rows=[0, None])
    assert 0 not in found[0].tolist() and found[1, 0] == 1
    scores, padded = index.search(vectors[:1], 40)
    assert (padded[0, 30:] == -1).all() and np.isneginf(scores[0, 30:]).all()


def test_saved_index_is_reused_for_its_key_and_rebuilt_when_stale(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ann-raw.npz"
    config = AnnConfig(threshold=0)
    first = clustered(200)
    rows = np.arange(200, dtype=np.int64)
    built_from: list[str] = []

    def matrix_of(name: str, vectors: np.ndarray):  # type: ignore[no-untyped-def]
        def build() -> np.ndarray:
            built_from.append(name)
            return vectors

        return build

    key_v1 = index_key("store", 1, "raw", config)
    load_or_build(path, key_v1, matrix_of("v1", first), rows, config)
    assert path.is_file() and built_from == ["v1"]
    reused = load_or_build(path, key_v1, matrix_of("again", first), rows, config)
    assert built_from == ["v1"] and reused.key == key_v1  # same key: loaded, not rebuilt

    second = clustered(150, seed=5)  # the store changed (version 2): the saved index is stale
    key_v2 = index_key("store", 2, "raw", config)
    fresh = load_or_build(path, key_v2, matrix_of("v2", second), rows[:150], config)
    assert built_from == ["v1", "v2"] and len(fresh) == 150
    assert FaissIndex.load(path, key_v1) is None  # the stale index is gone, never served
    loaded = FaissIndex.load(path, key_v2)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.search(second[:3], 1)[1][:, 0], [0, 1, 2])


def test_a_damaged_index_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "ann.npz"
    path.write_bytes(b"not an index")
    config = AnnConfig(threshold=0)
    vectors = clustered(50)
    index = load_or_build(path, "key", lambda: vectors, np.arange(50), config)
    assert len(index) == 50 and FaissIndex.load(path, "key") is not None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown index kind"):
        AnnConfig(kind="lsh")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        AnnConfig(nprobe=0)
