"""Flat drawings for the zero-shot check: deterministic, labelled, one exact fill colour per shape."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.data.flat import FLAT_COLORS, FLAT_SHAPES, draw_flat_shapes
from condsim.errors import InvalidInputError


def test_same_seed_same_pixels_and_every_class_is_drawn() -> None:
    images, labels = draw_flat_shapes(120, seed=3, size=48)
    again, labels_again = draw_flat_shapes(120, seed=3, size=48)
    assert labels == labels_again
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again, strict=True))
    assert {label["shape"] for label in labels} == set(FLAT_SHAPES)
    assert {label["color"] for label in labels} == set(FLAT_COLORS)
    other, _ = draw_flat_shapes(5, seed=4, size=48)
    assert not np.array_equal(np.asarray(other[0]), np.asarray(images[0]))


def test_the_shape_is_one_plain_fill_of_its_colour_on_a_plain_backdrop() -> None:
    images, labels = draw_flat_shapes(40, seed=11, size=64)
    for image, label in zip(images, labels, strict=True):
        pixels = np.asarray(image).reshape(-1, 3)
        backdrop = pixels[0]
        shape_pixels = pixels[(pixels != backdrop).any(axis=1)]
        assert len(shape_pixels) > 0.02 * len(pixels)
        assert (shape_pixels == np.asarray(FLAT_COLORS[label["color"]])).all()


def test_negative_count_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        draw_flat_shapes(-1, seed=0)
