"""`condsim demo`: renders, indexes, queries and writes sheets; tables and precision lines are printed.

The fast tests use a fake encoder (pixel statistics, seeded random text vectors); one test runs the
real built-in model when its weights are installed.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

import condsim.encoders
from condsim.cli import app
from condsim.collection import Store
from condsim.data.scenes import TRAINING_SEEDS, TrainingSeedError
from condsim.demo import DEMO_CONDITIONS, DEMO_SEED, run_demo
from condsim.encoders.base import Encoder
from condsim.errors import InvalidInputError

DIM = 64


class FakeEncoder(Encoder):
    """Tests only: an image is its 4x4 thumbnail plus colour statistics; a text a seeded random vector."""

    model_id = "fake-demo-model"
    dim = DIM

    def __init__(self) -> None:
        self.images_embedded = 0

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        self.images_embedded += len(images)
        rows = []
        for image in images:
            pixels = np.asarray(image.resize((4, 4)), dtype=np.float64) / 255.0
            rows.append(
                np.concatenate(
                    [pixels.ravel(), pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1)), np.ones(10)]
                )
            )
        return np.asarray(rows, dtype=np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack(
            [np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIM) for text in texts]
        ).astype(np.float32)


def test_demo_writes_images_store_labels_and_sheets(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    encoder = FakeEncoder()
    report = run_demo(tmp_path / "demo", n_images=30, k=5, n_queries=10, encoder=encoder, console=console)

    assert DEMO_SEED not in TRAINING_SEEDS
    assert sorted(path.name for path in report.images.glob("*.png")) == [
        f"scene_{i:05d}.png" for i in range(30)
    ]
    with Store.open(report.store) as store:
        assert len(store) == 30
    with report.labels_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 and set(rows[0]) == {"path", "color", "shape", "texture", "count"}
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


def test_demo_rejects_bad_sizes_and_training_seeds(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        run_demo(tmp_path, n_images=5, encoder=FakeEncoder())
    with pytest.raises(InvalidInputError):
        run_demo(tmp_path, n_images=30, k=30, encoder=FakeEncoder())
    with pytest.raises(TrainingSeedError):
        run_demo(tmp_path, n_images=30, seed=min(TRAINING_SEEDS), encoder=FakeEncoder())


def test_demo_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(condsim.encoders, "load_encoder", lambda name=None, **_: FakeEncoder())
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "out"), "--n", "24", "-k", "4"])
    assert result.exit_code == 0, result.output
    assert "by shape (CLAY" in result.output and "precision@4 by count" in result.output
    assert sorted(path.name for path in (tmp_path / "out" / "sheets").glob("*.png")) == [
        "by_color.png",
        "by_count.png",
        "by_shape.png",
        "plain.png",
    ]


def _builtin_installed() -> bool:
    from condsim.encoders.builtin import builtin_asset_dir

    return (builtin_asset_dir() / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _builtin_installed(), reason="the built-in model weights are not installed")
def test_demo_with_the_builtin_model(tmp_path: Path) -> None:
    console = Console(record=True, width=140)
    report = run_demo(tmp_path / "demo", n_images=60, k=5, n_queries=20, console=console)
    assert len(report.queries) == 4 and all(len(query.results) == 5 for query in report.queries)
    assert "precision@5 by color" in console.export_text()
