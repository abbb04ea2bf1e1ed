"""A collection store: one directory holding image embeddings and their metadata.

Layout of a store directory (names and schema in `store_format.py`)::

    STORE/
      store.sqlite            metadata (SQLite, WAL): tables `meta`, `items`, `failures`, `blocks`
      embeddings-<gen>.<dt>   row-major raw float32 (`f32`) or float16 (`f16`) matrix, memory-mapped;
                              <gen> is bumped by every compaction; the live file is named in `meta`
      cache/                  per-condition transformed databases (see `cache.py`), safe to delete
      .lock                   advisory lock held by a writer (an index run)

Consistency (crash safety) rests on one ordering rule: rows are appended to the embedding file and
fsync'ed *before* the SQLite transaction that references them commits; `meta.n_rows` and the
checksums of the blocks the rows fall in (`blocks`, one crc32 per 1024 rows) are written in that
same transaction. Bytes past `n_rows * row_bytes` are therefore never referenced: they are the
remains of a killed batch and are truncated by the next writer. Compaction writes a new
`embeddings-<gen+1>` file, fsyncs it, then commits the row renumbering, the new checksums and the new
file name in one transaction, so either the old or the new (file, rows) pair is live, never a mix.

A store is created atomically: its database is built under a hidden temporary name and hard-linked
into place only when complete, so a full disk or a kill leaves no half store, and of two processes
creating the same store one wins and the other opens the winner's.

Readers see one version: `reading()` holds one SQLite read transaction, so the rows, the items and
the embedding file read inside it all belong to the same committed version, whatever a concurrent
writer commits meanwhile. Every committed change bumps `meta.version`; together with `meta.store_id`
(random, fixed at creation) it keys the per-condition caches, which therefore never serve a stale
database. Everything read from a store is untrusted: see `store_format.py`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from condsim._files import atomic_write, fsync_directory
from condsim.collection.store_format import (
    BLOCK_ROWS,
    BLOCKS_SCHEMA,
    CACHE_DIR,
    DATABASE_FILE,
    DTYPES,
    FORMAT_VERSION,
    INDEX_HINT,
    LOCK_FILE,
    STRAY_FILE,
    BlockChecksums,
    StoreExistsError,
    blocks_touched,
    build_database,
    corrupt,
    half_created,
    identity_checksum,
    link_exclusive,
    remove_store_files,
    store_errors,
)
from condsim.collection.store_reader import (
    Item,
    NewItem,
    StoreChangedError,
    check_format_version,
    rows_crc,
)
from condsim.collection.store_sum import RunningSum
from condsim.errors import CondsimWarning, StoreError, StoreModelMismatchError

try:  # POSIX advisory locks; on platforms without fcntl writers are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CACHE_DIR",
    "DATABASE_FILE",
    "FORMAT_VERSION",
    "LOCK_FILE",
    "Item",
    "NewItem",
    "Store",
    "StoreChangedError",
]


#: live rows gathered per write by compaction
_COMPACT_ROWS = 64 * BLOCK_ROWS


def checked_embeddings(
    embeddings: np.ndarray, n_items: int, dim: int, dtype: type[np.floating] | None = None
) -> np.ndarray:
    """`embeddings` as an (n_items, dim) array (cast to `dtype` when given, before the check, so a
    value the cast overflows is caught), refused with a `StoreError` when the shape is wrong or a value
    is NaN or inf: every store backend's `add` checks the same way."""
    matrix = np.asarray(embeddings, dtype=dtype)
    if matrix.ndim != 2 or matrix.shape[1] != dim or matrix.shape[0] != n_items:
        raise StoreError(f"expected ({n_items}, {dim}) embeddings for {n_items} items, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise StoreError("refusing to store embeddings containing NaN or inf")
    return matrix


class Store(RunningSum):
    """Embeddings (memory-mapped) + SQLite metadata of one indexed folder.

    Open an existing store with `Store.open(path)`; create one with `Store.create(path, model_id, dim)`
    (or `Store.open_or_create`). Reads are lock-free (wrap several in `reading()` to see one version);
    writers (`add`, `update_paths`, `remove`, `compact`) should hold `writer_lock()` so two index runs
    cannot interleave.
    """

    # ------------------------------------------------------------------ opening / creating
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        model_id: str,
        dim: int,
        *,
        dtype: str = "float32",
        _overhalf_created: bool = False,
    ) -> Store:
        """Create an empty store directory for embeddings of `model_id` with `dim` columns.

        The database is built under a temporary name and linked into place when complete, so a
        failure (full disk, kill) leaves no half-created store behind.
        """
        if dtype not in DTYPES:
            raise StoreError(f"unsupported store dtype {dtype!r}", hint="use 'float32' or 'float16'")
        if dim <= 0:
            raise StoreError(f"embedding dimension must be positive, got {dim}")
        directory = Path(path)
        database = directory / DATABASE_FILE
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"{directory} exists and is not a directory", hint="choose another --store path")
        if database.exists():
            if not (_overhalf_created and half_created(directory)):
                raise StoreExistsError(f"{directory} already holds a store", hint="open it with Store.open()")
            remove_store_files(directory)  # left by a creation an older condsim did not finish
        now = repr(time.time())
        meta = {
            "format_version": str(FORMAT_VERSION),
            "model_id": model_id,
            "dim": str(dim),
            "dtype": dtype,
            "store_id": uuid.uuid4().hex,
            "version": "0",
            "n_rows": "0",
            "generation": "0",
            "embeddings_file": f"embeddings-0.{DTYPES[dtype][0]}",
            "root": "",
            "created_at": now,
            "updated_at": now,
        }
        meta["identity_crc"] = identity_checksum(meta)
        temporary = directory / f".{DATABASE_FILE}.{uuid.uuid4().hex}.creating"
        with store_errors(directory):
            directory.mkdir(parents=True, exist_ok=True)
            try:
                build_database(temporary, meta)
                # created if missing, never truncated: a concurrent winner may already hold rows in it
                os.close(os.open(directory / meta["embeddings_file"], os.O_WRONLY | os.O_CREAT, 0o644))
                fsync_directory(directory)
                link_exclusive(temporary, database)
            finally:
                with contextlib.suppress(OSError):
                    temporary.unlink()
            fsync_directory(directory)
        return cls._open_database(directory)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, model_id: str | None = None, verify: bool = True) -> Store:
        """Open an existing store; `model_id`, when given, must be the model the store was built with.

        Every problem is one `StoreError` naming the repair. `verify=False` skips the checks of the
        embedding file and of the rows items point to (for `condsim check`, which reports them).
        """
        directory = Path(path)
        if not directory.exists():
            raise StoreError(f"no store at {directory}", hint=INDEX_HINT)
        if not (directory / DATABASE_FILE).is_file():
            raise StoreError(f"{directory} is not a condsim store (no {DATABASE_FILE})", hint=INDEX_HINT)
        store = cls._open_database(directory)
        try:
            if model_id is not None:
                store.check_model(model_id)
            if verify:
                store.verify_layout()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def _open_database(cls, directory: Path) -> Store:
        connection: sqlite3.Connection | None = None
        try:
            with store_errors(directory):
                connection = cls._connect(directory / DATABASE_FILE)
                tables = {
                    row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                missing = sorted({"meta", "items"} - tables)
                if missing:
                    raise corrupt(directory, f"its database lacks the table(s) {', '.join(missing)}")
                meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
                check_format_version(directory, meta.get("format_version"))
                store = cls(directory, connection, meta)
                if "failures" not in tables:
                    raise corrupt(directory, "its database lacks the table failures", repairable=True)
                return store
        except BaseException:
            if connection is not None:
                connection.close()
            raise

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], model_id: str, dim: int, *, dtype: str = "float32"
    ) -> Store:
        """Open the store at `path` (checking the model) or create an empty one there.

        When another process creates the same store at the same moment, this opens the one it made.
        """
        if not (Path(path) / DATABASE_FILE).exists() or half_created(Path(path)):
            try:
                return cls.create(path, model_id, dim, dtype=dtype, _overhalf_created=True)
            except StoreExistsError:
                pass  # created meanwhile by another process: open it like any existing store
        store = cls.open(path, model_id=model_id)
        if store.dim != dim:
            store.close()
            raise StoreModelMismatchError(
                f"the store at {path} holds {store.dim}-d embeddings, the encoder gives {dim}-d",
                hint="index into a new --store directory",
            )
        return store

    @classmethod
    def recreate(
        cls, path: str | os.PathLike[str], model_id: str, dim: int, *, dtype: str = "float32"
    ) -> Store:
        """Replace a damaged store at `path` by an empty one (`condsim index --replace` then re-embeds
        every image). Removes only the files a store consists of, never anything else in the folder."""
        directory = Path(path)
        with store_errors(directory):
            remove_store_files(directory)
        return cls.create(directory, model_id, dim, dtype=dtype)

    @staticmethod
    def _connect(database: Path) -> sqlite3.Connection:
        # default (deferred) transactions: `with connection:` commits or rolls back one batch
        connection = sqlite3.connect(database, check_same_thread=False, timeout=30.0)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
        except BaseException:
            connection.close()
            raise
        return connection

    def _set_meta(self, values: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def _bump(self, extra: dict[str, str] | None = None) -> None:
        """Inside a transaction: bump the collection version (and write `extra` meta)."""
        values = {"version": str(self.version + 1), "updated_at": repr(time.time())}
        values.update(extra or {})
        self._set_meta(values)

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the store's advisory writer lock (raises `StoreError` if another writer holds it)."""
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        lock_path = self.path / LOCK_FILE
        if lock_path.is_symlink() or (lock_path.exists() and not lock_path.is_file()):
            raise corrupt(
                self.path, f"{LOCK_FILE} is not a plain file (a directory or a link)", repairable=True
            )
        with store_errors(self.path):
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise StoreError(
                    f"another process is writing to the store at {self.path}",
                    hint="wait for the other `condsim index` run to finish",
                ) from error
            yield
        finally:
            os.close(descriptor)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; a damaged database or a full disk becomes one `StoreError` line."""
        if self._reading:
            raise RuntimeError("Store: a write inside a reading() block")
        with store_errors(self.path), self._db:
            yield

    def _ensure_blocks(self) -> None:
        """Give a store written before block checksums existed its `blocks` table, computed from the
        rows as they are now (once per writer)."""
        if self._blocks_ready:
            return
        with self._transaction():
            self._db.execute(BLOCKS_SCHEMA)
        recorded = self.block_checksums()
        n_rows = self.n_rows
        wanted = {block: min(BLOCK_ROWS, n_rows - block * BLOCK_ROWS) for block in blocks_touched(0, n_rows)}
        missing = [block for block, rows in wanted.items() if recorded.get(block, (-1, 0))[0] != rows]
        if missing:
            matrix = self.embeddings()
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO blocks(block, rows, crc) VALUES (?, ?, ?)",
                    [
                        (
                            block,
                            wanted[block],
                            rows_crc(matrix[block * BLOCK_ROWS : block * BLOCK_ROWS + wanted[block]]),
                        )
                        for block in missing
                    ],
                )
        self._blocks_ready = True

    def _append_rows(self, payload: bytes) -> int:
        """Write rows after the committed ones (dropping uncommitted garbage), fsync; return first row."""
        first = self.n_rows
        with store_errors(self.path):
            descriptor = os.open(self.embeddings_path, os.O_RDWR | os.O_CREAT, 0o644)
            with os.fdopen(descriptor, "r+b") as handle:
                handle.truncate(first * self._row_bytes)
                handle.seek(first * self._row_bytes)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        return first

    def _extended_blocks(self, first: int, payload: bytes) -> list[tuple[int, int, int]]:
        """(block, rows, crc) of the blocks rows `first`.. of `payload` fall in, each crc continued
        from the recorded one (so damage to a block's earlier rows stays detectable)."""
        recorded = self.block_checksums()
        updates: list[tuple[int, int, int]] = []
        row, offset, end = first, 0, first + len(payload) // self._row_bytes
        while row < end:
            block, in_block = divmod(row, BLOCK_ROWS)
            take = min(BLOCK_ROWS - in_block, end - row)
            rows_before, crc = recorded.get(block, (0, 0))
            if rows_before != in_block:  # no usable record of this block's first rows: read them
                crc = rows_crc(self.embeddings()[block * BLOCK_ROWS : row])
            crc = zlib.crc32(payload[offset : offset + take * self._row_bytes], crc)
            updates.append((block, in_block + take, crc))
            row, offset = row + take, offset + take * self._row_bytes
        return updates

    def add(self, embeddings: np.ndarray, items: Sequence[NewItem], *, replace: bool = True) -> list[int]:
        """Append embeddings and commit the items that reference them; returns their rows.

        An item whose `relpath` is already stored is re-pointed to its new row when `replace` (its
        old row becomes a hole). The embedding bytes are durable before the metadata commits.
        """
        matrix = checked_embeddings(embeddings, len(items), self.dim)
        if not items:
            return []
        self._ensure_blocks()
        payload = np.ascontiguousarray(matrix, dtype=self._dtype).tobytes()
        first = self._append_rows(payload)
        blocks = self._extended_blocks(first, payload)
        rows = list(range(first, first + len(items)))
        now = time.time()
        with self._transaction():
            replaced = self._rows_where("relpath", [item.relpath for item in items]) if replace else []
            running_sum = self._shifted_sum(matrix, replaced)
            for row, item in zip(rows, items, strict=True):
                if replace:
                    self._db.execute("DELETE FROM items WHERE relpath=?", (item.relpath,))
                self._db.execute(
                    "INSERT INTO items(row, relpath, abspath, hash, size, mtime_ns, status, indexed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'ok', ?)",
                    (row, item.relpath, item.abspath, item.hash, item.size, item.mtime_ns, now),
                )
                self._db.execute("DELETE FROM failures WHERE relpath=?", (item.relpath,))
            self._db.executemany("INSERT OR REPLACE INTO blocks(block, rows, crc) VALUES (?, ?, ?)", blocks)
            self._bump({"n_rows": str(first + len(items)), **running_sum})
        return rows

    def update_paths(self, moves: Sequence[tuple[int, NewItem]]) -> None:
        """Re-point items (by id) to new path/metadata without touching their embeddings."""
        if not moves:
            return
        with self._transaction():
            moved_ids = {int(item_id) for item_id, _ in moves}
            clashing = [
                int(row)
                for row, item_id in self._fetch_rows_ids("relpath", [item.relpath for _, item in moves])
                if item_id not in moved_ids
            ]
            running_sum = self._shifted_sum(None, clashing)
            for item_id, item in moves:
                self._db.execute("DELETE FROM items WHERE relpath=? AND id<>?", (item.relpath, item_id))
                self._db.execute(
                    "UPDATE items SET relpath=?, abspath=?, hash=?, size=?, mtime_ns=? WHERE id=?",
                    (item.relpath, item.abspath, item.hash, item.size, item.mtime_ns, item_id),
                )
            self._bump(running_sum)

    def touch(self, updates: Sequence[tuple[int, str, int, int]]) -> None:
        """Record new (abspath, size, mtime_ns) for items (by id) whose content did not change.

        This does not change the searchable database, so the collection version stays.
        """
        if not updates:
            return
        with self._transaction():
            self._db.executemany(
                "UPDATE items SET abspath=?, size=?, mtime_ns=? WHERE id=?",
                [(abspath, size, mtime_ns, item_id) for item_id, abspath, size, mtime_ns in updates],
            )

    def remove(self, item_ids: Sequence[int]) -> None:
        """Forget items (their rows become holes until `compact`)."""
        if not item_ids:
            return
        with self._transaction():
            running_sum = self._shifted_sum(None, self._rows_where("id", [int(i) for i in item_ids]))
            self._db.executemany("DELETE FROM items WHERE id=?", [(int(i),) for i in item_ids])
            self._bump(running_sum)

    def set_root(self, root: str) -> None:
        """Record the folder this store mirrors."""
        with self._transaction():
            self._set_meta({"root": root})

    def set_model_source(self, source: str) -> None:
        """Record the local model folder this store was indexed with (see `model_source`)."""
        with self._transaction():
            self._set_meta({"model_source": source})

    def record_failures(self, failures: Sequence[tuple[str, str, str]]) -> None:
        """Replace the list of (relpath, abspath, reason) the last run could not embed."""
        with self._transaction():
            self._db.execute("DELETE FROM failures")
            self._db.executemany(
                "INSERT OR REPLACE INTO failures(relpath, abspath, reason) VALUES (?, ?, ?)", failures
            )

    def _rows_where(self, column: str, values: Sequence[object]) -> list[int]:
        """Rows of the items whose `column` ("id" or "relpath") is one of `values`."""
        return [int(row) for row, _ in self._fetch_rows_ids(column, values)]

    def _fetch_rows_ids(self, column: str, values: Sequence[object]) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for start in range(0, len(values), 900):  # SQLite's bound-parameter limit
            chunk = list(values[start : start + 900])
            marks = ",".join("?" * len(chunk))
            found += [
                (int(row), int(item_id))
                for row, item_id in self._db.execute(
                    f"SELECT row, id FROM items WHERE {column} IN ({marks})", chunk
                ).fetchall()
            ]
        return found

    def holes(self) -> int:
        """Rows in the embedding file that no item references."""
        return self.n_rows - len(self)

    def compact(self, replacements: Mapping[int, np.ndarray] | None = None) -> bool:
        """Rewrite the embedding file with live rows only (atomic); returns whether anything moved.

        Each source block holding live rows is verified against its checksum while it is copied: a
        damaged block is never re-checksummed as good; compaction is skipped with a warning and the
        damage stays for `condsim check --repair` (blocks of holes only are dropped unread).
        `replacements` (row -> vector) supplies new vectors for live rows, e.g. re-embedded damaged
        ones (used by `condsim check --repair`); a damaged block whose live rows are all replaced
        is not needed.
        """
        live = self.live_rows()
        replaced = {int(row): vector for row, vector in (replacements or {}).items()}
        if len(live) == self.n_rows and not replaced:
            return False
        self._ensure_blocks()
        generation = self._meta_int("generation") + 1
        new_name = f"embeddings-{generation}.{DTYPES[self.dtype_name][0]}"
        old_path = self.embeddings_path
        source = self._readable_rows()
        intact = self._intact_blocks(source)
        replaced_rows = np.fromiter(replaced, dtype=np.int64, count=len(replaced))
        checksums = BlockChecksums(self._row_bytes)
        try:
            with store_errors(self.path), atomic_write(self.path / new_name) as handle:
                for begin in range(0, len(live), _COMPACT_ROWS):
                    rows = live[begin : begin + _COMPACT_ROWS]
                    copied = ~np.isin(rows, replaced_rows)
                    for block in np.unique(rows[copied] // BLOCK_ROWS):
                        if not intact(int(block)):
                            raise _SkipCompaction(int(block))
                    chunk = np.empty((len(rows), self.dim), dtype=self._dtype)
                    chunk[copied] = source[rows[copied]]
                    for position in np.flatnonzero(~copied):
                        chunk[position] = replaced[int(rows[position])]
                    data = chunk.tobytes()
                    handle.write(data)
                    checksums.feed(data)
        except _SkipCompaction as skipped:
            warnings.warn(
                CondsimWarning(
                    f"the store at {self.path} has damaged embeddings (block {skipped.args[0]}), so it was "
                    f"not compacted: run `condsim check --store {self.path} --repair`"
                ),
                stacklevel=2,
            )
            return False
        with self._transaction():
            # two passes keep the UNIQUE(row) constraint satisfied while renumbering
            self._db.executemany(
                "UPDATE items SET row=? WHERE row=?", [(-1 - new, int(old)) for new, old in enumerate(live)]
            )
            self._db.execute("UPDATE items SET row = -1 - row")
            self._db.execute("DELETE FROM blocks")
            self._db.executemany("INSERT INTO blocks(block, rows, crc) VALUES (?, ?, ?)", checksums.finish())
            self._bump({"n_rows": str(len(live)), "generation": str(generation), "embeddings_file": new_name})
        self._matrix = None
        with contextlib.suppress(OSError):
            old_path.unlink()
        self.remove_stray_files()
        return True

    def _readable_rows(self) -> np.ndarray:
        """The committed rows the embedding file really holds (fewer than `n_rows` if it was cut)."""
        path = self.embeddings_path
        rows = min(self.n_rows, path.stat().st_size // self._row_bytes) if path.is_file() else 0
        if rows == 0:
            return np.zeros((0, self.dim), dtype=self._dtype)
        return np.memmap(path, dtype=self._dtype, mode="r", shape=(rows, self.dim))

    def _intact_blocks(self, source: np.ndarray) -> Callable[[int], bool]:
        """block -> whether it is wholly in `source` and matches its recorded checksum (memoised)."""
        recorded = self.block_checksums()
        n_rows = self.n_rows
        known: dict[int, bool] = {}

        def intact(block: int) -> bool:
            if block not in known:
                start, end = block * BLOCK_ROWS, min((block + 1) * BLOCK_ROWS, n_rows)
                known[block] = 0 <= start < end <= len(source) and recorded.get(block) == (
                    end - start,
                    rows_crc(source[start:end]),
                )
            return known[block]

        return intact

    def remove_stray_files(self) -> None:
        """Delete embedding files of other generations and temporaries left by an interrupted write
        (only files named as condsim names them, directly in the store; never the live one)."""
        live_name = self._meta_value("embeddings_file")
        with store_errors(self.path):
            entries = list(os.scandir(self.path))
        for entry in entries:
            if (
                entry.name != live_name
                and STRAY_FILE.match(entry.name)
                and not entry.is_dir(follow_symlinks=False)
            ):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class _SkipCompaction(Exception):
    """Raised inside `compact` to abandon the new file (atomic_write removes it)."""
