"""CLAY: conditional similarity by a text-derived subspace of the sphere's tangent space (methods.md §1.2).

Offline, once per condition c (`ClaySpace.fit`):
  µ_c = normalised mean of the prompt embeddings T_c;  L_c = [log_µc(t_i)] (Eq. 3);
  L_c = U Σ Vᵀ and V_k = top-k right singular vectors (Eq. 4);  H = alignment taking µ_db onto µ_c.
Online (`ClaySpace.transform`, `ClaySpace.similarity`):
  z(v) = normalize(V_kᵀ log_µc(H v)),  csim(q, d | c) = cos(z(q), z(d))  (Eq. 5).

Why transform is one matmul: log_µ(y) = (y − µ µᵀy) · θ/sin θ, and θ/sin θ is a positive per-row scalar
that the final normalisation removes, so z(v) = normalize(Wᵀ v) with the fixed d×k matrix
W = Hᵀ (I − µ_c µ_cᵀ) V_k (H is linear, and the scale of v cancels too). This is exact, not an
approximation; `tangent_coordinates` keeps the θ/sin θ factor for callers who need the geometry
(ranking along an axis, plots). Cosine in R^k equals cosine after the d×d projector P_c = V_k V_kᵀ
because V_k has orthonormal columns.

Extensions beyond the paper (marked [INF] in methods.md, all parameters):
  * alignment: "householder" (paper default), "rotation" (minimal plane rotation), "none".
  * manifold=False: the Euclidean "w/o manifold" ablation (SVD of the raw prompt matrix, IP-Composer).
  * several conditions: combine="stack" (the paper: one subspace from the row-stacked prompt sets) or
    combine="mean" (one subspace per condition; the similarity is the weighted mean of the
    per-condition cosines, realised by concatenating √wᵢ·zᵢ so that z stays one unit vector;
    `condsim.methods.weighting`).
  * a negative condition ("same shape, ignore colour"): the negative prompts' principal directions N
    are removed from the positive subspace, either from the log-mapped prompts before the SVD
    (negative_mode="before": the k directions are then the strongest positive directions ⟂ N) or from
    V_k after it (negative_mode="after": the span of V_k minus N, possibly fewer than k directions).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from condsim.errors import (
    CondsimWarning,
    DimensionMismatchError,
    EmptyConditionError,
    InvalidInputError,
    NotFittedError,
)
from condsim.methods._validation import (
    F32,
    F64,
    ZERO_NORM,
    FloatArray,
    as_matrix,
    as_matrix64,
    as_vector,
    check_choice,
    check_rows,
    safe_unit_rows,
    unit_rows,
    unit_vector,
)
from condsim.methods.estimator import SpaceEstimator
from condsim.methods.sphere import (
    SphereAlignment,
    _log_scale,
    householder_reflection,
    log_map_unchecked,
    plane_rotation,
)
from condsim.methods.weighting import COMBINE_MODES, Combine, normalize_weights

Alignment = Literal["householder", "rotation", "none"]
NegativeMode = Literal["before", "after"]
PromptInput = npt.ArrayLike | Sequence[npt.ArrayLike]

#: Default rows per block in `transform`: 8192 × 512 float32 is 16 MiB, so a block stays in cache
#: between the validation pass and the matmul while memory stays bounded for any N.
DEFAULT_CHUNK_SIZE = 8192


@dataclass(frozen=True)
class ClaySubspace:
    """The fitted state of one condition subspace (one block of z).

    mu: µ_c (d,); components: V_k (d, k), orthonormal columns in T_µc (manifold) or R^d (Euclidean);
    singular_values: (k,); alignment: H, or None; projection: W = Hᵀ(I − µµᵀ)V_k (d, k) float32, so
    that z = normalize(Wᵀv); aligned_mu: Hᵀµ_c, so that cos θ = vᵀ(Hᵀµ_c) for unit v.
    """

    mu: F64
    components: F64
    singular_values: F64
    alignment: SphereAlignment | None
    projection: F32
    aligned_mu: F64
    manifold: bool

    @property
    def k(self) -> int:
        """Number of directions kept (≤ the requested k)."""
        return int(self.components.shape[1])


def _prompt_sets(prompt_embeddings: PromptInput, name: str) -> list[F64]:
    """One prompt matrix, or a list/tuple of 2-D prompt matrices (one per condition)."""
    if isinstance(prompt_embeddings, list | tuple) and len(prompt_embeddings) == 0:
        raise EmptyConditionError(
            f"{name} is an empty list.", hint="Pass one (n, d) prompt matrix or a list of them."
        )
    items = list(prompt_embeddings) if isinstance(prompt_embeddings, list | tuple) else []
    ranks = [np.ndim(item) for item in items]
    if ranks and all(rank == 2 for rank in ranks):
        sets = [as_matrix64(item, f"{name}[{index}]") for index, item in enumerate(items)]
    elif 2 in ranks:
        raise InvalidInputError(
            f"{name} mixes matrices with other items.",
            hint="Pass one (n, d) prompt matrix, or a list of (n_i, d) matrices, one per condition.",
        )
    else:
        sets = [as_matrix64(cast(npt.ArrayLike, prompt_embeddings), name)]
    dim = sets[0].shape[1]
    for index, matrix in enumerate(sets):
        if matrix.shape[1] != dim:
            as_matrix64(matrix, f"{name}[{index}]", dim=dim, dim_name=f"{name}[0]")
    return [unit_rows(matrix) for matrix in sets]


#: Largest singular value below which prompt rows span no direction (all within ~1e-6 rad of µ_c).
_NO_DIRECTION = 1e-6


def _rank_tolerance(matrix: F64, rank_rtol: float | None) -> float:
    """Singular values ≤ tolerance·σ_max count as zero: numpy's matrix_rank rule at float32 eps (the
    embeddings are usually float32 even when passed as float64), floored at 1e-7 because the singular
    values come from a Gram matrix (accurate to about √eps64·σ_max ≈ 1.5e-8·σ_max)."""
    if rank_rtol is not None:
        return max(rank_rtol, 1e-7)
    return float(max(max(matrix.shape) * np.finfo(np.float32).eps, 1e-7))


def _principal_directions(
    matrix: F64, k: int, rank_rtol: float | None, what: str, *, warn: bool = True
) -> tuple[F64, F64]:
    """Top-k right singular vectors (d, k') and singular values of `matrix` (n, d), k' = min(k, rank).

    Computed from the eigendecomposition of the smaller Gram matrix (n×n for n ≤ d): for 100 prompts
    in d = 512 this is ~1 ms where a LAPACK SVD takes 3–40 ms on a busy machine. The kept directions
    are re-orthonormalised (CholeskyQR2), so V_k has orthonormal columns to float64 precision.
    """
    rows, dim = matrix.shape
    small_side = rows <= dim
    gram = matrix @ matrix.T if small_side else matrix.T @ matrix
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    singular_values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    eigenvectors = eigenvectors[:, order]
    top = float(singular_values[0]) if singular_values.size else 0.0
    # rows here are unit prompts or their log maps (norm θ ≤ π): a largest singular value this small is
    # rounding (a lone prompt's log map at its own mean comes out ~1e-16, not 0), not a direction
    spans_a_direction = top > _NO_DIRECTION
    rank = int(np.sum(singular_values > _rank_tolerance(matrix, rank_rtol) * top)) if spans_a_direction else 0
    if rank == 0:
        raise EmptyConditionError(
            f"The {what} span no direction (all prompts are the same); give at least two distinct prompts.",
            hint="CLAY needs n ≥ k distinct prompts for a rank-k subspace, e.g. 100 prompts for k=50.",
        )
    if k > rank and warn:
        warnings.warn(
            f"k={k} exceeds the numerical rank {rank} of the {what}; using k={rank}. "
            "Give more distinct prompts to use the full k.",
            CondsimWarning,
            stacklevel=4,
        )
    kept = min(k, rank)
    if small_side:
        right = matrix.T @ (eigenvectors[:, :kept] / singular_values[:kept])
    else:
        right = eigenvectors[:, :kept]
    return _reorthonormalize(right), singular_values[:kept].copy()


def _reorthonormalize(columns: F64) -> F64:
    """Orthonormal columns spanning `columns` (d, k), nearly orthonormal already: CholeskyQR twice
    (two k×k Cholesky factors; cheaper than a d×k Householder QR), QR as the fallback."""
    result = columns
    for _ in range(2):
        try:
            factor = np.linalg.cholesky(result.T @ result)
        except np.linalg.LinAlgError:
            orthonormal, triangular = np.linalg.qr(columns)
            return np.asarray(orthonormal * np.sign(np.diag(triangular)), dtype=np.float64)
        result = result @ np.linalg.inv(factor.T)
    return np.asarray(result, dtype=np.float64)


def _orthonormal_basis(vectors: F64, rank_rtol: float | None) -> F64:
    """An orthonormal basis (d, r) of the column span of `vectors` (d, m); r may be 0."""
    if vectors.shape[1] == 0:
        return vectors
    left, singular_values, _ = np.linalg.svd(vectors, full_matrices=False)
    top = float(singular_values[0])
    keep = singular_values > max(_rank_tolerance(vectors, rank_rtol), 1e-10) * max(top, 1.0)
    return np.asarray(left[:, keep], dtype=np.float64)


class ClaySpace(SpaceEstimator):
    """CLAY condition space, scikit-learn style: `ClaySpace(k=50).fit(prompts, image_mean=µ_db)`.

    Parameters
    ----------
    k: number of principal tangent directions kept (paper: 50); clipped to the numerical rank of the
        log-mapped prompts with a `CondsimWarning`.
    alignment: H taking µ_db onto µ_c: "householder" (paper), "rotation" (minimal plane rotation) or
        "none". Ignored when manifold=False.
    manifold: False gives the Euclidean ablation (SVD of the raw prompts, no log map, no H).
    combine: how a list of prompt sets is used: "stack" (paper) or "mean" (one subspace each).
    weights: per-condition weights for combine="mean" (non-negative; default equal).
    negative_mode: where a negative condition is removed: "before" or "after" the SVD.
    negative_k: number of negative directions removed (default: k).
    rank_rtol: relative singular-value tolerance for the numerical rank (default max(n, d)·eps32).

    Fitted attributes: subspaces_ (one `ClaySubspace` per block of z), weights_, projection_ (the
    d×k_ float32 matrix of the whole transform), k_ (output dimension), n_features_in_, image_mean_,
    negative_directions_ (d, r) or None, fingerprint_ (hex digest of everything `transform` uses,
    a cache key for precomputed z), and for one subspace mu_, components_, singular_values_,
    alignment_.
    """

    def __init__(
        self,
        k: int = 50,
        alignment: Alignment = "householder",
        manifold: bool = True,
        *,
        combine: Combine = "stack",
        weights: Sequence[float] | None = None,
        negative_mode: NegativeMode = "before",
        negative_k: int | None = None,
        rank_rtol: float | None = None,
    ) -> None:
        self.k = k
        self.alignment = alignment
        self.manifold = manifold
        self.combine = combine
        self.weights = weights
        self.negative_mode = negative_mode
        self.negative_k = negative_k
        self.rank_rtol = rank_rtol

    @property
    def needs_image_mean(self) -> bool:
        """Whether `fit` needs `image_mean` (µ_db): on the manifold, for any alignment but "none"."""
        return bool(self.manifold) and self.alignment != "none"

    def _check_params(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise InvalidInputError(f"k={self.k!r} must be a positive integer.", hint="The paper uses k=50.")
        if self.negative_k is not None and (not isinstance(self.negative_k, int) or self.negative_k < 1):
            raise InvalidInputError(
                f"negative_k={self.negative_k!r} must be a positive integer or None.",
                hint="None removes as many negative directions as k.",
            )
        check_choice(self.alignment, "alignment", ("householder", "rotation", "none"))
        check_choice(self.combine, "combine", COMBINE_MODES)
        check_choice(self.negative_mode, "negative_mode", ("before", "after"))
        if self.weights is not None and self.combine != "mean":
            raise InvalidInputError(
                "weights are only used with combine='mean'.",
                hint="Pass combine='mean' or drop weights (stacking has one subspace).",
            )

    def _weights(self, count: int) -> F64:
        if self.combine == "stack":
            return np.ones(1, dtype=np.float64)
        return normalize_weights(self.weights, count)

    def fit(
        self,
        prompt_embeddings: PromptInput,
        y: object = None,
        *,
        image_mean: npt.ArrayLike | None = None,
        negative_prompt_embeddings: PromptInput | None = None,
    ) -> ClaySpace:
        """Learn the condition subspace(s) from prompt embeddings (n, d) or a list of them.

        `y` is ignored (scikit-learn's signature for unsupervised estimators, so that a `Pipeline`
        can fit this step; see `condsim.methods.estimator`).

        `image_mean` is µ_db, the mean of the database image embeddings (normalised here; see
        `condsim.methods.sphere.normalized_mean`); required for manifold=True unless alignment="none".
        `negative_prompt_embeddings` (one matrix or a list, stacked) describe a condition to ignore.
        A list of 2-D arrays means several conditions; anything else is read as one (n, d) matrix.
        """
        self._check_params()
        prompt_sets = _prompt_sets(prompt_embeddings, "prompt_embeddings")
        dim = prompt_sets[0].shape[1]
        weights = self._weights(len(prompt_sets))
        if self.combine == "stack":
            prompt_sets = [np.vstack(prompt_sets)]

        image_mean_unit: F64 | None = None
        if image_mean is not None:
            image_mean_unit = unit_vector(as_vector(image_mean, "image_mean", dim=dim))
        if self.manifold and self.alignment != "none" and image_mean_unit is None:
            raise InvalidInputError(
                f"alignment={self.alignment!r} needs image_mean (µ_db, the mean database image embedding).",
                hint="Pass image_mean=condsim.methods.normalized_mean(image_embeddings) "
                "or use alignment='none'.",
            )

        negative: F64 | None = None
        if negative_prompt_embeddings is not None:
            negative_sets = _prompt_sets(negative_prompt_embeddings, "negative_prompt_embeddings")
            negative_matrix = np.vstack(negative_sets)
            as_matrix64(negative_matrix, "negative_prompt_embeddings", dim=dim, dim_name="prompt_embeddings")
            negative = self._negative_directions(negative_matrix)

        subspaces = [self._fit_one(prompts, image_mean_unit, negative) for prompts in prompt_sets]
        projection = np.hstack([subspace.projection for subspace in subspaces])

        self.subspaces_: tuple[ClaySubspace, ...] = tuple(subspaces)
        self.weights_: F64 = weights
        self.projection_: F32 = np.ascontiguousarray(projection, dtype=np.float32)
        self.k_: int = int(projection.shape[1])
        self.n_features_in_: int = dim
        self.image_mean_: F64 | None = image_mean_unit
        self.negative_directions_: F64 | None = negative
        digest = hashlib.sha256()
        digest.update(repr((self.manifold, self.alignment, [s.k for s in subspaces])).encode())
        digest.update(self.projection_.tobytes())
        digest.update(weights.tobytes())
        self.fingerprint_: str = digest.hexdigest()
        return self

    def _negative_directions(self, negative_prompts: F64) -> F64:
        """Principal directions of the negative prompt set: log-mapped at its own mean (manifold),
        i.e. how the negative condition varies, or the raw SVD (Euclidean ablation)."""
        k = self.negative_k if self.negative_k is not None else self.k
        if self.manifold:
            centre = unit_vector(negative_prompts.mean(axis=0))
            matrix = log_map_unchecked(negative_prompts, centre)
        else:
            matrix = negative_prompts
        directions, _ = _principal_directions(
            matrix, k, self.rank_rtol, "negative prompt embeddings", warn=False
        )
        return directions

    def _fit_one(self, prompts: F64, image_mean: F64 | None, negative: F64 | None) -> ClaySubspace:
        mean = prompts.mean(axis=0)
        if float(np.linalg.norm(mean)) <= 1e-9:
            raise InvalidInputError(
                "The prompt embeddings cancel out (zero mean), so µ_c is undefined.",
                hint="Use prompts from one text encoder that describe one condition.",
            )
        mu = unit_vector(mean)
        matrix = log_map_unchecked(prompts, mu) if self.manifold else prompts
        removed: F64 | None = None
        if negative is not None:
            tangent_negative = negative - np.outer(mu, mu @ negative) if self.manifold else negative
            removed = _orthonormal_basis(tangent_negative, self.rank_rtol)
            if self.negative_mode == "before":
                matrix = matrix - (matrix @ removed) @ removed.T
        components, singular_values = _principal_directions(
            matrix, self.k, self.rank_rtol, "log-mapped prompt embeddings" if self.manifold else "prompts"
        )
        if removed is not None and self.negative_mode == "after":
            basis = _orthonormal_basis(components - removed @ (removed.T @ components), self.rank_rtol)
            if basis.shape[1] == 0:
                raise EmptyConditionError(
                    "The negative condition removes the whole positive subspace.",
                    hint="Use fewer negative directions (negative_k) or prompts that differ more.",
                )
            _, singular_values, rotation = np.linalg.svd(matrix @ basis, full_matrices=False)
            components = basis @ rotation.T
        if not self.manifold:
            return ClaySubspace(
                mu=mu,
                components=components,
                singular_values=singular_values,
                alignment=None,
                projection=components.astype(np.float32),
                aligned_mu=mu,
                manifold=False,
            )
        alignment: SphereAlignment | None = None
        if self.alignment != "none" and image_mean is not None:
            build = householder_reflection if self.alignment == "householder" else plane_rotation
            alignment = build(image_mean, mu)
        tangent_components = components - np.outer(mu, mu @ components)
        if alignment is None:
            projection, aligned_mu = tangent_components, mu
        else:
            projection = alignment.apply_transpose(tangent_components.T).T
            aligned_mu = alignment.apply_transpose(mu[None, :])[0]
        return ClaySubspace(
            mu=mu,
            components=components,
            singular_values=singular_values,
            alignment=alignment,
            projection=np.ascontiguousarray(projection, dtype=np.float32),
            aligned_mu=aligned_mu,
            manifold=True,
        )

    # ----------------------------------------------------------------------------------- online

    def _check_fitted(self) -> None:
        if not hasattr(self, "subspaces_"):
            raise NotFittedError(
                "This ClaySpace is not fitted yet.",
                hint="Call .fit(prompt_embeddings, image_mean=...) before transform/similarity.",
            )

    def _chunks(self, image_embeddings: npt.ArrayLike, name: str, chunk_size: int) -> tuple[FloatArray, int]:
        self._check_fitted()
        images = np.asarray(image_embeddings)
        if images.ndim != 2:
            as_matrix64(images, name)
        if images.shape[1] != self.n_features_in_:
            raise DimensionMismatchError(
                f"{name} has dimension {images.shape[1]} but the prompt embeddings given to fit have "
                f"dimension {self.n_features_in_}.",
                hint="Encode text and images with the same vision-language model (same embedding size).",
            )
        if chunk_size < 1:
            raise InvalidInputError(f"chunk_size={chunk_size} must be positive.", hint="Use e.g. 8192.")
        return images, images.shape[0]

    def _blocks(self) -> list[tuple[int, int, float]]:
        blocks, start = [], 0
        for subspace, weight in zip(self.subspaces_, self.weights_, strict=True):
            blocks.append((start, start + subspace.k, float(np.sqrt(weight))))
            start += subspace.k
        return blocks

    def transform(self, image_embeddings: npt.ArrayLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> F32:
        """(N, k_) float32 rows z = normalize(V_kᵀ log_µc(H v)) (Eq. 5); for several weighted
        conditions the blocks √wᵢ·zᵢ are concatenated. Pure given the fitted state, so z can be cached
        per condition (key: `fingerprint_`). Rows whose projection is zero (v at µ_c after alignment,
        or ⟂ the subspace) stay zero and have cosine 0 with everything. An empty (0, d) input gives
        (0, k_). Memory: one block of `chunk_size` rows at a time. NaN/inf and zero input rows raise
        as everywhere else, but are detected from the projected row norms the normalisation computes
        anyway (`_check_projected_rows`), not by extra passes over the (N, d) input.
        """
        images, count = self._chunks(image_embeddings, "image_embeddings", chunk_size)
        as_matrix(images[:0], "image_embeddings", allow_empty=True)  # dtype check, no pass over the data
        output = np.empty((count, self.k_), dtype=np.float32)
        blocks = self._blocks()
        for start in range(0, count, chunk_size):
            chunk = images[start : start + chunk_size]
            with np.errstate(invalid="ignore", over="ignore"):  # bad rows raise just below
                projected = np.asarray(chunk, dtype=np.float32) @ self.projection_
                squared_norms = [
                    np.einsum("ij,ij->i", projected[:, first:last], projected[:, first:last])
                    for first, last, _ in blocks
                ]
            _check_projected_rows(chunk, squared_norms, start)
            for (first, last, scale), block_squared in zip(blocks, squared_norms, strict=True):
                norms = np.sqrt(block_squared)
                norms[norms <= ZERO_NORM] = 1.0
                if scale != 1.0:
                    norms /= np.float32(scale)
                output[start : start + chunk.shape[0], first:last] = projected[:, first:last] / norms[:, None]
        return output

    def tangent_coordinates(
        self, image_embeddings: npt.ArrayLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> F32:
        """(N, k_) float32 un-normalised m_CLAY(v) = V_kᵀ log_µc(H v) in the basis V_k (Eq. 5 before the
        cosine; V_kᵀ v for the Euclidean ablation). Keeps the geodesic length θ that `transform`
        normalises away: use it to order images along a condition axis or to plot the space."""
        images, count = self._chunks(image_embeddings, "image_embeddings", chunk_size)
        output = np.empty((count, self.k_), dtype=np.float32)
        for start in range(0, count, chunk_size):
            chunk = unit_rows(as_matrix64(images[start : start + chunk_size], "image_embeddings"))
            first = 0
            for subspace in self.subspaces_:
                coordinates = chunk @ subspace.projection.astype(np.float64)
                if subspace.manifold:
                    cosines = chunk @ subspace.aligned_mu
                    sines = np.sqrt(np.maximum(1.0 - cosines**2, 0.0))
                    coordinates *= _log_scale(cosines, sines)[:, None]
                output[start : start + chunk.shape[0], first : first + subspace.k] = coordinates
                first += subspace.k
        return output

    def transform_texts(self, text_embeddings: npt.ArrayLike) -> F32:
        """(n, k_) float32 rows of texts in the space of `transform`: z = normalize(V_kᵀ t) per block.

        No alignment H: a text already sits on the prompt side of the modality gap, where µ_c lives,
        and V_k ⟂ µ_c, so the tangent projection of t is V_kᵀ t (the θ/sin θ factor of the log map
        cancels in the normalisation, as in Eq. 5). Several weighted conditions give the blocks
        √wᵢ·zᵢ side by side, as `transform` does. A text orthogonal to the subspace stays zero.
        """
        self._check_fitted()
        texts = as_matrix64(
            text_embeddings, "text_embeddings", dim=self.n_features_in_, dim_name="the prompt embeddings"
        )
        blocks = [
            safe_unit_rows(texts @ subspace.components) * np.sqrt(weight)
            for subspace, weight in zip(self.subspaces_, self.weights_, strict=True)
        ]
        return np.asarray(blocks[0] if len(blocks) == 1 else np.hstack(blocks), dtype=np.float32)

    def similarity(self, query_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32:
        """(q, N) conditional cosine similarity cos(z(q), z(d)) (Eq. 5; weighted mean for several
        weighted conditions). For repeated queries cache `transform(images)` and use `z_q @ z_db.T`."""
        query_z = self.transform(query_embeddings)
        image_z = self.transform(image_embeddings)
        return np.asarray(query_z @ image_z.T, dtype=np.float32)

    # ---------------------------------------------------------------- single-subspace shortcuts

    def _single(self, name: str) -> ClaySubspace:
        self._check_fitted()
        if len(self.subspaces_) != 1:
            raise InvalidInputError(
                f"{name} is defined for one subspace; this space has {len(self.subspaces_)} "
                f"(combine='mean'): read subspaces_[i] instead.",
                hint=f"subspaces_[i].{name.rstrip('_')} holds condition i's value.",
            )
        return self.subspaces_[0]

    @property
    def mu_(self) -> F64:
        """µ_c, the normalised prompt mean (d,)."""
        return self._single("mu_").mu

    @property
    def components_(self) -> F64:
        """V_k (d, k_), orthonormal columns."""
        return self._single("components_").components

    @property
    def singular_values_(self) -> F64:
        """Singular values of the (log-mapped) prompt matrix along components_."""
        return self._single("singular_values_").singular_values

    @property
    def alignment_(self) -> SphereAlignment | None:
        """The fitted alignment H (None for alignment='none' or manifold=False)."""
        return self._single("alignment_").alignment


def _check_projected_rows(
    chunk: npt.ArrayLike, squared_norms: list[npt.NDArray[np.float32]], offset: int
) -> None:
    """The NaN/inf and zero-row checks of `check_rows`, read off the projection's row norms that
    `transform` needs anyway (a pass over (n, k_) instead of two over (n, d)): a NaN/inf in an input
    row makes its squared projected norm non-finite, and a zero input row projects to zero, so only
    rows flagged there are looked at in the input (where `check_rows` raises with the row number).
    A finite row that overflows float32 in the projection is reported as such."""
    total = np.sum(squared_norms, axis=0)
    finite = np.isfinite(total)
    suspects = np.flatnonzero(~finite | (total <= ZERO_NORM**2))
    if suspects.size == 0:
        return
    rows = np.asarray(chunk)
    for row in suspects:
        check_rows(
            np.asarray(rows[row : row + 1], dtype=np.float64), "image_embeddings", offset=offset + int(row)
        )
    if not finite.all():
        raise InvalidInputError(
            f"image_embeddings overflow float32 in the projection (first at row "
            f"{int(np.flatnonzero(~finite)[0]) + offset}).",
            hint="Pass unit-norm (or at least moderately scaled) embeddings.",
        )
