"""`condsim classify --zero-shot [--comparative]` and `similar / search --combine`, through
`condsim.cli.main` with the suite's fake model: the outputs, and each misuse as one error line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import condsim.cli as cli
import condsim.encoders
from condsim.collection import index_folder

MODEL_ID = "fake:zsc@64"
COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 40)}

pytestmark = pytest.mark.usefixtures("fake_default_model")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """(images, store, labels.csv): five flat images of each colour, four of each labelled."""
    root = tmp_path_factory.mktemp("zsc")
    images = root / "images"
    images.mkdir()
    rows = ["path,label"]
    for name, colour in COLOURS.items():
        for index in range(5):
            shade = tuple(min(255, value + 7 * index) for value in colour)
            Image.new("RGB", (24, 24), shade).save(images / f"{name}_{index}.png")
            if index < 4:
                rows.append(f"{name}_{index}.png,{name}")
    labels = root / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    store = root / "store"
    index_folder(images, store, condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    yield images, store, labels


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_zero_shot_comparative_classifies_and_reports(
    indexed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, store, labels = indexed
    out = tmp_path / "predictions.csv"
    common = ("classify", "--by", "color", "--labels", labels, "--store", store, "--zero-shot", "--out", out)
    code, stdout, _ = run(capsys, *common, "--comparative")
    assert code == 0
    assert "zero-shot, comparative" in stdout and "confused pairs" in stdout
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {Path(row["path"]).name for row in rows} == {f"{name}_4.png" for name in COLOURS}
    assert {row["label"] for row in rows} <= set(COLOURS)
    code, stdout, _ = run(capsys, *common, "--comparative", "--json")
    envelope = json.loads(stdout)
    assert code == 0 and envelope["method"] == "zero-shot"
    assert envelope["comparative"]["validation_images"] == 6
    assert envelope["labelled"] == {"blue": 4, "green": 4, "red": 4}


def test_comparative_needs_zero_shot_and_combine_is_checked(
    indexed: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    images, store, labels = indexed
    code, _, err = run(
        capsys, "classify", "--by", "color", "--labels", labels, "--store", store, "--comparative"
    )
    assert code == 2 and "--zero-shot" in err
    query = images / "red_0.png"
    base = ("similar", query, "--store", store, "--by", "color", "--by", "shape", "--json")
    code, stdout, _ = run(capsys, *base)
    stacked = json.loads(stdout)["results"]
    assert code == 0 and all(set(hit["contributions"]) == {"color+shape"} for hit in stacked)
    code, stdout, _ = run(capsys, *base, "--combine", "mean")
    assert code == 0 and all(
        set(hit["contributions"]) == {"color", "shape"} for hit in json.loads(stdout)["results"]
    )
    code, _, err = run(capsys, *base, "--combine", "stack", "--weight", "color=2")
    assert code == 2 and "combine" in err
    code, _, err = run(capsys, *base, "--combine", "sum")
    assert code == 2 and "--combine" in err
