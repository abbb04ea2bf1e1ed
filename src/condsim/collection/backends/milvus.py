"""The Milvus backend: the storage protocol over Milvus Lite (a local file) or a Milvus server.

`--store milvus-lite:FILE` starts Milvus Lite's embedded gRPC server on 127.0.0.1 for FILE (pure
Python, in this process) and `--store milvus://HOST:PORT[/DB]` names a Milvus Standalone or
Distributed server; both are then driven by one `pymilvus.MilvusClient` over gRPC, one code path.

Layout, for the collection prefix P (default "condsim"; `milvus://HOST:PORT/DB?prefix=P`):

    P_items      row INT64 (primary = item id), relpath, abspath, hash, size, mtime_ns,
                 vector FLOAT_VECTOR(dim), HNSW index (inner product)
    P_meta       key -> value: model_id, dim, store_id, version, next_row, root, the running sum
    P_failures   relpath -> abspath, reason of the last index run
    P_set_<fp>   a condition's z vectors (row, z FLOAT_VECTOR(k)), one collection per condition
                 fingerprint, HNSW index; built in batches on the first query of that condition

Consistency. Milvus has no multi-collection transaction, so every write runs in three steps: bump
`version` and mark the store `dirty`, change the items, then write the running sum and clear
`dirty`. A run killed in the middle leaves a bumped version (so no derived vector set of the old
version is ever served) and a dirty flag (so the next open recomputes the sum from the vectors).
A condition's vector set records the version it was built from and is dropped and rebuilt when that
is not the current one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from condsim.collection.backends.milvus_layout import (
    MAX_PATH,
    META_DIM,
    MilvusLocation,
    connect,
    create_store,
    create_vector_collection,
    decode_sum,
    encode_sum,
    parse_location,
    quoted,
    read_meta,
)
from condsim.collection.backends.protocol import RAW, Transform, iter_batches, pad_results
from condsim.collection.store import Item, NewItem, checked_embeddings
from condsim.errors import StoreError, StoreModelMismatchError

_READ_BATCH = 4096
_WRITE_BATCH = 2048
_ITEM_FIELDS = ["row", "relpath", "abspath", "hash", "size", "mtime_ns"]
_HINT = "index a folder first: condsim index DIR --store milvus-lite:FILE (or milvus://HOST:PORT)"


class MilvusBackend:
    """A `StorageBackend` over Milvus. Open with `MilvusBackend.open(spec)` or `.open_or_create`."""

    def __init__(self, location: MilvusLocation, client: Any, meta: dict[str, str]) -> None:
        self.location_spec = location
        self.location = location.display
        self.client = client
        self.model_id = meta["model_id"]
        self.dim = int(meta["dim"])
        self._store_id = meta["store_id"]
        self._items = f"{location.prefix}_items"
        self._meta = f"{location.prefix}_meta"
        self._failures = f"{location.prefix}_failures"
        self._sum: tuple[np.ndarray, int] | None = None
        if meta.get("dirty") == "1":
            self._repair_sum()

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, spec: str, *, model_id: str | None = None) -> MilvusBackend:
        """Open an existing store (raises `StoreError` when there is none)."""
        location = parse_location(spec)
        client = connect(location)
        meta = read_meta(client, f"{location.prefix}_meta")
        if not meta:
            raise StoreError(f"no condsim store at {location.display}", hint=_HINT)
        backend = cls(location, client, meta)
        if model_id is not None:
            backend.check_model(model_id)
        return backend

    @classmethod
    def open_if_exists(cls, spec: str) -> MilvusBackend | None:
        """The store at `spec`, or None when the server holds none there (an unreachable server
        still raises `MilvusUnavailableError`)."""
        location = parse_location(spec)
        client = connect(location)
        meta = read_meta(client, f"{location.prefix}_meta")
        if not meta:
            client.close()
            return None
        return cls(location, client, meta)

    @classmethod
    def open_or_create(cls, spec: str, model_id: str, dim: int) -> MilvusBackend:
        """Open the store at `spec` (checking model and dimension) or create an empty one there."""
        location = parse_location(spec)
        client = connect(location)
        meta_name = f"{location.prefix}_meta"
        meta = read_meta(client, meta_name)
        if not meta:
            meta = create_store(client, location.prefix, model_id, dim)
        backend = cls(location, client, meta)
        backend.check_model(model_id)
        if backend.dim != dim:
            raise StoreModelMismatchError(
                f"the store at {location.display} holds {backend.dim}-d embeddings, the model gives {dim}-d",
                hint="index into a new --store",
            )
        return backend

    # ---------------------------------------------------------------- identity and state
    def _meta_get(self, key: str) -> str:
        rows = self.client.get(self._meta, ids=[key], output_fields=["value"])
        if not rows:
            raise StoreError(f"the Milvus store at {self.location} lacks metadata {key!r}", hint=_HINT)
        return str(rows[0]["value"])

    def _meta_set(self, values: dict[str, str]) -> None:
        self.client.upsert(
            self._meta, [{"key": k, "value": v, "vector": [0.0] * META_DIM} for k, v in values.items()]
        )

    @property
    def version(self) -> int:
        return int(self._meta_get("version"))

    @property
    def store_id(self) -> str:
        return self._store_id

    @property
    def root(self) -> str:
        return self._meta_get("root")

    def __len__(self) -> int:
        result = self.client.query(self._items, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def check_model(self, model_id: str) -> None:
        if model_id != self.model_id:
            raise StoreModelMismatchError(
                f"the store at {self.location} was built with model {self.model_id!r}, not {model_id!r}",
                hint=f"use --model {self.model_id} or index into a new --store",
            )

    def info(self) -> dict[str, object]:
        return {
            "path": self.location,
            "backend": "milvus-lite" if self.location_spec.lite_file is not None else "milvus",
            "items": len(self),
            "model_id": self.model_id,
            "dim": self.dim,
            "version": self.version,
            "root": self.root,
            "failures": len(self.failures()),
        }

    def __enter__(self) -> MilvusBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def local_path(self) -> Path | None:
        return self.location_spec.lite_file

    def indexed_search(self) -> bool:
        """Always: Milvus answers every query from its own index."""
        return True

    def compact_if_needed(self, ratio: float) -> bool:
        """Milvus compacts its segments itself; there are no holes to reclaim here."""
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a client whose server is gone is not an error
            self.client.close()

    # ---------------------------------------------------------------- items
    def _iterate(self, collection: str, fields: list[str]) -> Iterator[list[dict[str, Any]]]:
        iterator = self.client.query_iterator(
            collection, batch_size=_READ_BATCH, filter="", output_fields=fields
        )
        try:
            while batch := iterator.next():
                yield batch
        finally:
            iterator.close()

    @staticmethod
    def _item(record: dict[str, Any]) -> Item:
        return Item(
            int(record["row"]),
            int(record["row"]),
            str(record["relpath"]),
            str(record["abspath"]),
            str(record["hash"]),
            int(record["size"]),
            int(record["mtime_ns"]),
            "ok",
        )

    def items(self) -> list[Item]:
        found = [self._item(record) for batch in self._iterate(self._items, _ITEM_FIELDS) for record in batch]
        return sorted(found, key=lambda item: item.row)

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        found: dict[int, Item] = {}
        wanted = sorted({int(row) for row in rows})
        for start, stop in iter_batches(len(wanted), _READ_BATCH):
            for record in self.client.get(self._items, ids=wanted[start:stop], output_fields=_ITEM_FIELDS):
                item = self._item(record)
                found[item.row] = item
        return found

    def _first(self, expression: str) -> Item | None:
        records = self.client.query(self._items, filter=expression, output_fields=_ITEM_FIELDS, limit=1)
        return self._item(records[0]) if records else None

    def find_path(self, path: str | os.PathLike[str]) -> Item | None:
        candidate = Path(path)
        absolute = str(candidate.resolve()) if candidate.exists() else str(candidate.absolute())
        item = self._first(f"abspath == {quoted(absolute)}")
        if item is None and not candidate.is_absolute():
            item = self._first(f"relpath == {quoted(candidate.as_posix())}")
        return item

    def find_hash(self, content_hash: str) -> Item | None:
        return self._first(f"hash == {quoted(content_hash)}")

    def items_by_ids(self, item_ids: Sequence[int]) -> dict[int, Item]:
        """Items keyed by id (an item's id is its row in Milvus, stable: there is no compaction)."""
        return self.items_by_rows(item_ids)

    def live_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, item ids), ordered by row; the same array twice, since ids are rows here."""
        rows = self.live_rows()
        return rows, rows.copy()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads of one block see the committed state of each request; Milvus offers no multi-request
        snapshot, so results are mapped to items by id and an item removed meanwhile is dropped."""
        yield

    @property
    def path(self) -> Path:
        """Where the store lives, for messages: the Milvus Lite file, or the server address."""
        return self.location_spec.lite_file or Path(self.location)

    def live_rows(self) -> np.ndarray:
        rows = [int(record["row"]) for batch in self._iterate(self._items, ["row"]) for record in batch]
        return np.sort(np.asarray(rows, dtype=np.int64))

    def failures(self) -> list[tuple[str, str]]:
        records = [
            r for batch in self._iterate(self._failures, ["relpath", "abspath", "reason"]) for r in batch
        ]
        return [(str(r["abspath"]), str(r["reason"])) for r in sorted(records, key=lambda r: r["relpath"])]

    # ---------------------------------------------------------------- vectors and the running sum
    def _fetch(self, collection: str, field: str, rows: Sequence[int] | np.ndarray, width: int) -> np.ndarray:
        wanted = [int(row) for row in np.asarray(rows, dtype=np.int64)]
        output = np.empty((len(wanted), width), dtype=np.float32)
        position = {row: index for index, row in enumerate(wanted)}
        filled = 0
        for start, stop in iter_batches(len(wanted), _READ_BATCH):
            for record in self.client.get(collection, ids=wanted[start:stop], output_fields=[field]):
                output[position[int(record["row"])]] = np.asarray(record[field], dtype=np.float32)
                filled += 1
        if filled != len(set(wanted)):
            raise StoreError("asked for rows that are not in the store", hint="use rows returned by search")
        return output

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._fetch(self._items, "vector", rows, self.dim)

    def embedding_sum(self) -> tuple[np.ndarray, int]:
        if self._sum is None:
            self._sum = (decode_sum(self._meta_get("sum"), self.dim), int(self._meta_get("count")))
        return self._sum[0].copy(), self._sum[1]

    def _repair_sum(self) -> None:
        """Recompute the running sum from the vectors (after a write that was killed half way)."""
        total = np.zeros(self.dim, dtype=np.float64)
        count = 0
        for batch in self._iterate(self._items, ["row", "vector"]):
            total += np.asarray([record["vector"] for record in batch], dtype=np.float64).sum(axis=0)
            count += len(batch)
        self._meta_set({"sum": encode_sum(total), "count": str(count), "dirty": "0"})
        self._sum = (total, count)

    @contextlib.contextmanager
    def _write(self) -> Iterator[list[np.ndarray]]:
        """Bump the version and mark dirty; the body appends signed vectors to the list; then the sum
        is updated and the mark cleared (see the module docstring)."""
        total, _ = self.embedding_sum()
        self._meta_set({"version": str(self.version + 1), "dirty": "1", "updated_at": repr(time.time())})
        self._sum = None
        changes: list[np.ndarray] = []
        yield changes
        for change in changes:
            total += change.sum(axis=0)
        count = len(self)
        self._meta_set({"sum": encode_sum(total), "count": str(count), "dirty": "0"})
        self._sum = (total, count)

    # ---------------------------------------------------------------- writing
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """A lease in the meta collection: one writer at a time; a lease of a dead local process or
        older than a day is taken over."""
        holder = f"{socket.gethostname()}:{os.getpid()}"
        current = self.client.get(self._meta, ids=["writer"], output_fields=["value"])
        if current and current[0]["value"]:
            other_host, _, rest = str(current[0]["value"]).partition(":")
            other_pid, _, since = rest.partition(":")
            alive = other_host != socket.gethostname() or _pid_alive(int(other_pid or 0))
            if alive and time.time() - float(since or 0) < 86_400:
                raise StoreError(
                    f"another process ({other_host} pid {other_pid}) is writing to {self.location}",
                    hint="wait for the other `condsim index` run to finish",
                )
        self._meta_set({"writer": f"{holder}:{time.time()}"})
        try:
            yield
        finally:
            self._meta_set({"writer": ""})

    def _records(
        self, rows: Sequence[int], items: Sequence[NewItem], vectors: np.ndarray
    ) -> list[dict[str, Any]]:
        for item in items:
            if len(item.relpath) > MAX_PATH or len(item.abspath) > MAX_PATH:
                raise StoreError(f"path longer than {MAX_PATH} characters: {item.abspath[:80]}...")
        return [
            {
                "row": int(row),
                "relpath": item.relpath,
                "abspath": item.abspath,
                "hash": item.hash,
                "size": int(item.size),
                "mtime_ns": int(item.mtime_ns),
                "vector": vector,
            }
            for row, item, vector in zip(rows, items, vectors, strict=True)
        ]

    def _rows_of_relpaths(self, relpaths: Sequence[str]) -> list[int]:
        found: list[int] = []
        for start, stop in iter_batches(len(relpaths), 256):
            expression = "relpath in [" + ", ".join(quoted(p) for p in relpaths[start:stop]) + "]"
            found += [
                int(r["row"])
                for r in self.client.query(self._items, filter=expression, output_fields=["row"])
            ]
        return found

    def add(self, embeddings: np.ndarray, items: Sequence[NewItem], *, replace: bool = True) -> list[int]:
        matrix = checked_embeddings(embeddings, len(items), self.dim, np.float32)
        if not items:
            return []
        first = int(self._meta_get("next_row"))
        self._meta_set({"next_row": str(first + len(items))})  # reserved first: a crash only skips rows
        rows = list(range(first, first + len(items)))
        with self._write() as changes:
            if replace:
                replaced = self._rows_of_relpaths([item.relpath for item in items])
                if replaced:
                    changes.append(-self.vectors(replaced).astype(np.float64))
                    self.client.delete(self._items, ids=replaced)
            for start, stop in iter_batches(len(items), _WRITE_BATCH):
                self.client.insert(
                    self._items, self._records(rows[start:stop], items[start:stop], matrix[start:stop])
                )
            changes.append(matrix.astype(np.float64))
            self.client.delete(self._failures, ids=[item.relpath for item in items])
        return rows

    def remove(self, item_ids: Sequence[int]) -> None:
        if not item_ids:
            return
        ids = [int(i) for i in item_ids]
        with self._write() as changes:
            present = sorted(self.items_by_rows(ids))
            if present:
                changes.append(-self.vectors(present).astype(np.float64))
                self.client.delete(self._items, ids=present)

    def update_paths(self, moves: Sequence[tuple[int, NewItem]]) -> None:
        if not moves:
            return
        with self._write() as changes:
            moved_ids = {int(item_id) for item_id, _ in moves}
            clashing = [
                r for r in self._rows_of_relpaths([item.relpath for _, item in moves]) if r not in moved_ids
            ]
            if clashing:
                changes.append(-self.vectors(clashing).astype(np.float64))
                self.client.delete(self._items, ids=clashing)
            rows = [int(item_id) for item_id, _ in moves]
            self.client.upsert(
                self._items, self._records(rows, [item for _, item in moves], self.vectors(rows))
            )

    def touch(self, updates: Sequence[tuple[int, str, int, int]]) -> None:
        """New (abspath, size, mtime_ns) for unchanged items; the searchable database stays the same."""
        if not updates:
            return
        rows = [int(item_id) for item_id, _, _, _ in updates]
        current = self.items_by_rows(rows)
        vectors = self.vectors(rows)
        items = [
            NewItem(current[row].relpath, abspath, current[row].hash, size, mtime_ns)
            for row, (_, abspath, size, mtime_ns) in zip(rows, updates, strict=True)
        ]
        self.client.upsert(self._items, self._records(rows, items, vectors))

    def set_root(self, root: str) -> None:
        self._meta_set({"root": root})

    def record_failures(self, failures: Sequence[tuple[str, str, str]]) -> None:
        old = [str(r["relpath"]) for batch in self._iterate(self._failures, ["relpath"]) for r in batch]
        if old:
            self.client.delete(self._failures, ids=old)
        if failures:
            self.client.insert(
                self._failures,
                [
                    {
                        "relpath": rel,
                        "abspath": path,
                        "reason": reason[:MAX_PATH],
                        "vector": [0.0] * META_DIM,
                    }
                    for rel, path, reason in failures
                ],
            )

    # ---------------------------------------------------------------- vector sets
    def _set_collection(self, name: str) -> str:
        return f"{self.location_spec.prefix}_set_{name[:32]}"

    def materialize(self, name: str, transform: Transform) -> None:
        if name == RAW:
            return
        version = str(self.version)
        collection = self._set_collection(name)
        built = self.client.get(self._meta, ids=[f"set:{name}"], output_fields=["value"])
        if built and built[0]["value"] == version and self.client.has_collection(collection):
            return
        self._drop_stale_sets(version)
        self._drop(collection)
        created = False
        for batch in self._iterate(self._items, ["row", "vector"]):
            block = transform(np.asarray([record["vector"] for record in batch], dtype=np.float32))
            if not created:
                create_vector_collection(self.client, collection, "z", block.shape[1])
                created = True
            self.client.insert(
                collection, [{"row": int(r["row"]), "z": z} for r, z in zip(batch, block, strict=True)]
            )
        if not created:
            raise StoreError(f"the store at {self.location} holds no images", hint=_HINT)
        self.client.flush(collection)
        self.client.load_collection(collection)
        self._meta_set({f"set:{name}": version})

    def _drop_stale_sets(self, version: str) -> None:
        """Drop the vector sets built for another store version (their images changed since)."""
        prefix = f"{self.location_spec.prefix}_set_"
        for collection in self.client.list_collections():
            if not collection.startswith(prefix):
                continue
            name = collection[len(prefix) :]
            built = self.client.get(self._meta, ids=[f"set:{name}"], output_fields=["value"])
            if not built or built[0]["value"] != version:
                self._drop(collection)

    def _existing_set(self, vector_set: str) -> str:
        collection = self._set_collection(vector_set)
        if not self.client.has_collection(collection):
            raise StoreError(
                f"vector set {vector_set!r} is not materialised in {self.location}",
                hint="call materialize(name, transform) first",
            )
        return collection

    def _drop(self, collection: str) -> None:
        """Drop a collection if it exists. Milvus Lite can race its own background index writer while
        deleting a collection's folder; the drop is then tried again, up to three times."""
        for attempt in range(3):
            if not self.client.has_collection(collection):
                return
            try:
                self.client.drop_collection(collection)
                return
            except Exception:  # pymilvus.MilvusException; the last attempt's error propagates
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def set_vectors(self, vector_set: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        if vector_set == RAW:
            return self.vectors(rows)
        collection = self._existing_set(vector_set)
        width = int(
            next(f for f in self.client.describe_collection(collection)["fields"] if f["name"] == "z")[
                "params"
            ]["dim"]
        )
        return self._fetch(collection, "z", rows, width)

    def search(
        self, queries: np.ndarray, k: int, *, vector_set: str = RAW, exclude_rows: Sequence[int | None] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        collection = self._items if vector_set == RAW else self._existing_set(vector_set)
        excluded = list(exclude_rows) + [None] * (len(queries) - len(exclude_rows))
        extra = 1 if any(row is not None for row in excluded) else 0
        hits = self.client.search(
            collection,
            data=[np.asarray(q, dtype=np.float32).tolist() for q in queries],
            limit=k + extra,
            output_fields=["row"],
            search_params={"metric_type": "IP", "params": {"ef": max(128, 2 * (k + extra))}},
        )
        all_scores: list[np.ndarray] = []
        all_rows: list[np.ndarray] = []
        for own, query_hits in zip(excluded, hits, strict=True):
            pairs = [(float(h["distance"]), int(h["row"])) for h in query_hits if int(h["row"]) != own]
            pairs.sort(key=lambda pair: (-pair[0], pair[1]))
            all_scores.append(np.asarray([p[0] for p in pairs], dtype=np.float32))
            all_rows.append(np.asarray([p[1] for p in pairs], dtype=np.int64))
        return pad_results(all_scores, all_rows, k)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
