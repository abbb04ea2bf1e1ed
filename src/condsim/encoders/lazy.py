"""`LazyEncoder`: an encoder whose model is loaded the first time something must be embedded.

A query by an already-indexed image, with its condition's prompt embeddings cached, needs no model
at all; nor does a re-index that finds nothing new. Loading one (and importing torch) costs seconds
and hundreds of MB, so the command line hands the library a `LazyEncoder` that knows the store's
model id and dimension up front and loads the real model only when `encode_*` is first called. The
loaded model must carry that very id and dimension (a store is never served by another model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from condsim.encoders.base import Encoder, ImageInput, PartialEncoding
from condsim.errors import StoreModelMismatchError


class LazyEncoder(Encoder):
    """Stands for the model `model_id` (of dimension `dim`) until `load()` is first needed.

    `load` is called at most once, whichever thread asks first; `loaded` says whether it was. Every
    encode call is delegated to the loaded model, so its own batching and decoding rules apply.
    """

    def __init__(self, load: Callable[[], Encoder], *, model_id: str, dim: int) -> None:
        self._load = load
        self._model: Encoder | None = None
        self._loading = threading.Lock()
        self.model_id = model_id
        self.dim = dim

    @property
    def loaded(self) -> bool:
        """Whether the real model has been loaded."""
        return self._model is not None

    @property
    def input_size(self) -> int | None:  # type: ignore[override]
        """The loaded model's input size (None before loading: nothing is decoded before then)."""
        return self._model.input_size if self._model is not None else None

    def model(self) -> Encoder:
        """The real model, loaded on the first call and checked against the expected id and dim."""
        with self._loading:
            if self._model is None:
                model = self._load()
                if model.model_id != self.model_id or model.dim != self.dim:
                    raise StoreModelMismatchError(
                        f"the model loaded is {model.model_id!r} ({model.dim}-d), but the store was built "
                        f"with {self.model_id!r} ({self.dim}-d)",
                        hint="pass the model the store was indexed with: --model NAME_OR_PATH",
                    )
                self._model = model
            return self._model

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.model()._embed_images(images)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.model()._embed_texts(texts)

    def iter_encode_images(
        self, images: Sequence[ImageInput], batch_size: int = 32
    ) -> Iterator[PartialEncoding]:
        if len(images) == 0:  # nothing to embed: no reason to load the model
            return super().iter_encode_images(images, batch_size=batch_size)
        return self.model().iter_encode_images(images, batch_size=batch_size)

    def encode_images_partial(
        self, images: Sequence[ImageInput], batch_size: int = 32, show_progress: bool = False
    ) -> PartialEncoding:
        if len(images) == 0:
            return super().encode_images_partial(images, batch_size=batch_size)
        return self.model().encode_images_partial(images, batch_size=batch_size, show_progress=show_progress)

    def encode_texts(
        self, texts: Sequence[str] | str, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        if len(texts) == 0:
            return super().encode_texts(texts, batch_size=batch_size)
        return self.model().encode_texts(texts, batch_size=batch_size, show_progress=show_progress)

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"LazyEncoder(model_id={self.model_id!r}, dim={self.dim}, {state})"
