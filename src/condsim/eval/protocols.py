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

Methods (`METHODS`): each maps (queries, database, condition texts) to a (q, N) score matrix.
The text baselines need a text per query for image-to-image retrieval: the query is described by its
best-matching CLAY prompt of the condition, t*(q) = argmax_j cos(v_q, t_j) (no label is used), then

* ``text``: database ranked by cos(t*(q), v_d) (the query image itself is not used further);
* ``image+text``: GeneCIS's composed query normalize(v̂_q + t̂*(q)), cosine with the database;
* ``crl-fusion``: CRL's GeneCIS score S = Ŝ_text + 10·Ŝ_crl with S_text = cos(t*(q), v_d).

``rerank`` re-ranks CLAY's top-K by neighbourhood consistency in the CLAY space (the GA-CLIP
reconstruction, methods.md §3.1) and keeps CLAY's order below K; ``steer`` steers the plain query
towards its condition value, q' = normalize(q + β·δ) with δ = normalize(mean of t*(q)'s nearest
prompts − mean of all the condition's prompts), then ranks by plain cosine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from condsim.data.datasets import EmbeddedDataset
from condsim.errors import InvalidInputError
from condsim.eval.metrics import (
    clustering_scores,
    mean_average_precision,
    relevance_matrix,
    spearman,
)
from condsim.methods import (
    ClaySpace,
    CrlSpace,
    difference_correct,
    genecis_fusion,
    image_similarity,
    image_text_similarity,
    neighbourhood_rerank,
    normalized_mean,
    rank_by_attribute,
    steer_query,
    text_similarity,
    top_k,
)

#: CLAY's subspace rank (methods.md §1.2, all experiments)
CLAY_K = 50
#: re-rank depth, neighbourhood size and weight of the neighbourhood score (GA-CLIP reconstruction)
RERANK_DEPTH = 50
RERANK_NEIGHBOURS = 10
RERANK_WEIGHT = 0.5
#: steering step and the number of nearest prompts forming the positive set
STEER_BETA = 0.5
STEER_POSITIVES = 3


@dataclass(frozen=True)
class ConditionTexts:
    """One condition's prompt embeddings: CLAY wording ("a photo of a red object") and CRL wording."""

    name: str
    clay: np.ndarray
    crl: np.ndarray


ScoreFunction = Callable[[np.ndarray, np.ndarray, ConditionTexts], np.ndarray]


def query_database_split(n: int, seed: int = 0, query_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Seeded query : database = 1 : 9 split of range(n) (CLAY §1.3); sorted index arrays."""
    if n < 2:
        raise InvalidInputError(f"a split needs at least 2 items, got {n}")
    if not 0.0 < query_fraction < 1.0:
        raise InvalidInputError(f"query_fraction must be in (0, 1), got {query_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_queries = min(max(1, round(n * query_fraction)), n - 1)
    return np.sort(order[:n_queries]), np.sort(order[n_queries:])


def _best_prompts(queries: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """t*(q): each query's best-matching prompt (the text baselines' description of the query)."""
    return np.asarray(prompts[np.argmax(queries @ prompts.T, axis=1)])


def _clay(alignment: str = "householder", manifold: bool = True) -> ScoreFunction:
    def score(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
        space = ClaySpace(k=CLAY_K, alignment=alignment, manifold=manifold)  # type: ignore[arg-type]
        space.fit(texts.clay, image_mean=normalized_mean(database))
        return space.similarity(queries, database)

    return score


def _plain(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    return image_similarity(queries, database)


def _text(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    return text_similarity(_best_prompts(queries, texts.clay), database)


def _image_text(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    return image_text_similarity(queries, _best_prompts(queries, texts.clay), database)


def _crl(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    return CrlSpace("row").fit(texts.crl).similarity(queries, database)


def _crl_fusion(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    return genecis_fusion(queries, _best_prompts(queries, texts.clay), database, texts.crl)


def neighbourhood_rerank_scores(
    query_z: np.ndarray, database_z: np.ndarray, depth: int, n_neighbors: int, weight: float
) -> np.ndarray:
    """Full (q, N) scores: the top-`depth` re-ranked by `condsim.methods.neighbourhood_rerank`
    (methods.md §3.1), then the first-stage order below them (cosines lie in [-1, 1], so shifting
    them by −3 puts every non-re-ranked item after the re-ranked ones)."""
    scores = query_z @ database_z.T
    first_scores, first_ids = top_k(scores, depth)
    _, reranked_ids = neighbourhood_rerank(
        query_z, database_z, first_scores, first_ids, n_neighbors=n_neighbors, weight=weight
    )
    final = scores - 3.0
    rows = np.arange(query_z.shape[0])[:, None]
    final[rows, reranked_ids] = np.arange(depth, 0, -1, dtype=np.float32)[None, :]
    return np.asarray(final)


def _rerank(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    space = ClaySpace(k=CLAY_K).fit(texts.clay, image_mean=normalized_mean(database))
    depth = min(RERANK_DEPTH, database.shape[0])
    neighbours = min(RERANK_NEIGHBOURS, database.shape[0] - 1)
    return neighbourhood_rerank_scores(
        space.transform(queries), space.transform(database), depth, neighbours, RERANK_WEIGHT
    )


def _steer(queries: np.ndarray, database: np.ndarray, texts: ConditionTexts) -> np.ndarray:
    prompts = texts.clay
    positives_per_query = np.argsort(-(queries @ prompts.T), axis=1, kind="stable")[:, :STEER_POSITIVES]
    steered = np.vstack([
        steer_query(query[None, :], prompts[positives], prompts, beta=STEER_BETA)
        for query, positives in zip(queries, positives_per_query, strict=True)
    ])  # fmt: skip
    return image_similarity(steered, database)


#: retrieval methods, in report order (results.json keys)
METHODS: dict[str, ScoreFunction] = {
    "plain": _plain,
    "text": _text,
    "image+text": _image_text,
    "crl": _crl,
    "crl-fusion": _crl_fusion,
    "clay": _clay("householder"),
    "clay-rotation": _clay("rotation"),
    "clay-euclidean": _clay(manifold=False),
    "rerank": _rerank,
    "steer": _steer,
}


def retrieval_map(
    dataset: EmbeddedDataset,
    condition: str,
    texts: ConditionTexts,
    method: ScoreFunction,
    *,
    split_seed: int = 0,
) -> float:
    """mAP (percent) of `method` for `condition` under the 1 : 9 split; nested conditions per parent."""
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
    scores = []
    for group_queries, group_database in groups:
        if group_queries.size == 0 or group_database.size < 2:
            continue
        similarity = method(dataset.embeddings[group_queries], dataset.embeddings[group_database], texts)
        relevance = relevance_matrix(labels[group_queries], labels[group_database])
        if relevance.any():
            scores.append(mean_average_precision(similarity, relevance))
    if not scores:
        raise InvalidInputError(f"{dataset.name}/{condition}: no query has a relevant database item")
    return 100.0 * float(np.mean(scores))


def multi_condition_map(
    dataset: EmbeddedDataset,
    conditions: Sequence[str],
    texts: Sequence[ConditionTexts],
    *,
    split_seed: int = 0,
) -> dict[str, float]:
    """mAP (percent) where a database item is relevant iff it matches the query on every condition.

    Methods: plain; CRL on the stacked prompt sets; CLAY "stacked" (the paper: one subspace from the
    row-stacked prompts) and "weighted" (one subspace per condition, equal weights; our extension);
    and single-condition CLAY on each condition alone, for reference.
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
    stacked_crl = np.vstack([t.crl for t in texts])
    record("crl", CrlSpace("row").fit(stacked_crl).similarity(query_embeddings, database_embeddings))
    for combine in ("stack", "weighted"):
        space = ClaySpace(k=CLAY_K, combine=combine)
        space.fit([t.clay for t in texts], image_mean=image_mean)
        record(f"clay-{'stacked' if combine == 'stack' else 'weighted'}",
               space.similarity(query_embeddings, database_embeddings))  # fmt: skip
    for condition, condition_texts in zip(conditions, texts, strict=True):
        space = ClaySpace(k=CLAY_K).fit(condition_texts.clay, image_mean=image_mean)
        record(f"clay-{condition}-only", space.similarity(query_embeddings, database_embeddings))
    return results


def _features(dataset: EmbeddedDataset, texts: ConditionTexts, method: str, crl_normalize: str) -> np.ndarray:
    if method == "plain":
        return dataset.embeddings
    if method == "crl":
        return CrlSpace(crl_normalize).fit(texts.crl).transform(dataset.embeddings)  # type: ignore[arg-type]
    if method == "clay":
        space = ClaySpace(k=CLAY_K).fit(texts.clay, image_mean=normalized_mean(dataset.embeddings))
        return space.transform(dataset.embeddings)
    raise InvalidInputError(f"unknown feature method {method!r}; use plain, crl or clay")


#: methods compared by clustering and few-shot
FEATURE_METHODS: tuple[str, ...] = ("plain", "crl", "clay")


def clustering(
    dataset: EmbeddedDataset, condition: str, texts: ConditionTexts, method: str, *, seeds: int = 20
) -> dict[str, float]:
    """Mean NMI / ACC / ARI (percent) of k-means over `seeds` seeds (CRL Table 2 protocol)."""
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
    texts: ConditionTexts,
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
