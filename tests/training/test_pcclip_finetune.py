"""`finetune` end to end, offline, in seconds: the built-in model and a tiny random open_clip model.

Each run is tiny (a few rendered images, a few steps): what is checked is the plumbing (trained
tensors, weight average, a folder `load_encoder` reads, resume, model card, errors), not accuracy.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from condsim.encoders import Encoder, load_encoder
from condsim.errors import CondsimError, ModelLoadError
from condsim.training.pcclip.finetune import DEFAULT, FinetuneSettings, finetune
from condsim.training.pcclip.loop import STATE_FILE, LoopSettings, load_state
from condsim.training.pcclip.towers import UntrainableTextTowerError

#: with the default's weight_alpha (0.75, not PC-CLIP's symmetric 0.5) the average test tells its sides apart
TINY = FinetuneSettings(
    loop=LoopSettings(steps=4, batch_size=8),
    n_pairs=60,
    n_scenes=12,
    n_cards=6,
    weight_alpha=DEFAULT.weight_alpha,
)
TEXTS = ["The first image has more objects than the second.", "a photo of a red object"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CONDSIM_CACHE_DIR", "/nonexistent-cache-must-not-be-needed")
    yield


def _measure(encoder: Encoder) -> Mapping[str, Any]:
    """A stand-in for condsim.eval.pairwise: one number that depends on the text tower."""
    more, less = encoder.encode_texts(TEXTS)
    return {"difference": {"toy": {"cosine": {"text": float(more @ less) * 100}}}}


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("pcclip") / "model"
    report = finetune(None, out, settings=TINY, device="cpu", evaluate=_measure, show_progress=False)
    return out, report


def test_builtin_finetune_writes_a_model_load_encoder_reads(builtin_run: tuple[Path, Any]) -> None:
    out, report = builtin_run
    assert report.finished and report.steps == 4 and len(report.losses) == 4
    assert {"model.safetensors", "config.json", "text_tower.safetensors", "MODEL_CARD.md"} <= {
        path.name for path in out.iterdir()
    }
    base, tuned = load_encoder(None), load_encoder(out)
    assert tuned.model_id == report.model_id != base.model_id
    assert tuned.model_id.startswith("condsim-pcclip-v1@sha256-")
    # only the text tower moved: the images embed exactly as with the base
    from condsim.data.scenes import generate_scenes

    images, _ = generate_scenes(3, seed=5)
    np.testing.assert_array_equal(tuned.encode_images(images), base.encode_images(images))
    assert not np.allclose(tuned.encode_texts(TEXTS), base.encode_texts(TEXTS), atol=1e-6)
    card = (out / "MODEL_CARD.md").read_text()
    assert "| difference/toy/cosine/text |" in card and "objects/size" in card
    assert report.before is not None and report.after is not None


def test_the_saved_text_tower_is_the_weight_average(builtin_run: tuple[Path, Any]) -> None:
    from safetensors.torch import load_file

    out, _ = builtin_run
    saved = load_file(str(out / "text_tower.safetensors"))
    state = load_state(out / STATE_FILE)
    base = dict(load_encoder(None).text_model.named_parameters())  # type: ignore[attr-defined]
    assert set(saved) == set(state["trained"]) and all(
        "encoder.layer.4." in n or "encoder.layer.5." in n for n in saved
    )
    alpha = TINY.weight_alpha
    assert alpha != 0.5 and f"α = {alpha:g}" in (out / "MODEL_CARD.md").read_text()
    for name, tensor in saved.items():
        expected = alpha * state["trained"][name] + (1 - alpha) * base[name].detach()
        torch.testing.assert_close(tensor, expected)


def test_a_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "model"
    stopped = finetune(None, out, settings=TINY, device="cpu", show_progress=False, max_steps_this_run=2)
    assert not stopped.finished and stopped.steps == 2 and not (out / "config.json").exists()
    resumed = finetune(None, out, settings=TINY, device="cpu", show_progress=False)
    assert resumed.finished and [step for step, _, _ in resumed.losses] == [0, 1, 2, 3]
    assert resumed.losses[:2] == stopped.losses
    other = FinetuneSettings(loop=LoopSettings(steps=5, batch_size=8), n_pairs=60, n_scenes=12, n_cards=6)
    with pytest.raises(ModelLoadError, match="another finetuning run"):
        finetune(None, out, settings=other, device="cpu", show_progress=False)


class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pwned",))


def test_a_planted_checkpoint_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    path.write_bytes(pickle.dumps({"trained": _Payload()}, protocol=2))
    with pytest.raises(ModelLoadError, match="could run code"):
        load_state(path)


def test_a_text_tower_that_cannot_be_trained_is_one_clear_error(tmp_path: Path) -> None:
    fake = load_encoder("fake:untrainable")
    with pytest.raises(UntrainableTextTowerError, match="cannot train the text tower") as error:
        finetune(fake, tmp_path / "out", settings=TINY, device="cpu", show_progress=False)
    assert isinstance(error.value, CondsimError) and error.value.hint


def test_tiny_open_clip_finetune_round_trips(tmp_path: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    config = {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
        },
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    (base_dir / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.CLIP(**config["model_cfg"])
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(base_dir / "open_clip_model.safetensors"),
    )
    out = tmp_path / "tuned"
    report = finetune(str(base_dir), out, settings=TINY, device="cpu", show_progress=False)
    base, tuned = load_encoder(base_dir), load_encoder(out)
    assert report.finished and tuned.model_id == report.model_id != base.model_id
    from condsim.data.scenes import generate_scenes

    images, _ = generate_scenes(2, seed=5)
    np.testing.assert_allclose(tuned.encode_images(images), base.encode_images(images), atol=1e-6)
    assert not np.allclose(tuned.encode_texts(TEXTS), base.encode_texts(TEXTS), atol=1e-7)


def test_tiny_transformers_clip_finetune_round_trips(tmp_path: Path) -> None:
    from condsim.encoders import ensure_torchvision_importable

    ensure_torchvision_importable()  # transformers' image processors import torchvision
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(letter + "</w>", len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = {**tower, "vocab_size": len(tokenizer), "max_position_embeddings": 64, "bos_token_id": 0,
            "eos_token_id": 1, "pad_token_id": 1}  # fmt: skip
    config = CLIPConfig(
        text_config=text, vision_config={**tower, "image_size": 32, "patch_size": 8}, projection_dim=16
    )
    base_dir = tmp_path / "base"
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(base_dir)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(base_dir)
    out = tmp_path / "tuned"
    report = finetune(str(base_dir), out, settings=TINY, device="cpu", show_progress=False)
    base, tuned = load_encoder(base_dir), load_encoder(out)
    assert report.finished and tuned.model_id == report.model_id != base.model_id
    assert not np.allclose(tuned.encode_texts(TEXTS), base.encode_texts(TEXTS), atol=1e-7)


def test_a_train_model_folder_loads_by_its_path(tmp_path: Path) -> None:
    """What `condsim train-model DIR` writes (model.safetensors + config.json) is a `--model DIR`."""
    import shutil

    from condsim.encoders.builtin import BuiltinEncoder, builtin_asset_dir

    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(builtin_asset_dir() / name, tmp_path / name)
    loaded = load_encoder(str(tmp_path))
    assert isinstance(loaded, BuiltinEncoder) and loaded.model_id == load_encoder(None).model_id
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a model checkpoint"):
        load_encoder(str(tmp_path))
