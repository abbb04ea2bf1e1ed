"""Decoding for a model of known input size (issue 10, issue 11 item 13): JPEG draft mode, box
reduction of other formats without a full-size converted copy, EXIF orientation kept, a pixel budget
over concurrent decodes, HEIC/HEIF and AVIF read, and a batch of huge images reaching the model small."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from condsim._files import is_image_path
from condsim.encoders.images import PixelBudget, decode_plan, load_image, register_heif_opener

TARGET = 224


def _sideways_photo(path: Path, size: tuple[int, int] = (2400, 1600)) -> None:
    """A JPEG stored sideways (EXIF orientation 6): left half red, right half blue."""
    width, height = size
    stored = Image.new("RGB", size, (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(path, "JPEG", quality=92, exif=exif.tobytes())


def test_jpeg_draft_decodes_small_but_never_below_the_target_and_upright(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    _sideways_photo(path)
    plan = decode_plan(path, TARGET)
    assert plan.draft and plan.size == (2400, 1600)
    assert plan.decoded_size == (600, 400)  # the decoder scaled by 1/4: the largest keeping >= 224
    assert min(plan.output_size) >= TARGET

    small, full = load_image(path, target=TARGET), load_image(path)
    assert small.mode == "RGB" and small.size == (400, 600)  # rotated upright, like the full decode
    assert full.size == (1600, 2400)
    pixels = np.asarray(small, dtype=np.int64)
    top, bottom = pixels[100, 200], pixels[500, 200]
    assert top[0] > 200 and top[2] < 60  # the stored left (red) half is on top
    assert bottom[2] > 200 and bottom[0] < 60
    # the same picture as a full decode shrunk afterwards
    reference = np.asarray(full.resize(small.size, Image.Resampling.BOX), dtype=np.int64)
    assert np.abs(pixels - reference).mean() < 3.0


def test_a_jpeg_near_the_target_is_decoded_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "small.jpg"
    Image.new("RGB", (300, 250), (10, 200, 30)).save(path, "JPEG")
    plan = decode_plan(path, TARGET)
    assert not plan.draft and plan.reduce == 1 and plan.output_size == (300, 250)
    assert load_image(path, target=TARGET).size == (300, 250)


def test_other_formats_are_box_reduced_and_keep_orientation(tmp_path: Path) -> None:
    stored = Image.new("RGB", (1800, 900), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 900, 900))
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to display"
    path = tmp_path / "wide.png"
    stored.save(path, exif=exif.tobytes())
    plan = decode_plan(path, TARGET)
    assert not plan.draft and plan.reduce == 4 and plan.output_size == (450, 225)
    image = load_image(path, target=TARGET)
    assert image.size == (225, 450)
    pixels = np.asarray(image, dtype=np.int64)
    assert pixels[400, 100][0] > 200  # the stored left (red) half ends at the bottom
    assert pixels[50, 100][2] > 200


def _record_conversions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every Image.convert call as (target mode, pixels converted)."""
    calls: list[tuple[str, int]] = []
    original = Image.Image.convert

    def convert(self: Image.Image, mode: str | None = None, *args: Any, **kwargs: Any) -> Image.Image:
        calls.append((str(mode), self.size[0] * self.size[1]))
        return original(self, mode, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "convert", convert)
    return calls


@pytest.mark.parametrize("mode", ["L", "P"])
def test_a_12000_square_png_decodes_to_the_target_without_a_full_size_rgb_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    huge = Image.new(mode, (12000, 12000), 7)
    if mode == "P":
        huge.putpalette([0, 0, 0] * 7 + [200, 40, 40] + [0, 0, 0] * 248)
    path = tmp_path / "huge.png"
    huge.save(path)
    del huge
    plan = decode_plan(path, TARGET)
    assert plan.reduce == 12000 // TARGET and plan.output_size == (227, 227)
    assert plan.decoded_pixels == 12000 * 12000  # PNG has no draft mode: decoded once, natively

    conversions = _record_conversions(monkeypatch)
    budget = PixelBudget()
    image = load_image(path, target=TARGET, budget=budget)
    assert image.size == (227, 227) and image.mode == "RGB"
    assert budget.peak == plan.decoded_pixels and budget.in_use == 0
    # conversions to RGB(A) happen on the reduced image, or (palette) on strips of rows: never full size
    assert conversions and max(pixels for _, pixels in conversions) <= 12000 * 12000 // 16
    if mode == "P":
        assert np.asarray(image)[100, 100].tolist() == [200, 40, 40]


def test_the_pixel_budget_lets_one_oversized_decode_through_and_holds_the_others() -> None:
    budget = PixelBudget(100)
    order: list[str] = []
    release = threading.Event()

    def hold(name: str, pixels: int) -> None:
        with budget.hold(pixels):
            order.append(f"{name} in")
            if name == "first":
                release.wait(5)
            order.append(f"{name} out")

    first = threading.Thread(target=hold, args=("first", 500))  # larger than the budget: goes alone
    first.start()
    while budget.in_use == 0:
        time.sleep(0.001)
    second = threading.Thread(target=hold, args=("second", 10))
    second.start()
    time.sleep(0.05)
    assert order == ["first in"]  # the second waits for the budget
    release.set()
    first.join(5)
    second.join(5)
    assert order == ["first in", "first out", "second in", "second out"]
    assert budget.peak == 500 and budget.in_use == 0


def test_a_batch_of_huge_images_reaches_the_model_small(tmp_path: Path, make_encoder: Any) -> None:
    seen: list[tuple[int, int]] = []

    class SmallInput(make_encoder):  # type: ignore[misc, valid-type]
        input_size = 64

        def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
            seen.extend(image.size for image in images)
            return super()._embed_images(images)

    paths = []
    for index in range(6):
        path = tmp_path / f"big{index}.png"
        Image.new("RGB", (2000, 1500), (40 * index, 90, 200)).save(path)
        paths.append(path)
    encoded = SmallInput().encode_images_partial(paths, batch_size=32)
    assert encoded.indices == list(range(6)) and not encoded.failures
    assert seen == [(87, 66)] * 6  # 2000x1500 reduced by 23: never below 64, far below full size


def test_heic_and_avif_are_image_files_and_decode() -> None:
    for name in ("IMG_0001.HEIC", "photo.heif", "photo.hif", "photo.avif"):
        assert is_image_path(name)
    picture = Image.new("RGB", (96, 64), (200, 30, 30))
    picture.paste((30, 30, 200), (48, 0, 96, 64))
    assert register_heif_opener(), "pillow-heif is a dependency of condsim"
    for fmt in ("HEIF", "AVIF"):
        import io

        buffer = io.BytesIO()
        try:
            picture.save(buffer, fmt, quality=90)
        except (KeyError, OSError) as error:  # no encoder for the format in this build
            pytest.skip(f"cannot write {fmt} here: {error}")
        decoded = load_image(buffer.getvalue())
        assert decoded.size == (96, 64) and decoded.mode == "RGB"
        pixels = np.asarray(decoded, dtype=np.int64)
        assert pixels[32, 10][0] > 150 and pixels[32, 10][2] < 90, fmt
        assert pixels[32, 85][2] > 150 and pixels[32, 85][0] < 90, fmt
