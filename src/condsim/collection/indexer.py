"""Index a folder of images into a store: incremental, resumable, never crashing on a bad file.

One run is a plan followed by its application.

**Plan** (`condsim.collection.index_plan.plan_index`: reads the folder and the stored items, needs
no model, writes nothing): scan, classify each file against the store (unchanged, moved, copied, new
or changed, failed), and list what to forget. A folder that cannot be read, or that yields no image
while the store holds some, is refused there, before anything changes (`prune=True` empties a store
on purpose); images under an unreadable subfolder are kept.

**Apply** (`index_folder`, holding the store's writer lock):

4. Record the plan's metadata changes, moves, removals and copies.
5. **Embed** new and changed files in batches; each batch is appended + fsync'ed, then committed (see
   `store.py`), so a run killed at any point loses at most the batch in flight and a re-run picks up
   exactly what is left. The next batch is decoded in threads while the model embeds this one
   (`Encoder.iter_encode_images`); a model that is not loaded yet (`LazyEncoder`) is loaded only
   here, so a run with nothing to embed never loads one.
6. Forget stored items whose new content could not be read (their embedding no longer matches).
7. **Compact** the embedding file when removals left more than `compact_ratio` of holes.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from condsim._progress import make_progress, status
from condsim._text import printable
from condsim.collection.backends import StorageBackend, is_milvus
from condsim.collection.backends.local import LocalBackend
from condsim.collection.index_plan import FailedFile, IndexPlan, is_storable_name, plan_index
from condsim.collection.ray_index import RayOptions, ray_encoded_batches
from condsim.collection.store import Store
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError, StoreCorruptError, StoreError


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
    #: folders that could not be read, and the stored images under them (kept, see `index_plan`)
    unreadable_folders: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
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
            "unreadable_folders": list(self.unreadable_folders),
            "kept": list(self.kept),
            "total": self.total,
            "compacted": self.compacted,
            "seconds": self.seconds,
        }


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
    prune: bool = False,
    ray: RayOptions | None = None,
) -> IndexReport:
    """Bring the store at `store_dir` in line with the images under `root` (creating it if needed).

    `store_dir` is a folder, `milvus-lite:FILE` or `milvus://HOST:PORT[/DB]` (`backends/`). With
    `ray`, the files to embed are embedded on Ray (`ray_index.py`), written batch by batch as they
    come back; everything else (the plan, the writes, crash safety) is the same.

    Only new or changed files are embedded; deleted files are forgotten; moved files are re-pointed.
    Unreadable files are listed in `report.failed`, non-image files in `report.skipped`; nothing
    raises for a bad file. Raises `StoreError` for a missing root, a store of another model
    (`StoreModelMismatchError`) or a newer format (`StoreVersionError`), and for a store that mirrors
    another folder which still exists: indexing `root` into it would forget that folder's images, so
    that takes `replace=True` (a store whose folder was moved away follows it without). With
    `replace=True` a damaged store (`StoreCorruptError`) is rebuilt from the images. A full disk
    stops the run with one `StoreError`; every batch committed before it is kept.

    A root that cannot be read, or that holds no image while the store holds some (emptied, or an
    unmounted drive), raises `StoreError` and changes nothing, unless `prune=True` (empty the store
    on purpose); images under an unreadable subfolder are kept (`report.kept`). See `index_plan`.
    """
    if batch_size <= 0:
        raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
    started = time.perf_counter()
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise StoreError(
            f"{printable(root_path)} is not a folder; nothing was changed",
            hint="pass the folder of images to index (is its drive mounted?)",
        )
    root_path = root_path.resolve()
    if not is_storable_name(str(root_path)):
        raise StoreError(
            f"the folder name {printable(root_path)} is not valid UTF-8, so it cannot be stored",
            hint="rename the folder (or index it through a symbolic link with a UTF-8 name)",
        )
    store = _open_for_writing(store_dir, encoder, dtype, replace)
    report = IndexReport(root=str(root_path), store=store.location, model_id=encoder.model_id)
    try:
        with store.writer_lock():
            if not replace:
                _refuse_another_live_folder(store, root_path)
            with status(f"Scanning {printable(root_path)}", enabled=show_progress):
                plan = plan_index(
                    root_path,
                    store.items(),
                    exclude=store.local_path,
                    show_progress=show_progress,
                    prune=prune or replace,
                )
            store.set_root(str(root_path))
            _apply_plan(plan, store, encoder, report, batch_size, show_progress, compact_ratio, ray)
        report.total = len(store)
    finally:
        store.close()
    report.seconds = time.perf_counter() - started
    return report


def _open_for_writing(
    store_dir: str | os.PathLike[str], encoder: Encoder, dtype: str, replace: bool
) -> StorageBackend:
    """The store named by `store_dir`, created if missing; a damaged local store is rebuilt from the
    images when the user asked for a store mirroring the folder (`replace`)."""
    if is_milvus(store_dir):
        from condsim.collection.backends.milvus import MilvusBackend

        return MilvusBackend.open_or_create(os.fspath(store_dir), encoder.model_id, encoder.dim)
    store_path = Path(store_dir).expanduser().absolute()
    try:
        store = Store.open_or_create(store_path, encoder.model_id, encoder.dim, dtype=dtype)
    except StoreCorruptError:
        if not replace:
            raise
        store = Store.recreate(store_path, encoder.model_id, encoder.dim, dtype=dtype)
    return LocalBackend(store)


def _refuse_another_live_folder(store: StorageBackend, root: Path) -> None:
    previous = store.root
    if not previous or Path(previous) == root or not Path(previous).is_dir() or len(store) == 0:
        return
    raise StoreError(
        f"{store.location} holds the {len(store)} images of {previous}; indexing {root} into it would "
        "forget them",
        hint="use another --store for this folder, or pass --replace to make the store mirror it",
    )


def _apply_plan(
    plan: IndexPlan,
    store: StorageBackend,
    encoder: Encoder,
    report: IndexReport,
    batch_size: int,
    show_progress: bool,
    compact_ratio: float,
    ray: RayOptions | None = None,
) -> None:
    """Carry out `plan` on `store` (whose writer lock the caller holds) and fill in `report`."""
    report.skipped = plan.skipped
    report.unreadable_folders, report.kept = plan.unreadable_folders, plan.kept
    report.unchanged = len(plan.unchanged)
    store.touch(plan.refresh)
    store.update_paths(plan.moved)
    report.moved = len(plan.moved)
    store.remove(plan.removed)
    report.removed = len(plan.removed)
    if plan.copied:
        vectors = store.vectors([row for row, _ in plan.copied])
        store.add(vectors, [item for _, item in plan.copied])
        report.copied = len(plan.copied)

    failures = list(plan.failed)
    stale = list(plan.unreadable)
    with make_progress() if show_progress and plan.embed else nullcontext() as progress:
        task = progress.add_task("Indexing images", total=len(plan.embed), rate="") if progress else None
        if ray is not None:
            batches = ray_encoded_batches(
                plan.embed,
                ray.encoder if ray.encoder is not None else ray.shipped(encoder),
                address=ray.address,
                device=ray.device,
                batch_size=batch_size,
                actors=ray.actors,
            )
        else:
            # one pass over everything to embed: the next batch is decoded while this one is embedded
            batches = encoder.iter_encode_images([item.abspath for item in plan.embed], batch_size=batch_size)
        for encoded in batches:
            for failure in encoded.failures:
                failed = plan.embed[failure.index]
                failures.append(FailedFile(failed.abspath, failure.reason))
                if failed.relpath in plan.replaces:
                    stale.append(plan.replaces[failed.relpath])
            if encoded.indices:
                store.add(
                    np.asarray(encoded.embeddings, dtype=np.float32), [plan.embed[i] for i in encoded.indices]
                )
                report.indexed += len(encoded.indices)
            if progress is not None and task is not None:
                progress.advance(task, len(encoded.indices) + len(encoded.failures))
                speed = progress.tasks[task].speed
                progress.update(task, rate=f"{speed:,.1f} img/s" if speed else "")

    # a stored file whose new content cannot be read no longer matches its old embedding
    store.remove(stale)
    report.removed += len(stale)
    report.failed = failures
    root = plan.root
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
    report.compacted = store.compact_if_needed(compact_ratio)
