"""Generated benchmark datasets and the loaders for user data (tiny fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condsim.data import objects
from condsim.data.datasets import DEFAULT_SEEDS, DEFAULT_SIZES, GeneratedDataset, generated_dataset
from condsim.data.loaders import load_clevr4, load_csv, load_image_folders
from condsim.data.seeds import TRAINING_SEEDS, TrainingSeedError
from condsim.errors import CondsimError, DatasetLayoutError, InvalidInputError


def test_defaults_match_the_papers_and_avoid_training_seeds() -> None:
    assert DEFAULT_SIZES == {"clevr4": 10_531, "cards": 8_029, "objects": 7_325}
    assert not set(DEFAULT_SEEDS.values()) & TRAINING_SEEDS
    with pytest.raises(TrainingSeedError):
        generated_dataset("clevr4", seed=next(iter(TRAINING_SEEDS)))
    with pytest.raises(CondsimError):
        generated_dataset("imagenet")
    with pytest.raises(InvalidInputError):
        GeneratedDataset("cards", n=1, seed=5)


@pytest.mark.parametrize("name", ["clevr4", "cards", "objects"])
def test_rendering_is_deterministic_and_blockwise(name: str) -> None:
    dataset = generated_dataset(name, n=6, size=32)
    images, labels = dataset.render(0, 6)
    again, labels_again = dataset.render(0, 6)
    tail, tail_labels = dataset.render(3, 6)
    assert len(images) == 6 and labels == labels_again and labels[3:] == tail_labels
    for first, second in zip(images[3:], tail, strict=True):
        assert np.array_equal(np.asarray(first), np.asarray(second))
    assert np.array_equal(np.asarray(images[0]), np.asarray(again[0]))
    assert set(labels[0]) >= set(dataset.classes)


def test_object_labels_are_consistent() -> None:
    _, labels = objects.generate_objects(40, seed=11, size=32)
    for label in labels:
        assert label.category == label.subcategory // 4
        assert 0.45 <= label.size <= 0.95
    assert len(objects.SUBCATEGORIES) == 16 and len(objects.OBJECT_COLORS) == 8


def _write_image(path: Path, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)


def test_clevr4_layout(tmp_path: Path) -> None:
    annotations = {
        "a": {"color": "red", "texture": "metal", "shape": "cube", "count": 2, "split": "train"},
        "b": {"color": "blue", "texture": "rubber", "shape": "cube", "count": 10, "split": "val"},
        "c": {"color": "red", "texture": "rubber", "shape": "torus", "count": 1, "split": "val"},
    }
    (tmp_path / "clevr_4_annots.json").write_text(json.dumps(annotations))
    for name in annotations:
        _write_image(tmp_path / "images" / f"{name}.png", (10, 20, 30))
    data = load_clevr4(tmp_path)
    assert len(data) == 3 and data.classes["count"] == ("1", "2", "10")
    assert data.labels["color"].tolist() == [1, 0, 1]
    assert data.attributes["count"].tolist() == [2.0, 10.0, 1.0]
    assert len(load_clevr4(tmp_path, split="val")) == 2
    (tmp_path / "images" / "c.png").unlink()
    with pytest.raises(DatasetLayoutError, match="do not exist"):
        load_clevr4(tmp_path)
    with pytest.raises(DatasetLayoutError):
        load_clevr4(tmp_path / "nowhere")


def test_image_folders_per_condition(tmp_path: Path) -> None:
    for name, number, suit in (
        ("x.png", "ace", "hearts"),
        ("y.png", "two", "hearts"),
        ("z.png", "ace", "spades"),
    ):
        _write_image(tmp_path / "number" / number / name, (200, 0, 0))
        _write_image(tmp_path / "suits" / suit / name, (200, 0, 0))
    data = load_image_folders(tmp_path)
    assert data.conditions == ("number", "suits")
    assert [Path(p).name for p in data.images] == ["x.png", "y.png", "z.png"]
    assert data.labels["number"].tolist() == [0, 1, 0] and data.classes["suits"] == ("hearts", "spades")
    assert len(load_image_folders(tmp_path, conditions=["suits"])) == 3
    _write_image(tmp_path / "suits" / "spades" / "extra.png", (0, 0, 0))
    with pytest.raises(DatasetLayoutError, match="different images"):
        load_image_folders(tmp_path)
    _write_image(tmp_path / "suits" / "hearts" / "extra.png", (0, 0, 0))
    with pytest.raises(DatasetLayoutError, match="both"):
        load_image_folders(tmp_path, conditions=["suits"])


def test_csv_layout(tmp_path: Path) -> None:
    _write_image(tmp_path / "img" / "a.png", (1, 2, 3))
    _write_image(tmp_path / "img" / "b.png", (4, 5, 6))
    (tmp_path / "labels.csv").write_text("file,mood,age\nimg/a.png,happy,30\nimg/b.png,sad,70\n")
    data = load_csv(tmp_path / "labels.csv", path_column="file")
    assert data.conditions == ("mood", "age")
    assert data.attributes["age"].tolist() == [30.0, 70.0] and "mood" not in data.attributes
    assert len(load_csv(tmp_path / "labels.csv", path_column="file", label_columns=["mood"]).labels) == 1
    with pytest.raises(DatasetLayoutError, match="no column"):
        load_csv(tmp_path / "labels.csv")
    (tmp_path / "bad.csv").write_text("path,mood\nimg/a.png,\n")
    with pytest.raises(DatasetLayoutError, match="empty label"):
        load_csv(tmp_path / "bad.csv")
