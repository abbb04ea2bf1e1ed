"""Raster helpers shared by the renderers: polygons, backgrounds, tone shading, fonts.

Polygons are lists of (x, y) points in unit object coordinates (the object fits in the disc of
radius 1); `transform` and `translate` place them in pixels. Tones are values in [-1, 1]: negative
darkens toward black, positive lightens toward white (`apply_tone`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFont

Polygon = list[tuple[float, float]]


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28) -> Polygon:
    """An ellipse centred at (cx, cy) with radii (rx, ry), as an `n`-gon."""
    return [
        (cx + rx * math.cos(2 * math.pi * k / n), cy + ry * math.sin(2 * math.pi * k / n)) for k in range(n)
    ]


def star_polygon(points: int, outer: float, inner: float, phase: float = -math.pi / 2) -> Polygon:
    """A star with `points` tips at radius `outer` and notches at `inner`, the first tip at `phase`."""
    return [
        (
            (outer if k % 2 == 0 else inner) * math.cos(phase + math.pi * k / points),
            (outer if k % 2 == 0 else inner) * math.sin(phase + math.pi * k / points),
        )
        for k in range(2 * points)
    ]


def gear_polygon(teeth: int = 10, outer: float = 0.96, root: float = 0.72) -> Polygon:
    """A gear outline: `teeth` square teeth reaching `outer`, with gaps down to `root`."""
    polygon: Polygon = []
    step = 2 * math.pi / teeth
    for k in range(teeth):
        base = k * step
        for fraction, radius in ((0.0, root), (0.18, outer), (0.5, outer), (0.68, root)):
            angle = base + fraction * step
            polygon.append((radius * math.cos(angle), radius * math.sin(angle)))
    return polygon


def transform(polygon: Polygon, center: float, radius: float, rotation: float, mirrored: bool) -> Polygon:
    """Unit-coordinate `polygon` mirrored, rotated by `rotation` degrees, scaled and moved to `center`."""
    cos_r, sin_r = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    out: Polygon = []
    for x, y in polygon:
        if mirrored:
            x = -x
        out.append((center + radius * (cos_r * x - sin_r * y), center + radius * (sin_r * x + cos_r * y)))
    return out


def translate(polygon: Polygon, dx: float, dy: float) -> Polygon:
    """`polygon` moved by (dx, dy) pixels."""
    return [(dx + x, dy + y) for x, y in polygon]


def apply_tone(color: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Colour `color` (3,) shaded by `tone` (h, w) -> (h, w, 3) float in [0, 255]."""
    tone = np.clip(tone, -0.95, 0.95)[..., None]
    darker = color * (1.0 + tone)
    lighter = color + (255.0 - color) * tone
    return np.where(tone < 0, darker, lighter)


@lru_cache(maxsize=16)
def unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) pixel-centre coordinates in [0, 1] of a `size` x `size` image."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(axis, axis)


def background_canvas(
    rgb: tuple[int, int, int], pattern: str, size: int, rng: np.random.Generator
) -> np.ndarray:
    """A float (size, size, 3) canvas of colour `rgb` with a faint `pattern` drawn from `rng`."""
    base = np.empty((size, size, 3), dtype=np.float32)
    base[:] = np.asarray(rgb, dtype=np.float32)
    xs, ys = unit_grid(size)
    amplitude = float(rng.uniform(8.0, 18.0))
    offset: np.ndarray
    if pattern == "gradient":
        angle = float(rng.uniform(0, 2 * math.pi))
        offset = (math.cos(angle) * (xs - 0.5) + math.sin(angle) * (ys - 0.5)) * 2 * amplitude
    elif pattern == "stripes":
        period = float(rng.uniform(0.06, 0.2))
        offset = (
            np.where(np.mod(xs if rng.integers(2) else ys, period) < period / 2, amplitude, -amplitude) * 0.6
        )
    elif pattern == "grid":
        period = float(rng.uniform(0.08, 0.2))
        lines = (np.mod(xs, period) < 0.012) | (np.mod(ys, period) < 0.012)
        offset = np.where(lines, -1.5 * amplitude, 0.0)
    elif pattern == "mottled":
        coarse = rng.uniform(-1.0, 1.0, size=(6, 6)).astype(np.float32)
        smooth = Image.fromarray(((coarse + 1.0) * 127.5).astype(np.uint8)).resize(
            (size, size), Image.Resampling.BILINEAR
        )
        offset = (np.asarray(smooth, dtype=np.float32) / 127.5 - 1.0) * amplitude
    elif pattern == "vignette":
        offset = -((xs - 0.5) ** 2 + (ys - 0.5) ** 2) * 4.0 * amplitude
    else:
        offset = np.zeros((size, size), dtype=np.float32)
    base += np.asarray(offset, dtype=np.float32)[..., None]
    return base


@lru_cache(maxsize=64)
def font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's default font at `pixels` size (at least 6)."""
    return ImageFont.load_default(size=max(pixels, 6))
