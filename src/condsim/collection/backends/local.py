"""The local backend: the storage protocol over a store folder (`Store`: SQLite + memory-mapped rows).

Vector sets live in memory and, through the collection's `ArrayCache`, as `.npy` files under
STORE/cache keyed by the store version. Searching a set of fewer than `AnnConfig.threshold` rows is an
exact scan; above it a FAISS index (`faiss_index.py`) answers, saved as STORE/cache/ann-<set>.npz and
rebuilt whenever the store version (or the index settings) changed since it was built.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from condsim.collection.backends.faiss_index import AnnConfig, FaissIndex, index_key, load_or_build
from condsim.collection.backends.protocol import RAW, Transform, exact_top_k, iter_batches
from condsim.collection.cache import ArrayCache, cache_key
from condsim.collection.store import CACHE_DIR, Item, NewItem, Store
from condsim.errors import StoreError

#: raw rows transformed per block when a vector set is materialised
MATERIALIZE_BATCH = 8192


class LocalBackend:
    """A `StorageBackend` over one local `Store` (the default `--store PATH`)."""

    def __init__(
        self, store: Store, *, cache: ArrayCache | None = None, ann: AnnConfig | None = None
    ) -> None:
        self.store = store
        self.location = str(store.path)
        self.model_id = store.model_id
        self.dim = store.dim
        self.cache = cache if cache is not None else ArrayCache(store.path / CACHE_DIR)
        self.ann = ann if ann is not None else AnnConfig()
        self._indexes: dict[str, FaissIndex] = {}
        self._live: tuple[int, np.ndarray] | None = None

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- identity and state
    @property
    def version(self) -> int:
        return self.store.version

    @property
    def store_id(self) -> str:
        return self.store.store_id

    @property
    def root(self) -> str:
        return self.store.root

    @property
    def path(self) -> Path:
        """The store folder."""
        return self.store.path

    @property
    def local_path(self) -> Path | None:
        return self.store.path

    def indexed_search(self) -> bool:
        """Above `ann.threshold` items queries go through the FAISS index; below, a scan is exact."""
        return len(self.live_rows()) >= max(self.ann.threshold, 1)

    def __len__(self) -> int:
        return len(self.store)

    def check_model(self, model_id: str) -> None:
        self.store.check_model(model_id)

    def info(self) -> dict[str, object]:
        return {**self.store.info(), "backend": "local"}

    def close(self) -> None:
        self._indexes.clear()
        self.store.close()

    # ---------------------------------------------------------------- items (delegated)
    def items(self) -> list[Item]:
        return self.store.items()

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        return self.store.items_by_rows(rows)

    def find_path(self, path: str | os.PathLike[str]) -> Item | None:
        return self.store.find_path(path)

    def find_hash(self, content_hash: str) -> Item | None:
        return self.store.find_hash(content_hash)

    def live_rows(self) -> np.ndarray:
        """Sorted rows of every item, read once per store version (a query must not re-read N rows)."""
        version = self.store.version
        if self._live is None or self._live[0] != version:
            self._live = (version, self.store.live_rows())
        return self._live[1]

    def failures(self) -> list[tuple[str, str]]:
        return self.store.failures()

    # ---------------------------------------------------------------- vectors
    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.store.vectors(rows)

    def embedding_sum(self) -> tuple[np.ndarray, int]:
        return self.store.embedding_sum()

    def raw_matrix(self) -> np.ndarray:
        """(live rows, dim) float32 raw embeddings in row order (the memory map itself when possible)."""
        live = self.live_rows()
        matrix = self.store.embeddings()
        if matrix.dtype == np.float32 and len(live) == matrix.shape[0]:
            return matrix
        return np.asarray(matrix[live], dtype=np.float32)

    # ---------------------------------------------------------------- writing (delegated)
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """The store's advisory lock; once held, files left by an interrupted compaction are removed."""
        with self.store.writer_lock():
            self.store.remove_stray_files()
            yield

    def add(self, embeddings: np.ndarray, items: Sequence[NewItem], *, replace: bool = True) -> list[int]:
        return self.store.add(embeddings, items, replace=replace)

    def remove(self, item_ids: Sequence[int]) -> None:
        self.store.remove(item_ids)

    def update_paths(self, moves: Sequence[tuple[int, NewItem]]) -> None:
        self.store.update_paths(moves)

    def touch(self, updates: Sequence[tuple[int, str, int, int]]) -> None:
        self.store.touch(updates)

    def set_root(self, root: str) -> None:
        self.store.set_root(root)

    def record_failures(self, failures: Sequence[tuple[str, str, str]]) -> None:
        self.store.record_failures(failures)

    def compact_if_needed(self, ratio: float) -> bool:
        if self.store.n_rows and self.store.holes() > ratio * self.store.n_rows:
            return self.store.compact()
        return False

    # ---------------------------------------------------------------- vector sets
    @property
    def _tag(self) -> str:
        return f"{self.store.store_id[:12]}v{self.store.version}"

    def _set_matrix(self, vector_set: str) -> np.ndarray:
        if vector_set == RAW:
            return self.raw_matrix()

        def missing() -> np.ndarray:
            raise StoreError(
                f"vector set {vector_set!r} is not materialised for store version {self.store.version}",
                hint="call materialize(name, transform) first",
            )

        return self.cache.get_or_compute("z", vector_set, missing, tag=self._tag)

    def materialize(self, name: str, transform: Transform) -> None:
        if name == RAW:
            return
        raw = self.raw_matrix()

        def compute() -> np.ndarray:
            if len(raw) == 0:
                raise StoreError("the store holds no images", hint="index a folder first")
            output: np.ndarray | None = None
            for start, stop in iter_batches(len(raw), MATERIALIZE_BATCH):
                block = transform(np.asarray(raw[start:stop], dtype=np.float32))
                if output is None:
                    output = np.empty((len(raw), block.shape[1]), dtype=np.float32)
                output[start:stop] = block
            assert output is not None
            return output

        self.cache.get_or_compute("z", name, compute, tag=self._tag)

    def set_vectors(self, vector_set: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64)
        if vector_set == RAW:
            return self.store.vectors(wanted)
        live = self.live_rows()
        positions = np.searchsorted(live, wanted)
        if len(wanted) and (positions.max() >= len(live) or not np.array_equal(live[positions], wanted)):
            raise StoreError("asked for rows that are not in the store", hint="use rows returned by search")
        return np.asarray(self._set_matrix(vector_set)[positions], dtype=np.float32)

    def index_path(self, vector_set: str) -> Path:
        """Where the approximate index of a vector set is saved."""
        return self.store.path / CACHE_DIR / f"ann-{cache_key(vector_set)[:24]}.npz"

    def approximate_index(self, vector_set: str) -> FaissIndex | None:
        """The up-to-date FAISS index of a set at or above the threshold (loaded or rebuilt); else None."""
        live = self.live_rows()
        if len(live) < max(self.ann.threshold, 1):
            return None
        config = self.ann.for_set(raw=vector_set == RAW)
        key = index_key(self.store.store_id, self.store.version, vector_set, config)
        index = self._indexes.get(vector_set)
        if index is None or index.key != key:
            index = load_or_build(
                self.index_path(vector_set), key, lambda: self._set_matrix(vector_set), live, config
            )
            self._indexes[vector_set] = index
        return index

    def search(
        self, queries: np.ndarray, k: int, *, vector_set: str = RAW, exclude_rows: Sequence[int | None] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self.approximate_index(vector_set)
        if index is not None:
            return index.search(queries, k, exclude_rows)
        return exact_top_k(
            np.asarray(queries, dtype=np.float32),
            self._set_matrix(vector_set),
            self.live_rows(),
            k,
            exclude_rows,
        )
