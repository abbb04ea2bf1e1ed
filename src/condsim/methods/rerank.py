"""Geometry-aware re-ranking and local steering: a documented RECONSTRUCTION of GA-CLIP (methods.md §3.1).

The GA-CLIP method text was not available; its abstract names Hungarian-matching re-ranking that
rewards structural consistency and query-conditioned steering from contrastive neighbourhoods. This
module implements the reconstruction of §3.1, not the paper's exact algorithm:

* `hungarian_rerank` (stage 1, part matching): the query's parts A (m, d) and each top-K candidate's
  parts B (n, d) are matched by `scipy.optimize.linear_sum_assignment` on C_ij = 1 − cos(a_i, b_j)
  (rectangular allowed; unmatched query parts score 0); M = (1/m) Σ_i cos(a_i, b_π(i)); final score
  (1 − w)·s0 + w·M. The optional structure term and FGW transport of §3.1 are not implemented.
* `neighbourhood_rerank` (stage 1, neighbourhood reading): M is the mean matched cosine of the optimal
  assignment between the candidate's kNN set and the query's kNN set in the database.
* `steer_query` (stage 2): q' = normalize(q + β·δ), δ = normalize(mean f(P) − mean f(N)).
`nearest_ids`, `top_k` and `database_neighbours` find kNN sets by argpartition with the tie-breaking
of a stable argsort (lower id first). Outputs follow FAISS: (scores, ids), both shaped (n_queries, k);
id −1 marks an empty slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods._validation import (
    F32,
    F64,
    FloatArray,
    as_matrix64,
    as_unit_rows,
    unit_rows,
    unit_vector,
)

Ids = npt.NDArray[np.int64]


def _linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`scipy.optimize.linear_sum_assignment`, imported on first use: scipy.optimize takes about a
    second to import, which every command importing `condsim.methods` but never re-ranking paid."""
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(cost)
    return np.asarray(rows), np.asarray(columns)


def _nearest(scores: npt.NDArray[np.floating[Any]], count: int) -> Ids:
    """`nearest_ids` without the input checks (scores 2-D, NaN-free, 1 <= count <= columns).

    argpartition selects `count` columns in O(N) per row; a row whose boundary value also occurs
    outside the selection (a tie across the cut, where argpartition may keep a higher id) is redone
    with a stable argsort, so the selected set is always the lower-id one.
    """
    columns = scores.shape[1]
    if count >= columns:
        return np.argsort(-scores, axis=1, kind="stable")[:, :count].astype(np.int64, copy=False)
    candidates = np.argpartition(-scores, count - 1, axis=1)[:, :count]
    values = np.take_along_axis(scores, candidates, axis=1)
    boundary = values.min(axis=1, keepdims=True)
    tied_across = (scores == boundary).sum(axis=1) > (values == boundary).sum(axis=1)
    for row in np.flatnonzero(tied_across):
        candidates[row] = np.argsort(-scores[row], kind="stable")[:count]
        values[row] = scores[row, candidates[row]]
    order = np.lexsort((candidates, -values), axis=1)
    return np.take_along_axis(candidates, order, axis=1).astype(np.int64, copy=False)


def _score_matrix(scores: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
    matrix = np.asarray(scores)
    if not np.issubdtype(matrix.dtype, np.floating):
        matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidInputError(
            f"scores must be 2-D (q, N), got shape {matrix.shape}.", hint="One row per query."
        )
    if np.isnan(matrix).any():
        raise InvalidInputError("scores contain NaN.", hint="Check the embeddings that produced them.")
    return matrix


def nearest_ids(scores: npt.ArrayLike, count: int) -> Ids:
    """(q, count) column ids of the `count` largest scores of each row, best first, ties broken by
    lower id: exactly ``np.argsort(-scores, axis=1, kind="stable")[:, :count]``, but O(N + count·log
    count) per row instead of O(N log N) (argpartition, then a sort of the selected columns only)."""
    matrix = _score_matrix(scores)
    if not 1 <= count <= matrix.shape[1]:
        raise InvalidInputError(
            f"count={count} must be in [1, {matrix.shape[1]}] for {matrix.shape[1]} columns.",
            hint="Use top_k to pad when asking for more results than there are columns.",
        )
    return _nearest(matrix, count)


def top_k(scores: npt.ArrayLike, k: int) -> tuple[F32, Ids]:
    """The k best columns of each row of a (q, N) score matrix, FAISS style: (scores, ids) (q, k),
    best first; ties broken by lower id; k > N pads with score −inf and id −1."""
    matrix = _score_matrix(scores)
    if k < 1:
        raise InvalidInputError(f"k={k} must be positive.", hint="Ask for at least one result.")
    kept = min(k, matrix.shape[1])
    order = _nearest(matrix, kept)
    out_scores = np.full((matrix.shape[0], k), -np.inf, dtype=np.float32)
    out_ids = np.full((matrix.shape[0], k), -1, dtype=np.int64)
    out_scores[:, :kept] = np.take_along_axis(matrix, order, axis=1)
    out_ids[:, :kept] = order
    return out_scores, out_ids


def _neighbours_of(database: FloatArray, rows: Ids, count: int, block: int) -> Ids:
    """(len(rows), count) ids of the nearest other database items of each item in `rows` (cosine of
    unit rows), itself excluded; `block` rows of scores at a time bound memory to block·N floats."""
    neighbours = np.empty((rows.size, count), dtype=np.int64)
    for start in range(0, rows.size, block):
        chunk = rows[start : start + block]
        scores = database[chunk] @ database.T
        scores[np.arange(chunk.size), chunk] = -np.inf
        neighbours[start : start + chunk.size] = _nearest(scores, count)
    return neighbours


def _check_block(block: int) -> None:
    if block < 1:
        raise InvalidInputError(f"block={block} must be positive.", hint="Use e.g. 1024 rows per block.")


def database_neighbours(database: npt.ArrayLike, count: int, *, block: int = 1024) -> Ids:
    """(N, count) ids of each database item's `count` nearest other items by cosine, best first (ties:
    lower id), the item itself excluded: the kNN sets of §3.1's neighbourhood reading, computed once
    for all items (O(N²·d)) so that a caller re-ranking many queries can pass them to
    `neighbourhood_rerank(..., database_neighbour_ids=...)`. Scores are formed `block` rows at a time."""
    items = as_unit_rows(database, "database")
    _check_block(block)
    if not 1 <= count < items.shape[0]:
        raise InvalidInputError(
            f"count={count} must be in [1, {items.shape[0] - 1}] for {items.shape[0]} items.",
            hint="Use a neighbourhood smaller than the database, e.g. 10.",
        )
    return _neighbours_of(items, np.arange(items.shape[0], dtype=np.int64), count, block)


def hungarian_match_score(query_parts: npt.ArrayLike, candidate_parts: npt.ArrayLike) -> float:
    """M = (1/m) Σ_i cos(a_i, b_π(i)) for the optimal assignment π of the m query parts to the n
    candidate parts (minimising Σ 1 − cos); with n < m the m − n unmatched parts contribute 0."""
    parts = unit_rows(as_matrix64(query_parts, "query_parts"))
    candidate = np.asarray(candidate_parts)
    if candidate.ndim == 2 and candidate.shape[0] == 0:
        return 0.0
    others = unit_rows(as_matrix64(candidate, "candidate_parts", dim=parts.shape[1], dim_name="query_parts"))
    cosines = parts @ others.T
    rows, columns = _linear_sum_assignment(1.0 - cosines)
    return float(cosines[rows, columns].sum() / parts.shape[0])


def _check_initial(initial_scores: npt.ArrayLike, initial_ids: npt.ArrayLike) -> tuple[F64, Ids]:
    scores = np.asarray(initial_scores, dtype=np.float64)
    ids = np.asarray(initial_ids)
    if scores.ndim != 2 or scores.shape != ids.shape:
        raise DimensionMismatchError(
            f"initial_scores {scores.shape} and initial_ids {ids.shape} must both be (n_queries, K).",
            hint="Pass the (scores, ids) pair of a first-stage search (e.g. condsim.methods.top_k).",
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidInputError(
            f"initial_ids must be integers, got {ids.dtype}.", hint="Use the ids from top_k."
        )
    return scores, ids.astype(np.int64)


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise InvalidInputError(f"weight={weight} must lie in [0, 1].", hint="0 keeps the first-stage order.")


def _resort(scores: F64, ids: Ids, k: int | None) -> tuple[F32, Ids]:
    valid = ids >= 0
    scores = np.where(valid, scores, -np.inf)
    order = np.lexsort((np.where(valid, ids, np.iinfo(np.int64).max), -scores), axis=1)
    kept = scores.shape[1] if k is None else min(k, scores.shape[1])
    if k is not None and k < 1:
        raise InvalidInputError(f"k={k} must be positive.", hint="Ask for at least one result.")
    sorted_scores = np.take_along_axis(scores, order, axis=1)[:, :kept]
    sorted_ids = np.take_along_axis(ids, order, axis=1)[:, :kept]
    return sorted_scores.astype(np.float32), sorted_ids


def hungarian_rerank(
    initial_scores: npt.ArrayLike,
    initial_ids: npt.ArrayLike,
    query_parts: Sequence[npt.ArrayLike],
    candidate_parts: Sequence[npt.ArrayLike] | Mapping[int, npt.ArrayLike],
    *,
    weight: float = 0.5,
    k: int | None = None,
) -> tuple[F32, Ids]:
    """Re-rank each query's top-K by s = (1 − w)·s0 + w·M with M the Hungarian part-match score.

    `query_parts[i]` (m_i, d) are query i's part embeddings; `candidate_parts[id]` (n, d) are database
    item `id`'s parts (an empty (0, d) array scores M = 0). Returns (scores, ids) (n_queries, k or K).
    """
    scores, ids = _check_initial(initial_scores, initial_ids)
    _check_weight(weight)
    if len(query_parts) != scores.shape[0]:
        raise DimensionMismatchError(
            f"{len(query_parts)} query part sets for {scores.shape[0]} queries.",
            hint="Give one (m, d) array of parts per query.",
        )
    final = scores.copy()
    for query_index, parts in enumerate(query_parts):
        for slot, candidate in enumerate(ids[query_index]):
            if candidate < 0:
                continue
            try:
                parts_of_candidate = candidate_parts[int(candidate)]
            except (KeyError, IndexError):
                raise InvalidInputError(
                    f"candidate_parts has no entry for database item {int(candidate)}, which is in the "
                    f"top-K of query {query_index}.",
                    hint="Give parts for every id in initial_ids (an empty (0, d) array scores 0).",
                ) from None
            match = hungarian_match_score(parts, parts_of_candidate)
            final[query_index, slot] = (1.0 - weight) * scores[query_index, slot] + weight * match
    return _resort(final, ids, k)


def _check_neighbour_ids(neighbour_ids: npt.ArrayLike, items: int, n_neighbors: int) -> Ids:
    ids = np.asarray(neighbour_ids)
    if ids.shape != (items, n_neighbors):
        raise DimensionMismatchError(
            f"database_neighbour_ids has shape {ids.shape}, expected ({items}, {n_neighbors}) "
            "(one row of n_neighbors ids per database item).",
            hint="Compute them with database_neighbours(database, n_neighbors) on this database.",
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidInputError(
            f"database_neighbour_ids must be integers, got {ids.dtype}.", hint="Use database_neighbours."
        )
    if ids.size and (ids.min() < 0 or ids.max() >= items):
        raise InvalidInputError(
            "database_neighbour_ids refer to items outside the database.",
            hint="Compute them with database_neighbours on this database.",
        )
    if (ids == np.arange(items)[:, None]).any():
        raise InvalidInputError(
            "database_neighbour_ids list an item as its own neighbour.",
            hint="Each item's kNN set excludes the item itself; use database_neighbours.",
        )
    return ids.astype(np.int64, copy=False)


def neighbourhood_rerank(
    query_embeddings: npt.ArrayLike,
    database_embeddings: npt.ArrayLike,
    initial_scores: npt.ArrayLike,
    initial_ids: npt.ArrayLike,
    *,
    n_neighbors: int = 10,
    weight: float = 0.5,
    k: int | None = None,
    database_neighbour_ids: npt.ArrayLike | None = None,
    block: int = 1024,
) -> tuple[F32, Ids]:
    """Re-rank by neighbourhood consistency: M(q, x) = mean cosine of the optimal assignment between
    the n_neighbors nearest database items of q and those of x (x itself excluded from its own set),
    then s = (1 − w)·s0 + w·M (§3.1, neighbourhood reading).

    kNN sets are ranked in the inputs' precision (float32 stays float32) with ties broken by lower id;
    the matched cosines and s are computed in float64. Each distinct candidate's kNN set is found once
    for all queries (O(C·N·d) for C distinct candidates, `block` rows at a time); a caller that
    re-ranks many query batches on one database can instead pass `database_neighbour_ids`, the
    (N, n_neighbors) output of `database_neighbours(database, n_neighbors)`, computed once.
    `block` bounds memory: rows of scores, and query–candidate pairs, handled at a time.
    """
    database = as_unit_rows(database_embeddings, "database_embeddings")
    queries = as_unit_rows(
        query_embeddings, "query_embeddings", dim=database.shape[1], dim_name="database_embeddings"
    ).astype(database.dtype, copy=False)
    scores, ids = _check_initial(initial_scores, initial_ids)
    _check_weight(weight)
    _check_block(block)
    if scores.shape[0] != queries.shape[0]:
        raise DimensionMismatchError(
            f"{queries.shape[0]} queries but {scores.shape[0]} rows of initial results.",
            hint="Pass the first-stage results of these queries.",
        )
    items = database.shape[0]
    if n_neighbors < 1 or n_neighbors >= items:
        raise InvalidInputError(
            f"n_neighbors={n_neighbors} must be in [1, {items - 1}] for {items} items.",
            hint="Use a neighbourhood smaller than the database, e.g. 10.",
        )
    if ids.max(initial=-1) >= items:
        raise InvalidInputError(
            "initial_ids refer to items beyond the database.", hint="Use ids from this database."
        )
    valid = ids >= 0
    candidates = np.unique(ids[valid])
    if database_neighbour_ids is None:
        candidate_neighbours = _neighbours_of(database, candidates, n_neighbors, block)
    else:
        candidate_neighbours = _check_neighbour_ids(database_neighbour_ids, items, n_neighbors)[candidates]
    query_neighbours = np.empty((queries.shape[0], n_neighbors), dtype=np.int64)
    for start in range(0, queries.shape[0], block):
        query_neighbours[start : start + block] = _nearest(
            queries[start : start + block] @ database.T, n_neighbors
        )
    final = scores.copy()
    query_rows, slots = np.nonzero(valid)
    candidate_rows = np.searchsorted(candidates, ids[query_rows, slots])
    for start in range(0, query_rows.size, block):
        pairs = slice(start, start + block)
        query_sets = np.asarray(database[query_neighbours[query_rows[pairs]]], dtype=np.float64)
        candidate_sets = np.asarray(database[candidate_neighbours[candidate_rows[pairs]]], dtype=np.float64)
        cosines = np.matmul(query_sets, candidate_sets.transpose(0, 2, 1))
        for pair, pair_cosines in enumerate(cosines):
            matched_rows, matched_columns = _linear_sum_assignment(1.0 - pair_cosines)
            match = float(pair_cosines[matched_rows, matched_columns].mean())
            query_index, slot = query_rows[start + pair], slots[start + pair]
            final[query_index, slot] = (1.0 - weight) * scores[query_index, slot] + weight * match
    return _resort(final, ids, k)


def steering_direction(positive_embeddings: npt.ArrayLike, negative_embeddings: npt.ArrayLike) -> F64:
    """δ = normalize(mean f(P) − mean f(N)) from contrastive positive / negative embedding sets."""
    positives = unit_rows(as_matrix64(positive_embeddings, "positive_embeddings"))
    negatives = unit_rows(
        as_matrix64(
            negative_embeddings, "negative_embeddings", dim=positives.shape[1], dim_name="positive_embeddings"
        )
    )
    difference = positives.mean(axis=0) - negatives.mean(axis=0)
    if float(np.linalg.norm(difference)) <= 1e-12:
        raise InvalidInputError(
            "Positive and negative sets have the same mean, so there is no steering direction.",
            hint="Use negatives that differ from the positives in the attribute to steer.",
        )
    return unit_vector(difference)


def steer_query(
    query_embeddings: npt.ArrayLike,
    positive_embeddings: npt.ArrayLike,
    negative_embeddings: npt.ArrayLike,
    *,
    beta: float = 0.5,
) -> F32:
    """(q, d) float32 steered queries q' = normalize(q̂ + β·δ) (§3.1 stage 2).

    β = 0.5 is our reconstruction's default, not a paper value; on condsim's rendered suites a
    validation split prefers much harder steering (β = 8, `condsim bench` sensitivity).
    """
    queries = unit_rows(as_matrix64(query_embeddings, "query_embeddings"))
    direction = steering_direction(positive_embeddings, negative_embeddings)
    if direction.shape[0] != queries.shape[1]:
        raise DimensionMismatchError(
            f"Queries have dimension {queries.shape[1]} but the steering sets have {direction.shape[0]}.",
            hint="Encode queries and contrast sets with the same model.",
        )
    if not np.isfinite(beta):
        raise InvalidInputError(
            f"beta={beta} must be finite.", hint="Use a finite beta: 0.5 (the default) to about 8."
        )
    steered = queries + beta * direction[None, :]
    norms = np.linalg.norm(steered, axis=1)
    if (norms <= 1e-12).any():
        raise InvalidInputError("A steered query cancels to zero (q = −β·δ).", hint="Use a smaller beta.")
    return np.asarray(steered / norms[:, None], dtype=np.float32)
