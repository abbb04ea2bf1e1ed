"""The tasks over a whole collection besides search: cluster, classify (few-shot), label and rank.

Each task reads the store's per-condition features through `Collection.features` (the same cached
spaces `similar` scores in), runs one estimator, and returns plain dataclasses that the command line,
the HTTP service and Python callers render as they like:

* `cluster_collection`: k-means on CLAY's z (Eq. 5) or CRL's row-normalised R (CRL §2.3), each
  cluster named after the condition value whose prompt lies nearest its mean in the same space;
* `classify_collection`: a logistic-regression probe on a few labelled images, applied to all the
  others (CRL's few-shot protocol, §2.3: standardised R, or CLAY's z);
* `label_collection`: a zero-shot label per image, the condition value whose prompt is nearest to it
  (CLIP's zero-shot classifier), optionally refined by comparative prompting (PC-CLIP, methods.md
  §4.2) on the value pairs the images leave most in doubt;
* `rank_collection`: every image ordered along a comparative text direction e(more) − e(less)
  (PC-CLIP, methods.md §4.3), both ends returned.

User mistakes (too many clusters, one label only, fewer than two values to label with, an image
that is not in the store, k larger than the store) are `InvalidInputError`s whose message names the
problem and whose hint says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from condsim.conditions.condition import Condition, clean_values
from condsim.errors import InvalidInputError

if TYPE_CHECKING:
    from condsim.collection import Collection, EmbeddedCondition

#: CLIP's logit scale: zero-shot probabilities are softmax(100 · cos) over the values
LOGIT_SCALE = 100.0
#: value pairs that comparative prompting sharpens when labelling (PC-CLIP: the 3 most confused)
LABEL_COMPARATIVE_PAIRS = 3


def _check_count(value: int, name: str, example: int) -> int:
    """`value` as an int when it is a whole number >= 1 (bools refused), else an InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidInputError(
            f"{name}={value!r} must be a whole number >= 1", hint=f"e.g. {name}={example}"
        )
    return int(value)


# ------------------------------------------------------------------------------------------- cluster


@dataclass(frozen=True)
class ClusterResult:
    """k-means over a collection: the cluster of every image and its distance to that cluster's centre.

    `paths`, `labels` and `distances` are aligned, in store order. A cluster may be empty (k-means can
    leave one without members on degenerate features).
    """

    paths: list[str]
    labels: np.ndarray  # (N,) int64: the cluster of each image, 0 .. n_clusters - 1
    distances: np.ndarray  # (N,) float: distance of each image to its cluster's centre
    n_clusters: int
    #: per cluster, the condition value whose prompt is nearest its mean ("" for an empty cluster);
    #: empty when the condition came as bare prompt embeddings, which carry no value names
    names: list[str] = field(default_factory=list)

    def members(self, cluster: int) -> list[str]:
        """The paths in `cluster`, nearest to its centre first (ties keep store order)."""
        rows = np.flatnonzero(self.labels == cluster)
        rows = rows[np.argsort(self.distances[rows], kind="stable")]
        return [self.paths[row] for row in rows.tolist()]

    def name(self, cluster: int) -> str:
        """`cluster`'s value name, or "" when clusters are not named."""
        return self.names[cluster] if self.names else ""


def cluster_collection(
    collection: Collection,
    condition: str | Condition | EmbeddedCondition,
    n_clusters: int,
    *,
    method: str = "clay",
    seed: int = 0,
) -> ClusterResult:
    """k-means with `n_clusters` clusters on every image's representation under `condition`.

    `method="clay"` clusters CLAY's z (Eq. 5), `"crl"` CRL's row-normalised R (CRL §2.3); `seed` is
    k-means' random_state, so the same store, condition and seed give the same clusters.
    """
    from sklearn.cluster import KMeans

    n_clusters = _check_count(n_clusters, "n_clusters", 10)
    paths, features = collection.features(condition, method=method, crl_normalize="row")
    if n_clusters > len(paths):
        raise InvalidInputError(
            f"{n_clusters} clusters for {len(paths)} images: there cannot be more clusters than images",
            hint=f"ask for {len(paths)} clusters or fewer",
        )
    kmeans = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed).fit(features)
    labels = np.asarray(kmeans.labels_, dtype=np.int64)
    distances = kmeans.transform(features)[np.arange(len(paths)), labels]
    names: list[str] = []
    if isinstance(condition, Condition | str):
        values, value_features = collection.value_features(condition, method=method)
        names = _cluster_names(features, labels, n_clusters, values, value_features)
    return ClusterResult(paths, labels, np.asarray(distances, dtype=np.float64), n_clusters, names)


def _cluster_names(
    features: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    values: Sequence[str],
    value_features: np.ndarray,
) -> list[str]:
    """Per cluster, the value whose prompt (mapped into the clustering space) has the largest cosine
    with the normalised mean of the cluster's features; "" for an empty cluster."""
    from condsim.methods import unit_rows

    prompts = unit_rows(np.asarray(value_features, dtype=np.float64), "value prompts")
    names = []
    for cluster in range(n_clusters):
        members = features[labels == cluster]
        mean = np.asarray(members, dtype=np.float64).mean(axis=0) if len(members) else None
        if mean is None or float(np.linalg.norm(mean)) <= 1e-12:
            names.append("")
            continue
        names.append(values[int(np.argmax(prompts @ (mean / np.linalg.norm(mean))))])
    return names


# ------------------------------------------------------------------------------------------ classify


@dataclass(frozen=True)
class LabelledImage:
    """One labelled example: an image of the store (absolute path, or relative to the indexed folder)
    and its label. `origin` says where the example came from (e.g. "labels.csv line 3") so that an
    error about it can point there."""

    path: str
    label: str
    origin: str = ""


@dataclass(frozen=True)
class Prediction:
    """The predicted label of one unlabelled image and the classifier's probability for it."""

    path: str
    label: str
    confidence: float


@dataclass(frozen=True)
class Classification:
    """Few-shot classification of a collection: a prediction for every image that was not labelled.

    `labelled` counts the labelled images per label (after duplicates of one image were merged, the
    last label winning); `labels` are the classes, sorted.
    """

    predictions: list[Prediction]
    labelled: dict[str, int]

    @property
    def labels(self) -> list[str]:
        return sorted(self.labelled)

    def predicted(self) -> dict[str, int]:
        """How many images were predicted with each label (every class present, possibly 0)."""
        counts = dict.fromkeys(self.labels, 0)
        for prediction in self.predictions:
            counts[prediction.label] = counts.get(prediction.label, 0) + 1
        return counts


def classify_collection(
    collection: Collection,
    examples: Sequence[LabelledImage] | Mapping[str, str],
    condition: str | Condition | EmbeddedCondition,
    *,
    method: str = "crl",
) -> Classification:
    """Fit a logistic regression on the labelled `examples` and predict every other image of the store.

    Features are the image representations under `condition`: CRL's standardised R (`"crl"`, the
    few-shot protocol of CRL §2.3) or CLAY's z (`"clay"`, Eq. 5). `examples` are `LabelledImage`s or a
    mapping path -> label; they need at least two labels and must leave some image unlabelled.
    """
    from sklearn.linear_model import LogisticRegression

    labelled_images = as_labelled_images(examples)
    paths, features = collection.features(condition, method=method, crl_normalize="fewshot")
    label_of_row = labelled_rows(collection, labelled_images, paths)
    labelled = {label: 0 for label in sorted(set(label_of_row.values()))}
    for label in label_of_row.values():
        labelled[label] += 1
    if len(labelled) < 2:
        raise InvalidInputError(
            f"the labelled images give only one label ({next(iter(labelled))!r})",
            hint="label examples of at least two classes",
        )
    train = np.fromiter(label_of_row, dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(paths)), train)
    if rest.size == 0:
        raise InvalidInputError(
            "every image in the store is labelled: nothing to predict", hint="label only a few images"
        )
    classifier = LogisticRegression(max_iter=1000).fit(
        features[train], [label_of_row[row] for row in train.tolist()]
    )
    probabilities = classifier.predict_proba(features[rest])
    predicted = classifier.classes_[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    predictions = [
        Prediction(paths[row], str(label), float(probability))
        for row, label, probability in zip(rest.tolist(), predicted, confidence, strict=True)
    ]
    return Classification(predictions, labelled)


# --------------------------------------------------------------------------------------------- label


@dataclass(frozen=True)
class ImageLabel:
    """The zero-shot label of one image: the best value and its probability softmax(100 · cos)."""

    path: str
    value: str
    confidence: float


@dataclass(frozen=True)
class Labelling:
    """A zero-shot label for every image of a collection (store order), under one condition.

    `values` are the candidate values in the order given; `refined` the value pairs comparative
    prompting sharpened (empty without it) and `sentences` their difference texts.
    """

    condition: str
    values: list[str]
    labels: list[ImageLabel]
    refined: list[tuple[str, str]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many images got each value (every value present, possibly 0), in `values` order."""
        counts = dict.fromkeys(self.values, 0)
        for label in self.labels:
            counts[label.value] += 1
        return counts


def label_values(
    condition: Condition, values: Sequence[str] | None = None, *, where: str = "values"
) -> list[str]:
    """The values to label with: `values` (cleaned: stripped, case-insensitive duplicates dropped) or
    the condition's vocabulary; fewer than two is an `InvalidInputError` (one value labels nothing)."""
    cleaned = list(clean_values(values if values is not None else condition.values, where=where))
    if len(cleaned) < 2:
        raise InvalidInputError(
            f"{where} holds only one value ({cleaned[0]!r}): a label needs at least two to choose from",
            hint="list two or more values, one per line (e.g. red, green, blue)",
        )
    return cleaned


def label_collection(
    collection: Collection,
    condition: str | Condition,
    values: Sequence[str] | None = None,
    *,
    comparative: bool = False,
    where: str = "values",
) -> Labelling:
    """Label every image with the value of `condition` whose CLAY-worded prompt ("a photo of a red
    object") is nearest to it in the model's own space (zero-shot: nothing is fitted), among
    `values` (default: the condition's vocabulary); `where` names their source in errors.

    With `comparative`, PC-CLIP's comparative prompting (methods.md §4.2) refines the prompts of the
    `LABEL_COMPARATIVE_PAIRS` value pairs most often ranked first and second by the same image (the
    pairs the collection leaves most in doubt; no labelled images are needed to pick them), then
    labels again with the refined prompts.
    """
    from condsim.conditions.rewording import difference_sentence
    from condsim.methods import comparative_class_prompts, most_confused_pairs, unit_rows

    if isinstance(condition, str):
        from condsim.conditions import resolve_condition

        condition = resolve_condition(condition)
    if not isinstance(condition, Condition):
        raise InvalidInputError(
            "labelling needs a condition with value phrases, not bare prompt embeddings",
            hint="pass a condition name or a Condition (e.g. 'color')",
        )
    candidates = label_values(condition, values, where=where)
    paths, embeddings = collection.features(None)
    images = unit_rows(np.asarray(embeddings, dtype=np.float64), "image embeddings")
    encoder = collection.encoder
    prompts = unit_rows(
        np.asarray(encoder.encode_texts([condition.clay_prompt(value) for value in candidates]), np.float64),
        "value prompts",
    )
    cosines = images @ prompts.T
    refined: list[tuple[str, str]] = []
    sentences: list[str] = []
    if comparative:
        order = np.argsort(-cosines, axis=1, kind="stable")
        picked = most_confused_pairs(order[:, 0], order[:, 1], len(candidates), LABEL_COMPARATIVE_PAIRS)
        directed = [(a, b) for first, second in picked for a, b in ((first, second), (second, first))]
        sentences = [difference_sentence(condition, candidates[a], candidates[b]) for a, b in directed]
        if directed:
            updated = comparative_class_prompts(prompts, directed, encoder.encode_texts(sentences))
            cosines = images @ np.asarray(updated, dtype=np.float64).T
        refined = [(candidates[a], candidates[b]) for a, b in picked]
    logits = LOGIT_SCALE * (cosines - cosines.max(axis=1, keepdims=True))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    labels = [
        ImageLabel(path, candidates[index], float(probabilities[row, index]))
        for row, (path, index) in enumerate(zip(paths, best.tolist(), strict=True))
    ]
    return Labelling(condition.name, candidates, labels, refined, sentences)


# ---------------------------------------------------------------------------------------------- rank


@dataclass(frozen=True)
class RankedImage:
    """An image and its projection on the ranking direction, ⟨normalize(e(d)), v̂⟩."""

    path: str
    score: float


@dataclass(frozen=True)
class Ranking:
    """Both ends of a collection ordered along a text direction.

    `direction` is (more, less) for e(more) − e(less), or (text,) for one difference text e(d);
    `top` holds the k images with the largest projection (largest first), `bottom` the k with the
    smallest (smallest first).
    """

    direction: tuple[str, ...]
    top: list[RankedImage]
    bottom: list[RankedImage]


def rank_collection(collection: Collection, more: str, less: str | None = None, *, k: int = 10) -> Ranking:
    """Order every image along e(more) − e(less) (or along e(more) alone when `less` is None) and return
    the k images at each end (PC-CLIP's comparative direction, methods.md §4.3)."""
    from condsim.methods.comparative import rank_by_attribute

    k = _check_count(k, "k", 10)
    sides = [more.strip(), *([less.strip()] if less is not None else [])]
    if not all(sides):
        raise InvalidInputError(
            "a ranking direction needs non-empty texts", hint='e.g. more="larger", less="smaller"'
        )
    if len(sides) == 2 and sides[0].casefold() == sides[1].casefold():
        raise InvalidInputError(
            f"both ends of the direction are the same text ({sides[0]!r})", hint='e.g. "larger" vs "smaller"'
        )
    paths, embeddings = collection.features(None)
    if k > len(paths):
        raise InvalidInputError(
            f"k={k} is more than the {len(paths)} images in the store",
            hint=f"ask for {len(paths)} images or fewer at each end",
        )
    texts = collection.encoder.encode_texts(sides)
    direction = texts[0] - texts[1] if len(sides) == 2 else texts[0]
    order, scores = rank_by_attribute(embeddings, direction)
    top = [RankedImage(paths[row], float(scores[row])) for row in order[:k].tolist()]
    bottom = [RankedImage(paths[row], float(scores[row])) for row in order[::-1][:k].tolist()]
    return Ranking(tuple(sides), top, bottom)


def as_labelled_images(examples: Sequence[LabelledImage] | Mapping[str, str]) -> list[LabelledImage]:
    """`LabelledImage`s, or a mapping path -> label, as a non-empty list of `LabelledImage`s."""
    labelled_images = (
        [LabelledImage(path, label) for path, label in examples.items()]
        if isinstance(examples, Mapping)
        else list(examples)
    )
    if not labelled_images:
        raise InvalidInputError("no labelled images were given", hint="label a few images of each class")
    return labelled_images


def labelled_rows(
    collection: Collection, examples: Sequence[LabelledImage], paths: Sequence[str]
) -> dict[int, str]:
    """Position in `paths` (a `features` row order) -> label, for each labelled example; an example
    that is not in the store is a one-line error naming where it came from."""
    position = {path: index for index, path in enumerate(paths)}
    rows: dict[int, str] = {}
    for example in examples:
        item = collection.find(example.path)
        if item is None or collection.locate(item) not in position:
            where = f"{example.origin}: " if example.origin else ""
            raise InvalidInputError(
                f"{where}{example.path} is not in the store",
                hint="label images of the indexed folder (absolute paths or relative to it)",
            )
        rows[position[collection.locate(item)]] = example.label
    return rows
