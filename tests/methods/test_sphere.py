"""Sphere geometry (CLAY Eq. 3 and the alignment H) against slow float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods import (
    apply_householder,
    exp_map,
    householder_reflection,
    log_map,
    normalized_mean,
    plane_rotation,
)
from helpers import unit


def log_reference(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Eq. 3 written out row by row with arccos and the clamp."""
    out = np.zeros_like(x, dtype=np.float64)
    for i, row in enumerate(x.astype(np.float64)):
        row = row / np.linalg.norm(row)
        c = float(np.clip(row @ mu, -1 + 1e-7, 1 - 1e-7))
        theta = np.arccos(c)
        out[i] = (row - mu * (row @ mu)) * theta / np.sin(theta)
    return out


def test_log_map_matches_reference_is_tangent_and_has_norm_theta() -> None:
    rng = np.random.default_rng(0)
    mu = unit(rng, 16)
    x = unit(rng, 50, 16)
    logs = log_map(x, mu)
    assert logs.dtype == np.float32
    np.testing.assert_allclose(logs, log_reference(x, mu), atol=2e-6)
    np.testing.assert_allclose(logs @ mu, 0.0, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(logs, axis=1), np.arccos(x @ mu), atol=2e-6)


def test_log_map_small_angle_limit_and_antipode_are_finite() -> None:
    rng = np.random.default_rng(1)
    mu = unit(rng, 8)
    tiny = unit(rng, 8) * 1e-9
    near = mu + tiny - mu * (tiny @ mu)
    points = np.stack([mu, near / np.linalg.norm(near), -mu])
    logs = log_map(points, mu).astype(np.float64)
    assert np.isfinite(logs).all()
    np.testing.assert_allclose(logs[0], 0.0, atol=1e-12)
    # θ → 0: log ≈ x − µ (θ/sin θ → 1), norm ≈ θ ≈ 1e-9
    np.testing.assert_allclose(logs[1], points[1] - mu * (points[1] @ mu), rtol=1e-6, atol=1e-20)


def test_exp_is_inverse_of_log() -> None:
    rng = np.random.default_rng(2)
    mu = unit(rng, 12)
    x = unit(rng, 40, 12)
    np.testing.assert_allclose(exp_map(log_map(x, mu), mu), x, atol=3e-6)
    np.testing.assert_allclose(exp_map(np.zeros((1, 12)), mu)[0], mu, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 20),
    d=st.integers(2, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_log_exp_roundtrip_property(seed: int, n: int, d: int, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    mu = unit(rng, d)
    x = unit(rng, n, d).astype(dtype)
    assume(float((x.astype(np.float64) @ mu).min()) > -0.99)
    logs = log_map(x, mu)
    np.testing.assert_allclose(logs.astype(np.float64) @ mu, 0.0, atol=1e-5)
    np.testing.assert_allclose(exp_map(logs, mu), x, atol=2e-5)


def test_householder_maps_a_to_b_and_preserves_inner_products() -> None:
    rng = np.random.default_rng(3)
    a, b = unit(rng, 10), unit(rng, 10)
    reflection = householder_reflection(a, b)
    u = (a - b) / np.linalg.norm(a - b)
    reference = np.eye(10) - 2 * np.outer(u, u)
    np.testing.assert_allclose(reflection.matrix(), reference, atol=1e-12)
    np.testing.assert_allclose(reflection.apply(a[None])[0], b, atol=1e-12)
    v = unit(rng, 30, 10)
    hv = reflection.apply(v)
    np.testing.assert_allclose(hv @ hv.T, v @ v.T, atol=1e-12)
    np.testing.assert_allclose(apply_householder(v, u), (reference @ v.T).T, atol=1e-6)
    np.testing.assert_allclose(householder_reflection(a, a).matrix(), np.eye(10), atol=1e-12)


def test_householder_is_the_identity_for_a_mean_equal_up_to_float32_rounding() -> None:
    """A mean computed in float32 against the same mean in float64 differs by rounding only: the
    reflection along that rounding would flip an arbitrary direction of every vector."""
    rng = np.random.default_rng(11)
    a = unit(rng, 19)
    rounded = a.astype(np.float32).astype(np.float64)
    assert 0 < np.linalg.norm(rounded / np.linalg.norm(rounded) - a) < 1e-6
    np.testing.assert_allclose(householder_reflection(rounded, a).matrix(), np.eye(19), atol=1e-12)
    b = unit(rng, 19)  # a real difference still reflects
    assert np.abs(householder_reflection(a, b).matrix() - np.eye(19)).max() > 0.1


@pytest.mark.parametrize("case", ["generic", "equal", "opposite"])
def test_plane_rotation_is_the_exponential_of_the_plane_generator(case: str) -> None:
    rng = np.random.default_rng(4)
    a = unit(rng, 9)
    b = {"generic": unit(rng, 9), "equal": a, "opposite": -a}[case]
    rotation = plane_rotation(a, b)
    matrix = rotation.matrix()
    np.testing.assert_allclose(matrix @ a, b, atol=1e-10)
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(9), atol=1e-10)
    assert np.linalg.det(matrix) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation.apply_transpose(np.eye(9)).T, matrix.T, atol=1e-12)
    if case == "generic":
        e2 = b - (a @ b) * a
        e2 /= np.linalg.norm(e2)
        angle = np.arccos(a @ b)
        reference = scipy.linalg.expm(angle * (np.outer(e2, a) - np.outer(a, e2)))
        np.testing.assert_allclose(matrix, reference, atol=1e-10)
        # minimal: everything orthogonal to the plane is fixed
        w = unit(rng, 9)
        w -= (w @ a) * a + (w @ e2) * e2
        np.testing.assert_allclose(matrix @ w, w, atol=1e-12)


def test_normalized_mean_chunks_agree() -> None:
    rng = np.random.default_rng(5)
    x = (unit(rng, 1000, 8) + 2.0).astype(np.float32)
    reference = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float64).mean(0)
    np.testing.assert_allclose(
        normalized_mean(x, chunk_size=37), reference / np.linalg.norm(reference), atol=1e-7
    )


def test_sphere_input_errors() -> None:
    mu = np.ones(4)
    with pytest.raises(InvalidInputError, match="NaN"):
        log_map(np.array([[np.nan, 0, 0, 1.0]]), mu)
    with pytest.raises(InvalidInputError, match="zero vector"):
        log_map(np.zeros((2, 4)), mu)
    with pytest.raises(DimensionMismatchError):
        log_map(np.ones((2, 3)), mu)
    with pytest.raises(InvalidInputError, match="2-D"):
        log_map(np.ones(4), mu)
    with pytest.raises(InvalidInputError, match="zero mean"):
        normalized_mean(np.array([[1.0, 0.0], [-1.0, 0.0]]))
