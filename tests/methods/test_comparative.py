"""PC-CLIP comparative prompts, attribute ranking and difference classification (methods.md §4.2–4.3)."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods import (
    comparative_class_prompts,
    difference_classification_accuracy,
    difference_correct,
    rank_by_attribute,
)
from helpers import unit


def test_comparative_prompts_follow_the_update_rule() -> None:
    rng = np.random.default_rng(0)
    classes, differences = unit(rng, 5, 16), unit(rng, 3, 16)
    pairs = [(0, 2), (1, 2), (3, 4)]
    prompts = comparative_class_prompts(classes, pairs, differences, alpha=0.8)
    target2 = 0.8 * classes[2] + 0.2 * np.mean(
        [classes[0] - differences[0], classes[1] - differences[1]], axis=0
    )
    target4 = 0.8 * classes[4] + 0.2 * (classes[3] - differences[2])
    np.testing.assert_allclose(prompts[2], target2 / np.linalg.norm(target2), atol=1e-6)
    np.testing.assert_allclose(prompts[4], target4 / np.linalg.norm(target4), atol=1e-6)
    for unchanged in (0, 1, 3):  # classes that are not a pair's target keep their prompt
        np.testing.assert_allclose(prompts[unchanged], classes[unchanged], atol=1e-6)
    np.testing.assert_allclose(comparative_class_prompts(classes, [], differences[:0]), classes, atol=1e-6)


def test_comparative_prompt_errors() -> None:
    rng = np.random.default_rng(1)
    classes = unit(rng, 3, 4)
    with pytest.raises(DimensionMismatchError):
        comparative_class_prompts(classes, [(0, 1), (1, 2)], unit(rng, 1, 4))
    with pytest.raises(InvalidInputError, match="class 7"):
        comparative_class_prompts(classes, [(0, 7)], unit(rng, 1, 4))
    with pytest.raises(InvalidInputError, match="alpha"):
        comparative_class_prompts(classes, [(0, 1)], unit(rng, 1, 4), alpha=1.5)


def test_rank_by_attribute_sorts_by_projection() -> None:
    rng = np.random.default_rng(2)
    images, direction = unit(rng, 30, 8), rng.normal(size=8)
    order, scores = rank_by_attribute(images, direction)
    np.testing.assert_allclose(scores, images @ (direction / np.linalg.norm(direction)), atol=1e-6)
    assert np.all(np.diff(scores[order]) <= 0)
    ascending, _ = rank_by_attribute(images, direction, descending=False)
    assert np.array_equal(ascending, order[::-1])


def test_difference_classification_uses_the_sign_of_the_cosine() -> None:
    rng = np.random.default_rng(3)
    first, second, texts = unit(rng, 50, 8), unit(rng, 50, 8), unit(rng, 50, 8)
    gaps = first - second
    cosines = np.einsum("ij,ij->i", texts, gaps) / np.linalg.norm(gaps, axis=1)
    np.testing.assert_array_equal(difference_correct(first, second, texts), cosines > 0)
    assert difference_classification_accuracy(first, second, texts) == pytest.approx(np.mean(cosines > 0))
    # swapping the images flips every decision; identical images are wrong
    assert difference_classification_accuracy(second, first, texts) == pytest.approx(np.mean(cosines < 0))
    assert not difference_correct(first[:1], first[:1], texts[:1])[0]
    with pytest.raises(DimensionMismatchError):
        difference_correct(first, second[:3], texts)


def test_most_confused_pairs_sum_both_directions_and_skip_unconfused_pairs() -> None:
    from condsim.methods import most_confused_pairs

    truth = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    predicted = np.array([1, 1, 0, 0, 1, 3, 2, 2, 3, 3])
    # confusions: 0<->1: 2 + 1 = 3, 2<->3: 1 + 1 = 2; every other pair 0
    assert most_confused_pairs(truth, predicted, 4, count=3) == [(0, 1), (2, 3)]
    assert most_confused_pairs(truth, predicted, 4, count=1) == [(0, 1)]
    assert most_confused_pairs(truth, truth, 4) == []
    with pytest.raises(DimensionMismatchError):
        most_confused_pairs(truth, predicted[:-1], 4)
    with pytest.raises(InvalidInputError):
        most_confused_pairs(truth, predicted, 3)
