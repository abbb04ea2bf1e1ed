"""Plain helpers shared by test modules, importable as `helpers` (pyproject puts tests/ on the path),
also from outside pytest (the fault harness, benchmarks). Fixtures live in conftest.py.

`FakeEncoder` is the suite's one fake vision-language model: deterministic, torch-free and fast, yet
with real image and text structure so the searches and protocols above it produce meaningful numbers:

* an image is its 8x8 RGB thumbnail (centred on mid-grey) plus four times its mean colour, mapped to
  `dim` dimensions by a fixed random matrix: similar pictures embed nearby, colour dominates;
* a text is the sum of one fixed random vector per lower-cased word: texts that share words are close.

tests/conftest.py registers it as the encoder backend ``fake`` (``load_encoder("fake:NAME[@DIM]")``).
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from condsim.encoders import Encoder
from condsim.errors import ModelLoadError

FAKE_PREFIX = "fake:"
DEFAULT_DIM = 16
#: thumbnail side: an image's features are side * side * 3 pixels plus its 3 mean-colour channels
THUMBNAIL = 8


class FakeEncoder(Encoder):
    """Tests only: pixel statistics for images, bags of seeded word vectors for texts.

    The model id defaults to ``fake:test`` (``fake:test@DIM`` for another `dim`), the name the registry
    loads it back by; a ``fake:`` id must name the same `dim`. Counts what it embeds (`images_embedded`,
    `texts_embedded`, `image_batches`) so tests can assert what was, or was not, (re-)encoded;
    `fail_after_batches` simulates a kill (KeyboardInterrupt) once that many image batches went through.
    """

    def __init__(
        self, model_id: str | None = None, dim: int = DEFAULT_DIM, fail_after_batches: int | None = None
    ) -> None:
        if model_id is None:
            model_id = f"{FAKE_PREFIX}test" if dim == DEFAULT_DIM else f"{FAKE_PREFIX}test@{dim}"
        if model_id.startswith(FAKE_PREFIX) and _fake_dim(model_id.removeprefix(FAKE_PREFIX)) != dim:
            raise ValueError(f"{model_id!r} would load back with another dimension than {dim}")
        self.model_id = model_id
        self.dim = dim
        self.fail_after_batches = fail_after_batches
        self.images_embedded = 0
        self.texts_embedded = 0
        self.image_batches = 0
        self._projection = np.random.default_rng(dim).normal(size=(THUMBNAIL * THUMBNAIL * 3 + 3, dim))

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        if self.fail_after_batches is not None and self.image_batches >= self.fail_after_batches:
            raise KeyboardInterrupt("simulated kill")
        self.image_batches += 1
        self.images_embedded += len(images)
        rows = []
        for image in images:
            pixels = np.asarray(image.convert("RGB").resize((THUMBNAIL, THUMBNAIL)), dtype=np.float64)
            centred = pixels / 255.0 - 0.5
            rows.append(np.concatenate([centred.ravel(), 4.0 * centred.reshape(-1, 3).mean(axis=0)]))
        return np.asarray(rows) @ self._projection

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        return np.asarray(
            [
                sum((self._word_vector(word) for word in text.lower().split()), np.zeros(self.dim)) + 1e-3
                for text in texts
            ]
        )

    def _word_vector(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).normal(size=self.dim)


def _fake_dim(spec: str) -> int:
    """The dimension ``NAME[@DIM]`` names (DEFAULT_DIM without ``@``), or 0 when it is no valid name."""
    name, _, dim_text = spec.partition("@")
    if not name:
        return 0
    if not dim_text:
        return DEFAULT_DIM
    return int(dim_text) if dim_text.isdigit() else 0


def load_fake_encoder(spec: str, device: str) -> FakeEncoder:
    """The registry's loader for ``fake:NAME[@DIM]``: the model id is the full name, so it round-trips."""
    dim = _fake_dim(spec)
    if dim < 1:
        raise ModelLoadError(
            f"{FAKE_PREFIX}{spec}: not a fake model name", hint="write fake:NAME or fake:NAME@DIM"
        )
    return FakeEncoder(model_id=f"{FAKE_PREFIX}{spec}", dim=dim)


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random float64 directions of the given shape, each normalised along the last axis."""
    vectors = rng.normal(size=shape)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
