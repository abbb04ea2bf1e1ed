"""Evaluation metrics of the papers, vectorised over queries.

* mAP (CLAY, methods.md §1.3): every query ranks the whole database; AP is the mean of the
  precision at each relevant position; mAP is the mean over queries that have at least one
  relevant database item.
* Clustering (CRL, methods.md §2.3): NMI and ARI from scikit-learn, ACC with a Hungarian mapping
  from clusters to classes.
* Top-k metrics beside mAP: precision@k and nDCG@k (binary relevance, log2 discount), which judge
  the head of the ranking that a user sees and a re-ranker of the top 50 can change.
* Spearman rank correlation (PC-CLIP attribute ranking, methods.md §4.3).
* `confidence_interval`: the Student-t 95 % interval of a mean over repeated splits.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr
from scipy.stats import t as student_t
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from condsim.errors import DimensionMismatchError, InvalidInputError

#: queries are ranked in blocks of this many rows, bounding memory to block x database
_QUERY_BLOCK = 256


def relevance_matrix(query_labels: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    """(q, N) bool: True where a database item matches its query on every condition.

    Labels are (n,) for one condition or (n, c) for c conditions; with several conditions an item
    is relevant iff all of them match (the multi-condition protocol, methods.md §1.2).
    """
    query_labels = np.asarray(query_labels)
    database_labels = np.asarray(database_labels)
    if query_labels.ndim == 1:
        query_labels = query_labels[:, None]
    if database_labels.ndim == 1:
        database_labels = database_labels[:, None]
    if query_labels.shape[1] != database_labels.shape[1]:
        raise DimensionMismatchError(
            f"queries carry {query_labels.shape[1]} label columns, the database {database_labels.shape[1]}",
            hint="pass the same conditions' labels for queries and database",
        )
    return np.asarray(np.all(query_labels[:, None, :] == database_labels[None, :, :], axis=2))


def _check_scores(similarity: np.ndarray, relevance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    similarity = np.asarray(similarity)
    relevance = np.asarray(relevance, dtype=bool)
    if similarity.ndim != 2 or similarity.shape != relevance.shape:
        raise DimensionMismatchError(
            f"similarity {similarity.shape} and relevance {relevance.shape} must be the same (q, N) shape"
        )
    if not np.all(np.isfinite(similarity)):
        raise InvalidInputError("similarity contains NaN or infinite values")
    return similarity, relevance


def descending_order(similarity: np.ndarray) -> np.ndarray:
    """Per row, the column indices by descending similarity, ties in column order: exactly
    ``np.argsort(-similarity, axis=1, kind="stable")``.

    float32 rows take a faster road: each score becomes an order-preserving 32-bit key, packed above
    its 32-bit column index into one uint64, and the packed values (all distinct) are sorted with the
    default sort, several times faster than a stable argsort on large databases.
    """
    if similarity.dtype != np.float32 or similarity.shape[1] >= 2**32:
        return np.argsort(-similarity, axis=1, kind="stable")
    bits = (similarity + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into 0.0, as float equality does
    ascending = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    keys = (~ascending).astype(np.uint64) << np.uint64(32)
    keys |= np.arange(similarity.shape[1], dtype=np.uint64)[None, :]
    keys.sort(axis=1)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)


def ranking_metrics(similarity: np.ndarray, relevance: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """Per query (q,) arrays from one ranking of the whole database: ``ap`` (average precision),
    ``precision`` (precision@k) and ``ndcg`` (nDCG@k); NaN for a query without relevant items.

    Items are ranked by descending similarity (ties keep database order, a stable sort).
    AP = (1/R) Σ_i P@i · rel_i; P@k = (relevant in the top k) / k; nDCG@k = DCG@k / IDCG@k with
    DCG@k = Σ_{i ≤ k} rel_i / log2(i + 1) and IDCG@k the DCG of min(R, k) relevant items first.
    k is clipped to the database size.
    """
    similarity, relevance = _check_scores(similarity, relevance)
    n_queries, n_items = similarity.shape
    depth = max(1, min(k, n_items))
    ap = np.empty(n_queries, dtype=np.float64)
    precision = np.empty(n_queries, dtype=np.float64)
    ndcg = np.empty(n_queries, dtype=np.float64)
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2, dtype=np.float64))
    ideal = np.cumsum(discounts)
    for start in range(0, n_queries, _QUERY_BLOCK):
        block = slice(start, start + _QUERY_BLOCK)
        order = descending_order(similarity[block])
        hits = np.take_along_axis(relevance[block], order, axis=1)
        hits_so_far = np.cumsum(hits, axis=1, dtype=np.float64)
        relevant = hits_so_far[:, -1] if hits.shape[1] else np.zeros(hits.shape[0])
        precision_sum = np.sum(np.where(hits, hits_so_far / ranks, 0.0), axis=1)
        head = hits[:, :depth]
        dcg = head @ discounts[: head.shape[1]]
        best = ideal[np.clip(relevant.astype(np.int64), 1, depth) - 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            ap[block] = np.where(relevant > 0, precision_sum / relevant, np.nan)
            precision[block] = np.where(relevant > 0, head.sum(axis=1) / depth, np.nan)
            ndcg[block] = np.where(relevant > 0, dcg / best, np.nan)
    return {"ap": ap, "precision": precision, "ndcg": ndcg}


def average_precisions(similarity: np.ndarray, relevance: np.ndarray) -> np.ndarray:
    """(q,) average precision of each query's ranking of the whole database; NaN without relevant items.

    `similarity` and `relevance` are (q, N). Items are ranked by descending similarity (ties keep
    database order, a stable sort). AP = (1/R) Σ_k P@k · rel_k.
    """
    return ranking_metrics(similarity, relevance)["ap"]


def mean_average_precision(similarity: np.ndarray, relevance: np.ndarray) -> float:
    """mAP in [0, 1] over the queries that have at least one relevant database item."""
    ap = average_precisions(similarity, relevance)
    if not np.any(np.isfinite(ap)):
        raise InvalidInputError(
            "no query has a relevant database item",
            hint="check the labels: every class needs at least two images to be retrievable",
        )
    return float(np.nanmean(ap))


def clustering_accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
    """ACC: the best one-to-one mapping of clusters to classes (Hungarian), as a fraction."""
    labels = np.asarray(labels)
    clusters = np.asarray(clusters)
    if labels.shape != clusters.shape or labels.ndim != 1:
        raise DimensionMismatchError(f"labels {labels.shape} and clusters {clusters.shape} must be (n,)")
    _, label_index = np.unique(labels, return_inverse=True)
    _, cluster_index = np.unique(clusters, return_inverse=True)
    counts = np.zeros((cluster_index.max() + 1, label_index.max() + 1), dtype=np.int64)
    np.add.at(counts, (cluster_index, label_index), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / labels.size)


def clustering_scores(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """NMI / ACC / ARI in percent (CRL Table 2 reports them so)."""
    return {
        "nmi": 100.0 * float(normalized_mutual_info_score(labels, clusters)),
        "acc": 100.0 * clustering_accuracy(labels, clusters),
        "ari": 100.0 * float(adjusted_rand_score(labels, clusters)),
    }


def spearman(scores: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation between predicted scores and the true attribute (ties averaged)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if scores.shape != truth.shape or scores.ndim != 1 or scores.size < 2:
        raise DimensionMismatchError(f"scores {scores.shape} and truth {truth.shape} must be (n,), n >= 2")
    if np.ptp(scores) == 0 or np.ptp(truth) == 0:
        return 0.0
    return float(spearmanr(scores, truth).statistic)


def confidence_interval(values: np.ndarray | list[float], level: float = 0.95) -> tuple[float, float]:
    """The Student-t interval of the mean of `values` (e.g. one score per split seed) at `level`.

    mean ± t_{(1+level)/2, n−1} · s / √n with s the sample standard deviation; a single value gives
    the degenerate interval [value, value].
    """
    samples = np.asarray(values, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0 or not np.all(np.isfinite(samples)):
        raise InvalidInputError(f"a confidence interval needs finite values, got {samples.tolist()!r}")
    mean = float(samples.mean())
    if samples.size == 1:
        return mean, mean
    quantile = float(student_t.ppf((1.0 + level) / 2.0, samples.size - 1))
    half = quantile * float(samples.std(ddof=1)) / float(np.sqrt(samples.size))
    return mean - half, mean + half
