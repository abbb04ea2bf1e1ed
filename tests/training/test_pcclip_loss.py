"""PC-CLIP's loss (methods.md §4.1) and weight average against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from condsim.errors import InvalidInputError
from condsim.training.pcclip.average import average_weights
from condsim.training.pcclip.loss import difference_mse, image_differences, pair_loss, symmetric_infonce


def test_infonce_matches_the_hand_computed_value() -> None:
    # two unit texts and two differences: cos(t0, d0) = 1, cos(t0, d1) = 0, cos(t1, d0) = 0.6,
    # cos(t1, d1) = 0.8, so with temperature 1 the logits are [[1, 0], [0.6, 0.8]]
    texts = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    differences = torch.tensor([[2.0, 0.0], [0.0, 0.5]])  # normalised inside the loss
    rows = (-math.log(math.e / (math.e + 1)) - math.log(math.exp(0.8) / (math.exp(0.6) + math.exp(0.8)))) / 2
    columns = (
        -math.log(math.e / (math.e + math.exp(0.6))) - math.log(math.exp(0.8) / (1 + math.exp(0.8)))
    ) / 2
    expected = (rows + columns) / 2
    assert float(symmetric_infonce(texts, differences)) == pytest.approx(expected, abs=1e-6)
    assert float(pair_loss("infonce", texts, differences)) == pytest.approx(expected, abs=1e-6)


def test_infonce_temperature_scales_the_logits() -> None:
    texts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # perfectly matched pairs: loss = -log(e^(1/T) / (e^(1/T) + 1)) in both directions
    for temperature in (1.0, 0.1):
        expected = -math.log(math.exp(1 / temperature) / (math.exp(1 / temperature) + 1))
        value = float(symmetric_infonce(texts, texts.clone(), temperature=temperature))
        assert value == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_mse_variant_compares_the_unit_text_with_the_raw_difference() -> None:
    texts = torch.tensor([[3.0, 4.0]])  # unit: (0.6, 0.8)
    differences = torch.tensor([[0.6, 0.0]])
    expected = (0.0**2 + 0.8**2) / 2
    assert float(difference_mse(texts, differences)) == pytest.approx(expected, abs=1e-6)
    assert float(pair_loss("mse", texts, differences)) == pytest.approx(expected, abs=1e-6)


def test_image_differences_subtract_unit_embeddings() -> None:
    first, second = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    assert torch.allclose(image_differences(first, second), torch.tensor([[1.0, -1.0]]))


def test_loss_refuses_mismatched_or_empty_batches() -> None:
    with pytest.raises(InvalidInputError, match="one difference per text"):
        symmetric_infonce(torch.ones(2, 3), torch.ones(3, 3))
    with pytest.raises(InvalidInputError, match="zero pairs"):
        difference_mse(torch.ones(0, 3), torch.ones(0, 3))
    with pytest.raises(InvalidInputError, match="unknown loss"):
        pair_loss("hinge", torch.ones(2, 3), torch.ones(2, 3))


def test_weight_average_is_alpha_finetuned_plus_the_rest_base() -> None:
    base = {"w": torch.tensor([0.0, 2.0]), "steps": torch.tensor([1])}
    tuned = {"w": torch.tensor([4.0, 4.0]), "steps": torch.tensor([7])}
    assert torch.allclose(average_weights(base, tuned)["w"], torch.tensor([2.0, 3.0]))
    assert torch.allclose(average_weights(base, tuned, 0.25)["w"], torch.tensor([1.0, 2.5]))
    assert torch.equal(average_weights(base, tuned, 0.0)["w"], base["w"])
    assert torch.equal(average_weights(base, tuned)["steps"], tuned["steps"])  # counters are not averaged


def test_weight_average_refuses_other_models_and_bad_alpha() -> None:
    with pytest.raises(InvalidInputError, match="different tensors"):
        average_weights({"a": torch.zeros(2)}, {"b": torch.zeros(2)})
    with pytest.raises(InvalidInputError, match="shape"):
        average_weights({"a": torch.zeros(2)}, {"a": torch.zeros(3)})
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        average_weights({"a": torch.zeros(2)}, {"a": torch.zeros(2)}, 1.5)
