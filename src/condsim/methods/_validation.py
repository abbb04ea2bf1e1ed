"""Boundary checks shared by the method modules.

Every public function of `condsim.methods` passes its array arguments through one of these helpers
once, so that a user mistake (wrong shape, NaN, a zero vector, an empty prompt set, text and image
embeddings from different models) fails early with a `CondsimError` that says what to do, instead of
surfacing later as a NaN similarity.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from condsim.errors import DimensionMismatchError, EmptyConditionError, InvalidInputError

FloatArray = npt.NDArray[np.floating[Any]]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: Row norms at or below this value count as zero vectors.
ZERO_NORM = 1e-12

ArrayT = TypeVar("ArrayT", F32, F64, FloatArray)


def as_matrix(
    array: npt.ArrayLike,
    name: str,
    *,
    dim: int | None = None,
    dim_name: str = "the fitted embeddings",
    allow_empty: bool = False,
    keep_float32: bool = False,
) -> FloatArray:
    """See `as_matrix64`; this variant may return float32 (when `keep_float32` is set)."""
    return _as_matrix(
        array, name, dim=dim, dim_name=dim_name, allow_empty=allow_empty, keep_float32=keep_float32
    )


def as_matrix64(
    array: npt.ArrayLike,
    name: str,
    *,
    dim: int | None = None,
    dim_name: str = "the fitted embeddings",
    allow_empty: bool = False,
) -> F64:
    """Validated float64 matrix (see `_as_matrix`)."""
    matrix = _as_matrix(array, name, dim=dim, dim_name=dim_name, allow_empty=allow_empty, keep_float32=False)
    return cast(F64, matrix)


def _as_matrix(
    array: npt.ArrayLike,
    name: str,
    *,
    dim: int | None,
    dim_name: str,
    allow_empty: bool,
    keep_float32: bool,
) -> FloatArray:
    """Return `array` as a finite 2-D float matrix of shape (n, d) without zero rows.

    `dim`, when given, is the dimension the rows must have (e.g. the text dimension seen in `fit`).
    The result is float64, except that float32 input stays float32 when `keep_float32` is set (the
    large image matrices, where a float64 copy would double memory and halve BLAS speed).
    """
    matrix = np.asarray(array)
    if matrix.dtype == object or not (
        np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)
    ):
        raise InvalidInputError(
            f"{name} must be a numeric array, got dtype {matrix.dtype}.",
            hint="Pass embeddings as a float32 or float64 numpy array of shape (n, d).",
        )
    if matrix.ndim != 2:
        raise InvalidInputError(
            f"{name} must be 2-D with shape (n, d), got shape {matrix.shape}.",
            hint="For a single vector pass `vector[None, :]`; stack several vectors with np.stack.",
        )
    if matrix.shape[0] == 0 and not allow_empty:
        raise EmptyConditionError(
            f"{name} is empty (0 rows).", hint="Pass at least one embedding (one row per item)."
        )
    if matrix.shape[1] == 0:
        raise InvalidInputError(f"{name} has 0 columns.", hint="Embeddings need at least one dimension.")
    if dim is not None and matrix.shape[1] != dim:
        raise DimensionMismatchError(
            f"{name} has dimension {matrix.shape[1]} but {dim_name} have dimension {dim}.",
            hint="Encode text and images with the same vision-language model (same embedding size).",
        )
    target = np.float32 if keep_float32 and matrix.dtype == np.float32 else np.float64
    matrix = np.asarray(matrix, dtype=target)
    check_rows(matrix, name)
    return matrix


def check_rows(matrix: FloatArray, name: str, *, offset: int = 0) -> None:
    """Raise if `matrix` contains NaN/inf or an all-zero row (row numbers reported from `offset`)."""
    finite = np.isfinite(matrix)
    if not finite.all():
        bad_row = int(np.argwhere(~finite)[0, 0]) + offset
        raise InvalidInputError(
            f"{name} contains NaN or inf (first at row {bad_row}).",
            hint="Re-encode the affected items or drop them before calling condsim.",
        )
    squared_norms = np.einsum("ij,ij->i", matrix, matrix)
    zero = squared_norms <= ZERO_NORM**2
    if zero.any():
        bad_row = int(np.flatnonzero(zero)[0]) + offset
        raise InvalidInputError(
            f"{name} contains a zero vector (first at row {bad_row}); it has no direction on the sphere.",
            hint="Drop zero embeddings (usually a failed encode) before calling condsim.",
        )


def as_vector(array: npt.ArrayLike, name: str, *, dim: int | None = None) -> F64:
    """Return `array` as a finite non-zero float64 vector of shape (d,) (a (1, d) row is accepted)."""
    vector = np.asarray(array)
    if vector.ndim == 2 and vector.shape[0] == 1:
        vector = vector[0]
    if vector.ndim != 1:
        raise InvalidInputError(
            f"{name} must be a vector of shape (d,), got shape {vector.shape}.",
            hint="Pass one embedding, e.g. the normalised mean of the database image embeddings.",
        )
    return cast(F64, as_matrix64(vector[None, :], name, dim=dim)[0])


def unit_rows(matrix: ArrayT) -> ArrayT:
    """L2-normalise the rows of a matrix already checked by `as_matrix` (no zero rows)."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    return cast(ArrayT, matrix / norms[:, None])


def as_unit_rows(
    array: npt.ArrayLike, name: str, *, dim: int | None = None, dim_name: str = ""
) -> FloatArray:
    """Validated unit rows (the one row normaliser for callers outside `methods`, too).

    float32 input stays float32 (ranking only needs float32, and a float64 copy of a large database
    doubles memory and halves BLAS speed); rows already of unit norm (to a few ulps) are used as given,
    without a normalised copy, so stored unit embeddings pass through bit for bit.
    """
    matrix = as_matrix(array, name, dim=dim, dim_name=dim_name or "the other embeddings", keep_float32=True)
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    if np.all(np.abs(norms - 1.0) <= 16 * np.finfo(matrix.dtype).eps):
        return matrix
    return unit_rows(matrix)


def safe_unit_rows(matrix: ArrayT) -> ArrayT:
    """L2-normalise rows; rows with zero norm stay zero (their cosine with anything is then 0)."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    norms[norms <= ZERO_NORM] = 1.0
    return cast(ArrayT, matrix / norms[:, None])


def unit_vector(vector: FloatArray) -> F64:
    """L2-normalise a non-zero vector in float64."""
    vector64 = np.asarray(vector, dtype=np.float64)
    return cast(F64, vector64 / np.linalg.norm(vector64))


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    """Raise `InvalidInputError` unless `value` is one of `choices`."""
    if value not in choices:
        raise InvalidInputError(
            f"{name}={value!r} is not supported.", hint=f"Use one of: {', '.join(map(repr, choices))}."
        )
