"""How several conditions are combined (docs/methods.md §1.2): the paper's way, and our extension.

Several conditions c₁ … c_m are combined in one of two ways, named once here:

* ``"stack"`` (the paper, the default): one space fitted on the row-stacked prompt sets;
* ``"mean"`` (our extension): one space per condition, and the score is the weighted mean of the per-condition
  cosines, s = Σ_c w_c·cos_c with Σ_c w_c = 1. Concatenating the blocks √w_c·z_c gives one unit vector
  whose inner products are exactly that mean (`ClaySpace` does this; `Collection` sums the terms so
  that it can report each one).

`normalize_weights` is the one place where weights are normalised, and `MIN_WEIGHT`/`MAX_WEIGHT`
(`weight_in_range`) the one rule for a weight a user types;
`resolve_combine` the one place where a caller's choice (or none) becomes a mode: per-condition
weights only mean something for "mean", so giving weights without a mode selects it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from condsim.errors import InvalidInputError
from condsim.methods._validation import F64

Combine = Literal["stack", "mean"]
#: the accepted values of every `combine` option, default first
COMBINE_MODES: tuple[str, ...] = ("stack", "mean")

#: bounds of a user's weight: weights are relative (normalised to sum 1), so a ratio of 10^6 between
#: two conditions is already one of them alone; a zero weight is a condition left out (drop it instead)
MIN_WEIGHT, MAX_WEIGHT = 1e-3, 1e3


def weight_in_range(weight: float) -> bool:
    """Whether `weight` is a usable relative weight: a finite number in [`MIN_WEIGHT`, `MAX_WEIGHT`]."""
    return math.isfinite(weight) and MIN_WEIGHT <= weight <= MAX_WEIGHT


def resolve_combine(combine: str | None, has_weights: bool) -> Combine:
    """The combination to use: `combine` if given (checked), else "mean" when per-condition weights
    are given and "stack" (the paper) otherwise. Weights with "stack" are refused."""
    if combine is None:
        return "mean" if has_weights else "stack"
    if combine == "stack":
        if has_weights:
            raise InvalidInputError(
                "per-condition weights are not used with combine='stack' (one stacked subspace)",
                hint="use combine='mean' (--combine mean), or drop the weights",
            )
        return "stack"
    if combine == "mean":
        return "mean"
    raise InvalidInputError(f"unknown combine {combine!r}", hint="use 'stack' (the paper) or 'mean'")


def normalize_weights(weights: Sequence[float] | None, count: int) -> F64:
    """The weights w_c (count,) of the "mean" combination, normalised to sum 1 (default: equal).

    Raises `InvalidInputError` unless there are `count` finite non-negative weights, not all zero.
    The weights are divided by their largest first, so that huge ones (1e308) cannot overflow the sum.
    """
    if weights is None:
        return np.full(count, 1.0 / count, dtype=np.float64)
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (count,) or not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInputError(
            f"weights must be {count} finite non-negative numbers (one per condition), "
            f"got {list(weights)!r}.",
            hint="For example weights=[0.7, 0.3] for two conditions.",
        )
    largest = values.max(initial=0.0)
    if largest <= 0:
        raise InvalidInputError("weights sum to zero.", hint="Give at least one positive weight.")
    scaled = values / largest
    return np.asarray(scaled / scaled.sum(), dtype=np.float64)
