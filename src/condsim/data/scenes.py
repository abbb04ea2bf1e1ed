"""Procedural, seeded renderer of Clevr-4-like scenes, with labels.

Clevr-4 (methods.md §5.1) labels every image along four taxonomies of ten classes each: colour,
shape, texture and count (`condsim.data.taxonomy`); all objects of one image share colour, shape
and texture, and the count is the number of objects. This module draws 2-D stand-ins with PIL and
numpy, fast enough to render the tens of thousands of images the built-in model is trained on
(about 1 ms per 128 px scene). Playing cards are drawn by `condsim.data.cards`.

Clevr-4 class -> 2-D drawing (Blender shapes have no exact 2-D twin; each stand-in is a distinct
silhouette and keeps the class name):

=========  ===========================================================================
shape      drawing
=========  ===========================================================================
cube       square (rotated at most ±25° so it never turns into a diamond)
sphere     disc with a soft radial shading
monkey     round head with two round ears, a lighter muzzle and dark eyes (Suzanne-like)
cone       isosceles triangle on an elliptical base
torus      ring (annulus; the background shows through the hole)
star       five-pointed star
teapot     oval body with a spout, a ring handle, a lid and a knob
diamond    cut-gem silhouette (flat table, wide girdle, pointed pavilion)
gear       ten square teeth around a disc with a small axle hole
cylinder   upright rectangle between two ellipses, lighter top face
=========  ===========================================================================

=========  ===========================================================================
texture    pattern inside the object (tone map in object coordinates, so it scales and
           rotates with the object)
=========  ===========================================================================
rubber     matte, only the lighting gradient
metal      strong specular highlight and reflection bands
checkered  fine gingham: light stripes crossing in both directions (three tones)
emojis     grid of light smiley faces with dark eyes and mouth
wave       wavy light/dark stripes
brick      running-bond bricks with light mortar lines
star       grid of small light stars
circles    concentric light/dark rings around the object centre
zigzag     sharp chevron stripes
chessboard large cells alternating the object colour and near-black
=========  ===========================================================================

Nuisance factors drawn per image: background colour (from a muted palette) and pattern, object
size, non-overlapping positions (so the count stays visible), rotation, lighting direction,
global brightness, colour jitter and pixel noise.

Every image of `generate_scenes(n, seed)` is drawn from its own random stream derived from
`(seed, index)` (`condsim.data.seeds`), so a subset can be re-rendered alone and two seeds give
independent images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from condsim.data.raster import (
    Polygon,
    apply_tone,
    background_canvas,
    ellipse,
    gear_polygon,
    star_polygon,
    transform,
)
from condsim.data.seeds import check_image_count, image_rng
from condsim.data.taxonomy import COLORS, COUNTS, SHAPES, TEXTURES
from condsim.errors import InvalidInputError

#: RGB of each object colour (before per-image jitter)
COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "gray": (128, 128, 128),
    "red": (205, 30, 35),
    "blue": (35, 70, 215),
    "green": (40, 165, 55),
    "brown": (125, 75, 35),
    "purple": (125, 45, 175),
    "cyan": (40, 205, 215),
    "yellow": (240, 220, 40),
    "pink": (245, 135, 195),
    "orange": (250, 140, 20),
}

#: muted background colours (nuisance); names are used in alt-text captions
BACKGROUND_RGB: dict[str, tuple[int, int, int]] = {
    "white": (244, 244, 242),
    "light gray": (205, 205, 205),
    "dark gray": (70, 70, 72),
    "beige": (226, 214, 188),
    "slate": (92, 102, 118),
    "pale blue": (200, 214, 234),
    "pale green": (204, 224, 200),
    "black": (22, 22, 24),
}
BACKGROUND_PATTERNS: tuple[str, ...] = ("plain", "gradient", "stripes", "grid", "mottled", "vignette")

#: object radius range (fraction of the image side) per count: fewer objects are drawn larger
_RADIUS_BY_COUNT: dict[int, tuple[float, float]] = {
    1: (0.17, 0.30),
    2: (0.14, 0.23),
    3: (0.13, 0.20),
    4: (0.12, 0.17),
    5: (0.11, 0.15),
    6: (0.10, 0.135),
    7: (0.095, 0.125),
    8: (0.09, 0.115),
    9: (0.085, 0.105),
    10: (0.08, 0.10),
}
#: allowed rotation (degrees, ±) per shape, chosen so a class never looks like another
_ROTATION_BY_SHAPE: dict[str, float] = {
    "cube": 25.0,
    "sphere": 0.0,
    "monkey": 15.0,
    "cone": 20.0,
    "torus": 0.0,
    "star": 36.0,
    "teapot": 15.0,
    "diamond": 15.0,
    "gear": 18.0,
    "cylinder": 15.0,
}


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to draw one scene: the four labels plus the nuisance factors."""

    color: str
    shape: str
    texture: str
    count: int
    background: str
    background_pattern: str
    #: (x, y, radius, rotation_degrees, mirrored) per object, in pixels of a 1.0-sized image
    objects: tuple[tuple[float, float, float, float, bool], ...]
    #: per-image colour jitter added to the object RGB
    color_jitter: tuple[int, int, int]
    light_angle: float
    brightness: float
    noise_sigma: float
    pattern_seed: int

    def labels(self) -> dict[str, str | int]:
        """The Clevr-4 labels of this scene: color, shape, texture, count."""
        return {"color": self.color, "shape": self.shape, "texture": self.texture, "count": self.count}


# ----------------------------------------------------------------------------------------------
# sampling


def _place_objects(
    rng: np.random.Generator, count: int, radius_range: tuple[float, float]
) -> list[tuple[float, float, float]]:
    """Non-overlapping (x, y, r) in unit-image coordinates, by rejection sampling with shrinking."""
    radius = float(rng.uniform(*radius_range))
    for _ in range(60):
        placed: list[tuple[float, float, float]] = []
        for _ in range(count):
            for _ in range(80):
                r = radius * float(rng.uniform(0.85, 1.0))
                x = float(rng.uniform(r + 0.01, 1.0 - r - 0.01))
                y = float(rng.uniform(r + 0.01, 1.0 - r - 0.01))
                if all((x - px) ** 2 + (y - py) ** 2 > (r + pr + 0.012) ** 2 for px, py, pr in placed):
                    placed.append((x, y, r))
                    break
            else:
                break
        if len(placed) == count:
            return placed
        radius *= 0.93
    raise RuntimeError(f"could not place {count} objects")  # unreachable for counts 1..10


def sample_scene_spec(
    rng: np.random.Generator,
    *,
    color: str | None = None,
    shape: str | None = None,
    texture: str | None = None,
    count: int | None = None,
) -> SceneSpec:
    """Draw a scene uniformly over the four taxonomies (or with some fixed) and random nuisances."""
    color = color if color is not None else COLORS[int(rng.integers(len(COLORS)))]
    shape = shape if shape is not None else SHAPES[int(rng.integers(len(SHAPES)))]
    texture = texture if texture is not None else TEXTURES[int(rng.integers(len(TEXTURES)))]
    count = count if count is not None else COUNTS[int(rng.integers(len(COUNTS)))]
    if color not in COLORS or shape not in SHAPES or texture not in TEXTURES or count not in COUNTS:
        raise InvalidInputError(f"unknown scene class: {color=}, {shape=}, {texture=}, {count=}")
    background = list(BACKGROUND_RGB)[int(rng.integers(len(BACKGROUND_RGB)))]
    pattern = BACKGROUND_PATTERNS[int(rng.integers(len(BACKGROUND_PATTERNS)))]
    max_rotation = _ROTATION_BY_SHAPE[shape]
    objects = tuple(
        (x, y, r, float(rng.uniform(-max_rotation, max_rotation)), bool(rng.integers(2)))
        for x, y, r in _place_objects(rng, count, _RADIUS_BY_COUNT[count])
    )
    jitter = tuple(int(v) for v in rng.integers(-14, 15, size=3))
    return SceneSpec(
        color=color,
        shape=shape,
        texture=texture,
        count=count,
        background=background,
        background_pattern=pattern,
        objects=objects,
        color_jitter=(jitter[0], jitter[1], jitter[2]),
        light_angle=float(rng.uniform(0, 2 * math.pi)),
        brightness=float(rng.uniform(0.92, 1.06)),
        noise_sigma=float(rng.uniform(0.0, 6.0)),
        pattern_seed=int(rng.integers(2**31)),
    )


# ----------------------------------------------------------------------------------------------
# shapes: layers of polygons in unit object coordinates (the object fits in the disc of radius 1)

#: shape -> list of (polygon, fill) layers in unit coordinates; fill 255 = object, 0 = hole.
#: Second list: detail layers (polygon, tone) painted on top as a tone offset.
_SHAPE_LAYERS: dict[str, tuple[list[tuple[Polygon, int]], list[tuple[Polygon, float]]]] = {
    "sphere": ([(ellipse(0, 0, 0.96, 0.96, 36), 255)], []),
    "cube": ([([(-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)], 255)], []),
    "cone": (
        [([(0.0, -0.96), (0.74, 0.62), (-0.74, 0.62)], 255), (ellipse(0, 0.62, 0.74, 0.24), 255)],
        [],
    ),
    "torus": ([(ellipse(0, 0, 0.96, 0.96, 36), 255), (ellipse(0, 0, 0.46, 0.46, 24), 0)], []),
    "star": ([(star_polygon(5, 1.0, 0.42), 255)], []),
    "diamond": (
        [([(-0.46, -0.66), (0.46, -0.66), (0.9, -0.24), (0.0, 0.96), (-0.9, -0.24)], 255)],
        [([(-0.46, -0.66), (0.46, -0.66), (0.9, -0.24), (-0.9, -0.24)], 0.25)],
    ),
    "gear": ([(gear_polygon(), 255), (ellipse(0, 0, 0.22, 0.22, 16), 0)], []),
    "cylinder": (
        [
            ([(-0.6, -0.62), (0.6, -0.62), (0.6, 0.62), (-0.6, 0.62)], 255),
            (ellipse(0, -0.62, 0.6, 0.22), 255),
            (ellipse(0, 0.62, 0.6, 0.22), 255),
        ],
        [(ellipse(0, -0.62, 0.6, 0.22), 0.3)],
    ),
    "teapot": (
        [
            (ellipse(0.05, 0.18, 0.62, 0.48), 255),
            ([(0.5, 0.05), (0.98, -0.42), (0.98, -0.3), (0.58, 0.38)], 255),
            (ellipse(-0.66, 0.12, 0.3, 0.3, 20), 255),
            (ellipse(-0.66, 0.12, 0.15, 0.15, 16), 0),
            (ellipse(0.05, -0.32, 0.34, 0.12), 255),
            (ellipse(0.05, -0.48, 0.1, 0.1, 12), 255),
        ],
        [],
    ),
    "monkey": (
        [
            (ellipse(0, 0.06, 0.64, 0.68), 255),
            (ellipse(-0.74, -0.06, 0.24, 0.24, 20), 255),
            (ellipse(0.74, -0.06, 0.24, 0.24, 20), 255),
        ],
        [
            (ellipse(0, 0.3, 0.42, 0.3), 0.35),
            (ellipse(-0.22, -0.14, 0.1, 0.1, 12), -0.75),
            (ellipse(0.22, -0.14, 0.1, 0.1, 12), -0.75),
        ],
    ),
}


def _shape_masks(
    shape: str, box: int, radius: float, rotation: float, mirrored: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool[box, box], detail tone float[box, box]) of one object drawn in a `box`-sized square."""
    center = box / 2.0
    layers, details = _SHAPE_LAYERS[shape]
    mask_image = Image.new("L", (box, box), 0)
    draw = ImageDraw.Draw(mask_image)
    for polygon, fill in layers:
        draw.polygon(transform(polygon, center, radius, rotation, mirrored), fill=fill)
    mask = np.asarray(mask_image) > 127
    detail = np.zeros((box, box), dtype=np.float32)
    if details:
        detail_image = Image.new("L", (box, box), 128)
        detail_draw = ImageDraw.Draw(detail_image)
        for polygon, tone in details:
            detail_draw.polygon(
                transform(polygon, center, radius, rotation, mirrored), fill=int(128 + tone * 127)
            )
        detail = (np.asarray(detail_image, dtype=np.float32) - 128.0) / 127.0
    return mask, detail


# ----------------------------------------------------------------------------------------------
# textures: tone maps in [-1, 1]; negative darkens toward black, positive lightens toward white


def _texture_tone(texture: str, u: np.ndarray, v: np.ndarray, phase: float) -> np.ndarray:
    """Tone of `texture` at object coordinates (u, v) (the object spans [-1, 1])."""
    if texture == "rubber":
        return np.zeros_like(u)
    if texture == "metal":
        highlight = np.exp(-((u + 0.32) ** 2 + (v + 0.38) ** 2) / 0.05)
        bands = np.sin(3.2 * (0.8 * u + v) + phase)
        metal: np.ndarray = np.clip(0.95 * highlight + 0.32 * bands - 0.12, -0.6, 0.95)
        return metal
    if texture == "checkered":
        period = 0.36
        a = (np.mod(u + phase, period) < period / 2).astype(np.float32)
        b = (np.mod(v + phase, period) < period / 2).astype(np.float32)
        return 0.3 * (a + b)
    if texture == "emojis":
        period = 0.62
        cu = np.mod(u + phase, period) - period / 2
        cv = np.mod(v + 0.3 * phase, period) - period / 2
        radius2 = cu**2 + cv**2
        tone = np.where(radius2 < 0.22**2, 0.7, -0.1)
        eyes = ((np.abs(cu) - 0.08) ** 2 + (cv + 0.06) ** 2) < 0.045**2
        mouth = (np.abs(np.sqrt(radius2) - 0.12) < 0.03) & (cv > 0.04)
        return np.where(eyes | mouth, -0.75, tone)
    if texture == "wave":
        return np.where(
            np.sin(2 * np.pi * (v + 0.16 * np.sin(2 * np.pi * u / 0.7) + phase) / 0.42) > 0, 0.6, -0.3
        )
    if texture == "brick":
        row_height, brick_width, mortar = 0.32, 0.62, 0.07
        row = np.floor((v + phase) / row_height)
        shifted = u + phase + 0.5 * brick_width * np.mod(row, 2)
        in_mortar = (np.mod(v + phase, row_height) < mortar) | (np.mod(shifted, brick_width) < mortar)
        return np.where(in_mortar, 0.75, -0.15)
    if texture == "star":
        period = 0.55
        cu = np.mod(u + phase, period) - period / 2
        cv = np.mod(v + 0.5 * phase, period) - period / 2
        angle = np.arctan2(cv, cu)
        boundary = 0.1 + 0.09 * np.cos(5 * angle + np.pi / 2)
        return np.where(np.sqrt(cu**2 + cv**2) < boundary, 0.8, -0.1)
    if texture == "circles":
        return np.where(np.sin(2 * np.pi * np.sqrt(u**2 + v**2) / 0.3) > 0, 0.65, -0.25)
    if texture == "zigzag":
        period_u = 0.34
        zig = np.abs(np.mod(u + phase, period_u) / period_u - 0.5) * 0.3
        return np.where(np.mod(v + zig + phase, 0.36) < 0.16, 0.7, -0.25)
    if texture == "chessboard":
        cell = 0.42
        parity = np.mod(np.floor((u + phase) / cell) + np.floor((v + phase) / cell), 2)
        return np.where(parity > 0, -0.85, 0.05)
    raise InvalidInputError(f"unknown texture {texture!r}; expected one of {TEXTURES}")


# ----------------------------------------------------------------------------------------------
# rendering


def render_scene(spec: SceneSpec, size: int = 128) -> Image.Image:
    """Draw `spec` as a `size` x `size` RGB image (pure function of the spec)."""
    if size < 16:
        raise InvalidInputError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(spec.pattern_seed)
    canvas = background_canvas(BACKGROUND_RGB[spec.background], spec.background_pattern, size, rng)
    color = np.clip(
        np.asarray(COLOR_RGB[spec.color], dtype=np.float32) + np.asarray(spec.color_jitter), 0, 255
    )
    light_x, light_y = math.cos(spec.light_angle), math.sin(spec.light_angle)
    for x, y, r, rotation, mirrored in spec.objects:
        radius = r * size
        box = math.ceil(2 * radius) + 2
        left = round(x * size - box / 2)
        top = round(y * size - box / 2)
        mask, detail = _shape_masks(spec.shape, box, radius, rotation, mirrored)
        coords = (np.arange(box, dtype=np.float32) + 0.5 - box / 2) / radius
        u, v = np.meshgrid(coords, coords)
        cos_r, sin_r = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        u_obj, v_obj = cos_r * u + sin_r * v, -sin_r * u + cos_r * v
        tone = _texture_tone(spec.texture, u_obj, v_obj, float(rng.uniform(0, 1)))
        tone = tone + detail - 0.16 * (u * light_x + v * light_y)
        if spec.shape == "sphere":
            tone = tone - 0.22 * np.clip(u**2 + v**2, 0.0, 1.0)
        # clip the object box to the canvas (objects are placed inside, rounding may touch the edge)
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + box, size), min(left + box, size)
        local = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
        region = canvas[y0:y1, x0:x1]
        painted = apply_tone(color, tone[local])
        region[mask[local]] = painted[mask[local]]
    canvas *= spec.brightness
    if spec.noise_sigma > 0:
        canvas += rng.normal(0.0, spec.noise_sigma, size=canvas.shape).astype(np.float32)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), mode="RGB")


# ----------------------------------------------------------------------------------------------
# datasets


def scene_spec_at(seed: int, index: int) -> SceneSpec:
    """The spec of image `index` of `generate_scenes(..., seed)`, drawn from its own random stream."""
    return sample_scene_spec(image_rng(seed, index))


def generate_scenes(
    n: int, seed: int, size: int = 128, *, start: int = 0
) -> tuple[list[Image.Image], list[dict[str, str | int]]]:
    """Render scenes `start .. start + n - 1` of the dataset `seed`: images and their Clevr-4 labels."""
    check_image_count(n)
    specs = [scene_spec_at(seed, index) for index in range(start, start + n)]
    return [render_scene(spec, size) for spec in specs], [spec.labels() for spec in specs]
