"""CRL (R = I Tᵀ and its two normalisations) and the baselines, against float64 references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condsim.errors import DimensionMismatchError, InvalidInputError, NotFittedError
from condsim.methods import (
    CrlSpace,
    fuse_scores,
    genecis_fusion,
    image_similarity,
    image_text_similarity,
    text_similarity,
)
from helpers import unit


def test_crl_is_the_plain_product_with_unit_rows() -> None:
    rng = np.random.default_rng(0)
    texts, images = unit(rng, 7, 10) * 3.0, unit(rng, 20, 10) * 2.0  # not unit on purpose
    space = CrlSpace().fit(texts)
    expected = np.array([[(i / np.linalg.norm(i)) @ (t / np.linalg.norm(t)) for t in texts] for i in images])
    np.testing.assert_allclose(space.representation(images), expected, atol=1e-6)
    row = space.transform(images)
    np.testing.assert_allclose(row, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
    assert row.dtype == np.float32 and row.shape == (20, 7) and space.n_components_ == 7
    np.testing.assert_allclose(space.similarity(images[:3], images), row[:3] @ row.T, atol=1e-6)


def test_crl_fewshot_uses_one_global_mean_and_row_std() -> None:
    rng = np.random.default_rng(1)
    texts, images = unit(rng, 9, 12), unit(rng, 15, 12)
    r = images @ texts.T
    centred = r - r.mean()  # ONE scalar over all entries
    expected = centred / centred.std(axis=1, keepdims=True)
    np.testing.assert_allclose(CrlSpace("fewshot").fit(texts).transform(images), expected, atol=1e-5)
    # not a per-row mean: rows do not all have zero mean
    assert np.abs(expected.mean(axis=1)).max() > 1e-3


def test_crl_errors() -> None:
    with pytest.raises(NotFittedError):
        CrlSpace().transform(np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="normalize"):
        CrlSpace("zscore").fit(np.eye(3))  # type: ignore[arg-type]
    with pytest.raises(DimensionMismatchError):
        CrlSpace().fit(np.eye(3)).transform(np.ones((2, 4)))


def test_baselines_match_references() -> None:
    rng = np.random.default_rng(2)
    queries, texts, images = unit(rng, 3, 8), unit(rng, 3, 8), unit(rng, 10, 8)
    np.testing.assert_allclose(image_similarity(queries, images), queries @ images.T, atol=1e-6)
    np.testing.assert_allclose(text_similarity(texts, images), texts @ images.T, atol=1e-6)
    composed = queries + texts
    composed /= np.linalg.norm(composed, axis=1, keepdims=True)
    np.testing.assert_allclose(image_text_similarity(queries, texts, images), composed @ images.T, atol=1e-6)
    shared = image_text_similarity(queries, texts[:1], images)
    assert shared.shape == (3, 10)
    with pytest.raises(DimensionMismatchError):
        image_text_similarity(queries, texts[:2], images)


def test_genecis_fusion_normalises_each_score_vector_over_the_gallery() -> None:
    rng = np.random.default_rng(3)
    queries, condition, gallery, basis = unit(rng, 2, 8), unit(rng, 2, 8), unit(rng, 12, 8), unit(rng, 20, 8)
    s1 = condition @ gallery.T
    rq, rg = queries @ basis.T, gallery @ basis.T
    rq /= np.linalg.norm(rq, axis=1, keepdims=True)
    rg /= np.linalg.norm(rg, axis=1, keepdims=True)
    s2 = rq @ rg.T
    expected = s1 / np.linalg.norm(s1, axis=1, keepdims=True) + 10 * s2 / np.linalg.norm(
        s2, axis=1, keepdims=True
    )
    np.testing.assert_allclose(genecis_fusion(queries, condition, gallery, basis), expected, atol=1e-5)
    np.testing.assert_allclose(
        fuse_scores(s1, s2, alpha=0.0), s1 / np.linalg.norm(s1, axis=1, keepdims=True), atol=1e-6
    )
    with pytest.raises(DimensionMismatchError):
        fuse_scores(s1, s2[:, :5])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_texts=st.integers(1, 25),
    n_images=st.integers(1, 30),
    d=st.integers(2, 20),
    dtype=st.sampled_from([np.float32, np.float64]),
    scale=st.floats(0.01, 100.0),
)
def test_crl_properties_over_shapes_dtypes_and_scales(seed, n_texts, n_images, d, dtype, scale) -> None:
    """R = I·Tᵀ on unit rows for any sizes (a single prompt too) and any input scale; "row" rows are
    unit; "fewshot" rows have unit std around one global mean."""
    rng = np.random.default_rng(seed)
    texts = (unit(rng, n_texts, d) * scale).astype(dtype)
    images = (unit(rng, n_images, d) * scale).astype(dtype)
    reference = np.array(
        [
            [(i / np.linalg.norm(i)) @ (t / np.linalg.norm(t)) for t in texts.astype(np.float64)]
            for i in images
        ]
    )
    space = CrlSpace().fit(texts)
    np.testing.assert_allclose(space.representation(images), reference, atol=1e-5)
    rows = space.transform(images)
    assert rows.shape == (n_images, n_texts) and rows.dtype == np.float32
    norms = np.linalg.norm(reference, axis=1)
    np.testing.assert_allclose(np.linalg.norm(rows[norms > 1e-3], axis=1), 1.0, atol=1e-5)
    if n_texts >= 2:
        fewshot = CrlSpace("fewshot").fit(texts).transform(images)
        centred = reference - reference.mean()
        spread = centred.std(axis=1)
        ok = spread > 1e-3
        np.testing.assert_allclose(
            fewshot[ok], centred[ok] / spread[ok, None], atol=1e-3 * max(1.0, 1.0 / spread[ok].min())
        )
