"""Contact sheets: 256 px thumbnails, a legend for the frame colours, and writes that fail cleanly
(issue 11 item 5, issue 13): a folder, /proc or a full disk is one error line naming the path,
after the results were printed, and never leaves a PNG (empty or partial) behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import condsim.cli as cli
from condsim.collection import index_folder
from condsim.encoders import load_encoder
from condsim.errors import SheetWriteError
from condsim.sheets import (
    MATCH_BORDER,
    MISMATCH_BORDER,
    QUERY_BORDER,
    THUMB_SIZE,
    Tile,
    render_sheet,
    results_sheet,
    write_png,
)

MODEL = "fake:sheets@16"
pytestmark = pytest.mark.usefixtures("fake_default_model")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sheets")
    images = root / "images"
    images.mkdir()
    for index, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 210), (230, 220, 40)]):
        Image.new("RGB", (24, 24), colour).save(images / f"img{index}.png")
    index_folder(images, root / "store", load_encoder(MODEL), show_progress=False)
    return images, root / "store"


def _similar_with_sheet(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], sheet: str
) -> tuple[int, str, str]:
    images, store = indexed
    with pytest.raises(SystemExit) as exited:
        cli.main(["similar", str(images / "img0.png"), "--store", str(store), "--sheet", sheet])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _assert_one_line_error(code: int, out: str, err: str, path: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 2 and lines[0].startswith("error: cannot write the contact sheet"), err
    assert path in lines[0]
    assert "img1.png" in out  # the results were printed before the sheet failed


def test_a_sheet_onto_a_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "looks_like.png"
    folder.mkdir()
    code, out, err = _similar_with_sheet(capsys, indexed, str(folder))
    _assert_one_line_error(code, out, err, str(folder))
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_sheet_into_proc_is_one_line(
    capsys: pytest.CaptureFixture[str], indexed: tuple[Path, Path]
) -> None:
    code, out, err = _similar_with_sheet(capsys, indexed, "/proc/condsim_sheet.png")
    _assert_one_line_error(code, out, err, "/proc/condsim_sheet.png")


def test_a_full_disk_leaves_no_png(
    capsys: pytest.CaptureFixture[str],
    indexed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    sheet = tmp_path / "out" / "full.png"
    code, out, err = _similar_with_sheet(capsys, indexed, str(sheet))
    _assert_one_line_error(code, out, err, str(sheet))
    assert "No space left" in err
    assert list(sheet.parent.iterdir()) == []  # neither the PNG nor its temporary


def test_write_png_refuses_a_folder_without_touching_it(tmp_path: Path) -> None:
    (tmp_path / "sheet.png").mkdir()
    with pytest.raises(SheetWriteError, match="it is a folder"):
        write_png(Image.new("RGB", (4, 4)), tmp_path / "sheet.png")
    assert list((tmp_path / "sheet.png").iterdir()) == []


def test_results_sheet_has_256px_tiles_and_a_legend(indexed: tuple[Path, Path], tmp_path: Path) -> None:
    images, _ = indexed
    results = [(str(images / f"img{index}.png"), 0.9 - index / 10) for index in (1, 2)]
    written = results_sheet(
        images / "img0.png",
        results,
        tmp_path / "sheet.png",
        condition="color",
        captions=[["color: green"], ["color: blue"]],
        borders=[MATCH_BORDER, MISMATCH_BORDER],
    )
    with Image.open(written) as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
    assert sheet.width >= 3 * THUMB_SIZE and THUMB_SIZE == 256
    colours = {tuple(int(v) for v in pixel) for pixel in pixels.reshape(-1, 3)}
    assert {QUERY_BORDER, MATCH_BORDER, MISMATCH_BORDER} <= colours

    without = render_sheet([Tile(images / "img0.png", ["x"])], title="t")
    with_legend = render_sheet([Tile(images / "img0.png", ["x"])], title="t", legend=[(MATCH_BORDER, "same")])
    assert with_legend.height > without.height  # the legend takes its own line


def test_captions_with_control_characters_are_drawn_escaped(tmp_path: Path) -> None:
    sheet = render_sheet([Tile(Image.new("RGB", (8, 8)), ["bad\udcffname\x1b.png"])], title="a\x07b")
    assert sheet.width > 0  # a surrogate would otherwise fail to render


def test_tiles_are_captioned_with_the_values_they_match(
    capsys: pytest.CaptureFixture[str],
    indexed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from condsim.cli import query, render
    from condsim.collection.tasks import ImageLabel, Labelling

    labelling = Labelling(
        "color", ["red", "blue"], [ImageLabel("/a.png", "red", 0.9), ImageLabel("/b.png", "blue", 0.8)]
    )
    assert render.value_captions([labelling], ["/b.png", "/elsewhere.png"]) == [["color: blue"], []]

    captured: dict[str, object] = {}
    real = query._labellings

    def spy(collection: object, conditions: object) -> object:
        captured["labellings"] = real(collection, conditions)  # type: ignore[arg-type]
        return captured["labellings"]

    monkeypatch.setattr(query, "_labellings", spy)
    images, store = indexed
    sheet = tmp_path / "by_color.png"
    with pytest.raises(SystemExit) as exited:
        cli.main(
            [
                "similar",
                str(images / "img0.png"),
                "--store",
                str(store),
                "--by",
                "color",
                "--sheet",
                str(sheet),
            ]
        )
    assert exited.value.code == 0, capsys.readouterr().err
    (labelled,) = captured["labellings"]  # type: ignore[misc]
    assert labelled.condition == "color" and len(labelled.labels) == 4
    assert sheet.is_file()


def test_a_missing_file_is_drawn_missing_and_a_damaged_one_unreadable(tmp_path: Path) -> None:
    """A tile says why it shows no image: a file that is gone is "missing" (moved or deleted, a
    dangling link), one that is there but cannot be decoded is "unreadable"."""
    from condsim.sheets import _thumbnail, placeholder_tile

    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"not a png")
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "gone.png")
    missing = placeholder_tile("missing", 96).tobytes()
    unreadable = placeholder_tile("unreadable", 96).tobytes()
    assert missing != unreadable
    assert _thumbnail(tmp_path / "gone.png", 96).tobytes() == missing
    assert _thumbnail(dangling, 96).tobytes() == missing
    assert _thumbnail(damaged, 96).tobytes() == unreadable
