"""The on-disk format of a store, and the rules that keep a damaged or hostile store from doing harm.

`store.py` reads and writes a store; this module holds what it must never get wrong:

* the layout (file names, SQLite schema, stored dtypes, format version);
* **paths read from a store are untrusted**: `inside_store` resolves every name the metadata gives
  (e.g. ``meta.embeddings_file``) and refuses anything that is not a plain file name inside the store
  folder, so a crafted store cannot make condsim overwrite or delete a file elsewhere;
* **one line per failure**: `store_errors` turns the exceptions a damaged store or a full disk
  raises (`sqlite3.DatabaseError`, `OSError`) into a `StoreError` that names the problem and the repair;
* **block checksums**: embeddings are checksummed per `BLOCK_ROWS` rows, recorded with the rows in the
  same transaction, so `condsim check` can tell a damaged block from a good one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from condsim.errors import StoreCorruptError, StoreError

#: on-disk format written by this condsim; a store with a higher number needs a newer condsim
FORMAT_VERSION = 1

DATABASE_FILE = "store.sqlite"
CACHE_DIR = "cache"
LOCK_FILE = ".lock"
#: rows per checksummed block of the embedding file
BLOCK_ROWS = 1024
#: how far a stored row's norm may be from 1 (float16 rounding stays far below)
NORM_TOLERANCE = 0.05
_SCAN_ROWS = 8192

DTYPES: dict[str, tuple[str, np.dtype[Any]]] = {
    "float32": ("f32", np.dtype("<f4")),
    "float16": ("f16", np.dtype("<f2")),
}

SCHEMA = """
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
#: added after format 1 was released; created on first write, so older stores gain it in place
BLOCKS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blocks "
    "(block INTEGER PRIMARY KEY, rows INTEGER NOT NULL, crc INTEGER NOT NULL);"
)

#: metadata every store must hold, and the ones that must be whole numbers
REQUIRED_META = (
    "format_version",
    "model_id",
    "dim",
    "dtype",
    "store_id",
    "version",
    "n_rows",
    "embeddings_file",
)
INTEGER_META = ("format_version", "dim", "version", "n_rows", "generation")

#: files a store may leave behind: embedding files of other generations and unfinished temporaries
STRAY_FILE = re.compile(
    r"^(embeddings-\d+\.f(32|16)|\.embeddings-\d+\.f(32|16)\.[0-9a-f]{32}\.tmp|\.store\.sqlite\.[0-9a-f]{32}\.creating)$"
)

#: metadata fixed at creation, protected by the checksum `identity_crc` (written with them)
IDENTITY_META = ("format_version", "model_id", "dim", "dtype", "store_id")

INDEX_HINT = "build it with `condsim index DIR --store STORE`"


def repair_hint(store: Path) -> str:
    """The hint for damage `condsim check --repair` can fix (it re-embeds what it must)."""
    return f"run `condsim check --store {store} --repair`"


def rebuild_hint(store: Path) -> str:
    """The hint for damage only a rebuild fixes (the store's own records are unreadable)."""
    return f"rebuild it: `condsim index FOLDER --store {store} --replace` (re-embeds every image)"


def corrupt(store: Path, problem: str, *, repairable: bool = False) -> StoreCorruptError:
    """A `StoreCorruptError` naming `problem` and the repair."""
    return StoreCorruptError(
        f"the store at {store} is corrupt: {problem}",
        hint=repair_hint(store) if repairable else rebuild_hint(store),
    )


def inside_store(store: Path, name: str, key: str) -> Path:
    """`store / name` for a file name read from the store's metadata `key`, refused unless it is a
    plain name of a file directly inside the store folder (no separator, no '..', no symlink out)."""
    candidate = store / name
    plain = bool(name) and name not in {".", ".."} and Path(name).name == name and "\\" not in name
    resolved_store = store.resolve()
    try:
        resolved = candidate.resolve() if plain and "\x00" not in name else None
    except (OSError, RuntimeError, ValueError):
        resolved = None
    if resolved is None or resolved.parent != resolved_store:
        raise StoreCorruptError(
            f"the store at {store} names {name!r} as its {key}, which is not a file inside the store: "
            "refusing to touch it",
            hint=rebuild_hint(store),
        )
    return candidate


def is_disk_full(error: BaseException) -> bool:
    """Whether an OSError / SQLite error means the disk (or a quota) is full."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error)
    return False


def disk_full(store: Path) -> StoreError:
    """The one line for a full disk: nothing committed is lost, the run can simply be repeated."""
    return StoreError(
        f"no space left on device while writing the store at {store}",
        hint="free some space and re-run: nothing was lost (the store keeps every committed image)",
    )


@contextlib.contextmanager
def store_errors(store: Path) -> Iterator[None]:
    """Translate the exceptions a damaged store or a full disk raises into one-line `StoreError`s."""
    try:
        yield
    except StoreError:
        raise
    except sqlite3.DatabaseError as error:
        if is_disk_full(error):
            raise disk_full(store) from error
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            raise StoreError(
                f"the store at {store} is locked by another process ({error})",
                hint="wait for the other condsim process to finish, then retry",
            ) from error
        raise corrupt(store, f"its database cannot be read ({error})") from error
    except OSError as error:
        if is_disk_full(error):
            raise disk_full(store) from error
        raise StoreError(
            f"cannot access the store at {store}: {error.strerror or error} ({error.filename or store})",
            hint="check the folder's permissions and free space, then retry",
        ) from error


def damaged_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The entries of `rows` whose stored vector is not finite or not unit-norm (damaged bytes: a
    stored embedding is always a finite unit vector). Scans contiguous slices of `matrix` in float32
    (a squared norm that overflows is damage too), so memory stays bounded and 100k x 512 rows take
    well under a second."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    low, high = int(rows.min()), int(rows.max()) + 1
    good = np.zeros(high - low, dtype=bool)
    for start in range(low, high, _SCAN_ROWS):
        vectors = np.asarray(matrix[start : min(start + _SCAN_ROWS, high)]).astype(np.float32, copy=False)
        with np.errstate(all="ignore"):
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        good[start - low : start - low + len(vectors)] = np.isfinite(norms) & (
            np.abs(norms - 1.0) <= NORM_TOLERANCE
        )
    damaged: np.ndarray = rows[~good[rows - low]]
    return damaged


def identity_checksum(meta: dict[str, str]) -> str:
    """crc32 of the metadata fixed at creation: an edited model id, dimension or dtype would make
    condsim read the embeddings with another model or layout, so it is refused, not believed."""
    values = json.dumps([meta.get(key) for key in IDENTITY_META], separators=(",", ":"))
    return f"{zlib.crc32(values.encode()):08x}"


def blocks_touched(first_row: int, end_row: int) -> range:
    """The blocks holding rows first_row..end_row-1."""
    if end_row <= first_row:
        return range(0)
    return range(first_row // BLOCK_ROWS, (end_row - 1) // BLOCK_ROWS + 1)


class StoreExistsError(StoreError):
    """`create` lost the race: another process created the store first."""


def build_database(database: Path, meta: dict[str, str]) -> None:
    """Write a complete new store database at `database` (rollback journal, so one file), fsync'ed."""
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        with connection:
            connection.executescript(SCHEMA + BLOCKS_SCHEMA)
            connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
    finally:
        connection.close()
    with open(database, "rb") as handle:
        os.fsync(handle.fileno())


def link_exclusive(source: Path, target: Path) -> None:
    """Make `source` appear as `target` only if `target` does not exist yet (atomic: a hard link)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise StoreExistsError(
            f"{target.parent} already holds a store", hint="open it with Store.open()"
        ) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a filesystem without hard links: check, then rename (a race here needs two creators on it)
        if target.exists():
            raise StoreExistsError(
                f"{target.parent} already holds a store", hint="open it with Store.open()"
            ) from None
        os.replace(source, target)


def half_created(directory: Path) -> bool:
    """Whether `directory` holds a store database an older condsim began but never finished creating
    (no metadata, no items): it holds nothing, so it may be created anew."""
    try:
        connection = sqlite3.connect(f"file:{directory / DATABASE_FILE}?mode=ro", uri=True)
        try:
            tables = {
                name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "meta" in tables and connection.execute("SELECT COUNT(*) FROM meta").fetchone()[0]:
                return False
            return "items" not in tables or not connection.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return False


def remove_store_files(directory: Path) -> None:
    """Delete the files that make up a store (database, journals, embedding files, cache, lock)."""
    for name in (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", f"{DATABASE_FILE}-journal"):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    for entry in os.scandir(directory):
        if STRAY_FILE.match(entry.name) and not entry.is_dir(follow_symlinks=False):
            os.unlink(entry.path)
    lock = directory / LOCK_FILE
    if lock.is_symlink() or lock.is_file():
        lock.unlink()
    elif lock.is_dir():
        lock.rmdir()  # an empty directory in the lock's place; anything else is refused by OSError
    cache = directory / CACHE_DIR
    if cache.is_symlink():
        cache.unlink()
    elif cache.is_dir():
        for entry in os.scandir(cache):
            if entry.name.endswith(".npy") and not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)


class BlockChecksums:
    """Running (block, rows, crc32) of a file written front to back, one entry per BLOCK_ROWS rows."""

    def __init__(self, row_bytes: int) -> None:
        self.row_bytes = row_bytes
        self.blocks: list[tuple[int, int, int]] = []
        self._rows = 0
        self._crc = 0

    def feed(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            take = min(BLOCK_ROWS - self._rows, (len(data) - offset) // self.row_bytes)
            self._crc = zlib.crc32(data[offset : offset + take * self.row_bytes], self._crc)
            self._rows += take
            offset += take * self.row_bytes
            if self._rows == BLOCK_ROWS:
                self.blocks.append((len(self.blocks), BLOCK_ROWS, self._crc))
                self._rows, self._crc = 0, 0

    def finish(self) -> list[tuple[int, int, int]]:
        if self._rows:
            self.blocks.append((len(self.blocks), self._rows, self._crc))
            self._rows, self._crc = 0, 0
        return self.blocks
