"""A moved folder through the command line: found again when the store moved with it, else one
`warning:` line naming the fix, and `condsim index NEW_DIR --store S --replace` re-points the store
without embedding anything again. Also: `classify` with few labels points to --zero-shot and `label`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import condsim.cli as cli
import condsim.encoders
from condsim.collection import index_folder
from condsim.data.scenes import render_scene, scene_spec_at

MODEL_ID = "fake:climoved@64"

pytestmark = pytest.mark.usefixtures("fake_default_model")


def _images(folder: Path, count: int = 8) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        render_scene(scene_spec_at(5151, index), 48).save(folder / f"s{index:02d}.png")
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_a_moved_folder_is_reported_in_one_line_then_fixed_by_index_replace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    images = _images(tmp_path / "photos")
    store = tmp_path / "stores" / "s"
    index_folder(images, store, condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    moved = tmp_path / "elsewhere" / "pictures"
    moved.parent.mkdir()
    shutil.move(images, moved)
    code, out, err = run(capsys, "search", "a red cube", "--store", store, "--json")
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert code == 0 and len(warnings) == 1, err
    assert "is gone" in warnings[0] and f"condsim index NEW_DIR --store {store} --replace" in warnings[0]
    assert json.loads(out)["results"]
    code, out, err = run(capsys, "index", moved, "--store", store, "--replace")
    assert code == 0, err
    code, out, err = run(capsys, "search", "a red cube", "--store", store, "--paths-only")
    assert code == 0 and "warning" not in err
    paths = [line for line in out.splitlines() if line.strip()]
    assert paths and all(Path(path).is_file() and path.startswith(str(moved)) for path in paths)


def test_a_store_inside_its_moved_folder_follows_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    images = _images(tmp_path / "photos")
    index_folder(images, images / ".store", condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    shutil.move(images, tmp_path / "renamed")
    store = tmp_path / "renamed" / ".store"
    code, out, err = run(capsys, "search", "a red cube", "--store", store, "--paths-only")
    assert code == 0 and "warning" not in err, err
    assert all(Path(line).is_file() for line in out.splitlines() if line.strip())


def test_classify_with_few_labels_points_to_zero_shot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    images = _images(tmp_path / "photos")
    store = tmp_path / "store"
    index_folder(images, store, condsim.encoders.load_encoder(MODEL_ID), show_progress=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\ns00.png,a\ns01.png,a\ns02.png,b\ns03.png,b\n")
    out = tmp_path / "predictions.csv"
    code, _, err = run(
        capsys, "classify", "--by", "color", "--labels", labels, "--store", store, "--out", out
    )
    assert code == 0 and "--zero-shot" in err and "condsim label" in err
    code, _, err = run(
        capsys, "classify", "--by", "color", "--labels", labels, "--zero-shot", "--store", store, "--out", out
    )
    assert code == 0 and "--zero-shot" not in err
