"""Does a collection look like what the built-in model was trained on?

The built-in model (``condsim-scenes-v1``) learned from rendered scenes and playing cards only. On
photos it still returns unit vectors, and every search returns *something* with ordinary-looking
scores, so nothing tells the user the answers are noise. The embeddings do not tell either.
Measured with the shipped model on 60 rendered scenes, 30 cards, 40 crops of two photographs
(scikit-learn's sample images) and 40 each of 1/f noise, colour gradients and blurred blobs:

* the highest similarity to any prompt of six built-in conditions: 0.09-0.25 (5th-95th percentile)
  on scenes, 0.14-0.20 on photos;
* the mean similarity to the 5 nearest of 240 rendered images: 0.56-0.76 on scenes, 0.57-0.68 on
  photos, 0.69-0.72 on blurred blobs;
* the zero-shot confidence for colour (softmax at the model's logit scale): median 0.51 on scenes,
  0.47 on photos.

The pixels do tell. A rendered image has a flat background: the share of its pixels in its most
common colour (RGB quantised to 16 levels per channel, on a 64x64 thumbnail) was 0.16-0.84 (median
0.44) on scenes and 0.16-0.52 (median 0.34) on cards, against 0.02-0.22 (median 0.085) on photo
crops, 0.08-0.38 (median 0.12) on gradients and about 0.02 on 1/f noise. A collection whose median
share over a sample of its images is below `RENDERED_MEDIAN_SHARE` is unlike the training data.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

import numpy as np
from PIL import Image

from condsim.encoders.images import load_image
from condsim.encoders.registry import BUILTIN_ID_PREFIX
from condsim.errors import ImageLoadError

#: median background share below which a collection is unlike rendered scenes and cards (see above)
RENDERED_MEDIAN_SHARE = 0.15
#: images decoded for the check (spread over the collection)
SAMPLE_SIZE = 32
_THUMBNAIL = 64
_LEVELS = 16

UNLIKE_TRAINING_DATA = (
    "these images look unlike the built-in model's training data (rendered scenes and playing cards): "
    "its results on photos are unreliable. Index them with a CLIP model instead, e.g. --model "
    "openclip:ViT-B-32/openai or --model hf:openai/clip-vit-base-patch32 (`pip install open_clip_torch` "
    "or `transformers`; without internet access, download the weights elsewhere and pass --model DIR)"
)


def background_share(image: Image.Image) -> float:
    """The share of pixels in the image's most common colour (16 levels per channel, 64x64)."""
    pixels = np.asarray(image.convert("RGB").resize((_THUMBNAIL, _THUMBNAIL)), dtype=np.int64)
    levels = pixels * _LEVELS // 256
    keys = (levels[..., 0] * _LEVELS + levels[..., 1]) * _LEVELS + levels[..., 2]
    return float(np.bincount(keys.ravel()).max() / keys.size)


def looks_rendered(images: Sequence[Image.Image]) -> bool:
    """Whether a sample of a collection looks like rendered scenes or cards (median share at or above
    `RENDERED_MEDIAN_SHARE`); an empty sample is given the benefit of the doubt."""
    if not images:
        return True
    return statistics.median(background_share(image) for image in images) >= RENDERED_MEDIAN_SHARE


def builtin_domain_warning(model_id: str, paths: Sequence[str | os.PathLike[str]]) -> str | None:
    """`UNLIKE_TRAINING_DATA` when `model_id` is the built-in model (or one trained by `condsim
    train-model`) and a sample of up to `SAMPLE_SIZE` of `paths`, spread evenly, does not look
    rendered; None otherwise. Unreadable files are left out of the sample."""
    if not model_id.startswith(BUILTIN_ID_PREFIX) or not paths:
        return None
    step = max(1, len(paths) // SAMPLE_SIZE)
    sample: list[Image.Image] = []
    for path in list(paths)[::step][:SAMPLE_SIZE]:
        try:
            sample.append(load_image(path))
        except ImageLoadError:
            continue
    return None if looks_rendered(sample) else UNLIKE_TRAINING_DATA
