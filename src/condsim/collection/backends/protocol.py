"""The storage protocol every store backend implements (local folder, Milvus Lite, Milvus server).

A backend holds three things and nothing else:

* **items**: one per indexed image (path, content hash, size, mtime) with a stable integer `row`;
* **vectors**: the raw image embedding of each item (the *raw* vector set), fetchable by row;
* **vector sets** derived from the raw one: a condition turns the database into its own k-dimensional
  set, z = normalize(Wᵀv) for CLAY (methods.md §1.2, Eq. 5) or normalize(v·Tᵀ) for CRL. A backend
  *materialises* such a set once per (condition fingerprint, store version) and answers top-k inner
  product searches over it, exactly or through an approximate index (HNSW / IVF).

It also keeps the **running sum** of the raw vectors, updated by every add and remove in the same
step that changes the items, so the database mean µ_db that CLAY aligns to costs O(d), not a pass
over N vectors.

Search semantics are FAISS's: queries (q, dim) float32 in, `(scores, rows)` out, both (q, k), best
first, padded with score -inf and row -1 when fewer than k rows qualify. All vectors are unit rows
and the score is their inner product (= cosine).

The indexer drives a backend through `add`, `remove`, `update_paths`, `touch`, `set_root` and
`record_failures`; `Collection` (search) through `search`, `materialize`, `vectors` and
`image_mean`. Nothing above `collection/` knows which backend it talks to.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from condsim.collection.store import Item, NewItem
from condsim.methods import top_k

#: name of the raw vector set (the stored image embeddings themselves)
RAW = "raw"

#: maps a (n, dim) float32 block of raw embeddings to its (n, k) rows in a condition space
Transform = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class StorageBackend(Protocol):
    """What `Collection` and the indexer need from a store, whatever holds it."""

    #: where the store lives, as the user wrote it (`photos.condsim`, `milvus-lite:x.db`, ...)
    location: str
    model_id: str
    dim: int

    # ---------------------------------------------------------------- identity and state
    @property
    def version(self) -> int:
        """Bumped by every committed change of items or vectors (keys every derived vector set)."""
        ...

    @property
    def store_id(self) -> str:
        """Random id fixed at creation, so a rebuilt store never shares a cache key with the old one."""
        ...

    @property
    def root(self) -> str:
        """The folder last indexed into this store ('' if none)."""
        ...

    def __len__(self) -> int: ...

    def check_model(self, model_id: str) -> None:
        """Raise `StoreModelMismatchError` unless the store was built with `model_id`."""
        ...

    def info(self) -> dict[str, object]:
        """A JSON-able summary (items, model, dim, version, backend)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> StorageBackend: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def local_path(self) -> Path | None:
        """The folder this store occupies on this machine (left out when indexing), if any."""
        ...

    def indexed_search(self) -> bool:
        """Whether queries should go through `search` (an index) rather than a scan of every vector."""
        ...

    # ---------------------------------------------------------------- items
    def items(self) -> list[Item]:
        """Every item, ordered by row."""
        ...

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        """Items keyed by row for the given rows (missing rows are absent)."""
        ...

    def find_path(self, path: str | os.PathLike[str]) -> Item | None:
        """The item of this file path (absolute, or relative to the indexed root), if any."""
        ...

    def live_rows(self) -> np.ndarray:
        """Sorted int64 rows of every item."""
        ...

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of the files the last index run could not embed."""
        ...

    # ---------------------------------------------------------------- vectors and the running mean
    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 raw embeddings of the given rows, in that order."""
        ...

    def embedding_sum(self) -> tuple[np.ndarray, int]:
        """(Σ v over every item as float64 (dim,), number of items): the running sum behind µ_db."""
        ...

    # ---------------------------------------------------------------- writing (the indexer)
    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held by an index run so two writers cannot interleave."""
        ...

    def add(self, embeddings: np.ndarray, items: Sequence[NewItem], *, replace: bool = True) -> list[int]:
        """Store embeddings with their items (an item of a stored relpath replaces it); their rows."""
        ...

    def remove(self, item_ids: Sequence[int]) -> None:
        """Forget items by id."""
        ...

    def update_paths(self, moves: Sequence[tuple[int, NewItem]]) -> None:
        """Re-point items (by id) to new path metadata, keeping their embeddings."""
        ...

    def touch(self, updates: Sequence[tuple[int, str, int, int]]) -> None:
        """Record new (abspath, size, mtime_ns) for items (by id) whose content did not change."""
        ...

    def set_root(self, root: str) -> None: ...

    def record_failures(self, failures: Sequence[tuple[str, str, str]]) -> None:
        """Replace the list of (relpath, abspath, reason) the last run could not embed."""
        ...

    def compact_if_needed(self, ratio: float) -> bool:
        """Reclaim the space of removed rows when they exceed `ratio` of the store; whether it did."""
        ...

    # ---------------------------------------------------------------- vector sets and search
    def materialize(self, name: str, transform: Transform) -> None:
        """Make the vector set `name` (a condition fingerprint) = `transform` of every raw vector,
        unless it is already there for the current version. Built in batches."""
        ...

    def search(
        self, queries: np.ndarray, k: int, *, vector_set: str = RAW, exclude_rows: Sequence[int | None] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k inner products of each query in `vector_set`: (scores, rows), each (q, k), best first.
        `exclude_rows[i]`, when not None, is left out of query i's results (the query image itself)."""
        ...

    def set_vectors(self, vector_set: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 rows of a materialised vector set (for exact re-scoring of candidates)."""
        ...


def iter_batches(count: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering range(count) in blocks of `size`."""
    for start in range(0, count, size):
        yield start, min(start + size, count)


def pad_results(scores: list[np.ndarray], rows: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-query (scores, rows) of up to k hits into (q, k) arrays padded with -inf / -1."""
    best = np.full((len(scores), k), -np.inf, dtype=np.float32)
    found = np.full((len(rows), k), -1, dtype=np.int64)
    for index, (query_scores, query_rows) in enumerate(zip(scores, rows, strict=True)):
        count = min(k, len(query_rows))
        best[index, :count] = query_scores[:count]
        found[index, :count] = query_rows[:count]
    return best, found


def exact_top_k(
    queries: np.ndarray, matrix: np.ndarray, rows: np.ndarray, k: int, exclude_rows: Sequence[int | None] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of `queries @ matrix.T` where row i of `matrix` is store row `rows[i]` (ascending;
    FAISS shapes). Ranked by `condsim.methods.top_k`, the one tie rule (the lower row first, also
    across the cut at k); an excluded row and a non-finite score are never returned.
    """
    scores = np.asarray(queries @ matrix.T, dtype=np.float32)
    excluded = list(exclude_rows) + [None] * (len(queries) - len(exclude_rows))
    for index, row in enumerate(excluded):
        if row is not None:
            position = np.searchsorted(rows, row)
            if position < len(rows) and rows[position] == row:
                scores[index, position] = -np.inf
    scores[np.isnan(scores)] = -np.inf
    best, positions = top_k(scores, k)
    finite = np.isfinite(best)
    return pad_results(
        [query_best[keep] for query_best, keep in zip(best, finite, strict=True)],
        [rows[query_positions[keep]] for query_positions, keep in zip(positions, finite, strict=True)],
        k,
    )
