"""Pure math of conditional similarity on fixed embeddings (numpy/scipy only; no I/O, no models).

CLAY (`ClaySpace`), CRL (`CrlSpace`), the baselines, PC-CLIP's comparative tools and the GA-CLIP
reconstruction (re-ranking, steering), with the sphere geometry they share. Equations: methods.md.
"""

from __future__ import annotations

from condsim.methods.baseline import (
    GENECIS_ALPHA,
    fuse_scores,
    genecis_fusion,
    image_similarity,
    image_text_similarity,
    text_similarity,
)
from condsim.methods.clay import ClaySpace, ClaySubspace
from condsim.methods.comparative import (
    COMPARATIVE_ALPHA,
    comparative_class_prompts,
    difference_classification_accuracy,
    difference_correct,
    rank_by_attribute,
)
from condsim.methods.crl import CrlSpace
from condsim.methods.rerank import (
    hungarian_match_score,
    hungarian_rerank,
    neighbourhood_rerank,
    steer_query,
    steering_direction,
    top_k,
)
from condsim.methods.sphere import (
    HouseholderReflection,
    PlaneRotation,
    SphereAlignment,
    apply_householder,
    exp_map,
    householder_reflection,
    log_map,
    normalized_mean,
    plane_rotation,
)

__all__ = [
    "COMPARATIVE_ALPHA",
    "GENECIS_ALPHA",
    "ClaySpace",
    "ClaySubspace",
    "CrlSpace",
    "HouseholderReflection",
    "PlaneRotation",
    "SphereAlignment",
    "apply_householder",
    "comparative_class_prompts",
    "difference_classification_accuracy",
    "difference_correct",
    "exp_map",
    "fuse_scores",
    "genecis_fusion",
    "householder_reflection",
    "hungarian_match_score",
    "hungarian_rerank",
    "image_similarity",
    "image_text_similarity",
    "log_map",
    "neighbourhood_rerank",
    "normalized_mean",
    "plane_rotation",
    "rank_by_attribute",
    "steer_query",
    "steering_direction",
    "text_similarity",
    "top_k",
]
