"""PC-CLIP's comparative prompting as an evaluation protocol (docs/methods.md §4.2).

1. On a *validation* dataset (rendered from seeds that are neither training nor test), classify every
   image zero-shot by its class-name prompts and pick the `PAIRS` most-confused class pairs
   (`condsim.methods.most_confused_pairs`).
2. For each pair (a, b) and both directions, embed the difference sentence d_ab ("The first image
   shows a red object, while the second shows a blue object.", `condsim.conditions.rewording`) and
   update the class prompts, t̃_b = normalize(α t_b + (1 − α) mean_a (t_a − e(d_ab))), α = 0.8
   (`condsim.methods.comparative_class_prompts`).
3. On the *test* dataset, report zero-shot accuracy on the images whose class is in a picked pair,
   with the original prompts (``without``) and with the updated ones (``with``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from condsim.conditions import Condition
from condsim.conditions.rewording import difference_sentence
from condsim.eval.embed import EmbeddedDataset
from condsim.eval.scorers import LabelledCondition, zero_shot_labels
from condsim.methods import COMPARATIVE_ALPHA, comparative_class_prompts, most_confused_pairs

#: how many confused class pairs comparative prompting updates (issue 15: the 3 most confused)
PAIRS = 3


def comparative_prompting(
    validation: EmbeddedDataset,
    test: EmbeddedDataset,
    condition: str,
    texts: LabelledCondition,
    vocabulary: Condition,
    encode_texts: Callable[[list[str]], np.ndarray],
    *,
    pairs: int = PAIRS,
    alpha: float = COMPARATIVE_ALPHA,
) -> dict[str, Any]:
    """Zero-shot accuracy (percent) on the test images of the confused classes, without and with
    comparative prompts; the pairs are chosen on `validation` only. `encode_texts` embeds the
    difference sentences with the model that embedded the images."""
    classes = test.classes[condition]
    class_embeddings = texts.class_embeddings()
    picked = most_confused_pairs(
        validation.labels[condition],
        zero_shot_labels(validation.embeddings, class_embeddings),
        len(classes),
        pairs,
    )
    directed = [(a, b) for first, second in picked for a, b in ((first, second), (second, first))]
    result: dict[str, Any] = {"pairs": [[classes[a], classes[b]] for a, b in picked]}
    if not directed:
        result.update(images=0, without=None, **{"with": None})
        return result
    sentences = [difference_sentence(vocabulary, classes[a], classes[b]) for a, b in directed]
    updated = comparative_class_prompts(class_embeddings, directed, encode_texts(sentences), alpha=alpha)
    involved = np.isin(test.labels[condition], sorted({c for pair in picked for c in pair}))
    if not involved.any():
        result.update(images=0, without=None, **{"with": None})
        return result
    truth = test.labels[condition][involved]
    images = test.embeddings[involved]
    result["images"] = int(involved.sum())
    result["without"] = 100.0 * float(np.mean(zero_shot_labels(images, class_embeddings) == truth))
    result["with"] = 100.0 * float(np.mean(zero_shot_labels(images, updated) == truth))
    result["example"] = sentences[0]
    return result
