"""The built-in model's card is generated, never hand-edited: its limitation lines come from the
model's own numbers."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from condsim.training.model_card import write_model_card
from condsim.training.zero_shot import CHANCE

_SHIPPED = ("config.json", "loss_curve.csv", "model.safetensors", "zero_shot.json")


def _shipped_model(tmp_path: Path) -> Path:
    source = Path(str(resources.files("condsim") / "assets" / "builtin"))
    for name in _SHIPPED:
        shutil.copy(source / name, tmp_path / name)
    return source


def test_the_shipped_card_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    source = _shipped_model(tmp_path)
    zero_shot = json.loads((tmp_path / "zero_shot.json").read_text())
    card = write_model_card(tmp_path, zero_shot).read_text()
    assert card == (source / "MODEL_CARD.md").read_text()
    # the weak task is named from the numbers: texture is the only one under halfway to perfect
    assert "scenes/texture (22.8 %, chance 10.0 %)" in card
    assert "scenes/count (" not in card and "this attribute" in card


def test_the_limitation_line_follows_the_numbers_not_a_template(tmp_path: Path) -> None:
    _shipped_model(tmp_path)
    perfect = dict.fromkeys(CHANCE, 1.0) | {"n_images_per_family": 10.0}
    card = write_model_card(tmp_path, perfect).read_text()
    assert "Every zero-shot task above is more than halfway" in card
    at_chance = dict(CHANCE) | {"scenes/color": 1.0, "n_images_per_family": 10.0}
    card = write_model_card(tmp_path, at_chance).read_text()
    assert "scenes/shape (10.0 %, chance 10.0 %)" in card and "these attributes" in card
    assert "scenes/color (100.0 %" not in card
