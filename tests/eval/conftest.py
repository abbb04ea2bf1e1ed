"""A tiny deterministic fake vision-language model for the eval tests (tests only).

Images: an 8×8 RGB thumbnail plus the mean colour, mapped by a fixed random matrix. Texts: a
fixed random vector per word, summed. It carries some real image structure (colour, layout), so the
protocols produce non-trivial numbers, and it is fast.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from condsim.encoders.base import Encoder

DIM = 48


class FakeEncoder(Encoder):
    model_id = "fake-test-encoder"
    dim = DIM

    def __init__(self) -> None:
        self.projection = np.random.default_rng(0).normal(size=(8 * 8 * 3 + 3, DIM))
        self.image_calls = 0

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        self.image_calls += 1
        rows = []
        for image in images:
            pixels = np.asarray(image.resize((8, 8)), dtype=np.float64) / 255.0 - 0.5
            rows.append(np.concatenate([pixels.ravel(), 4.0 * pixels.reshape(-1, 3).mean(axis=0)]))
        return np.asarray(rows) @ self.projection

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        def word_vector(word: str) -> np.ndarray:
            seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
            return np.random.default_rng(seed).normal(size=DIM)

        return np.asarray(
            [sum((word_vector(w) for w in text.lower().split()), np.zeros(DIM)) + 1e-3 for text in texts]
        )


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDSIM_CACHE_DIR", str(tmp_path_factory.mktemp("condsim-cache")))
