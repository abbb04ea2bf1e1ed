"""Per-image random streams of the renderers, and the guard that keeps evaluation off training seeds.

Every image of a rendered dataset is drawn from its own stream derived from `(seed, index)`, so a
subset can be re-rendered alone and two seeds give independent images. The built-in model is
trained only on `TRAINING_SEEDS`; evaluation datasets call `check_not_training_seed` to keep their
images disjoint from training.
"""

from __future__ import annotations

import numpy as np

from condsim.errors import CondsimError, InvalidInputError

#: seeds the built-in model's training images are rendered from (scenes, then cards);
#: evaluation datasets must use other seeds (see `check_not_training_seed`)
TRAINING_SEEDS: frozenset[int] = frozenset({910_001, 910_002})
TRAINING_SCENE_SEED = 910_001
TRAINING_CARD_SEED = 910_002


class TrainingSeedError(CondsimError):
    """An evaluation dataset asked for a seed the built-in model was trained on."""


def check_not_training_seed(seed: int) -> None:
    """Raise `TrainingSeedError` if `seed` is one the built-in model saw during training."""
    if int(seed) in TRAINING_SEEDS:
        raise TrainingSeedError(
            f"seed {seed} was used to render the built-in model's training images",
            hint=f"evaluate on another seed (training seeds: {sorted(TRAINING_SEEDS)})",
        )


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of image `index` of the dataset `seed` (independent of every other image)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def check_image_count(n: int) -> None:
    """Refuse a negative number of images to render."""
    if n < 0:
        raise InvalidInputError(f"number of images must be non-negative, got {n}")
