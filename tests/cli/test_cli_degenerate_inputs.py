"""Inputs that would make every score meaningless are refused in one line (issue 11, item 14):
a prompts file with fewer than 3 distinct values (every score was 1.000), a weight that is not a
bounded positive number (1e308 made every score 0.0), and a second --weight for one condition
(the last one was silently kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

import condsim.cli as cli
from condsim.cli.inputs import cli_spelling
from condsim.collection.query_inputs import parse_weights
from condsim.conditions import get_condition
from condsim.errors import InvalidInputError


def _error(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exited.value.code == 2 and len(lines) == 2 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "query.png"
    Image.new("RGB", (8, 8), (200, 20, 20)).save(path)
    return path


def test_a_prompts_file_with_two_values_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, image: Path
) -> None:
    values = tmp_path / "two.txt"
    values.write_text("glossy\nmatte\n")
    line = _error(
        capsys, "similar", image, "--store", tmp_path / "store", "--by", "finish", "--prompts", values
    )
    assert "only 2 distinct value" in line and "cannot separate images" in line


@pytest.mark.parametrize(
    "weight", ["color=1e308", "color=0", "color=-1", "color=inf", "color=nan", "color=1e-9"]
)
def test_weights_must_be_bounded_positive_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, image: Path, weight: str
) -> None:
    line = _error(
        capsys,
        "similar",
        image,
        "--store",
        tmp_path / "store",
        "--by",
        "color",
        "--by",
        "shape",
        "--weight",
        weight,
    )
    assert "--weight" in line


def test_a_repeated_weight_is_refused_even_through_an_alias() -> None:
    conditions = {"color": get_condition("color"), "shape": get_condition("shape")}
    with pytest.raises(InvalidInputError, match="already has a weight"):
        parse_weights(["color=2", "colour=3"], conditions, cli_spelling())
    assert parse_weights(["color=2", "shape=1000"], conditions, cli_spelling()) == {
        "color": 2.0,
        "shape": 1000.0,
    }
