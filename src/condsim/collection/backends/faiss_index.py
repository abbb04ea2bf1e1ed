"""Approximate top-k search over a vector set with FAISS (HNSW or IVF), saved beside a local store.

Below `AnnConfig.threshold` rows a scan is exact and fast enough (a (N × k) matrix–vector product),
so no index is built. Above it, an HNSW graph (default) or an IVF-Flat index answers the top-k. Both
keep the full vectors, so the returned scores are the exact inner products of the rows they find;
only *which* rows are found is approximate (recall@10 is measured by `benchmarks/scale.py`).

An index file holds the FAISS index, the store rows of its vectors and the key of the data it was
built from (store id, store version, vector-set name) in one atomically written `.npz`. `load_or_build`
compares that key with the current one and rebuilds on any difference, so a stale index is never
used: an index of an older store version is simply an index of another key.
"""

from __future__ import annotations

import contextlib
import json
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from condsim._files import atomic_write
from condsim.collection.backends.protocol import pad_results
from condsim.errors import InvalidInputError

IndexKind = Literal["hnsw", "ivf"]
INDEX_KINDS: tuple[IndexKind, ...] = ("hnsw", "ivf")


@dataclass(frozen=True)
class AnnConfig:
    """Which approximate index to build and how hard to search it.

    kind: the index of a condition's k-dimensional set (HNSW: best recall, cheap to build at k = 50).
    raw_kind: the index of the raw d-dimensional embeddings (IVF: an HNSW graph over 512-d vectors
        takes ~20x longer to build; `benchmarks/scale.py` measures both).
    threshold: vector sets with fewer rows are scanned exactly (no index).
    hnsw_m / ef_construction / ef_search: HNSW graph degree, build and search beam widths.
    ivf_lists: IVF coarse cells (default 2·√N); nprobe: cells visited per query.
    """

    kind: IndexKind = "hnsw"
    raw_kind: IndexKind = "ivf"
    threshold: int = 100_000
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 512
    ivf_lists: int | None = None
    nprobe: int = 64

    def __post_init__(self) -> None:
        for kind in (self.kind, self.raw_kind):
            if kind not in INDEX_KINDS:
                raise InvalidInputError(f"unknown index kind {kind!r}", hint=f"use one of {INDEX_KINDS}")
        if self.threshold < 0 or self.hnsw_m < 2 or self.ef_search < 1 or self.nprobe < 1:
            raise InvalidInputError(f"invalid approximate-index settings {self}")

    def for_set(self, raw: bool) -> AnnConfig:
        """These settings with `kind` set to the index used for the raw set or a condition's set."""
        return replace(self, kind=self.raw_kind if raw else self.kind)

    def describe(self) -> dict[str, Any]:
        """The settings that change what an index returns (part of its key)."""
        if self.kind == "hnsw":
            return {"kind": "hnsw", "m": self.hnsw_m, "ef_construction": self.ef_construction}
        return {"kind": "ivf", "lists": self.ivf_lists}


def _faiss() -> Any:
    import faiss  # faiss-cpu is a core dependency; imported here to keep `import condsim` light

    return faiss


class FaissIndex:
    """A built FAISS index over unit rows and the store row of each of its vectors."""

    def __init__(self, index: Any, rows: np.ndarray, key: str, config: AnnConfig) -> None:
        self.index = index
        self.rows = np.asarray(rows, dtype=np.int64)
        self.key = key
        self.config = config

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def build(cls, matrix: np.ndarray, rows: np.ndarray, key: str, config: AnnConfig) -> FaissIndex:
        """Index the (N, m) float32 unit rows of `matrix` (row i is store row `rows[i]`)."""
        faiss = _faiss()
        vectors = np.ascontiguousarray(matrix, dtype=np.float32)
        count, width = vectors.shape
        if config.kind == "hnsw":
            index = faiss.IndexHNSWFlat(width, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.ef_construction
            for start in range(0, count, 65_536):
                index.add(vectors[start : start + 65_536])
        else:
            lists = config.ivf_lists or max(1, min(int(2 * math.sqrt(count)), count // 39 or 1))
            quantizer = faiss.IndexFlatIP(width)
            index = faiss.IndexIVFFlat(quantizer, width, lists, faiss.METRIC_INNER_PRODUCT)
            sample = vectors[np.random.default_rng(0).permutation(count)[: max(lists * 64, 10_000)]]
            index.train(sample)
            for start in range(0, count, 65_536):
                index.add(vectors[start : start + 65_536])
        return cls(index, rows, key, config)

    def search(
        self, queries: np.ndarray, k: int, exclude_rows: Sequence[int | None] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the approximate top-k, (q, k) each, best first, padded with -inf / -1."""
        if self.config.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.config.ef_search, 2 * k)
        else:
            self.index.nprobe = self.config.nprobe
        excluded = list(exclude_rows) + [None] * (len(queries) - len(exclude_rows))
        extra = 1 if any(row is not None for row in excluded) else 0
        take = min(k + extra, len(self.rows))
        scores, positions = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), take)
        all_scores: list[np.ndarray] = []
        all_rows: list[np.ndarray] = []
        for index, own in enumerate(excluded):
            valid = positions[index] >= 0
            found_rows = self.rows[positions[index][valid]]
            found_scores = scores[index][valid]
            if own is not None:
                keep = found_rows != own
                found_rows, found_scores = found_rows[keep], found_scores[keep]
            order = np.lexsort((found_rows, -found_scores))
            all_scores.append(found_scores[order].astype(np.float32))
            all_rows.append(found_rows[order])
        return pad_results(all_scores, all_rows, k)

    def save(self, path: Path) -> None:
        """Write index, rows and key to `path` in one atomic file."""
        payload = _faiss().serialize_index(self.index)
        header = json.dumps({"key": self.key, "config": self.config.__dict__})
        with atomic_write(path) as handle:
            np.savez(handle, index=payload, rows=self.rows, header=np.frombuffer(header.encode(), np.uint8))

    @classmethod
    def load(cls, path: Path, key: str) -> FaissIndex | None:
        """The index saved at `path` if it was built for `key`; None when missing, stale or damaged."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                header = json.loads(bytes(saved["header"]).decode())
                if header.get("key") != key:
                    return None
                rows = np.asarray(saved["rows"], dtype=np.int64)
                index = _faiss().deserialize_index(np.asarray(saved["index"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, RuntimeError):
            return None
        if index.ntotal != len(rows):
            return None
        return cls(index, rows, key, AnnConfig(**header["config"]))


def index_key(store_id: str, version: int, vector_set: str, config: AnnConfig) -> str:
    """What an index depends on: the store's identity and version, the vector set and the settings."""
    return json.dumps([store_id, version, vector_set, config.describe()], sort_keys=True)


def load_or_build(
    path: Path | None,
    key: str,
    matrix: Callable[[], np.ndarray],
    rows: np.ndarray,
    config: AnnConfig,
) -> FaissIndex:
    """The index at `path` when its key is `key`; otherwise build it from `matrix()` and save it there.

    `path=None` keeps the index in memory only. A stale file (another key) is replaced, never used.
    """
    if path is not None:
        loaded = FaissIndex.load(path, key)
        if loaded is not None:
            return loaded
    built = FaissIndex.build(matrix(), rows, key, config)
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only store still searches with the in-memory index
            path.parent.mkdir(parents=True, exist_ok=True)
            built.save(path)
    return built
