"""Unconditioned and simple conditioned baselines (methods.md §1.3 baselines, §2.3 GeneCIS fusion).

* `image_similarity`: plain image–image cosine; ignores the condition (the CLIP-B / SigLIP-B rows).
* `text_similarity`: cos(text, image), the condition text alone as the query.
* `image_text_similarity`: the query image and the condition text summed in embedding space
  (GeneCIS "Image + Text": q' = normalize(v̂_q + t̂)), then cosine with the database.
* `fuse_scores` / `genecis_fusion`: CRL's GeneCIS protocol S = S_text + α·S_crl, each score vector
  L2-normalised over the gallery first (α = 10).
All return float32 (q, N) score matrices; every input row is L2-normalised on entry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from condsim.errors import DimensionMismatchError, InvalidInputError
from condsim.methods._validation import F32, F64, as_matrix64, safe_unit_rows, unit_rows
from condsim.methods.crl import CrlSpace

#: CRL's weight of the CRL score against the text score in the GeneCIS fusion (§2.3).
GENECIS_ALPHA = 10.0


def _pair(query: npt.ArrayLike, images: npt.ArrayLike, query_name: str) -> tuple[F64, F64]:
    query_matrix = unit_rows(as_matrix64(query, query_name))
    image_matrix = unit_rows(
        as_matrix64(images, "image_embeddings", dim=query_matrix.shape[1], dim_name=query_name)
    )
    return query_matrix, image_matrix


def image_similarity(query_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32:
    """(q, N) plain cosine between query images and database images."""
    query, images = _pair(query_embeddings, image_embeddings, "query_embeddings")
    return np.asarray(query @ images.T, dtype=np.float32)


def text_similarity(text_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike) -> F32:
    """(t, N) cosine between condition texts and database images (text-only retrieval)."""
    texts, images = _pair(text_embeddings, image_embeddings, "text_embeddings")
    return np.asarray(texts @ images.T, dtype=np.float32)


def image_text_similarity(
    query_embeddings: npt.ArrayLike, text_embeddings: npt.ArrayLike, image_embeddings: npt.ArrayLike
) -> F32:
    """(q, N) cosine of normalize(v̂_q + t̂_q) with the database; one text row per query, or one text
    row shared by all queries."""
    query = unit_rows(as_matrix64(query_embeddings, "query_embeddings"))
    texts = unit_rows(
        as_matrix64(text_embeddings, "text_embeddings", dim=query.shape[1], dim_name="query_embeddings")
    )
    if texts.shape[0] not in (1, query.shape[0]):
        raise DimensionMismatchError(
            f"text_embeddings has {texts.shape[0]} rows for {query.shape[0]} queries.",
            hint="Give one text per query, or a single text for all queries.",
        )
    composed = safe_unit_rows(query + texts)
    images = unit_rows(
        as_matrix64(image_embeddings, "image_embeddings", dim=query.shape[1], dim_name="query_embeddings")
    )
    return np.asarray(composed @ images.T, dtype=np.float32)


def fuse_scores(text_scores: npt.ArrayLike, crl_scores: npt.ArrayLike, alpha: float = GENECIS_ALPHA) -> F32:
    """S = S_text / ‖S_text‖ + α · S_crl / ‖S_crl‖, each row (one query's gallery) normalised (§2.3)."""
    text = as_matrix64(text_scores, "text_scores")
    crl = as_matrix64(crl_scores, "crl_scores")
    if text.shape != crl.shape:
        raise DimensionMismatchError(
            f"text_scores {text.shape} and crl_scores {crl.shape} differ in shape.",
            hint="Score the same queries against the same gallery with both methods.",
        )
    if not np.isfinite(alpha):
        raise InvalidInputError(f"alpha={alpha} must be finite.", hint="CRL uses alpha=10.")
    return np.asarray(unit_rows(text) + alpha * unit_rows(crl), dtype=np.float32)


def genecis_fusion(
    query_embeddings: npt.ArrayLike,
    condition_text_embeddings: npt.ArrayLike,
    gallery_embeddings: npt.ArrayLike,
    prompt_embeddings: npt.ArrayLike,
    alpha: float = GENECIS_ALPHA,
) -> F32:
    """CRL's GeneCIS score (§2.3): S1 = cos(condition text, gallery) (the query image is not used),
    S2 = cos(q Tᵀ, g Tᵀ) with T the condition's descriptive texts, S = Ŝ1 + α·Ŝ2 over the gallery.
    One condition text row per query, or one row for all; returns (q, gallery) scores."""
    queries = as_matrix64(query_embeddings, "query_embeddings")
    text_scores = text_similarity(condition_text_embeddings, gallery_embeddings)
    if text_scores.shape[0] == 1:
        text_scores = np.repeat(text_scores, queries.shape[0], axis=0)
    elif text_scores.shape[0] != queries.shape[0]:
        raise DimensionMismatchError(
            f"condition_text_embeddings has {text_scores.shape[0]} rows for {queries.shape[0]} queries.",
            hint="Give one condition text per query, or a single one for all queries.",
        )
    crl_scores = CrlSpace("row").fit(prompt_embeddings).similarity(queries, gallery_embeddings)
    return fuse_scores(text_scores, crl_scores, alpha)
