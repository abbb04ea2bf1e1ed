"""`condsim finetune`: bad input is one error line plus a hint, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from condsim import cli


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    return int(exited.value.code or 0), capsys.readouterr().err


def _assert_one_line_error(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 2, err  # the message and its hint
    for word in words:
        assert word in lines[0], err


def test_untrainable_base_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(capsys, "finetune", "--out", tmp_path / "out", "--model", "fake:plain", "--no-eval")
    _assert_one_line_error(code, err, "cannot train the text tower")


def test_a_condition_with_one_class(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name, color in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (16, 16), color).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("path,color,suit\na.png,red,hearts\nb.png,blue,hearts\n")
    data = f"csv:{tmp_path / 'labels.csv'}"
    code, err = _run(
        capsys, "finetune", "--out", tmp_path / "out", "--data", data, "--no-eval", "--device", "cpu"
    )
    _assert_one_line_error(code, err, "'suit' has one class")


def test_bad_data_spec_and_device(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _run(capsys, "finetune", "--out", tmp_path / "out", "--device", "tpu")
    _assert_one_line_error(code, err, "unknown device 'tpu'")
    code, err = _run(capsys, "finetune", "--out", tmp_path / "out", "--steps", "0")
    _assert_one_line_error(code, err, "--steps")
