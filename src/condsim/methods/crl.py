"""CRL: an image described by its cosines to a basis of condition texts (methods.md §2.1, §2.3).

R = I Tᵀ (paper Eq. 4), with I (N, d) and T (n, d) both L2-normalised: row k of R holds the cosine of
image k to each of the n descriptive texts (Eq. 6). Not a pseudo-inverse: the texts need not be
independent. Post-processing as in the official code:
  * "row": L2-normalise each row of R (retrieval, k-means clustering);
  * "fewshot": subtract ONE scalar mean taken over all entries of R, then divide each row by its own
    standard deviation (numpy ddof=0), the few-shot linear-probe protocol. The scalar mean is taken
    over the array passed to `transform`, as the CRL code does over the whole dataset: transform all
    images in one call.
`similarity` is the retrieval score of the GeneCIS protocol, cos(r_q, r_d), for either setting.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import numpy.typing as npt

from condsim.errors import InvalidInputError, NotFittedError
from condsim.methods._validation import F32, F64, as_matrix64, check_choice, safe_unit_rows, unit_rows
from condsim.methods.estimator import SpaceEstimator

CrlNormalize = Literal["row", "fewshot"]


class CrlSpace(SpaceEstimator):
    """CRL condition space: `CrlSpace().fit(prompt_embeddings).transform(image_embeddings)`.

    Fitted attributes: basis_ (n, d) float32 unit rows T, n_features_in_ (d), n_components_ (n),
    fingerprint_ (hex digest of everything `transform` uses, a cache key for precomputed R).
    """

    #: CRL compares images with texts directly: its fit never reads the image mean
    needs_image_mean = False

    def __init__(self, normalize: CrlNormalize = "row") -> None:
        self.normalize = normalize

    def fit(
        self,
        prompt_embeddings: npt.ArrayLike,
        y: object = None,
        *,
        image_mean: npt.ArrayLike | None = None,
        negative_prompt_embeddings: npt.ArrayLike | None = None,
    ) -> CrlSpace:
        """Store the L2-normalised text basis T (n, d) of one condition's descriptive texts (`y` is
        ignored: scikit-learn's unsupervised signature, `condsim.methods.estimator`).

        `image_mean` is accepted so that every conditional space fits the same way, and unused: CRL
        compares images with texts directly, without aligning the image cloud. A negative condition
        has no meaning in CRL and is refused.
        """
        check_choice(self.normalize, "normalize", ("row", "fewshot"))
        if negative_prompt_embeddings is not None:
            raise InvalidInputError(
                "CRL has no negative conditions.", hint="Use ClaySpace to ignore a condition."
            )
        basis = unit_rows(as_matrix64(prompt_embeddings, "prompt_embeddings"))
        self.basis_: F32 = np.ascontiguousarray(basis, dtype=np.float32)
        self.n_features_in_: int = int(basis.shape[1])
        self.n_components_: int = int(basis.shape[0])
        digest = hashlib.sha256(repr(("crl", self.normalize, self.basis_.shape)).encode())
        digest.update(self.basis_.tobytes())
        self.fingerprint_: str = digest.hexdigest()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "basis_"):
            raise NotFittedError(
                "This CrlSpace is not fitted yet.", hint="Call .fit(prompt_embeddings) first."
            )

    def representation(self, image_embeddings: npt.ArrayLike) -> F64:
        """The raw R = I Tᵀ (N, n) in float64 (image rows normalised first), before post-processing."""
        self._check_fitted()
        images = as_matrix64(
            image_embeddings, "image_embeddings", dim=self.n_features_in_, dim_name="the prompt embeddings"
        )
        return np.asarray(unit_rows(images) @ self.basis_.T.astype(np.float64), dtype=np.float64)

    def transform(self, image_embeddings: npt.ArrayLike) -> F32:
        """(N, n) float32 conditional representation, post-processed per `normalize` (module doc)."""
        check_choice(self.normalize, "normalize", ("row", "fewshot"))
        representation = self.representation(image_embeddings)
        if self.normalize == "row":
            return np.asarray(safe_unit_rows(representation), dtype=np.float32)
        if representation.size < 2:
            raise InvalidInputError(
                "The few-shot standardisation needs more than one entry.",
                hint="Transform the whole dataset in one call (the global mean is over all entries).",
            )
        centred = representation - representation.mean()
        deviations = centred.std(axis=1, keepdims=True)
        deviations[deviations <= 1e-12] = 1.0
        return np.asarray(centred / deviations, dtype=np.float32)

    def transform_texts(self, text_embeddings: npt.ArrayLike) -> F32:
        """(n, n_components_) texts in the same space: a text is described by its cosines to the basis
        exactly as an image is (CRL compares both modalities with T directly)."""
        return self.transform(text_embeddings)

    def similarity(self, query_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32:
        """(q, N) cosine between CRL representations, cos(q Tᵀ, d Tᵀ) (GeneCIS retrieval protocol)."""
        query = safe_unit_rows(self.representation(query_embeddings))
        images = safe_unit_rows(self.representation(image_embeddings))
        return np.asarray(query @ images.T, dtype=np.float32)
