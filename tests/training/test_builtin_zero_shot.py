"""The built-in model's zero-shot check: prompts, held-out seeds only, one accuracy per task."""

from __future__ import annotations

import pytest

from condsim.data.seeds import TRAINING_SCENE_SEED, TrainingSeedError
from condsim.data.taxonomy import SHAPE_NAMES
from condsim.encoders.base import Encoder
from condsim.training.zero_shot import CHANCE, class_prompts, evaluate_zero_shot


def test_prompts_use_the_taxonomy_names_and_read_as_english() -> None:
    assert class_prompts("shape", "monkey") == ["a photo of monkey heads", "a monkey head", "monkey heads"]
    assert SHAPE_NAMES["monkey"] == ("monkey head", "monkey heads")
    assert class_prompts("texture", "metal") == [
        "a photo of metallic objects",
        "a metallic object",
        "metallic things",
    ]
    assert class_prompts("count", 1) == ["a photo of one object", "one thing", "one object"]
    assert class_prompts("count", 7) == ["a photo of seven objects", "seven things", "seven objects"]
    assert class_prompts("rank", "queen")[0] == "the queen card"


def test_training_seeds_are_refused() -> None:
    with pytest.raises(TrainingSeedError):
        evaluate_zero_shot(None, n_images=2, scene_seed=TRAINING_SCENE_SEED)  # type: ignore[arg-type]


def test_every_task_gets_an_accuracy(fake_encoder: Encoder) -> None:
    results = evaluate_zero_shot(fake_encoder, n_images=6)
    assert set(results) == set(CHANCE) | {"n_images_per_family"}
    assert results["n_images_per_family"] == 6.0
    assert all(0.0 <= results[task] <= 1.0 for task in CHANCE)
