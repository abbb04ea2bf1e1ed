"""Index a folder of images into a store: incremental, resumable, never crashing on a bad file.

One run:

1. **Scan** the folder recursively (hidden entries and the store itself are skipped). Files with an
   image extension are candidates; other files are listed as skipped.
2. **Classify** each candidate against the store. Same path, size and mtime: unchanged (no read).
   Otherwise its bytes are hashed (sha256): same hash as stored -> unchanged (metadata refreshed);
   hash of a stored item whose file vanished -> moved (re-pointed, no re-embedding); hash of a
   stored item still present -> a copy (its vector is duplicated, no re-embedding); else -> embed.
3. **Forget** items whose files are gone (and were not moved).
4. **Embed** in batches; each batch is appended + fsync'ed, then committed (see `store.py`), so a run
   killed at any point loses at most the batch in flight and a re-run picks up exactly what is left.
5. **Compact** the embedding file when removals left more than `compact_ratio` of holes.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from condsim._progress import make_progress
from condsim.collection.store import DATABASE_FILE, NewItem, Store
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError, StoreError

#: extensions PIL reads out of the box (lower case, with the dot)
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
        ".pcx",
        ".sgi",
        ".jp2",
        ".j2k",
    }
)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FailedFile:
    """A file that looked like an image but could not be embedded, and why."""

    path: str
    reason: str


@dataclass
class IndexReport:
    """What one `index_folder` run did. `ok` is False only when the store holds nothing usable."""

    root: str
    store: str
    model_id: str
    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    copied: int = 0
    removed: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total: int = 0
    compacted: bool = False
    seconds: float = 0.0

    @property
    def nothing_indexed(self) -> bool:
        """True when the store holds no image after the run (the CLI then exits non-zero)."""
        return self.total == 0

    @property
    def ok(self) -> bool:
        return not self.nothing_indexed

    @property
    def images_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "root": self.root,
            "store": self.store,
            "model_id": self.model_id,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "copied": self.copied,
            "removed": self.removed,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "skipped": list(self.skipped),
            "total": self.total,
            "compacted": self.compacted,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _ScannedFile:
    relpath: str
    abspath: str
    size: int
    mtime_ns: int


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_folder(root: Path, *, exclude: Path | None = None) -> tuple[list[_ScannedFile], list[str]]:
    """(image files, skipped non-image files) under `root`, sorted by relative path."""
    images: list[_ScannedFile] = []
    skipped: list[str] = []
    excluded = exclude.resolve() if exclude is not None else None

    def walk_error(error: OSError) -> None:
        skipped.append(f"{error.filename}: {error.strerror}")

    for directory, subdirectories, files in os.walk(root, onerror=walk_error):
        here = Path(directory)
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".") and (excluded is None or (here / name).resolve() != excluded)
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            if name == DATABASE_FILE and excluded is not None and here.resolve() == excluded:
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(str(path))
                continue
            try:
                stat = path.stat()
            except OSError as error:
                skipped.append(f"{path}: {error.strerror}")
                continue
            if not path.is_file():
                continue
            images.append(
                _ScannedFile(path.relative_to(root).as_posix(), str(path), stat.st_size, stat.st_mtime_ns)
            )
    return images, skipped


def _batched(items: list[_ScannedFile], size: int) -> Iterator[list[_ScannedFile]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def index_folder(
    root: str | os.PathLike[str],
    store_dir: str | os.PathLike[str],
    encoder: Encoder,
    *,
    batch_size: int = 32,
    show_progress: bool = True,
    dtype: str = "float32",
    compact_ratio: float = 0.2,
    replace: bool = False,
) -> IndexReport:
    """Bring the store at `store_dir` in line with the images under `root` (creating it if needed).

    Only new or changed files are embedded; deleted files are forgotten; moved files are re-pointed.
    Unreadable files are listed in `report.failed`, non-image files in `report.skipped`; nothing
    raises for a bad file. Raises `StoreError` for a missing root, a store of another model
    (`StoreModelMismatchError`) or a newer format (`StoreVersionError`), and for a store that mirrors
    another folder which still exists: indexing `root` into it would forget that folder's images, so
    that takes `replace=True` (a store whose folder was moved away follows it without).
    """
    if batch_size <= 0:
        raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
    started = time.perf_counter()
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise StoreError(f"{root_path} is not a folder", hint="pass the folder of images to index")
    root_path = root_path.resolve()
    store_path = Path(store_dir).expanduser().absolute()
    store = Store.open_or_create(store_path, encoder.model_id, encoder.dim, dtype=dtype)
    report = IndexReport(root=str(root_path), store=str(store_path), model_id=encoder.model_id)
    try:
        with store.writer_lock():
            if not replace:
                _refuse_another_live_folder(store, root_path)
            _run(store, root_path, encoder, report, batch_size, show_progress, compact_ratio)
        report.total = len(store)
    finally:
        store.close()
    report.seconds = time.perf_counter() - started
    return report


def _refuse_another_live_folder(store: Store, root: Path) -> None:
    previous = store.root
    if not previous or Path(previous) == root or not Path(previous).is_dir() or len(store) == 0:
        return
    raise StoreError(
        f"{store.path} holds the {len(store)} images of {previous}; indexing {root} into it would "
        "forget them",
        hint="use another --store for this folder, or pass --replace to make the store mirror it",
    )


def _run(
    store: Store,
    root: Path,
    encoder: Encoder,
    report: IndexReport,
    batch_size: int,
    show_progress: bool,
    compact_ratio: float,
) -> None:
    store.remove_stray_files()
    store.set_root(str(root))
    scanned, report.skipped = scan_folder(root, exclude=store.path)
    stored = {item.relpath: item for item in store.items()}
    present = {entry.relpath for entry in scanned}

    unchanged_touch: list[tuple[int, str, int, int]] = []
    candidates: list[_ScannedFile] = []
    for entry in scanned:
        item = stored.get(entry.relpath)
        if item is not None and item.size == entry.size and item.mtime_ns == entry.mtime_ns:
            report.unchanged += 1
            if item.abspath != entry.abspath:
                unchanged_touch.append((item.id, entry.abspath, entry.size, entry.mtime_ns))
        else:
            candidates.append(entry)

    # hash what may have changed; vanished items are candidates for a move
    vanished_by_hash: dict[str, list[int]] = {}
    for item in stored.values():
        if item.relpath not in present:
            vanished_by_hash.setdefault(item.hash, []).append(item.id)
    live_by_hash = {item.hash: item for item in stored.values() if item.relpath in present}
    hashes: dict[str, str] = {}
    failures: list[FailedFile] = []
    with make_progress(transient=True) if show_progress else nullcontext() as progress:
        task = (
            progress.add_task("Hashing changed files", total=len(candidates), rate="") if progress else None
        )
        for entry in candidates:
            try:
                hashes[entry.relpath] = file_hash(entry.abspath)
            except OSError as error:
                failures.append(FailedFile(entry.abspath, f"cannot read: {error.strerror or error}"))
            if progress is not None and task is not None:
                progress.advance(task)

    moves: list[tuple[int, NewItem]] = []
    copies: list[tuple[int, NewItem]] = []
    to_embed: list[_ScannedFile] = []
    for entry in candidates:
        if entry.relpath not in hashes:
            continue
        content = hashes[entry.relpath]
        new_item = NewItem(entry.relpath, entry.abspath, content, entry.size, entry.mtime_ns)
        item = stored.get(entry.relpath)
        if item is not None and item.hash == content:
            report.unchanged += 1
            unchanged_touch.append((item.id, entry.abspath, entry.size, entry.mtime_ns))
        elif vanished_by_hash.get(content):
            moves.append((vanished_by_hash[content].pop(), new_item))
        elif content in live_by_hash:
            copies.append((live_by_hash[content].row, new_item))
        else:
            to_embed.append(entry)

    store.touch(unchanged_touch)
    store.update_paths(moves)
    report.moved = len(moves)
    gone = [item_id for ids in vanished_by_hash.values() for item_id in ids]
    store.remove(gone)
    report.removed = len(gone)
    if copies:
        vectors = store.vectors([row for row, _ in copies])
        store.add(vectors, [item for _, item in copies])
        report.copied = len(copies)

    with make_progress() if show_progress and to_embed else nullcontext() as progress:
        task = progress.add_task("Indexing images", total=len(to_embed), rate="") if progress else None
        for batch in _batched(to_embed, batch_size):
            encoded = encoder.encode_images_partial([entry.abspath for entry in batch], batch_size=batch_size)
            for failure in encoded.failures:
                failures.append(FailedFile(batch[failure.index].abspath, failure.reason))
            if encoded.indices:
                new_items = [
                    NewItem(
                        batch[i].relpath,
                        batch[i].abspath,
                        hashes[batch[i].relpath],
                        batch[i].size,
                        batch[i].mtime_ns,
                    )
                    for i in encoded.indices
                ]
                store.add(np.asarray(encoded.embeddings, dtype=np.float32), new_items)
                report.indexed += len(new_items)
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
                speed = progress.tasks[task].speed
                progress.update(task, rate=f"{speed:,.1f} img/s" if speed else "")

    # a stored file whose new content cannot be read no longer matches its old embedding
    failed_paths = {f.path for f in failures}
    stale = [
        item.id
        for item in stored.values()
        if item.abspath in failed_paths or str(root / item.relpath) in failed_paths
    ]
    store.remove(stale)
    report.removed += len(stale)
    report.failed = failures
    store.record_failures(
        [
            (
                Path(f.path).relative_to(root).as_posix() if Path(f.path).is_relative_to(root) else f.path,
                f.path,
                f.reason,
            )
            for f in failures
        ]
    )
    if store.n_rows and store.holes() > compact_ratio * store.n_rows:
        report.compacted = store.compact()
