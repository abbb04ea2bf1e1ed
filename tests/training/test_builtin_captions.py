"""The alt-text caption writer of the built-in model's training: wordings come from the taxonomy."""

from __future__ import annotations

import numpy as np

from condsim.data.cards import card_spec_at
from condsim.data.scenes import scene_spec_at
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
from condsim.training.captions import (
    COLOR_WORDS,
    COUNT_WORDS,
    RANK_WORDS,
    SHAPE_WORDS,
    TEXTURE_WORDS,
    card_caption,
    scene_caption,
)


def test_every_class_has_wordings_led_by_its_taxonomy_name() -> None:
    assert tuple(COLOR_WORDS) == COLORS and all(COLOR_WORDS[c][0] == c for c in COLORS)
    assert tuple(SHAPE_WORDS) == SHAPES and all(SHAPE_WORDS[s][0] == SHAPE_NAMES[s] for s in SHAPES)
    assert tuple(TEXTURE_WORDS) == TEXTURES
    assert all(TEXTURE_WORDS[t][0] == TEXTURE_NAMES[t] for t in TEXTURES)
    assert tuple(COUNT_WORDS) == COUNTS
    assert all(COUNT_WORDS[n][0] == NUMBER_WORDS[n - 1] and str(n) in COUNT_WORDS[n] for n in COUNTS)
    assert tuple(RANK_WORDS) == CARD_RANKS and all(RANK_WORDS[r][0] == r for r in CARD_RANKS)
    for table in (COLOR_WORDS, SHAPE_WORDS, TEXTURE_WORDS, COUNT_WORDS, RANK_WORDS):
        for wordings in table.values():
            assert len(set(wordings)) == len(wordings)  # no wording repeated within a class


def test_captions_mention_only_true_attributes() -> None:
    rng = np.random.default_rng(0)
    for index in range(200):
        spec = scene_spec_at(5, index)
        caption = scene_caption(spec, rng)
        assert caption and caption == caption.strip()
        for colour, words in COLOR_WORDS.items():
            if colour != spec.color and any(f" {word} " in f" {caption} " for word in words):
                # another colour word may only appear as the background's name
                assert spec.background in caption
        card = card_spec_at(5, index)
        assert card_caption(card, rng)


def test_captions_are_a_pure_function_of_spec_and_stream() -> None:
    first = [scene_caption(scene_spec_at(9, i), np.random.default_rng([1, i])) for i in range(50)]
    again = [scene_caption(scene_spec_at(9, i), np.random.default_rng([1, i])) for i in range(50)]
    assert first == again
    assert len(set(first)) > 25  # wording varies from image to image
