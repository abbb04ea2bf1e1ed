"""A collection store: one directory holding image embeddings and their metadata.

Layout of a store directory::

    STORE/
      store.sqlite            metadata (SQLite, WAL): tables `meta`, `items`, `failures`
      embeddings-<gen>.<dt>   row-major raw float32 (`f32`) or float16 (`f16`) matrix, memory-mapped;
                              <gen> is bumped by every compaction; the live file is named in `meta`
      cache/                  per-condition transformed databases (see `cache.py`), safe to delete
      .lock                   advisory lock held by a writer (an index run)

Consistency (crash safety) rests on one ordering rule: rows are appended to the embedding file and
fsync'ed *before* the SQLite transaction that references them commits; `meta.n_rows` is written in
that same transaction. Bytes past `n_rows * row_bytes` are therefore never referenced: they are the
remains of a killed batch and are truncated by the next writer. Compaction writes a new
`embeddings-<gen+1>` file, fsyncs it, then commits the row renumbering and the new file name in one
transaction, so either the old or the new (file, rows) pair is live, never a mix.

Every committed change bumps `meta.version`; together with `meta.store_id` (random, fixed at
creation) it keys the per-condition caches, which therefore never serve a stale database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from condsim.errors import StoreError, StoreModelMismatchError, StoreVersionError

try:  # POSIX advisory locks; on platforms without fcntl writers are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: on-disk format written by this condsim; a store with a higher number needs a newer condsim
FORMAT_VERSION = 1

DATABASE_FILE = "store.sqlite"
CACHE_DIR = "cache"
LOCK_FILE = ".lock"
_DTYPES: dict[str, tuple[str, np.dtype[Any]]] = {
    "float32": ("f32", np.dtype("<f4")),
    "float16": ("f16", np.dtype("<f2")),
}
_INDEX_HINT = "build it with `condsim index DIR --store STORE`"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    row INTEGER NOT NULL UNIQUE,
    relpath TEXT NOT NULL UNIQUE,
    abspath TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'ok',
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_hash ON items(hash);
CREATE INDEX IF NOT EXISTS items_abspath ON items(abspath);
CREATE TABLE IF NOT EXISTS failures (relpath TEXT PRIMARY KEY, abspath TEXT NOT NULL, reason TEXT NOT NULL);
"""


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


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Replace `path` with `payload` so a reader sees the old or the new file, never half of one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


class Store:
    """Embeddings (memory-mapped) + SQLite metadata of one indexed folder.

    Open an existing store with `Store.open(path)`; create one with `Store.create(path, model_id, dim)`
    (or `Store.open_or_create`). Reads are lock-free; writers (`add`, `update_paths`, `remove`,
    `compact`) should hold `writer_lock()` so two index runs cannot interleave.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        meta = self._read_meta()
        self.model_id: str = meta["model_id"]
        self.dim = int(meta["dim"])
        self.dtype_name: str = meta["dtype"]
        self.format_version = int(meta["format_version"])
        self._matrix: np.ndarray | None = None
        self._matrix_key: tuple[str, int] | None = None

    # ------------------------------------------------------------------ opening / creating
    @classmethod
    def create(
        cls, path: str | os.PathLike[str], model_id: str, dim: int, *, dtype: str = "float32"
    ) -> Store:
        """Create an empty store directory for embeddings of `model_id` with `dim` columns."""
        if dtype not in _DTYPES:
            raise StoreError(f"unsupported store dtype {dtype!r}", hint="use 'float32' or 'float16'")
        if dim <= 0:
            raise StoreError(f"embedding dimension must be positive, got {dim}")
        directory = Path(path)
        if (directory / DATABASE_FILE).exists():
            raise StoreError(f"{directory} already holds a store", hint="open it with Store.open()")
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"{directory} exists and is not a directory", hint="choose another --store path")
        directory.mkdir(parents=True, exist_ok=True)
        suffix = _DTYPES[dtype][0]
        connection = cls._connect(directory / DATABASE_FILE)
        now = time.time()
        meta = {
            "format_version": str(FORMAT_VERSION),
            "model_id": model_id,
            "dim": str(dim),
            "dtype": dtype,
            "store_id": uuid.uuid4().hex,
            "version": "0",
            "n_rows": "0",
            "generation": "0",
            "embeddings_file": f"embeddings-0.{suffix}",
            "root": "",
            "created_at": repr(now),
            "updated_at": repr(now),
        }
        with connection:
            connection.executescript(_SCHEMA)
            connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
        (directory / meta["embeddings_file"]).touch()
        _fsync_dir(directory)
        return cls(directory, connection)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, model_id: str | None = None) -> Store:
        """Open an existing store; `model_id`, when given, must be the model the store was built with."""
        directory = Path(path)
        database = directory / DATABASE_FILE
        if not directory.exists():
            raise StoreError(f"no store at {directory}", hint=_INDEX_HINT)
        if not database.is_file():
            raise StoreError(f"{directory} is not a condsim store (no {DATABASE_FILE})", hint=_INDEX_HINT)
        try:
            connection = cls._connect(database)
            version_row = connection.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"the store at {directory} is corrupt ({error})",
                hint=f"delete it and rebuild: {_INDEX_HINT}",
            ) from error
        try:
            found = int(version_row[0]) if version_row is not None else None
        except (TypeError, ValueError):
            found = None
        if found is None:
            connection.close()
            raise StoreError(
                f"the store at {directory} has no readable format version (corrupt)",
                hint=f"delete it and rebuild: {_INDEX_HINT}",
            )
        if found > FORMAT_VERSION:
            connection.close()
            raise StoreVersionError(
                f"the store at {directory} was written by a newer condsim (store format {found}, "
                f"this condsim reads up to {FORMAT_VERSION})",
                hint="upgrade condsim: pip install -U condsim",
            )
        try:
            store = cls(directory, connection)
        except (KeyError, ValueError, sqlite3.DatabaseError) as error:
            connection.close()
            raise StoreError(
                f"the store at {directory} has incomplete metadata ({error})", hint=_INDEX_HINT
            ) from error
        if model_id is not None:
            store.check_model(model_id)
        store._check_embeddings_file()
        return store

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], model_id: str, dim: int, *, dtype: str = "float32"
    ) -> Store:
        """Open the store at `path` (checking the model) or create an empty one there."""
        if (Path(path) / DATABASE_FILE).exists():
            store = cls.open(path, model_id=model_id)
            if store.dim != dim:
                raise StoreModelMismatchError(
                    f"the store at {path} holds {store.dim}-d embeddings, the encoder gives {dim}-d",
                    hint="index into a new --store directory",
                )
            return store
        return cls.create(path, model_id, dim, dtype=dtype)

    @staticmethod
    def _connect(database: Path) -> sqlite3.Connection:
        # default (deferred) transactions: `with connection:` commits or rolls back one batch
        connection = sqlite3.connect(database, check_same_thread=False, timeout=30.0)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def check_model(self, model_id: str) -> None:
        """Raise `StoreModelMismatchError` unless the store was built with `model_id`."""
        if model_id != self.model_id:
            raise StoreModelMismatchError(
                f"the store at {self.path} was built with model {self.model_id!r}, not {model_id!r}",
                hint=f"use --model {self.model_id} or index into a new --store directory",
            )

    def close(self) -> None:
        """Release the memory map and the SQLite connection."""
        self._matrix = None
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ metadata
    def _read_meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def meta(self) -> dict[str, str]:
        """All metadata key/values (model_id, dim, dtype, format_version, version, root, ...)."""
        return self._read_meta()

    def _meta_value(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"the store at {self.path} lacks metadata {key!r}", hint=_INDEX_HINT)
        return str(row[0])

    @property
    def version(self) -> int:
        """Collection version: bumped by every committed change of rows or items."""
        return int(self._meta_value("version"))

    @property
    def store_id(self) -> str:
        """Random id fixed at creation (a rebuilt store never shares cache keys with the old one)."""
        return self._meta_value("store_id")

    @property
    def root(self) -> str:
        """The folder last indexed into this store ('' if none)."""
        return self._meta_value("root")

    @property
    def n_rows(self) -> int:
        """Committed rows in the embedding file (live rows plus holes left by removals)."""
        return int(self._meta_value("n_rows"))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    @property
    def _row_bytes(self) -> int:
        return int(self.dim * _DTYPES[self.dtype_name][1].itemsize)

    @property
    def embeddings_path(self) -> Path:
        return self.path / self._meta_value("embeddings_file")

    def _set_meta(self, values: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def _bump(self, extra: dict[str, str] | None = None) -> None:
        """Inside a transaction: bump the collection version (and write `extra` meta)."""
        values = {"version": str(self.version + 1), "updated_at": repr(time.time())}
        values.update(extra or {})
        self._set_meta(values)

    def _check_embeddings_file(self) -> None:
        path = self.embeddings_path
        if not path.is_file():
            raise StoreError(
                f"the store at {self.path} lacks its embedding file {path.name}", hint=_INDEX_HINT
            )
        needed = self.n_rows * self._row_bytes
        if path.stat().st_size < needed:
            raise StoreError(
                f"the embedding file {path} is shorter than its metadata says "
                f"({path.stat().st_size} < {needed} bytes): the store is corrupt",
                hint=f"delete it and rebuild: {_INDEX_HINT}",
            )

    # ------------------------------------------------------------------ reading
    def items(self) -> list[Item]:
        """Every indexed item, ordered by row."""
        return [
            Item(*row)
            for row in self._db.execute(
                "SELECT id, row, relpath, abspath, hash, size, mtime_ns, status FROM items ORDER BY row"
            )
        ]

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]:
        """Items keyed by row for the given rows (missing rows are absent)."""
        found: dict[int, Item] = {}
        wanted = [int(row) for row in rows]
        for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for record in self._db.execute(
                "SELECT id, row, relpath, abspath, hash, size, mtime_ns, status FROM items "
                f"WHERE row IN ({marks})",
                chunk,
            ):
                item = Item(*record)
                found[item.row] = item
        return found

    def find_path(self, path: str | os.PathLike[str]) -> Item | None:
        """The item stored for this file path (absolute, or relative to the indexed root), if any."""
        candidate = Path(path)
        absolute = str(candidate.resolve()) if candidate.exists() else str(candidate.absolute())
        record = self._db.execute(
            "SELECT id, row, relpath, abspath, hash, size, mtime_ns, status FROM items WHERE abspath=?",
            (absolute,),
        ).fetchone()
        if record is None and not candidate.is_absolute():
            record = self._db.execute(
                "SELECT id, row, relpath, abspath, hash, size, mtime_ns, status FROM items WHERE relpath=?",
                (candidate.as_posix(),),
            ).fetchone()
        return Item(*record) if record else None

    def find_hash(self, content_hash: str) -> Item | None:
        """Some item whose file content has this hash, if any."""
        record = self._db.execute(
            "SELECT id, row, relpath, abspath, hash, size, mtime_ns, status FROM items WHERE hash=? LIMIT 1",
            (content_hash,),
        ).fetchone()
        return Item(*record) if record else None

    def live_rows(self) -> np.ndarray:
        """Sorted int64 rows referenced by items (the searchable database, in order)."""
        rows = self._db.execute("SELECT row FROM items ORDER BY row").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def embeddings(self) -> np.ndarray:
        """(n_rows, dim) read-only memory map of every committed row (holes included)."""
        key = (self._meta_value("embeddings_file"), self.n_rows)
        if self._matrix is None or self._matrix_key != key:
            rows = key[1]
            if rows == 0:
                self._matrix = np.zeros((0, self.dim), dtype=_DTYPES[self.dtype_name][1])
            else:
                self._matrix = np.memmap(
                    self.path / key[0], dtype=_DTYPES[self.dtype_name][1], mode="r", shape=(rows, self.dim)
                )
            self._matrix_key = key
        return self._matrix

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 copies of the given rows."""
        return np.asarray(self.embeddings()[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of the files the last index run could not embed."""
        return [
            (row[0], row[1])
            for row in self._db.execute("SELECT abspath, reason FROM failures ORDER BY relpath")
        ]

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the store's advisory writer lock (raises `StoreError` if another writer holds it)."""
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        handle = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 - held for the block below
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise StoreError(
                    f"another process is writing to the store at {self.path}",
                    hint="wait for the other `condsim index` run to finish",
                ) from error
            yield
        finally:
            handle.close()

    def _append_rows(self, embeddings: np.ndarray) -> int:
        """Write rows after the committed ones (dropping uncommitted garbage), fsync; return first row."""
        first = self.n_rows
        payload = np.ascontiguousarray(embeddings, dtype=_DTYPES[self.dtype_name][1]).tobytes()
        with open(self.embeddings_path, "r+b") as handle:
            handle.truncate(first * self._row_bytes)
            handle.seek(first * self._row_bytes)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        return first

    def add(self, embeddings: np.ndarray, items: Sequence[NewItem], *, replace: bool = True) -> list[int]:
        """Append embeddings and commit the items that reference them; returns their rows.

        An item whose `relpath` is already stored is re-pointed to its new row when `replace` (its
        old row becomes a hole). The embedding bytes are durable before the metadata commits.
        """
        matrix = np.asarray(embeddings)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim or matrix.shape[0] != len(items):
            raise StoreError(
                f"expected ({len(items)}, {self.dim}) embeddings for {len(items)} items, got {matrix.shape}"
            )
        if not items:
            return []
        if not np.isfinite(matrix).all():
            raise StoreError("refusing to store embeddings containing NaN or inf")
        first = self._append_rows(matrix)
        rows = list(range(first, first + len(items)))
        now = time.time()
        with self._db:
            for row, item in zip(rows, items, strict=True):
                if replace:
                    self._db.execute("DELETE FROM items WHERE relpath=?", (item.relpath,))
                self._db.execute(
                    "INSERT INTO items(row, relpath, abspath, hash, size, mtime_ns, status, indexed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'ok', ?)",
                    (row, item.relpath, item.abspath, item.hash, item.size, item.mtime_ns, now),
                )
                self._db.execute("DELETE FROM failures WHERE relpath=?", (item.relpath,))
            self._bump({"n_rows": str(first + len(items))})
        return rows

    def update_paths(self, moves: Sequence[tuple[int, NewItem]]) -> None:
        """Re-point items (by id) to new path/metadata without touching their embeddings."""
        if not moves:
            return
        with self._db:
            for item_id, item in moves:
                self._db.execute("DELETE FROM items WHERE relpath=? AND id<>?", (item.relpath, item_id))
                self._db.execute(
                    "UPDATE items SET relpath=?, abspath=?, hash=?, size=?, mtime_ns=? WHERE id=?",
                    (item.relpath, item.abspath, item.hash, item.size, item.mtime_ns, item_id),
                )
            self._bump()

    def touch(self, updates: Sequence[tuple[int, str, int, int]]) -> None:
        """Record new (abspath, size, mtime_ns) for items (by id) whose content did not change.

        This does not change the searchable database, so the collection version stays.
        """
        if not updates:
            return
        with self._db:
            self._db.executemany(
                "UPDATE items SET abspath=?, size=?, mtime_ns=? WHERE id=?",
                [(abspath, size, mtime_ns, item_id) for item_id, abspath, size, mtime_ns in updates],
            )

    def remove(self, item_ids: Sequence[int]) -> None:
        """Forget items (their rows become holes until `compact`)."""
        if not item_ids:
            return
        with self._db:
            self._db.executemany("DELETE FROM items WHERE id=?", [(int(i),) for i in item_ids])
            self._bump()

    def set_root(self, root: str) -> None:
        """Record the folder this store mirrors."""
        with self._db:
            self._set_meta({"root": root})

    def record_failures(self, failures: Sequence[tuple[str, str, str]]) -> None:
        """Replace the list of (relpath, abspath, reason) the last run could not embed."""
        with self._db:
            self._db.execute("DELETE FROM failures")
            self._db.executemany(
                "INSERT OR REPLACE INTO failures(relpath, abspath, reason) VALUES (?, ?, ?)", failures
            )

    def holes(self) -> int:
        """Rows in the embedding file that no item references."""
        return self.n_rows - len(self)

    def compact(self) -> bool:
        """Rewrite the embedding file with live rows only (atomic); returns whether anything moved."""
        live = self.live_rows()
        if len(live) == self.n_rows:
            return False
        generation = int(self._meta_value("generation")) + 1
        suffix = _DTYPES[self.dtype_name][0]
        new_name = f"embeddings-{generation}.{suffix}"
        old_path = self.embeddings_path
        source = self.embeddings()
        temporary = self.path / f".{new_name}.tmp"
        with open(temporary, "wb") as handle:
            for start in range(0, len(live), 65536):
                handle.write(np.ascontiguousarray(source[live[start : start + 65536]]).tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path / new_name)
        _fsync_dir(self.path)
        with self._db:
            # two passes keep the UNIQUE(row) constraint satisfied while renumbering
            self._db.executemany(
                "UPDATE items SET row=? WHERE row=?", [(-1 - new, int(old)) for new, old in enumerate(live)]
            )
            self._db.execute("UPDATE items SET row = -1 - row")
            self._bump({"n_rows": str(len(live)), "generation": str(generation), "embeddings_file": new_name})
        self._matrix = None
        with contextlib.suppress(OSError):
            old_path.unlink()
        self.remove_stray_files()
        return True

    def remove_stray_files(self) -> None:
        """Delete embedding files left by an interrupted compaction (never the live one)."""
        live_name = self._meta_value("embeddings_file")
        for candidate in self.path.glob("*embeddings-*"):
            if candidate.name != live_name:
                with contextlib.suppress(OSError):
                    candidate.unlink()

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
            "root": meta["root"],
            "failures": len(self.failures()),
        }

    def __repr__(self) -> str:
        return f"Store({json.dumps(str(self.path))}, items={len(self)}, model_id={self.model_id!r})"
