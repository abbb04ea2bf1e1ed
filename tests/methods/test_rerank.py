"""GA-CLIP reconstruction: Hungarian re-rank vs brute force over permutations, neighbourhoods, steering."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods import (
    hungarian_match_score,
    hungarian_rerank,
    neighbourhood_rerank,
    steer_query,
    steering_direction,
    top_k,
)
from condsim.methods.rerank import database_neighbours, nearest_ids
from helpers import unit


def brute_force_match(a: np.ndarray, b: np.ndarray) -> float:
    """max over injective assignments of the smaller side, mean over the m query parts."""
    cos = a @ b.T
    m, n = cos.shape
    if m <= n:
        best = max(sum(cos[i, p[i]] for i in range(m)) for p in itertools.permutations(range(n), m))
    else:
        best = max(sum(cos[p[j], j] for j in range(n)) for p in itertools.permutations(range(m), n))
    return best / m


@pytest.mark.parametrize(("m", "n"), [(3, 3), (2, 4), (4, 2), (1, 5)])
def test_hungarian_match_equals_brute_force(m: int, n: int) -> None:
    rng = np.random.default_rng(m * 10 + n)
    for _ in range(5):
        a, b = unit(rng, m, 6), unit(rng, n, 6)
        assert hungarian_match_score(a, b) == pytest.approx(brute_force_match(a, b), abs=1e-9)
    assert hungarian_match_score(a, np.zeros((0, 6))) == 0.0


def test_hungarian_rerank_scores_and_order() -> None:
    rng = np.random.default_rng(1)
    database, queries = unit(rng, 12, 6), unit(rng, 2, 6)
    parts = [unit(rng, int(rng.integers(1, 4)), 6) for _ in range(12)]
    query_parts = [unit(rng, 2, 6), unit(rng, 3, 6)]
    scores, ids = top_k(queries @ database.T, 5)
    new_scores, new_ids = hungarian_rerank(scores, ids, query_parts, parts, weight=0.3, k=4)
    assert new_scores.shape == (2, 4) and new_ids.shape == (2, 4)
    for q in range(2):
        expected = {
            int(i): 0.7 * s + 0.3 * brute_force_match(query_parts[q], parts[int(i)])
            for s, i in zip(scores[q], ids[q], strict=True)
        }
        best = sorted(expected, key=lambda i: -expected[i])[:4]
        assert list(new_ids[q]) == best
        np.testing.assert_allclose(new_scores[q], [expected[i] for i in best], atol=1e-6)
    _, same_ids = hungarian_rerank(scores, ids, query_parts, parts, weight=0.0)
    np.testing.assert_array_equal(same_ids, ids)


def test_top_k_pads_like_faiss_and_rerank_keeps_padding_last() -> None:
    scores, ids = top_k(np.array([[0.1, 0.9, 0.5]]), 5)
    np.testing.assert_array_equal(ids, [[1, 2, 0, -1, -1]])
    assert np.isneginf(scores[0, 3:]).all()
    parts = [np.ones((1, 2))] * 3
    _, new_ids = hungarian_rerank(scores, ids, [np.ones((1, 2))], parts, weight=0.5)
    np.testing.assert_array_equal(new_ids[0, 3:], [-1, -1])


def test_hungarian_rerank_names_a_candidate_without_parts() -> None:
    scores, ids = np.array([[0.9, 0.5]]), np.array([[0, 7]])
    with pytest.raises(InvalidInputError, match="no entry for database item 7"):
        hungarian_rerank(scores, ids, [np.ones((1, 2))], {0: np.ones((1, 2))})
    with pytest.raises(InvalidInputError, match="no entry for database item 7"):
        hungarian_rerank(scores, ids, [np.ones((1, 2))], [np.ones((1, 2))] * 3)


def test_neighbourhood_rerank_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(2)
    database, queries = unit(rng, 15, 5), unit(rng, 2, 5)
    scores, ids = top_k(queries @ database.T, 4)
    new_scores, new_ids = neighbourhood_rerank(queries, database, scores, ids, n_neighbors=3, weight=0.5)
    for q in range(2):
        query_nb = database[np.argsort(-(database @ queries[q]))[:3]]
        expected = {}
        for s, i in zip(scores[q], ids[q], strict=True):
            sims = database @ database[i]
            sims[i] = -np.inf
            nb = database[np.argsort(-sims)[:3]]
            expected[int(i)] = 0.5 * s + 0.5 * brute_force_match(query_nb, nb)
        best = sorted(expected, key=lambda i: -expected[i])
        assert list(new_ids[q]) == best
        np.testing.assert_allclose(new_scores[q], [expected[i] for i in best], atol=1e-6)
    with pytest.raises(InvalidInputError, match="n_neighbors"):
        neighbourhood_rerank(queries, database, scores, ids, n_neighbors=15)


def test_steering_moves_the_query_towards_positives() -> None:
    rng = np.random.default_rng(3)
    query, positives, negatives = unit(rng, 2, 6), unit(rng, 4, 6), unit(rng, 3, 6)
    delta = positives.mean(0) - negatives.mean(0)
    delta /= np.linalg.norm(delta)
    np.testing.assert_allclose(steering_direction(positives, negatives), delta, atol=1e-12)
    steered = steer_query(query, positives, negatives, beta=0.4)
    expected = query + 0.4 * delta
    np.testing.assert_allclose(steered, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    assert np.all(steered @ delta > query @ delta)
    with pytest.raises(InvalidInputError, match="same mean"):
        steering_direction(positives, positives)
    with pytest.raises(DimensionMismatchError):
        hungarian_rerank(*top_k(query @ positives.T, 2), [positives], [positives] * 4)


def tied_scores(rng: np.random.Generator, rows: int, columns: int, dtype: type) -> np.ndarray:
    """Few distinct values (many ties, also across any top-k cut), some −inf."""
    scores = rng.integers(0, 4, size=(rows, columns)).astype(dtype)
    scores[rng.random((rows, columns)) < 0.1] = -np.inf
    return scores


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_nearest_ids_and_top_k_equal_the_stable_argsort(dtype: type) -> None:
    rng = np.random.default_rng(7)
    for columns in (1, 5, 40):
        scores = (
            tied_scores(rng, 9, columns, dtype) if dtype != np.int64 else rng.integers(0, 3, (9, columns))
        )
        reference = np.argsort(-np.asarray(scores, dtype=np.float64), axis=1, kind="stable")
        for count in sorted({1, min(2, columns), min(3, columns), columns // 2 or 1, columns}):
            np.testing.assert_array_equal(nearest_ids(scores, count), reference[:, :count])
        for k in (1, columns, columns + 3):
            top_scores, top_ids = top_k(scores, k)
            kept = min(k, columns)
            np.testing.assert_array_equal(top_ids[:, :kept], reference[:, :kept])
            np.testing.assert_array_equal(
                top_scores[:, :kept],
                np.take_along_axis(np.asarray(scores, np.float32), reference[:, :kept], 1),
            )
            assert (top_ids[:, kept:] == -1).all() and np.isneginf(top_scores[:, kept:]).all()
    continuous = rng.normal(size=(4, 1000))
    np.testing.assert_array_equal(
        nearest_ids(continuous, 10), np.argsort(-continuous, axis=1, kind="stable")[:, :10]
    )
    with pytest.raises(InvalidInputError, match="count"):
        nearest_ids(continuous, 1001)
    with pytest.raises(InvalidInputError, match="NaN"):
        nearest_ids(np.array([[0.0, np.nan]]), 1)


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_database_neighbours_exclude_self_and_equal_brute_force(block: int) -> None:
    rng = np.random.default_rng(8)
    database = unit(rng, 30, 6)
    neighbours = database_neighbours(database, 4, block=block)
    assert neighbours.shape == (30, 4) and neighbours.dtype == np.int64
    assert not (neighbours == np.arange(30)[:, None]).any()
    for item in range(30):
        cosines = database @ database[item]
        cosines[item] = -np.inf
        np.testing.assert_array_equal(neighbours[item], np.argsort(-cosines, kind="stable")[:4])
    # not-yet-normalised rows give the same (cosine) neighbours
    np.testing.assert_array_equal(database_neighbours(3.0 * database, 4, block=block), neighbours)
    with pytest.raises(InvalidInputError, match="count"):
        database_neighbours(database, 30)


def slow_neighbourhood_rerank(
    queries: np.ndarray, database: np.ndarray, scores: np.ndarray, ids: np.ndarray, n: int, weight: float
) -> list[dict[int, float]]:
    """float64, one candidate at a time: full argsort of every cosine row, brute-force assignment."""
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    database = database / np.linalg.norm(database, axis=1, keepdims=True)
    expected = []
    for q in range(len(queries)):
        query_nb = database[np.argsort(-(database @ queries[q]), kind="stable")[:n]]
        per_candidate = {}
        for s, i in zip(scores[q], ids[q], strict=True):
            if i < 0:
                continue
            sims = database @ database[i]
            sims[i] = -np.inf
            nb = database[np.argsort(-sims, kind="stable")[:n]]
            per_candidate[int(i)] = (1 - weight) * float(s) + weight * brute_force_match(query_nb, nb)
        expected.append(per_candidate)
    return expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_neighbourhood_rerank_with_and_without_precomputed_neighbours_equals_slow_reference(
    dtype: type,
) -> None:
    rng = np.random.default_rng(9)
    database, queries = 2.0 * unit(rng, 40, 6), unit(rng, 5, 6)
    scores, ids = top_k(queries @ (database / 2.0).T, 8)
    ids[1, 6:] = -1  # padded slots (e.g. a first stage with fewer hits) stay last
    scores[1, 6:] = 0.0
    expected = slow_neighbourhood_rerank(queries, database, scores, ids, 4, 0.3)
    database_typed, queries_typed = database.astype(dtype), queries.astype(dtype)
    precomputed = database_neighbours(database_typed, 4, block=16)
    tolerance = 1e-9 if dtype == np.float64 else 1e-5
    for neighbour_ids in (None, precomputed):
        new_scores, new_ids = neighbourhood_rerank(
            queries_typed, database_typed, scores, ids, n_neighbors=4, weight=0.3,
            database_neighbour_ids=neighbour_ids, block=3,
        )  # fmt: skip
        for q, per_candidate in enumerate(expected):
            best = sorted(per_candidate, key=lambda i: (-per_candidate[i], i))
            assert list(new_ids[q, : len(best)]) == best
            assert (new_ids[q, len(best) :] == -1).all()
            np.testing.assert_allclose(
                new_scores[q, : len(best)], [per_candidate[i] for i in best], atol=tolerance
            )
    _, cut_ids = neighbourhood_rerank(queries, database, scores, ids, n_neighbors=4, weight=0.3, k=3)
    np.testing.assert_array_equal(cut_ids, new_ids[:, :3])


def test_neighbourhood_rerank_rejects_bad_precomputed_neighbours() -> None:
    rng = np.random.default_rng(10)
    database, queries = unit(rng, 12, 5), unit(rng, 2, 5)
    scores, ids = top_k(queries @ database.T, 4)
    good = database_neighbours(database, 3)
    with pytest.raises(DimensionMismatchError, match="database_neighbour_ids"):
        neighbourhood_rerank(queries, database, scores, ids, n_neighbors=4, database_neighbour_ids=good)
    own = good.copy()
    own[5, 0] = 5
    with pytest.raises(InvalidInputError, match="own neighbour"):
        neighbourhood_rerank(queries, database, scores, ids, n_neighbors=3, database_neighbour_ids=own)
    outside = good.copy()
    outside[0, 0] = 12
    with pytest.raises(InvalidInputError, match="outside"):
        neighbourhood_rerank(queries, database, scores, ids, n_neighbors=3, database_neighbour_ids=outside)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 5), n=st.integers(0, 5), d=st.integers(2, 8))
def test_hungarian_match_score_equals_the_best_assignment_by_brute_force(seed, m, n, d) -> None:
    """M = (1/m)·max over injective matchings of Σ cos, any m vs n (rectangular both ways, n = 0)."""
    rng = np.random.default_rng(seed)
    query_parts, candidate_parts = unit(rng, m, d), unit(rng, n, d).reshape(n, d)
    cosines = query_parts @ candidate_parts.T
    matched = min(m, n)
    best = 0.0
    if matched:
        best = max(
            sum(cosines[row, column] for row, column in zip(rows, columns, strict=True))
            for rows in itertools.combinations(range(m), matched)
            for columns in itertools.permutations(range(n), matched)
        )
    assert hungarian_match_score(query_parts, candidate_parts) == pytest.approx(best / m, abs=1e-9)
