"""The built-in encoder (shipped checkpoint + frozen MiniLM) and its training script."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from condsim.data.scenes import COLORS, generate_scenes
from condsim.encoders import load_encoder
from condsim.encoders.base import Encoder
from condsim.encoders.builtin import (
    BUILTIN_MODEL_ID,
    BuiltinEncoder,
    builtin_asset_dir,
    images_to_uint8,
    load_builtin_encoder,
)
from condsim.encoders.builtin_train import (
    PoolSettings,
    card_caption,
    contrastive_loss,
    scene_caption,
    train_builtin_model,
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


def test_captions_mention_only_true_attributes() -> None:
    from condsim.data.scenes import card_spec_at, scene_spec_at
    from condsim.encoders.builtin_train import COLOR_WORDS

    rng = np.random.default_rng(0)
    for index in range(200):
        spec = scene_spec_at(5, index)
        caption = scene_caption(spec, rng)
        assert caption and caption == caption.strip()
        for colour, words in COLOR_WORDS.items():
            if colour != spec.color and any(f" {word} " in f" {caption} " for word in words):
                # another colour word may only appear as the background's name
                assert spec.background in caption
        card = card_spec_at(5, index)
        assert card_caption(card, rng)


def test_contrastive_loss_matches_a_float64_reference() -> None:
    import torch

    rng = np.random.default_rng(1)
    images = rng.normal(size=(6, 8))
    captions = rng.normal(size=(6, 8))
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    ids = np.asarray([0, 1, 1, 2, 3, 4])
    scale = 2.5
    normed = images / np.linalg.norm(images, axis=1, keepdims=True)
    logits = math.exp(scale) * normed @ captions.T
    same = (ids[:, None] == ids[None, :]).astype(np.float64)
    targets = same / same.sum(axis=1, keepdims=True)

    def cross_entropy(matrix: np.ndarray) -> float:
        log_softmax = (
            matrix
            - np.log(np.exp(matrix - matrix.max(1, keepdims=True)).sum(1, keepdims=True))
            - matrix.max(1, keepdims=True)
        )
        return float(np.mean(np.sum(-targets * log_softmax, axis=1)))

    expected = 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))
    got = contrastive_loss(
        torch.tensor(images, dtype=torch.float64),
        torch.tensor(captions, dtype=torch.float64),
        torch.tensor(ids),
        torch.tensor(scale, dtype=torch.float64),
    )
    assert float(got) == pytest.approx(expected, rel=1e-10)


TINY = PoolSettings(n_scenes=16, n_cards=4, render_size=32, input_size=32, captions_per_image=2)


def _train(out: Path, steps: int, **kwargs: object) -> object:
    return train_builtin_model(
        out,
        cache_dir=out.parent / "cache",
        steps=steps,
        batch_size=8,
        pool=TINY,
        widths=(8, 8, 16, 16),
        threads=1,
        show_progress=False,
        evaluate=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_training_runs_exports_and_resumes(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    unbroken, interrupted = tmp_path / "unbroken", tmp_path / "interrupted"
    _train(unbroken, steps=3)
    _train(interrupted, steps=3, max_steps_this_run=2)
    assert not (interrupted / "model.safetensors").exists()  # stopped early, only the checkpoint
    _train(interrupted, steps=3)
    first, second = (
        load_file(str(unbroken / "model.safetensors")),
        load_file(str(interrupted / "model.safetensors")),
    )
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_allclose(first[name].float().numpy(), second[name].float().numpy(), atol=1e-3)
    logged_steps = [
        line.split(",")[0] for line in (interrupted / "loss_curve.csv").read_text().splitlines()[1:]
    ]
    assert logged_steps == ["0", "2"]
    trained = load_builtin_encoder(model_dir=unbroken)
    assert trained.encode_images(generate_scenes(2, seed=1, size=32)[0]).shape == (2, 384)
