"""Protocols: splits, nested mAP, multi-condition, clustering, few-shot, PC-CLIP difference / ranking."""

from __future__ import annotations

import numpy as np
import pytest

from condsim.errors import InvalidInputError
from condsim.eval import protocols, scorers
from condsim.eval.embed import EmbeddedDataset
from condsim.eval.metrics import mean_average_precision, relevance_matrix
from condsim.eval.protocols import Comparative
from condsim.eval.scorers import LabelledCondition
from condsim.methods import EmbeddedCondition


def planted_dataset(n: int = 400, seed: int = 0) -> tuple[EmbeddedDataset, LabelledCondition]:
    """A strong attribute "b" and a weak attribute "a"; the "a" prompts live in a's subspace."""
    rng = np.random.default_rng(seed)
    dim = 64
    a, b, parent = rng.integers(4, size=n), rng.integers(3, size=n), rng.integers(2, size=n)
    weak_axes, strong_axes = np.eye(dim)[:4], np.eye(dim)[8:11]
    embeddings = 0.6 * weak_axes[a] + 2.0 * strong_axes[b] + 0.3 * rng.normal(size=(n, dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    # prompt noise stays in a few "text-only" directions, so the prompt subspace is low-rank
    text_noise = 0.1 * rng.normal(size=(60, 4)) @ np.eye(dim)[40:44]
    prompts = np.repeat(weak_axes, 15, axis=0) + text_noise + 0.5 * np.eye(dim)[20]
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    dataset = EmbeddedDataset(
        name="planted",
        embeddings=embeddings.astype(np.float32),
        labels={"a": a, "b": b, "parent": parent},
        classes={"a": tuple("0123"), "b": tuple("012"), "parent": ("x", "y")},
        model_id="planted",
        attributes={"a": a.astype(float)},
        nested_in={"a": "parent"},
    )
    class_prompts = weak_axes + 0.5 * np.eye(dim)[20]
    class_prompts /= np.linalg.norm(class_prompts, axis=1, keepdims=True)
    texts = LabelledCondition(
        "a", prompts.astype(np.float32), prompts.astype(np.float32), classes=class_prompts.astype(np.float32)
    )
    return dataset, texts


def test_split_is_one_to_nine_disjoint_and_seeded() -> None:
    queries, database = protocols.query_database_split(1000, seed=3)
    assert queries.size == 100 and database.size == 900
    assert np.intersect1d(queries, database).size == 0
    assert np.array_equal(np.sort(np.concatenate([queries, database])), np.arange(1000))
    again, _ = protocols.query_database_split(1000, seed=3)
    other, _ = protocols.query_database_split(1000, seed=4)
    assert np.array_equal(queries, again) and not np.array_equal(queries, other)
    with pytest.raises(InvalidInputError):
        protocols.query_database_split(1)


def test_nested_condition_is_scored_within_each_parent() -> None:
    dataset, texts = planted_dataset()
    score = protocols.retrieval_map(dataset, "a", texts, scorers.METHODS["plain"])
    queries, database = protocols.query_database_split(len(dataset))
    expected = []
    for value in (0, 1):
        q = queries[dataset.labels["parent"][queries] == value]
        d = database[dataset.labels["parent"][database] == value]
        similarity = dataset.embeddings[q].astype(np.float64) @ dataset.embeddings[d].astype(np.float64).T
        expected.append(
            mean_average_precision(
                similarity, relevance_matrix(dataset.labels["a"][q], dataset.labels["a"][d])
            )
        )
    assert score == pytest.approx(100 * np.mean(expected), abs=1e-3)


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_condition_aware_methods_beat_plain_on_the_weak_attribute() -> None:
    dataset, texts = planted_dataset()
    dataset.nested_in.clear()
    scores = {
        name: protocols.retrieval_map(dataset, "a", texts, method) for name, method in scorers.METHODS.items()
    }
    assert set(scores) == {"plain", "zero-shot-match", "text", "image+text", "crl", "crl-fusion", "clay",
                           "clay-rotation", "clay-euclidean", "rerank", "steer"}  # fmt: skip
    assert all(0.0 <= value <= 100.0 for value in scores.values())
    for method in ("zero-shot-match", "crl", "clay", "clay-rotation", "rerank"):
        assert scores[method] > scores["plain"] + 20, (method, scores)


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_multi_condition_methods() -> None:
    dataset, texts = planted_dataset()
    scores = protocols.multi_condition_map(dataset, ["a", "b"], [texts, texts])
    assert {
        "plain",
        "zero-shot-match",
        "crl",
        "clay-stacked",
        "clay-mean",
        "clay-a-only",
        "clay-b-only",
    } <= set(scores)
    assert all(0.0 < value <= 100.0 for value in scores.values())
    plain_texts = EmbeddedCondition("a", texts.clay)  # without class prompts there is no reference
    assert "zero-shot-match" not in protocols.multi_condition_map(dataset, ["a", "b"], [plain_texts, texts])


@pytest.mark.filterwarnings("ignore::condsim.errors.CondsimWarning")
def test_retrieval_scores_give_map_and_top_k_from_one_ranking() -> None:
    dataset, texts = planted_dataset()
    dataset.nested_in.clear()
    scores = protocols.retrieval_scores(dataset, "a", texts, scorers.METHODS["clay"], split_seed=1)
    assert set(scores) == {"map", "precision@10", "ndcg@10"}
    assert all(0.0 <= value <= 100.0 for value in scores.values())
    assert scores["map"] == protocols.retrieval_map(
        dataset, "a", texts, scorers.METHODS["clay"], split_seed=1
    )
    other = protocols.retrieval_scores(dataset, "a", texts, scorers.METHODS["clay"], split_seed=2)
    assert other != scores  # another split seed, another sample of queries


def test_zero_shot_reference_reads_the_class_prompts() -> None:
    dataset, texts = planted_dataset()
    predictions = protocols.zero_shot_predictions(dataset, texts)
    accuracy = protocols.zero_shot_accuracy(dataset, "a", texts)
    assert accuracy == pytest.approx(100 * np.mean(predictions == dataset.labels["a"]))
    assert accuracy > 60.0  # chance is 25
    clusters = protocols.clustering(dataset, "a", texts, "zero-shot-match")
    assert clusters["acc"] == pytest.approx(accuracy, abs=1e-9) or clusters["acc"] >= accuracy
    with pytest.raises(InvalidInputError, match="class prompts"):
        protocols.zero_shot_accuracy(dataset, "a", EmbeddedCondition("a", texts.clay))


def test_zero_shot_match_ranks_label_agreement_first_then_plain_cosine() -> None:
    classes = np.eye(3, dtype=np.float32)
    texts = LabelledCondition("c", classes, classes=classes)
    queries = np.array([[0.7, 0.65, 0.0]], dtype=np.float32)  # zero-shot class 0
    # database: two items of class 0 (the first closer by plain cosine), then one of class 1 that is
    # the closest of all by plain cosine
    database = np.array([[0.9, 0.5, 0.0], [0.55, 0.0, 0.5], [0.6, 0.7, 0.0]], dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    database /= np.linalg.norm(database, axis=1, keepdims=True)
    scores = scorers.METHODS["zero-shot-match"](queries, database, texts)
    assert np.argsort(-scores[0]).tolist() == [0, 1, 2]
    plain = queries @ database.T
    assert np.argmax(plain[0]) == 2  # plain cosine alone would put the other class first


def test_clustering_and_fewshot_follow_the_weak_attribute_with_crl() -> None:
    dataset, texts = planted_dataset()
    plain = protocols.clustering(dataset, "a", texts, "plain", seeds=2)
    crl = protocols.clustering(dataset, "a", texts, "crl", seeds=2)
    assert set(crl) == {"nmi", "acc", "ari"}
    assert crl["acc"] > plain["acc"]
    shots = protocols.fewshot(dataset, "a", texts, "crl", shots=(1, 5), splits=3)
    assert set(shots) == {"1", "5"} and shots["5"] > 50.0


def test_fewshot_split_takes_shots_per_class() -> None:
    labels = np.repeat(np.arange(3), 7)
    train, test = protocols.fewshot_split(labels, 2, seed=0)
    assert np.bincount(labels[train]).tolist() == [2, 2, 2]
    assert np.intersect1d(train, test).size == 0 and train.size + test.size == labels.size


def test_difference_and_ranking_on_a_planted_axis() -> None:
    rng = np.random.default_rng(0)
    n, dim = 150, 16
    size = rng.uniform(0, 1, n)
    axis = np.eye(dim)[0]
    embeddings = np.outer(size, axis) + 0.01 * rng.normal(size=(n, dim)) + np.eye(dim)[1]
    dataset = EmbeddedDataset("axis", embeddings.astype(np.float32), {"c": np.zeros(n, int)}, {"c": ("x",)},
                              "planted", attributes={"size": size})  # fmt: skip
    comparative = Comparative("size", more="bigger", less="smaller")
    more, less = axis + np.eye(dim)[2], -axis + np.eye(dim)[2]
    accuracy = protocols.difference_accuracy(dataset, comparative, more, less, seeds=2, images_per_seed=50)
    assert accuracy["text"] > 95.0 and accuracy["contrast"] > 95.0
    ranking = protocols.ranking_spearman(dataset, comparative, more, less)
    assert ranking["contrast"] > 0.99


def test_fast_neighbourhood_rerank_equals_the_methods_reference() -> None:
    from condsim.methods import neighbourhood_rerank, top_k

    rng = np.random.default_rng(5)
    queries = rng.normal(size=(6, 12))
    database = rng.normal(size=(80, 12))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    database /= np.linalg.norm(database, axis=1, keepdims=True)
    fast = scorers.neighbourhood_rerank_scores(queries, database, depth=15, n_neighbors=5, weight=0.5)
    first_scores, first_ids = top_k(queries @ database.T, 15)
    _, reference_ids = neighbourhood_rerank(
        queries, database, first_scores, first_ids, n_neighbors=5, weight=0.5
    )
    fast_top = np.argsort(-fast, axis=1, kind="stable")[:, :15]
    np.testing.assert_array_equal(fast_top, reference_ids)
    # below the re-ranked top-K, the first-stage order is kept
    rest = np.argsort(-fast, axis=1, kind="stable")[:, 15:]
    first_rest = np.argsort(-(queries @ database.T), axis=1, kind="stable")[:, 15:]
    np.testing.assert_array_equal(rest, first_rest)
