"""File helpers every package shares: atomic writes, content hashes, the cache root, image suffixes.

This module sits below every package (it imports nothing of ours), so `collection`, `conditions`,
`data`, `encoders`, `eval` and `training` all use this one copy instead of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

#: suffixes (lower case, with the dot) of the files treated as images when a folder is scanned:
#: the formats Pillow reads, AVIF included, plus HEIC/HEIF, which `condsim.encoders.images` opens
#: through the `pillow-heif` plugin (a dependency of condsim).
IMAGE_SUFFIXES = frozenset(
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
        ".avif",
        ".heic",
        ".heif",
        ".hif",
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


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """Whether the file name has one of `IMAGE_SUFFIXES` (case-insensitive); the content is not read.
    String operations only: a folder scan calls this once per file."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB chunks (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """condsim's cache root: ``$CONDSIM_CACHE_DIR`` when set and not blank, else ``~/.cache/condsim``.

    `environ` defaults to `os.environ` (a mapping can be passed for tests). Each user of the cache
    keeps its own subfolder (``prompts/``, ``embeddings/``...).
    """
    env = os.environ if environ is None else environ
    configured = env.get("CONDSIM_CACHE_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "condsim"


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry (a create or rename inside it) to disk; a no-op where not supported."""
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write `path` through a binary handle so a reader sees the old file or the new one, never half.

    The handle writes a hidden temporary sibling (``.NAME.<random>.tmp``, same directory, so the
    rename cannot cross filesystems). When the block exits cleanly the temporary is fsync'ed and
    renamed over `path`, then the directory entry is fsync'ed; if the block raises (or the process
    dies) `path` is untouched and the temporary is removed (or left hidden for a later cleanup).
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Replace `path` with `text` atomically (see `atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(text.encode(encoding))
