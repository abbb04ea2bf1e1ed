"""`Collection`: conditional search over an indexed store (the Python facade of the product).

    collection = Collection.open("photos.condsim")
    collection.similar("photos/cat.jpg", by=["color"], k=10)        # CLAY (methods.md §1.2)
    collection.similar("photos/cat.jpg", by=["shape"], not_=["color"])  # same shape, ignore colour
    collection.search("a red car", k=10)

Image embeddings are computed once (at index time). A condition is a cheap transform at query time:

* CLAY: z = normalize(V_kᵀ log_µc(H v)) (Eq. 5) for every database row, then cos(z_q, z_d);
* CRL: r = normalize(v Tᵀ) (CRL Eq. 4, row-normalised for retrieval), then cos(r_q, r_d);
* plain: cos(v_q, v_d), the condition-blind baseline.

Every space comes from the registry `condsim.methods.SPACES`. The fitted spaces and the transformed
database of a condition (z or r) are cached (`space_cache.py`, on disk via `cache.py`), keyed by the
fitted space's fingerprint and the store's (id, version), so the first query of a condition pays one
transform and later ones cost one (N × k) scan, which for k = 50 < d is cheaper than the plain
(N × d) scan. Scoring and top-k live in `ranking.py`.

Several conditions ``by=[a, b]`` are combined, by default (``combine="stack"``), as the paper's
multi-condition CLAY: one subspace fitted on the row-stacked prompt sets. ``combine="mean"`` (our
extension, the default when ``weights`` are given) is the weighted mean of the per-condition cosines,
score = Σ_c w_c·cos_c with Σ w_c = 1 (`condsim.methods.weighting`; each condition keeps its own cached
z); `Result.contributions` then holds the terms w_c·cos_c, which add up to the score.
``not_=[...]`` removes the negative conditions' principal directions from each condition subspace
(CLAY only).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from condsim._files import file_sha256
from condsim.collection.backends import is_milvus
from condsim.collection.backends.faiss_index import AnnConfig
from condsim.collection.backends.local import LocalBackend
from condsim.collection.backends.protocol import StorageBackend
from condsim.collection.cache import ArrayCache
from condsim.collection.duplicates import DEFAULT_THRESHOLD, check_threshold
from condsim.collection.index_plan import is_storable_name
from condsim.collection.integrity import verify_embeddings
from condsim.collection.queries import Queries, Query, QueryInput, one_version
from condsim.collection.score_terms import ScoreTerms
from condsim.collection.space_cache import ConditionLike, SpaceCache
from condsim.collection.store import CACHE_DIR, Item, Store, StoreChangedError
from condsim.collection.store_format import corrupt, damaged_rows
from condsim.collection.stored_files import StoredFiles
from condsim.errors import (
    CondsimWarning,
    DimensionMismatchError,
    ImageLoadError,
    InvalidInputError,
    StoreError,
)
from condsim.methods import (
    CONDITIONAL_METHODS,
    FEATURE_METHODS,
    EmbeddedCondition,
    SpaceOptions,
    check_method,
    normalized_mean,
    unit_rows,
)

if TYPE_CHECKING:
    from condsim.collection.backends.milvus import MilvusBackend
    from condsim.conditions.condition import Condition
    from condsim.encoders.base import Encoder

__all__ = ["Collection", "ConditionLike", "EmbeddedCondition", "QueryInput", "Result"]

#: reads of a store version whose embedding file a concurrent compaction removed, before giving up
_SNAPSHOT_ATTEMPTS = 5


@dataclass(frozen=True)
class Result:
    """One hit: the image, its score, where it sits in the store, and what each condition gave.

    `contributions` maps a condition name to its term of the score (w_c·cos_c; they sum to `score`);
    it is empty for plain similarity. `id` is the image's stable id in the store (the items table's
    id, as `search_vectors` returns it: it survives compaction, a move and re-indexing; a changed file
    gets a new one); `row` is its embedding row (stable only until the next compaction).
    """

    path: str
    score: float
    row: int
    relpath: str = ""
    contributions: dict[str, float] = field(default_factory=dict)
    id: int = -1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: id, path, score, row, relpath, contributions."""
        return {
            "id": self.id,
            "path": self.path,
            "score": self.score,
            "row": self.row,
            "relpath": self.relpath,
            "contributions": dict(self.contributions),
        }


class Collection(ScoreTerms, Queries, StoredFiles):
    """A store opened for search. Build one with `Collection.open(store_dir)`.

    Parameters (after the store): `encoder` (default: loaded on first need from the model recorded
    in the store; its `model_id` must match), `clay_k` (CLAY's rank, paper: 50), `alignment`
    ("householder" | "rotation" | "none"), `manifold` (False = Euclidean ablation), `cache_on_disk`
    (write transformed databases under STORE/cache), `duplicate_threshold` (plain cosine at which
    two results are near duplicates, `duplicates.py`), `root` (the folder the indexed images are in
    now, when it was moved; by default the recorded folder, or where it is found, `relocate.py`),
    `ann` (the FAISS index a local store uses above `AnnConfig.threshold` images; a Milvus store is
    searched through its own index).
    """

    def __init__(
        self,
        store: Store | MilvusBackend,
        encoder: Encoder | None = None,
        *,
        clay_k: int = 50,
        alignment: Literal["householder", "rotation", "none"] = "householder",
        manifold: bool = True,
        cache_on_disk: bool = True,
        rerank_candidates: int = 100,
        rerank_neighbors: int = 10,
        rerank_weight: float = 0.5,
        duplicate_threshold: float = DEFAULT_THRESHOLD,
        root: str | os.PathLike[str] | None = None,
        ann: AnnConfig | None = None,
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
        self.duplicate_threshold = check_threshold(duplicate_threshold, "duplicate_threshold")
        local = isinstance(store, Store)
        self.cache = ArrayCache(store.path / CACHE_DIR if cache_on_disk and local else None)
        #: the storage protocol over `store`, through which index-backed queries run
        self.backend: StorageBackend = (
            LocalBackend(store, cache=self.cache, ann=ann) if isinstance(store, Store) else store
        )
        self._damaged = False
        self._state_version: int | None = None
        self._synced_state: tuple[int, tuple[int, int, int, int]] | None = None  # `_sync`
        self._synced_tag = ""
        self._pinned = False
        self._root = Path(root) if root is not None else None
        self._root_found: tuple[int | None, Path | None, bool] | None = None  # `StoredFiles._where`
        self._live_rows = np.zeros(0, dtype=np.int64)
        self._live_ids = np.zeros(0, dtype=np.int64)
        self._database_matrix: np.ndarray | None = np.zeros((0, store.dim), dtype=np.float32)
        self._spaces = SpaceCache(
            self.cache,
            SpaceOptions(clay_k=clay_k, alignment=alignment, manifold=manifold),
            model_id=store.model_id,
            dim=store.dim,
            encoder=lambda: self.encoder,
        )
        self._sync()

    @classmethod
    def open(
        cls,
        store_dir: str | os.PathLike[str],
        encoder: Encoder | None = None,
        **options: Any,
    ) -> Collection:
        """Open the store at `store_dir` (a folder, `milvus-lite:FILE` or `milvus://HOST:PORT[/DB]`) for
        search (see the class docstring for `options`)."""
        if is_milvus(store_dir):
            from condsim.collection.backends.milvus import MilvusBackend

            backend = MilvusBackend.open(
                os.fspath(store_dir), model_id=encoder.model_id if encoder is not None else None
            )
            return cls(backend, encoder, **options)
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
        """The synced state the caches key on: store id, version and the rows damage left out."""
        return self._synced_tag

    def _sync(self) -> None:
        """Pick up a re-index, or a change of the embedding file, since the last call.

        Rows, item ids and embeddings are read from one committed version (`Store.reading`), read
        again if a compaction removed that version's file meanwhile; results map rows to items by
        id, so a concurrent index run never shifts paths. The embeddings are verified whenever the
        version or the file's stat changed (`integrity.verify_embeddings`, remembered on disk), so
        damage written after a first query is noticed; damaged rows are left out with a warning.
        Inside `_one_version` (a query under way) this does nothing: the query keeps its version.
        A Milvus store gives its rows and ids; its vectors are fetched only when a scan needs them.
        """
        if self._pinned:
            return
        if not isinstance(self.store, Store):
            version = self.store.version
            if version != self._state_version:
                self._state_version = version
                self._synced_tag = f"{self.store.store_id[:12]}v{version}"
                self._spaces.clear()
                self._live_rows, self._live_ids = self.store.live_items()
                self._database_matrix = None
            return
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            try:
                with self.store.reading():
                    state = (self.store.version, self.store.embeddings_state())
                    if state == self._synced_state:
                        return
                    live_rows, live_ids = self.store.live_items()
                    matrix = self.store.embeddings()
                    damage, settled = verify_embeddings(self.store, matrix, live_rows, self.cache, state)
                    store_id = self.store.store_id
                break
            except StoreChangedError:
                if attempt == _SNAPSHOT_ATTEMPTS - 1:
                    raise
        self._state_version, self._synced_state = state[0], state if settled else None
        message = damage.warning(self.store.path)
        if message is not None:
            warnings.warn(CondsimWarning(message), stacklevel=3)
        damaged = damage.invalid_rows
        keep = ~np.isin(live_rows, damaged)
        tag = f"{store_id[:12]}v{state[0]}" + (
            f"d{zlib.crc32(damaged.tobytes()):08x}" if len(damaged) else ""
        )
        if tag != self._synced_tag:
            self._spaces.clear()
            self._synced_tag = tag
        self._damaged = bool(len(damaged))
        self._live_rows, self._live_ids = live_rows[keep], live_ids[keep]
        if matrix.dtype == np.float32 and len(self._live_rows) == matrix.shape[0]:
            self._database_matrix = matrix  # memory-mapped, no copy
        else:
            self._database_matrix = np.asarray(matrix[self._live_rows], dtype=np.float32)

    @property
    def _database(self) -> np.ndarray:
        """(live rows, d) float32 embeddings in row order: the local memory map, or every vector of a
        Milvus store, fetched once per version when a scan needs them (features, re-ranking)."""
        if self._database_matrix is None:
            self._database_matrix = self.backend.vectors(self._live_rows)
        return self._database_matrix

    @contextlib.contextmanager
    def _one_version(self) -> Iterator[None]:
        """Answer one call from one store version: sync, then hold that version's read snapshot (the
        items, rows and vectors read meanwhile belong to it) and skip the syncs of nested calls
        (`image_mean`, the path filter), which would otherwise mix two versions' rows. A non-finite
        value of the stored embeddings that reaches a transform (damage written while the query ran)
        is a `StoreCorruptError` naming the repair, not the error a caller's bad input gives."""
        if self._pinned:
            yield
            return
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            with self.store.reading():
                try:
                    self._sync()
                except StoreChangedError:
                    if attempt == _SNAPSHOT_ATTEMPTS - 1:
                        raise
                    continue
                self._pinned = True
                try:
                    yield
                except InvalidInputError as error:
                    if not len(damaged_rows(self._database, np.arange(len(self._database)))):
                        raise
                    raise corrupt(
                        self.store.path, "stored embeddings were damaged while it was read", repairable=True
                    ) from error
                finally:
                    self._pinned = False
                return

    def _ids_of(self, rows: np.ndarray) -> np.ndarray:
        """The item id of each synced row (-1 where `rows` holds no synced row)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(self._live_rows):
            return np.full(rows.shape, -1, dtype=np.int64)
        positions = np.clip(np.searchsorted(self._live_rows, rows), 0, len(self._live_rows) - 1)
        return np.where(self._live_rows[positions] == rows, self._live_ids[positions], -1)

    def _synced_rows(self) -> _SyncedRows:
        """Items and embeddings by row of the synced version (for the duplicate filter)."""
        return _SyncedRows(self)

    def _synced_row(self, item_id: int) -> int | None:
        """The row an item has in the synced version (it may have moved or gone since)."""
        found = np.flatnonzero(self._live_ids == item_id)
        return int(self._live_rows[found[0]]) if len(found) else None

    def _snapshot_items(self) -> list[Item]:
        """The items of the synced rows, in row order (aligned with the database), read from the
        same committed version as the rows (after a sync inside one `Store.reading` block)."""
        with self.store.reading():
            self._sync()
            by_id = {item.id: item for item in self.store.items()}
        return [by_id[int(item_id)] for item_id in self._live_ids]

    def refresh(self) -> None:
        """Re-read the store (called automatically before every query)."""
        self._sync()

    def cache_info(self) -> dict[str, dict[str, int]]:
        """Cache counters per namespace: "z" (transformed databases), "prompts", "mean"."""
        return self.cache.info()

    def image_mean(self) -> np.ndarray:
        """µ_db: the normalised mean of the collection's image embeddings (cached per version).

        Read from the store's running sum (O(d), kept by every add and remove), not by averaging N
        vectors; a local store whose damaged rows are left out averages its intact rows instead, and
        an empty or cancelling set raises as `normalized_mean` does.
        """
        self._sync()

        def compute() -> np.ndarray:
            if not self._damaged:
                total, count = self.backend.embedding_sum()
                norm = float(np.linalg.norm(total))
                if count and norm > 1e-9 * count:
                    return np.asarray(total / norm, dtype=np.float64)
            return normalized_mean(self._database).astype(np.float64)

        return np.asarray(self.cache.get_or_compute("mean", "db", compute, tag=self._tag))

    # ------------------------------------------------------------------ queries
    def _embed_queries(self, queries: Sequence[QueryInput] | np.ndarray) -> Query:
        if isinstance(queries, np.ndarray):
            matrix = queries[None, :] if queries.ndim == 1 else queries
            return Query(self._check_vectors(matrix), (None,) * len(matrix), (None,) * len(matrix))
        vectors: list[np.ndarray | None] = []
        own_rows: list[int | None] = []
        hashes: list[str | None] = [None] * len(queries)
        to_encode: list[tuple[int, Any]] = []
        for index, query in enumerate(queries):
            if isinstance(query, np.ndarray):
                vectors.append(self._check_vectors(query.reshape(1, -1))[0])
                own_rows.append(None)
                continue
            with self.store.reading():  # the item and its vector from one store version
                item = self._stored_item(query) if isinstance(query, str | os.PathLike) else None
                stored = self.store.vectors([item.row])[0] if item is not None else None
            if item is not None and stored is not None:
                vectors.append(stored)
                own_rows.append(self._synced_row(item.id))
                hashes[index] = item.hash
            else:
                hashes[index] = _content_hash(query)
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
        return Query(unit_rows(matrix, "query embeddings"), tuple(own_rows), tuple(hashes))

    def _stored_item(self, path: str | os.PathLike[str]) -> Item | None:
        """The store's item for this query path if its stored embedding describes that very file.

        A path naming a file is matched by absolute path (same size and mtime as indexed), else by
        content hash, never by name alone: `similar s00001.png` run in another folder whose
        s00001.png differs embeds that file. A path with no file behind it is looked up among the
        indexed images (absolute, or relative to the indexed folder); a name that cannot be stored
        (not valid UTF-8) is no stored image.
        """
        name = os.fspath(path)
        if isinstance(name, str) and not is_storable_name(name):
            return None
        given = Path(path)
        if given.is_file():
            return self._stored_file(given)
        item = self.store.find_path(path)
        if item is None:
            return None
        candidate = Path(item.abspath)
        try:
            stat = candidate.stat()
        except OSError:
            return item  # indexed, file gone or elsewhere: the stored embedding is all we have
        return item if (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns) else None

    def _stored_file(self, file: Path) -> Item | None:
        """The stored item of an existing file: same absolute path and stat, else same content."""
        absolute = file.resolve()
        item = self.store.find_path(str(absolute))
        if item is not None and Path(item.abspath) == absolute:
            stat = absolute.stat()
            if (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns):
                return item
        try:
            content = file_sha256(absolute)
        except OSError:
            return None  # the encoder reports the unreadable query
        return self.store.find_hash(content)

    def _check_vectors(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.store.dim:
            raise DimensionMismatchError(
                f"query embeddings have shape {matrix.shape}, the store holds {self.store.dim}-d embeddings",
                hint=f"embed queries with the store's model {self.store.model_id!r}",
            )
        return np.asarray(unit_rows(matrix, "query embeddings"), dtype=np.float32)

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

    def _results(
        self, best: np.ndarray, rows: np.ndarray, contributions: list[list[dict[str, float]]]
    ) -> list[list[Result]]:
        # rows belong to the synced version; ids survive a concurrent compaction (an item removed
        # since then is dropped from the hits, never replaced by whatever took its row)
        ids = self._ids_of(rows)
        found = ids >= 0
        items = self.store.items_by_ids(ids[found].tolist())
        output: list[list[Result]] = []
        for query_index in range(len(best)):
            hits: list[Result] = []
            for slot, (score, row) in enumerate(zip(best[query_index], rows[query_index], strict=True)):
                item = items.get(int(ids[query_index, slot])) if row >= 0 else None
                if item is None:
                    continue
                hits.append(
                    Result(
                        self.locate(item),
                        float(score),
                        int(row),
                        item.relpath,
                        contributions[query_index][slot],
                        item.id,
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
        return self.locate(item)

    @one_version
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
        paths = [self.locate(item) for item in self._snapshot_items()]
        if condition is None or method == "plain":
            if condition is not None:
                raise InvalidInputError(
                    "method='plain' ignores conditions", hint="choose method='clay' or 'crl'"
                )
            return paths, np.asarray(self._database, dtype=np.float32)
        check_method(method, FEATURE_METHODS)
        resolved = self._spaces.resolve(condition)
        if method == "crl" and crl_normalize != "row":
            # the few-shot standardisation takes one mean over the whole array: no chunks, no cache
            options = SpaceOptions(crl_normalize=crl_normalize)
            space = self._spaces.fitted(method, [resolved], self.image_mean, options=options)
            return paths, space.transform(self._database)
        space = self._spaces.fitted(method, [resolved], self.image_mean)
        return paths, self._spaces.transformed(method, space, self._database, self._tag)

    @one_version
    def value_features(
        self, condition: str | Condition, *, method: str = "clay"
    ) -> tuple[list[str], np.ndarray]:
        """(values, (V, m) float32 rows): the condition's value phrases and their prompts mapped into
        the space `features(condition, method=method)` gives (CLAY's z of a text, CRL's row-normalised
        cosines to the basis), so that a group of images can be named after its nearest value."""
        check_method(method, CONDITIONAL_METHODS)
        if isinstance(condition, str):
            from condsim.conditions import resolve_condition

            condition = resolve_condition(condition)
        resolved = self._spaces.resolve(condition)
        space = self._spaces.fitted(method, [resolved], self.image_mean)
        return list(condition.values), space.transform_texts(resolved.prompts_for(method))


class _SyncedRows:
    """`items_by_rows` / `vectors` of a collection's synced version: the rows its results carry mean
    the same images and embeddings however a concurrent index run renumbered the store since."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        wanted = np.asarray(rows, dtype=np.int64)
        ids = self._collection._ids_of(wanted)
        items = self._collection.store.items_by_ids(ids[ids >= 0].tolist())
        return {int(row): items[int(i)] for row, i in zip(wanted, ids, strict=True) if int(i) in items}

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        collection = self._collection
        positions = np.searchsorted(collection._live_rows, np.asarray(rows, dtype=np.int64))
        return np.asarray(collection._database[positions], dtype=np.float32)


def _content_hash(query: QueryInput) -> str | None:
    """The sha256 of a query file's (or bytes') content, as the store records it; None for pixels."""
    if isinstance(query, bytes):
        return hashlib.sha256(query).hexdigest()
    if isinstance(query, str | os.PathLike):
        try:
            return file_sha256(query)
        except OSError:
            return None
    return None
