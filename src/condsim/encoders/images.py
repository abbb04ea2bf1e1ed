"""Decode any image input into an upright 8-bit RGB PIL image, with clear errors for what cannot be read.

Every encoder sees images only through `load_image`, so the rules for odd inputs live here once:

* sources: a path (str or os.PathLike), raw bytes (bytes, bytearray, memoryview) or a PIL image;
* EXIF orientation is applied, so a phone photo taken sideways is embedded upright;
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

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from condsim.errors import ImageLoadError

#: refuse images with more pixels than this, judged from the header before decoding.
#: Equal to Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS, about 13.4k x 13.4k).
MAX_IMAGE_PIXELS = 178_956_970

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_BIT_GREY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


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


def load_image(source: object, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open a path, bytes or PIL image as an upright 8-bit RGB image (a new object; the input is untouched).

    Raises `ImageLoadError` for a missing file, a non-image, a truncated or corrupt file, an
    unsupported pixel mode, or an image with more than `max_pixels` pixels. Pillow refuses images
    above its own limit (`PIL.Image.MAX_IMAGE_PIXELS`, doubled) whatever `max_pixels` says; raise
    that global too if you really need larger images.
    """
    name = describe_source(source)
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels, name)
        return _decode(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(f"{name}: empty input, not an image")
        return _open_and_decode(io.BytesIO(bytes(source)), max_pixels, name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        if not path.exists():
            raise ImageLoadError(f"{name}: no such file", hint="check the path")
        if not path.is_file():
            raise ImageLoadError(f"{name}: not a file")
        return _open_and_decode(path, max_pixels, name)
    raise ImageLoadError(f"{name}: expected a path, bytes or a PIL image")


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


def _open_and_decode(file: Path | io.BytesIO, max_pixels: int, name: str) -> Image.Image:
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
    with opened as image:
        _check_size(image.size, max_pixels, name)  # header only: nothing decoded yet
        return _decode(image, name)


def _decode(image: Image.Image, name: str) -> Image.Image:
    try:
        image.load()
        upright = _apply_exif_orientation(image)
        return _to_rgb(upright)
    except ImageLoadError:
        raise
    except Exception as error:  # truncated data, corrupt chunks, decoder errors
        raise ImageLoadError(f"{name}: not a readable image ({_reason(error)})") from error


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Rotate/flip by the EXIF orientation tag; a broken EXIF block leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # malformed EXIF must not make an otherwise good image unreadable
        return image


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
