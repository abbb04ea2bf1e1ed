"""The one encoder interface: images and texts in, float32 unit rows out.

Backends (built-in, open_clip, transformers) subclass `Encoder` and implement only the two
batch hooks `_embed_images` (decoded RGB PIL images) and `_embed_texts`. Decoding, batching,
progress bars, normalisation and per-item error reporting live here, once.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
from PIL import Image

from condsim._progress import track
from condsim.encoders.images import describe_source, load_image
from condsim.errors import ImageLoadError, InvalidInputError

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | Image.Image"


@dataclass(frozen=True)
class EncodeFailure:
    """One input that could not be embedded, with the reason in words."""

    index: int
    source: str
    reason: str


@dataclass
class PartialEncoding:
    """Embeddings of the inputs that could be read; `indices[i]` is the input row of `embeddings[i]`."""

    embeddings: np.ndarray
    indices: list[int] = field(default_factory=list)
    failures: list[EncodeFailure] = field(default_factory=list)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _batches(count: int, batch_size: int) -> range:
    if batch_size <= 0:
        raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
    return range(0, count, batch_size)


class Encoder(ABC):
    """A vision-language model that maps images and texts into one unit-sphere space."""

    #: stable identifier written into every index (a store built with one model refuses another)
    model_id: str
    #: embedding dimension
    dim: int

    @abstractmethod
    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Embed a batch of decoded RGB images; rows need not be normalised."""

    @abstractmethod
    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed a batch of texts; rows need not be normalised."""

    def encode_images_partial(
        self, images: Sequence[ImageInput], batch_size: int = 32, show_progress: bool = False
    ) -> PartialEncoding:
        """Embed every readable image; unreadable ones are reported in `failures`, never raised."""
        if isinstance(images, str | bytes | os.PathLike | Image.Image):
            raise InvalidInputError(
                f"encode_images takes a list of images, got one {type(images).__name__}",
                hint="wrap a single image in a list: encode_images([image])",
            )
        embedded: list[np.ndarray] = []
        indices: list[int] = []
        failures: list[EncodeFailure] = []
        starts = _batches(len(images), batch_size)
        for start in track(starts, total=len(starts), description="Embedding images", enabled=show_progress):
            decoded: list[Image.Image] = []
            for offset, source in enumerate(images[start : start + batch_size]):
                try:
                    decoded.append(load_image(source))
                    indices.append(start + offset)
                except ImageLoadError as error:
                    name = describe_source(source)
                    # load_image's messages start with the source's name, which `source` already holds
                    reason = str(error).removeprefix(f"{name}: ")
                    failures.append(EncodeFailure(start + offset, name, reason))
            if decoded:
                embedded.append(_unit_rows(self._embed_images(decoded)))
        matrix = np.concatenate(embedded) if embedded else np.zeros((0, self.dim), dtype=np.float32)
        return PartialEncoding(matrix, indices, failures)

    def encode_images(
        self, images: Sequence[ImageInput], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """(n, dim) float32 unit rows, one per input; raises `ImageLoadError` naming every bad input."""
        result = self.encode_images_partial(images, batch_size=batch_size, show_progress=show_progress)
        if result.failures:
            listed = "; ".join(f"{f.source}: {f.reason}" for f in result.failures[:5])
            more = f" (and {len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
            raise ImageLoadError(
                f"{len(result.failures)} of {len(images)} images could not be read: {listed}{more}",
                hint="use encode_images_partial() to embed the readable ones and list the rest",
            )
        return result.embeddings

    def encode_texts(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """(n, dim) float32 unit rows, one per text."""
        if isinstance(texts, str):
            raise InvalidInputError("encode_texts takes a list of strings, got one string")
        if any(not isinstance(text, str) for text in texts):
            raise InvalidInputError("encode_texts takes strings only")
        embedded = [
            _unit_rows(self._embed_texts(list(texts[start : start + batch_size])))
            for start in track(
                _batches(len(texts), batch_size),
                total=len(_batches(len(texts), batch_size)),
                description="Embedding texts",
                enabled=show_progress,
            )
        ]
        return np.concatenate(embedded) if embedded else np.zeros((0, self.dim), dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dim={self.dim})"
