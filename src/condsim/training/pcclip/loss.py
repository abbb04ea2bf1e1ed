"""PC-CLIP's training objective (methods.md §4.1, paper Eq. 1): the text of a difference should point
along the difference of the two images' embeddings.

For a pair (I₁, I₂) with difference text T₁₂: ĝ_k = g(I_k)/‖g(I_k)‖, Δ = ĝ₁ − ĝ₂ and e = f(T₁₂)/‖f(T₁₂)‖.

* `symmetric_infonce`: CLIP's symmetric InfoNCE over the batch between e and Δ/‖Δ‖, logits
  ê·Δ̂ᵀ / τ with τ = 1 (the official code's temperature), cross-entropy in both directions, averaged.
* `difference_mse`: the MSE(e, Δ) variant of the official code (the paper reports it performs alike).
"""

from __future__ import annotations

import torch
import torch.nn.functional as functional

from condsim.errors import InvalidInputError

#: PC-CLIP's InfoNCE temperature (finetune.py of the official code)
TEMPERATURE = 1.0
LOSSES = ("infonce", "mse")


def image_differences(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Δ = ĝ₁ − ĝ₂ per row: the difference of the two images' unit embeddings (not normalised)."""
    if first.shape != second.shape or first.ndim != 2:
        raise InvalidInputError(
            f"image embeddings of a pair must be two (n, d) matrices of one shape, got "
            f"{tuple(first.shape)} and {tuple(second.shape)}"
        )
    return functional.normalize(first, dim=1) - functional.normalize(second, dim=1)


def _check(text_embeddings: torch.Tensor, differences: torch.Tensor) -> None:
    if text_embeddings.ndim != 2 or text_embeddings.shape != differences.shape:
        raise InvalidInputError(
            f"need one difference per text, both (n, d): got {tuple(text_embeddings.shape)} texts and "
            f"{tuple(differences.shape)} differences"
        )
    if text_embeddings.shape[0] == 0:
        raise InvalidInputError("a batch of zero pairs has no loss")


def symmetric_infonce(
    text_embeddings: torch.Tensor, differences: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """Mean of CE(ê Δ̂ᵀ/τ, diag) and CE(Δ̂ êᵀ/τ, diag): pair i's text is the positive of pair i's
    difference among the batch, and the other way round (methods.md §4.1)."""
    _check(text_embeddings, differences)
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be positive, got {temperature}")
    texts = functional.normalize(text_embeddings, dim=1)
    directions = functional.normalize(differences, dim=1)
    logits = texts @ directions.T / temperature
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (functional.cross_entropy(logits, targets) + functional.cross_entropy(logits.T, targets)) / 2


def difference_mse(text_embeddings: torch.Tensor, differences: torch.Tensor) -> torch.Tensor:
    """MSE(e, Δ): the unit text embedding regressed onto the raw (un-normalised) image difference."""
    _check(text_embeddings, differences)
    return functional.mse_loss(functional.normalize(text_embeddings, dim=1), differences)


def pair_loss(name: str, text_embeddings: torch.Tensor, differences: torch.Tensor) -> torch.Tensor:
    """The loss called `name` (one of `LOSSES`)."""
    if name == "infonce":
        return symmetric_infonce(text_embeddings, differences)
    if name == "mse":
        return difference_mse(text_embeddings, differences)
    raise InvalidInputError(f"unknown loss {name!r}", hint=f"choose one of {', '.join(LOSSES)}")
