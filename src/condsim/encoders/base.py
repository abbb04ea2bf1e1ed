"""The one encoder interface: images and texts in, float32 unit rows out.

Backends (built-in, open_clip, transformers) subclass `Encoder` and implement only the two
batch hooks `_embed_images` (decoded RGB PIL images) and `_embed_texts`. Decoding, batching,
progress bars, normalisation and per-item error reporting live here, once.

Images are decoded in worker threads one batch ahead of the model (Pillow releases the GIL while
decoding), shrunk towards the model's `input_size` as they are decoded, under one `PixelBudget`
that bounds the full-size pixels held at once (`condsim.encoders.images`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from condsim._progress import track
from condsim._types import ImageInput as ImageInput  # re-exported: the encoders' input type
from condsim.encoders.images import PixelBudget, describe_source, load_image
from condsim.errors import ImageLoadError, InvalidInputError


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
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


#: threads decoding images ahead of the model
DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))


def _decode_one(
    source: ImageInput, index: int, target: int | None, budget: PixelBudget
) -> Image.Image | EncodeFailure:
    """One input decoded for the model, or the reason it cannot be (never raised: collected per item)."""
    try:
        return load_image(source, target=target, budget=budget)
    except ImageLoadError as error:
        name = describe_source(source)
        # load_image's messages start with the source's name, which `source` already holds
        return EncodeFailure(index, name, str(error).removeprefix(f"{name}: "))


def _is_single_image(images: object) -> bool:
    """Whether `images` is one image rather than a sequence of them (`ImageInput`)."""
    return isinstance(images, str | bytes | os.PathLike | Image.Image)


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

    #: the side, in pixels, the model resizes its input to; images larger than twice that are decoded
    #: smaller (never below it). None: decoded at full size.
    input_size: int | None = None

    def iter_encode_images(
        self, images: Sequence[ImageInput], batch_size: int = 32
    ) -> Iterator[PartialEncoding]:
        """Embed `images` batch by batch, yielding one `PartialEncoding` per batch (indices count from
        the start of `images`); the next batch is decoded in threads while the model embeds this one."""
        if _is_single_image(images):
            raise InvalidInputError(
                f"iter_encode_images and encode_images_partial take a list of images, got one "
                f"{type(images).__name__}",
                hint="wrap a single image in a list, or call encode_images(image) for its one row",
            )
        return self._iter_batches(images, _batches(len(images), batch_size), batch_size)

    def _iter_batches(
        self, images: Sequence[ImageInput], starts: range, batch_size: int
    ) -> Iterator[PartialEncoding]:
        if not starts:
            return
        budget = PixelBudget()
        with ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="condsim-decode") as pool:

            def submit(start: int) -> list[Future[Image.Image | EncodeFailure]]:
                return [
                    pool.submit(_decode_one, source, start + offset, self.input_size, budget)
                    for offset, source in enumerate(images[start : start + batch_size])
                ]

            pending = submit(starts[0])
            for position, start in enumerate(starts):
                decoded = [future.result() for future in pending]
                pending = submit(starts[position + 1]) if position + 1 < len(starts) else []
                try:
                    yield self._embed_decoded(decoded, start)
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise

    def _embed_decoded(self, decoded: list[Image.Image | EncodeFailure], start: int) -> PartialEncoding:
        images = [item for item in decoded if isinstance(item, Image.Image)]
        indices = [start + offset for offset, item in enumerate(decoded) if isinstance(item, Image.Image)]
        failures = [item for item in decoded if isinstance(item, EncodeFailure)]
        if not images:
            return PartialEncoding(np.zeros((0, self.dim), dtype=np.float32), indices, failures)
        return PartialEncoding(_unit_rows(self._embed_images(images)), indices, failures)

    def encode_images_partial(
        self, images: Sequence[ImageInput], batch_size: int = 32, show_progress: bool = False
    ) -> PartialEncoding:
        """Embed every readable image; unreadable ones are reported in `failures`, never raised."""
        embedded: list[np.ndarray] = []
        indices: list[int] = []
        failures: list[EncodeFailure] = []
        batches = self.iter_encode_images(images, batch_size=batch_size)
        total = len(_batches(len(images), batch_size))
        for batch in track(batches, total=total, description="Embedding images", enabled=show_progress):
            embedded.append(batch.embeddings)
            indices.extend(batch.indices)
            failures.extend(batch.failures)
        matrix = np.concatenate(embedded) if embedded else np.zeros((0, self.dim), dtype=np.float32)
        return PartialEncoding(matrix, indices, failures)

    def encode_images(
        self, images: Sequence[ImageInput] | ImageInput, batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """(n, dim) float32 unit rows, one per input; raises `ImageLoadError` naming every bad input.

        One image (a path, a `Path`, encoded bytes or a PIL image) instead of a list gives its one
        (dim,) row, as sentence-transformers' `encode` does for one sentence: a lone path string is
        one image, never a sequence of characters.
        """
        batch: Sequence[ImageInput] = [images] if _is_single_image(images) else images  # type: ignore[assignment, list-item]
        result = self.encode_images_partial(batch, batch_size=batch_size, show_progress=show_progress)
        if result.failures:
            listed = "; ".join(f"{f.source}: {f.reason}" for f in result.failures[:5])
            more = f" (and {len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
            raise ImageLoadError(
                f"{len(result.failures)} of {len(batch)} images could not be read: {listed}{more}",
                hint="use encode_images_partial() to embed the readable ones and list the rest",
            )
        return result.embeddings[0] if batch is not images else result.embeddings

    def encode_texts(
        self, texts: Sequence[str] | str, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """(n, dim) float32 unit rows, one per text; one string gives its one (dim,) row
        (sentence-transformers' `encode` convention)."""
        if isinstance(texts, str):
            return np.asarray(
                self.encode_texts([texts], batch_size=batch_size, show_progress=show_progress)[0]
            )
        if any(not isinstance(text, str) for text in texts):
            raise InvalidInputError(
                "encode_texts takes strings only",
                hint='pass one string or a list of them, e.g. ["a red car"]',
            )
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
