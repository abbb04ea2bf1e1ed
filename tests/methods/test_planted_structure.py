"""Planted structure: a weak attribute in one subspace, a strong one in another.

Plain cosine retrieval is dominated by the strong attribute; CLAY and CRL fitted on prompts that
vary only inside the weak attribute's subspace must retrieve by the weak attribute instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from condsim.methods import ClaySpace, CrlSpace, image_similarity, normalized_mean


def mean_average_precision(similarity: np.ndarray, labels: np.ndarray) -> float:
    """Each row is a query against all other items (self excluded); relevant = same label."""
    precisions = []
    for query in range(similarity.shape[0]):
        scores = similarity[query].astype(np.float64).copy()
        scores[query] = -np.inf
        order = np.argsort(-scores, kind="stable")[:-1]
        relevant = labels[order] == labels[query]
        hits = np.cumsum(relevant)
        ranks = np.flatnonzero(relevant) + 1
        precisions.append(float(np.mean(hits[relevant] / ranks)) if ranks.size else 0.0)
    return float(np.mean(precisions))


def planted_world(seed: int = 0):
    rng = np.random.default_rng(seed)
    d, n_images, n_classes = 64, 300, 5
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    strong, weak = basis[:, 0:8], basis[:, 8:16]
    image_axis, text_axis = basis[:, 30], 0.6 * basis[:, 30] + 0.8 * basis[:, 31]  # a modality gap
    strong_centres = rng.normal(size=(n_classes, 8)) @ strong.T
    weak_centres = rng.normal(size=(n_classes, 8)) @ weak.T
    strong_labels = rng.integers(0, n_classes, n_images)
    weak_labels = rng.integers(0, n_classes, n_images)
    images = (
        4.0 * image_axis
        + 2.0 * strong_centres[strong_labels]
        + 0.5 * weak_centres[weak_labels]
        + 0.25 * rng.normal(size=(n_images, d))
    )
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    prompts = 4.0 * text_axis + rng.normal(size=(80, 8)) @ weak.T + 0.05 * rng.normal(size=(80, d))
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    return images.astype(np.float32), prompts.astype(np.float32), weak_labels, strong_labels


def test_conditioning_on_the_weak_attribute_raises_its_map_far_above_plain_cosine() -> None:
    images, prompts, weak_labels, strong_labels = planted_world()
    plain = mean_average_precision(image_similarity(images, images), weak_labels)
    chance = mean_average_precision(np.zeros((len(images), len(images))), weak_labels)
    clay = ClaySpace(k=8).fit(prompts, image_mean=normalized_mean(images))
    clay_map = mean_average_precision(clay.similarity(images, images), weak_labels)
    crl_map = mean_average_precision(CrlSpace().fit(prompts).similarity(images, images), weak_labels)
    euclidean = ClaySpace(k=8, manifold=False).fit(prompts)
    euclidean_map = mean_average_precision(euclidean.similarity(images, images), weak_labels)
    assert plain < 0.45  # the strong attribute dominates plain cosine (chance is about 0.21)
    assert clay_map > plain + 0.4
    assert crl_map > plain + 0.3
    assert euclidean_map > plain + 0.2
    # and the condition really switched attributes: CLAY no longer follows the strong one
    assert mean_average_precision(clay.similarity(images, images), strong_labels) < chance + 0.1


@pytest.mark.parametrize("alignment", ["householder", "rotation"])
def test_alignment_variants_also_recover_the_weak_attribute(alignment: str) -> None:
    images, prompts, weak_labels, _ = planted_world(seed=1)
    plain = mean_average_precision(image_similarity(images, images), weak_labels)
    space = ClaySpace(k=8, alignment=alignment).fit(prompts, image_mean=normalized_mean(images))
    assert mean_average_precision(space.similarity(images, images), weak_labels) > plain + 0.4
