"""The score terms of `Collection`'s conditional queries: each condition's fitted space (with its
weight w_c and prompt embeddings), applied either to the whole database (a scan, `ranking.py`) or
through the backend's vector index (`index_search.py`) when the store is too large for a scan or
lives in Milvus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from condsim.collection import ranking
from condsim.collection.backends.protocol import RAW, StorageBackend
from condsim.collection.index_search import IndexedTerm, ranked_by_index
from condsim.collection.queries import Query
from condsim.collection.query_inputs import check_weight
from condsim.collection.space_cache import ConditionLike, SpaceCache, vector_set_name
from condsim.errors import InvalidInputError
from condsim.methods import normalize_weights

if TYPE_CHECKING:
    from condsim.methods.spaces import ConditionalSpace

__all__ = ["ScoreTerms"]


class ScoreTerms:
    """The score-term methods of `Collection` (which provides the attributes declared below)."""

    if TYPE_CHECKING:
        backend: StorageBackend
        _spaces: SpaceCache
        _damaged: bool

        @property
        def _database(self) -> np.ndarray: ...

        @property
        def _tag(self) -> str: ...

        def image_mean(self) -> np.ndarray: ...

    def _terms(
        self,
        by: Sequence[ConditionLike],
        method: str,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str,
    ) -> list[ranking.Term]:
        """One score term per condition ("mean"), or one for all of them ("stack")."""
        fitted = self._fitted_terms(by, method, not_, weights, combine)
        return [
            ranking.Term(name, weight, space, self._transformed(method, space), prompts)
            for name, weight, space, prompts in fitted
        ]

    def _transformed(self, method: str, space: ConditionalSpace) -> np.ndarray:
        return self._spaces.transformed(method, space, self._database, self._tag)

    def _fitted_terms(
        self,
        by: Sequence[ConditionLike],
        method: str,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str,
    ) -> list[tuple[str, float, ConditionalSpace, np.ndarray]]:
        """(name, weight, fitted space, prompt embeddings) of each score term, nothing transformed yet."""
        resolved = [self._spaces.resolve(condition) for condition in by]
        names = [item.name for item in resolved]
        negatives = [self._spaces.resolve(condition) for condition in not_]  # checked in `_scores`
        weight_of = _condition_weights(names, weights, combine)
        groups = [resolved] if combine == "stack" else [[item] for item in resolved]
        terms = []
        for group in groups:
            space = self._spaces.fitted(method, group, self.image_mean, negatives=negatives)
            name = "+".join(item.name for item in group)
            prompts = np.vstack([item.prompts_for(method) for item in group])
            terms.append((name, weight_of.get(name, 1.0), space, prompts))
        return terms

    def _uses_index(self) -> bool:
        """Whether top-k queries go through the backend's index: always for Milvus, for a local store
        above the FAISS threshold (`AnnConfig.threshold`) unless damaged rows are left out."""
        return not self._damaged and self.backend.indexed_search()

    def _ranked_by_index(
        self,
        query: Query,
        by: Sequence[ConditionLike],
        method: str,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str,
        k: int,
        *,
        text_query: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, ranking.Contributions]:
        """Top k from the backend's vector sets (`index_search.py`): the raw set for plain similarity,
        each term's materialised set (built on its first query, rebuilt when the store changed)."""
        if method == "plain" or not by:
            terms = [IndexedTerm("", 1.0, RAW, query.embeddings)]
        else:
            terms = []
            space_method = "clay" if method == "rerank" else method
            for name, weight, space, _ in self._fitted_terms(by, space_method, not_, weights, combine):
                vector_set = vector_set_name(space_method, space)
                self.backend.materialize(vector_set, space.transform)
                to_space = space.transform_texts if text_query else space.transform
                mapped = np.asarray(to_space(query.embeddings), dtype=np.float32)
                terms.append(IndexedTerm(name, weight, vector_set, mapped))
        return ranked_by_index(self.backend, terms, query.own_rows, k)


def _condition_weights(
    names: list[str], weights: Mapping[str, float] | None, combine: str
) -> dict[str, float]:
    """Each condition's weight w_c by name (`condsim.methods.normalize_weights`; a condition that
    `weights` leaves out weighs 1 before normalisation)."""
    if weights is None:
        return dict(zip(names, normalize_weights(None, len(names)).tolist(), strict=True))
    if combine == "stack":
        raise InvalidInputError("weights are not used with combine='stack'", hint="use combine='mean'")
    unknown = set(weights) - set(names)
    if unknown:
        raise InvalidInputError(
            f"weights name conditions not in by: {sorted(unknown)}", hint=f"weights may use {names}"
        )
    values = [check_weight(name, weights.get(name, 1.0)) for name in names]
    return dict(zip(names, normalize_weights(values, len(names)).tolist(), strict=True))
