"""Shared fixtures for the collection tests: a tiny deterministic encoder and image folders."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condsim.encoders.base import Encoder

DIM = 16


class FakeEncoder(Encoder):
    """Embeds an image by colour statistics and a text by a seeded random vector (tests only).

    Counts every image and text it embeds so tests can assert what was (re-)encoded.
    """

    def __init__(
        self, model_id: str = "fake-test-model", dim: int = DIM, fail_after_batches: int | None = None
    ):
        self.model_id = model_id
        self.dim = dim
        self.images_embedded = 0
        self.texts_embedded = 0
        self.batches = 0
        self.fail_after_batches = fail_after_batches

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
            raise KeyboardInterrupt("simulated kill")
        self.batches += 1
        self.images_embedded += len(images)
        rows = []
        for image in images:
            pixels = np.asarray(image.resize((8, 8)), dtype=np.float64) / 255.0
            features = np.concatenate(
                [
                    pixels.mean(axis=(0, 1)),
                    pixels.std(axis=(0, 1)),
                    pixels[:4].mean(axis=(0, 1)),
                    pixels[:, :4].mean(axis=(0, 1)),
                ]
            )
            padded = np.resize(features, self.dim) + 0.05 * np.arange(self.dim) / self.dim
            rows.append(padded + 0.01)
        return np.asarray(rows, dtype=np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        return np.stack(
            [np.random.default_rng(zlib.crc32(text.encode())).standard_normal(self.dim) for text in texts]
        ).astype(np.float32)


def write_image(path: Path, colour: tuple[int, int, int], size: int = 12, seed: int = 0) -> Path:
    """A small PNG/JPEG with a given colour and a little seeded texture."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.integers(-20, 20, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


COLOURS = [
    (220, 30, 30),
    (30, 200, 40),
    (40, 40, 210),
    (230, 220, 40),
    (200, 40, 200),
    (30, 200, 200),
    (120, 120, 120),
    (250, 140, 20),
    (20, 20, 20),
    (240, 240, 240),
]


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """12 images in two sub-folders, plus a text file and a corrupt 'image'."""
    root = tmp_path / "photos"
    for index in range(12):
        sub = "a" if index % 2 else "b/deep"
        write_image(root / sub / f"img{index:02d}.png", COLOURS[index % len(COLOURS)], seed=index)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    return root


@pytest.fixture
def make_encoder() -> type[FakeEncoder]:
    return FakeEncoder


@pytest.fixture
def make_image():  # type: ignore[no-untyped-def]
    return write_image
