"""Resuming a training run never unpickles code: `OUT/train_state.pt` is loaded with weights_only=True."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import condsim.cli as cli
from condsim.errors import ModelLoadError
from condsim.training.loop import load_train_state


class _Payload:
    """Unpickling this creates the folder `marker`: the proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def _plant(out: Path, marker: Path) -> Path:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "train_state.pt"
    torch.save({"model": _Payload(marker), "step": 1}, state_path)
    return state_path


def test_a_planted_pickle_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state_path = _plant(tmp_path / "out", marker)
    with pytest.raises(ModelLoadError, match="could run code") as raised:
        load_train_state(state_path)
    assert not marker.exists()
    assert "\n" not in str(raised.value)


def test_a_damaged_checkpoint_is_refused(tmp_path: Path) -> None:
    state_path = tmp_path / "train_state.pt"
    state_path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelLoadError, match="damaged"):
        load_train_state(state_path)


def test_a_real_checkpoint_round_trips(tmp_path: Path) -> None:
    import torch

    state_path = tmp_path / "train_state.pt"
    state = {"model": {"w": torch.ones(2)}, "step": 3, "settings": {"widths": (8, 16), "pool": {"n": 1}}}
    torch.save(state, state_path)
    loaded = load_train_state(state_path)
    assert loaded["step"] == 3 and loaded["settings"] == state["settings"]
    assert torch.equal(loaded["model"]["w"], torch.ones(2))


def test_train_model_refuses_a_planted_checkpoint_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    out = tmp_path / "out"
    _plant(out, marker)
    with pytest.raises(SystemExit) as exited:
        cli.main(["train-model", str(out), "--steps", "1", "--scenes", "4", "--cards", "2", "--threads", "1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exited.value.code == 2 and not marker.exists()
    assert lines[0].startswith("error: cannot resume from") and lines[1].startswith("hint: "), err
    assert not (out / "cache").exists()  # refused before any rendering


def test_train_model_refuses_an_unavailable_device_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the device is available")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        cli.main(["train-model", str(out), "--steps", "1", "--scenes", "4", "--device", "cuda"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "CUDA is not available" in err.splitlines()[0], err
    assert not out.exists()  # refused before the output folder or any rendering
