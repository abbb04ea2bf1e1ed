"""Put the images a query found into a folder, as copies or as symbolic links (`--copy-to`,
`--link-to`), so that any other program can open them together.

The folder is created when missing, but not its parents: a typo in a parent would otherwise grow
a new tree somewhere unexpected. Two results with the same file name (from different folders) get
"name-2.jpg", "name-3.jpg", ...; a file already there with the same content (or a link already
pointing at the same image, from an earlier run) is reused, so running a query twice does not
fill the folder with copies.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from condsim.errors import InvalidInputError

ExportMode = Literal["copy", "link"]


def export_folder(
    directory: str | os.PathLike[str], option: str = "the folder", *, create: bool = True
) -> Path:
    """The export folder, created if missing (unless `create` is False: checked only, so that a
    command can refuse a bad folder before it runs its query); an empty name, a missing parent or a
    path that is not a folder is an `InvalidInputError` naming `option`."""
    if not os.fspath(directory).strip():
        raise InvalidInputError(f"{option} is empty", hint=f"give a folder, e.g. {option} picked")
    folder = Path(directory).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(
            f"{option} {folder}: not a folder", hint="give a folder (it is created if missing)"
        )
    if not folder.exists():
        if not folder.absolute().parent.is_dir():
            raise InvalidInputError(
                f"{option} {folder}: its parent folder {folder.absolute().parent} does not exist",
                hint="create the parent first, or choose a folder inside an existing one",
            )
        if not create:
            return folder
        try:
            folder.mkdir()
        except OSError as error:
            raise InvalidInputError(
                f"{option} {folder}: cannot create it ({error.strerror or error})",
                hint="choose a writable folder",
            ) from error
    return folder


def export_images(
    paths: Sequence[str | os.PathLike[str]],
    directory: str | os.PathLike[str],
    mode: ExportMode = "copy",
    *,
    option: str = "the folder",
) -> list[Path]:
    """Copy (or symlink) every image of `paths` into `directory` (module docstring); returns where
    each one went, in order. An image that cannot be read or a folder that cannot be written is an
    `InvalidInputError`."""
    if mode not in ("copy", "link"):
        raise InvalidInputError(f"unknown export mode {mode!r}", hint="use 'copy' or 'link'")
    folder = export_folder(directory, option)
    written: list[Path] = []
    taken: set[str] = set()
    for path in paths:
        source = Path(path).absolute()
        target = _free_name(folder, source, mode, taken)
        taken.add(target.name)
        try:
            if not target.exists() and not target.is_symlink():
                if mode == "copy":
                    shutil.copy2(source, target)
                else:
                    target.symlink_to(source)
        except OSError as error:
            raise InvalidInputError(
                f"cannot {mode} {source} into {folder}: {error.strerror or error}",
                hint="check that the image exists and the folder is writable",
            ) from error
        written.append(target)
    return written


def _free_name(folder: Path, source: Path, mode: ExportMode, taken: set[str]) -> Path:
    """`folder/name`, or `name-2`, `name-3`, ... when that is taken by another image; a name that
    already holds this image (same content, or a link to it) is returned as is."""
    number = 1
    while True:
        name = source.name if number == 1 else f"{source.stem}-{number}{source.suffix}"
        target = folder / name
        if name not in taken:
            if not target.exists() and not target.is_symlink():
                return target
            if _holds(target, source, mode):
                return target
        number += 1


def _holds(target: Path, source: Path, mode: ExportMode) -> bool:
    """Whether `target` already is this image: a link to it (link mode) or a file with its bytes."""
    try:
        if mode == "link":
            return target.is_symlink() and Path(os.readlink(target)) == source
        return target.is_file() and not target.is_symlink() and filecmp.cmp(target, source, shallow=False)
    except OSError:
        return False
