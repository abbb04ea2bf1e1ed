"""The papers' evaluation protocols on embedded datasets, and the methods compared under them.

Retrieval (CLAY, methods.md §1.3): a seeded query : database = 1 : 9 split; every query ranks the
whole database; relevant = same class under the condition; mAP in percent. A condition nested in
another (sub-category in category) is scored within each parent class's database, and the per-parent
mAPs are averaged. Multi-condition: relevant iff every condition matches (§1.2).

Clustering (CRL §2.3): k-means with n_clusters = #classes, n_init="auto", random_state = 0..S-1,
mean NMI / ACC (Hungarian) / ARI over seeds, on all images.

Few-shot (CRL §2.3): for each split s, numpy seed s picks `shots` training images per class, the
rest is the test set; LogisticRegression(max_iter=1000); mean accuracy over splits.

Difference / ranking (PC-CLIP §4.3): `difference_accuracy` samples 100 images per seed, forms every
pair whose attribute differs, and counts a pair correct iff cos(e(d), normalize(v̂1 − v̂2)) > 0 for
the true difference text d; `ranking_spearman` sorts images by the projection onto a comparative
text direction and reports Spearman's ρ against the true attribute.

Top-k (beside mAP, from the same ranking): precision@10 and nDCG@10, mean over the queries.
Intervals: the same retrieval on several split seeds, summarised by `metrics.confidence_interval`.

Zero-shot (the reference): accuracy of CLIP's zero-shot classifier, argmax over one prompt per class
name (the condition's CLAY wording); as clusters, the zero-shot labels themselves.

The compared retrieval methods are in `condsim.eval.scorers` (`METHODS`); the feature methods of
clustering and few-shot are the registry's spaces (`FEATURE_METHODS`: plain, crl, clay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from condsim.errors import InvalidInputError
from condsim.eval.embed import EmbeddedDataset
from condsim.eval.metrics import (
    clustering_scores,
    mean_average_precision,
    ranking_metrics,
    relevance_matrix,
    spearman,
)
from condsim.eval.scorers import (
    CLAY_K,
    SPACE_OPTIONS,
    LabelledCondition,
    ScoreFunction,
    fitted_space,
    zero_shot_labels,
    zero_shot_match_multi,
)
from condsim.methods import FEATURE_METHODS as FEATURE_METHODS  # the feature methods, for `bench`
from condsim.methods import (
    ClaySpace,
    Combine,
    CrlSpace,
    EmbeddedCondition,
    check_method,
    difference_correct,
    image_similarity,
    normalized_mean,
    rank_by_attribute,
)
from condsim.methods.crl import CrlNormalize

#: the depth of the top-k metrics (precision@10, nDCG@10)
TOP_K = 10
#: clustering / zero-shot method name of the reference
ZERO_SHOT = "zero-shot-match"


def query_database_split(n: int, seed: int = 0, query_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Seeded query : database = 1 : 9 split of range(n) (CLAY §1.3); sorted index arrays."""
    if n < 2:
        raise InvalidInputError(f"a split needs at least 2 items, got {n}")
    if not 0.0 < query_fraction < 1.0:
        raise InvalidInputError(f"query_fraction must be in (0, 1), got {query_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_queries = min(max(1, round(n * query_fraction)), n - 1)
    return np.sort(order[:n_queries]), np.sort(order[n_queries:])


def retrieval_scores(
    dataset: EmbeddedDataset,
    condition: str,
    texts: EmbeddedCondition,
    method: ScoreFunction,
    *,
    split_seed: int = 0,
) -> dict[str, float]:
    """``map``, ``precision@10`` and ``ndcg@10`` (percent) of `method` for `condition` under the 1 : 9
    split `split_seed`, from one ranking; a nested condition is scored within each parent class and
    the per-parent means are averaged."""
    queries, database = query_database_split(len(dataset), split_seed)
    labels = dataset.labels[condition]
    parent = dataset.nested_in.get(condition)
    if parent is None:
        groups = [(queries, database)]
    else:
        parent_labels = dataset.labels[parent]
        groups = [
            (queries[parent_labels[queries] == value], database[parent_labels[database] == value])
            for value in np.unique(parent_labels)
        ]
    per_group: list[dict[str, float]] = []
    for group_queries, group_database in groups:
        if group_queries.size == 0 or group_database.size < 2:
            continue
        similarity = method(dataset.embeddings[group_queries], dataset.embeddings[group_database], texts)
        relevance = relevance_matrix(labels[group_queries], labels[group_database])
        if relevance.any():
            per_group.append(_summary(similarity, relevance))
    if not per_group:
        raise InvalidInputError(f"{dataset.name}/{condition}: no query has a relevant database item")
    return {key: float(np.mean([group[key] for group in per_group])) for key in per_group[0]}


def _summary(similarity: np.ndarray, relevance: np.ndarray) -> dict[str, float]:
    """Mean AP, precision@10 and nDCG@10 in percent over the queries with a relevant item."""
    metrics = ranking_metrics(similarity, relevance, TOP_K)
    return {
        "map": 100.0 * float(np.nanmean(metrics["ap"])),
        f"precision@{TOP_K}": 100.0 * float(np.nanmean(metrics["precision"])),
        f"ndcg@{TOP_K}": 100.0 * float(np.nanmean(metrics["ndcg"])),
    }


def retrieval_map(
    dataset: EmbeddedDataset,
    condition: str,
    texts: EmbeddedCondition,
    method: ScoreFunction,
    *,
    split_seed: int = 0,
) -> float:
    """mAP (percent) of `method` for `condition` under the 1 : 9 split; nested conditions per parent."""
    return retrieval_scores(dataset, condition, texts, method, split_seed=split_seed)["map"]


def multi_condition_map(
    dataset: EmbeddedDataset,
    conditions: Sequence[str],
    texts: Sequence[EmbeddedCondition],
    *,
    split_seed: int = 0,
) -> dict[str, float]:
    """mAP (percent) where a database item is relevant iff it matches the query on every condition.

    Methods: plain; zero-shot-match (when every condition has class prompts: ranked by the number
    of agreeing zero-shot labels); CRL on the stacked prompt sets; CLAY "stacked" (the paper: one
    subspace from the row-stacked prompt sets) and "mean" (one subspace per condition, the mean of
    the per-condition cosines; our extension); and single-condition CLAY on each condition alone.
    """
    queries, database = query_database_split(len(dataset), split_seed)
    labels = np.stack([dataset.labels[c] for c in conditions], axis=1)
    relevance = relevance_matrix(labels[queries], labels[database])
    query_embeddings, database_embeddings = dataset.embeddings[queries], dataset.embeddings[database]
    image_mean = normalized_mean(database_embeddings)
    results: dict[str, float] = {}

    def record(name: str, similarity: np.ndarray) -> None:
        results[name] = 100.0 * mean_average_precision(similarity, relevance)

    record("plain", image_similarity(query_embeddings, database_embeddings))
    labelled = [t for t in texts if isinstance(t, LabelledCondition) and t.classes is not None]
    if len(labelled) == len(texts):
        record(ZERO_SHOT, zero_shot_match_multi(query_embeddings, database_embeddings, labelled))
    stacked_crl = np.vstack([t.prompts_for("crl") for t in texts])
    record("crl", CrlSpace("row").fit(stacked_crl).similarity(query_embeddings, database_embeddings))
    combines: tuple[tuple[Combine, str], ...] = (("stack", "clay-stacked"), ("mean", "clay-mean"))
    for combine, name in combines:
        space = ClaySpace(k=CLAY_K, combine=combine)
        space.fit([t.clay for t in texts], image_mean=image_mean)
        record(name, space.similarity(query_embeddings, database_embeddings))
    for condition, condition_texts in zip(conditions, texts, strict=True):
        space = ClaySpace(k=CLAY_K).fit(condition_texts.clay, image_mean=image_mean)
        record(f"clay-{condition}-only", space.similarity(query_embeddings, database_embeddings))
    return results


def _features(
    dataset: EmbeddedDataset, texts: EmbeddedCondition, method: str, crl_normalize: CrlNormalize
) -> np.ndarray:
    """The dataset in the registered space `method` (`FEATURE_METHODS`: plain, crl, clay)."""
    check_method(method, FEATURE_METHODS)
    options = replace(SPACE_OPTIONS, crl_normalize=crl_normalize)
    return np.asarray(fitted_space(method, texts, dataset.embeddings, options).transform(dataset.embeddings))


def clustering(
    dataset: EmbeddedDataset, condition: str, texts: EmbeddedCondition, method: str, *, seeds: int = 20
) -> dict[str, float]:
    """Mean NMI / ACC / ARI (percent) of k-means over `seeds` seeds (CRL Table 2 protocol).

    ``method="zero-shot-match"`` scores the zero-shot labels as the clusters (no k-means, no seeds).
    """
    if method == ZERO_SHOT:
        return clustering_scores(dataset.labels[condition], zero_shot_predictions(dataset, texts))
    features = _features(dataset, texts, method, "row")
    labels = dataset.labels[condition]
    n_clusters = int(np.unique(labels).size)
    runs = [
        clustering_scores(
            labels, KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed).fit_predict(features)
        )
        for seed in range(seeds)
    ]
    return {metric: float(np.mean([run[metric] for run in runs])) for metric in ("nmi", "acc", "ari")}


def zero_shot_predictions(dataset: EmbeddedDataset, texts: EmbeddedCondition) -> np.ndarray:
    """(n,) zero-shot class index of every image from the condition's class-name prompts."""
    if not isinstance(texts, LabelledCondition):
        raise InvalidInputError(
            f"zero-shot needs the class prompts of {texts.name!r}", hint="pass a LabelledCondition"
        )
    return zero_shot_labels(dataset.embeddings, texts.class_embeddings())


def zero_shot_accuracy(dataset: EmbeddedDataset, condition: str, texts: EmbeddedCondition) -> float:
    """Accuracy (percent) of the zero-shot classifier on every image of `dataset` for `condition`."""
    return 100.0 * float(np.mean(zero_shot_predictions(dataset, texts) == dataset.labels[condition]))


def fewshot_split(labels: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`shots` training indices per class drawn with numpy seed `seed`; the rest is the test set."""
    rng = np.random.default_rng(seed)
    train = np.concatenate([
        rng.choice(np.flatnonzero(labels == value), size=shots, replace=False) for value in np.unique(labels)
    ])  # fmt: skip
    test = np.setdiff1d(np.arange(labels.size), train)
    return np.sort(train), test


def fewshot(
    dataset: EmbeddedDataset,
    condition: str,
    texts: EmbeddedCondition,
    method: str,
    *,
    shots: Sequence[int] = (1, 5, 10),
    splits: int = 20,
) -> dict[str, float]:
    """Mean test accuracy (percent) of LogisticRegression(max_iter=1000) per shot count (CRL Table 1).

    CRL's representation uses its "fewshot" standardisation (one global mean, per-row std).
    """
    features = _features(dataset, texts, method, "fewshot")
    labels = dataset.labels[condition]
    smallest = int(np.bincount(labels).min()) if labels.size else 0
    results: dict[str, float] = {}
    for shot in shots:
        if shot >= smallest:
            continue  # a class this small leaves nothing to test
        accuracies = []
        for seed in range(splits):
            train, test = fewshot_split(labels, shot, seed)
            model = LogisticRegression(max_iter=1000).fit(features[train], labels[train])
            accuracies.append(float(np.mean(model.predict(features[test]) == labels[test])))
        results[str(shot)] = 100.0 * float(np.mean(accuracies))
    return results


@dataclass(frozen=True)
class Comparative:
    """How to say that the first image has more / less of an attribute (PC-CLIP difference texts)."""

    attribute: str
    more: str
    less: str


def _pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(values.size, k=1)
    differ = values[first] != values[second]
    return first[differ], second[differ]


def difference_accuracy(
    dataset: EmbeddedDataset,
    comparative: Comparative,
    more_embedding: np.ndarray,
    less_embedding: np.ndarray,
    *,
    seeds: int = 5,
    images_per_seed: int = 100,
) -> dict[str, float]:
    """PC-CLIP difference classification (percent, chance 50).

    ``text``: the true difference text ("more" if the first image has more, else "less") and the
    test cos(e(d), v̂1 − v̂2) > 0, as PC-CLIP. ``contrast``: the same test along the symmetric
    direction e(more) − e(less) (sign flipped for "less" pairs), which cancels the text offset.
    """
    values = dataset.attributes[comparative.attribute]
    contrast = more_embedding - less_embedding
    text_scores: list[float] = []
    contrast_scores: list[float] = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(dataset), size=min(images_per_seed, len(dataset)), replace=False)
        first, second = _pairs(values[chosen])
        if first.size == 0:
            continue
        a, b = dataset.embeddings[chosen[first]], dataset.embeddings[chosen[second]]
        more = values[chosen[first]] > values[chosen[second]]
        texts = np.where(more[:, None], more_embedding[None, :], less_embedding[None, :])
        text_scores.append(float(np.mean(difference_correct(a, b, texts))))
        signed = np.where(more[:, None], contrast[None, :], -contrast[None, :])
        contrast_scores.append(float(np.mean(difference_correct(a, b, signed))))
    if not text_scores:
        raise InvalidInputError(f"{dataset.name}: no pair differs in {comparative.attribute!r}")
    return {"text": 100.0 * float(np.mean(text_scores)), "contrast": 100.0 * float(np.mean(contrast_scores))}


def ranking_spearman(
    dataset: EmbeddedDataset, comparative: Comparative, more_embedding: np.ndarray, less_embedding: np.ndarray
) -> dict[str, float]:
    """Spearman ρ between the true attribute and the projection onto e(more) (``text``) or onto
    e(more) − e(less) (``contrast``), over all images (methods.md §4.3: ranking = sorting by projection)."""
    truth = dataset.attributes[comparative.attribute]
    results = {}
    for name, direction in (("text", more_embedding), ("contrast", more_embedding - less_embedding)):
        _, scores = rank_by_attribute(dataset.embeddings, direction)
        results[name] = spearman(scores, truth)
    return results
