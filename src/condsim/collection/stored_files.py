"""A collection's image files: where they are now, and adding or removing some from Python.

`StoredFiles` is the file half of `Collection` (state and search live in `collection.py` and
`queries.py`):

* `locate(item)` / `find(path)`: an image's path as it is now, following a moved folder
  (`relocate.py`), and the stored item of a path given the old way or the new;
* `add(paths)` / `remove(paths)`: the library form of a small `condsim index` run, for images that
  arrive one by one (an upload, a watched folder). Added files must lie in the indexed folder, as a
  later `condsim index` of that folder keeps only what is inside it; an empty store that was never
  indexed takes the folder of the first files added as its folder. Both return or take the stable
  item ids that results carry (`Result.id`, `search_vectors`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from condsim._files import file_sha256, is_image_path
from condsim._text import printable
from condsim.collection.relocate import fix_hint, locate_root
from condsim.collection.store import NewItem
from condsim.errors import CondsimWarning, ImageLoadError, InvalidInputError, StoreError

if TYPE_CHECKING:
    from condsim.collection.backends.milvus import MilvusBackend
    from condsim.collection.store import Item, Store
    from condsim.encoders.base import Encoder

PathInput = str | os.PathLike[str]


class StoredFiles:
    """The file methods of `Collection` (which provides the attributes declared below)."""

    if TYPE_CHECKING:
        store: Store | MilvusBackend
        _root: Path | None
        _root_found: tuple[int | None, Path | None, bool] | None
        _state_version: int | None

        @property
        def encoder(self) -> Encoder: ...

        def _sync(self) -> None: ...

    # ------------------------------------------------------------------ where the images are
    def _folder(self) -> Path | None:
        """The folder the relative paths resolve under now (`relocate.locate_root`), for the synced
        store version; None when the store has no folder, or its folder is gone and found nowhere."""
        return self._where()[0]

    def _where(self) -> tuple[Path | None, bool]:
        """(folder, moved): the folder as `_folder` gives it and whether it is not the recorded one,
        looked up once per synced store version (one warning, when the folder is found nowhere)."""
        if self._root_found is None or self._root_found[0] != self._state_version:
            recorded = self.store.root
            relpaths: list[str] = []
            if self._root is not None or (recorded and not Path(recorded).is_dir()):
                relpaths = [item.relpath for item in self.store.items()]
            folder = locate_root(recorded, self.store.path, relpaths, self._root)
            if folder is None and recorded and relpaths:
                warnings.warn(
                    CondsimWarning(
                        f"the folder {printable(recorded)} indexed into {printable(self.store.path)} is gone "
                        f"(moved or unmounted), so image paths point where it was: run "
                        f"`{fix_hint(self.store.path)}`"
                    ),
                    stacklevel=5,
                )
            moved = folder is not None and str(folder) != recorded
            self._root_found = (self._state_version, folder, moved)
        return self._root_found[1], self._root_found[2]

    def locate(self, item: Item) -> str:
        """Where the image of `item` is now: its recorded absolute path, or its relative path under
        the folder the store's images were moved to (`relocate.py`)."""
        folder, moved = self._where()
        if folder is None or not moved or not item.relpath or Path(item.relpath).is_absolute():
            return item.abspath
        return str(folder / item.relpath)

    def find(self, path: PathInput) -> Item | None:
        """The stored item of an image path: absolute or relative to the indexed folder, or under the
        folder the images were moved to."""
        item = self.store.find_path(Path(path).expanduser())
        folder = self._folder()
        if item is None and folder is not None:
            candidate = Path(path).expanduser().absolute()
            if candidate.is_relative_to(folder):
                item = self.store.find_path(candidate.relative_to(folder).as_posix())
        return item

    # ------------------------------------------------------------------ adding and removing
    def add(self, paths: Sequence[PathInput] | PathInput, *, batch_size: int = 32) -> list[int]:
        """Embed image files and store them; returns their stable ids, in the order given.

        A file already stored with the same content keeps its id and is not embedded again; one whose
        content changed is embedded again and gets a new id. Nothing is stored when any file is
        missing, unreadable, not an image or outside the indexed folder (one `CondsimError` naming
        them).
        """
        files = _as_list(paths, "add")
        self._sync()
        folder = self._folder()
        if folder is None and self.store.root:
            raise StoreError(
                f"the folder {printable(self.store.root)} indexed into {printable(self.store.path)} is gone, "
                "so new images cannot be placed in it",
                hint=f"run `{fix_hint(self.store.path)}` first",
            )
        folder = folder or _common_folder(files)
        found = [_describe(file, folder) for file in files]
        by_relpath = {item.relpath: item for item in self.store.items()}
        ids: dict[str, int] = {}
        to_embed: list[NewItem] = []
        for new in found:
            stored = by_relpath.get(new.relpath)
            if stored is not None and stored.hash == new.hash:
                ids[new.relpath] = stored.id
            elif new.relpath not in {item.relpath for item in to_embed}:
                to_embed.append(new)
        if to_embed:
            encoding = self.encoder.encode_images_partial([new.abspath for new in to_embed], batch_size)
            if encoding.failures:
                reasons = "; ".join(f"{f.source}: {f.reason}" for f in encoding.failures[:3])
                raise ImageLoadError(
                    f"{len(encoding.failures)} of {len(files)} images could not be read, none was added: "
                    f"{reasons}",
                    hint="add readable image files (png, jpg, webp, ...)",
                )
            with self.store.writer_lock():
                if not self.store.root:
                    self.store.set_root(str(folder))
                rows = self.store.add(encoding.embeddings, to_embed)
            for item in self.store.items_by_rows(rows).values():
                ids[item.relpath] = item.id
        self._sync()
        return [ids[new.relpath] for new in found]

    def remove(self, paths: Sequence[PathInput] | PathInput) -> list[int]:
        """Forget stored images (by path, as for `find`); returns the ids removed, in the order given.

        A path the store does not hold is an `InvalidInputError` and nothing is removed. The files
        themselves are left alone; their embedding rows become holes until `condsim index` compacts.
        """
        files = _as_list(paths, "remove")
        items = [self.find(file) for file in files]
        missing = [os.fspath(file) for file, item in zip(files, items, strict=True) if item is None]
        if missing:
            listed = ", ".join(printable(path) for path in missing[:3])
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise InvalidInputError(
                f"not in the store, nothing was removed: {listed}{more}",
                hint="name stored images (absolute paths, or relative to the indexed folder)",
            )
        ids = list(dict.fromkeys(item.id for item in items if item is not None))
        with self.store.writer_lock():
            self.store.remove(ids)
        self._sync()
        return ids


def _as_list(paths: Sequence[PathInput] | PathInput, what: str) -> list[PathInput]:
    """One path or a sequence of them as a non-empty list."""
    files: list[PathInput] = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not files:
        raise InvalidInputError(
            f"{what} needs at least one image path", hint=f'e.g. collection.{what}(["a.jpg"])'
        )
    return files


def _common_folder(files: Sequence[PathInput]) -> Path:
    """The deepest folder holding every file (the folder of a store that was never indexed)."""
    parents = [str(Path(file).expanduser().resolve().parent) for file in files]
    return Path(os.path.commonpath(parents))


def _describe(file: PathInput, folder: Path) -> NewItem:
    """The store metadata of one image file under `folder`, or a one-line error saying what is wrong."""
    path = Path(file).expanduser()
    if not path.is_file():
        raise ImageLoadError(
            f"no image file at {printable(path)}, nothing was added", hint="give existing image files"
        )
    if not is_image_path(path.name):
        raise InvalidInputError(
            f"{printable(path)} is not an image file name, nothing was added",
            hint="add .png, .jpg, .webp, ... files",
        )
    absolute = path.resolve()
    if not absolute.is_relative_to(folder):
        raise InvalidInputError(
            f"{printable(absolute)} is outside the indexed folder {printable(folder)}, nothing was added",
            hint="copy it into that folder first (a later `condsim index` keeps only what is inside it)",
        )
    stat = absolute.stat()
    return NewItem(
        absolute.relative_to(folder).as_posix(),
        str(absolute),
        file_sha256(absolute),
        stat.st_size,
        stat.st_mtime_ns,
    )
