"""The built-in model's training loop: the loss, an end-to-end tiny run that resumes, export, model card."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from condsim.data.scenes import generate_scenes
from condsim.encoders.builtin import load_builtin_encoder
from condsim.errors import InvalidInputError
from condsim.training.loop import PoolSettings, TrainResult, contrastive_loss, train_builtin_model
from condsim.training.model_card import write_model_card
from condsim.training.zero_shot import CHANCE


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


def _train(out: Path, steps: int, **kwargs: object) -> TrainResult:
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


def test_training_runs_exports_resumes_and_writes_its_model_card(tmp_path: Path) -> None:
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
    config = json.loads((unbroken / "config.json").read_text())
    assert config["training"]["pool"]["n_scenes"] == 16 and config["training"]["steps"] == 3

    zero_shot = {name: chance for name, chance in CHANCE.items()} | {"n_images_per_family": 40.0}
    card = write_model_card(unbroken, zero_shot).read_text()
    assert "| scenes/color | 10.0 % | 10.0 % |" in card
    assert "16 scenes rendered" in card and "3 steps, batch 8" in card
    assert "code in `condsim.training`" in card
    assert config["training"]["device"] == "cpu" and "Wall-clock training time on the CPU, 1 thread" in card


def test_bad_settings_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="steps > 0"):
        _train(tmp_path / "out", steps=0)
    assert not (tmp_path / "cache").exists()
