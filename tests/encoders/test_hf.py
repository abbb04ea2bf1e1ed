"""transformers backend through `load_encoder`: tiny random CLIP and SigLIP models with offline-built
tokenizers, saved with save_pretrained and loaded by the real from_pretrained code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTokenizer,
    PreTrainedTokenizerFast,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)

from condsim.encoders import load_encoder
from condsim.encoders.hf import HFEncoder
from condsim.errors import ModelLoadError

WORDS = ["a", "photo", "of", "red", "blue", "cube", "sphere", "two", "on", "grey", "floor", "the"]
TEXTS = ["a red cube", "two blue spheres on a grey floor", "photo"]
TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(3)
    return [
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)),
        Image.new("RGB", (1, 1), (10, 200, 30)),
        Image.fromarray(rng.integers(0, 256, (3, 90, 3), dtype=np.uint8)),  # 3 pixels high
    ]


def _clip_tokenizer() -> CLIPTokenizer:
    """A byte-level BPE CLIP tokenizer over letters plus a few whole words, built without any download."""
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(letter + "</w>", len(vocab))
    for word in WORDS:
        vocab.setdefault(word + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[])


def _word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer (tokenizers library) standing in for SigLIP's SentencePiece model."""
    vocab = {"<pad>": 0, "<unk>": 1, "</s>": 2, **{word: index + 3 for index, word in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="</s>", model_max_length=16
    )


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hf-clip")
    tokenizer = _clip_tokenizer()
    config = CLIPConfig(
        text_config={
            **TOWER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={**TOWER, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hf-siglip")
    tokenizer = _word_tokenizer()
    config = SiglipConfig(
        text_config={**TOWER, "vocab_size": len(tokenizer), "max_position_embeddings": 16},
        vision_config={**TOWER, "image_size": 32, "patch_size": 8},
    )
    torch.manual_seed(1)
    SiglipModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_encoder(clip_dir: Path) -> HFEncoder:
    loaded = load_encoder(str(clip_dir))
    assert isinstance(loaded, HFEncoder)
    return loaded


@pytest.fixture(scope="module")
def siglip_encoder(siglip_dir: Path) -> HFEncoder:
    loaded = load_encoder("hf:" + str(siglip_dir))
    assert isinstance(loaded, HFEncoder)
    return loaded


def _unit_rows_float64(features: torch.Tensor) -> np.ndarray:
    values = features.detach().numpy().astype(np.float64)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


@pytest.mark.parametrize("which", ["clip", "siglip"])
def test_shapes_dtype_unit_rows_determinism(which: str, request: pytest.FixtureRequest) -> None:
    encoder: HFEncoder = request.getfixturevalue(f"{which}_encoder")
    expected_dim = 16 if which == "clip" else 32
    assert encoder.dim == expected_dim
    image_embeddings = encoder.encode_images(_images(), batch_size=2)
    text_embeddings = encoder.encode_texts(TEXTS, batch_size=2)
    for embeddings in (image_embeddings, text_embeddings):
        assert embeddings.shape == (3, expected_dim) and embeddings.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(image_embeddings[0], image_embeddings[1])
    assert not np.allclose(text_embeddings[0], text_embeddings[1])
    np.testing.assert_array_equal(image_embeddings, encoder.encode_images(_images(), batch_size=2))
    np.testing.assert_allclose(image_embeddings, encoder.encode_images(_images(), batch_size=3), atol=1e-5)
    np.testing.assert_allclose(text_embeddings, encoder.encode_texts(TEXTS, batch_size=3), atol=1e-5)


def test_clip_matches_the_models_own_forward(clip_encoder: HFEncoder, clip_dir: Path) -> None:
    model = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPProcessor.from_pretrained(clip_dir)
    images = _images()
    inputs = processor(
        text=TEXTS,
        images=images,
        padding=True,
        truncation=True,
        max_length=16,
        return_tensors="pt",
        input_data_format="channels_last",
    )
    with torch.no_grad():
        output = model(**inputs)
    np.testing.assert_allclose(clip_encoder.encode_images(images), output.image_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(clip_encoder.encode_texts(TEXTS), output.text_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        clip_encoder.encode_texts(TEXTS), _unit_rows_float64(output.text_embeds), atol=1e-5
    )


def test_siglip_matches_the_models_own_forward_with_max_length_padding(
    siglip_encoder: HFEncoder, siglip_dir: Path
) -> None:
    model = SiglipModel.from_pretrained(siglip_dir).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(siglip_dir)
    image_processor = SiglipImageProcessor.from_pretrained(siglip_dir)
    tokens = tokenizer(TEXTS, padding="max_length", max_length=16, return_tensors="pt")
    assert tokens["input_ids"].shape == (3, 16)
    pixels = image_processor(images=_images(), return_tensors="pt", input_data_format="channels_last")
    with torch.no_grad():
        # SigLIP is trained without a text attention mask: the pad tokens are part of the input
        output = model(input_ids=tokens["input_ids"], pixel_values=pixels["pixel_values"])
        padded_to_longest = model.get_text_features(
            **tokenizer(TEXTS, padding="longest", return_tensors="pt")
        ).pooler_output
    np.testing.assert_allclose(
        siglip_encoder.encode_images(_images()), output.image_embeds.numpy(), atol=1e-5
    )
    text_embeddings = siglip_encoder.encode_texts(TEXTS)
    np.testing.assert_allclose(text_embeddings, output.text_embeds.numpy(), atol=1e-5)
    assert not np.allclose(text_embeddings, _unit_rows_float64(padded_to_longest), atol=1e-3)


def test_plain_path_and_prefixed_path_agree(clip_encoder: HFEncoder, clip_dir: Path) -> None:
    prefixed = load_encoder("hf:" + str(clip_dir))
    assert prefixed.model_id == clip_encoder.model_id
    np.testing.assert_array_equal(prefixed.encode_texts(TEXTS), clip_encoder.encode_texts(TEXTS))


def test_model_id_is_content_based(
    clip_encoder: HFEncoder, siglip_encoder: HFEncoder, clip_dir: Path, tmp_path: Path
) -> None:
    assert clip_encoder.model_id.startswith("hf:clip@sha256-")
    assert siglip_encoder.model_id.startswith("hf:siglip@sha256-")
    copy = tmp_path / "copy"
    shutil.copytree(clip_dir, copy)
    assert load_encoder(str(copy)).model_id == clip_encoder.model_id
    model = CLIPModel.from_pretrained(copy)
    with torch.no_grad():
        model.text_projection.weight[0].mul_(3.0)  # (a constant shift would vanish after LayerNorm)
    model.save_pretrained(copy)
    changed = load_encoder(str(copy))
    assert changed.model_id != clip_encoder.model_id
    assert not np.allclose(changed.encode_texts(TEXTS), clip_encoder.encode_texts(TEXTS))


def test_failures_are_reported_per_item(clip_encoder: HFEncoder, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(truncated, "JPEG")
    truncated.write_bytes(truncated.read_bytes()[:100])
    inputs: list[object] = [truncated, *_images()[:2], b"nope"]
    result = clip_encoder.encode_images_partial(inputs, batch_size=3)  # type: ignore[arg-type]
    assert result.indices == [1, 2]
    assert [failure.index for failure in result.failures] == [0, 3]
    np.testing.assert_allclose(result.embeddings, clip_encoder.encode_images(_images()[:2]), atol=1e-6)


def test_local_folder_errors(clip_dir: Path, tmp_path: Path) -> None:
    other_type = tmp_path / "bert"
    other_type.mkdir()
    (other_type / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError, match="model_type 'bert' is not supported") as caught:
        load_encoder(str(other_type))
    assert caught.value.hint is not None and "siglip" in caught.value.hint

    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(clip_dir / name, no_tokenizer / name)
    with pytest.raises(ModelLoadError, match="could not load") as caught:
        load_encoder("hf:" + str(no_tokenizer))
    assert "\n" not in str(caught.value)

    with pytest.raises(ModelLoadError, match="no such directory"):
        load_encoder("hf:/does/not/exist")
    with pytest.raises(ModelLoadError, match="not a file"):
        load_encoder("hf:" + str(clip_dir / "config.json"))


def test_hub_names_fail_offline_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for name in ("hf:openai/clip-vit-base-patch32", "hf:google/siglip-base-patch16-224@main"):
        with pytest.raises(ModelLoadError, match="could not fetch") as caught:
            load_encoder(name)
        assert "\n" not in str(caught.value)
        assert caught.value.hint is not None and "local folder" in caught.value.hint
