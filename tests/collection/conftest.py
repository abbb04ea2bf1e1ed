"""Shared fixtures for the collection tests: small image folders (the fake model is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


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
def make_image():  # type: ignore[no-untyped-def]
    return write_image
