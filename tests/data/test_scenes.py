"""The scene and card renderers: determinism, labels, reachability of every class, seed guard."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.data.cards import CardSpec, generate_cards, render_card, sample_card_spec
from condsim.data.scenes import (
    COLOR_RGB,
    SceneSpec,
    generate_scenes,
    render_scene,
    sample_scene_spec,
    scene_spec_at,
)
from condsim.data.seeds import TRAINING_SEEDS, check_not_training_seed
from condsim.data.taxonomy import CARD_RANKS, CARD_SUITS, COLORS, COUNTS, SHAPES, TEXTURES
from condsim.errors import CondsimError, InvalidInputError


def _pixels(images: list) -> np.ndarray:
    return np.stack([np.asarray(image) for image in images])


def test_same_seed_gives_identical_pixels_and_labels() -> None:
    first_images, first_labels = generate_scenes(12, seed=3, size=64)
    second_images, second_labels = generate_scenes(12, seed=3, size=64)
    assert first_labels == second_labels
    assert np.array_equal(_pixels(first_images), _pixels(second_images))
    cards_a, card_labels_a = generate_cards(6, seed=3, size=64)
    cards_b, card_labels_b = generate_cards(6, seed=3, size=64)
    assert card_labels_a == card_labels_b
    assert np.array_equal(_pixels(cards_a), _pixels(cards_b))


def test_other_seed_gives_other_images() -> None:
    images_a, _ = generate_scenes(4, seed=3, size=64)
    images_b, _ = generate_scenes(4, seed=4, size=64)
    assert not np.array_equal(_pixels(images_a), _pixels(images_b))


def test_start_renders_the_same_images_as_a_full_run() -> None:
    full_images, full_labels = generate_scenes(6, seed=11, size=48)
    tail_images, tail_labels = generate_scenes(2, seed=11, size=48, start=4)
    assert tail_labels == full_labels[4:]
    assert np.array_equal(_pixels(tail_images), _pixels(full_images[4:]))


def test_images_are_rgb_of_the_requested_size() -> None:
    images, labels = generate_scenes(3, seed=0, size=96)
    cards, card_labels = generate_cards(3, seed=0, size=80)
    assert all(image.mode == "RGB" and image.size == (96, 96) for image in images)
    assert all(image.mode == "RGB" and image.size == (80, 80) for image in cards)
    assert all(set(label) == {"color", "shape", "texture", "count"} for label in labels)
    assert all(set(label) == {"rank", "suit"} for label in card_labels)


def test_labels_match_the_spec_and_objects_do_not_overlap() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        spec = sample_scene_spec(rng)
        assert spec.labels() == {
            "color": spec.color,
            "shape": spec.shape,
            "texture": spec.texture,
            "count": spec.count,
        }
        assert len(spec.objects) == spec.count
        for i, (x1, y1, r1, _, _) in enumerate(spec.objects):
            assert r1 <= x1 <= 1 - r1 and r1 <= y1 <= 1 - r1
            for x2, y2, r2, _, _ in spec.objects[i + 1 :]:
                assert np.hypot(x1 - x2, y1 - y2) > r1 + r2


def test_the_object_colour_dominates_the_drawn_pixels() -> None:
    """On a plain background with matte texture, the most common non-background colour is the object's."""
    for color in COLORS:
        spec = sample_scene_spec(
            np.random.default_rng(1), color=color, texture="rubber", count=1, shape="cube"
        )
        spec = SceneSpec(
            **{
                **spec.__dict__,
                "background": "white",
                "background_pattern": "plain",
                "noise_sigma": 0.0,
                "brightness": 1.0,
                "color_jitter": (0, 0, 0),
            }
        )
        pixels = np.asarray(render_scene(spec, 64), dtype=np.float64).reshape(-1, 3)
        foreground = pixels[np.abs(pixels - 244).sum(axis=1) > 30]
        assert len(foreground) > 100
        mean = foreground.mean(axis=0)
        distances = {name: np.linalg.norm(mean - np.asarray(rgb)) for name, rgb in COLOR_RGB.items()}
        assert min(distances, key=distances.__getitem__) == color


def test_every_class_is_reachable() -> None:
    specs = [scene_spec_at(21, index) for index in range(600)]
    assert {spec.color for spec in specs} == set(COLORS)
    assert {spec.shape for spec in specs} == set(SHAPES)
    assert {spec.texture for spec in specs} == set(TEXTURES)
    assert {spec.count for spec in specs} == set(COUNTS)
    rng = np.random.default_rng(2)
    cards = [sample_card_spec(rng) for _ in range(400)]
    assert {card.rank for card in cards} == set(CARD_RANKS)
    assert {card.suit for card in cards} == set(CARD_SUITS)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_and_texture_renders(shape: str) -> None:
    rng = np.random.default_rng(0)
    for texture in TEXTURES:
        image = render_scene(sample_scene_spec(rng, shape=shape, texture=texture, count=10), 64)
        assert np.asarray(image).std() > 5  # something was drawn


def test_fixed_classes_are_honoured_and_unknown_ones_refused() -> None:
    rng = np.random.default_rng(0)
    spec = sample_scene_spec(rng, color="red", shape="gear", texture="brick", count=7)
    assert spec.labels() == {"color": "red", "shape": "gear", "texture": "brick", "count": 7}
    with pytest.raises(InvalidInputError):
        sample_scene_spec(rng, color="mauve")
    with pytest.raises(InvalidInputError):
        sample_scene_spec(rng, count=11)
    with pytest.raises(InvalidInputError):
        sample_card_spec(rng, rank="joker")
    with pytest.raises(InvalidInputError):
        render_scene(spec, size=8)


def test_every_rank_and_suit_renders_differently() -> None:
    base = sample_card_spec(np.random.default_rng(4))
    renders = {}
    for rank in CARD_RANKS:
        for suit in CARD_SUITS:
            card = CardSpec(**{**base.__dict__, "rank": rank, "suit": suit, "noise_sigma": 0.0})
            renders[(rank, suit)] = np.asarray(render_card(card, 96)).tobytes()
    assert len(set(renders.values())) == len(CARD_RANKS) * len(CARD_SUITS)


def test_red_suits_have_red_ink() -> None:
    base = sample_card_spec(np.random.default_rng(8), rank="ace")
    for suit, red in (("hearts", True), ("diamonds", True), ("clubs", False), ("spades", False)):
        card = CardSpec(**{**base.__dict__, "suit": suit, "noise_sigma": 0.0, "table": "gray"})
        pixels = np.asarray(render_card(card, 96), dtype=np.int32)
        reddish = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
        assert (reddish.sum() > 50) == red


def test_training_seeds_are_refused_for_evaluation() -> None:
    for seed in TRAINING_SEEDS:
        with pytest.raises(CondsimError):
            check_not_training_seed(seed)
    check_not_training_seed(0)
    check_not_training_seed(12345)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        generate_scenes(-1, seed=0)
    assert generate_scenes(0, seed=0) == ([], [])
