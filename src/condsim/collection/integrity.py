"""`condsim check`: verify everything a store holds, and repair what can be re-derived from the images.

What is verified (`check_store`):

* the database opens and its metadata is whole (else one `StoreCorruptError`: only a rebuild helps);
* the `.lock` file is a plain file, the `failures` table exists;
* the embedding file holds every committed row, every item points to a row inside it;
* every block of `BLOCK_ROWS` rows matches the crc32 recorded when it was written, and every live row
  is finite and unit-norm (`damaged_rows`, also what queries use to leave damaged rows out);
* every cache file matches the checksum in its name.

`repair=True` fixes what it found: damaged items are re-embedded from their image files (when the
file still holds the content that was indexed, by its sha256), items that cannot be re-embedded are
removed and reported (`condsim index` adds them back once their files are readable), the embedding
file is compacted, the lock and missing tables are recreated, damaged cache files are deleted.

A checksum names a damaged block, not a damaged row: every item of a failing block is re-embedded
(compaction copies only verified blocks), and the report says how many of them really were damaged
(their stored vector was not a finite unit vector or differed from the fresh embedding) and how many
were intact.

`verify_embeddings` is the same verification for queries (`Collection`): run whenever the store's
version or its embedding file's (inode, size, mtime, ctime) changed, remembered in the store's cache
under both, so damage written after a first query is noticed by the next one, in any process.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from condsim._files import file_sha256
from condsim.collection.cache import ArrayCache, cache_key, verify_cache_file
from condsim.collection.store import Item, Store
from condsim.collection.store_format import (
    BLOCK_ROWS,
    CACHE_DIR,
    DATABASE_FILE,
    LOCK_FILE,
    SCHEMA,
    blocks_touched,
    corrupt,
    damaged_rows,
    repair_hint,
    store_errors,
)
from condsim.collection.store_reader import StoreReader, failing_blocks

#: largest |fresh - stored| component, per stored dtype, for which a re-embedded row counts as intact
#: (an encoder's run-to-run rounding stays far below; damage that keeps a row a unit vector is rarer)
_SAME_EMBEDDING = {"float32": 1e-5, "float16": 1e-3}
#: a file written this recently may be written again within its timestamps' granularity without its
#: (size, mtime, ctime) changing, so a verification of it is not remembered (as git's "racy" entries)
_RACY_NS = 2_000_000_000

if TYPE_CHECKING:
    from condsim.encoders.base import Encoder


@dataclass
class CheckReport:
    """What `check_store` found and, with `repair`, what it fixed and what it could not.

    `damaged_items`: items whose row is in a block failing its checksum, outside the file, or not a
    finite unit vector (all re-embedded by a repair); `invalid_items`: those whose stored vector is not
    a finite unit vector; `reembedded`: items a repair re-embedded; `differed`: those of them whose
    stored vector was really damaged (invalid, or off from the fresh embedding), the rest were intact.
    """

    store: str
    items: int = 0
    rows: int = 0
    blocks_checked: int = 0
    problems: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    not_fixed: list[str] = field(default_factory=list)
    damaged_items: int = 0
    invalid_items: int = 0
    reembedded: int = 0
    differed: int = 0
    removed: int = 0

    @property
    def healthy(self) -> bool:
        """True when nothing was wrong, or everything wrong was fixed."""
        return not self.problems or (bool(self.fixed) and not self.not_fixed)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "store": self.store,
            "items": self.items,
            "rows": self.rows,
            "blocks_checked": self.blocks_checked,
            "problems": list(self.problems),
            "fixed": list(self.fixed),
            "not_fixed": list(self.not_fixed),
            "damaged_items": self.damaged_items,
            "invalid_items": self.invalid_items,
            "reembedded": self.reembedded,
            "differed": self.differed,
            "removed": self.removed,
            "healthy": self.healthy,
        }


def check_store(
    path: str | os.PathLike[str],
    *,
    repair: bool = False,
    encoder: Callable[[str], Encoder] | None = None,
) -> CheckReport:
    """Verify the store at `path` (see the module docstring); with `repair`, fix what can be fixed.

    `encoder(model_id)` loads the store's model when damaged rows must be re-embedded (only then).
    Raises `StoreCorruptError` when the database itself cannot be read (only a rebuild helps).
    """
    directory = Path(path)
    report = CheckReport(store=str(directory))
    if repair:
        _repair_schema(directory, report)
    _check_lock(directory, report, repair)
    with Store.open(directory, verify=False) as store:
        report.items, report.rows = len(store), store.n_rows
        damaged = _damaged_items(store, report)
        report.damaged_items = len(damaged)
        if damaged and repair:
            _reembed(store, damaged, encoder, report)
        elif repair and store.holes():
            with store.writer_lock():
                store.compact()
        _check_cache(directory / CACHE_DIR, report, repair)
    return report


def _repair_schema(directory: Path, report: CheckReport) -> None:
    """Recreate the tables a store can lose without losing its records (failures, block checksums)."""
    database = directory / DATABASE_FILE
    if not database.is_file():
        return
    with store_errors(directory):
        connection = sqlite3.connect(database)
        try:
            tables = {
                name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "failures" not in tables and {"meta", "items"} <= tables:
                with connection:
                    connection.executescript(SCHEMA)  # every statement is CREATE ... IF NOT EXISTS
                report.problems.append("the failures table was missing")
                report.fixed.append("recreated the failures table (empty: the next index run fills it)")
        finally:
            connection.close()


def _check_lock(directory: Path, report: CheckReport, repair: bool) -> None:
    lock = directory / LOCK_FILE
    if not (lock.is_symlink() or (lock.exists() and not lock.is_file())):
        return
    report.problems.append(f"{LOCK_FILE} is not a plain file (a directory or a link)")
    if not repair:
        return
    try:
        lock.unlink() if lock.is_symlink() or not lock.is_dir() else lock.rmdir()
        report.fixed.append(f"removed the {LOCK_FILE} in the way (the next writer recreates it)")
    except OSError as error:
        report.not_fixed.append(f"cannot remove {lock}: {error.strerror or error}; remove it by hand")


def _damaged_items(store: Store, report: CheckReport) -> list[Item]:
    """Items whose row is outside the embedding file, in a block that fails its checksum, or not a
    finite unit vector; records each kind of problem in `report`."""
    items = store.items()
    n_rows = store.n_rows
    path = store.embeddings_path
    matrix = store._readable_rows()
    file_rows = len(matrix)
    if n_rows and not path.is_file():
        report.problems.append(f"the embedding file {path.name} is missing")
    elif file_rows < n_rows:
        report.problems.append(f"the embedding file holds {file_rows} of {n_rows} committed rows")
    by_row = {item.row: item for item in items}
    bad_rows = {item.row for item in items if not 0 <= item.row < file_rows}
    outside = sum(1 for item in items if not 0 <= item.row < n_rows)
    if outside:
        report.problems.append(f"{outside} items point to rows outside the embedding file")
    if file_rows:
        report.blocks_checked = len(blocks_touched(0, file_rows))
        damaged_blocks = failing_blocks(matrix, store.block_checksums(), n_rows)
        live = np.asarray(sorted(row for row in by_row if 0 <= row < file_rows), dtype=np.int64)
        invalid = {int(row) for row in damaged_rows(matrix, live)}
        report.invalid_items = len(invalid)
        if damaged_blocks:
            failing = set(damaged_blocks)
            in_blocks = {row for row in live.tolist() if row // BLOCK_ROWS in failing}
            report.problems.append(
                f"{len(damaged_blocks)} block(s) of {BLOCK_ROWS} rows fail their checksum (first: rows "
                f"{damaged_blocks[0] * BLOCK_ROWS}..): {len(in_blocks)} items lie in them, "
                f"{len(invalid & in_blocks)} of them not finite unit vectors"
            )
            bad_rows.update(in_blocks)
        elsewhere = invalid - bad_rows
        if elsewhere:
            report.problems.append(f"{len(elsewhere)} stored embeddings are not finite unit vectors")
            bad_rows.update(elsewhere)
        del matrix
    return [by_row[row] for row in sorted(bad_rows) if row in by_row]


def _reembed(
    store: Store, damaged: list[Item], encoder: Callable[[str], Encoder] | None, report: CheckReport
) -> None:
    """Re-embed damaged items from their files; remove the ones that cannot be; then compact."""
    usable: list[Item] = []
    lost: list[tuple[Item, str]] = []
    for item in damaged:
        try:
            if file_sha256(item.abspath) != item.hash:
                lost.append((item, "the file changed since it was indexed (re-run `condsim index`)"))
                continue
        except OSError as error:
            lost.append((item, f"cannot read the file: {error.strerror or error}"))
            continue
        usable.append(item)
    replacements: dict[int, np.ndarray] = {}
    with store.writer_lock():
        if usable:
            if encoder is None:
                raise ValueError("check_store(repair=True) needs an encoder to re-embed damaged rows")
            model = encoder(store.model_id)
            store.check_model(model.model_id)
            if model.dim != store.dim:
                raise corrupt(store.path, f"its metadata says dim={store.dim}, its model gives {model.dim}")
            encoded = model.encode_images_partial([item.abspath for item in usable])
            for failure in encoded.failures:
                lost.append((usable[failure.index], failure.reason))
            for index, vector in zip(encoded.indices, encoded.embeddings, strict=True):
                replacements[usable[index].row] = np.asarray(vector, dtype=np.float32)
            report.reembedded = len(replacements)
            report.differed = _differing(store, replacements)
            report.fixed.append(
                f"re-embedded {report.reembedded} items from their image files (all of a damaged block): "
                f"{report.differed} had a damaged stored embedding, {report.reembedded - report.differed} "
                f"were intact (within {_SAME_EMBEDDING[store.dtype_name]:g} of the fresh embedding)"
            )
        if lost:
            stale = {item.id for item, _ in lost}
            store.remove(sorted(stale))
            report.removed = len(stale)
            for item, reason in lost:
                report.not_fixed.append(f"{item.abspath}: {reason}; removed from the store")
        if store.compact(replacements):
            report.fixed.append("rewrote the embedding file with verified rows only")


def _differing(store: Store, fresh: dict[int, np.ndarray]) -> int:
    """How many rows of `fresh` (row -> new embedding) the store held damaged: outside the file, not
    a finite unit vector, or further than `_SAME_EMBEDDING` from the fresh embedding."""
    if not fresh:
        return 0
    matrix = store._readable_rows()
    rows = np.asarray(sorted(fresh), dtype=np.int64)
    inside = rows[rows < len(matrix)]
    invalid = set(damaged_rows(matrix, inside).tolist())
    differing = len(rows) - len(inside) + len(invalid)
    for row in inside.tolist():
        if row in invalid:
            continue
        stored = np.asarray(matrix[row], dtype=np.float32)
        expected = fresh[row].astype(matrix.dtype).astype(np.float32)
        if float(np.max(np.abs(stored - expected))) > _SAME_EMBEDDING[store.dtype_name]:
            differing += 1
    return differing


@dataclass(frozen=True)
class StoredDamage:
    """What verifying one version of a store's embeddings found, for queries: the live rows whose
    vector is not a finite unit vector (left out of results) and the number of blocks whose bytes
    differ from their recorded checksum (their other rows may score slightly off)."""

    invalid_rows: np.ndarray
    failing_blocks: int

    def warning(self, store: os.PathLike[str] | str) -> str | None:
        """The one-line warning a query gives for this damage (None when there is none)."""
        left_out = len(self.invalid_rows)
        if not left_out and not self.failing_blocks:
            return None
        parts = []
        if left_out:
            parts.append(f"{left_out} stored embeddings of {store} are damaged and left out of the results")
        if self.failing_blocks:
            parts.append(
                f"{self.failing_blocks} block(s) of its stored embeddings fail their checksum (scores from "
                "them may be off)"
                if left_out
                else f"{self.failing_blocks} block(s) of stored embeddings of {store} fail their checksum "
                "(damaged bytes: scores from them may be off)"
            )
        return ", and ".join(parts) + f": {repair_hint(Path(store))}"


def verify_embeddings(
    store: StoreReader,
    matrix: np.ndarray,
    live_rows: np.ndarray,
    cache: ArrayCache,
    state: tuple[int, tuple[int, int, int, int]],
) -> tuple[StoredDamage, bool]:
    """(damage, settled): the damage of the version `matrix` and `live_rows` belong to (call inside
    the `reading()` block they were read in), and whether it may be remembered for that `state`
    ((version, `embeddings_state()`)): a result is kept in the store's cache under `state`, so it is
    recomputed exactly when the version or the file changes. A file written in the last two seconds
    is not settled (a write in the same timestamp tick leaves its stat unchanged): its result is
    neither cached nor to be trusted by the caller beyond this read.

    Cost: one crc32 and one norm pass over the file, about 0.3 s per 100k x 512 float32 rows.
    """

    def compute() -> np.ndarray:
        failing = failing_blocks(matrix, store.block_checksums(), len(matrix))
        holding_items = np.isin(np.unique(live_rows // BLOCK_ROWS), failing).sum()
        # one int64 array: [blocks with items failing their checksum, invalid live rows...]
        return np.concatenate([[holding_items], damaged_rows(matrix, live_rows)]).astype(np.int64)

    version, (_, _, mtime_ns, ctime_ns) = state
    settled = time.time_ns() - max(mtime_ns, ctime_ns) >= _RACY_NS
    if settled:
        tag = f"{store.store_id[:12]}v{version}"
        found = cache.get_or_compute("damaged", cache_key(state), compute, tag=tag)
    else:
        found = compute()
    return StoredDamage(np.asarray(found[1:], dtype=np.int64), int(found[0])), settled


def _check_cache(directory: Path, report: CheckReport, repair: bool) -> None:
    if not directory.is_dir() or directory.is_symlink():
        if directory.is_symlink():
            report.problems.append(f"{directory} is a symbolic link")
            if repair:
                directory.unlink()
                report.fixed.append(f"removed the link {directory} (the cache is recreated on use)")
        return
    damaged = [path for path in sorted(directory.glob("*.npy")) if not verify_cache_file(path)]
    if not damaged:
        return
    report.problems.append(f"{len(damaged)} damaged cache files (recomputed when next used)")
    if repair:
        for path in damaged:
            with contextlib.suppress(OSError):
                path.unlink()
        report.fixed.append(f"deleted {len(damaged)} damaged cache files")
