"""A CLAY-Object-like renderer: simple object drawings with category, sub-category and colour.

CLAY-EVAL's CLAY-Object split (methods.md §1.4) has three core attributes (category, sub-category,
colour) and "diversity attributes" that add visual variance. CLAY-EVAL was generated with FLUX and
is not released, so this module draws a small stand-in with PIL: 4 categories × 4 sub-categories of
flat silhouettes, 8 colours, and as diversity attributes the object's size, position, mirror, tilt,
hue jitter and a neutral background tone. The object's size is kept as a continuous attribute for
PC-CLIP-style attribute ranking (methods.md §4.3).

Every image is a pure function of (seed, index): `render_object(seed, index, size)`.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from condsim.errors import InvalidInputError

#: category -> its four sub-categories
CATEGORIES: dict[str, tuple[str, ...]] = {
    "furniture": ("chair", "table", "lamp", "sofa"),
    "vehicle": ("car", "truck", "bus", "bicycle"),
    "fruit": ("apple", "pear", "banana", "cherry"),
    "animal": ("fish", "bird", "cat", "snail"),
}
SUBCATEGORIES: tuple[str, ...] = tuple(sub for subs in CATEGORIES.values() for sub in subs)
#: colour name -> RGB
OBJECT_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (210, 35, 35),
    "orange": (240, 135, 20),
    "yellow": (235, 210, 30),
    "green": (40, 160, 60),
    "blue": (35, 75, 210),
    "purple": (130, 50, 170),
    "pink": (245, 120, 180),
    "brown": (125, 75, 35),
}
_DETAIL = (45, 45, 45)
_WINDOW = (215, 235, 245)
#: supersampling factor for anti-aliased edges
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class ObjectLabels:
    """The attributes of one rendered object (indices into CATEGORIES / SUBCATEGORIES / OBJECT_COLORS)."""

    category: int
    subcategory: int
    color: int
    size: float


Box = tuple[float, float, float, float]
_Pen = Callable[..., None]


class _Canvas:
    """Draws in a unit box [0, 1]² mapped onto a pixel box, mirrored on request."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: Box, mirror: bool) -> None:
        self.draw = draw
        self.left, self.top, self.right, self.bottom = box
        self.mirror = mirror

    def point(self, x: float, y: float) -> tuple[float, float]:
        if self.mirror:
            x = 1.0 - x
        return (
            self.left + x * (self.right - self.left),
            self.top + y * (self.bottom - self.top),
        )

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        (ax, ay), (bx, by) = self.point(x0, y0), self.point(x1, y1)
        return [min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]

    def scale(self, length: float) -> float:
        return length * (self.right - self.left)

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, fill: tuple[int, int, int], radius: float = 0
    ) -> None:
        self.draw.rounded_rectangle(self.box(x0, y0, x1, y1), radius=self.scale(radius), fill=fill)

    def ellipse(self, x0: float, y0: float, x1: float, y1: float, fill: tuple[int, int, int]) -> None:
        self.draw.ellipse(self.box(x0, y0, x1, y1), fill=fill)

    def ring(self, cx: float, cy: float, r: float, width: float, fill: tuple[int, int, int]) -> None:
        self.draw.ellipse(
            self.box(cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(1, round(self.scale(width)))
        )

    def polygon(self, points: list[tuple[float, float]], fill: tuple[int, int, int]) -> None:
        self.draw.polygon([self.point(x, y) for x, y in points], fill=fill)

    def line(self, points: list[tuple[float, float]], width: float, fill: tuple[int, int, int]) -> None:
        self.draw.line(
            [self.point(x, y) for x, y in points],
            fill=fill,
            width=max(1, round(self.scale(width))),
            joint="curve",
        )


def _chair(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.rect(0.22, 0.08, 0.32, 0.58, color)
    c.rect(0.22, 0.5, 0.8, 0.6, color)
    c.rect(0.24, 0.58, 0.3, 0.95, color)
    c.rect(0.72, 0.58, 0.78, 0.95, color)


def _table(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.rect(0.04, 0.34, 0.96, 0.44, color, radius=0.02)
    c.rect(0.1, 0.42, 0.17, 0.9, color)
    c.rect(0.83, 0.42, 0.9, 0.9, color)


def _lamp(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.polygon([(0.32, 0.08), (0.68, 0.08), (0.86, 0.42), (0.14, 0.42)], color)
    c.rect(0.47, 0.42, 0.53, 0.86, _DETAIL)
    c.ellipse(0.28, 0.84, 0.72, 0.96, _DETAIL)


def _sofa(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.rect(0.1, 0.28, 0.9, 0.52, color, radius=0.05)
    c.rect(0.05, 0.48, 0.95, 0.76, color, radius=0.05)
    c.rect(0.01, 0.4, 0.15, 0.76, color, radius=0.05)
    c.rect(0.85, 0.4, 0.99, 0.76, color, radius=0.05)
    c.rect(0.1, 0.76, 0.15, 0.84, _DETAIL)
    c.rect(0.85, 0.76, 0.9, 0.84, _DETAIL)


def _car(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.polygon([(0.25, 0.47), (0.36, 0.27), (0.64, 0.27), (0.78, 0.47)], color)
    c.polygon([(0.33, 0.45), (0.4, 0.32), (0.49, 0.32), (0.49, 0.45)], _WINDOW)
    c.polygon([(0.53, 0.45), (0.53, 0.32), (0.62, 0.32), (0.71, 0.45)], _WINDOW)
    c.rect(0.04, 0.45, 0.96, 0.7, color, radius=0.06)
    for x in (0.25, 0.75):
        c.ellipse(x - 0.1, 0.62, x + 0.1, 0.82, _DETAIL)


def _truck(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.rect(0.03, 0.2, 0.62, 0.7, color, radius=0.01)
    c.rect(0.64, 0.38, 0.97, 0.7, color, radius=0.04)
    c.rect(0.74, 0.43, 0.92, 0.54, _WINDOW)
    for x in (0.18, 0.42, 0.8):
        c.ellipse(x - 0.09, 0.64, x + 0.09, 0.82, _DETAIL)


def _bus(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.rect(0.02, 0.22, 0.98, 0.72, color, radius=0.06)
    for x in (0.08, 0.25, 0.42, 0.59, 0.76):
        c.rect(x, 0.3, x + 0.13, 0.45, _WINDOW)
    for x in (0.2, 0.8):
        c.ellipse(x - 0.09, 0.64, x + 0.09, 0.82, _DETAIL)


def _bicycle(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.ring(0.24, 0.68, 0.19, 0.045, color)
    c.ring(0.76, 0.68, 0.19, 0.045, color)
    c.line([(0.24, 0.68), (0.42, 0.38), (0.7, 0.38), (0.76, 0.68)], 0.045, color)
    c.line([(0.42, 0.38), (0.5, 0.68), (0.7, 0.38)], 0.045, color)
    c.line([(0.4, 0.3), (0.46, 0.3)], 0.05, _DETAIL)
    c.line([(0.66, 0.28), (0.74, 0.26)], 0.05, _DETAIL)


def _apple(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.ellipse(0.14, 0.24, 0.56, 0.9, color)
    c.ellipse(0.44, 0.24, 0.86, 0.9, color)
    c.line([(0.5, 0.3), (0.54, 0.1)], 0.04, _DETAIL)
    c.polygon([(0.55, 0.16), (0.72, 0.08), (0.66, 0.2)], _DETAIL)


def _pear(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.ellipse(0.36, 0.14, 0.64, 0.5, color)
    c.ellipse(0.2, 0.4, 0.8, 0.96, color)
    c.polygon([(0.37, 0.35), (0.63, 0.35), (0.76, 0.6), (0.24, 0.6)], color)
    c.line([(0.5, 0.15), (0.53, 0.03)], 0.035, _DETAIL)


def _banana(c: _Canvas, color: tuple[int, int, int]) -> None:
    steps = 24
    outer = [
        (0.5 + 0.45 * math.cos(a), 0.25 + 0.6 * math.sin(a)) for a in np.linspace(0.2, math.pi - 0.2, steps)
    ]
    inner = [
        (0.5 + 0.36 * math.cos(a), 0.25 + 0.38 * math.sin(a)) for a in np.linspace(math.pi - 0.3, 0.3, steps)
    ]
    c.polygon(outer + inner, color)
    c.line([outer[0], (outer[0][0] + 0.04, outer[0][1] - 0.06)], 0.04, _DETAIL)


def _cherry(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.line([(0.3, 0.62), (0.52, 0.1), (0.7, 0.66)], 0.03, _DETAIL)
    c.ellipse(0.12, 0.55, 0.46, 0.89, color)
    c.ellipse(0.52, 0.6, 0.86, 0.94, color)


def _fish(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.polygon([(0.62, 0.5), (0.95, 0.22), (0.95, 0.78)], color)
    c.ellipse(0.05, 0.28, 0.72, 0.72, color)
    c.polygon([(0.3, 0.3), (0.5, 0.14), (0.55, 0.32)], color)
    c.ellipse(0.15, 0.42, 0.22, 0.49, _DETAIL)


def _bird(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.polygon([(0.28, 0.6), (0.02, 0.5), (0.06, 0.7)], color)
    c.ellipse(0.18, 0.4, 0.72, 0.8, color)
    c.ellipse(0.56, 0.22, 0.84, 0.5, color)
    c.polygon([(0.83, 0.33), (0.97, 0.38), (0.83, 0.42)], _DETAIL)
    c.ellipse(0.7, 0.3, 0.75, 0.35, _DETAIL)
    c.line([(0.42, 0.78), (0.4, 0.95)], 0.025, _DETAIL)
    c.line([(0.52, 0.78), (0.54, 0.95)], 0.025, _DETAIL)


def _cat(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.line([(0.18, 0.62), (0.06, 0.45), (0.1, 0.25)], 0.05, color)
    c.ellipse(0.14, 0.45, 0.72, 0.82, color)
    c.rect(0.2, 0.7, 0.28, 0.96, color)
    c.rect(0.58, 0.7, 0.66, 0.96, color)
    c.ellipse(0.56, 0.2, 0.9, 0.54, color)
    c.polygon([(0.58, 0.3), (0.6, 0.08), (0.7, 0.22)], color)
    c.polygon([(0.76, 0.22), (0.86, 0.08), (0.88, 0.3)], color)
    c.ellipse(0.64, 0.32, 0.69, 0.37, _DETAIL)
    c.ellipse(0.77, 0.32, 0.82, 0.37, _DETAIL)


def _snail(c: _Canvas, color: tuple[int, int, int]) -> None:
    c.polygon([(0.05, 0.85), (0.12, 0.72), (0.9, 0.72), (0.98, 0.85)], _DETAIL)
    c.line([(0.14, 0.74), (0.08, 0.5)], 0.025, _DETAIL)
    c.line([(0.2, 0.74), (0.2, 0.5)], 0.025, _DETAIL)
    c.ellipse(0.3, 0.2, 0.86, 0.76, color)
    c.ring(0.58, 0.48, 0.18, 0.03, _DETAIL)
    c.ring(0.58, 0.48, 0.08, 0.03, _DETAIL)


_DRAWERS: dict[str, Callable[[_Canvas, tuple[int, int, int]], None]] = {
    "chair": _chair, "table": _table, "lamp": _lamp, "sofa": _sofa,
    "car": _car, "truck": _truck, "bus": _bus, "bicycle": _bicycle,
    "apple": _apple, "pear": _pear, "banana": _banana, "cherry": _cherry,
    "fish": _fish, "bird": _bird, "cat": _cat, "snail": _snail,
}  # fmt: skip


def _jitter_hue(rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    """Small hue / saturation / value jitter that keeps the colour name (a diversity attribute)."""
    h, s, v = colorsys.rgb_to_hsv(*(channel / 255.0 for channel in rgb))
    h = (h + rng.uniform(-0.02, 0.02)) % 1.0
    s = float(np.clip(s * rng.uniform(0.85, 1.1), 0.0, 1.0))
    v = float(np.clip(v * rng.uniform(0.85, 1.1), 0.0, 1.0))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def render_object(seed: int, index: int, size: int = 128) -> tuple[Image.Image, ObjectLabels]:
    """Render object number `index` of the stream `seed` as a `size`×`size` RGB image, with its labels."""
    if size < 16:
        raise InvalidInputError(f"image size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng([seed, index])
    subcategory = int(rng.integers(len(SUBCATEGORIES)))
    color = int(rng.integers(len(OBJECT_COLORS)))
    category = subcategory // 4
    scale = float(rng.uniform(0.45, 0.95))
    canvas_size = size * _SUPERSAMPLE
    tone = int(rng.integers(200, 246))
    tint = rng.integers(-6, 7, size=3)
    background = tuple(int(np.clip(tone + t, 0, 255)) for t in tint)
    image = Image.new("RGB", (canvas_size, canvas_size), background)
    side = scale * canvas_size
    left = rng.uniform(0.02 * canvas_size, canvas_size - side - 0.02 * canvas_size + 1e-6)
    top = rng.uniform(0.02 * canvas_size, canvas_size - side - 0.02 * canvas_size + 1e-6)
    layer = Image.new("RGBA", (canvas_size, canvas_size), (0, 0, 0, 0))
    canvas = _Canvas(
        ImageDraw.Draw(layer), (left, top, left + side, top + side), mirror=bool(rng.integers(2))
    )
    rgb = _jitter_hue(list(OBJECT_COLORS.values())[color], rng)
    _DRAWERS[SUBCATEGORIES[subcategory]](canvas, rgb)
    layer = layer.rotate(
        float(rng.uniform(-12, 12)),
        resample=Image.Resampling.BICUBIC,
        center=(left + side / 2, top + side / 2),
    )
    image.paste(layer, (0, 0), layer)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    return image, ObjectLabels(category=category, subcategory=subcategory, color=color, size=scale)


def generate_objects(n: int, seed: int, size: int = 128) -> tuple[list[Image.Image], list[ObjectLabels]]:
    """Render objects 0..n-1 of the stream `seed` (deterministic)."""
    if n < 0:
        raise InvalidInputError(f"n must be non-negative, got {n}")
    rendered = [render_object(seed, index, size) for index in range(n)]
    return [image for image, _ in rendered], [labels for _, labels in rendered]
