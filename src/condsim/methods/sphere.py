"""Geometry of the unit hypersphere S^{d-1}: log/exp maps and the maps that align two unit vectors.

CLAY (methods.md §1.2) treats normalised vision-language embeddings as points on the sphere. It
log-maps prompts into the tangent space at their mean µ_c (Eq. 3) and first moves the image cloud so
that the database mean µ_db lands on µ_c (the alignment H, a Householder reflection in the paper's
arXiv wording, optionally the minimal plane rotation). All functions here work on row batches:
float32 or float64 in, float32 out, with float64 inside where precision matters (arccos near ±1).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from condsim.errors import InvalidInputError
from condsim.methods._validation import F32, F64, as_matrix, as_matrix64, as_vector, unit_rows, unit_vector

#: Clamp for cosines before arccos: xᵀµ ∈ [−1 + ε, 1 − ε] keeps θ/sin θ finite (Eq. 3 numerics).
COS_EPS = 1e-7
#: Below this angle θ/sin θ is replaced by its Taylor series 1 + θ²/6 (the θ → 0 limit is 1).
SMALL_ANGLE = 1e-4
#: Unit vectors closer than this are the same direction: the Householder alignment is then the identity.
SAME_DIRECTION = 1e-6


def _log_scale(cosines: F64, sines: F64) -> F64:
    """θ / sin θ for θ = arctan2(sin θ, cos θ), with the θ → 0 limit and the antipodal clamp.

    arctan2 of the tangent norm and the cosine is accurate at every angle (arccos loses half the
    digits near ±1). Near the antipode sin θ is floored at the sine of arccos(−1 + ε), which is the
    same as clamping cos θ to [−1 + ε, 1 − ε] as Eq. 3's numerics prescribe; near θ = 0 the Taylor
    series 1 + θ²/6 replaces the 0/0.
    """
    theta = np.arctan2(sines, cosines)
    floor = np.sqrt(1.0 - (1.0 - COS_EPS) ** 2)
    denominators = np.where(cosines < 0.0, np.maximum(sines, floor), sines)
    small = (cosines >= 0.0) & (sines < SMALL_ANGLE)
    ratio = theta / np.where(small, 1.0, denominators)
    return np.asarray(np.where(small, 1.0 + theta**2 / 6.0, ratio), dtype=np.float64)


def log_map(points: npt.ArrayLike, base: npt.ArrayLike) -> F32:
    """Log map of unit rows `points` (n, d) at the unit vector `base` µ (d,) (CLAY Eq. 3).

    log_µ(x) = (x − µ (xᵀµ)) · θ / sin θ,  θ = arccos(xᵀµ).  The result lies in the tangent space
    T_µ = {y : yᵀµ = 0} and has norm θ, the geodesic distance from µ to x. Rows and `base` are
    L2-normalised on entry; cos θ is clamped to [−1 + ε, 1 − ε] so the antipode −µ (where the map is
    undefined) gives a finite vector.
    """
    mu = unit_vector(as_vector(base, "base"))
    x = unit_rows(as_matrix64(points, "points", dim=mu.shape[0], dim_name="base"))
    return log_map_unchecked(x, mu).astype(np.float32)


def log_map_unchecked(points: F64, base: F64) -> F64:
    """Eq. 3 on already validated float64 unit rows; used inside the package."""
    cosines = points @ base
    tangent = points - np.outer(cosines, base)
    sines = np.sqrt(np.einsum("ij,ij->i", tangent, tangent))
    return np.asarray(tangent * _log_scale(cosines, sines)[:, None], dtype=np.float64)


def exp_map(tangents: npt.ArrayLike, base: npt.ArrayLike) -> F32:
    """Exp map at the unit vector `base` µ of tangent rows `tangents` (n, d): the inverse of `log_map`.

    exp_µ(y) = cos(‖y‖) µ + sin(‖y‖) y / ‖y‖, with exp_µ(0) = µ. Components of `y` along µ are removed
    first, so `y` is read as a tangent vector. Zero rows are allowed (they map to µ).
    """
    mu = unit_vector(as_vector(base, "base"))
    y = np.asarray(tangents)
    if y.ndim != 2:
        raise InvalidInputError(
            f"tangents must be 2-D with shape (n, d), got shape {y.shape}.",
            hint="For a single tangent vector pass `vector[None, :]`.",
        )
    if y.shape[1] != mu.shape[0]:
        raise InvalidInputError(
            f"tangents have dimension {y.shape[1]} but base has dimension {mu.shape[0]}.",
            hint="Use the same base point that produced the tangent vectors.",
        )
    y64 = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y64).all():
        raise InvalidInputError("tangents contain NaN or inf.", hint="Check the tangent vectors you built.")
    y64 = y64 - np.outer(y64 @ mu, mu)
    norms = np.linalg.norm(y64, axis=1)
    safe = np.where(norms > 0.0, norms, 1.0)
    sinc = np.where(norms > 0.0, np.sin(norms) / safe, 1.0)
    points = np.cos(norms)[:, None] * mu[None, :] + sinc[:, None] * y64
    return np.asarray(unit_rows(points), dtype=np.float32)


def normalized_mean(vectors: npt.ArrayLike, *, chunk_size: int = 65_536) -> F64:
    """The normalised mean of the unit-normalised rows of `vectors` (µ_c for prompts, µ_db for images).

    Rows are normalised first so that every embedding counts once. Processed in chunks so that a
    database of a million embeddings needs no float64 copy. Raises if the mean is (numerically) zero,
    because then the set has no mean direction on the sphere.
    """
    matrix = np.asarray(vectors)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        as_matrix64(matrix, "vectors")
    total = np.zeros(matrix.shape[1], dtype=np.float64)
    for start in range(0, matrix.shape[0], chunk_size):
        chunk = as_matrix(matrix[start : start + chunk_size], "vectors", keep_float32=True)
        total += unit_rows(chunk).sum(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(total))
    if norm <= 1e-9 * matrix.shape[0]:
        raise InvalidInputError(
            "The embeddings have a zero mean direction (they cancel out), so no reference point exists.",
            hint="Check that the embeddings come from one model; real embedding sets never cancel out.",
        )
    return total / norm


class SphereAlignment:
    """An orthogonal map of R^d applied to row batches; base of the CLAY alignments H (§1.2 step 6).

    `apply(v)` computes H v for every row v, `apply_transpose(v)` computes Hᵀ v. Both cost O(d) per
    row, so aligning a database never needs the d×d matrix; `matrix()` builds it for tests.
    """

    dim: int

    def apply(self, vectors: npt.ArrayLike) -> F64:
        """H v for each row of `vectors`, in float64."""
        raise NotImplementedError

    def apply_transpose(self, vectors: npt.ArrayLike) -> F64:
        """Hᵀ v for each row of `vectors`, in float64."""
        raise NotImplementedError

    def __call__(self, vectors: npt.ArrayLike) -> F64:
        return self.apply(vectors)

    def matrix(self) -> F64:
        """The d×d matrix of H (column j = H e_j)."""
        return self.apply(np.eye(self.dim)).T


class HouseholderReflection(SphereAlignment):
    """H(v) = v − 2 u (uᵀ v) with unit normal `u` (CLAY's default alignment, §1.2 step 6).

    Built by `householder_reflection(a, b)` with u = normalize(a − b), which maps a onto b exactly.
    H is orthogonal and symmetric (a reflection, det −1), so it preserves all inner products.
    u = 0 (a == b) is the identity.
    """

    def __init__(self, normal: F64) -> None:
        self.normal = np.asarray(normal, dtype=np.float64)
        self.dim = int(self.normal.shape[0])

    def apply(self, vectors: npt.ArrayLike) -> F64:
        v = np.asarray(vectors, dtype=np.float64)
        return np.asarray(v - 2.0 * np.outer(v @ self.normal, self.normal), dtype=np.float64)

    def apply_transpose(self, vectors: npt.ArrayLike) -> F64:
        return self.apply(vectors)


class PlaneRotation(SphereAlignment):
    """The minimal rotation taking unit a to unit b: it turns the plane span{a, b} by the angle φ
    between them and fixes its orthogonal complement (det +1; the [INF] option of §1.2 step 6).

    R = I + sin φ (e₂e₁ᵀ − e₁e₂ᵀ) + (cos φ − 1)(e₁e₁ᵀ + e₂e₂ᵀ) with e₁ = a and e₂ the unit component
    of b orthogonal to a.
    """

    def __init__(self, first: F64, second: F64, angle: float) -> None:
        self.first = np.asarray(first, dtype=np.float64)
        self.second = np.asarray(second, dtype=np.float64)
        self.angle = float(angle)
        self.dim = int(self.first.shape[0])

    def _rotate(self, vectors: npt.ArrayLike, sign: float) -> F64:
        v = np.asarray(vectors, dtype=np.float64)
        along_first = v @ self.first
        along_second = v @ self.second
        cos_phi, sin_phi = np.cos(self.angle), sign * np.sin(self.angle)
        new_first = cos_phi * along_first - sin_phi * along_second
        new_second = sin_phi * along_first + cos_phi * along_second
        rotated = (
            v
            + np.outer(new_first - along_first, self.first)
            + np.outer(new_second - along_second, self.second)
        )
        return np.asarray(rotated, dtype=np.float64)

    def apply(self, vectors: npt.ArrayLike) -> F64:
        return self._rotate(vectors, 1.0)

    def apply_transpose(self, vectors: npt.ArrayLike) -> F64:
        return self._rotate(vectors, -1.0)


def _unit_pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[F64, F64]:
    a_unit = unit_vector(as_vector(a, "a"))
    b_unit = unit_vector(as_vector(b, "b", dim=a_unit.shape[0]))
    return a_unit, b_unit


def householder_reflection(a: npt.ArrayLike, b: npt.ArrayLike) -> HouseholderReflection:
    """The Householder reflection that maps the unit vector a onto b: u = normalize(a − b).

    Inputs are normalised first. For a == b it is the identity; "equal" means ‖a − b‖ ≤ 1e-6, the
    resolution of float32 embeddings. The reflection does not tend to the identity as a → b (u keeps a
    direction however small a − b is), so a difference made of rounding, e.g. an image mean computed
    in float32 against the same mean in float64, would otherwise reflect every vector through a
    hyperplane picked by that rounding.
    """
    a_unit, b_unit = _unit_pair(a, b)
    difference = a_unit - b_unit
    norm = float(np.linalg.norm(difference))
    if norm <= SAME_DIRECTION:
        return HouseholderReflection(np.zeros_like(a_unit))
    return HouseholderReflection(difference / norm)


def apply_householder(vectors: npt.ArrayLike, normal: npt.ArrayLike) -> F32:
    """H v = v − 2 u (uᵀ v) for each row of `vectors`, with the unit normal `normal` (float32 out)."""
    u = unit_vector(as_vector(normal, "normal"))
    v = as_matrix64(vectors, "vectors", dim=u.shape[0], dim_name="normal")
    return HouseholderReflection(u).apply(v).astype(np.float32)


def plane_rotation(a: npt.ArrayLike, b: npt.ArrayLike) -> PlaneRotation:
    """The minimal rotation that maps the unit vector a onto b (inputs are normalised first).

    For b == −a the rotation plane is not determined; the plane through a and the standard basis
    vector least aligned with a is used (any choice maps a to b).
    """
    a_unit, b_unit = _unit_pair(a, b)
    cosine = float(np.clip(a_unit @ b_unit, -1.0, 1.0))
    orthogonal = b_unit - cosine * a_unit
    norm = float(np.linalg.norm(orthogonal))
    if norm > 1e-12:
        return PlaneRotation(a_unit, orthogonal / norm, float(np.arctan2(norm, cosine)))
    if cosine > 0:
        return PlaneRotation(a_unit, np.zeros_like(a_unit), 0.0)
    basis = np.zeros_like(a_unit)
    basis[int(np.argmin(np.abs(a_unit)))] = 1.0
    orthogonal = basis - (basis @ a_unit) * a_unit
    return PlaneRotation(a_unit, orthogonal / np.linalg.norm(orthogonal), float(np.pi))
