"""GA-CLIP reconstruction: Hungarian re-rank vs brute force over permutations, neighbourhoods, steering."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods import (
    hungarian_match_score,
    hungarian_rerank,
    neighbourhood_rerank,
    steer_query,
    steering_direction,
    top_k,
)


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


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
