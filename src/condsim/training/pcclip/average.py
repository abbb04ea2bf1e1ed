"""PC-CLIP's evaluation-time weight average with the base model (methods.md §4.1, `weight_alpha`).

The official code evaluates θ = α·θ_finetuned + (1 − α)·θ_base with α = 0.5: half way between the
pretrained text tower and the finetuned one, which keeps most of the gain on differences while
giving back what finetuning cost elsewhere (zero-shot retention).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from condsim.errors import InvalidInputError

#: PC-CLIP's default share of the finetuned weights in the average
WEIGHT_ALPHA = 0.5


def average_weights(
    base: Mapping[str, torch.Tensor],
    finetuned: Mapping[str, torch.Tensor],
    weight_alpha: float = WEIGHT_ALPHA,
) -> dict[str, torch.Tensor]:
    """α·finetuned + (1 − α)·base per tensor, on the finetuned tensors' keys.

    Both mappings must name the same tensors with the same shapes. Integer tensors (counters,
    position ids) are taken from the finetuned side unchanged: they are not weights.
    """
    if not 0.0 <= weight_alpha <= 1.0:
        raise InvalidInputError(
            f"weight_alpha={weight_alpha} must lie in [0, 1]", hint="PC-CLIP evaluates weight_alpha=0.5"
        )
    missing = sorted(set(finetuned) ^ set(base))
    if missing:
        raise InvalidInputError(
            f"the base and finetuned weights name different tensors (e.g. {missing[0]!r})",
            hint="average a finetuned model with the base it was finetuned from",
        )
    averaged: dict[str, torch.Tensor] = {}
    for name, tuned in finetuned.items():
        original = base[name]
        if original.shape != tuned.shape:
            raise InvalidInputError(
                f"{name}: base shape {tuple(original.shape)} differs from finetuned {tuple(tuned.shape)}",
                hint="average a finetuned model with the base it was finetuned from",
            )
        if not tuned.is_floating_point():
            averaged[name] = tuned.detach().clone()
            continue
        mixed = weight_alpha * tuned.detach().float() + (1.0 - weight_alpha) * original.detach().float().to(
            tuned.device
        )
        averaged[name] = mixed.to(tuned.dtype)
    return averaged
