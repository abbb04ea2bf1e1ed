"""The built-in encoder: shipped checkpoint + frozen MiniLM (its training is tested in tests/training)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from condsim.data.scenes import generate_scenes
from condsim.data.taxonomy import COLORS
from condsim.encoders import load_encoder
from condsim.encoders.base import Encoder
from condsim.encoders.builtin import (
    BUILTIN_MODEL_ID,
    BuiltinEncoder,
    builtin_asset_dir,
    images_to_uint8,
    load_builtin_encoder,
)
from condsim.errors import ModelLoadError


@pytest.fixture(scope="module")
def encoder() -> Iterator[BuiltinEncoder]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # must load with no network access
        yield load_builtin_encoder()


def test_shipped_checkpoint_is_in_the_package() -> None:
    folder = builtin_asset_dir()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "model.safetensors").stat().st_size < 20_000_000
    config = json.loads((folder / "config.json").read_text())
    assert config["model_id"] == BUILTIN_MODEL_ID
    assert (folder / "MODEL_CARD.md").is_file()


def test_encoder_has_dim_model_id_and_unit_rows(encoder: BuiltinEncoder) -> None:
    assert isinstance(encoder, Encoder)
    assert encoder.dim == 384
    # the id names the release and the weights, so stores built with another checkpoint refuse it
    assert encoder.model_id.startswith(f"{BUILTIN_MODEL_ID}@sha256-")
    assert encoder.model_id == load_encoder(encoder.model_id).model_id
    with pytest.raises(ModelLoadError, match="another version of the built-in model"):
        load_encoder(f"{BUILTIN_MODEL_ID}@sha256-000000000000")
    images, _ = generate_scenes(5, seed=123, size=96)
    image_embeddings = encoder.encode_images(images, batch_size=2)
    text_embeddings = encoder.encode_texts(["a red cube", "three metallic gears", "the queen of hearts"])
    for matrix, rows in ((image_embeddings, 5), (text_embeddings, 3)):
        assert matrix.shape == (rows, 384)
        assert matrix.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_embeddings_do_not_depend_on_batching(encoder: BuiltinEncoder) -> None:
    images, _ = generate_scenes(6, seed=124, size=64)
    one_by_one = encoder.encode_images(images, batch_size=1)
    together = encoder.encode_images(images, batch_size=6)
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)


def test_text_side_is_minilm(encoder: BuiltinEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    from condsim.encoders.builtin import minilm_path

    reference = SentenceTransformer(str(minilm_path()), device="cpu").encode(
        ["a crimson sphere"], normalize_embeddings=True
    )
    np.testing.assert_allclose(encoder.encode_texts(["a crimson sphere"]), reference, atol=1e-5)


def test_missing_checkpoint_raises_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        load_builtin_encoder(model_dir=tmp_path)


def test_preprocessing_centre_crops_non_square_images() -> None:
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    ImageDraw.Draw(wide).rectangle((100, 0, 199, 99), fill=(255, 0, 0))
    batch = images_to_uint8([wide], 32)
    assert batch.shape == (1, 32, 32, 3)
    assert (batch[0, :, :, 0] > 200).all()  # only the red centre square is left


def _zero_shot(encoder: BuiltinEncoder, image_embeddings: np.ndarray, prompts: list[str]) -> np.ndarray:
    return np.argmax(image_embeddings @ encoder.encode_texts(prompts).T, axis=1)


def test_zero_shot_colour_on_held_out_scenes(encoder: BuiltinEncoder) -> None:
    images, labels = generate_scenes(100, seed=4242, size=128)
    predicted = _zero_shot(
        encoder, encoder.encode_images(images), [f"a photo of {c} objects" for c in COLORS]
    )
    truth = np.asarray([COLORS.index(str(label["color"])) for label in labels])
    assert np.mean(predicted == truth) > 0.6  # chance is 0.1


FLAT = {"red": (220, 0, 0), "blue": (0, 0, 230), "green": (0, 140, 0), "yellow": (250, 230, 0)}


def _flat_drawings() -> tuple[list[Image.Image], list[str], list[str]]:
    """Plain PIL drawings, made here and never by the renderer: one shape on white or grey."""
    rng = np.random.default_rng(99)
    images, colours, shapes = [], [], []
    for index in range(48):
        colour = list(FLAT)[index % 4]
        shape = ("circle", "square", "triangle")[(index // 4) % 3]
        image = Image.new("RGB", (128, 128), (255, 255, 255) if index % 2 else (200, 200, 200))
        draw = ImageDraw.Draw(image)
        half = float(rng.uniform(25, 40))
        cx, cy = (float(v) for v in rng.uniform(half + 2, 126 - half, size=2))
        if shape == "circle":
            draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=FLAT[colour])
        elif shape == "square":
            draw.rectangle(
                (cx - half * 0.8, cy - half * 0.8, cx + half * 0.8, cy + half * 0.8), fill=FLAT[colour]
            )
        else:
            draw.polygon(
                [
                    (cx, cy - half),
                    (cx + half * math.cos(math.pi / 6), cy + half / 2),
                    (cx - half * math.cos(math.pi / 6), cy + half / 2),
                ],
                fill=FLAT[colour],
            )
        images.append(image)
        colours.append(colour)
        shapes.append(shape)
    return images, colours, shapes


def test_zero_shot_on_flat_shapes_drawn_by_plain_pil(encoder: BuiltinEncoder) -> None:
    images, colours, shapes = _flat_drawings()
    embeddings = encoder.encode_images(images)
    colour_names = list(FLAT)
    predicted_colour = _zero_shot(encoder, embeddings, [f"a {c} shape" for c in colour_names])
    colour_accuracy = np.mean(predicted_colour == np.asarray([colour_names.index(c) for c in colours]))
    shape_names = ["circle", "square", "triangle"]
    predicted_shape = _zero_shot(encoder, embeddings, [f"a {s}" for s in shape_names])
    shape_accuracy = np.mean(predicted_shape == np.asarray([shape_names.index(s) for s in shapes]))
    assert colour_accuracy > 0.6  # chance 0.25
    assert shape_accuracy > 0.6  # chance 0.33
