"""Difference pairs from labels (templates and the LLM path with PC-CLIP's filters), and the seed guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from condsim.data.datasets import DEFAULT_SEEDS
from condsim.data.seeds import TRAINING_SCENE_SEED
from condsim.errors import InvalidInputError
from condsim.training.pcclip.data import (
    EvaluationSeedError,
    check_finetune_seed,
    load_labelled,
    rendered_images,
)
from condsim.training.pcclip.llm_pairs import MIN_CHARS, filter_difference, llm_pairs
from condsim.training.pcclip.pairs import FinetuneImages, PairDataError, template_pairs

COUNT_NAMES = tuple(str(n) for n in range(1, 11))


def _scenes(n: int = 40, seed: int = 0) -> FinetuneImages:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 10, size=n)
    return FinetuneImages(
        name="toy",
        embeddings=rng.normal(size=(n, 8)).astype(np.float32),
        labels={"color": rng.integers(0, 3, size=n), "count": counts},
        classes={"color": ("red", "blue", "green"), "count": COUNT_NAMES},
        ordinal={"count": counts.astype(float) + 1},
    )


def test_template_sentences_describe_the_pair_in_the_right_direction() -> None:
    images = _scenes()
    pairs = template_pairs(images, 300, seed=1)
    assert len(pairs) == 300
    seen = set()
    for p in range(len(pairs)):
        a, b, text = int(pairs.first[p]), int(pairs.second[p]), pairs.text_of(p)
        condition = pairs.conditions[p]
        assert images.labels[condition][a] != images.labels[condition][b]
        if text == "The first image has more objects than the second.":
            assert images.ordinal["count"][a] > images.ordinal["count"][b]
        elif text == "The first image has fewer objects than the second.":
            assert images.ordinal["count"][a] < images.ordinal["count"][b]
        elif condition == "color":
            first, second = (images.classes["color"][images.labels["color"][i]] for i in (a, b))
            assert text.index(first) < text.index(second)
        seen.add(condition)
    assert seen == {"color", "count"}
    # same seed, same pairs (a resumed run trains on what the interrupted one did)
    again = template_pairs(images, 300, seed=1)
    assert np.array_equal(again.first, pairs.first) and again.texts == pairs.texts


def test_hold_out_keeps_a_condition_out_of_every_sentence() -> None:
    pairs = template_pairs(_scenes(), 100, hold_out=("count",))
    assert set(pairs.conditions) == {"color"}
    assert not any("objects than" in text or "while the second has" in text for text in pairs.texts)
    with pytest.raises(InvalidInputError, match="not labelled"):
        template_pairs(_scenes(), 10, hold_out=("shape",))


def test_a_condition_with_one_class_is_refused() -> None:
    images = _scenes()
    images.labels["color"] = np.zeros(len(images), dtype=np.int64)
    with pytest.raises(PairDataError, match=r"condition 'color' has one class \('red'\)"):
        template_pairs(images, 10)


def test_data_with_one_image_has_no_valid_pair() -> None:
    images = _scenes(n=1)
    with pytest.raises(PairDataError, match="a pair needs two"):
        template_pairs(images, 10)


def test_csv_data_with_one_image_is_refused_in_one_line(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("path,color\na.png,red\n")
    labelled = load_labelled(f"csv:{tmp_path / 'labels.csv'}")
    images = FinetuneImages(
        name=labelled.name,
        embeddings=np.ones((1, 4), dtype=np.float32),
        labels=dict(labelled.labels),
        classes=dict(labelled.classes),
    )
    with pytest.raises(PairDataError) as error:
        template_pairs(images, 5)
    assert "\n" not in str(error.value) and error.value.hint
    with pytest.raises(InvalidInputError, match="KIND:PATH"):
        load_labelled("pairs.csv")


def test_the_seed_guard_refuses_evaluation_seeds() -> None:
    for seed in DEFAULT_SEEDS.values():
        with pytest.raises(EvaluationSeedError, match="evaluation images"):
            check_finetune_seed(seed)
    check_finetune_seed(TRAINING_SCENE_SEED)  # the training seeds are what finetuning renders
    with pytest.raises(EvaluationSeedError):
        rendered_images(None, 4, 4, scene_seed=DEFAULT_SEEDS["clevr4"])  # type: ignore[arg-type]


def test_pc_clip_filters() -> None:
    good = "The first image has three red cubes, while the second image shows a single blue sphere."
    assert filter_difference(good) == good
    assert filter_difference("#1: " + good + "\nNote: both are renders.") == good
    assert filter_difference("A: " + good + " I hope this helps!") == good
    assert filter_difference("The first image is red.") is None  # shorter than MIN_CHARS
    assert filter_difference(good + " ```python") is None
    assert filter_difference(good + " aaaaaaa") is None
    assert filter_difference("Description: " + good) is None
    assert filter_difference(good.replace("cubes", "cubés")) is None
    assert len(good) >= MIN_CHARS


def test_llm_pairs_keep_filtered_answers_and_refuse_when_none_survive() -> None:
    images = _scenes()
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return "The first image shows more objects and a different colour than the second image does."

    pairs = llm_pairs(images, 20, ask=answer)
    assert len(pairs) > 0 and pairs.texts == (answer(""),)
    assert "color is" in prompts[0] and "count is" in prompts[0]
    with pytest.raises(PairDataError, match="no valid pair"):
        llm_pairs(images, 20, ask=lambda prompt: "Too short.")
