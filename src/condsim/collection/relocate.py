"""Where a store's images are now: the indexed folder as recorded, or where it was moved to.

A store records the folder it indexed (`Store.root`) and, per image, its path relative to that folder
(`Item.relpath`) beside the absolute path at index time. Results name images through `locate_root`:

1. a folder the caller names (`Collection.open(store, root=...)`) must hold the store's images;
2. the recorded folder, while it exists;
3. when it is gone (moved, renamed, a drive mounted elsewhere), the folder is looked for beside the
   store: the store's own ancestors (a store kept inside the folder it indexes moves with it) and,
   next to each, a folder of the recorded folder's name (a store kept beside its folder). A candidate
   is accepted when most of a sample of relative paths resolve to files under it;
4. found nowhere: None, and the caller warns once, in one line, with the fix
   (`condsim index NEW_DIR --store S --replace`) instead of returning dead paths silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from condsim._text import printable
from condsim.errors import StoreError

#: relative paths tried per candidate folder (spread over the store), and how many must resolve
SAMPLE_SIZE = 20
#: store ancestors searched for the moved folder (the store inside it, or beside it)
ANCESTOR_LEVELS = 3


def _sample(relpaths: Sequence[str]) -> list[str]:
    """Up to `SAMPLE_SIZE` relative paths spread evenly over `relpaths` (absolute ones left out: an
    image added from outside the indexed folder does not move with it)."""
    relative = [path for path in relpaths if path and not Path(path).is_absolute()]
    step = max(1, len(relative) // SAMPLE_SIZE)
    return relative[::step][:SAMPLE_SIZE]


def holds_images(folder: Path, relpaths: Sequence[str]) -> bool:
    """Whether most of the sampled relative paths are files under `folder` (all, for a small store)."""
    sample = _sample(relpaths)
    if not sample or not folder.is_dir():
        return False
    found = sum(1 for path in sample if (folder / path).is_file())
    return 2 * found > len(sample)


def fix_hint(store: Path) -> str:
    """The one command that re-points a store at its moved folder (only moved files are re-read)."""
    return f"condsim index NEW_DIR --store {printable(store)} --replace"


def locate_root(
    recorded: str, store: Path, relpaths: Sequence[str], explicit: Path | None = None
) -> Path | None:
    """The folder the store's relative paths resolve under now (module docstring), or None when the
    recorded folder is gone and was found nowhere (or the store never recorded one).

    Raises `StoreError` when `explicit` is not a folder holding the store's images.
    """
    if explicit is not None:
        folder = explicit.expanduser().resolve()
        if not holds_images(folder, relpaths):
            raise StoreError(
                f"{printable(folder)} does not hold the images of {printable(store)} "
                f"(indexed from {printable(recorded) or 'no folder'})",
                hint="name the folder the indexed images were moved to",
            )
        return folder
    if not recorded:
        return None
    recorded_path = Path(recorded)
    if recorded_path.is_dir():
        return recorded_path
    ancestors = list(store.resolve().parents)[:ANCESTOR_LEVELS]
    candidates = [*ancestors, *(ancestor / recorded_path.name for ancestor in ancestors)]
    for candidate in candidates:
        if candidate != recorded_path and holds_images(candidate, relpaths):
            return candidate
    return None
