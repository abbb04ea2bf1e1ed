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
Outputs follow FAISS: (scores, ids), both shaped (n_queries, k); id −1 marks an empty slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods._validation import F32, F64, as_matrix64, unit_rows, unit_vector

Ids = npt.NDArray[np.int64]


def top_k(scores: npt.ArrayLike, k: int) -> tuple[F32, Ids]:
    """The k best columns of each row of a (q, N) score matrix, FAISS style: (scores, ids) (q, k),
    best first; ties broken by lower id; k > N pads with score −inf and id −1."""
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidInputError(
            f"scores must be 2-D (q, N), got shape {matrix.shape}.", hint="One row per query."
        )
    if k < 1:
        raise InvalidInputError(f"k={k} must be positive.", hint="Ask for at least one result.")
    if np.isnan(matrix).any():
        raise InvalidInputError("scores contain NaN.", hint="Check the embeddings that produced them.")
    count = matrix.shape[1]
    kept = min(k, count)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :kept]
    out_scores = np.full((matrix.shape[0], k), -np.inf, dtype=np.float32)
    out_ids = np.full((matrix.shape[0], k), -1, dtype=np.int64)
    out_scores[:, :kept] = np.take_along_axis(matrix, order, axis=1)
    out_ids[:, :kept] = order
    return out_scores, out_ids


def hungarian_match_score(query_parts: npt.ArrayLike, candidate_parts: npt.ArrayLike) -> float:
    """M = (1/m) Σ_i cos(a_i, b_π(i)) for the optimal assignment π of the m query parts to the n
    candidate parts (minimising Σ 1 − cos); with n < m the m − n unmatched parts contribute 0."""
    parts = unit_rows(as_matrix64(query_parts, "query_parts"))
    candidate = np.asarray(candidate_parts)
    if candidate.ndim == 2 and candidate.shape[0] == 0:
        return 0.0
    others = unit_rows(as_matrix64(candidate, "candidate_parts", dim=parts.shape[1], dim_name="query_parts"))
    cosines = parts @ others.T
    rows, columns = linear_sum_assignment(1.0 - cosines)
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
            match = hungarian_match_score(parts, candidate_parts[int(candidate)])
            final[query_index, slot] = (1.0 - weight) * scores[query_index, slot] + weight * match
    return _resort(final, ids, k)


def neighbourhood_rerank(
    query_embeddings: npt.ArrayLike,
    database_embeddings: npt.ArrayLike,
    initial_scores: npt.ArrayLike,
    initial_ids: npt.ArrayLike,
    *,
    n_neighbors: int = 10,
    weight: float = 0.5,
    k: int | None = None,
) -> tuple[F32, Ids]:
    """Re-rank by neighbourhood consistency: M(q, x) = mean cosine of the optimal assignment between
    the n_neighbors nearest database items of q and those of x (x itself excluded from its own set),
    then s = (1 − w)·s0 + w·M. Costs O(K·N·d) per query for the candidates' neighbourhoods."""
    queries = unit_rows(as_matrix64(query_embeddings, "query_embeddings"))
    database = unit_rows(
        as_matrix64(
            database_embeddings, "database_embeddings", dim=queries.shape[1], dim_name="query_embeddings"
        )
    )
    scores, ids = _check_initial(initial_scores, initial_ids)
    _check_weight(weight)
    if scores.shape[0] != queries.shape[0]:
        raise DimensionMismatchError(
            f"{queries.shape[0]} queries but {scores.shape[0]} rows of initial results.",
            hint="Pass the first-stage results of these queries.",
        )
    if n_neighbors < 1 or n_neighbors >= database.shape[0]:
        raise InvalidInputError(
            f"n_neighbors={n_neighbors} must be in [1, {database.shape[0] - 1}] "
            f"for {database.shape[0]} items.",
            hint="Use a neighbourhood smaller than the database, e.g. 10.",
        )
    if ids.max(initial=-1) >= database.shape[0]:
        raise InvalidInputError(
            "initial_ids refer to items beyond the database.", hint="Use ids from this database."
        )
    final = scores.copy()
    for query_index in range(queries.shape[0]):
        query_neighbours = database[
            np.argsort(-(database @ queries[query_index]), kind="stable")[:n_neighbors]
        ]
        valid_slots = np.flatnonzero(ids[query_index] >= 0)
        candidates = ids[query_index, valid_slots]
        candidate_scores = database[candidates] @ database.T
        candidate_scores[np.arange(candidates.size), candidates] = -np.inf
        for row, slot in enumerate(valid_slots):
            neighbours = database[np.argsort(-candidate_scores[row], kind="stable")[:n_neighbors]]
            cosines = query_neighbours @ neighbours.T
            rows, columns = linear_sum_assignment(1.0 - cosines)
            match = float(cosines[rows, columns].mean())
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
    """(q, d) float32 steered queries q' = normalize(q̂ + β·δ) (§3.1 stage 2)."""
    queries = unit_rows(as_matrix64(query_embeddings, "query_embeddings"))
    direction = steering_direction(positive_embeddings, negative_embeddings)
    if direction.shape[0] != queries.shape[1]:
        raise DimensionMismatchError(
            f"Queries have dimension {queries.shape[1]} but the steering sets have {direction.shape[0]}.",
            hint="Encode queries and contrast sets with the same model.",
        )
    if not np.isfinite(beta):
        raise InvalidInputError(f"beta={beta} must be finite.", hint="Typical values are 0.1 to 1.0.")
    steered = queries + beta * direction[None, :]
    norms = np.linalg.norm(steered, axis=1)
    if (norms <= 1e-12).any():
        raise InvalidInputError("A steered query cancels to zero (q = −β·δ).", hint="Use a smaller beta.")
    return np.asarray(steered / norms[:, None], dtype=np.float32)
