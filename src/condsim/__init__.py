"""condsim: conditional image similarity on fixed vision-language embeddings.

Image embeddings are computed once; a condition ("colour", "shape", "count", ...) is a cheap
transform of those embeddings applied at query time (CLAY, CRL, re-ranking, comparative prompts).

The main API is one attribute away and imported on first use (PEP 562), so ``import condsim`` stays
fast and loads neither numpy nor torch::

    import condsim

    encoder = condsim.load_encoder()                            # the built-in model, or "openclip:..."
    condsim.index_folder("photos/", "photos.condsim", encoder)  # embed a folder once
    with condsim.Collection.open("photos.condsim") as photos:   # then query it under conditions
        hits = photos.similar("photos/cat.jpg", by="color", k=10)
    space = condsim.ClaySpace(k=50).fit(prompt_embeddings, image_mean=image_embeddings.mean(axis=0))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from condsim._lazy import lazy_attributes
from condsim.errors import CondsimError

if TYPE_CHECKING:  # what mypy and editors see; at run time `__getattr__` imports these on first use
    from condsim.collection import Collection, index_folder
    from condsim.encoders import load_encoder
    from condsim.methods import ClaySpace, CrlSpace

__version__ = "0.1.0"

#: public name -> the module that defines it; each is imported the first time it is asked for
_LAZY: dict[str, str] = {
    "Collection": "condsim.collection",
    "index_folder": "condsim.collection",
    "load_encoder": "condsim.encoders",
    "ClaySpace": "condsim.methods",
    "CrlSpace": "condsim.methods",
}

__all__ = [
    "ClaySpace",
    "Collection",
    "CondsimError",
    "CrlSpace",
    "__version__",
    "index_folder",
    "load_encoder",
]


if not TYPE_CHECKING:  # hidden from mypy, so a misspelt `condsim.Colection` stays a type error
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
