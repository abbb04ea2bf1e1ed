"""The built-in model's zero-shot check: classify held-out images by the nearest class prompt.

As CLIP's zero-shot classifier (Radford et al. 2021), each class is the mean embedding of a few
prompt templates (`ZERO_SHOT_PROMPTS`, prompt ensembling) and an image is assigned the class whose
vector is nearest. Images come from seeds the model never trained on: scenes and cards from the
renderers, and flat PIL drawings (`condsim.data.flat`) the model has never seen in any form. The
model card reports these numbers next to chance (`CHANCE`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from condsim.data.cards import generate_cards
from condsim.data.flat import FLAT_SHAPES, draw_flat_shapes
from condsim.data.scenes import generate_scenes
from condsim.data.seeds import check_not_training_seed
from condsim.data.taxonomy import (
    CARD_RANKS,
    CARD_SUITS,
    COLORS,
    COUNTS,
    NUMBER_WORDS,
    SHAPE_NAMES,
    SHAPES,
    TEXTURE_NAMES,
    TEXTURES,
)
from condsim.encoders.base import Encoder

#: held-out seeds of the zero-shot evaluation (never in TRAINING_SEEDS)
EVAL_SCENE_SEED = 7_000_001
EVAL_CARD_SEED = 7_000_002
EVAL_FLAT_SEED = 7_000_003

#: prompt templates per taxonomy (averaged, as CLIP's prompt ensembling)
ZERO_SHOT_PROMPTS: dict[str, tuple[str, ...]] = {
    "color": ("a photo of {} objects", "a {} object", "{} things"),
    "shape": ("a photo of {plural}", "a {singular}", "{plural}"),
    "texture": ("a photo of {} objects", "a {} object", "{} things"),
    "count": ("a photo of {} objects", "{} things", "{} objects"),
    "rank": ("the {} card", "a playing card showing a {}", "a {} playing card"),
    "suit": ("a playing card of {}", "{}", "a card of {}"),
}


def class_prompts(taxonomy: str, label: str | int) -> list[str]:
    """The zero-shot prompts of one class (the model card's numbers use exactly these)."""
    templates = ZERO_SHOT_PROMPTS[taxonomy]
    if taxonomy == "shape":
        singular, plural = SHAPE_NAMES[str(label)]
        return [t.format(singular=singular, plural=plural) for t in templates]
    if taxonomy == "texture":
        return [t.format(TEXTURE_NAMES[str(label)]) for t in templates]
    if taxonomy == "count":
        word = NUMBER_WORDS[int(label) - 1]
        return [
            t.format(word).replace("one objects", "one object").replace("one things", "one thing")
            for t in templates
        ]
    return [t.format(label) for t in templates]


def zero_shot_classifier(encoder: Encoder, taxonomy: str, classes: Sequence[str | int]) -> np.ndarray:
    """(n_classes, dim) unit class vectors: the mean of each class's prompt embeddings."""
    vectors = []
    for label in classes:
        prompts = encoder.encode_texts(class_prompts(taxonomy, label))
        mean = prompts.mean(axis=0)
        vectors.append(mean / np.linalg.norm(mean))
    return np.stack(vectors).astype(np.float32)


def zero_shot_accuracy(
    encoder: Encoder,
    image_embeddings: np.ndarray,
    labels: Sequence[str | int],
    taxonomy: str,
    classes: Sequence[str | int],
) -> float:
    """Fraction of images whose nearest class prompt vector is their label."""
    classifier = zero_shot_classifier(encoder, taxonomy, classes)
    predicted = np.argmax(image_embeddings @ classifier.T, axis=1)
    truth = np.asarray([list(classes).index(label) for label in labels])
    return float(np.mean(predicted == truth))


def evaluate_zero_shot(
    encoder: Encoder,
    n_images: int = 500,
    *,
    scene_seed: int = EVAL_SCENE_SEED,
    card_seed: int = EVAL_CARD_SEED,
    flat_seed: int = EVAL_FLAT_SEED,
    show_progress: bool = False,
) -> dict[str, float]:
    """Zero-shot accuracy per taxonomy on held-out scenes, cards and flat PIL drawings."""
    for seed in (scene_seed, card_seed, flat_seed):
        check_not_training_seed(seed)
    results: dict[str, float] = {}
    scenes, scene_labels = generate_scenes(n_images, scene_seed)
    scene_embeddings = encoder.encode_images(scenes, batch_size=128, show_progress=show_progress)
    for taxonomy, classes in (("color", COLORS), ("shape", SHAPES), ("texture", TEXTURES), ("count", COUNTS)):
        labels = [label[taxonomy] for label in scene_labels]
        results[f"scenes/{taxonomy}"] = zero_shot_accuracy(
            encoder, scene_embeddings, labels, taxonomy, classes
        )
    cards, card_labels = generate_cards(n_images, card_seed)
    card_embeddings = encoder.encode_images(cards, batch_size=128, show_progress=show_progress)
    for taxonomy, card_classes in (("rank", CARD_RANKS), ("suit", CARD_SUITS)):
        labels = [label[taxonomy] for label in card_labels]
        results[f"cards/{taxonomy}"] = zero_shot_accuracy(
            encoder, card_embeddings, labels, taxonomy, card_classes
        )
    flats, flat_labels = draw_flat_shapes(n_images, flat_seed)
    flat_embeddings = encoder.encode_images(flats, batch_size=128, show_progress=show_progress)
    results["flat/color"] = zero_shot_accuracy(
        encoder, flat_embeddings, [label["color"] for label in flat_labels], "color", COLORS
    )
    flat_shape_classes = {"circle": "sphere", "square": "cube", "triangle": "cone", "star": "star"}
    flat_vectors = []
    for name in FLAT_SHAPES:
        prompts = encoder.encode_texts([f"a photo of a {name}", f"a {name}", f"{name}s"])
        flat_vectors.append(prompts.mean(axis=0) / np.linalg.norm(prompts.mean(axis=0)))
    predicted = np.argmax(flat_embeddings @ np.stack(flat_vectors).T, axis=1)
    truth = np.asarray([FLAT_SHAPES.index(label["shape"]) for label in flat_labels])
    results["flat/shape"] = float(np.mean(predicted == truth))
    # the same flat images classified among the ten Clevr-4 shape names (circle->sphere, ...)
    results["flat/shape_as_clevr"] = zero_shot_accuracy(
        encoder,
        flat_embeddings,
        [flat_shape_classes[label["shape"]] for label in flat_labels],
        "shape",
        SHAPES,
    )
    results["n_images_per_family"] = float(n_images)
    return results


CHANCE: dict[str, float] = {
    "scenes/color": 0.1,
    "scenes/shape": 0.1,
    "scenes/texture": 0.1,
    "scenes/count": 0.1,
    "cards/rank": 1 / 13,
    "cards/suit": 0.25,
    "flat/color": 0.1,
    "flat/shape": 0.25,
    "flat/shape_as_clevr": 0.1,
}
