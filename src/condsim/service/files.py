"""What the service reads from disk or from a client: files inside the collection's folder only,
thumbnails, and uploaded query images within the size and pixel limits.

Every path a client names, and every stored path the service serves, is resolved (``..`` and symbolic
links followed) and must still lie inside the indexed folder; anything else is refused with 403, so
no file outside the store's folder is ever read on a client's behalf.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

from PIL import Image

from condsim.encoders.images import load_image
from condsim.errors import ImageLoadError
from condsim.service.params import RequestError

#: largest accepted upload (bytes of the image file)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: largest accepted upload in pixels: Pillow's own decompression-bomb limit
MAX_UPLOAD_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
THUMBNAIL_SIZES = (64, 512)


def folder_of(root: str) -> Path:
    """The indexed folder, resolved; 409 when the store has none recorded."""
    if not root:
        raise RequestError(
            "the store records no indexed folder, so it has no files to serve",
            status_code=409,
            hint="index a folder into it: condsim index DIR --store STORE",
        )
    return Path(root).resolve()


def inside(folder: Path, candidate: Path) -> Path:
    """`candidate` with symbolic links and ``..`` resolved, if that lies inside `folder`; else 403."""
    resolved = candidate.resolve()
    if resolved != folder and not resolved.is_relative_to(folder):
        raise RequestError(
            "the path leads outside the collection's folder", status_code=403, parameter="image"
        )
    return resolved


def resolve_relative(folder: Path, relative: str, parameter: str = "image") -> Path:
    """A client's REL_PATH (relative to the collection's folder) -> an existing file inside it."""
    if not relative.strip() or "\x00" in relative:
        raise RequestError(f"parameter '{parameter}': the path is empty or invalid", parameter=parameter)
    if Path(relative).is_absolute():
        raise RequestError(
            f"parameter '{parameter}': give a path relative to the collection's folder, not an absolute one",
            parameter=parameter,
            hint="e.g. image=holiday/beach.jpg",
        )
    try:
        path = inside(folder, folder / relative)
    except RequestError as error:
        raise RequestError(
            f"parameter '{parameter}': {error}", status_code=403, parameter=parameter
        ) from error
    except (OSError, ValueError, RuntimeError) as error:  # symlink loops, odd bytes
        raise RequestError(
            f"parameter '{parameter}': the path cannot be resolved", parameter=parameter
        ) from error
    if not path.is_file():
        raise RequestError(
            f"parameter '{parameter}': no image at {relative[:200]!r} in the collection's folder",
            status_code=404,
            parameter=parameter,
        )
    return path


def read_upload(payload: bytes) -> Image.Image:
    """An uploaded query image, decoded to RGB; 413 over the byte or pixel limit, 422 if unreadable."""
    if len(payload) > MAX_UPLOAD_BYTES:
        raise RequestError(
            f"parameter 'file': the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
            status_code=413,
            parameter="file",
            hint="send a smaller image",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload)) as header:
                width, height = header.size
    except Image.DecompressionBombError:
        width, height = MAX_UPLOAD_PIXELS + 1, 1
    except Exception as error:  # Pillow's plugins raise many types on hostile input
        raise RequestError(
            "parameter 'file': the upload is not a readable image", parameter="file"
        ) from error
    if width * height > MAX_UPLOAD_PIXELS:
        raise RequestError(
            f"parameter 'file': {width}x{height} pixels is over the limit of {MAX_UPLOAD_PIXELS:,}",
            status_code=413,
            parameter="file",
            hint="downscale the image",
        )
    try:
        return load_image(payload, max_pixels=MAX_UPLOAD_PIXELS)
    except ImageLoadError as error:
        raise RequestError(f"parameter 'file': {error}", parameter="file") from error


class Thumbnails:
    """JPEG thumbnails of served files, kept in a small LRU keyed by (path, size, mtime, edge)."""

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, edge: int) -> bytes:
        """The thumbnail of `path` at most `edge` pixels wide and high (never upscaled)."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, edge)
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        try:
            image = load_image(path)
        except ImageLoadError as error:
            raise RequestError(
                f"the image file cannot be read: {error}", status_code=422, parameter="id"
            ) from error
        image.thumbnail((edge, edge))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        payload = buffer.getvalue()
        with self._lock:
            self._entries[key] = payload
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return payload
