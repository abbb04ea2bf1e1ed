"""Flat drawings: one filled shape in a plain web colour, drawn with bare PIL primitives.

A test set outside the scene renderer's style: a single filled circle (`ellipse`), square
(`rectangle`), triangle or star (`polygon`, `condsim.data.raster.star_polygon`) in a plain colour on
a white or light/mid grey background, at a random place and size. The built-in model never sees
these in training; its zero-shot check (`condsim.training.zero_shot`) uses them to show that what
it learned carries over to simple drawings.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from condsim.data.raster import star_polygon, translate
from condsim.data.seeds import check_image_count

#: plain web colours, named as the scene colours (`condsim.data.taxonomy.COLORS`)
FLAT_COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (128, 128, 128),
    "red": (230, 20, 20),
    "blue": (20, 40, 235),
    "green": (0, 150, 0),
    "brown": (140, 70, 20),
    "purple": (128, 0, 128),
    "cyan": (0, 210, 230),
    "yellow": (255, 230, 0),
    "pink": (255, 110, 180),
    "orange": (255, 140, 0),
}
FLAT_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")


def draw_flat_shapes(n: int, seed: int, size: int = 128) -> tuple[list[Image.Image], list[dict[str, str]]]:
    """`n` flat drawings from the random stream `seed`, with their {"color", "shape"} labels."""
    check_image_count(n)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n):
        color = list(FLAT_COLORS)[int(rng.integers(len(FLAT_COLORS)))]
        shape = FLAT_SHAPES[int(rng.integers(len(FLAT_SHAPES)))]
        backdrop = (255, 255, 255) if rng.random() < 0.5 else (int(rng.integers(170, 235)),) * 3
        image = Image.new("RGB", (size, size), backdrop)
        draw = ImageDraw.Draw(image)
        half = float(rng.uniform(0.15, 0.35)) * size
        cx, cy = (float(v) for v in rng.uniform(half + 2, size - half - 2, size=2))
        fill = FLAT_COLORS[color]
        if shape == "circle":
            draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=fill)
        elif shape == "square":
            draw.rectangle((cx - half * 0.8, cy - half * 0.8, cx + half * 0.8, cy + half * 0.8), fill=fill)
        elif shape == "triangle":
            draw.polygon(
                [(cx, cy - half), (cx + half * 0.9, cy + half * 0.7), (cx - half * 0.9, cy + half * 0.7)],
                fill=fill,
            )
        else:
            draw.polygon(translate(star_polygon(5, half, half * 0.42), cx, cy), fill=fill)
        images.append(image)
        labels.append({"color": color, "shape": shape})
    return images, labels
