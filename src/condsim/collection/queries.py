"""A collection's queries: `similar`, `similar_batch`, `search` and `search_vectors`, as the `Queries`
half of `Collection` (state, conditions and query embedding live in `collection.py`).

One query runs: embed it (`Collection._embed_queries`), score it under its conditions (`_scores`:
one term per condition, `ranking.py`; an optional text moves an image query, `compose.py`), rank
(`_ranked`: top k, or the neighbourhood re-ranking), then drop what the caller does not want
(`_final`: duplicates of the query and of each other, `duplicates.py`; scores below a minimum;
images outside a path glob, masked before ranking so that k results still come back).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeAlias, TypeVar

import numpy as np
from PIL import Image

from condsim.collection import ranking
from condsim.collection.compose import (
    DEFAULT_TEXT_WEIGHT,
    TextShift,
    check_min_score,
    check_text_weight,
    path_mask,
    relevant_term,
)
from condsim.collection.duplicates import DuplicateFilter, RowSource, top_distinct
from condsim.collection.query_inputs import check_conditions
from condsim.conditions.condition import Condition
from condsim.errors import InvalidInputError
from condsim.methods import QUERY_METHODS, EmbeddedCondition, check_method, resolve_combine

if TYPE_CHECKING:
    from condsim.collection.backends.milvus import MilvusBackend
    from condsim.collection.collection import Result
    from condsim.collection.space_cache import ConditionLike
    from condsim.collection.store import Item, Store
    from condsim.encoders.base import Encoder

QueryInput: TypeAlias = "str | os.PathLike[str] | bytes | Image.Image | np.ndarray"


_Params = ParamSpec("_Params")
_Answer = TypeVar("_Answer")
_Self = TypeVar("_Self", bound="Queries")


def one_version(
    method: Callable[Concatenate[_Self, _Params], _Answer],
) -> Callable[Concatenate[_Self, _Params], _Answer]:
    """Run a query method on one store version (`Collection._one_version`): a concurrent index run
    never mixes its rows, items and vectors with the ones the query started from."""

    @functools.wraps(method)
    def on_one_version(self: _Self, /, *args: _Params.args, **kwargs: _Params.kwargs) -> _Answer:
        with self._one_version():
            return method(self, *args, **kwargs)

    return on_one_version


@dataclass(frozen=True)
class Query:
    """Embedded queries: (q, d) float32 unit rows, each query's own row in the store (left out of its
    results) and its file's content hash (its copies are dropped as duplicates)."""

    embeddings: np.ndarray
    own_rows: tuple[int | None, ...]
    hashes: tuple[str | None, ...] = ()


class Queries:
    """The query methods of `Collection` (which provides the attributes declared below)."""

    if TYPE_CHECKING:
        store: Store | MilvusBackend
        duplicate_threshold: float
        rerank_candidates: int
        rerank_neighbors: int
        rerank_weight: float
        _live_rows: np.ndarray

        @property
        def _database(self) -> np.ndarray: ...

        def _uses_index(self) -> bool: ...

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
        ) -> tuple[np.ndarray, np.ndarray, ranking.Contributions]: ...

        @property
        def encoder(self) -> Encoder: ...

        def _sync(self) -> None: ...

        def _one_version(self) -> contextlib.AbstractContextManager[None]: ...

        def _snapshot_items(self) -> list[Item]: ...

        def _synced_rows(self) -> RowSource: ...

        def _check_k(self, k: int) -> int: ...

        def _ids_of(self, rows: np.ndarray) -> np.ndarray: ...

        def _check_vectors(self, matrix: np.ndarray) -> np.ndarray: ...

        def _embed_queries(self, queries: Sequence[QueryInput] | np.ndarray) -> Query: ...

        def _terms(
            self,
            by: Sequence[ConditionLike],
            method: str,
            not_: Sequence[ConditionLike],
            weights: Mapping[str, float] | None,
            combine: str,
        ) -> list[ranking.Term]: ...

        def _results(
            self, best: np.ndarray, rows: np.ndarray, contributions: ranking.Contributions
        ) -> list[list[Result]]: ...

    def _scores(
        self,
        query: Query,
        by: Sequence[ConditionLike],
        method: str,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str | None,
        *,
        text_query: bool = False,
        text: np.ndarray | None = None,
        text_weight: float = DEFAULT_TEXT_WEIGHT,
        allowed: np.ndarray | None = None,
    ) -> ranking.Scores:
        """The (q, N) scores of the queries under the conditions (see `ranking.Scores`); `text` (a (1, d)
        embedding) moves image queries towards it (`compose.py`); images outside `allowed` (a bool
        per live row) score -inf. With a text and several conditions, `combine` defaults to "mean": one
        space per condition, so that the text moves only the condition it is about."""
        combine = _checked_query(by, method, not_, weights, combine, with_text=text is not None)
        shift: TextShift | None = None
        if method == "plain" or not by:
            shift = TextShift(text, text_weight) if text is not None else None
            scores = ranking.plain_scores(query.embeddings, self._database, shift=shift)
        else:
            space_method = "clay" if method == "rerank" else method
            terms = self._terms(by, space_method, not_, weights, combine)
            if text is not None:
                prompts = [term.prompt_embeddings for term in terms if term.prompt_embeddings is not None]
                shift = TextShift(text, text_weight, relevant_term(text, prompts))
            scores = ranking.weighted_scores(query.embeddings, terms, text_query=text_query, shift=shift)
        if allowed is not None:
            scores.total[:, ~allowed] = -np.inf
        return scores

    def _ranked(
        self,
        query: Query,
        by: Sequence[ConditionLike],
        method: str,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str | None,
        k: int,
        *,
        text_query: bool = False,
        text: np.ndarray | None = None,
        text_weight: float = DEFAULT_TEXT_WEIGHT,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, ranking.Contributions]:
        """(scores, rows) shaped (q, k) best first, and each hit's contributions.

        method="rerank" re-ranks the top `rerank_candidates` of the CLAY (or, without conditions,
        plain) ranking by neighbourhood consistency in the same space (`ranking.reranked`).
        """
        if self._indexed(method, text, allowed):
            resolved = _checked_query(by, method, not_, weights, combine, with_text=False)
            return self._ranked_by_index(query, by, method, not_, weights, resolved, k, text_query=text_query)
        scores = self._scores(
            query,
            by,
            method,
            not_,
            weights,
            combine,
            text_query=text_query,
            text=text,
            text_weight=text_weight,
            allowed=allowed,
        )
        return self._top(scores, query, method, k)

    def _top(
        self, scores: ranking.Scores, query: Query, method: str, k: int
    ) -> tuple[np.ndarray, np.ndarray, ranking.Contributions]:
        """The top k of computed scores (re-ranked for method="rerank"), as `_ranked` returns them."""
        if method != "rerank":
            return ranking.ranked(scores, self._live_rows, query.own_rows, k)
        return ranking.reranked(
            scores,
            self._live_rows,
            query.own_rows,
            k,
            candidates=self.rerank_candidates,
            neighbors=self.rerank_neighbors,
            weight=self.rerank_weight,
        )

    @one_version
    def similar_batch(
        self,
        queries: Sequence[QueryInput] | np.ndarray,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str | None = None,
        exclude_query: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS-style batch search: (scores, rows), both shaped (n_queries, k), best first.

        `queries` is a (q, d) array of embeddings or a list of paths / images. A query that is in the
        store (by path) uses its stored embedding and, with `exclude_query`, is left out of its own
        results; such a query row then has one slot less, padded with score -inf and row -1.
        Duplicates are not dropped here (this is the raw ranking; `similar` drops them).
        """
        self._sync()
        k = self._check_k(k)
        query = self._embed_queries(queries)
        if not exclude_query:
            query = Query(query.embeddings, (None,) * len(query.embeddings))
        best, rows, _ = self._ranked(query, _as_list(by), method, _as_list(not_), weights, combine, k)
        return best, rows.astype(np.int64)

    @one_version
    def search_vectors(
        self,
        queries: np.ndarray,
        k: int = 20,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str | None = None,
        texts: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's `index.search(Q, k)`: (scores, ids), both shaped (n_queries, k), best first.

        `queries` is a (q, d) array of embeddings of the store's model (one (d,) vector is one query);
        `texts=True` says they embed texts (CLAY maps a text without the image alignment, see
        `search`). `ids` are the store's stable item ids (`Result.id`): they survive compaction and
        re-indexing, unlike rows. Where the store holds fewer than k images, the row is padded with
        id -1 and score -inf, as FAISS pads. Conditions, `method`, `not_`, `weights` and `combine` as
        in `similar`; no query is left out of its results and duplicates are kept (the raw ranking).
        """
        self._sync()
        matrix = np.asarray(queries)
        matrix = matrix.reshape(1, -1) if matrix.ndim == 1 else matrix
        depth = self._check_k(k)  # k validated, at most the number of images
        wanted = int(k)
        query = Query(self._check_vectors(matrix), (None,) * len(matrix), (None,) * len(matrix))
        best, rows, _ = self._ranked(
            query, _as_list(by), method, _as_list(not_), weights, combine, depth, text_query=texts
        )
        ids = np.where(rows >= 0, self._ids_of(rows), -1).astype(np.int64)
        scores = np.where(ids >= 0, best, -np.inf).astype(np.float32)
        if depth < wanted:
            pad = wanted - depth
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return scores, ids

    @one_version
    def similar(
        self,
        image_or_path: QueryInput,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str | None = None,
        exclude_query: bool = True,
        text: str | None = None,
        text_weight: float = DEFAULT_TEXT_WEIGHT,
        keep_duplicates: bool = False,
        min_score: float | None = None,
        path: str | None = None,
    ) -> list[Result]:
        """The k images most similar to one query image under the conditions `by`.

        `by=None` (or method="plain") is plain cosine similarity. Conditions are names (resolved by
        `condsim.conditions.resolve_condition`), `Condition` objects or `EmbeddedCondition`s.
        `method`: "clay" (default), "crl", "plain", or "rerank" (the CLAY, or plain, top
        `rerank_candidates` re-ranked by neighbourhood consistency, methods.md §3.1).
        `weights` maps condition names to non-negative weights (normalised to sum 1; default
        equal). `combine`: "stack" (the paper's single subspace of the stacked prompt sets; the default)
        or "mean" (the weighted mean of per-condition cosines, our extension; the default when
        `weights` are given). `not_`: conditions to ignore (CLAY only).
        `text` ("but red") moves the query a fraction `text_weight` of the way towards the images the
        text describes, inside the space of the condition it is about (`compose.py`; with several
        conditions and no `combine`, they are combined by "mean" so that the others stay the image's).
        Duplicates (`duplicates.py`) of the query and of earlier results are dropped unless
        `keep_duplicates`; `min_score` drops results scoring below it; `path` (a glob on the path
        relative to the indexed folder) limits the search to the images it matches.
        """
        self._sync()
        k = self._check_k(k)
        query = self._embed_queries(
            [image_or_path] if not isinstance(image_or_path, np.ndarray) else image_or_path.reshape(1, -1)
        )
        if not exclude_query:
            query = Query(query.embeddings, (None,), (None,))
        text_embedding = None
        if text is not None:
            text_weight = check_text_weight(text_weight)
            text_embedding = self._text_embedding(text, "text")
        duplicates = DuplicateFilter(
            self._synced_rows(),
            self.duplicate_threshold,
            query.hashes,
            query.embeddings if exclude_query else None,
        )
        return self._final(
            query,
            _as_list(by),
            method,
            _as_list(not_),
            weights,
            combine,
            k,
            None if keep_duplicates else duplicates,
            min_score,
            path,
            text=text_embedding,
            text_weight=text_weight,
        )

    @one_version
    def search(
        self,
        text: str,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str | None = None,
        keep_duplicates: bool = False,
        min_score: float | None = None,
        path: str | None = None,
    ) -> list[Result]:
        """The k images that best match a text.

        Without conditions: cos(text, image). With `by`, both sides are compared inside the
        condition space: CLAY maps the text as z = normalize(V_kᵀ t) (a text is already on the
        prompt side, so no alignment H) against the database's z; CRL as normalize(t Tᵀ).
        `not_`, `keep_duplicates`, `min_score` and `path` as in `similar`.
        """
        self._sync()
        k = self._check_k(k)
        query = Query(self._text_embedding(text, "search"), (None,), (None,))
        duplicates = (
            None if keep_duplicates else DuplicateFilter(self._synced_rows(), self.duplicate_threshold)
        )
        return self._final(
            query,
            _as_list(by),
            method,
            _as_list(not_),
            weights,
            combine,
            k,
            duplicates,
            min_score,
            path,
            text_query=True,
        )

    def _text_embedding(self, text: str, what: str) -> np.ndarray:
        """The (1, d) unit embedding of a non-empty text."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"{what} needs a non-empty text", hint='e.g. "a red car"')
        return self._check_vectors(self.encoder.encode_texts([text]))

    def _indexed(self, method: str, text: np.ndarray | None, allowed: np.ndarray | None) -> bool:
        """Whether this query's top k comes from the store's index (Milvus, or a local store above the
        FAISS threshold: `Collection._uses_index`); re-ranking, a text shift and a path filter need
        every score and scan instead."""
        return method != "rerank" and text is None and allowed is None and self._uses_index()

    def _final(
        self,
        query: Query,
        by: list[ConditionLike],
        method: str,
        not_: list[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: str | None,
        k: int,
        duplicates: DuplicateFilter | None,
        min_score: float | None,
        path: str | None,
        **options: Any,
    ) -> list[Result]:
        """One query's results: ranked, without duplicates, above `min_score`, within `path`."""
        min_score = check_min_score(min_score)
        allowed = None
        if path is not None:
            allowed = path_mask([item.relpath for item in self._snapshot_items()], path)
        size = len(self._live_rows) if allowed is None else int(allowed.sum())
        scores = None
        if not self._indexed(method, options.get("text"), allowed):
            scores = self._scores(query, by, method, not_, weights, combine, allowed=allowed, **options)

        def rank(depth: int) -> list[Result]:
            """The best `depth` results: of the scores computed once above, or from the store's index."""
            if scores is not None:
                ranked = self._top(scores, query, method, depth)
            else:
                resolved = _checked_query(by, method, not_, weights, combine, with_text=False)
                text_query = bool(options.get("text_query", False))
                ranked = self._ranked_by_index(
                    query, by, method, not_, weights, resolved, depth, text_query=text_query
                )
            results = self._results(*ranked)[0]
            return [result for result in results if min_score is None or result.score >= min_score]

        if duplicates is None:
            return rank(min(k, size))
        return top_distinct(rank, min(k, size), size, duplicates)


def _checked_query(
    by: Sequence[ConditionLike],
    method: str,
    not_: Sequence[ConditionLike],
    weights: Mapping[str, float] | None,
    combine: str | None,
    *,
    with_text: bool,
) -> str:
    """The combine mode to use (with a text and several conditions it defaults to "mean": one space
    per condition, so that the text moves only the condition it is about), after refusing a method or
    a set of conditions that do not go together (`query_inputs.check_conditions`)."""
    check_method(method, QUERY_METHODS)
    if combine is None and with_text and len(by) > 1:
        combine = "mean"
    resolved = resolve_combine(combine, bool(weights))
    check_conditions(
        [_condition_name(condition) for condition in by],
        [_condition_name(condition) for condition in not_],
        method,
        has_weights=bool(weights),
    )
    return resolved


def _as_list(value: Sequence[ConditionLike] | ConditionLike | None) -> list[ConditionLike]:
    if value is None:
        return []
    if isinstance(value, str | Condition | EmbeddedCondition):
        return [value]
    return list(value)


def _condition_name(condition: ConditionLike) -> str:
    """The name a condition is given by (typed, or a `Condition`'s / `EmbeddedCondition`'s own)."""
    return condition if isinstance(condition, str) else str(getattr(condition, "name", condition))
