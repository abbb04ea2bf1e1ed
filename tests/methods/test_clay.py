"""ClaySpace (CLAY Eq. 3–5) against a slow float64 reference built from the d×d projector P_c."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import example, given, settings
from hypothesis import strategies as st

from condsim.errors import (
    CondsimWarning,
    DimensionMismatchError,
    EmptyConditionError,
    InvalidInputError,
    NotFittedError,
)
from condsim.methods import ClaySpace, normalized_mean
from helpers import unit


def log_reference(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x, dtype=np.float64)
    for i, row in enumerate(np.asarray(x, dtype=np.float64)):
        row = row / np.linalg.norm(row)
        theta = np.arccos(np.clip(row @ mu, -1 + 1e-7, 1 - 1e-7))
        out[i] = (row - mu * (row @ mu)) * theta / np.sin(theta)
    return out


def alignment_matrix(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """H as a d×d matrix: Householder I − 2uuᵀ, or the rotation exp(φ(e2e1ᵀ − e1e2ᵀ))."""
    d = a.shape[0]
    if kind == "none" or np.allclose(a, b):
        return np.eye(d)
    if kind == "householder":
        u = (a - b) / np.linalg.norm(a - b)
        return np.eye(d) - 2 * np.outer(u, u)
    e2 = b - (a @ b) * a
    e2 /= np.linalg.norm(e2)
    return scipy.linalg.expm(np.arccos(np.clip(a @ b, -1, 1)) * (np.outer(e2, a) - np.outer(a, e2)))


def clay_reference(prompts, image_mean, k, alignment, manifold, queries, database):
    """cos(P_c log_µc(H q), P_c log_µc(H d)) with P_c = V_k V_kᵀ (d×d), all in float64."""
    t = np.asarray(prompts, dtype=np.float64)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    mu = t.mean(0) / np.linalg.norm(t.mean(0))
    if manifold:
        _, _, vt = np.linalg.svd(log_reference(t, mu))
        m = np.asarray(image_mean, dtype=np.float64)
        h = alignment_matrix(alignment, m / np.linalg.norm(m), mu)
    else:
        _, _, vt = np.linalg.svd(t)
        h = np.eye(t.shape[1])
    projector = vt[:k].T @ vt[:k]

    def embed(x):
        x = np.asarray(x, dtype=np.float64)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        aligned = x @ h.T
        m_clay = (log_reference(aligned, mu) if manifold else aligned) @ projector
        return m_clay / np.linalg.norm(m_clay, axis=1, keepdims=True)

    return embed(queries) @ embed(database).T, projector


def cloud(rng, n, d, centre_weight=2.0):
    """Unit vectors clustered around a random centre (like a modality's cone)."""
    centre = unit(rng, d)
    points = unit(rng, n, d) + centre_weight * centre
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.mark.parametrize("alignment", ["householder", "rotation", "none"])
def test_similarity_equals_naive_projector_reference(alignment: str) -> None:
    rng = np.random.default_rng(0)
    d, k = 24, 6
    prompts = cloud(rng, 40, d)
    images = cloud(rng, 30, d).astype(np.float32)
    mean = normalized_mean(images)
    space = ClaySpace(k=k, alignment=alignment).fit(prompts, image_mean=mean)
    expected, projector = clay_reference(prompts, mean, k, alignment, True, images[:5], images)
    np.testing.assert_allclose(space.similarity(images[:5], images), expected, atol=3e-5)
    np.testing.assert_allclose(space.components_ @ space.components_.T, projector, atol=1e-8)
    if alignment != "none":
        np.testing.assert_allclose(space.alignment_.apply(mean[None])[0], space.mu_, atol=1e-12)
        gram = space.alignment_.apply(images.astype(np.float64))
        np.testing.assert_allclose(gram @ gram.T, images @ images.T.astype(np.float64), atol=1e-6)


def test_euclidean_ablation_is_svd_of_raw_prompts_without_alignment() -> None:
    rng = np.random.default_rng(1)
    prompts, images = cloud(rng, 30, 16), cloud(rng, 20, 16)
    space = ClaySpace(k=5, manifold=False).fit(prompts)
    expected, projector = clay_reference(prompts, None, 5, "none", False, images, images)
    np.testing.assert_allclose(space.similarity(images, images), expected, atol=3e-5)
    np.testing.assert_allclose(space.components_ @ space.components_.T, projector, atol=1e-8)
    assert space.alignment_ is None


def test_tangent_coordinates_keep_the_geodesic_length() -> None:
    rng = np.random.default_rng(2)
    prompts, images = cloud(rng, 30, 12), cloud(rng, 25, 12)
    mean = normalized_mean(images)
    space = ClaySpace(k=4).fit(prompts, image_mean=mean)
    h = alignment_matrix("householder", mean, space.mu_)
    images64 = images / np.linalg.norm(images, axis=1, keepdims=True)
    expected = log_reference(images64 @ h.T, space.mu_) @ space.components_
    np.testing.assert_allclose(space.tangent_coordinates(images), expected, atol=2e-5)
    direction = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(space.transform(images), direction, atol=2e-5)


def test_transform_is_chunk_and_dtype_invariant_and_unit() -> None:
    rng = np.random.default_rng(3)
    prompts, images = cloud(rng, 50, 20), cloud(rng, 103, 20)
    space = ClaySpace(k=8).fit(prompts, image_mean=normalized_mean(images))
    whole = space.transform(images.astype(np.float32))
    assert whole.dtype == np.float32 and whole.shape == (103, 8) and space.k_ == 8
    np.testing.assert_allclose(space.transform(images, chunk_size=10), whole, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-6)
    assert space.projection_.shape == (20, 8) and len(space.fingerprint_) == 64
    assert space.transform(np.zeros((0, 20), dtype=np.float32)).shape == (0, 8)


def test_equal_means_give_identity_alignment() -> None:
    rng = np.random.default_rng(4)
    prompts = cloud(rng, 30, 10)
    mu = prompts.mean(0) / np.linalg.norm(prompts.mean(0))
    space = ClaySpace(k=3).fit(prompts, image_mean=mu)
    np.testing.assert_allclose(space.alignment_.matrix(), np.eye(10), atol=1e-12)


def test_k_is_clipped_to_the_rank_with_a_warning_and_single_prompt_is_rejected() -> None:
    rng = np.random.default_rng(5)
    prompts = cloud(rng, 4, 10)
    with pytest.warns(CondsimWarning, match="numerical rank"):
        space = ClaySpace(k=50, alignment="none").fit(prompts)
    assert space.k_ <= 4
    two = ClaySpace(k=1, alignment="none").fit(prompts[:2])
    assert two.k_ == 1
    with pytest.raises(EmptyConditionError, match="two distinct prompts"):
        ClaySpace(k=5, alignment="none").fit(prompts[:1])
    for dim, dtype in ((10, np.float64), (512, np.float32)):
        repeated = np.repeat(cloud(rng, 1, dim).astype(dtype), 10, axis=0)  # rounding, not directions
        with pytest.raises(EmptyConditionError, match="two distinct prompts"):
            ClaySpace(k=5).fit(repeated, image_mean=cloud(rng, 1, dim)[0])
    with pytest.warns(CondsimWarning):
        assert ClaySpace(k=5, manifold=False).fit(prompts[:1]).k_ == 1


def test_stacking_equals_fitting_the_row_stacked_prompts() -> None:
    rng = np.random.default_rng(6)
    first, second, images = cloud(rng, 20, 16), cloud(rng, 25, 16), cloud(rng, 30, 16)
    mean = normalized_mean(images)
    stacked = ClaySpace(k=6).fit([first, second], image_mean=mean)
    expected, _ = clay_reference(np.vstack([first, second]), mean, 6, "householder", True, images, images)
    np.testing.assert_allclose(stacked.similarity(images, images), expected, atol=3e-5)


def test_weighted_combination_is_the_weighted_mean_of_condition_cosines() -> None:
    rng = np.random.default_rng(7)
    first, second, images = cloud(rng, 20, 16), cloud(rng, 25, 16), cloud(rng, 30, 16)
    mean = normalized_mean(images)
    space = ClaySpace(k=4, combine="mean", weights=[3.0, 1.0]).fit([first, second], image_mean=mean)
    s1, _ = clay_reference(first, mean, 4, "householder", True, images, images)
    s2, _ = clay_reference(second, mean, 4, "householder", True, images, images)
    np.testing.assert_allclose(space.similarity(images, images), 0.75 * s1 + 0.25 * s2, atol=3e-5)
    assert space.k_ == 8 and len(space.subspaces_) == 2
    np.testing.assert_allclose(np.linalg.norm(space.transform(images), axis=1), 1.0, atol=1e-6)
    with pytest.raises(InvalidInputError, match="subspaces_"):
        _ = space.mu_


def negative_reference(negatives: np.ndarray, k: int) -> np.ndarray:
    t = negatives / np.linalg.norm(negatives, axis=1, keepdims=True)
    centre = t.mean(0) / np.linalg.norm(t.mean(0))
    _, _, vt = np.linalg.svd(log_reference(t, centre))
    return vt[:k].T


@pytest.mark.parametrize("mode", ["before", "after"])
def test_negative_condition_removes_its_subspace(mode: str) -> None:
    """ "Same shape, ignore colour": moving an image along the colour directions leaves z unchanged."""
    rng = np.random.default_rng(8)
    d = 20
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    shape_dirs, colour_dirs, text_axis = basis[:, :4], basis[:, 4:7], basis[:, 10]
    # shape prompts contaminated by colour words; colour prompts vary only in colour
    shape_prompts = (
        3 * text_axis
        + rng.normal(size=(40, 4)) @ shape_dirs.T
        + 0.5 * rng.normal(size=(40, 3)) @ colour_dirs.T
    )
    colour_offsets = rng.normal(size=(15, 3)) @ colour_dirs.T
    # ± pairs: the colour prompts' mean is text_axis, so their log-mapped span is exactly colour_dirs
    colour_prompts = 3 * text_axis + np.vstack([colour_offsets, -colour_offsets])
    space = ClaySpace(k=6, alignment="none", negative_mode=mode, negative_k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CondsimWarning)
        space.fit(shape_prompts, negative_prompt_embeddings=colour_prompts)
    removed = negative_reference(colour_prompts, 3)
    np.testing.assert_allclose(space.components_.T @ removed, 0.0, atol=1e-8)
    images = unit(rng, 10, d) + 2 * text_axis
    moved = images + 0.7 * rng.normal(size=(10, 3)) @ colour_dirs.T
    np.testing.assert_allclose(space.transform(moved), space.transform(images), atol=2e-5)
    plain = ClaySpace(k=6, alignment="none").fit(shape_prompts)
    assert np.abs(plain.transform(moved) - plain.transform(images)).max() > 0.05
    if mode == "after":
        assert space.k_ <= 6


def test_clay_input_errors() -> None:
    rng = np.random.default_rng(9)
    prompts = cloud(rng, 10, 8)
    with pytest.raises(NotFittedError):
        ClaySpace().transform(prompts)
    with pytest.raises(InvalidInputError, match="image_mean"):
        ClaySpace(k=2).fit(prompts)
    with pytest.raises(EmptyConditionError):
        ClaySpace(k=2, alignment="none").fit(np.zeros((0, 8)))
    with pytest.raises(EmptyConditionError):
        ClaySpace(k=2, alignment="none").fit([])
    with pytest.raises(InvalidInputError, match="mixes matrices"):
        ClaySpace(k=2, alignment="none").fit([prompts, prompts[0]])
    with pytest.raises(DimensionMismatchError, match="dimension 6"):
        ClaySpace(k=2, alignment="none").fit([prompts, cloud(rng, 10, 6)])
    space = ClaySpace(k=2, alignment="none").fit(prompts)
    with pytest.raises(DimensionMismatchError):
        space.transform(cloud(rng, 3, 9))
    bad = prompts.copy()
    bad[3, 1] = np.inf
    with pytest.raises(InvalidInputError, match="row 3"):
        space.transform(bad)
    with pytest.raises(InvalidInputError, match="zero vector"):
        space.transform(np.vstack([prompts, np.zeros((1, 8))]))
    with pytest.raises(InvalidInputError, match="alignment"):
        ClaySpace(alignment="reflect").fit(prompts)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="weights"):
        ClaySpace(weights=[1.0]).fit(prompts)
    with pytest.raises(InvalidInputError, match="weights"):
        ClaySpace(alignment="none", combine="mean", weights=[1.0, -1.0]).fit([prompts, prompts])
    with pytest.raises(InvalidInputError, match="k="):
        ClaySpace(k=0).fit(prompts)


@settings(max_examples=30, deadline=None)
# found by hypothesis: the float32 image mean equals µ_c up to rounding (H must be the identity)
@example(seed=0, n=2, d=19, k=1, dtype=np.float32, alignment="householder", manifold=True, same_mean=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 30),
    d=st.integers(3, 24),
    k=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
    alignment=st.sampled_from(["householder", "rotation", "none"]),
    manifold=st.booleans(),
    same_mean=st.booleans(),
)
def test_clay_matches_reference_over_shapes_and_dtypes(
    seed, n, d, k, dtype, alignment, manifold, same_mean
) -> None:
    rng = np.random.default_rng(seed)
    prompts = cloud(rng, n, d).astype(dtype)
    images = cloud(rng, 12, d).astype(dtype)
    mean = normalized_mean(prompts) if same_mean else normalized_mean(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CondsimWarning)
        space = ClaySpace(k=k, alignment=alignment, manifold=manifold).fit(prompts, image_mean=mean)
    assert 1 <= space.k_ <= min(k, n, d)
    z = space.transform(images)
    assert z.dtype == np.float32 and z.shape == (12, space.k_)
    similarity = space.similarity(images, images)
    np.testing.assert_allclose(similarity, similarity.T, atol=1e-5)
    expected, _ = clay_reference(prompts, mean, space.k_, alignment, manifold, images, images)
    # rows whose projection is (numerically) zero are ill-conditioned; compare the rest
    norms = np.linalg.norm(space.tangent_coordinates(images), axis=1)
    ok = norms > 1e-3
    np.testing.assert_allclose(similarity[np.ix_(ok, ok)], expected[np.ix_(ok, ok)], atol=5e-4)


def test_texts_are_projected_without_the_image_alignment() -> None:
    """transform_texts(t) = normalize(V_kᵀ t) (a text already sits on the prompt side, so no H), and
    several weighted conditions give √wᵢ-scaled blocks whose inner products are Σ wᵢ cosᵢ."""
    rng = np.random.default_rng(11)
    first, second, images, texts = (
        cloud(rng, 20, 16),
        cloud(rng, 25, 16),
        cloud(rng, 30, 16),
        cloud(rng, 5, 16),
    )
    mean = normalized_mean(images)
    single = ClaySpace(k=4).fit(first, image_mean=mean)
    projected = texts.astype(np.float64) @ single.components_  # cloud rows are unit already
    expected = projected / np.linalg.norm(projected, axis=1, keepdims=True)
    np.testing.assert_allclose(single.transform_texts(texts), expected, atol=1e-6)
    assert not np.allclose(
        single.transform_texts(texts), single.transform(texts), atol=1e-3
    )  # H moved images

    weighted = ClaySpace(k=4, combine="mean", weights=[3.0, 1.0]).fit([first, second], image_mean=mean)
    other = ClaySpace(k=4).fit(second, image_mean=mean)
    z_first, z_second = single.transform_texts(texts), other.transform_texts(texts)
    expected_cosines = 0.75 * (z_first @ z_first.T) + 0.25 * (z_second @ z_second.T)
    z = weighted.transform_texts(texts)
    assert z.shape == (5, weighted.k_) and z.dtype == np.float32
    np.testing.assert_allclose(z @ z.T, expected_cosines, atol=1e-5)
    with pytest.raises(NotFittedError):
        ClaySpace().transform_texts(texts)
