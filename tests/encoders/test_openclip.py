"""open_clip backend through `load_encoder`: a tiny random model saved to disk, loaded by the real code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from condsim.encoders import load_encoder
from condsim.encoders.openclip import OpenClipEncoder
from condsim.errors import ModelLoadError

TINY_MODEL_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_PREPROCESS_CFG = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}
TINY_ARCH = "condsim-test-tiny-vit"
TEXTS = ["a red cube", "two blue spheres on a grey floor", ""]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)),
        Image.new("RGB", (1, 1), (250, 10, 10)),
        Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)),
    ]


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder in open_clip's hub-export layout holding a randomly initialised tiny CLIP."""
    folder = tmp_path_factory.mktemp("openclip-tiny")
    config = {"model_cfg": TINY_MODEL_CFG, "preprocess_cfg": TINY_PREPROCESS_CFG}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_MODEL_CFG)
    # random init leaves the projections tiny and the logit scale irrelevant; the weights only
    # need to be non-degenerate so that different inputs give different embeddings
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def encoder(checkpoint_dir: Path) -> OpenClipEncoder:
    loaded = load_encoder(str(checkpoint_dir))
    assert isinstance(loaded, OpenClipEncoder)
    return loaded


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _reference_model(checkpoint_dir: Path) -> tuple[torch.nn.Module, object, object]:
    """The same checkpoint loaded by open_clip alone (it finds the weights file itself)."""
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{checkpoint_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{checkpoint_dir}")
    return model.eval(), preprocess, tokenizer


def _unit_rows_float64(features: torch.Tensor) -> np.ndarray:
    values = features.detach().numpy().astype(np.float64)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def test_shapes_dtype_unit_rows(encoder: OpenClipEncoder) -> None:
    image_embeddings = encoder.encode_images(_images(), batch_size=2)
    text_embeddings = encoder.encode_texts(TEXTS)
    assert encoder.dim == TINY_MODEL_CFG["embed_dim"]
    for embeddings, count in ((image_embeddings, 3), (text_embeddings, 3)):
        assert embeddings.shape == (count, 16) and embeddings.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(image_embeddings[0], image_embeddings[2])
    assert not np.allclose(text_embeddings[0], text_embeddings[1])


def test_matches_open_clips_own_forward(encoder: OpenClipEncoder, checkpoint_dir: Path) -> None:
    model, preprocess, tokenizer = _reference_model(checkpoint_dir)
    images = _images()
    with torch.no_grad():
        pixels = torch.stack([preprocess(image) for image in images])  # type: ignore[operator]
        image_features, text_features, _ = model(pixels, tokenizer(TEXTS))  # type: ignore[operator]
        raw_image_features = model.encode_image(pixels)  # type: ignore[operator]
    np.testing.assert_allclose(encoder.encode_images(images), image_features.numpy(), atol=1e-5)
    np.testing.assert_allclose(encoder.encode_texts(TEXTS), text_features.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        encoder.encode_images(images), _unit_rows_float64(raw_image_features), atol=1e-5
    )


def test_preprocess_cfg_from_the_folder_is_used(encoder: OpenClipEncoder, checkpoint_dir: Path) -> None:
    _, preprocess, _ = _reference_model(checkpoint_dir)
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    pixels = preprocess(grey)  # type: ignore[operator]
    expected = (128 / 255 - np.array(TINY_PREPROCESS_CFG["mean"])) / np.array(TINY_PREPROCESS_CFG["std"])
    np.testing.assert_allclose(pixels[:, 0, 0].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(encoder._preprocess(grey).numpy(), pixels.numpy())


def test_deterministic_and_batch_size_invariant(encoder: OpenClipEncoder) -> None:
    first = encoder.encode_images(_images(), batch_size=3)
    np.testing.assert_array_equal(first, encoder.encode_images(_images(), batch_size=3))
    np.testing.assert_allclose(first, encoder.encode_images(_images(), batch_size=1), atol=1e-5)
    np.testing.assert_allclose(
        encoder.encode_texts(TEXTS, batch_size=1), encoder.encode_texts(TEXTS), atol=1e-5
    )


def test_prefixed_name_and_weights_file_path_give_the_same_model(
    encoder: OpenClipEncoder, checkpoint_dir: Path
) -> None:
    for name in (f"openclip:{checkpoint_dir}", str(checkpoint_dir / "open_clip_model.safetensors")):
        other = load_encoder(name)
        assert other.model_id == encoder.model_id
        np.testing.assert_array_equal(other.encode_texts(TEXTS), encoder.encode_texts(TEXTS))


def test_model_id_follows_content_not_path(
    encoder: OpenClipEncoder, checkpoint_dir: Path, tmp_path: Path
) -> None:
    assert encoder.model_id.startswith("openclip:local@sha256-")
    assert load_encoder(checkpoint_dir).model_id == encoder.model_id
    copy = tmp_path / "copied"
    shutil.copytree(checkpoint_dir, copy)
    assert load_encoder(str(copy)).model_id == encoder.model_id
    state = load_file(str(copy / "open_clip_model.safetensors"))
    state["text_projection"][:, 0] *= 3.0
    save_file(state, str(copy / "open_clip_model.safetensors"))
    changed = load_encoder(str(copy))
    assert changed.model_id != encoder.model_id
    assert not np.allclose(changed.encode_texts(TEXTS), encoder.encode_texts(TEXTS))


def test_architecture_name_with_local_weights_file(checkpoint_dir: Path, tmp_path: Path) -> None:
    config_file = tmp_path / f"{TINY_ARCH}.json"
    config_file.write_text(json.dumps(TINY_MODEL_CFG))
    open_clip.add_model_config(config_file)
    weights = checkpoint_dir / "open_clip_model.safetensors"
    loaded = load_encoder(f"openclip:{TINY_ARCH}@{weights}")
    assert loaded.model_id.startswith(f"openclip:{TINY_ARCH}@sha256-")
    model, _, _ = open_clip.create_model_and_transforms(TINY_ARCH, pretrained=str(weights))
    with torch.no_grad():
        expected = _unit_rows_float64(model.eval().encode_text(open_clip.get_tokenizer(TINY_ARCH)(TEXTS)))
    np.testing.assert_allclose(loaded.encode_texts(TEXTS), expected, atol=1e-5)
    with pytest.raises(ModelLoadError, match="no such weights file"):
        load_encoder(f"openclip:{TINY_ARCH}@{tmp_path / 'absent.pt'}")


def test_failures_are_reported_per_item(encoder: OpenClipEncoder, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    images: list[object] = [_images()[0], broken, tmp_path / "missing.jpg", _images()[1]]
    result = encoder.encode_images_partial(images, batch_size=2)  # type: ignore[arg-type]
    assert result.indices == [0, 3]
    assert [failure.index for failure in result.failures] == [1, 2]
    np.testing.assert_allclose(result.embeddings, encoder.encode_images(_images()[:2]), atol=1e-6)


def test_local_folder_errors(checkpoint_dir: Path, tmp_path: Path) -> None:
    config_text = (checkpoint_dir / "open_clip_config.json").read_text()

    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "open_clip_config.json").write_text(config_text)
    with pytest.raises(ModelLoadError, match="no weights file"):
        load_encoder(str(no_weights))

    two_weights = tmp_path / "two-weights"
    two_weights.mkdir()
    (two_weights / "open_clip_config.json").write_text(config_text)
    for name in ("a.pt", "b.pt"):
        shutil.copy(checkpoint_dir / "open_clip_model.safetensors", two_weights / name)
    with pytest.raises(ModelLoadError, match="several weights files"):
        load_encoder(str(two_weights))

    mismatched = tmp_path / "mismatched"
    mismatched.mkdir()
    wider = {**TINY_MODEL_CFG, "embed_dim": 24}
    (mismatched / "open_clip_config.json").write_text(json.dumps({"model_cfg": wider}))
    shutil.copy(checkpoint_dir / "open_clip_model.safetensors", mismatched / "open_clip_model.safetensors")
    with pytest.raises(ModelLoadError, match="could not load open_clip checkpoint") as caught:
        load_encoder(str(mismatched))
    assert "\n" not in str(caught.value) and caught.value.hint

    bare = tmp_path / "bare-config"
    bare.mkdir()
    (bare / "open_clip_config.json").write_text(json.dumps(TINY_MODEL_CFG))
    shutil.copy(checkpoint_dir / "open_clip_model.safetensors", bare / "open_clip_model.safetensors")
    with pytest.raises(ModelLoadError, match="model_cfg"):
        load_encoder(str(bare))

    with pytest.raises(ModelLoadError, match=r"no open_clip_config\.json"):
        load_encoder(f"openclip:{tmp_path}")


def test_name_errors_have_hints() -> None:
    with pytest.raises(ModelLoadError, match="unknown open_clip architecture") as caught:
        load_encoder("openclip:ViT-B-33/openai")
    assert caught.value.hint is not None and "ViT-B-32" in caught.value.hint
    with pytest.raises(ModelLoadError, match="no weights") as caught:
        load_encoder("openclip:ViT-B-32")
    assert caught.value.hint is not None and "openclip:ViT-B-32/openai" in caught.value.hint
    with pytest.raises(ModelLoadError, match="no pretrained tag 'nope'") as caught:
        load_encoder("openclip:ViT-B-32/nope")
    assert caught.value.hint is not None and "laion2b" in caught.value.hint
    with pytest.raises(ModelLoadError, match="no such file"):
        load_encoder("openclip:/does/not/exist")


@pytest.mark.usefixtures("offline")
def test_hub_names_fail_offline_with_a_clear_error() -> None:
    for name in ("openclip:ViT-B-32/openai", "openclip:hf-hub:timm/ViT-B-16-SigLIP"):
        with pytest.raises(ModelLoadError, match="could not fetch") as caught:
            load_encoder(name)
        assert "\n" not in str(caught.value)
        assert caught.value.hint is not None and "local path" in caught.value.hint
