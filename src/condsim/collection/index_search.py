"""Ranking through a backend's vector index instead of a full (q × N) score matrix.

Used when a store is too large for a scan (a local store above `AnnConfig.threshold`) or lives in
Milvus. Each score term (one condition, or the stacked conditions) is a materialised vector set of the
backend (`StorageBackend.materialize`), named by the fitted space's fingerprint:

* one term of weight 1 (plain similarity, one condition, or combine="stack"): the backend's top-k in
  that set is the answer, and the score is the term's contribution;
* several weighted terms, score = Σ_c w_c·cos_c: each term's index proposes its top `depth`
  candidates, and the union is re-scored exactly from the candidates' vectors in every set, so the
  scores and contributions are exact and only a row that no term ranks in its top `depth` can be
  missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from condsim.collection.backends.protocol import StorageBackend, pad_results

Contributions = list[list[dict[str, float]]]

#: candidates each term proposes, as a multiple of k (at least `MIN_DEPTH`)
DEPTH_FACTOR = 4
MIN_DEPTH = 50


@dataclass(frozen=True)
class IndexedTerm:
    """A score term: its name, weight w_c, the backend's vector set, and the queries in that space."""

    name: str
    weight: float
    vector_set: str
    queries: np.ndarray  # (q, m) float32 rows, in the set's space


def ranked_by_index(
    backend: StorageBackend, terms: Sequence[IndexedTerm], own_rows: Sequence[int | None], k: int
) -> tuple[np.ndarray, np.ndarray, Contributions]:
    """(scores, rows) shaped (q, k) best first and each hit's contributions {term name: w_c·cos_c};
    plain similarity is one term named "" (its contributions are empty, as in the exact path)."""
    if len(terms) == 1 and terms[0].weight == 1.0:
        term = terms[0]
        scores, rows = backend.search(term.queries, k, vector_set=term.vector_set, exclude_rows=own_rows)
        contributions = [
            [{term.name: float(s)} if term.name and r >= 0 else {} for s, r in zip(qs, qr, strict=True)]
            for qs, qr in zip(scores, rows, strict=True)
        ]
        return scores, rows, contributions
    depth = max(DEPTH_FACTOR * k, MIN_DEPTH)
    proposals = [
        backend.search(term.queries, depth, vector_set=term.vector_set, exclude_rows=own_rows)[1]
        for term in terms
    ]
    all_scores: list[np.ndarray] = []
    all_rows: list[np.ndarray] = []
    contributions = []
    for query in range(len(own_rows)):
        candidates = np.unique(np.concatenate([found[query] for found in proposals]))
        candidates = candidates[candidates >= 0]
        parts = np.stack(
            [
                np.float32(term.weight)
                * (backend.set_vectors(term.vector_set, candidates) @ term.queries[query])
                for term in terms
            ]
        )
        totals = parts.sum(axis=0)
        order = np.lexsort((candidates, -totals))[:k]
        all_scores.append(totals[order].astype(np.float32))
        all_rows.append(candidates[order])
        contributions.append(
            [{term.name: float(parts[t, i]) for t, term in enumerate(terms)} for i in order]
            + [{} for _ in range(k - len(order))]
        )
    best, rows = pad_results(all_scores, all_rows, k)
    return best, rows, contributions
