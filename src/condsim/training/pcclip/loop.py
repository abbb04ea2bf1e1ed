"""The finetuning loop: Adam on the text tower, exponential learning-rate decay, resumable.

As PC-CLIP's finetune.py (methods.md §4.1): Adam over the text-tower parameters only, the learning
rate multiplied by γ = 0.9 once per "epoch" (here `steps / epochs` steps), batches of pairs whose
image embeddings were computed once with the frozen image tower. Each batch embeds its distinct
sentences once (template sentences repeat), which is what makes CPU finetuning fast.

Resuming: every `checkpoint_every_s` seconds (and at the end) the trained tensors, the optimiser
state, the step and the loss log are written atomically to ``finetune_state.pt``; after a kill -9 a
rerun loads it with ``torch.load(weights_only=True)`` (tensors and numbers only: a planted file
cannot run code) and continues. Batch `step` depends only on `(seed, step)`, so a resumed run
sees the batches an unbroken one would.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condsim._files import atomic_write
from condsim._progress import make_progress
from condsim.errors import InvalidInputError, ModelLoadError
from condsim.training.checkpoint import load_checkpoint
from condsim.training.pcclip.loss import LOSSES, image_differences, pair_loss
from condsim.training.pcclip.pairs import DifferencePairs
from condsim.training.pcclip.towers import TextTower

STATE_FILE = "finetune_state.pt"


@dataclass(frozen=True)
class LoopSettings:
    """Optimisation hyper-parameters (PC-CLIP: Adam, γ = 0.9 per epoch, 20 epochs; lr and batch are
    scaled to a small text tower and a CPU)."""

    steps: int
    batch_size: int = 128
    learning_rate: float = 5e-4
    decay: float = 0.9
    epochs: int = 20
    loss: str = "infonce"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or not self.learning_rate > 0 or not 0 < self.decay <= 1:
            raise InvalidInputError(
                f"need steps >= 1, batch_size >= 2, learning_rate > 0 and 0 < decay <= 1; got {self}"
            )
        if self.loss not in LOSSES:
            raise InvalidInputError(f"unknown loss {self.loss!r}", hint=f"choose one of {', '.join(LOSSES)}")

    def learning_rate_at(self, step: int) -> float:
        """lr · γ^epoch with `epochs` equal epochs over the run (ExponentialLR stepped per epoch)."""
        epoch = step * self.epochs // self.steps
        return self.learning_rate * self.decay**epoch


@dataclass
class LoopResult:
    """How far the loop got: `losses` rows are (step, loss, seconds since the first step)."""

    steps_done: int
    seconds: float
    losses: list[tuple[int, float, float]]

    @property
    def final_loss(self) -> float:
        tail = [loss for _, loss, _ in self.losses[-20:]]
        return float(np.mean(tail)) if tail else float("nan")


def batch_indices(n_pairs: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The pairs of batch `step`: a draw without replacement that depends only on (seed, step)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(step)]))
    return rng.choice(n_pairs, size=min(batch_size, n_pairs), replace=False)


def train_text_tower(
    tower: TextTower,
    pairs: DifferencePairs,
    image_embeddings: np.ndarray,
    settings: LoopSettings,
    state_dir: Path,
    *,
    identity: dict[str, Any],
    resume: bool = True,
    show_progress: bool = True,
    checkpoint_every_s: float = 60.0,
    max_steps_this_run: int | None = None,
) -> LoopResult:
    """Train `tower` on `pairs` (indices into `image_embeddings`) for `settings.steps` steps.

    `identity` (base model, data, settings; JSON-able) is stored with the checkpoint: a rerun resumes
    only a run with the same identity and refuses another one instead of mixing them.
    """
    if len(pairs) < 2:
        raise InvalidInputError(f"{len(pairs)} pair(s): a contrastive batch needs at least 2")
    state_path = state_dir / STATE_FILE
    images = torch.from_numpy(np.ascontiguousarray(image_embeddings, dtype=np.float32))
    device = next(iter(tower.trainable.values())).device
    images = images.to(device)
    optimizer = torch.optim.Adam(list(tower.trainable.values()), lr=settings.learning_rate)
    record = {"identity": identity, "settings": asdict(settings)}
    start, losses = 0, []
    if resume and state_path.is_file():
        state = load_state(state_path)
        if state.get("record") != record:
            raise ModelLoadError(
                f"{state_path} belongs to another finetuning run (other base, data or settings)",
                hint="finetune into a new --out folder, or pass --no-resume to start this one over",
            )
        tower.load_trained_state(state["trained"])
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (KeyError, ValueError) as error:
            raise ModelLoadError(
                f"{state_path}: unusable optimiser state", hint="pass --no-resume"
            ) from error
        start = int(state["step"])
        losses = [(int(s), float(v), float(t)) for s, v, t in state["losses"]]

    def save(step: int) -> None:
        with atomic_write(state_path) as handle:
            torch.save(
                {"trained": tower.trained_state(), "optimizer": optimizer.state_dict(), "step": step,
                 "losses": [list(row) for row in losses], "record": record},
                handle,
            )  # fmt: skip

    stop = settings.steps if max_steps_this_run is None else min(settings.steps, start + max_steps_this_run)
    seconds_before = losses[-1][2] if losses else 0.0
    started = last_save = time.monotonic()
    tower.set_training(True)
    progress = make_progress()
    progress.disable = not show_progress
    with progress:
        task = progress.add_task("Finetuning text tower", total=settings.steps, completed=start, rate="")
        for step in range(start, stop):
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate_at(step)
            chosen = batch_indices(len(pairs), settings.batch_size, settings.seed, step)
            unique_ids, inverse = np.unique(pairs.text_ids[chosen], return_inverse=True)
            texts = tower.embed([pairs.texts[int(text_id)] for text_id in unique_ids])
            texts = texts[torch.from_numpy(inverse.reshape(-1)).to(texts.device)]
            first = torch.from_numpy(pairs.first[chosen]).to(device)
            second = torch.from_numpy(pairs.second[chosen]).to(device)
            loss = pair_loss(settings.loss, texts, image_differences(images[first], images[second]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise InvalidInputError(
                    f"the loss became {value} at step {step}", hint="lower the learning rate"
                )
            losses.append((step, value, seconds_before + time.monotonic() - started))
            progress.update(task, completed=step + 1, rate=f"loss {value:.4f}")
            if time.monotonic() - last_save > checkpoint_every_s:
                save(step + 1)
                last_save = time.monotonic()
    tower.set_training(False)
    save(stop)
    return LoopResult(stop, seconds_before + time.monotonic() - started, losses)


def load_state(state_path: Path) -> dict[str, Any]:
    """The checkpoint a rerun resumes from (`condsim.training.checkpoint`: tensors and numbers only)."""
    return load_checkpoint(
        state_path,
        restart="finetune from the start",
        required=("trained", "optimizer", "step", "losses", "record"),
    )
