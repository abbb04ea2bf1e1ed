"""PC-CLIP's training-free tools: comparative prompts and difference directions (methods.md §4.2, §4.3).

* `comparative_class_prompts`: for confusable pairs (i → j) with a text e(d_ij) saying how class i
  differs from class j, t̃_j = normalize(α t_j + (1 − α) mean_i (t_i − e(d_ij))), α = 0.8 (PC-CLIP
  Eq. 3 / run.py::run_comparative). t_i − e("i minus j") ≈ t_j, so the update pulls t_j towards what
  separates it from its confuser. Classes in no pair keep their prompt.
* `most_confused_pairs`: the class pairs a classifier confuses most on labelled (validation) images,
  the pairs that comparative prompting updates (PC-CLIP picks them from a confusion matrix).
* `rank_by_attribute`: sort images by the projection ⟨e(d), v̂⟩ on a comparative text direction.
* `difference_correct` / `difference_classification_accuracy`: a pair (x1, x2) with difference text
  d is correct iff cos(e(d), normalize(v̂1 − v̂2)) > 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods._validation import F32, as_matrix64, as_vector, unit_rows, unit_vector

#: PC-CLIP's default weight of the original class prompt (the function default; its CLI uses 0.9).
COMPARATIVE_ALPHA = 0.8


def comparative_class_prompts(
    class_embeddings: npt.ArrayLike,
    pairs: Sequence[tuple[int, int]],
    difference_embeddings: npt.ArrayLike,
    alpha: float = COMPARATIVE_ALPHA,
) -> F32:
    """(C, d) float32 unit class prompts with the comparative update applied to each pair's target j.

    `pairs[p] = (i, j)` and `difference_embeddings[p]` = e(d_ij), the text of how class i differs
    from class j. A class that is the target of several pairs averages t_i − e(d_ij) over them.
    """
    classes = unit_rows(as_matrix64(class_embeddings, "class_embeddings"))
    if len(pairs) == 0:
        return classes.astype(np.float32)
    differences = unit_rows(
        as_matrix64(
            difference_embeddings, "difference_embeddings", dim=classes.shape[1], dim_name="class_embeddings"
        )
    )
    if differences.shape[0] != len(pairs):
        raise DimensionMismatchError(
            f"{len(pairs)} pairs but {differences.shape[0]} difference embeddings.",
            hint="Give one difference text embedding per (i, j) pair, in the same order.",
        )
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha={alpha} must lie in [0, 1].", hint="PC-CLIP uses alpha=0.8.")
    updates: dict[int, list[npt.NDArray[np.float64]]] = {}
    for index, pair in enumerate(pairs):
        source, target = (int(value) for value in pair)
        for value in (source, target):
            if not 0 <= value < classes.shape[0]:
                raise InvalidInputError(
                    f"pair {pair} refers to class {value}, but there are {classes.shape[0]} classes.",
                    hint="Pairs hold row indices into class_embeddings.",
                )
        updates.setdefault(target, []).append(classes[source] - differences[index])
    prompts = classes.copy()
    for target, contributions in updates.items():
        mixed = alpha * classes[target] + (1.0 - alpha) * np.mean(contributions, axis=0)
        norm = float(np.linalg.norm(mixed))
        if norm <= 1e-12:
            raise InvalidInputError(
                f"The comparative prompt of class {target} cancels to zero.",
                hint="Use a larger alpha or check the difference texts.",
            )
        prompts[target] = mixed / norm
    return prompts.astype(np.float32)


def most_confused_pairs(
    true_labels: npt.ArrayLike, predicted_labels: npt.ArrayLike, n_classes: int, count: int = 3
) -> list[tuple[int, int]]:
    """The `count` unordered class pairs (a, b), a < b, with the most confusions C[a, b] + C[b, a]
    (C[t, p] = images of class t predicted as p); ties go to the lower pair; pairs never confused are
    left out, so fewer than `count` pairs may come back."""
    truth = np.asarray(true_labels, dtype=np.int64)
    predicted = np.asarray(predicted_labels, dtype=np.int64)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise DimensionMismatchError(
            f"true labels {truth.shape} and predictions {predicted.shape} must be the same (n,) shape"
        )
    if truth.size and (
        min(truth.min(), predicted.min()) < 0 or max(truth.max(), predicted.max()) >= n_classes
    ):
        raise InvalidInputError(f"labels must lie in [0, {n_classes})", hint="pass class indices")
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    symmetric = confusion + confusion.T
    first, second = np.triu_indices(n_classes, k=1)
    counts = symmetric[first, second]
    order = np.argsort(-counts, kind="stable")
    return [(int(first[i]), int(second[i])) for i in order[:count] if counts[i] > 0]


def rank_by_attribute(
    image_embeddings: npt.ArrayLike, direction: npt.ArrayLike, *, descending: bool = True
) -> tuple[npt.NDArray[np.int64], F32]:
    """Order images along a comparative text direction e(d): returns (order, scores) with
    scores[i] = ⟨normalize(e(d)), v̂_i⟩ for every image and `order` the indices sorted by score
    (largest first by default; ties keep input order)."""
    images = as_matrix64(image_embeddings, "image_embeddings")
    axis = unit_vector(as_vector(direction, "direction", dim=images.shape[1]))
    scores = unit_rows(images) @ axis
    order = np.argsort(-scores if descending else scores, kind="stable")
    return order.astype(np.int64), scores.astype(np.float32)


def difference_correct(
    first_embeddings: npt.ArrayLike, second_embeddings: npt.ArrayLike, difference_embeddings: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Per pair: cos(e(d), normalize(v̂1 − v̂2)) > 0 (§4.3). Identical images count as wrong.
    One difference row per pair, or one row for all pairs."""
    first = unit_rows(as_matrix64(first_embeddings, "first_embeddings"))
    second = unit_rows(
        as_matrix64(second_embeddings, "second_embeddings", dim=first.shape[1], dim_name="first_embeddings")
    )
    differences = unit_rows(
        as_matrix64(
            difference_embeddings, "difference_embeddings", dim=first.shape[1], dim_name="first_embeddings"
        )
    )
    if first.shape[0] != second.shape[0] or differences.shape[0] not in (1, first.shape[0]):
        raise DimensionMismatchError(
            f"Got {first.shape[0]} first images, {second.shape[0]} second images and "
            f"{differences.shape[0]} difference texts.",
            hint="Give pairs row by row and one difference text per pair (or one for all).",
        )
    gaps = first - second
    # The sign of cos(e, gap/‖gap‖) is the sign of ⟨e, gap⟩ whenever gap ≠ 0.
    projections = np.einsum("ij,ij->i", np.broadcast_to(differences, gaps.shape), gaps)
    nonzero = np.linalg.norm(gaps, axis=1) > 1e-12
    return np.asarray((projections > 0) & nonzero, dtype=np.bool_)


def difference_classification_accuracy(
    first_embeddings: npt.ArrayLike, second_embeddings: npt.ArrayLike, difference_embeddings: npt.ArrayLike
) -> float:
    """Fraction of pairs for which the difference text points from the second image to the first."""
    return float(np.mean(difference_correct(first_embeddings, second_embeddings, difference_embeddings)))
