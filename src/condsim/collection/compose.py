"""Composed queries: an image plus a text ("like this image, but red"), limited to a path glob or
to scores above a minimum.

A text modifier moves the image query inside the space the query is scored in (a condition's CLAY or
CRL space, or the plain embedding space), along the great circle towards what the text describes:

    target = normalize(Σ_{d ∈ top_m(z_t)} z_d)                       (1)  the text's images (Rocchio)
    z'_q   = slerp(z_q, target, α)                                    (2)
           = sin((1 − α)θ)/sin θ · z_q + sin(αθ)/sin θ · target,  θ = arccos(z_q · target)

(2) is the exact geodesic form of z_q + α·(target − (target·z_q) z_q): the part of the target
orthogonal to the query, added with weight α and kept on the unit sphere. α = 0 is the image alone,
α = 1 is the text's images alone; the default α = 0.5 is the midpoint, whose nearest images share
the text's value and are otherwise closest to the query.

Why (1) instead of the text's own point z_t: texts and images sit apart even inside a condition space
(the modality gap; CLAY's alignment H is applied to images only), so the midpoint of z_q and z_t
stays in the images' half and barely changes the ranking. The centroid of the m images the text
matches best (Rocchio's relevance feedback with pseudo-relevant images, m = `TEXT_TARGET_DEPTH`)
lies among the images, so α means what it says. On 600 rendered scenes with the built-in model,
"but red" at α = 0.5 turns 28 % red results (text point) into 95 % (target (1)) by colour, and
7 % into 72 % in the plain space.

With several conditions, the text moves the query in one of them only: the condition whose prompts
the text is closest to (max cosine of the text with any of its prompts), so that `--by shape --by
color --text red` keeps the shape of the image and asks for red; the other terms score the image.
That needs one space per condition, so a text query combines its conditions by "mean" unless
told otherwise (with combine="stack" the text moves the query in the one stacked space).

`path_mask` restricts a query to the images whose path relative to the indexed folder matches a glob
(before the top k is taken, so k results still come back); `check_min_score` validates a minimum
score, below which results are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np

from condsim.errors import InvalidInputError

#: m of (1): how many of the text's best images make its target (fewer when the collection is smaller)
TEXT_TARGET_DEPTH = 20
#: α of (2) when none is given
DEFAULT_TEXT_WEIGHT = 0.5


def check_text_weight(weight: float) -> float:
    """α if it is a number in (0, 1], else an `InvalidInputError` saying what α does."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 < float(weight) <= 1.0:
        raise InvalidInputError(
            f"text_weight={weight!r} must be a number in (0, 1]: how far the text moves the image query",
            hint="e.g. 0.5 (halfway between the image and the text's images); 1 = the text alone",
        )
    return float(weight)


@dataclass(frozen=True)
class TextShift:
    """The text modifier of an image query: its (1, d) unit embedding, α, and the index of the score
    term it moves (`relevant_term`; 0 for plain similarity)."""

    text_embedding: np.ndarray
    weight: float = DEFAULT_TEXT_WEIGHT
    term: int = 0

    def apply(self, query_z: np.ndarray, text_z: np.ndarray, database_z: np.ndarray) -> np.ndarray:
        """The queries (q, m) moved towards the text: Eq. (2) with the target of Eq. (1).

        `text_z` is the text in the same space (1, m), `database_z` the database there (N, m).
        """
        target = text_target(text_z, database_z)
        return slerp(query_z, target, self.weight)


def text_target(text_z: np.ndarray, database_z: np.ndarray, depth: int = TEXT_TARGET_DEPTH) -> np.ndarray:
    """Eq. (1): the unit centroid of the `depth` database rows most similar to the text, (m,)."""
    if len(database_z) == 0:
        raise InvalidInputError("the collection holds no images to move the query towards")
    scores = np.asarray(database_z @ np.asarray(text_z, dtype=np.float32).reshape(-1), dtype=np.float32)
    depth = min(depth, len(scores))
    best = np.argpartition(-scores, depth - 1)[:depth]
    centroid = np.asarray(database_z[np.sort(best)], dtype=np.float64).sum(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm < 1e-12:
        raise InvalidInputError(
            "the text's best-matching images cancel out in this space, so it gives no direction",
            hint="rephrase the text, or query under a condition the text is about",
        )
    return np.asarray(centroid / norm)


def slerp(query_z: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """Eq. (2) for every row of `query_z` (q, m): a fraction `weight` of the way to `target` along the
    great circle, as float32 unit rows. A zero query row (a CLAY image orthogonal to the subspace)
    becomes the target itself."""
    queries = np.asarray(query_z, dtype=np.float64)
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    units = np.divide(queries, norms, out=np.zeros_like(queries), where=norms > 1e-12)
    cosines = np.clip(units @ target, -1.0, 1.0)[:, None]
    theta = np.arccos(cosines)
    sin_theta = np.sin(theta)
    safe = sin_theta > 1e-6
    away = np.divide(
        np.sin((1.0 - weight) * theta), sin_theta, out=np.full_like(theta, 1.0 - weight), where=safe
    )
    toward = np.divide(np.sin(weight * theta), sin_theta, out=np.full_like(theta, weight), where=safe)
    moved = away * units + toward * target[None, :]
    moved[norms[:, 0] <= 1e-12] = target
    lengths = np.linalg.norm(moved, axis=1, keepdims=True)
    return np.asarray(moved / np.maximum(lengths, 1e-12), dtype=np.float32)


def relevant_term(text_embedding: np.ndarray, prompt_sets: Sequence[np.ndarray]) -> int:
    """The index of the prompt set the text is closest to (max cosine with any of its prompts): the
    condition the text is about. Ties go to the first."""
    text = np.asarray(text_embedding, dtype=np.float64).reshape(-1)
    closeness = [float(np.max(np.asarray(prompts, dtype=np.float64) @ text)) for prompts in prompt_sets]
    return int(np.argmax(closeness)) if closeness else 0


def path_mask(relpaths: Sequence[str], glob: str) -> np.ndarray:
    """Which images (a bool per relative path) match `glob`, as `fnmatch` reads it (``*`` also crosses
    folders: "cats/*" is everything under cats/); one that matches nothing is an `InvalidInputError`."""
    if not isinstance(glob, str) or not glob.strip():
        raise InvalidInputError("the path glob is empty", hint='e.g. "holidays/*" or "*.jpg"')
    mask = np.fromiter((fnmatchcase(relpath, glob) for relpath in relpaths), dtype=bool, count=len(relpaths))
    if not mask.any():
        example = relpaths[0] if relpaths else "photo.jpg"
        raise InvalidInputError(
            f"the path glob {glob!r} matches none of the {len(relpaths)} indexed images",
            hint=f"globs match paths relative to the indexed folder, such as {example!r}",
        )
    return mask


def check_min_score(min_score: float | None) -> float | None:
    """`min_score` as a float (None: no minimum); anything but a number in [-1, 1] (scores are cosines)
    is refused, since a bound outside it would keep everything or nothing."""
    if min_score is None:
        return None
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not math.isfinite(min_score)
        or not -1.0 <= min_score <= 1.0
    ):
        raise InvalidInputError(
            f"min_score={min_score!r} must be a number in [-1, 1]",
            hint="e.g. 0.5 (scores are cosines)",
        )
    return float(min_score)
