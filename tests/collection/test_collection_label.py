"""label_collection (zero-shot labels, comparative refinement) and cluster names, against references
computed from the collection's own embeddings and prompts, and the user mistakes as one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from condsim.collection import Collection, index_folder
from condsim.collection.tasks import LOGIT_SCALE, cluster_collection, label_collection
from condsim.conditions import resolve_condition
from condsim.errors import EmptyConditionError, InvalidInputError
from condsim.methods import EmbeddedCondition, unit_rows

REDS = [(220, 30, 30), (200, 50, 40), (240, 20, 60), (190, 40, 20)]
BLUES = [(30, 40, 220), (50, 60, 200), (20, 30, 240), (40, 20, 190)]
VALUES = ["red", "blue", "green"]


@pytest.fixture
def collection(tmp_path: Path, make_encoder: Any, make_image: Any) -> Iterator[Collection]:
    folder = tmp_path / "photos"
    for index, (red, blue) in enumerate(zip(REDS, BLUES, strict=True)):
        make_image(folder / f"red_{index}.png", red, seed=index)
        make_image(folder / f"blue_{index}.png", blue, seed=100 + index)
    encoder = make_encoder()
    index_folder(folder, tmp_path / "store", encoder, show_progress=False)
    with Collection.open(tmp_path / "store", encoder) as opened:
        yield opened


def _reference(collection: Collection, values: list[str]) -> tuple[list[str], np.ndarray]:
    """The zero-shot label and softmax(100 · cos) of every image, computed here from scratch."""
    condition = resolve_condition("color")
    _, embeddings = collection.features(None)
    prompts = collection.encoder.encode_texts([condition.clay_prompt(value) for value in values])
    cosines = unit_rows(embeddings.astype(np.float64), "i") @ unit_rows(prompts.astype(np.float64), "p").T
    logits = LOGIT_SCALE * cosines
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return [values[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1)


def test_label_is_the_nearest_value_prompt_with_its_softmax_probability(collection: Collection) -> None:
    labelling = label_collection(collection, resolve_condition("color"), VALUES)
    expected, confidence = _reference(collection, VALUES)
    assert labelling.condition == "color" and labelling.values == VALUES
    assert [label.path for label in labelling.labels] == collection.features(None)[0]
    assert [label.value for label in labelling.labels] == expected
    np.testing.assert_allclose([label.confidence for label in labelling.labels], confidence, rtol=1e-6)
    assert sum(labelling.counts().values()) == 8 and list(labelling.counts()) == VALUES
    assert not labelling.refined


def test_label_defaults_to_the_condition_vocabulary(collection: Collection) -> None:
    condition = resolve_condition("color")
    labelling = label_collection(collection, condition)
    assert labelling.values == list(condition.values)
    assert {label.value for label in labelling.labels} <= set(condition.values)


def test_comparative_refines_the_most_doubtful_pairs(collection: Collection) -> None:
    condition = resolve_condition("color")
    plain = label_collection(collection, condition, VALUES)
    refined = label_collection(collection, condition, VALUES, comparative=True)
    assert 1 <= len(refined.refined) <= 3
    assert all(first in VALUES and second in VALUES for first, second in refined.refined)
    assert len(refined.sentences) == 2 * len(refined.refined)
    assert all(sentence.startswith("The first image shows") for sentence in refined.sentences)
    changed = [a.confidence != b.confidence for a, b in zip(plain.labels, refined.labels, strict=True)]
    assert any(changed)


@pytest.mark.parametrize(
    ("values", "error", "words"),
    [
        (["red"], InvalidInputError, r"values.txt holds only one value \('red'\)"),
        (["red", " RED "], InvalidInputError, "only one value"),
        (["", "  "], EmptyConditionError, "has no values"),
    ],
)
def test_label_needs_two_values(collection: Collection, values: list[str], error: type, words: str) -> None:
    with pytest.raises(error, match=words) as raised:
        label_collection(collection, resolve_condition("color"), values, where="values.txt")
    assert "\n" not in str(raised.value)


def test_label_refuses_bare_prompt_embeddings(collection: Collection) -> None:
    embedded = EmbeddedCondition("mine", np.eye(16, dtype=np.float32)[:4])
    with pytest.raises(InvalidInputError, match="value phrases"):
        label_collection(collection, embedded)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["clay", "crl"])
def test_clusters_are_named_after_the_nearest_value_in_their_space(
    collection: Collection, method: str
) -> None:
    condition = resolve_condition("color")
    clusters = cluster_collection(collection, condition, 2, method=method)
    _, features = collection.features(condition, method=method)
    values, value_features = collection.value_features(condition, method=method)
    assert values == list(condition.values) and value_features.shape[0] == len(values)
    prompts = unit_rows(value_features.astype(np.float64), "values")
    for cluster in range(2):
        mean = features[clusters.labels == cluster].astype(np.float64).mean(axis=0)
        expected = values[int(np.argmax(prompts @ (mean / np.linalg.norm(mean))))]
        assert clusters.name(cluster) == expected and expected in condition.values


def test_clusters_of_bare_prompt_embeddings_have_no_names(collection: Collection) -> None:
    rng = np.random.default_rng(0)
    embedded = EmbeddedCondition("mine", rng.normal(size=(20, 16)).astype(np.float32))
    clusters = cluster_collection(collection, embedded, 2, method="crl")
    assert clusters.names == [] and clusters.name(0) == ""
