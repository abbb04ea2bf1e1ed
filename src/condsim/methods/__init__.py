"""Pure math of conditional similarity on fixed embeddings (numpy/scipy only; no I/O, no models).

CLAY (`ClaySpace`), CRL (`CrlSpace`), the baselines, PC-CLIP's comparative tools and the GA-CLIP
reconstruction (re-ranking, steering), with the sphere geometry they share. Equations: methods.md.
`SPACES` / `make_space` is the one registry of conditional spaces everything above dispatches
through; `unit_rows` is the one row normaliser (validated; unit rows pass through unchanged).
"""

from __future__ import annotations

from condsim.methods._validation import as_unit_rows as unit_rows
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
    most_confused_pairs,
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
from condsim.methods.spaces import (
    CONDITIONAL_METHODS,
    FEATURE_METHODS,
    QUERY_METHODS,
    SPACES,
    ConditionalSpace,
    EmbeddedCondition,
    PlainSpace,
    SpaceOptions,
    check_method,
    make_space,
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
from condsim.methods.weighting import (
    COMBINE_MODES,
    MAX_WEIGHT,
    MIN_WEIGHT,
    Combine,
    normalize_weights,
    resolve_combine,
    weight_in_range,
)

__all__ = [
    "COMBINE_MODES",
    "COMPARATIVE_ALPHA",
    "CONDITIONAL_METHODS",
    "FEATURE_METHODS",
    "GENECIS_ALPHA",
    "MAX_WEIGHT",
    "MIN_WEIGHT",
    "QUERY_METHODS",
    "SPACES",
    "ClaySpace",
    "ClaySubspace",
    "Combine",
    "ConditionalSpace",
    "CrlSpace",
    "EmbeddedCondition",
    "HouseholderReflection",
    "PlainSpace",
    "PlaneRotation",
    "SpaceOptions",
    "SphereAlignment",
    "apply_householder",
    "check_method",
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
    "make_space",
    "most_confused_pairs",
    "neighbourhood_rerank",
    "normalize_weights",
    "normalized_mean",
    "plane_rotation",
    "rank_by_attribute",
    "resolve_combine",
    "steer_query",
    "steering_direction",
    "text_similarity",
    "top_k",
    "unit_rows",
    "weight_in_range",
]
