"""The plan of an index run: what to embed, move, copy and forget, decided before anything is written.

`plan_index` reads the folder and the stored items, needs no model and writes nothing (the indexer,
`condsim.collection.indexer`, then applies the plan under the store's writer lock):

1. **Scan** the folder recursively (hidden entries and the store itself are skipped). Files with an
   image suffix (`condsim._files.IMAGE_SUFFIXES`) are candidates; other files are listed as skipped.
2. **Classify** each candidate against the store. Same path, size and mtime: unchanged (no read).
   Otherwise its bytes are hashed (sha256): same hash as stored -> unchanged (metadata refreshed);
   hash of a stored item whose file vanished -> moved (re-pointed, no re-embedding); hash of a
   stored item still present -> a copy (its vector is duplicated, no re-embedding); else -> new or
   changed (to embed). A file that cannot be read is failed.
3. **Forget** items whose files are gone (and were not moved).

What is never forgotten, because an absent file there says nothing about the image:

* a folder that cannot be read (`PermissionError`, an I/O error): its images stay in the store and
  the folder is listed in `IndexPlan.unreadable_folders` (not as "not images");
* an image whose file cannot be stat'ed: it stays, and is listed as failed;
* everything, when the folder holds none of the stored images any more (emptied, or the mount point
  of a drive that is not mounted) or cannot be read itself: `plan_index` raises `StoreError` before
  anything is changed. Emptying a store that way takes `prune=True` (`condsim index --prune`, or
  `--replace`, which makes the store mirror another folder), a deliberate choice.

Files deleted one by one from a folder that still holds images are forgotten, as the store mirrors
the folder. A file whose name is not valid UTF-8 cannot be stored (paths are stored as text); it is
listed as failed with the reason, shown with its undecodable bytes escaped (``\\xff``), and the run
goes on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from condsim._files import file_sha256, is_image_path
from condsim._progress import make_progress
from condsim._text import printable
from condsim.collection.store import DATABASE_FILE, Item, NewItem
from condsim.errors import StoreError

NOT_UTF8_REASON = "the file name is not valid UTF-8 (rename the file to index it)"


@dataclass(frozen=True)
class FailedFile:
    """A file that looked like an image but could not be embedded, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScannedFile:
    """An image file found by `scan_folder`: its place and stat (its bytes are not read yet)."""

    relpath: str
    abspath: str
    size: int
    mtime_ns: int


@dataclass
class FolderScan:
    """What `scan_folder` found: image files, non-image files, image files it could not take
    (name not UTF-8, no stat), and the folders it could not list (relative, posix; "" is the root)."""

    images: list[ScannedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    unreadable_folders: list[str] = field(default_factory=list)
    #: relpaths of image files that exist but could not be stat'ed (their stored items are kept)
    unstatable: set[str] = field(default_factory=set)


@dataclass
class IndexPlan:
    """What an index run will do, decided from the folder and the stored items alone (no model).

    Lists follow the scan order (each folder's files sorted by name, then its subfolders). Stored
    items are named by their store id; files to add are `NewItem`s carrying their content hash.

    * `unchanged`: relpaths whose stored embedding still holds;
    * `refresh`: (item id, abspath, size, mtime_ns) to record for unchanged files whose place or stat
      changed (the searchable database does not change);
    * `embed`: new and changed files, to encode; `replaces` maps a changed file's relpath to the id
      of the stored item it replaces (see the `new` and `changed` views);
    * `moved`: (item id, new place) of stored images found under another path, re-pointed;
    * `copied`: (stored row, new file) of files with the content of an image still present, whose
      vector is duplicated;
    * `removed`: ids of stored items whose files are gone and were not moved;
    * `unreadable`: ids of stored items whose file is present but could not be read (their old
      embedding no longer matches the file, so they are dropped);
    * `kept`: relpaths of stored images under a folder that could not be read, or whose file could
      not be stat'ed: nothing is known about them, so they stay;
    * `failed`: files that could not be read; `skipped`: non-image files;
      `unreadable_folders`: folders that could not be listed.
    """

    root: Path
    unchanged: list[str] = field(default_factory=list)
    refresh: list[tuple[int, str, int, int]] = field(default_factory=list)
    embed: list[NewItem] = field(default_factory=list)
    replaces: dict[str, int] = field(default_factory=dict)
    moved: list[tuple[int, NewItem]] = field(default_factory=list)
    copied: list[tuple[int, NewItem]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unreadable_folders: list[str] = field(default_factory=list)

    @property
    def new(self) -> list[NewItem]:
        """Files to embed that the store has never held under their path."""
        return [item for item in self.embed if item.relpath not in self.replaces]

    @property
    def changed(self) -> list[NewItem]:
        """Files to embed whose stored item (same path) holds other content."""
        return [item for item in self.embed if item.relpath in self.replaces]


def is_storable_name(path: str) -> bool:
    """Whether a path can be stored as text: it has no undecodable (surrogate-escaped) bytes."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scan_folder(root: Path, *, exclude: Path | None = None) -> FolderScan:
    """Everything under `root`, in scan order (see `FolderScan`); `exclude` is not entered."""
    scan = FolderScan()
    excluded = exclude.resolve() if exclude is not None else None

    def walk_error(error: OSError) -> None:
        folder = Path(error.filename) if error.filename else root
        relative = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
        scan.unreadable_folders.append("" if relative == "." else relative)

    # per file: one stat and string joins (no Path objects), so a no-op re-index of 10k files is quick
    for directory, subdirectories, files in os.walk(root, onerror=walk_error):
        here = Path(directory)
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".") and (excluded is None or (here / name).resolve() != excluded)
        )
        here_text, here_relative = str(here), here.relative_to(root).as_posix()
        prefix = "" if here_relative == "." else f"{here_relative}/"
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(here_text, name)
            if name == DATABASE_FILE and excluded is not None and here.resolve() == excluded:
                continue
            if not is_image_path(name):
                scan.skipped.append(path)
                continue
            relpath = prefix + name
            try:
                stat = os.stat(path)
            except OSError as error:
                scan.failed.append(FailedFile(printable(path), f"cannot read: {error.strerror or error}"))
                scan.unstatable.add(relpath)
                continue
            if not S_ISREG(stat.st_mode):
                continue
            if not is_storable_name(path):
                scan.failed.append(FailedFile(printable(path), NOT_UTF8_REASON))
                continue
            scan.images.append(ScannedFile(relpath, path, stat.st_size, stat.st_mtime_ns))
    return scan


def _under(relpath: str, folders: Sequence[str]) -> bool:
    return any(folder == "" or relpath.startswith(f"{folder}/") for folder in folders)


def _refuse_unreadable_root(root: Path, scan: FolderScan) -> None:
    if "" in scan.unreadable_folders:
        raise StoreError(
            f"cannot read the folder {printable(root)}; the store was left unchanged",
            hint="check the folder's permissions (or that its drive is mounted), then index again",
        )


def _refuse_to_forget_everything(root: Path, plan: IndexPlan, stored: Sequence[Item], prune: bool) -> None:
    """StoreError when the run would forget every stored image: the folder was emptied, or it is
    the mount point of a drive that is not mounted. Only `prune` makes that a deliberate choice."""
    if stored and len(plan.removed) == len(stored) and not prune:
        raise StoreError(
            f"{printable(root)} holds none of the store's {len(stored)} images (emptied, or a drive that "
            "is not mounted?); they were kept",
            hint="check the folder; to empty the store on purpose, run index again with --prune",
        )


def plan_index(
    root: str | os.PathLike[str],
    stored: Sequence[Item],
    *,
    exclude: Path | None = None,
    show_progress: bool = False,
    prune: bool = False,
) -> IndexPlan:
    """Compare the images under `root` with the `stored` items and decide what an index run does.

    Reads file stats, and the bytes (hashed) of files whose size or mtime differ from the store's;
    writes nothing and needs no model, so it can be inspected or tested on its own. `exclude` (the
    store's own folder, when it sits inside `root`) is not scanned. Paths in the plan are built from
    `root` as given (`index_folder` passes it resolved). Raises `StoreError` when `root` cannot be
    read, or when the plan would forget every stored image and `prune` is False (see the module
    docstring): nothing is forgotten on such evidence.
    """
    root_path = Path(root)
    scan = scan_folder(root_path, exclude=exclude)
    _refuse_unreadable_root(root_path, scan)
    plan = IndexPlan(
        root=root_path,
        skipped=scan.skipped,
        failed=list(scan.failed),
        unreadable_folders=scan.unreadable_folders,
    )
    by_relpath = {item.relpath: item for item in stored}
    present = {entry.relpath for entry in scan.images}
    unknown = {
        item.relpath
        for item in stored
        if item.relpath not in present
        and (item.relpath in scan.unstatable or _under(item.relpath, scan.unreadable_folders))
    }
    plan.kept = sorted(unknown)

    candidates: list[ScannedFile] = []
    for entry in scan.images:
        item = by_relpath.get(entry.relpath)
        if item is not None and item.size == entry.size and item.mtime_ns == entry.mtime_ns:
            plan.unchanged.append(entry.relpath)
            if item.abspath != entry.abspath:
                plan.refresh.append((item.id, entry.abspath, entry.size, entry.mtime_ns))
        else:
            candidates.append(entry)

    # a vanished item whose content turns up under another path is a move
    vanished_by_hash: dict[str, list[int]] = {}
    for item in stored:
        if item.relpath not in present and item.relpath not in unknown:
            vanished_by_hash.setdefault(item.hash, []).append(item.id)
    live_by_hash = {item.hash: item for item in stored if item.relpath in present}
    hashes = _hash_files(candidates, plan, by_relpath, show_progress)

    for entry in candidates:
        if entry.relpath not in hashes:
            continue
        content = hashes[entry.relpath]
        new_item = NewItem(entry.relpath, entry.abspath, content, entry.size, entry.mtime_ns)
        item = by_relpath.get(entry.relpath)
        if item is not None and item.hash == content:
            plan.unchanged.append(entry.relpath)
            plan.refresh.append((item.id, entry.abspath, entry.size, entry.mtime_ns))
        elif vanished_by_hash.get(content):
            plan.moved.append((vanished_by_hash[content].pop(), new_item))
        elif content in live_by_hash:
            plan.copied.append((live_by_hash[content].row, new_item))
        else:
            plan.embed.append(new_item)
            if item is not None:
                plan.replaces[entry.relpath] = item.id
    plan.removed = [item_id for ids in vanished_by_hash.values() for item_id in ids]
    _refuse_to_forget_everything(root_path, plan, stored, prune)
    return plan


def _hash_files(
    candidates: list[ScannedFile], plan: IndexPlan, by_relpath: dict[str, Item], show_progress: bool
) -> dict[str, str]:
    """relpath -> sha256 of each candidate; a file that cannot be read is recorded as failed in `plan`."""
    hashes: dict[str, str] = {}
    with make_progress(transient=True) if show_progress else nullcontext() as progress:
        task = (
            progress.add_task("Hashing changed files", total=len(candidates), rate="") if progress else None
        )
        for entry in candidates:
            try:
                hashes[entry.relpath] = file_sha256(entry.abspath)
            except OSError as error:
                plan.failed.append(FailedFile(entry.abspath, f"cannot read: {error.strerror or error}"))
                if entry.relpath in by_relpath:
                    plan.unreadable.append(by_relpath[entry.relpath].id)
            if progress is not None and task is not None:
                progress.advance(task)
    return hashes
