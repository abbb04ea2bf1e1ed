"""Models -> unit-norm embeddings: one interface (`Encoder`), one module per backend, one factory.

`load_encoder()` gives the built-in model; `load_encoder("openclip:ViT-B-32/openai")`,
`load_encoder("hf:openai/clip-vit-base-patch32")` or `load_encoder("/path/to/checkpoint")` give the
open_clip and transformers backends (see `condsim.encoders.registry` for every accepted name).
Backends import torch, open_clip and transformers only when a model is loaded.
"""

from __future__ import annotations

from condsim.encoders.base import EncodeFailure, Encoder, ImageInput, PartialEncoding
from condsim.encoders.images import MAX_IMAGE_PIXELS, load_image
from condsim.encoders.registry import BACKENDS, Backend, load_encoder, register_backend, unregister_backend
from condsim.encoders.torchvision_compat import ensure_torchvision_importable

__all__ = [
    "BACKENDS",
    "MAX_IMAGE_PIXELS",
    "Backend",
    "EncodeFailure",
    "Encoder",
    "ImageInput",
    "PartialEncoding",
    "ensure_torchvision_importable",
    "load_encoder",
    "load_image",
    "register_backend",
    "unregister_backend",
]
