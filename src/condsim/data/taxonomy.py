"""The class lists of the rendered benchmarks and the plain English name of each class.

Clevr-4 (methods.md §5.1) labels every scene along four taxonomies of ten classes each: colour,
shape, texture and count. The Cards benchmark (methods.md §2.4) labels playing cards by rank (13)
and suit (4). The renderers (`condsim.data.scenes`, `condsim.data.cards`), the generated datasets
and anything that writes text about an image (captions, zero-shot prompts) read the classes from
here, so that a class added or renamed here is added or renamed everywhere.
"""

from __future__ import annotations

COLORS: tuple[str, ...] = (
    "gray",
    "red",
    "blue",
    "green",
    "brown",
    "purple",
    "cyan",
    "yellow",
    "pink",
    "orange",
)
SHAPES: tuple[str, ...] = (
    "cube",
    "sphere",
    "monkey",
    "cone",
    "torus",
    "star",
    "teapot",
    "diamond",
    "gear",
    "cylinder",
)
TEXTURES: tuple[str, ...] = (
    "rubber",
    "metal",
    "checkered",
    "emojis",
    "wave",
    "brick",
    "star",
    "circles",
    "zigzag",
    "chessboard",
)
COUNTS: tuple[int, ...] = tuple(range(1, 11))

CARD_RANKS: tuple[str, ...] = (
    "ace",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "jack",
    "queen",
    "king",
)
CARD_SUITS: tuple[str, ...] = ("clubs", "diamonds", "hearts", "spades")

#: the name of each shape in a sentence, (singular, plural): a class name is not always a noun
#: phrase a caption would use ("monkey" is drawn as a monkey head)
SHAPE_NAMES: dict[str, tuple[str, str]] = {
    "cube": ("cube", "cubes"),
    "sphere": ("sphere", "spheres"),
    "monkey": ("monkey head", "monkey heads"),
    "cone": ("cone", "cones"),
    "torus": ("torus", "tori"),
    "star": ("star", "stars"),
    "teapot": ("teapot", "teapots"),
    "diamond": ("diamond", "diamonds"),
    "gear": ("gear", "gears"),
    "cylinder": ("cylinder", "cylinders"),
}
#: each texture as the adjective a sentence puts before a noun ("a metallic cube")
TEXTURE_NAMES: dict[str, str] = {
    "rubber": "rubber",
    "metal": "metallic",
    "checkered": "checkered",
    "emojis": "emoji-patterned",
    "wave": "wavy",
    "brick": "brick-patterned",
    "star": "star-patterned",
    "circles": "circle-patterned",
    "zigzag": "zigzag",
    "chessboard": "chessboard-patterned",
}
#: each count written as a word, NUMBER_WORDS[count - 1]
NUMBER_WORDS: tuple[str, ...] = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)
