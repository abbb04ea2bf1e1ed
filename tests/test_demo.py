"""`condsim demo`: renders, indexes, queries and writes sheets; tables and precision lines are printed.

The fast tests use the suite's fake encoder (tests/conftest.py); one test runs the real built-in model
when its weights are installed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from condsim.cli import app
from condsim.collection import Store
from condsim.data.seeds import TRAINING_SEEDS, TrainingSeedError
from condsim.data.taxonomy import COLORS
from condsim.demo import DEMO_CONDITIONS, DEMO_SEED, DemoReport, run_demo
from condsim.encoders import load_encoder
from condsim.errors import InvalidInputError


def test_demo_writes_images_store_labels_and_sheets(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    encoder: Any = load_encoder("fake:demo@64")  # the suite's fake model (tests/conftest.py)
    report = run_demo(tmp_path / "demo", n_images=30, k=5, n_queries=10, encoder=encoder, console=console)

    assert DEMO_SEED not in TRAINING_SEEDS
    assert sorted(path.name for path in report.images.glob("*.png")) == [
        f"scene_{i:05d}.png" for i in range(30)
    ]
    with Store.open(report.store) as store:
        assert len(store) == 31  # the scenes and the planted copy of the query
    with report.labels_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 31 and set(rows[0]) == {"path", "color", "shape", "texture", "count"}
    assert report.duplicate is not None and report.duplicate.name == f"copy_of_{report.query.stem}.jpg"
    assert report.duplicate_left_out
    assert report.shifted is not None and len(report.shifted.results) == 5
    assert report.shift_colour in ("red", "blue") and set(report.shift_share) == {"before", "after"}
    assert report.query_labels == {key: rows[int(report.query.stem[-5:])][key] for key in report.query_labels}

    assert [query.condition for query in report.queries] == [None, *DEMO_CONDITIONS]
    for query in report.queries:
        assert len(query.results) == 5
        assert all(Path(result.path) != report.query for result in query.results)
        with Image.open(query.sheet) as sheet:
            assert sheet.format == "PNG"
        # precision@k is the share of results whose true label equals the query's
        names = {row["path"].split("/")[-1]: row for row in rows}
        for condition in DEMO_CONDITIONS:
            same = [
                names[Path(r.path).name][condition] == report.query_labels[condition] for r in query.results
            ]
            assert query.precision[condition] == pytest.approx(np.mean(same))
    assert set(report.mean_precision) == set(DEMO_CONDITIONS)
    assert all(0.0 <= value <= 1.0 for pair in report.mean_precision.values() for value in pair.values())

    printed = console.export_text()
    for title in ("plain similarity", "by color (CLAY", "by shape (CLAY", "by count (CLAY", "precision@5"):
        assert title in printed
    assert printed.count("precision@5 by ") == 3
    assert "zero-shot labels by color" in printed and "zero-shot accuracy by color" in printed
    assert "clusters by color" in printed and "named after their nearest value" in printed
    _check_labels_and_clusters(report, rows)

    # a second run re-renders identical bytes and re-embeds nothing
    before = encoder.images_embedded
    run_demo(
        tmp_path / "demo",
        n_images=30,
        k=5,
        n_queries=10,
        encoder=encoder,
        console=Console(file=None, quiet=True),
    )
    assert encoder.images_embedded == before


def _check_labels_and_clusters(report: DemoReport, truth_rows: list[dict[str, str]]) -> None:
    """The zero-shot labels and named clusters the demo wrote agree with its report and the truth."""
    true_colour = {row["path"]: row["color"] for row in truth_rows}
    assert json.loads((report.out / "colours.json").read_text())["values"] == list(COLORS)

    assert report.labelled is not None
    with report.labelled.csv.open() as handle:
        labels = list(csv.DictReader(handle))
    assert report.labelled.csv == report.out / "label" / "labels.csv"
    assert sorted(row["path"] for row in labels) == sorted(true_colour)
    assert all(row["color"] in COLORS and 0.0 < float(row["confidence"]) <= 1.0 for row in labels)
    assert all(row["true color"] == true_colour[row["path"]] for row in labels)
    correct = sum(row["color"] == row["true color"] for row in labels)
    assert (report.labelled.correct, report.labelled.images) == (correct, len(labels))

    clustered = report.clustered
    assert clustered is not None
    with clustered.csv.open() as handle:
        members = list(csv.DictReader(handle))
    with clustered.summary_csv.open() as handle:
        summary = list(csv.DictReader(handle))
    assert len(clustered.clusters) == len(summary) == len(set(true_colour.values()))
    assert sorted(row["path"] for row in members) == sorted(true_colour)
    for number, cluster in enumerate(clustered.clusters):
        colours = [row["true color"] for row in members if int(row["cluster"]) == number]
        assert cluster.name in COLORS and cluster.images == len(colours)
        assert {row["name"] for row in members if int(row["cluster"]) == number} <= {cluster.name}
        if colours:
            assert cluster.purity == pytest.approx(colours.count(cluster.majority) / len(colours))
            assert cluster.purity == pytest.approx(max(colours.count(c) for c in colours) / len(colours))
            assert cluster.named_right == pytest.approx(colours.count(cluster.name) / len(colours))
        assert summary[number]["name"] == cluster.name
        assert float(summary[number]["purity"]) == pytest.approx(cluster.purity, abs=1e-4)
    assert 0.0 <= clustered.named_right <= clustered.purity <= 1.0


def test_demo_rejects_bad_sizes_and_training_seeds(tmp_path: Path, fake_encoder: Any) -> None:
    with pytest.raises(InvalidInputError):
        run_demo(tmp_path, n_images=5, encoder=fake_encoder)
    with pytest.raises(InvalidInputError):
        run_demo(tmp_path, n_images=30, k=30, encoder=fake_encoder)
    with pytest.raises(TrainingSeedError):
        run_demo(tmp_path, n_images=30, seed=min(TRAINING_SEEDS), encoder=fake_encoder)


@pytest.mark.usefixtures("fake_default_model")
def test_demo_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "out"), "--n", "24", "-k", "4"])
    assert result.exit_code == 0, result.output
    assert "by shape (CLAY" in result.output and "precision@4 by count" in result.output
    assert sorted(path.name for path in (tmp_path / "out" / "sheets").glob("*.png")) == [
        "by_color.png",
        "by_count.png",
        "by_shape.png",
        "like_this_but.png",
        "plain.png",
    ]
    for written in ("label/labels.csv", "clusters/clusters.csv", "clusters/summary.csv", "colours.json"):
        assert (tmp_path / "out" / written).is_file()
    assert "zero-shot accuracy by color" in result.output and "condsim label --by color" in result.output


def _builtin_installed() -> bool:
    from condsim.encoders.builtin import builtin_asset_dir

    return (builtin_asset_dir() / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _builtin_installed(), reason="the built-in model weights are not installed")
def test_demo_with_the_builtin_model(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    report = run_demo(tmp_path / "demo", n_images=60, k=5, n_queries=20, console=console)
    assert len(report.queries) == 4 and all(len(query.results) == 5 for query in report.queries)
    printed = console.export_text()
    assert "precision@5 by color" in printed and "left out" in printed
    assert report.duplicate_left_out and report.shift_share["after"] > report.shift_share["before"]
    # zero-shot labels and named clusters on rendered scenes (measured at 60 images: 0.95 of the
    # labels right, 0.93 of the images in a cluster named after their colour)
    with report.labels_csv.open() as handle:
        truth_rows = list(csv.DictReader(handle))
    _check_labels_and_clusters(report, truth_rows)
    assert report.labelled is not None and report.labelled.accuracy >= 0.8
    assert report.clustered is not None
    assert report.clustered.purity >= 0.75 and report.clustered.named_right >= 0.75
    assert "zero-shot accuracy by color" in printed and "clusters by color" in printed
