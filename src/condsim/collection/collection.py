"""`Collection`: conditional search over an indexed store (the Python facade of the product).

    collection = Collection.open("photos.condsim")
    collection.similar("photos/cat.jpg", by=["color"], k=10)        # CLAY (methods.md §1.2)
    collection.similar("photos/cat.jpg", by=["shape"], not_=["color"])  # same shape, ignore colour
    collection.search("a red car", k=10)

Image embeddings are computed once (at index time). A condition is a cheap transform at query time:

* CLAY: z = normalize(V_kᵀ log_µc(H v)) (Eq. 5) for every database row, then cos(z_q, z_d);
* CRL: r = normalize(v Tᵀ) (CRL Eq. 4, row-normalised for retrieval), then cos(r_q, r_d);
* plain: cos(v_q, v_d), the condition-blind baseline.

The transformed database of a condition (z or r) is cached in memory and on disk (`cache.py`), keyed
by the fitted space's fingerprint and the store's (id, version), so the first query of a condition
pays one transform and later ones cost one (N × k) scan, which for k = 50 < d is cheaper than the
plain (N × d) scan.

Several conditions ``by=[a, b]`` are combined, by default, as the weighted sum of the per-condition
cosines, score = Σ_c w_c·cos_c with Σ w_c = 1 (the extension of methods.md §1.2; each condition keeps
its own cached z); `Result.contributions` holds the terms w_c·cos_c, which add up to the score.
``combine="stack"`` is the paper's multi-condition CLAY: one subspace fitted on the row-stacked
prompt sets. ``not_=[...]`` removes the negative conditions' principal directions from each
condition subspace (CLAY only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
from PIL import Image

from condsim.collection.cache import ArrayCache, cache_key
from condsim.collection.store import CACHE_DIR, Item, Store
from condsim.conditions.condition import Condition
from condsim.errors import DimensionMismatchError, ImageLoadError, InvalidInputError, StoreError
from condsim.methods.clay import ClaySpace
from condsim.methods.crl import CrlSpace
from condsim.methods.sphere import normalized_mean

if TYPE_CHECKING:
    from condsim.encoders.base import Encoder

Method = Literal["clay", "crl", "plain", "rerank"]
Combine = Literal["sum", "stack"]
QueryInput: TypeAlias = "str | os.PathLike[str] | bytes | Image.Image | np.ndarray"
_METHODS = ("clay", "crl", "plain", "rerank")
_TRANSFORM_CHUNK = 8192


@dataclass(frozen=True)
class EmbeddedCondition:
    """A condition given by its prompt embeddings instead of prompt texts.

    For prompts embedded elsewhere (or synthetic ones in benchmarks). `clay` rows feed CLAY, `crl`
    rows feed CRL (defaults to `clay`). The embeddings must come from the store's model.
    """

    name: str
    clay: np.ndarray
    crl: np.ndarray | None = None


ConditionLike: TypeAlias = "str | Condition | EmbeddedCondition"


@dataclass(frozen=True)
class Result:
    """One hit: the image, its score, where it sits in the store, and what each condition gave.

    `contributions` maps a condition name to its term of the score (w_c·cos_c; they sum to `score`);
    it is empty for plain similarity. `row` is the embedding row in the store (stable until the
    next compaction).
    """

    path: str
    score: float
    row: int
    relpath: str = ""
    contributions: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: path, score, row, relpath, contributions."""
        return {
            "path": self.path,
            "score": self.score,
            "row": self.row,
            "relpath": self.relpath,
            "contributions": dict(self.contributions),
        }


@dataclass(frozen=True)
class _Resolved:
    """A condition reduced to what the spaces need: a name and its prompt embeddings per method."""

    name: str
    clay: np.ndarray
    crl: np.ndarray


@dataclass(frozen=True)
class _Query:
    embeddings: np.ndarray  # (q, d) float32 unit rows
    own_rows: tuple[int | None, ...]  # the query's row in the store, to leave out of its results


class Collection:
    """A store opened for search. Build one with `Collection.open(store_dir)`.

    Parameters (after the store): `encoder` (default: loaded on first need from the model recorded
    in the store; its `model_id` must match), `clay_k` (CLAY's rank, paper: 50), `alignment`
    ("householder" | "rotation" | "none"), `manifold` (False = Euclidean ablation), `cache_on_disk`
    (write transformed databases under STORE/cache).
    """

    def __init__(
        self,
        store: Store,
        encoder: Encoder | None = None,
        *,
        clay_k: int = 50,
        alignment: Literal["householder", "rotation", "none"] = "householder",
        manifold: bool = True,
        cache_on_disk: bool = True,
        rerank_candidates: int = 100,
        rerank_neighbors: int = 10,
        rerank_weight: float = 0.5,
    ) -> None:
        if encoder is not None:
            store.check_model(encoder.model_id)
        self.store = store
        self._encoder = encoder
        self.clay_k = clay_k
        self.alignment = alignment
        self.manifold = manifold
        self.rerank_candidates = rerank_candidates
        self.rerank_neighbors = rerank_neighbors
        self.rerank_weight = rerank_weight
        self.cache = ArrayCache(store.path / CACHE_DIR if cache_on_disk else None)
        self._state_version: int | None = None
        self._live_rows = np.zeros(0, dtype=np.int64)
        self._database: np.ndarray = np.zeros((0, store.dim), dtype=np.float32)
        self._spaces: dict[str, ClaySpace | CrlSpace] = {}
        self._sync()

    @classmethod
    def open(
        cls,
        store_dir: str | os.PathLike[str],
        encoder: Encoder | None = None,
        **options: Any,
    ) -> Collection:
        """Open the store at `store_dir` for search (see the class docstring for `options`)."""
        store = Store.open(store_dir, model_id=encoder.model_id if encoder is not None else None)
        return cls(store, encoder, **options)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        self._sync()
        return len(self._live_rows)

    def __repr__(self) -> str:
        return f"Collection({str(self.store.path)!r}, items={len(self)}, model_id={self.store.model_id!r})"

    # ------------------------------------------------------------------ state
    @property
    def encoder(self) -> Encoder:
        """The store's encoder, loaded on first use (only needed for texts and images not in the store)."""
        if self._encoder is None:
            from condsim.encoders import load_encoder

            encoder = load_encoder(self.store.model_id)
            self.store.check_model(encoder.model_id)
            self._encoder = encoder
        return self._encoder

    @property
    def _tag(self) -> str:
        return f"{self.store.store_id[:12]}v{self._state_version}"

    def _sync(self) -> None:
        """Pick up a re-index done since the last call (the store's version changed)."""
        version = self.store.version
        if version == self._state_version:
            return
        self._state_version = version
        self._spaces.clear()
        self._live_rows = self.store.live_rows()
        matrix = self.store.embeddings()
        if matrix.dtype == np.float32 and len(self._live_rows) == matrix.shape[0]:
            self._database = matrix  # memory-mapped, no copy
        else:
            self._database = np.asarray(matrix[self._live_rows], dtype=np.float32)

    def refresh(self) -> None:
        """Re-read the store (called automatically before every query)."""
        self._sync()

    def cache_info(self) -> dict[str, dict[str, int]]:
        """Cache counters per namespace: "z" (transformed databases), "prompts", "mean"."""
        return self.cache.info()

    def image_mean(self) -> np.ndarray:
        """µ_db: the normalised mean of the collection's image embeddings (cached per version)."""
        self._sync()
        return np.asarray(
            self.cache.get_or_compute(
                "mean", "db", lambda: normalized_mean(self._database).astype(np.float64), tag=self._tag
            )
        )

    # ------------------------------------------------------------------ conditions
    def _prompt_embeddings(self, prompts: Sequence[str]) -> np.ndarray:
        key = cache_key(self.store.model_id, list(prompts))
        return np.asarray(
            self.cache.get_or_compute(
                "prompts", key, lambda: self.encoder.encode_texts(list(prompts)).astype(np.float32)
            ),
            dtype=np.float32,
        )

    def _resolve(self, condition: ConditionLike) -> _Resolved:
        if isinstance(condition, EmbeddedCondition):
            clay = np.asarray(condition.clay, dtype=np.float32)
            crl = np.asarray(condition.crl if condition.crl is not None else condition.clay, dtype=np.float32)
            for what, matrix in (("clay", clay), ("crl", crl)):
                if matrix.ndim != 2 or matrix.shape[1] != self.store.dim:
                    raise DimensionMismatchError(
                        f"condition {condition.name!r}: {what} prompt embeddings have shape {matrix.shape}, "
                        f"the store holds {self.store.dim}-d embeddings",
                        hint=f"embed the prompts with the store's model {self.store.model_id!r}",
                    )
            return _Resolved(condition.name, clay, crl)
        if isinstance(condition, str):
            from condsim.conditions import resolve_condition

            condition = resolve_condition(condition)
        if not isinstance(condition, Condition):
            raise InvalidInputError(
                "a condition must be a name, a Condition or an EmbeddedCondition, "
                f"got {type(condition).__name__}",
                hint="e.g. by=['color'] (see `condsim conditions` for the built-in names)",
            )
        return _Resolved(
            condition.name,
            self._prompt_embeddings(condition.clay_prompts),
            self._prompt_embeddings(condition.crl_prompts),
        )

    def _clay_space(self, prompt_sets: list[np.ndarray], negative: list[np.ndarray]) -> ClaySpace:
        key = cache_key(
            "clay",
            self.clay_k,
            self.alignment,
            self.manifold,
            [_digest(p) for p in prompt_sets],
            [_digest(n) for n in negative],
        )
        space = self._spaces.get(key)
        if space is None:
            space = ClaySpace(
                k=self.clay_k, alignment=self.alignment, manifold=self.manifold, combine="stack"
            )
            space.fit(
                prompt_sets if len(prompt_sets) > 1 else prompt_sets[0],
                image_mean=self.image_mean(),
                negative_prompt_embeddings=np.vstack(negative) if negative else None,
            )
            self._spaces[key] = space
        assert isinstance(space, ClaySpace)
        return space

    def _crl_space(self, prompts: np.ndarray) -> CrlSpace:
        key = cache_key("crl", _digest(prompts))
        space = self._spaces.get(key)
        if space is None:
            space = CrlSpace(normalize="row").fit(prompts)
            self._spaces[key] = space
        assert isinstance(space, CrlSpace)
        return space

    def _transformed(self, space: ClaySpace | CrlSpace, fingerprint: str) -> np.ndarray:
        """The whole database through `space` (z for CLAY, row-normalised R for CRL), cached."""

        def compute() -> np.ndarray:
            output: np.ndarray | None = None
            for start in range(0, len(self._database), _TRANSFORM_CHUNK):
                block = space.transform(self._database[start : start + _TRANSFORM_CHUNK])
                if output is None:
                    output = np.empty((len(self._database), block.shape[1]), dtype=np.float32)
                output[start : start + len(block)] = block
            assert output is not None
            return output

        return self.cache.get_or_compute("z", fingerprint, compute, tag=self._tag)

    def _condition_terms(
        self,
        by: Sequence[ConditionLike],
        method: Method,
        not_: Sequence[ConditionLike],
        weights: Mapping[str, float] | None,
        combine: Combine,
    ) -> list[tuple[str, float, ClaySpace | CrlSpace, np.ndarray]]:
        """(name, weight, fitted space, transformed database) per score term."""
        resolved = [self._resolve(condition) for condition in by]
        names = [item.name for item in resolved]
        if len(set(names)) != len(names):
            raise InvalidInputError(
                f"a condition is given twice in by={names}", hint="list each condition once"
            )
        negatives = [self._resolve(condition) for condition in not_]
        if negatives and method != "clay":
            raise InvalidInputError(
                f"negative conditions (not_={[n.name for n in negatives]}) need method='clay'",
                hint="use method='clay', or drop the negative condition",
            )
        weight_of = _normalised_weights(names, weights, combine)
        terms: list[tuple[str, float, ClaySpace | CrlSpace, np.ndarray]] = []
        if combine == "stack":
            if method == "clay":
                clay_space = self._clay_space([item.clay for item in resolved], [n.clay for n in negatives])
                space: ClaySpace | CrlSpace = clay_space
                fingerprint = cache_key("clay", clay_space.fingerprint_)
            else:
                stacked = np.vstack([item.crl for item in resolved])
                space = self._crl_space(stacked)
                fingerprint = cache_key("crl", _digest(stacked))
            terms.append(("+".join(names), 1.0, space, self._transformed(space, fingerprint)))
            return terms
        for item in resolved:
            if method == "clay":
                clay_space = self._clay_space([item.clay], [n.clay for n in negatives])
                space = clay_space
                fingerprint = cache_key("clay", clay_space.fingerprint_)
            else:
                space = self._crl_space(item.crl)
                fingerprint = cache_key("crl", _digest(item.crl))
            terms.append((item.name, weight_of[item.name], space, self._transformed(space, fingerprint)))
        return terms

    # ------------------------------------------------------------------ queries
    def _embed_queries(self, queries: Sequence[QueryInput] | np.ndarray) -> _Query:
        if isinstance(queries, np.ndarray):
            matrix = queries[None, :] if queries.ndim == 1 else queries
            return _Query(self._check_vectors(matrix), (None,) * len(matrix))
        vectors: list[np.ndarray | None] = []
        own_rows: list[int | None] = []
        to_encode: list[tuple[int, Any]] = []
        for index, query in enumerate(queries):
            if isinstance(query, np.ndarray):
                vectors.append(self._check_vectors(query.reshape(1, -1))[0])
                own_rows.append(None)
                continue
            item = self._stored_item(query) if isinstance(query, str | os.PathLike) else None
            if item is not None:
                vectors.append(self.store.vectors([item.row])[0])
                own_rows.append(item.row)
            else:
                vectors.append(None)
                own_rows.append(None)
                to_encode.append((index, query))
        if to_encode:
            encoding = self.encoder.encode_images_partial([query for _, query in to_encode])
            if encoding.failures:
                reasons = "; ".join(f"{f.source}: {f.reason}" for f in encoding.failures[:3])
                raise ImageLoadError(
                    f"query image unreadable: {reasons}", hint="give a readable image file (png, jpg, ...)"
                )
            for (index, _), vector in zip(to_encode, encoding.embeddings, strict=True):
                vectors[index] = vector
        matrix = np.stack([v for v in vectors if v is not None]).astype(np.float32)
        return _Query(_unit(matrix), tuple(own_rows))

    def _stored_item(self, path: str | os.PathLike[str]) -> Item | None:
        """The store's item for this path if its stored embedding still describes the file."""
        item = self.store.find_path(path)
        if item is None:
            return None
        candidate = Path(item.abspath)
        try:
            stat = candidate.stat()
        except OSError:
            return item  # indexed, file gone or elsewhere: the stored embedding is all we have
        return item if (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns) else None

    def _check_vectors(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.store.dim:
            raise DimensionMismatchError(
                f"query embeddings have shape {matrix.shape}, the store holds {self.store.dim}-d embeddings",
                hint=f"embed queries with the store's model {self.store.model_id!r}",
            )
        if not np.isfinite(matrix).all() or (np.linalg.norm(matrix, axis=1) <= 1e-12).any():
            raise InvalidInputError("query embeddings contain NaN, inf or zero vectors")
        return _unit(matrix)

    def _check_k(self, k: int) -> int:
        """The number of results to return: k, or the whole collection when k is larger."""
        size = len(self._live_rows)
        if size == 0:
            raise StoreError(
                f"the store at {self.store.path} holds no images",
                hint="index a folder first: `condsim index DIR --store STORE`",
            )
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k={k!r} must be a positive whole number", hint="e.g. k=20")
        # asking for more results than there are images returns them all, as a search engine does
        return min(int(k), size)

    def _scores(
        self,
        query: _Query,
        by: Sequence[ConditionLike] | None,
        method: str,
        not_: Sequence[ConditionLike] | None,
        weights: Mapping[str, float] | None,
        combine: str,
        *,
        text_query: bool = False,
    ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
        """(q, N) total scores; per condition its (q, N) weighted term; and the (queries, database)
        pair in the space the scores are inner products of (√w_c-weighted blocks side by side)."""
        if method not in _METHODS:
            raise InvalidInputError(f"unknown method {method!r}", hint=f"use one of {', '.join(_METHODS)}")
        if combine not in ("sum", "stack"):
            raise InvalidInputError(f"unknown combine {combine!r}", hint="use 'sum' or 'stack'")
        conditions = _as_list(by)
        negatives = _as_list(not_)
        if method == "plain" or not conditions:
            if method != "plain" and (negatives or weights):
                raise InvalidInputError("not_ and weights need at least one condition in by=[...]")
            if method == "plain" and (conditions or negatives):
                raise InvalidInputError(
                    "method='plain' ignores conditions; drop by/not_ or choose method='clay' or 'crl'"
                )
            plain = np.asarray(query.embeddings @ self._database.T, dtype=np.float32)
            return plain, [], (query.embeddings, self._database)
        space_method = "clay" if method == "rerank" else method
        terms = self._condition_terms(conditions, space_method, negatives, weights, combine)  # type: ignore[arg-type]
        total = np.zeros((len(query.embeddings), len(self._live_rows)), dtype=np.float32)
        parts: list[tuple[str, np.ndarray]] = []
        query_blocks: list[np.ndarray] = []
        for name, weight, space, database in terms:
            query_z = _text_z(space, query.embeddings) if text_query else space.transform(query.embeddings)
            term = np.asarray(query_z @ database.T, dtype=np.float32)
            if weight != 1.0:
                term *= np.float32(weight)
            total += term
            parts.append((name, term))
            query_blocks.append(query_z * np.float32(np.sqrt(weight)))
        if method != "rerank":
            return total, parts, (query.embeddings, self._database)
        database_blocks = [database * np.float32(np.sqrt(weight)) for _, weight, _, database in terms]
        joint_database = database_blocks[0] if len(terms) == 1 else np.hstack(database_blocks)
        return total, parts, (np.hstack(query_blocks), joint_database)

    def _ranked(
        self,
        query: _Query,
        by: Sequence[ConditionLike] | None,
        method: str,
        not_: Sequence[ConditionLike] | None,
        weights: Mapping[str, float] | None,
        combine: str,
        k: int,
        *,
        text_query: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, list[list[dict[str, float]]]]:
        """(scores, rows) shaped (q, k) best first, and each hit's contributions.

        method="rerank" re-ranks the top `rerank_candidates` of the CLAY (or, without conditions,
        plain) ranking by neighbourhood consistency in the same space (`methods.rerank`, methods.md
        §3.1): s = (1 − w)·s0 + w·M; its contributions are (1 − w)·(each condition's term) and
        "neighbourhood" = w·M, so they still add up to the score.
        """
        scores, parts, (space_queries, space_database) = self._scores(
            query, by, method, not_, weights, combine, text_query=text_query
        )
        if method != "rerank":
            best, rows, positions = self._top(scores, query.own_rows, k)
            contributions: list[list[dict[str, float]]] = [
                [
                    {name: float(term[q, p]) for name, term in parts} if row >= 0 else {}
                    for row, p in zip(rows[q], positions[q], strict=True)
                ]
                for q in range(len(rows))
            ]
            return best, rows, contributions
        from condsim.methods.rerank import neighbourhood_rerank

        candidates = min(max(k, self.rerank_candidates), len(self._live_rows))
        first_scores, _, first_positions = self._top(scores, query.own_rows, candidates)
        neighbors = min(self.rerank_neighbors, len(self._live_rows) - 1)
        final, positions = neighbourhood_rerank(
            space_queries,
            space_database,
            np.where(np.isfinite(first_scores), first_scores, 0.0),
            np.where(np.isfinite(first_scores), first_positions, -1),
            n_neighbors=max(neighbors, 1),
            weight=self.rerank_weight,
            k=k,
        )
        rows = np.where(positions >= 0, self._live_rows[np.maximum(positions, 0)], -1)
        final = np.where(rows >= 0, final, -np.inf).astype(np.float32)
        keep = 1.0 - self.rerank_weight
        contributions = []
        for q in range(len(rows)):
            hits: list[dict[str, float]] = []
            for score, row, p in zip(final[q], rows[q], positions[q], strict=True):
                if row < 0:
                    hits.append({})
                    continue
                terms = {name: keep * float(term[q, p]) for name, term in parts}
                first = float(scores[q, p])
                terms["neighbourhood"] = float(score) - keep * first
                hits.append(terms)
            contributions.append(hits)
        return final, rows.astype(np.int64), contributions

    def _top(
        self, scores: np.ndarray, own_rows: Sequence[int | None], k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, rows, positions) of the k best per query, best first; own rows left out."""
        scores = np.array(scores, dtype=np.float32, copy=True)
        for index, row in enumerate(own_rows):
            if row is not None:
                position = np.searchsorted(self._live_rows, row)
                if position < len(self._live_rows) and self._live_rows[position] == row:
                    scores[index, position] = -np.inf
        if k < scores.shape[1]:
            candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            candidates = np.broadcast_to(
                np.arange(scores.shape[1]), (scores.shape[0], scores.shape[1])
            ).copy()
        picked = np.take_along_axis(scores, candidates, axis=1)
        order = np.argsort(-picked, axis=1, kind="stable")
        positions = np.take_along_axis(candidates, order, axis=1)
        best = np.take_along_axis(picked, order, axis=1)
        rows = np.where(np.isfinite(best), self._live_rows[positions], -1)
        return best, rows, positions

    def similar_batch(
        self,
        queries: Sequence[QueryInput] | np.ndarray,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str = "sum",
        exclude_query: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS-style batch search: (scores, rows), both shaped (n_queries, k), best first.

        `queries` is a (q, d) array of embeddings or a list of paths / images. A query that is in the
        store (by path) uses its stored embedding and, with `exclude_query`, is left out of its own
        results; such a query row then has one slot less, padded with score -inf and row -1.
        """
        self._sync()
        k = self._check_k(k)
        query = self._embed_queries(queries)
        if not exclude_query:
            query = _Query(query.embeddings, (None,) * len(query.embeddings))
        best, rows, _ = self._ranked(query, _as_list(by), method, _as_list(not_), weights, combine, k)
        return best, rows.astype(np.int64)

    def similar(
        self,
        image_or_path: QueryInput,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        not_: Sequence[ConditionLike] | ConditionLike | None = None,
        weights: Mapping[str, float] | None = None,
        combine: str = "sum",
        exclude_query: bool = True,
    ) -> list[Result]:
        """The k images most similar to one query image under the conditions `by`.

        `by=None` (or method="plain") is plain cosine similarity. Conditions are names (resolved by
        `condsim.conditions.resolve_condition`), `Condition` objects or `EmbeddedCondition`s.
        `method`: "clay" (default), "crl", "plain", or "rerank" (the CLAY, or plain, top
        `rerank_candidates` re-ranked by neighbourhood consistency, methods.md §3.1).
        `weights` maps condition names to non-negative weights (normalised to sum 1; default
        equal). `combine`: "sum" (weighted sum of per-condition cosines) or "stack" (the paper's
        single stacked subspace). `not_`: conditions to ignore (CLAY only).
        """
        self._sync()
        k = self._check_k(k)
        query = self._embed_queries(
            [image_or_path] if not isinstance(image_or_path, np.ndarray) else image_or_path.reshape(1, -1)
        )
        if not exclude_query:
            query = _Query(query.embeddings, (None,))
        return self._results(*self._ranked(query, _as_list(by), method, _as_list(not_), weights, combine, k))[
            0
        ]

    def search(
        self,
        text: str,
        by: Sequence[ConditionLike] | ConditionLike | None = None,
        *,
        method: str = "clay",
        k: int = 20,
        weights: Mapping[str, float] | None = None,
        combine: str = "sum",
    ) -> list[Result]:
        """The k images that best match a text.

        Without conditions: cos(text, image). With `by`, both sides are compared inside the
        condition space: CLAY maps the text as z = normalize(V_kᵀ t) (a text is already on the
        prompt side, so no alignment H) against the database's z; CRL as normalize(t Tᵀ).
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("search needs a non-empty text", hint='e.g. search("a red car")')
        self._sync()
        k = self._check_k(k)
        embedding = self.encoder.encode_texts([text])
        query = _Query(self._check_vectors(embedding), (None,))
        ranked = self._ranked(query, _as_list(by), method, None, weights, combine, k, text_query=True)
        return self._results(*ranked)[0]

    def _results(
        self, best: np.ndarray, rows: np.ndarray, contributions: list[list[dict[str, float]]]
    ) -> list[list[Result]]:
        items = self.store.items_by_rows(rows[rows >= 0].tolist())
        output: list[list[Result]] = []
        for query_index in range(len(best)):
            hits: list[Result] = []
            for slot, (score, row) in enumerate(zip(best[query_index], rows[query_index], strict=True)):
                if row < 0:
                    continue
                item = items[int(row)]
                hits.append(
                    Result(
                        item.abspath, float(score), int(row), item.relpath, contributions[query_index][slot]
                    )
                )
            output.append(hits)
        return output

    def path(self, row: int) -> str:
        """The image path stored for an embedding row (from `similar_batch`)."""
        item = self.store.items_by_rows([row]).get(int(row))
        if item is None:
            raise InvalidInputError(
                f"row {row} is not in the store", hint="use rows returned by this collection"
            )
        return item.abspath

    def features(
        self,
        condition: ConditionLike | None = None,
        *,
        method: str = "clay",
        crl_normalize: Literal["row", "fewshot"] = "row",
    ) -> tuple[list[str], np.ndarray]:
        """(paths, (N, m) float32 features) of every stored image, in store order, for clustering,
        few-shot classification and ranking.

        No condition (or method="plain"): the stored embeddings. CLAY: the cached z of Eq. 5 (same
        space `similar` scores in). CRL: R = I Tᵀ (CRL Eq. 4) post-processed per `crl_normalize`
        ("row" for k-means and retrieval, "fewshot" for the linear probe; CRL §2.3).
        """
        self._sync()
        paths = [item.abspath for item in self.store.items()]
        if condition is None or method == "plain":
            if condition is not None:
                raise InvalidInputError(
                    "method='plain' ignores conditions", hint="choose method='clay' or 'crl'"
                )
            return paths, np.asarray(self._database, dtype=np.float32)
        if method not in ("clay", "crl"):
            raise InvalidInputError(f"unknown feature method {method!r}", hint="use 'clay', 'crl' or 'plain'")
        resolved = self._resolve(condition)
        if method == "clay":
            clay_space = self._clay_space([resolved.clay], [])
            return paths, self._transformed(clay_space, cache_key("clay", clay_space.fingerprint_))
        if crl_normalize == "row":
            space = self._crl_space(resolved.crl)
            return paths, self._transformed(space, cache_key("crl", _digest(resolved.crl)))
        return paths, CrlSpace(normalize=crl_normalize).fit(resolved.crl).transform(self._database)


def _as_list(value: Sequence[ConditionLike] | ConditionLike | None) -> list[ConditionLike]:
    if value is None:
        return []
    if isinstance(value, str | Condition | EmbeddedCondition):
        return [value]
    return list(value)


def _normalised_weights(
    names: list[str], weights: Mapping[str, float] | None, combine: str
) -> dict[str, float]:
    if weights is None:
        return {name: 1.0 / len(names) for name in names}
    if combine == "stack":
        raise InvalidInputError("weights are not used with combine='stack'", hint="use combine='sum'")
    unknown = set(weights) - set(names)
    if unknown:
        raise InvalidInputError(
            f"weights name conditions not in by: {sorted(unknown)}", hint=f"weights may use {names}"
        )
    values = {name: float(weights.get(name, 1.0)) for name in names}
    if any(not np.isfinite(v) or v < 0 for v in values.values()) or sum(values.values()) <= 0:
        raise InvalidInputError(
            f"weights must be non-negative and not all zero, got {dict(weights)}", hint="e.g. {'color': 2}"
        )
    total = sum(values.values())
    return {name: value / total for name, value in values.items()}


def _text_z(space: ClaySpace | CrlSpace, text_embeddings: np.ndarray) -> np.ndarray:
    """A text in the condition space: CLAY z = normalize(V_kᵀ t) (no alignment H: texts already sit on
    the prompt side of the modality gap; V_k ⟂ µ_c so the tangent projection is V_kᵀ t); CRL as images."""
    if isinstance(space, CrlSpace):
        return space.transform(text_embeddings)
    blocks = [text_embeddings.astype(np.float64) @ subspace.components for subspace in space.subspaces_]
    return _unit(np.hstack(blocks)).astype(np.float32)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def _digest(matrix: np.ndarray) -> str:
    """Content key of a prompt-embedding matrix."""
    contiguous = np.ascontiguousarray(matrix, dtype=np.float32)
    return cache_key(list(contiguous.shape), hashlib.sha256(contiguous.tobytes()).hexdigest())
