"""Procedural, seeded renderer of playing cards, with rank and suit labels.

The Cards benchmark (methods.md §2.4) labels playing cards by rank (13) and suit (4)
(`condsim.data.taxonomy`). Each card is drawn with PIL: corner indices (the bottom one upside
down), pips laid out as on a real number card, a framed letter for the court cards, on a mottled
table. Nuisance factors drawn per image: table colour, card size, position and tilt, paper and
face tints, and pixel noise. Every card is drawn from its own random stream derived from
`(seed, index)` (`condsim.data.seeds`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from condsim.data.raster import Polygon, background_canvas, font
from condsim.data.seeds import check_image_count, image_rng
from condsim.data.taxonomy import CARD_RANKS, CARD_SUITS
from condsim.errors import InvalidInputError

TABLE_RGB: dict[str, tuple[int, int, int]] = {
    "green felt": (34, 110, 62),
    "blue felt": (32, 62, 120),
    "wooden": (122, 82, 46),
    "gray": (96, 96, 98),
    "white": (232, 232, 228),
    "black": (24, 24, 26),
}


@dataclass(frozen=True)
class CardSpec:
    """One playing card: rank and suit plus nuisance factors (table, placement, tilt)."""

    rank: str
    suit: str
    table: str
    card_height: float
    center: tuple[float, float]
    rotation: float
    card_tint: tuple[int, int, int]
    face_tint: tuple[int, int, int]
    noise_sigma: float
    pattern_seed: int

    def labels(self) -> dict[str, str | int]:
        """The Cards labels of this card: rank, suit."""
        return {"rank": self.rank, "suit": self.suit}


def sample_card_spec(
    rng: np.random.Generator, *, rank: str | None = None, suit: str | None = None
) -> CardSpec:
    """Draw a card uniformly over rank and suit (or with one fixed) and random nuisances."""
    rank = rank if rank is not None else CARD_RANKS[int(rng.integers(len(CARD_RANKS)))]
    suit = suit if suit is not None else CARD_SUITS[int(rng.integers(len(CARD_SUITS)))]
    if rank not in CARD_RANKS or suit not in CARD_SUITS:
        raise InvalidInputError(f"unknown card: {rank=}, {suit=}")
    cream = rng.integers(232, 256, size=3)
    face = rng.integers(150, 250, size=3)
    return CardSpec(
        rank=rank,
        suit=suit,
        table=list(TABLE_RGB)[int(rng.integers(len(TABLE_RGB)))],
        card_height=float(rng.uniform(0.74, 0.92)),
        center=(float(rng.uniform(0.44, 0.56)), float(rng.uniform(0.46, 0.54))),
        rotation=float(rng.uniform(-12.0, 12.0)),
        card_tint=(int(cream[0]), int(cream[1]), int(cream[2])),
        face_tint=(int(face[0]), int(face[1]), int(face[2])),
        noise_sigma=float(rng.uniform(0.0, 5.0)),
        pattern_seed=int(rng.integers(2**31)),
    )


# ----------------------------------------------------------------------------------------------
# drawing

_RANK_GLYPHS: dict[str, str] = {
    "ace": "A",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "jack": "J",
    "queen": "Q",
    "king": "K",
}
#: pip centres for number cards, in card coordinates (x, y in [0, 1] of the inner pip area)
_PIP_LAYOUT: dict[int, list[tuple[float, float]]] = {
    2: [(0.5, 0.0), (0.5, 1.0)],
    3: [(0.5, 0.0), (0.5, 0.5), (0.5, 1.0)],
    4: [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)],
    5: [(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 1.0)],
    6: [(0.0, 0.0), (1.0, 0.0), (0.0, 0.5), (1.0, 0.5), (0.0, 1.0), (1.0, 1.0)],
    7: [(0.0, 0.0), (1.0, 0.0), (0.5, 0.25), (0.0, 0.5), (1.0, 0.5), (0.0, 1.0), (1.0, 1.0)],
    8: [(0.0, 0.0), (1.0, 0.0), (0.5, 0.25), (0.0, 0.5), (1.0, 0.5), (0.5, 0.75), (0.0, 1.0), (1.0, 1.0)],
    9: [
        (0.0, 0.0),
        (1.0, 0.0),
        (0.0, 0.33),
        (1.0, 0.33),
        (0.5, 0.5),
        (0.0, 0.67),
        (1.0, 0.67),
        (0.0, 1.0),
        (1.0, 1.0),
    ],
    10: [
        (0.0, 0.0),
        (1.0, 0.0),
        (0.5, 0.17),
        (0.0, 0.33),
        (1.0, 0.33),
        (0.0, 0.67),
        (1.0, 0.67),
        (0.5, 0.83),
        (0.0, 1.0),
        (1.0, 1.0),
    ],
}
_SUIT_RGB: dict[str, tuple[int, int, int]] = {
    "clubs": (20, 20, 24),
    "spades": (20, 20, 24),
    "hearts": (200, 20, 30),
    "diamonds": (200, 20, 30),
}


def _draw_suit(draw: ImageDraw.ImageDraw, suit: str, cx: float, cy: float, half: float) -> None:
    """Draw one suit pip centred at (cx, cy) spanning about 2 * half pixels."""
    fill = _SUIT_RGB[suit]

    def disc(x: float, y: float, r: float) -> None:
        draw.ellipse(
            (cx + (x - r) * half, cy + (y - r) * half, cx + (x + r) * half, cy + (y + r) * half), fill=fill
        )

    def polygon(points: Polygon) -> None:
        draw.polygon([(cx + x * half, cy + y * half) for x, y in points], fill=fill)

    if suit == "diamonds":
        polygon([(0.0, -1.0), (0.72, 0.0), (0.0, 1.0), (-0.72, 0.0)])
    elif suit == "hearts":
        disc(-0.45, -0.38, 0.5)
        disc(0.45, -0.38, 0.5)
        polygon([(-0.93, -0.2), (0.93, -0.2), (0.0, 1.0)])
    elif suit == "spades":
        disc(-0.45, 0.18, 0.47)
        disc(0.45, 0.18, 0.47)
        polygon([(-0.9, 0.02), (0.9, 0.02), (0.0, -1.0)])
        polygon([(0.0, 0.2), (-0.32, 1.0), (0.32, 1.0)])
    else:  # clubs
        disc(0.0, -0.5, 0.37)
        disc(-0.45, 0.1, 0.37)
        disc(0.45, 0.1, 0.37)
        polygon([(0.0, -0.05), (-0.3, 1.0), (0.3, 1.0)])


def render_card(spec: CardSpec, size: int = 128) -> Image.Image:
    """Draw `spec` as a `size` x `size` RGB image: a card with corner indices and pips on a table."""
    if size < 16:
        raise InvalidInputError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(spec.pattern_seed)
    table = background_canvas(TABLE_RGB[spec.table], "mottled", size, rng)
    height = max(int(spec.card_height * size), 12)
    width = max(int(height * 0.7), 8)
    card = Image.new("RGB", (width, height), spec.card_tint)
    draw = ImageDraw.Draw(card)
    ink = _SUIT_RGB[spec.suit]
    glyph = _RANK_GLYPHS[spec.rank]
    index_font = font(int(height * 0.15))
    margin = width * 0.06
    draw.text((margin, height * 0.03), glyph, fill=ink, font=index_font)
    corner_pip = width * 0.07
    _draw_suit(draw, spec.suit, margin + corner_pip, height * 0.25, corner_pip)
    # the bottom-right index, upside down as on a real card
    flipped = card.rotate(180)
    flipped_draw = ImageDraw.Draw(flipped)
    flipped_draw.text((margin, height * 0.03), glyph, fill=ink, font=index_font)
    _draw_suit(flipped_draw, spec.suit, margin + corner_pip, height * 0.25, corner_pip)
    card = flipped.rotate(180)
    draw = ImageDraw.Draw(card)
    number = CARD_RANKS.index(spec.rank) + 1
    if spec.rank == "ace":
        _draw_suit(draw, spec.suit, width / 2, height / 2, width * 0.24)
    elif number <= 10:
        left, right = width * 0.3, width * 0.7
        top, bottom = height * 0.2, height * 0.8
        pip = width * 0.085
        for px, py in _PIP_LAYOUT[number]:
            _draw_suit(draw, spec.suit, left + px * (right - left), top + py * (bottom - top), pip)
    else:
        frame = (width * 0.22, height * 0.17, width * 0.78, height * 0.83)
        draw.rectangle(frame, fill=spec.face_tint, outline=ink, width=max(1, width // 40))
        face_font = font(int(height * 0.3))
        draw.text((width / 2, height * 0.42), glyph, fill=ink, font=face_font, anchor="mm")
        _draw_suit(draw, spec.suit, width / 2, height * 0.67, width * 0.1)
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, width - 1, height - 1), radius=max(2, width // 10), fill=255
    )
    card = card.rotate(spec.rotation, resample=Image.Resampling.BILINEAR, expand=True)
    mask = mask.rotate(spec.rotation, resample=Image.Resampling.BILINEAR, expand=True)
    image = Image.fromarray(np.clip(table, 0, 255).astype(np.uint8), mode="RGB")
    left = int(spec.center[0] * size - card.width / 2)
    top = int(spec.center[1] * size - card.height / 2)
    image.paste(card, (left, top), mask)
    if spec.noise_sigma > 0:
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, spec.noise_sigma, size=(size, size, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="RGB")
    return image


# ----------------------------------------------------------------------------------------------
# datasets


def card_spec_at(seed: int, index: int) -> CardSpec:
    """The spec of image `index` of `generate_cards(..., seed)`."""
    return sample_card_spec(image_rng(seed, 1_000_000_000 + index))


def generate_cards(
    n: int, seed: int, size: int = 128, *, start: int = 0
) -> tuple[list[Image.Image], list[dict[str, str | int]]]:
    """Render cards `start .. start + n - 1` of the dataset `seed`: images and their rank/suit labels."""
    check_image_count(n)
    specs = [card_spec_at(seed, index) for index in range(start, start + n)]
    return [render_card(spec, size) for spec in specs], [spec.labels() for spec in specs]
