"""Reading a store: its metadata, items and memory-mapped embeddings, one consistent version at a time.

`StoreReader` is the read half of `Store` (`store.py` adds opening, creating and writing). Every value
read from the store is checked before use (`store_format.py`): a damaged store raises one
`StoreCorruptError` naming the repair, never a traceback. `reading()` pins one committed version (one
SQLite read transaction) so rows, items and the embedding file read inside it always agree, whatever
a concurrent writer commits meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from condsim.collection.store_format import (
    BLOCK_ROWS,
    DTYPES,
    FORMAT_VERSION,
    INTEGER_META,
    REQUIRED_META,
    blocks_touched,
    corrupt,
    damaged_rows,
    identity_checksum,
    inside_store,
    store_errors,
)
from condsim.errors import StoreError, StoreModelMismatchError, StoreVersionError

_ITEM_COLUMNS = "id, row, relpath, abspath, hash, size, mtime_ns, status"


class StoreChangedError(StoreError):
    """A writer replaced the embedding file between a reader's snapshot and its opening the file;
    reading again (a new `reading()` block) sees the new version."""


@dataclass(frozen=True)
class Item:
    """One indexed image: its embedding row and where/what the file was when it was embedded."""

    id: int
    row: int
    relpath: str
    abspath: str
    hash: str
    size: int
    mtime_ns: int
    status: str


@dataclass(frozen=True)
class NewItem:
    """Metadata of an image about to be added (its embedding is passed alongside)."""

    relpath: str
    abspath: str
    hash: str
    size: int = 0
    mtime_ns: int = 0


class StoreReader:
    """The read side of a store over an open SQLite connection (build a `Store`, not this).

    Reads are lock-free; wrap several in `reading()` to see one version.
    """

    def __init__(
        self, path: Path, connection: sqlite3.Connection, meta: dict[str, str] | None = None
    ) -> None:
        self.path = path
        self._db = connection
        meta = meta if meta is not None else self._read_meta()
        _validate_meta(path, meta)
        self.model_id: str = meta["model_id"]
        self.dim = int(meta["dim"])
        self.dtype_name: str = meta["dtype"]
        self.format_version = int(meta["format_version"])
        self._dtype = DTYPES[self.dtype_name][1]
        self._matrix: np.ndarray | None = None
        self._matrix_key: tuple[str, int] | None = None
        self._reading = 0
        self._read_lock = threading.RLock()
        self._blocks_ready = False

    def check_model(self, model_id: str) -> None:
        """Raise `StoreModelMismatchError` unless the store was built with `model_id`."""
        if model_id != self.model_id:
            raise StoreModelMismatchError(
                f"the store at {self.path} was built with model {self.model_id!r}, not {model_id!r}",
                hint=f"use --model {self.model_id} or index into a new --store directory",
            )

    def verify_layout(self) -> None:
        """Raise a `StoreCorruptError` unless the embedding file holds every committed row and every
        item points to one (cheap: one stat and one indexed query)."""
        n_rows = self.n_rows
        path = self.embeddings_path
        if n_rows and not path.is_file():
            raise corrupt(self.path, f"its embedding file {path.name} is missing", repairable=True)
        size = path.stat().st_size if n_rows else 0
        if size < n_rows * self._row_bytes:
            raise corrupt(
                self.path,
                f"the embedding file {path.name} is shorter than its metadata says "
                f"({size} < {n_rows * self._row_bytes} bytes)",
                repairable=True,
            )
        low, high = self._fetch("SELECT MIN(row), MAX(row) FROM items")[0]
        if low is not None and (low < 0 or high >= n_rows):
            raise corrupt(
                self.path,
                f"items point to rows outside the embedding file (0..{n_rows - 1})",
                repairable=True,
            )
        if n_rows:
            self._verify_last_block(path, n_rows)

    def _verify_last_block(self, path: Path, n_rows: int) -> None:
        """Check the last block of rows against its recorded checksum (at most BLOCK_ROWS rows): an
        edited dim / dtype / n_rows / embeddings_file, or a torn tail, shows here at once."""
        block = (n_rows - 1) // BLOCK_ROWS
        recorded = self.block_checksums().get(block)
        if recorded is None:
            return  # written before block checksums existed: `condsim check` verifies it
        first = block * BLOCK_ROWS
        with store_errors(self.path), open(path, "rb") as handle:
            handle.seek(first * self._row_bytes)
            data = handle.read((n_rows - first) * self._row_bytes)
        if recorded[0] > n_rows - first:
            raise corrupt(self.path, f"its metadata n_rows={n_rows} does not match its checksummed rows")
        if recorded[0] < n_rows - first:
            return  # rows appended by a condsim without checksums: the next writer records them
        if recorded[1] == zlib.crc32(data):
            return
        rows = np.frombuffer(data, dtype=self._dtype).reshape(-1, self.dim)
        if 2 * len(damaged_rows(rows, np.arange(len(rows)))) >= len(rows):
            # most rows do not read as embeddings: a damaged tail, or metadata describing another layout
            raise corrupt(
                self.path,
                f"most of its last {len(rows)} rows are not {self.dim}-d {self.dtype_name} embeddings "
                f"(damaged, or edited n_rows / embeddings_file metadata in {path.name})",
                repairable=True,
            )
        # else some rows are damaged: queries leave them out with a warning, `condsim check` repairs

    def close(self) -> None:
        """Release the memory map and the SQLite connection."""
        self._matrix = None
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ metadata
    def _fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with store_errors(self.path):
            return self._db.execute(sql, parameters).fetchall()

    def _read_meta(self) -> dict[str, str]:
        return dict(self._fetch("SELECT key, value FROM meta"))

    def meta(self) -> dict[str, str]:
        """All metadata key/values (model_id, dim, dtype, format_version, version, root, ...)."""
        return self._read_meta()

    def _meta_value(self, key: str) -> str:
        rows = self._fetch("SELECT value FROM meta WHERE key=?", (key,))
        if not rows:
            raise corrupt(self.path, f"its metadata lacks {key!r}")
        return str(rows[0][0])

    def _meta_int(self, key: str) -> int:
        value = self._meta_value(key)
        try:
            return int(value)
        except ValueError:
            raise corrupt(self.path, f"its metadata {key}={value!r} is not a whole number") from None

    @property
    def version(self) -> int:
        """Collection version: bumped by every committed change of rows or items."""
        return self._meta_int("version")

    @property
    def store_id(self) -> str:
        """Random id fixed at creation (a rebuilt store never shares cache keys with the old one)."""
        return self._meta_value("store_id")

    @property
    def root(self) -> str:
        """The folder last indexed into this store ('' if none)."""
        return self._meta_value("root")

    @property
    def model_source(self) -> str | None:
        """The local folder `--model` named when this store was indexed (None: a model name). Shown in
        errors only, never loaded from: nothing read from a store is trusted to pick code or weights."""
        rows = self._fetch("SELECT value FROM meta WHERE key='model_source'")
        return str(rows[0][0]) if rows else None

    @property
    def n_rows(self) -> int:
        """Committed rows in the embedding file (live rows plus holes left by removals)."""
        return self._meta_int("n_rows")

    def __len__(self) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM items")[0][0])

    @property
    def _row_bytes(self) -> int:
        return int(self.dim * self._dtype.itemsize)

    @property
    def embeddings_path(self) -> Path:
        """The live embedding file (a name from the metadata, refused unless inside the store)."""
        return inside_store(self.path, self._meta_value("embeddings_file"), "embeddings_file")

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Read one committed version: every read inside the block (rows, items, embeddings) belongs
        to the same version, whatever a writer commits meanwhile (one SQLite read transaction).

        Nested blocks share the outer one. Opening the embedding file may raise `StoreChangedError`
        when a compaction removed the snapshot's file; a new block then reads the new version.
        """
        with self._read_lock:
            if self._reading == 0:
                with store_errors(self.path):
                    self._db.execute("BEGIN")
                    self._db.execute("SELECT COUNT(*) FROM meta").fetchone()  # pins the snapshot
            self._reading += 1
        try:
            yield
        finally:
            with self._read_lock:
                self._reading -= 1
                if self._reading == 0 and self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")

    def items(self) -> list[Item]:
        """Every indexed item, ordered by row."""
        return [Item(*row) for row in self._fetch(f"SELECT {_ITEM_COLUMNS} FROM items ORDER BY row")]

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        """Items keyed by row for the given rows (missing rows are absent)."""
        return {item.row: item for item in self._items_where("row", rows)}

    def items_by_ids(self, item_ids: Sequence[int]) -> dict[int, Item]:
        """Items keyed by id (stable across compactions, unlike rows); removed ids are absent."""
        return {item.id: item for item in self._items_where("id", item_ids)}

    def _items_where(self, column: Literal["row", "id"], values: Sequence[int]) -> list[Item]:
        """The items whose `column` is one of `values`, asked in chunks under SQLite's bound-parameter
        limit."""
        wanted = [int(value) for value in values]
        found: list[Item] = []
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_ITEM_COLUMNS} FROM items WHERE {column} IN ({marks})"
            found += [Item(*record) for record in self._fetch(query, chunk)]
        return found

    def live_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, item ids), both int64 and ordered by row: `live_rows` with each row's item id."""
        records = self._fetch("SELECT row, id FROM items ORDER BY row")
        pairs = np.asarray(records, dtype=np.int64).reshape(-1, 2)
        return np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])

    def find_path(self, path: str | os.PathLike[str]) -> Item | None:
        """The item stored for this file path (absolute, or relative to the indexed root), if any."""
        candidate = Path(path)
        absolute = str(candidate.resolve()) if candidate.exists() else str(candidate.absolute())
        records = self._fetch(f"SELECT {_ITEM_COLUMNS} FROM items WHERE abspath=?", (absolute,))
        if not records and not candidate.is_absolute():
            records = self._fetch(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE relpath=?", (candidate.as_posix(),)
            )
        return Item(*records[0]) if records else None

    def find_hash(self, content_hash: str) -> Item | None:
        """Some item whose file content has this hash, if any."""
        records = self._fetch(f"SELECT {_ITEM_COLUMNS} FROM items WHERE hash=? LIMIT 1", (content_hash,))
        return Item(*records[0]) if records else None

    def live_rows(self) -> np.ndarray:
        """Sorted int64 rows referenced by items (the searchable database, in order)."""
        rows = self._fetch("SELECT row FROM items ORDER BY row")
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def embeddings(self) -> np.ndarray:
        """(n_rows, dim) read-only memory map of every committed row (holes included)."""
        found = dict(self._fetch("SELECT key, value FROM meta WHERE key IN ('embeddings_file', 'n_rows')"))
        try:
            key = (str(found["embeddings_file"]), int(found["n_rows"]))
        except (KeyError, ValueError):
            raise corrupt(self.path, "its metadata lacks a readable embeddings_file / n_rows") from None
        if self._matrix is None or self._matrix_key != key:
            rows = key[1]
            path = inside_store(self.path, key[0], "embeddings_file")
            if rows == 0:
                self._matrix = np.zeros((0, self.dim), dtype=self._dtype)
            else:
                self._matrix = self._map_rows(path, rows)
            self._matrix_key = key
        return self._matrix

    def _map_rows(self, path: Path, rows: int) -> np.ndarray:
        """Memory-map `rows` rows of `path`; a file a compaction removed meanwhile is a
        `StoreChangedError` (read again), one missing or cut for good a `StoreCorruptError`."""
        try:
            if path.stat().st_size < rows * self._row_bytes:
                raise corrupt(
                    self.path,
                    f"the embedding file {path.name} is shorter than its metadata says",
                    repairable=True,
                )
            with store_errors(self.path):
                return np.memmap(path, dtype=self._dtype, mode="r", shape=(rows, self.dim))
        except (FileNotFoundError, StoreError) as error:
            missing = isinstance(error, FileNotFoundError) or isinstance(error.__cause__, FileNotFoundError)
            if not missing:
                raise
            if self._reading or self.embeddings_path != path:
                raise StoreChangedError(
                    f"the store at {self.path} was compacted while it was read", hint="retry the query"
                ) from None
            raise corrupt(self.path, f"its embedding file {path.name} is missing", repairable=True) from None

    def embeddings_state(self) -> tuple[int, int, int, int]:
        """(inode, size, mtime_ns, ctime_ns) of the live embedding file: any write to it (a writer's,
        or damage from outside) changes one of them, so a verification is valid while they stay."""
        path = self.embeddings_path
        try:
            stat = path.stat()
        except FileNotFoundError:
            if self.n_rows == 0:
                return (0, 0, 0, 0)  # nothing to read yet: the first writer creates the file
            if self._reading:  # a compaction replaced the snapshot's file: read the new version
                raise StoreChangedError(
                    f"the store at {self.path} was compacted while it was read", hint="retry the query"
                ) from None
            raise corrupt(self.path, f"its embedding file {path.name} is missing", repairable=True) from None
        except OSError as error:
            raise StoreError(
                f"cannot access the store at {self.path}: {error.strerror or error} ({path})",
                hint="check the folder's permissions, then retry",
            ) from error
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 copies of the given rows."""
        wanted = np.asarray(rows, dtype=np.int64)
        matrix = self.embeddings()
        if wanted.size and (wanted.min() < 0 or wanted.max() >= len(matrix)):
            raise corrupt(
                self.path,
                f"a row outside the embedding file (0..{len(matrix) - 1}) was asked for",
                repairable=True,
            )
        return np.asarray(matrix[wanted], dtype=np.float32)

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of the files the last index run could not embed."""
        return [
            (row[0], row[1]) for row in self._fetch("SELECT abspath, reason FROM failures ORDER BY relpath")
        ]

    def block_checksums(self) -> dict[int, tuple[int, int]]:
        """block -> (rows covered, crc32) as recorded at write time ({} for a store that has none)."""
        with store_errors(self.path):
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "blocks" not in tables:
                return {}
            return {
                int(b): (int(r), int(c))
                for b, r, c in self._db.execute("SELECT block, rows, crc FROM blocks")
            }

    def info(self) -> dict[str, Any]:
        """A JSON-able summary (for `condsim info` and reports)."""
        meta = self._read_meta()
        return {
            "path": str(self.path),
            "items": len(self),
            "rows": int(meta["n_rows"]),
            "model_id": meta["model_id"],
            "dim": int(meta["dim"]),
            "dtype": meta["dtype"],
            "format_version": int(meta["format_version"]),
            "version": int(meta["version"]),
            "root": meta.get("root", ""),
            "failures": len(self.failures()),
        }

    def __repr__(self) -> str:
        return f"Store({json.dumps(str(self.path))}, items={len(self)}, model_id={self.model_id!r})"


def rows_crc(rows: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(rows).data)


def failing_blocks(matrix: np.ndarray, recorded: Mapping[int, tuple[int, int]], n_rows: int) -> list[int]:
    """The blocks of rows 0..n_rows-1 (those `matrix`, the rows the file holds, reaches into) that it
    does not hold whole, or whose bytes differ from the crc32 recorded when they were written; a block
    with no record (written by a condsim without checksums) passes. About 0.2 s per 100k x 512 rows."""
    failing = []
    for block in blocks_touched(0, min(len(matrix), n_rows)):
        first, end = block * BLOCK_ROWS, min((block + 1) * BLOCK_ROWS, n_rows)
        if end > len(matrix) or (
            block in recorded and recorded[block] != (end - first, rows_crc(matrix[first:end]))
        ):
            failing.append(block)
    return failing


def _validate_meta(store: Path, meta: dict[str, str]) -> None:
    """Refuse metadata a store written by condsim cannot hold (one line naming the bad key)."""
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise corrupt(store, f"its metadata lacks {', '.join(missing)}")
    for key in INTEGER_META:
        if key in meta:
            try:
                int(meta[key])
            except ValueError:
                raise corrupt(store, f"its metadata {key}={meta[key]!r} is not a whole number") from None
    if meta["dtype"] not in DTYPES:
        raise corrupt(store, f"its dtype {meta['dtype']!r} is not one condsim writes ({', '.join(DTYPES)})")
    if int(meta["dim"]) <= 0 or int(meta["n_rows"]) < 0:
        raise corrupt(store, f"its metadata dim={meta['dim']} / n_rows={meta['n_rows']} is impossible")
    if "identity_crc" in meta and meta["identity_crc"] != identity_checksum(meta):
        raise corrupt(store, "its model_id / dim / dtype / store_id metadata was edited after creation")
    inside_store(store, meta["embeddings_file"], "embeddings_file")


def check_format_version(store: Path, value: str | None) -> None:
    try:
        found = int(value) if value is not None else None
    except ValueError:
        found = None
    if found is None:
        raise corrupt(store, f"it has no readable format version ({value!r})")
    if found > FORMAT_VERSION:
        raise StoreVersionError(
            f"the store at {store} was written by a newer condsim (store format {found}, "
            f"this condsim reads up to {FORMAT_VERSION})",
            hint="upgrade condsim: pip install -U condsim",
        )
