"""Scores and rankings of a collection's queries: per-condition terms, their weighted sum, the top k
(`condsim.methods.top_k`: best first, ties to the lower row), and the neighbourhood re-ranking.

Several conditions ``by=[a, b]`` are combined with the "mean" rule of `condsim.methods.weighting`,
score = Σ_c w_c·cos_c with Σ w_c = 1, each condition in its own cached space; the terms w_c·cos_c are
kept as each hit's contributions, which add up to its score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from condsim.collection.compose import TextShift
from condsim.errors import CondsimWarning
from condsim.methods.rerank import neighbourhood_rerank, top_k
from condsim.methods.spaces import ConditionalSpace

Contributions = list[list[dict[str, float]]]
#: the largest |score| a sum of weighted cosines of unit rows can reach, with float16 rounding slack
MAX_SCORE = 1.01


@dataclass(frozen=True)
class Term:
    """One term of the score: a condition (or the stacked conditions), its weight w_c, its fitted
    space, the database transformed into that space, and the prompts the space was fitted on (which
    tell a text modifier which term it is about, `compose.relevant_term`)."""

    name: str
    weight: float
    space: ConditionalSpace
    database: np.ndarray
    prompt_embeddings: np.ndarray | None = None


@dataclass(frozen=True)
class Scores:
    """(q, N) total scores and each term's (q, N) weighted part; `query_blocks` and `database_blocks`
    are the spaces the totals are inner products of (one block per term, weighted by √w_c when
    joined), kept for re-ranking."""

    total: np.ndarray
    parts: list[tuple[str, np.ndarray]]
    query_blocks: list[np.ndarray]
    database_blocks: list[tuple[np.ndarray, float]]

    def joint_space(self) -> tuple[np.ndarray, np.ndarray]:
        """(queries, database) with the √w_c-weighted blocks side by side: their inner products are
        the totals. Built only when asked (re-ranking), since it copies the database."""
        scales = [np.float32(np.sqrt(weight)) for _, weight in self.database_blocks]
        queries = np.hstack([block * scale for block, scale in zip(self.query_blocks, scales, strict=True)])
        if len(self.database_blocks) == 1 and self.database_blocks[0][1] == 1.0:
            return queries, self.database_blocks[0][0]
        database = [block * scale for (block, _), scale in zip(self.database_blocks, scales, strict=True)]
        return queries, database[0] if len(database) == 1 else np.hstack(database)


def plain_scores(queries: np.ndarray, database: np.ndarray, *, shift: TextShift | None = None) -> Scores:
    """cos(v_q, v_d) on unit rows: the condition-blind baseline; `shift` moves the image queries
    towards a text first (`compose.py`)."""
    if shift is not None:
        queries = shift.apply(queries, shift.text_embedding, database)
    return Scores(np.asarray(queries @ database.T, dtype=np.float32), [], [queries], [(database, 1.0)])


def weighted_scores(
    queries: np.ndarray, terms: Sequence[Term], *, text_query: bool = False, shift: TextShift | None = None
) -> Scores:
    """Σ_c w_c·cos(z_c(q), z_c(d)) over the terms; texts are mapped by `transform_texts`; `shift`
    moves the image queries towards a text inside the space of its term (`compose.py`)."""
    total = np.zeros((len(queries), len(terms[0].database)), dtype=np.float32)
    parts: list[tuple[str, np.ndarray]] = []
    query_blocks: list[np.ndarray] = []
    for index, term in enumerate(terms):
        query_z = term.space.transform_texts(queries) if text_query else term.space.transform(queries)
        if shift is not None and index == shift.term:
            text_z = term.space.transform_texts(shift.text_embedding)
            query_z = shift.apply(query_z, text_z, term.database)
        part = np.asarray(query_z @ term.database.T, dtype=np.float32)
        if term.weight != 1.0:
            part *= np.float32(term.weight)
        total += part
        parts.append((term.name, part))
        query_blocks.append(query_z)
    return Scores(total, parts, query_blocks, [(term.database, term.weight) for term in terms])


def top(
    scores: np.ndarray, live_rows: np.ndarray, own_rows: Sequence[int | None], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, rows, positions) of the k best per query, best first, ties to the lower row; each
    query's own row is left out (its slot, if k reaches it, is padded with score -inf and row -1), and
    so is any non-finite score or one beyond ±`MAX_SCORE` (a damaged stored row), with a warning."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    # NaN, +inf or beyond ±MAX_SCORE: only damaged stored rows give these (-inf marks rows left out)
    impossible = np.isnan(scores) | ((np.abs(scores) > MAX_SCORE) & (scores != -np.inf))
    if impossible.any():
        scores[impossible] = -np.inf
        warnings.warn(
            CondsimWarning(
                f"{int(impossible.any(axis=0).sum())} stored embeddings give impossible scores (damaged) and "
                "are left out of the results: run `condsim check --store STORE --repair`"
            ),
            stacklevel=4,
        )
    for index, row in enumerate(own_rows):
        if row is not None:
            position = np.searchsorted(live_rows, row)
            if position < len(live_rows) and live_rows[position] == row:
                scores[index, position] = -np.inf
    best, positions = top_k(scores, k)
    rows = np.where(np.isfinite(best), live_rows[np.maximum(positions, 0)], -1)
    return best, rows, positions


def ranked(
    scores: Scores, live_rows: np.ndarray, own_rows: Sequence[int | None], k: int
) -> tuple[np.ndarray, np.ndarray, Contributions]:
    """(scores, rows) shaped (q, k) best first, and each hit's contributions (term name -> w_c·cos_c)."""
    best, rows, positions = top(scores.total, live_rows, own_rows, k)
    contributions: Contributions = [
        [
            {name: float(part[q, p]) for name, part in scores.parts} if row >= 0 else {}
            for row, p in zip(rows[q], positions[q], strict=True)
        ]
        for q in range(len(rows))
    ]
    return best, rows, contributions


def reranked(
    scores: Scores,
    live_rows: np.ndarray,
    own_rows: Sequence[int | None],
    k: int,
    *,
    candidates: int,
    neighbors: int,
    weight: float,
) -> tuple[np.ndarray, np.ndarray, Contributions]:
    """The top `candidates` of `scores` re-ranked by neighbourhood consistency in the same space
    (`methods.neighbourhood_rerank`, methods.md §3.1): s = (1 − w)·s0 + w·M. Contributions are
    (1 − w)·(each term) and "neighbourhood" = w·M, so they still add up to the score."""
    size = len(live_rows)
    depth = min(max(k, candidates), size)
    first_scores, _, first_positions = top(scores.total, live_rows, own_rows, depth)
    space_queries, space_database = scores.joint_space()
    final, positions = neighbourhood_rerank(
        space_queries,
        space_database,
        np.where(np.isfinite(first_scores), first_scores, 0.0),
        np.where(np.isfinite(first_scores), first_positions, -1),
        n_neighbors=max(min(neighbors, size - 1), 1),
        weight=weight,
        k=k,
    )
    rows = np.where(positions >= 0, live_rows[np.maximum(positions, 0)], -1)
    final = np.where(rows >= 0, final, -np.inf).astype(np.float32)
    keep = 1.0 - weight
    contributions: Contributions = []
    for q in range(len(rows)):
        hits: list[dict[str, float]] = []
        for score, row, p in zip(final[q], rows[q], positions[q], strict=True):
            if row < 0:
                hits.append({})
                continue
            terms = {name: keep * float(part[q, p]) for name, part in scores.parts}
            terms["neighbourhood"] = float(score) - keep * float(scores.total[q, p])
            hits.append(terms)
        contributions.append(hits)
    return final, rows.astype(np.int64), contributions
