"""Alt-text-like captions of rendered scenes and cards: the text side of the built-in model's training.

Each caption mentions a random subset of an image's attributes, with varied wording and synonyms.
Colour and shape are mentioned most often, count and texture less, the background sometimes
(`MENTION_PROBABILITY`), so that, as with web-scale CLIP, plain image similarity ends up dominated
by some attributes while others are weak. The classes come from `condsim.data.taxonomy`, and the
first wording of every class is its plain name there; only the synonyms are written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from condsim.data.cards import CardSpec
from condsim.data.scenes import SceneSpec
from condsim.data.taxonomy import (
    CARD_RANKS,
    COLORS,
    COUNTS,
    NUMBER_WORDS,
    SHAPE_NAMES,
    SHAPES,
    TEXTURE_NAMES,
    TEXTURES,
)

_COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "gray": ("grey", "ash gray"),
    "red": ("crimson", "scarlet"),
    "blue": ("cobalt blue", "royal blue"),
    "green": ("emerald", "grass green"),
    "brown": ("chocolate brown", "chestnut"),
    "purple": ("violet", "plum"),
    "cyan": ("turquoise", "aqua"),
    "yellow": ("lemon yellow", "canary yellow"),
    "pink": ("rose pink", "bubblegum pink"),
    "orange": ("tangerine", "bright orange"),
}
_SHAPE_SYNONYMS: dict[str, tuple[tuple[str, str], ...]] = {
    "cube": (("square", "squares"), ("block", "blocks"), ("box", "boxes")),
    "sphere": (("ball", "balls"), ("circle", "circles")),
    "monkey": (("monkey", "monkeys"), ("monkey face", "monkey faces")),
    "cone": (("triangle", "triangles"),),
    "torus": (("ring", "rings"), ("donut", "donuts")),
    "star": (("star shape", "star shapes"),),
    "teapot": (("kettle", "kettles"),),
    "diamond": (("gem", "gems"), ("jewel", "jewels")),
    "gear": (("cog", "cogs"), ("cogwheel", "cogwheels")),
    "cylinder": (("can", "cans"), ("drum", "drums")),
}
_TEXTURE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "rubber": ("matte", "plain"),
    "metal": ("shiny metal", "chrome"),
    "checkered": ("gingham", "plaid"),
    "emojis": ("smiley-face", "emoji-covered"),
    "wave": ("wave-patterned", "wavy-striped"),
    "brick": ("brick", "brick-textured"),
    "star": ("starry", "star-print"),
    "circles": ("ringed", "concentric-circle"),
    "zigzag": ("chevron", "zigzag-striped"),
    "chessboard": ("chessboard", "black-checked"),
}
#: phrases a caption may use for a count besides its number word and digits
_COUNT_PHRASES: dict[int, tuple[str, ...]] = {1: ("a single", "a lone"), 2: ("a pair of",), 3: ("a trio of",)}
_RANK_SYNONYMS: dict[str, tuple[str, ...]] = {
    "two": ("2", "deuce"),
    **{rank: (str(number),) for number, rank in enumerate(CARD_RANKS[2:10], start=3)},
    "jack": ("knave",),
}

#: every wording of each class; the first is the plain name (`condsim.data.taxonomy`)
COLOR_WORDS: dict[str, tuple[str, ...]] = {color: (color, *_COLOR_SYNONYMS[color]) for color in COLORS}
#: (singular, plural) wordings of each shape
SHAPE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    shape: (SHAPE_NAMES[shape], *_SHAPE_SYNONYMS[shape]) for shape in SHAPES
}
TEXTURE_WORDS: dict[str, tuple[str, ...]] = {
    texture: (TEXTURE_NAMES[texture], *_TEXTURE_SYNONYMS[texture]) for texture in TEXTURES
}
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    count: (NUMBER_WORDS[count - 1], *_COUNT_PHRASES.get(count, ()), str(count)) for count in COUNTS
}
RANK_WORDS: dict[str, tuple[str, ...]] = {rank: (rank, *_RANK_SYNONYMS.get(rank, ())) for rank in CARD_RANKS}

_PREFIXES = (
    "",
    "",
    "",
    "a photo of ",
    "an image of ",
    "a render of ",
    "a picture of ",
    "clip art of ",
    "stock image: ",
    "a drawing of ",
)
_GENERIC_NOUNS = (("object", "objects"), ("shape", "shapes"), ("thing", "things"), ("item", "items"))
#: how often each attribute is mentioned in a scene caption (colour and shape dominate, as on the web)
MENTION_PROBABILITY: dict[str, float] = {
    "color": 0.8,
    "shape": 0.75,
    "count": 0.35,
    "texture": 0.3,
    "background": 0.2,
}


def _pick(rng: np.random.Generator, options: Sequence[Any], canonical_weight: float = 0.5) -> Any:
    """The first (canonical) option with probability `canonical_weight`, else a uniform other one."""
    if len(options) == 1 or rng.random() < canonical_weight:
        return options[0]
    return options[1 + int(rng.integers(len(options) - 1))]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def scene_caption(spec: SceneSpec, rng: np.random.Generator) -> str:
    """An alt-text-like caption of a scene mentioning a random subset of its attributes."""
    mention = {name: bool(rng.random() < p) for name, p in MENTION_PROBABILITY.items()}
    if not any(mention[name] for name in ("color", "shape", "count", "texture")):
        mention["color" if rng.random() < 0.5 else "shape"] = True
    plural = spec.count > 1
    singular_noun, plural_noun = (
        _pick(rng, SHAPE_WORDS[spec.shape], 0.6) if mention["shape"] else _pick(rng, _GENERIC_NOUNS, 0.4)
    )
    noun = plural_noun if plural else singular_noun
    adjectives: list[str] = []
    texture_suffix = ""
    if mention["texture"]:
        texture_word = _pick(rng, TEXTURE_WORDS[spec.texture], 0.6)
        if rng.random() < 0.65:
            adjectives.append(texture_word)
        else:
            texture_suffix = f" with a {texture_word} {'texture' if rng.random() < 0.5 else 'pattern'}"
    if mention["color"]:
        adjectives.append(_pick(rng, COLOR_WORDS[spec.color], 0.6))
    body = " ".join([*adjectives, noun])
    if mention["count"]:
        body = f"{_pick(rng, COUNT_WORDS[spec.count], 0.6)} {body}"
    elif not plural:
        body = _with_article(body)
    elif rng.random() < 0.25:
        body = f"{'some' if spec.count < 5 else 'many'} {body}"
    caption = _PREFIXES[int(rng.integers(len(_PREFIXES)))] + body + texture_suffix
    if mention["background"]:
        place = "background" if rng.random() < 0.6 else "backdrop"
        caption += f" {'on' if rng.random() < 0.6 else 'against'} {_with_article(spec.background)} {place}"
    return caption


def card_caption(spec: CardSpec, rng: np.random.Generator) -> str:
    """An alt-text-like caption of a playing card mentioning a random subset of rank, suit, colour."""
    rank = _pick(rng, RANK_WORDS[spec.rank], 0.6)
    suit = spec.suit
    mention_rank, mention_suit = rng.random() < 0.75, rng.random() < 0.75
    colour = ("red " if spec.suit in ("hearts", "diamonds") else "black ") if rng.random() < 0.2 else ""
    card_word = "playing card" if rng.random() < 0.6 else "card"
    templates: tuple[str, ...]
    if mention_rank and mention_suit:
        templates = (
            f"the {rank} of {suit}",
            f"{_with_article(rank)} of {suit} {card_word}",
            f"{rank} of {suit}",
            f"a {colour}{card_word}: the {rank} of {suit}",
        )
    elif mention_rank:
        templates = (
            f"{_with_article(colour + rank)} {card_word}",
            f"the {rank} card",
            f"a {colour}{card_word} showing {_with_article(rank)}",
        )
    elif mention_suit:
        templates = (
            f"a {colour}{card_word} of {suit}",
            f"{_with_article(colour + suit[:-1])} {card_word}",
            f"{suit}",
        )
    else:
        templates = (f"a {colour}{card_word}", f"a {colour}{card_word} from a deck")
    caption = _PREFIXES[int(rng.integers(len(_PREFIXES)))] + templates[int(rng.integers(len(templates)))]
    if rng.random() < 0.15:
        caption += f" on {_with_article(spec.table)} table"
    return caption
