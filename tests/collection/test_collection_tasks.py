"""cluster_collection / classify_collection / rank_collection: results against references computed
from the collection's own features, determinism, and every user mistake as an InvalidInputError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from condsim.collection import Collection, index_folder
from condsim.collection.tasks import (
    LabelledImage,
    classify_collection,
    cluster_collection,
    rank_collection,
)
from condsim.errors import InvalidInputError

REDS = [(220, 30, 30), (200, 50, 40), (240, 20, 60), (190, 40, 20), (230, 60, 50), (210, 10, 10)]
BLUES = [(30, 40, 220), (50, 60, 200), (20, 30, 240), (40, 20, 190), (60, 50, 230), (10, 10, 210)]


@pytest.fixture
def collection(tmp_path: Path, make_encoder: Any, make_image: Any) -> Iterator[Collection]:
    """12 images, six red ones (red_*.png) and six blue ones (blue_*.png), indexed with the fake model."""
    folder = tmp_path / "photos"
    for index, (red, blue) in enumerate(zip(REDS, BLUES, strict=True)):
        make_image(folder / f"red_{index}.png", red, seed=index)
        make_image(folder / f"blue_{index}.png", blue, seed=100 + index)
    encoder = make_encoder()
    index_folder(folder, tmp_path / "store", encoder, show_progress=False)
    with Collection.open(tmp_path / "store", encoder) as opened:
        yield opened


# ------------------------------------------------------------------------------------------- cluster


@pytest.mark.parametrize("method", ["clay", "crl"])
def test_cluster_matches_kmeans_on_the_collection_features(collection: Collection, method: str) -> None:
    clusters = cluster_collection(collection, "color", 3, method=method, seed=7)
    paths, features = collection.features("color", method=method, crl_normalize="row")
    reference = KMeans(n_clusters=3, n_init="auto", random_state=7).fit(features)
    assert clusters.paths == paths and clusters.n_clusters == 3
    np.testing.assert_array_equal(clusters.labels, reference.labels_)
    distances = np.linalg.norm(features - reference.cluster_centers_[reference.labels_], axis=1)
    np.testing.assert_allclose(clusters.distances, distances, rtol=1e-5, atol=1e-6)
    again = cluster_collection(collection, "color", 3, method=method, seed=7)
    np.testing.assert_array_equal(again.labels, clusters.labels)


def test_cluster_members_are_nearest_to_the_centre_first(collection: Collection) -> None:
    clusters = cluster_collection(collection, "color", 2)
    seen: list[str] = []
    for number in range(2):
        members = clusters.members(number)
        rows = [clusters.paths.index(path) for path in members]
        assert all(clusters.labels[row] == number for row in rows)
        assert list(clusters.distances[rows]) == sorted(clusters.distances[rows])
        seen += members
    assert sorted(seen) == sorted(clusters.paths)


def test_cluster_separates_red_from_blue(collection: Collection) -> None:
    clusters = cluster_collection(collection, "color", 2)
    groups: dict[str, set[int]] = {Path(path).name.split("_")[0]: set() for path in clusters.paths}
    for path, label in zip(clusters.paths, clusters.labels.tolist(), strict=True):
        groups[Path(path).name.split("_")[0]].add(label)
    assert groups["red"] != groups["blue"] and all(len(labels) == 1 for labels in groups.values())


@pytest.mark.parametrize("n_clusters", [0, -2, 13, True])
def test_cluster_refuses_a_bad_number_of_clusters(collection: Collection, n_clusters: Any) -> None:
    with pytest.raises(InvalidInputError) as raised:
        cluster_collection(collection, "color", n_clusters)
    assert raised.value.hint


def test_cluster_refuses_an_unknown_method(collection: Collection) -> None:
    with pytest.raises(InvalidInputError, match="magic"):
        cluster_collection(collection, "color", 2, method="magic")


# ------------------------------------------------------------------------------------------ classify


def _examples() -> list[LabelledImage]:
    """Two labelled images of each colour, by path relative to the indexed folder."""
    return [LabelledImage(f"{colour}_{index}.png", colour) for colour in ("red", "blue") for index in (0, 1)]


@pytest.mark.parametrize("method", ["crl", "clay"])
def test_classify_predicts_every_other_image_like_a_logistic_regression(
    collection: Collection, method: str
) -> None:
    classification = classify_collection(collection, _examples(), "color", method=method)
    paths, features = collection.features("color", method=method, crl_normalize="fewshot")
    names = [Path(path).name for path in paths]
    labelled = {f"{colour}_{index}.png": colour for colour in ("red", "blue") for index in (0, 1)}
    train = [names.index(name) for name in labelled]
    reference = LogisticRegression(max_iter=1000).fit(features[train], [labelled[names[i]] for i in train])
    rest = [i for i in range(len(paths)) if names[i] not in labelled]
    expected = reference.predict(features[rest])
    assert [p.path for p in classification.predictions] == [paths[i] for i in rest]
    assert [p.label for p in classification.predictions] == list(expected)
    np.testing.assert_allclose(
        [p.confidence for p in classification.predictions],
        reference.predict_proba(features[rest]).max(axis=1),
        rtol=1e-6,
    )
    assert classification.labelled == {"blue": 2, "red": 2} and classification.labels == ["blue", "red"]
    assert sum(classification.predicted().values()) == len(paths) - 4


def test_classify_gets_the_colours_right(collection: Collection) -> None:
    classification = classify_collection(collection, _examples(), "color", method="crl")
    assert all(Path(p.path).name.startswith(p.label) for p in classification.predictions)
    assert all(0.5 <= p.confidence <= 1.0 for p in classification.predictions)


def test_classify_accepts_a_mapping_and_merges_duplicates(collection: Collection) -> None:
    examples = {"red_0.png": "red", "blue_0.png": "blue", "red_1.png": "red"}
    classification = classify_collection(collection, examples, "color")
    assert classification.labelled == {"blue": 1, "red": 2}
    assert len(classification.predictions) == 12 - 3
    duplicated = [*_examples(), LabelledImage("red_0.png", "blue")]
    assert classify_collection(collection, duplicated, "color").labelled == {"blue": 3, "red": 1}


def test_classify_errors(collection: Collection, tmp_path: Path) -> None:
    stranger = LabelledImage(str(tmp_path / "elsewhere.png"), "red", origin="labels.csv line 3")
    with pytest.raises(InvalidInputError, match=r"labels.csv line 3: .*elsewhere.png is not in the store"):
        classify_collection(collection, [stranger, *_examples()], "color")
    with pytest.raises(InvalidInputError, match="only one label"):
        classify_collection(collection, {"red_0.png": "red", "red_1.png": "red"}, "color")
    everything = [
        LabelledImage(f"{colour}_{index}.png", colour) for colour in ("red", "blue") for index in range(6)
    ]
    with pytest.raises(InvalidInputError, match="nothing to predict"):
        classify_collection(collection, everything, "color")
    with pytest.raises(InvalidInputError, match="no labelled images"):
        classify_collection(collection, [], "color")


# ---------------------------------------------------------------------------------------------- rank


def test_rank_matches_the_projection_on_the_text_direction(collection: Collection) -> None:
    ranking = rank_collection(collection, "red", "blue", k=3)
    paths, embeddings = collection.features(None)
    texts = collection.encoder.encode_texts(["red", "blue"]).astype(np.float64)
    direction = (texts[0] - texts[1]) / np.linalg.norm(texts[0] - texts[1])
    scores = embeddings.astype(np.float64) @ direction
    assert ranking.direction == ("red", "blue")
    assert [image.path for image in ranking.top] == [paths[i] for i in np.argsort(-scores, kind="stable")[:3]]
    assert [image.path for image in ranking.bottom] == [
        paths[i] for i in np.argsort(scores, kind="stable")[:3]
    ]
    np.testing.assert_allclose([image.score for image in ranking.top], np.sort(scores)[::-1][:3], atol=1e-5)


def test_rank_along_one_text_and_both_ends_cover_the_store(collection: Collection) -> None:
    ranking = rank_collection(collection, " a red object ", k=12)
    assert ranking.direction == ("a red object",)
    assert [image.path for image in ranking.bottom] == [image.path for image in reversed(ranking.top)]
    scores = [image.score for image in ranking.top]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("more", "less", "k", "words"),
    [
        ("big", "BIG", 3, "same text"),
        ("big", " ", 3, "non-empty"),
        ("", None, 3, "non-empty"),
        ("big", "small", 13, "more than the 12 images"),
        ("big", "small", 0, "k=0"),
    ],
)
def test_rank_errors(collection: Collection, more: str, less: str | None, k: int, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        rank_collection(collection, more, less, k=k)
