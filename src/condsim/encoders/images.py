"""Decode any image input into an RGB PIL image, with clear errors for what cannot be read."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from condsim.errors import ImageLoadError

#: refuse images with more pixels than this (decompression-bomb guard); about 16k x 16k
MAX_IMAGE_PIXELS = 256_000_000


def describe_source(source: object) -> str:
    """A short human name for an image input, for error lists."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]} {source.mode}>"
    return f"<{type(source).__name__}>"


def load_image(source: object, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open a path, bytes or PIL image as an upright RGB image.

    Applies EXIF orientation and flattens alpha onto white. Raises `ImageLoadError` for a
    missing file, a non-image, a truncated file or an image larger than `max_pixels`.
    """
    name = describe_source(source)
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, bytes):
            image = Image.open(io.BytesIO(source))
        elif isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise ImageLoadError(f"{name}: no such file")
            image = Image.open(path)
        else:
            raise ImageLoadError(f"{name}: expected a path, bytes or a PIL image")
        width, height = image.size
        if width * height > max_pixels:
            raise ImageLoadError(
                f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,}",
                hint="downscale the image, or raise max_pixels if you trust the file",
            )
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageLoadError(f"{name}: not a readable image ({error})") from error


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        image.load()
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: rescale to 8 bits instead of clipping to white
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        peak = values.max() if values.size and values.max() > 0 else 1.0
        return Image.fromarray((values / peak * 255.0).astype("uint8"), mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
