"""Zero-shot classification of a collection, optionally with PC-CLIP's comparative prompting.

Each class is the condition's CLAY wording of its name ("a photo of a red object"); an image gets the
class whose prompt is nearest (CLIP's zero-shot classifier). The labelled images are not used to fit
anything. With ``comparative=True`` (docs/methods.md §4.2):

1. the labelled images are split in two halves per class (seeded): a validation half and a test half;
2. on the validation half, the 3 most-confused class pairs are picked
   (`condsim.methods.most_confused_pairs`);
3. for each pair and both directions, the difference sentence d_ij ("The first image shows a red
   object, while the second shows a blue object.", `condsim.conditions.rewording`) updates the class
   prompts, t̃_j = normalize(α t_j + (1 − α) mean_i (t_i − e(d_ij))), α = 0.8;
4. the report gives the accuracy on the test half's images of the confused classes with and without;
   the predictions of the unlabelled images use the updated prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from condsim.collection.tasks import (
    Classification,
    LabelledImage,
    Prediction,
    as_labelled_images,
    labelled_rows,
)
from condsim.conditions.rewording import difference_sentence
from condsim.errors import InvalidInputError
from condsim.methods import COMPARATIVE_ALPHA, comparative_class_prompts, most_confused_pairs, unit_rows

if TYPE_CHECKING:
    from condsim.collection import Collection
    from condsim.conditions import Condition

#: confused pairs comparative prompting updates (PC-CLIP: the 3 most confused)
COMPARATIVE_PAIRS = 3


@dataclass(frozen=True)
class ComparativeReport:
    """What comparative prompting changed, measured on the labelled test half.

    `pairs` were picked on the validation half; `accuracy_without` / `accuracy_with` (percent) are
    over the `images` test-half images whose label is in a picked pair (None when there is none).
    """

    pairs: list[tuple[str, str]]
    sentences: list[str]
    validation_images: int
    images: int
    accuracy_without: float | None
    accuracy_with: float | None


@dataclass(frozen=True)
class ZeroShotClassification:
    """Predictions for every unlabelled image, and the comparative report when it was asked for."""

    classification: Classification
    comparative: ComparativeReport | None


def _halves(rows: dict[int, str], seed: int) -> tuple[list[int], list[int]]:
    """Per class, a seeded shuffle of its labelled rows: the first half (rounded up) validates, the
    rest tests."""
    rng = np.random.default_rng(seed)
    validation: list[int] = []
    test: list[int] = []
    for label in sorted(set(rows.values())):
        members = sorted(row for row, value in rows.items() if value == label)
        shuffled = [members[i] for i in rng.permutation(len(members))]
        cut = (len(shuffled) + 1) // 2
        validation += shuffled[:cut]
        test += shuffled[cut:]
    return sorted(validation), sorted(test)


def zero_shot_classify(
    collection: Collection,
    examples: Sequence[LabelledImage] | Mapping[str, str],
    condition: Condition,
    *,
    comparative: bool = False,
    alpha: float = COMPARATIVE_ALPHA,
    seed: int = 0,
) -> ZeroShotClassification:
    """Label every unlabelled image of the store with one of the labels used in `examples`, zero-shot
    (the labelled images only name the classes, and with `comparative` pick and measure the pairs)."""
    labelled_images = as_labelled_images(examples)
    paths, embeddings = collection.features(None)
    rows = labelled_rows(collection, labelled_images, paths)
    classes = sorted(set(rows.values()))
    if len(classes) < 2:
        raise InvalidInputError(
            f"the labelled images give only one label ({classes[0]!r})",
            hint="label examples of at least two classes",
        )
    rest = np.setdiff1d(np.arange(len(paths)), np.fromiter(rows, dtype=np.int64))
    if rest.size == 0:
        raise InvalidInputError(
            "every image in the store is labelled: nothing to predict", hint="label only a few images"
        )
    encoder = collection.encoder
    prompts = unit_rows(
        encoder.encode_texts([condition.clay_prompt(label) for label in classes]), "class prompts"
    )
    report = None
    if comparative:
        prompts, report = _comparative(
            rows, classes, embeddings, prompts, condition, encoder.encode_texts, alpha, seed
        )
    scores = unit_rows(embeddings[rest], "image embeddings") @ np.asarray(prompts, dtype=np.float64).T
    best = scores.argmax(axis=1)
    predictions = [
        Prediction(paths[row], classes[index], float(scores[position, index]))
        for position, (row, index) in enumerate(zip(rest.tolist(), best.tolist(), strict=True))
    ]
    labelled = {label: sum(1 for value in rows.values() if value == label) for label in classes}
    return ZeroShotClassification(Classification(predictions, labelled), report)


def _comparative(
    rows: dict[int, str],
    classes: list[str],
    embeddings: np.ndarray,
    prompts: np.ndarray,
    condition: Condition,
    encode_texts: Callable[[list[str]], np.ndarray],
    alpha: float,
    seed: int,
) -> tuple[np.ndarray, ComparativeReport]:
    validation, test = _halves(rows, seed)
    if not test:
        raise InvalidInputError(
            "comparative prompting needs two labelled images of some class (one half picks the "
            "confused pairs, the other measures them)",
            hint="label at least two images of each class",
        )
    index = {label: position for position, label in enumerate(classes)}

    def predict(row_ids: list[int], class_prompts: np.ndarray) -> np.ndarray:
        return np.asarray(
            np.argmax(
                unit_rows(embeddings[row_ids], "image embeddings") @ np.asarray(class_prompts).T, axis=1
            )
        )

    truth_validation = np.array([index[rows[row]] for row in validation])
    picked = most_confused_pairs(
        truth_validation, predict(validation, prompts), len(classes), COMPARATIVE_PAIRS
    )
    directed = [(a, b) for first, second in picked for a, b in ((first, second), (second, first))]
    sentences = [difference_sentence(condition, classes[a], classes[b]) for a, b in directed]
    updated = prompts
    if directed:
        updated = comparative_class_prompts(prompts, directed, encode_texts(sentences), alpha=alpha)
    involved = {c for pair in picked for c in pair}
    measured = [row for row in test if index[rows[row]] in involved]
    without = with_ = None
    if measured:
        truth = np.array([index[rows[row]] for row in measured])
        without = 100.0 * float(np.mean(predict(measured, prompts) == truth))
        with_ = 100.0 * float(np.mean(predict(measured, updated) == truth))
    report = ComparativeReport(
        [(classes[a], classes[b]) for a, b in picked],
        sentences,
        len(validation),
        len(measured),
        without,
        with_,
    )
    return np.asarray(updated), report
