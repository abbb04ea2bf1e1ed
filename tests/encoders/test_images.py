"""Image decoding: every source type and pixel mode becomes upright 8-bit RGB, bad input is reported."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from condsim.encoders import load_image
from condsim.encoders.images import MAX_IMAGE_PIXELS, describe_source
from condsim.errors import ImageLoadError, InvalidInputError


def _encoded(image: Image.Image, fmt: str, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def _rgb(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image, dtype=np.int64)


# ---------------------------------------------------------------- sources


def test_path_str_pathlib_bytes_bytearray_memoryview_and_pil_agree(tmp_path: Path) -> None:
    original = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), mode="RGB")
    data = _encoded(original, "PNG")
    path = tmp_path / "small.png"
    path.write_bytes(data)
    expected = np.asarray(original)
    for source in (str(path), path, data, bytearray(data), memoryview(data), original):
        decoded = load_image(source)
        assert decoded.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(decoded), expected)


def test_pil_input_is_not_modified_and_result_is_a_new_object() -> None:
    original = Image.new("RGBA", (3, 2), (10, 20, 30, 0))
    decoded = load_image(original)
    assert original.mode == "RGBA" and decoded is not original
    rgb = Image.new("RGB", (3, 2), (1, 2, 3))
    assert load_image(rgb) is not rgb


def test_one_by_one_image() -> None:
    decoded = load_image(_encoded(Image.new("L", (1, 1), 77), "PNG"))
    assert decoded.size == (1, 1)
    assert decoded.getpixel((0, 0)) == (77, 77, 77)


def test_describe_source_names_each_kind(tmp_path: Path) -> None:
    assert describe_source(tmp_path / "a.png") == str(tmp_path / "a.png")
    assert describe_source(b"xyz") == "<3 bytes>"
    assert describe_source(Image.new("L", (5, 7))) == "<PIL image 5x7 L>"
    assert describe_source(3) == "<int>"


# ---------------------------------------------------------------- pixel modes


def test_rgba_transparent_pixels_become_white_and_opaque_keep_colour() -> None:
    image = Image.new("RGBA", (2, 1))
    image.putpixel((0, 0), (200, 0, 0, 0))
    image.putpixel((1, 0), (200, 0, 0, 255))
    for source in (image, _encoded(image, "PNG")):
        pixels = _rgb(load_image(source))
        assert tuple(pixels[0, 0]) == (255, 255, 255)
        assert tuple(pixels[0, 1]) == (200, 0, 0)


def test_rgba_half_transparent_blends_onto_white() -> None:
    image = Image.new("RGBA", (1, 1), (0, 0, 0, 128))
    value = _rgb(load_image(image))[0, 0, 0]
    assert abs(value - 255 * (1 - 128 / 255)) <= 1


def test_la_mode_composites_onto_white() -> None:
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (10, 0))
    image.putpixel((1, 0), (10, 255))
    pixels = _rgb(load_image(_encoded(image, "PNG")))
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 1]) == (10, 10, 10)


def test_palette_with_transparency_composites_onto_white() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    data = _encoded(image, "PNG", transparency=0)
    assert "transparency" in Image.open(io.BytesIO(data)).info
    pixels = _rgb(load_image(data))
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 1]) == (0, 255, 0)


def test_rgb_png_with_a_transparent_colour_composites_onto_white() -> None:
    image = Image.new("RGB", (2, 1), (255, 0, 0))
    image.putpixel((1, 0), (0, 0, 255))
    data = _encoded(image, "PNG", transparency=(255, 0, 0))
    assert Image.open(io.BytesIO(data)).info["transparency"] == (255, 0, 0)
    pixels = _rgb(load_image(data))
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 1]) == (0, 0, 255)


def test_palette_without_transparency_keeps_colours() -> None:
    image = Image.new("P", (1, 1))
    image.putpalette([12, 34, 56] + [0] * (255 * 3))
    pixels = _rgb(load_image(_encoded(image, "GIF")))
    assert tuple(pixels[0, 0]) == (12, 34, 56)


def test_cmyk_jpeg_and_cmyk_pil() -> None:
    image = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    for source in (image, _encoded(image, "JPEG", quality=95)):
        red, green, blue = _rgb(load_image(source))[4, 4]
        assert red > 200 and green < 60 and blue < 60


def test_16_bit_grey_png_is_scaled_by_bit_depth() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    data = _encoded(image, "PNG")
    pixels = _rgb(load_image(data))[0, :, 0]
    np.testing.assert_array_equal(pixels, np.rint(values[0] / 65535 * 255))


def test_32_bit_integer_grey() -> None:
    eight_bit = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    assert eight_bit.mode == "I"
    np.testing.assert_array_equal(_rgb(load_image(eight_bit))[0, :, 1], [0, 100, 255])
    sixteen_bit = Image.fromarray(np.array([[0, 65535]], dtype=np.int32))
    np.testing.assert_array_equal(_rgb(load_image(sixteen_bit))[0, :, 1], [0, 255])
    wide = Image.fromarray(np.array([[-100_000, 0, 1_000_000]], dtype=np.int32))
    stretched = _rgb(load_image(wide))[0, :, 1]
    np.testing.assert_array_equal(stretched, [0, round(100_000 / 1_100_000 * 255), 255])


def test_float_grey_unit_range_and_tiff_roundtrip() -> None:
    values = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    image = Image.fromarray(values, mode="F")
    for source in (image, _encoded(image, "TIFF")):
        pixels = _rgb(load_image(source))[0, :, 0]
        np.testing.assert_array_equal(pixels, [0, 128, 255, 0])
    wide = Image.fromarray(np.array([[-5.0, 5.0]], dtype=np.float32), mode="F")
    np.testing.assert_array_equal(_rgb(load_image(wide))[0, :, 0], [0, 255])


@pytest.mark.parametrize(
    "mode", ["L", "1", "RGB", "YCbCr", "I;16B", "I;16L", "RGBX", "HSV", "LAB", "RGBa", "La", "PA"]
)
def test_other_modes_become_rgb(mode: str) -> None:
    image = Image.new(mode, (3, 2))
    decoded = load_image(image)
    assert decoded.mode == "RGB" and decoded.size == (3, 2)


def test_one_bit_png_is_black_and_white() -> None:
    image = Image.new("1", (2, 1))
    image.putpixel((1, 0), 1)
    pixels = _rgb(load_image(_encoded(image, "PNG")))
    assert tuple(pixels[0, 0]) == (0, 0, 0) and tuple(pixels[0, 1]) == (255, 255, 255)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("P", (4, 4), index) for index in (1, 2)]
    palette = [0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (253 * 3)
    for frame in frames:
        frame.putpalette(palette)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert tuple(_rgb(load_image(buffer.getvalue()))[0, 0]) == (255, 0, 0)


# ---------------------------------------------------------------- EXIF orientation


def test_exif_orientation_rotates_jpeg(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "sideways.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    upright = load_image(path)
    assert upright.size == (20, 40)
    pixels = _rgb(upright)
    top, bottom = pixels[5, 10], pixels[35, 10]
    assert top[0] > 200 and top[2] < 60  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_exif_orientation_one_keeps_pixels(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    path = tmp_path / "upright.jpg"
    Image.new("RGB", (40, 20), (0, 200, 0)).save(path, "JPEG", exif=exif.tobytes())
    assert load_image(path).size == (40, 20)


# ---------------------------------------------------------------- size limits


def test_pixel_limit_refuses_with_clear_message() -> None:
    image = Image.new("RGB", (64, 64))
    with pytest.raises(ImageLoadError, match="over the limit of 1,000") as caught:
        load_image(_encoded(image, "PNG"), max_pixels=1000)
    assert caught.value.hint is not None and "max_pixels" in caught.value.hint
    with pytest.raises(ImageLoadError, match="over the limit"):
        load_image(image, max_pixels=1000)
    assert load_image(image, max_pixels=64 * 64).size == (64, 64)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries almost no pixel data (a decompression-bomb shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def test_bomb_is_refused_from_the_header_without_decoding() -> None:
    bomb = _png_header_only(60_000, 60_000)  # 3.6 G pixels, a few dozen bytes
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(bomb)
    # below Pillow's own limit but above ours: our check, still before decoding
    medium = _png_header_only(5_000, 5_000)
    with pytest.raises(ImageLoadError, match="over the limit of 1,000,000"):
        load_image(medium, max_pixels=1_000_000)


def test_default_limit_matches_pillows_hard_limit() -> None:
    assert MAX_IMAGE_PIXELS == 2 * Image.MAX_IMAGE_PIXELS


# ---------------------------------------------------------------- unreadable input


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ImageLoadError, match="not a file"):
        load_image(tmp_path)


def test_non_image_and_empty_files(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image at all\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for source in (text_file, empty, b"", b"\x00\x01garbage" * 10):
        with pytest.raises(ImageLoadError, match="image"):
            load_image(source)


def test_truncated_files_are_reported() -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for fmt in ("PNG", "JPEG"):
        data = _encoded(noisy, fmt)
        with pytest.raises(ImageLoadError, match="not a readable image"):
            load_image(data[: len(data) // 2])


def test_corrupt_png_checksum_is_reported() -> None:
    data = bytearray(_encoded(Image.new("RGB", (8, 8), (1, 2, 3)), "PNG"))
    data[40] ^= 0xFF  # inside the IDAT payload
    with pytest.raises(ImageLoadError):
        load_image(bytes(data))


def test_wrong_type_is_reported() -> None:
    with pytest.raises(ImageLoadError, match="expected a path, bytes or a PIL image"):
        load_image(12345)


# ---------------------------------------------------------------- batches never crash


def test_batch_reports_each_bad_item_and_embeds_the_rest(tmp_path: Path, make_encoder: Any) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(good)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"definitely not a jpeg")
    inputs: list[object] = [
        good,
        junk,
        tmp_path / "missing.png",
        _encoded(Image.new("RGBA", (2, 2), (0, 0, 255, 255)), "PNG"),
        _png_header_only(60_000, 60_000),
        Image.new("I;16", (1, 1)),
    ]
    encoder = make_encoder(dim=4)
    result = encoder.encode_images_partial(inputs, batch_size=2)  # type: ignore[arg-type]
    assert result.indices == [0, 3, 5]
    assert [failure.index for failure in result.failures] == [1, 2, 4]
    assert result.failures[0].source == str(junk)
    assert "no such file" in result.failures[1].reason
    assert result.embeddings.shape == (3, 4) and result.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ImageLoadError, match="3 of 6 images could not be read") as raised:
        encoder.encode_images(inputs)  # type: ignore[arg-type]
    assert f"{junk}: not a readable image" in str(raised.value)
    assert f"{junk}: {junk}" not in str(raised.value)  # the reason already names its source


def test_a_single_image_gives_its_one_row(tmp_path: Path, fake_encoder: Any) -> None:
    """sentence-transformers' convention: one input in, one (dim,) row out, equal to its batch row."""
    picture = Image.new("RGB", (8, 8), (200, 30, 30))
    file = tmp_path / "photo.png"
    picture.save(file)
    batch = fake_encoder.encode_images([str(file)])
    for single in (str(file), file, file.read_bytes(), picture):
        row = fake_encoder.encode_images(single)
        assert row.shape == (fake_encoder.dim,) and row.dtype == np.float32
        np.testing.assert_allclose(row, batch[0], atol=1e-6)
    text_row = fake_encoder.encode_texts("a red object")
    assert text_row.shape == (fake_encoder.dim,)
    np.testing.assert_allclose(text_row, fake_encoder.encode_texts(["a red object"])[0], atol=1e-6)


def test_a_single_unreadable_image_is_one_line(tmp_path: Path, fake_encoder: Any) -> None:
    with pytest.raises(ImageLoadError, match="1 of 1 images could not be read") as raised:
        fake_encoder.encode_images(str(tmp_path / "missing.png"))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("single", ["photo.png", Path("photo.png"), b"\x89PNG", Image.new("RGB", (2, 2))])
def test_the_partial_api_still_refuses_a_single_image(single: object, fake_encoder: Any) -> None:
    """`encode_images_partial` reports failures by index into a list: one image there is a mistake."""
    with pytest.raises(InvalidInputError, match="list of images"):
        fake_encoder.encode_images_partial(single)  # type: ignore[arg-type]


def test_encode_texts_refuses_non_strings(fake_encoder: Any) -> None:
    with pytest.raises(InvalidInputError, match="strings only"):
        fake_encoder.encode_texts(["a red car", 3])  # type: ignore[list-item]
