"""The one safe loader of a training checkpoint, shared by the built-in model's training loop and
PC-CLIP finetuning.

A checkpoint holds tensors, dicts, lists and numbers only, so it is read with
``torch.load(weights_only=True)``: a file planted in an output folder (``OUT/train_state.pt``) cannot
run code, and it, a truncated file or a foreign one is refused with one `ModelLoadError` line that
says how to start over, instead of a traceback.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from condsim.errors import ModelLoadError


def load_checkpoint(state_path: Path, *, restart: str, required: Iterable[str] = ()) -> dict[str, Any]:
    """The state dictionary saved at `state_path`, which must hold every key in `required`.

    `restart` ends the hint of a refusal: how the user starts over instead ("train from the start").
    """

    def unusable(reason: str) -> ModelLoadError:
        return ModelLoadError(
            f"cannot resume from {state_path}: {reason}",
            hint=f"delete that file (or pass --no-resume) to {restart}",
        )

    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise unusable(
            "it holds objects other than tensors and numbers (refused: loading it could run code)"
        ) from error
    except (OSError, EOFError, RuntimeError, ValueError) as error:
        raise unusable("it is damaged or not a torch checkpoint") from error
    if not isinstance(state, dict):
        raise unusable("it is not a dictionary of training state")
    missing = sorted(set(required) - set(state))
    if missing:
        raise unusable(f"it lacks {', '.join(missing)} (not a checkpoint of this kind of run)")
    return state
