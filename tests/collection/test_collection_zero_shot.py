"""zero_shot_classify: predictions against the nearest class prompt computed here, comparative
prompting's split / pairs / report, and each user mistake as an InvalidInputError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from condsim.collection import Collection, index_folder
from condsim.collection.tasks import LabelledImage
from condsim.collection.zero_shot import zero_shot_classify
from condsim.conditions import get_condition
from condsim.errors import InvalidInputError

COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 40)}


@pytest.fixture
def collection(tmp_path: Path, make_encoder: Any, make_image: Any) -> Iterator[Collection]:
    """15 images, five of each colour (red_0.png ... green_4.png), indexed with the fake model."""
    folder = tmp_path / "photos"
    for name, colour in COLOURS.items():
        for index in range(5):
            make_image(folder / f"{name}_{index}.png", colour, seed=index)
    encoder = make_encoder()
    index_folder(folder, tmp_path / "store", encoder, show_progress=False)
    with Collection.open(tmp_path / "store", encoder) as opened:
        yield opened


def _examples(per_class: int = 2) -> list[LabelledImage]:
    return [LabelledImage(f"{name}_{index}.png", name) for name in COLOURS for index in range(per_class)]


def test_predictions_are_the_nearest_class_prompt(collection: Collection) -> None:
    condition = get_condition("color")
    result = zero_shot_classify(collection, _examples(), condition)
    assert result.comparative is None
    paths, embeddings = collection.features(None)
    classes = sorted(COLOURS)
    prompts = collection.encoder.encode_texts([condition.clay_prompt(label) for label in classes])
    labelled = {f"{name}_{index}.png" for name in COLOURS for index in range(2)}
    rest = [i for i, path in enumerate(paths) if Path(path).name not in labelled]
    scores = embeddings[rest] @ prompts.T
    predictions = result.classification.predictions
    assert [p.path for p in predictions] == [paths[i] for i in rest]
    assert [p.label for p in predictions] == [classes[i] for i in scores.argmax(axis=1)]
    np.testing.assert_allclose([p.confidence for p in predictions], scores.max(axis=1), rtol=1e-5)
    assert result.classification.labelled == {"blue": 2, "green": 2, "red": 2}


def test_comparative_picks_pairs_on_one_half_and_measures_on_the_other(collection: Collection) -> None:
    condition = get_condition("color")
    result = zero_shot_classify(collection, _examples(per_class=4), condition, comparative=True)
    report = result.comparative
    assert report is not None
    assert report.validation_images == 6  # two of the four labelled images of each class
    assert len(report.pairs) <= 3 and all(a < b for a, b in report.pairs)
    assert len(report.sentences) == 2 * len(report.pairs)
    assert all(s.startswith("The first image shows") for s in report.sentences)
    involved = {label for pair in report.pairs for label in pair}
    assert report.images == 2 * len(involved)  # the test half of each picked class
    if report.pairs:
        assert report.accuracy_without is not None and 0.0 <= report.accuracy_without <= 100.0
        assert report.accuracy_with is not None and 0.0 <= report.accuracy_with <= 100.0
    again = zero_shot_classify(collection, _examples(per_class=4), condition, comparative=True)
    assert again.comparative == report  # seeded


def test_zero_shot_errors(collection: Collection) -> None:
    condition = get_condition("color")
    with pytest.raises(InvalidInputError, match="only one label"):
        zero_shot_classify(collection, {"red_0.png": "red"}, condition)
    with pytest.raises(InvalidInputError, match="no labelled images"):
        zero_shot_classify(collection, [], condition)
    with pytest.raises(InvalidInputError, match="two labelled images"):
        zero_shot_classify(
            collection, {"red_0.png": "red", "blue_0.png": "blue"}, condition, comparative=True
        )
    everything = [LabelledImage(f"{name}_{index}.png", name) for name in COLOURS for index in range(5)]
    with pytest.raises(InvalidInputError, match="nothing to predict"):
        zero_shot_classify(collection, everything, condition)
