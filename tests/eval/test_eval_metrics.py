"""Metrics checked against slow float64 references written here (not against themselves)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.eval.metrics import (
    average_precisions,
    clustering_accuracy,
    clustering_scores,
    confidence_interval,
    descending_order,
    mean_average_precision,
    ranking_metrics,
    relevance_matrix,
    spearman,
)


def slow_average_precision(scores: list[float], relevant: list[bool]) -> float:
    """AP by walking the ranking: mean of precision@k at every relevant position k."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    hits, precisions = 0, []
    for rank, index in enumerate(order, start=1):
        if relevant[index]:
            hits += 1
            precisions.append(hits / rank)
    return sum(precisions) / len(precisions) if precisions else float("nan")


def test_known_small_ranking() -> None:
    similarity = np.array([[0.9, 0.5, 0.7]])
    relevance = np.array([[True, True, False]])
    # ranking: item0 (rel), item2 (not), item1 (rel) -> AP = (1/1 + 2/3) / 2
    assert average_precisions(similarity, relevance)[0] == pytest.approx((1 + 2 / 3) / 2)


@settings(max_examples=40, deadline=None)
@given(
    queries=st.integers(1, 6),
    items=st.integers(1, 40),
    classes=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)
def test_vectorised_map_matches_slow_reference(queries: int, items: int, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    similarity = rng.normal(size=(queries, items)).astype(np.float32)
    labels_q, labels_d = rng.integers(classes, size=queries), rng.integers(classes, size=items)
    relevance = relevance_matrix(labels_q, labels_d)
    fast = average_precisions(similarity, relevance)
    for row in range(queries):
        slow = slow_average_precision(similarity[row].astype(np.float64).tolist(), relevance[row].tolist())
        if np.isnan(slow):
            assert np.isnan(fast[row])
        else:
            assert fast[row] == pytest.approx(slow, abs=1e-12)


def test_blocks_of_queries_give_the_same_result() -> None:
    rng = np.random.default_rng(1)
    similarity = rng.normal(size=(600, 50))
    relevance = rng.random((600, 50)) < 0.2
    whole = average_precisions(similarity, relevance)
    parts = np.concatenate(
        [average_precisions(similarity[i : i + 7], relevance[i : i + 7]) for i in range(0, 600, 7)]
    )
    np.testing.assert_allclose(whole, parts)


def test_queries_without_relevant_items_are_left_out_of_the_mean() -> None:
    similarity = np.array([[0.9, 0.1], [0.2, 0.8]])
    relevance = np.array([[True, False], [False, False]])
    assert mean_average_precision(similarity, relevance) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError):
        mean_average_precision(similarity, np.zeros_like(relevance))


def test_multi_condition_relevance_needs_every_condition() -> None:
    queries = np.array([[0, 1], [1, 1]])
    database = np.array([[0, 1], [0, 0], [1, 1]])
    expected = np.array([[True, False, False], [False, False, True]])
    np.testing.assert_array_equal(relevance_matrix(queries, database), expected)
    with pytest.raises(DimensionMismatchError):
        relevance_matrix(queries, database[:, :1])


def test_bad_inputs_raise() -> None:
    with pytest.raises(DimensionMismatchError):
        average_precisions(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))
    with pytest.raises(InvalidInputError):
        average_precisions(np.array([[np.nan, 0.0]]), np.array([[True, False]]))


def brute_force_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    label_values, cluster_values = np.unique(labels), np.unique(clusters)
    best = 0
    size = max(len(label_values), len(cluster_values))
    padded_labels = list(label_values) + [None] * (size - len(label_values))
    for permutation in itertools.permutations(padded_labels):
        mapping = dict(zip(cluster_values, permutation, strict=False))
        best = max(best, sum(mapping.get(c) == label for c, label in zip(clusters, labels, strict=True)))
    return best / labels.size


@pytest.mark.parametrize("seed", range(5))
def test_hungarian_accuracy_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(4, size=30)
    clusters = rng.integers(1 + seed % 4, 1 + seed % 4 + 3, size=30)
    assert clustering_accuracy(labels, clusters) == pytest.approx(brute_force_accuracy(labels, clusters))


def test_clustering_scores_of_a_relabelled_perfect_clustering() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    scores = clustering_scores(labels, np.array([5, 5, 3, 3, 9, 9]))
    assert scores == pytest.approx({"nmi": 100.0, "acc": 100.0, "ari": 100.0})


def test_spearman() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert spearman(np.array([10.0, 20.0, 25.0, 99.0]), truth) == pytest.approx(1.0)
    assert spearman(-truth, truth) == pytest.approx(-1.0)
    assert spearman(np.ones(4), truth) == 0.0


def slow_top_k(scores: list[float], relevant: list[bool], k: int) -> tuple[float, float]:
    """precision@k and nDCG@k (binary gains, log2 discount) by walking the ranking."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: min(k, len(scores))]
    depth = min(k, len(scores))
    gains = [1.0 if relevant[i] else 0.0 for i in order]
    dcg = sum(gain / np.log2(rank + 2) for rank, gain in enumerate(gains))
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(sum(relevant), depth)))
    return sum(gains) / depth, dcg / ideal


@settings(max_examples=40, deadline=None)
@given(
    queries=st.integers(1, 5),
    items=st.integers(1, 30),
    classes=st.integers(1, 4),
    k=st.integers(1, 12),
    ties=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_top_k_metrics_match_slow_references(
    queries: int, items: int, classes: int, k: int, ties: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    similarity = rng.normal(size=(queries, items)).astype(np.float32)
    if ties:
        similarity = np.round(similarity, 0) + np.float32(0.0)  # many equal scores, and zeros of both signs
        similarity[:, ::3] *= -0.0
    relevance = relevance_matrix(rng.integers(classes, size=queries), rng.integers(classes, size=items))
    metrics = ranking_metrics(similarity, relevance, k)
    for row in range(queries):
        scores, relevant = similarity[row].astype(np.float64).tolist(), relevance[row].tolist()
        if not any(relevant):
            assert np.isnan(metrics["precision"][row]) and np.isnan(metrics["ndcg"][row])
            continue
        precision, ndcg = slow_top_k(scores, relevant, k)
        assert metrics["precision"][row] == pytest.approx(precision, abs=1e-12)
        assert metrics["ndcg"][row] == pytest.approx(ndcg, abs=1e-12)
        assert metrics["ap"][row] == pytest.approx(slow_average_precision(scores, relevant), abs=1e-12)


def test_fast_descending_order_is_the_stable_argsort() -> None:
    rng = np.random.default_rng(3)
    similarity = np.round(rng.normal(size=(20, 300)), 1).astype(np.float32)  # many ties
    similarity[0, :4] = [0.0, -0.0, 0.0, -1.5]
    similarity[1] = np.float32(np.inf)  # infinities order like any other value
    expected = np.argsort(-similarity, axis=1, kind="stable")
    np.testing.assert_array_equal(descending_order(similarity), expected)
    as_float64 = similarity.astype(np.float64)
    np.testing.assert_array_equal(descending_order(as_float64), expected)


def test_confidence_interval_is_the_student_t_interval_of_the_mean() -> None:
    values = [60.0, 61.0, 62.0, 63.0, 64.0]
    low, high = confidence_interval(values)
    half = 2.7764451051977987 * np.std(values, ddof=1) / np.sqrt(5)  # t_{0.975, 4}
    assert (low, high) == pytest.approx((62.0 - half, 62.0 + half))
    assert confidence_interval([7.5]) == (7.5, 7.5)
    with pytest.raises(InvalidInputError):
        confidence_interval([])
    with pytest.raises(InvalidInputError):
        confidence_interval([1.0, float("nan")])
