"""File names are untrusted text (issue 11, items 3, 6 and 7).

An escape sequence in a file name is shown escaped in every table and list, never sent to the
terminal; a name that is not valid UTF-8 is a listed failure of `index` and a working `similar`
query; a query path is matched by absolute path and content, never by name alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import condsim.cli as cli
from condsim.collection import Collection, index_folder
from condsim.encoders import load_encoder

MODEL = "fake:names@16"
ESCAPE_NAME = "evil\x1b[2J\x1b]0;pwned\x07\u202egnp.png"
NOT_UTF8 = b"caf\xe9.png"

pytestmark = pytest.mark.usefixtures("fake_default_model")


def _image(path: Path | str, colour: tuple[int, int, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour)[None, None, :] + rng.integers(-15, 15, (16, 16, 3)), 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path, format="PNG")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for index, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 210), (230, 220, 40)]):
        _image(root / f"s{index:05d}.png", colour, seed=index)
    _image(root / ESCAPE_NAME, (200, 40, 200), seed=9)
    _image(os.fsdecode(os.fsencode(root) + b"/" + NOT_UTF8), (30, 200, 200), seed=10)
    (root / "notes\x1b[31m.txt").write_text("not an image")
    return root


def test_index_and_similar_show_hostile_names_escaped(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    code, out, err = _run(capsys, "index", folder, "--store", store, "--model", MODEL)
    assert code == 0, err
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert "notes\\x1b[31m.txt" in out  # the skipped list
    assert "caf\\xe9.png" in out and "not valid UTF-8" in out  # listed as a failure, the run went on

    code, out, err = _run(capsys, "similar", folder / "s00000.png", "--store", store, "-k", "10")
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "evil\\x1b[2J" in out

    bad_query = os.fsdecode(os.fsencode(folder) + b"/" + NOT_UTF8)
    code, out, err = _run(capsys, "similar", bad_query, "--store", store, "-k", "3")
    assert code == 0, err
    assert "caf\\xe9.png" in out

    code, out, err = _run(capsys, "similar", bad_query, "--store", store, "-k", "3", "--json")
    assert code == 0, err
    assert json.loads(out)  # valid JSON although the query's name is not UTF-8


def test_an_error_about_a_hostile_name_is_one_escaped_line(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    code, _, err = _run(capsys, "similar", tmp_path / "no\x1b[31mpe\n.png", "--store", store)
    assert code == 2 and "\x1b" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 2


def test_a_query_file_is_matched_by_path_and_content_not_by_name(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _image(elsewhere / "s00000.png", (40, 40, 210), seed=77)  # same name as the red one, but blue
    monkeypatch.chdir(elsewhere)
    with Collection.open(store) as collection:
        by_path = collection.similar("s00000.png", k=6, method="plain")
        by_pixels = collection.similar(Image.open(elsewhere / "s00000.png"), k=6, method="plain")
        assert [(r.path, round(r.score, 5)) for r in by_path] == [
            (r.path, round(r.score, 5)) for r in by_pixels
        ]
        assert str(folder / "s00000.png") in [result.path for result in by_path]  # not taken for the query

        (elsewhere / "copy.png").write_bytes((folder / "s00001.png").read_bytes())
        copied = collection.similar(elsewhere / "copy.png", k=6)
        assert "s00001.png" not in [
            Path(result.path).name for result in copied
        ]  # same content: it is the query


def test_paths_only_into_a_pipe_is_lossless(
    folder: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store = tmp_path / "store"
    index_folder(folder, store, load_encoder(MODEL), show_progress=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["similar", str(folder / "s00000.png"), "--store", str(store), "-k", "10", "--paths-only"])
    out = capsysbinary.readouterr().out
    assert exited.value.code == 0
    assert os.fsencode(folder / ESCAPE_NAME) in out.splitlines()  # the exact name, for xargs and friends
