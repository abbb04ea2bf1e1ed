"""The built-in model warns once when it meets images unlike its training data (issue 13): rendered
scenes and cards pass, photographs (crops of scikit-learn's two sample photos) and noise do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import condsim.cli as cli
import condsim.encoders.domain as domain
from condsim.data.cards import generate_cards
from condsim.data.scenes import generate_scenes
from condsim.encoders.domain import (
    RENDERED_MEDIAN_SHARE,
    background_share,
    builtin_domain_warning,
    looks_rendered,
)


def _photo_crops(count: int, seed: int = 0) -> list[Image.Image]:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        size = int(rng.integers(120, min(height, width)))
        top, left = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
        crops.append(Image.fromarray(photo[top : top + size, left : left + size]).resize((128, 128)))
    return crops


def _noise(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(count)]


def test_rendered_images_pass_and_photos_do_not() -> None:
    scenes = generate_scenes(24, seed=24680, size=96)[0]
    cards = generate_cards(12, seed=24680, size=96)[0]
    photos = _photo_crops(24)
    assert looks_rendered(scenes) and looks_rendered(cards)
    assert not looks_rendered(photos) and not looks_rendered(_noise(8))
    assert np.median([background_share(image) for image in scenes]) > 2 * RENDERED_MEDIAN_SHARE
    assert looks_rendered([])  # no evidence, no warning


def test_the_warning_names_the_way_out_and_only_concerns_the_builtin_model(tmp_path: Path) -> None:
    paths = []
    for index, crop in enumerate(_photo_crops(6)):
        crop.save(tmp_path / f"photo{index}.jpg")
        paths.append(tmp_path / f"photo{index}.jpg")
    message = builtin_domain_warning("condsim-scenes-v1@sha256-abc", paths)
    assert message is not None and "--model" in message and "openclip:" in message
    assert builtin_domain_warning("openclip:ViT-B-32/openai", paths) is None
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert builtin_domain_warning("condsim-scenes-v1@x", [tmp_path / "broken.png"]) is None


@pytest.mark.usefixtures("fake_default_model")
def test_index_warns_once_after_embedding_photos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain, "BUILTIN_ID_PREFIX", "fake:")  # the suite's fake model plays the built-in
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, crop in enumerate(_photo_crops(6)):
        crop.save(photos / f"photo{index}.png")
    store = tmp_path / "store"
    for run in range(2):
        with pytest.raises(SystemExit) as exited:
            cli.main(["index", str(photos), "--store", str(store), "--model", "fake:domain@16"])
        err = capsys.readouterr().err
        assert exited.value.code == 0, err
        warned = [line for line in err.splitlines() if line.startswith("warning:") and "unlike" in line]
        assert len(warned) == (1 if run == 0 else 0)  # the second run embeds nothing new
