"""Decode any image input into an upright 8-bit RGB PIL image, with clear errors for what cannot be read.

Every encoder sees images only through `load_image`, so the rules for odd inputs live here once:

* sources: a path (str or os.PathLike), raw bytes (bytes, bytearray, memoryview) or a PIL image;
* EXIF orientation is applied, so a phone photo taken sideways is embedded upright;
* given the model's input size (`target`), a large image is decoded small (`DecodePlan`): a JPEG
  by the decoder's draft mode (scaled by 1/2, 1/4 or 1/8 while decoding: a 24 MP photo in a tenth
  of the time), any other format by a box reduction right after decoding, so a batch holds images
  of about the model's size, never full-size copies; never below `target` on the shorter side, so
  the model's own resize still does the final step. `PixelBudget` bounds the full-size pixels that
  concurrent decodes hold at once;
* HEIC/HEIF (through the `pillow-heif` plugin, registered on first use) and AVIF (Pillow) are read;
* transparency (RGBA, LA, PA, premultiplied RGBa/La, palette or grey/RGB images with a tRNS colour)
  is composited onto white, because a model trained on photos reads "transparent black" as black;
* high-bit-depth grey (I;16*, I, F) is rescaled to 8 bits by its bit depth or value range instead of
  being clipped to white; CMYK, YCbCr, 1-bit, grey and palette images are converted to RGB;
* images with more pixels than `max_pixels` are refused from the header alone, before a single
  pixel is decoded (decompression-bomb guard);
* missing files, non-images, truncated or corrupt files raise `ImageLoadError`, which
  `Encoder.encode_images_partial` collects per item instead of failing the batch.
"""

from __future__ import annotations

import functools
import io
import math
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from condsim.errors import ImageLoadError

#: refuse images with more pixels than this, judged from the header before decoding.
#: Equal to Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS, about 13.4k x 13.4k).
MAX_IMAGE_PIXELS = 178_956_970

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_GREY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
#: modes whose pixels `Image.reduce` can average as they are (palette indices and 1-bit cannot be)
_REDUCIBLE_MODES = frozenset({"L", "RGB", "RGBA", "LA", "RGBa", "La", "RGBX", "CMYK", "YCbCr", "I", "F"})
#: the most pixels one strip holds while an image that cannot be reduced as it is is converted
_STRIP_PIXELS = 1 << 22
#: EXIF orientation (tag 0x0112) -> the transpose that makes the image upright
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: default `PixelBudget` of a batch's concurrent decodes: about 100 MP, 300-400 MB of full-size pixels
DEFAULT_DECODE_BUDGET = 100_000_000


@functools.cache
def register_heif_opener() -> bool:
    """Register pillow-heif's HEIC/HEIF opener with Pillow, once (its import costs ~0.15 s, so it is
    done on the first decode rather than on import). False when the plugin is not installed."""
    try:
        from pillow_heif import register_heif_opener as register
    except ImportError:
        return False
    register()
    return True


@dataclass(frozen=True)
class DecodePlan:
    """How one image is decoded for a model that takes `target` pixels a side (None: full size).

    `size` is the stored size (from the header); `decoded_size` is what the decoder produces, smaller
    than `size` when JPEG draft mode scales while decoding; `reduce` is the box-reduction factor
    applied right after decoding (1: none); `output_size` is what the model is given, before the
    EXIF rotation. The shorter side of `output_size` is never below `target`.
    """

    size: tuple[int, int]
    decoded_size: tuple[int, int]
    reduce: int
    output_size: tuple[int, int]
    draft: bool

    @property
    def decoded_pixels(self) -> int:
        """The most pixels held at full resolution while this image is decoded."""
        return self.decoded_size[0] * self.decoded_size[1]


class PixelBudget:
    """Bounds the full-size pixels that concurrent decodes hold at once (threads share one budget).

    A decode takes its `DecodePlan.decoded_pixels` before loading and gives them back once the image
    is reduced; it waits while others hold the budget, except that an image larger than the whole
    budget may go alone, so every image is decoded eventually.
    """

    def __init__(self, pixels: int = DEFAULT_DECODE_BUDGET) -> None:
        self.pixels = pixels
        self.in_use = 0
        self.peak = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold `pixels` of the budget for the duration of the block."""
        with self._changed:
            self._changed.wait_for(lambda: self.in_use == 0 or self.in_use + pixels <= self.pixels)
            self.in_use += pixels
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= pixels
                self._changed.notify_all()


def describe_source(source: object) -> str:
    """A short human name for an image input, for error lists."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return path if isinstance(path, str) else path.decode(errors="replace")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]} {source.mode}>"
    return f"<{type(source).__name__}>"


def load_image(
    source: object,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    target: int | None = None,
    budget: PixelBudget | None = None,
) -> Image.Image:
    """Open a path, bytes or PIL image as an upright 8-bit RGB image (a new object; the input is untouched).

    With `target` (the model's input side), a larger file comes out smaller but never below `target`
    on its shorter side (see `DecodePlan`); `budget` bounds the full-size pixels of concurrent decodes.
    A PIL image is already decoded: it keeps its size, so the model's own resize sees it unchanged.

    Raises `ImageLoadError` for a missing file, a non-image, a truncated or corrupt file, an
    unsupported pixel mode, or an image with more than `max_pixels` pixels. Pillow refuses images
    above its own limit (`PIL.Image.MAX_IMAGE_PIXELS`, doubled) whatever `max_pixels` says; raise
    that global too if you really need larger images.
    """
    name = describe_source(source)
    if isinstance(source, Image.Image):  # already decoded by the caller: used at its size, as given
        _check_size(source.size, max_pixels, name)
        return _decode(source, name, None, None)
    with _opened(source, max_pixels, name) as image:
        return _decode(image, name, target, budget)


def decode_plan(source: object, target: int | None, *, max_pixels: int = MAX_IMAGE_PIXELS) -> DecodePlan:
    """How `load_image(source, target=target)` would decode a path or bytes, read from the header
    alone (no pixel is decoded): for tests, benchmarks and the curious."""
    name = describe_source(source)
    with _opened(source, max_pixels, name) as image:
        return _plan(image, target)


@contextmanager
def _opened(source: object, max_pixels: int, name: str) -> Iterator[Image.Image]:
    """A path or bytes opened lazily (header read, size checked, no pixels decoded)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(f"{name}: empty input, not an image")
        file: Path | io.BytesIO = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        file = Path(os.fspath(source))
        if not file.exists():
            raise ImageLoadError(f"{name}: no such file", hint="check the path")
        if not file.is_file():
            raise ImageLoadError(f"{name}: not a file")
    else:
        raise ImageLoadError(f"{name}: expected a path, bytes or a PIL image")
    with _open(file, name) as image:
        _check_size(image.size, max_pixels, name)  # header only: nothing decoded yet
        yield image


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,}"
            " (refused as a possible decompression bomb)",
            hint="downscale the image, or pass a larger max_pixels if you trust the file",
        )


def _open(file: Path | io.BytesIO, name: str) -> Image.Image:
    register_heif_opener()
    try:
        with warnings.catch_warnings():
            # our own limit below replaces Pillow's DecompressionBombWarning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(file)
    except Image.DecompressionBombError as error:
        raise ImageLoadError(
            f"{name}: over Pillow's pixel limit, refused as a possible decompression bomb ({error})",
            hint="downscale the image, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file",
        ) from error
    except Exception as error:  # Pillow's plugins raise many types on hostile input
        raise ImageLoadError(f"{name}: not a readable image ({_reason(error)})") from error
    return opened


def _plan(image: Image.Image, target: int | None) -> DecodePlan:
    """The decode plan of an opened (not yet loaded) image; sets JPEG draft mode on it when it pays."""
    size = image.size
    draft = False
    if target is not None and image.format == "JPEG" and min(size) >= 2 * target:
        try:
            draft = image.draft(None, (target, target)) is not None
        except Exception:  # an odd JPEG that cannot be drafted is decoded at full size
            draft = False
    decoded = image.size
    reduce = min(decoded) // target if target is not None else 1
    reduce = reduce if reduce >= 2 else 1
    output = (math.ceil(decoded[0] / reduce), math.ceil(decoded[1] / reduce))
    return DecodePlan(size=size, decoded_size=decoded, reduce=reduce, output_size=output, draft=draft)


def _decode(image: Image.Image, name: str, target: int | None, budget: PixelBudget | None) -> Image.Image:
    try:
        plan = _plan(image, target)
        with budget.hold(plan.decoded_pixels) if budget is not None else _no_hold():
            image.load()
            orientation = _orientation(image)  # after load: a PNG may keep its EXIF after the pixels
            return _to_rgb(_upright(_reduced(image, plan.reduce), orientation))
    except ImageLoadError:
        raise
    except Exception as error:  # truncated data, corrupt chunks, decoder errors
        raise ImageLoadError(f"{name}: not a readable image ({_reason(error)})") from error


@contextmanager
def _no_hold() -> Iterator[None]:
    yield


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """`image` shrunk by a box filter of `factor` (itself when 1). Modes whose pixels cannot be
    averaged as they are (palette, 1-bit, 16-bit grey, a transparent colour key) are converted to one
    that can in strips of rows, so no full-size converted copy is ever made."""
    if factor == 1:
        return image
    if image.mode in _REDUCIBLE_MODES and "transparency" not in image.info:
        return image.reduce(factor)
    width, height = image.size
    if image.mode in ("P", "PA") or "transparency" in image.info:
        mode = "RGBA"
    else:
        mode = "F" if image.mode.startswith("I;16") else "L"
    output = Image.new(mode, (math.ceil(width / factor), math.ceil(height / factor)))
    rows = factor * max(1, _STRIP_PIXELS // (width * factor))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        if image.mode.startswith("I;16"):  # scaled into [0, 1], as `_grey_to_uint8` reads 16-bit grey
            converted = Image.fromarray(np.asarray(strip, dtype=np.float32) / 65535.0, mode="F")
        else:
            converted = strip.convert(mode)
        output.paste(converted.reduce(factor), (0, top // factor))
    return output


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright) of an opened image; a broken EXIF block reads as 1."""
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if value in _ORIENTATION_TRANSPOSE else 1
    except Exception:  # malformed EXIF must not make an otherwise good image unreadable
        return 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """Rotate/flip `image` by an EXIF orientation read from its source (as `ImageOps.exif_transpose`)."""
    method = _ORIENTATION_TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:  # an RGB PNG's tRNS colour is transparent
        return image.copy()
    if mode in _HIGH_BIT_GREY_MODES or mode == "F":
        return Image.fromarray(_grey_to_uint8(image), mode="L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        # premultiplied La has no direct path to RGBA in Pillow; un-premultiply through LA first
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ImageLoadError(f"unsupported pixel mode {mode!r} ({error})") from error


def _grey_to_uint8(image: Image.Image) -> np.ndarray:
    """Map one-channel 16/32-bit integer or float pixels onto 0..255.

    Integer images are scaled by their bit depth so that a dark image stays dark: I;16 by 65535;
    32-bit "I" by 65535 when its values fit 16 bits, kept when they fit 8 bits, otherwise min-max
    stretched (negative values included). Float images in
    [0, 1] are scaled by 255, in [0, 255] kept, otherwise min-max stretched. NaN becomes 0.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if values.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    low, high = float(values.min()), float(values.max())
    if image.mode == "F":
        if low >= 0.0 and high <= 1.0:
            scaled = values * 255.0
        elif low >= 0.0 and high <= 255.0:
            scaled = values
        else:
            scaled = (values - low) / max(high - low, 1e-12) * 255.0
    elif image.mode.startswith("I;16") or (low >= 0.0 and 255.0 < high <= 65535.0):
        scaled = values / 65535.0 * 255.0
    elif low >= 0.0 and high <= 255.0:
        scaled = values
    else:
        scaled = (values - low) / max(high - low, 1e-12) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
