"""A store indexed with `--model DIR` (a `train-model` or `finetune` folder) names that folder when a
later query leaves --model out: the store records the path (shown, never loaded from), and the error
says exactly which --model to pass; $CONDSIM_MODEL stands in for --model."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import condsim.cli as cli
from condsim.cli.inputs import MODEL_VARIABLE
from condsim.collection import Store


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A built-in model folder as `train-model` writes it, with weights unlike the installed model's
    (so its model id is not the built-in one), under a name that needs shell quoting."""
    from safetensors.numpy import load_file, save_file

    from condsim.encoders.builtin import builtin_asset_dir

    folder = tmp_path / "my model"
    folder.mkdir()
    shutil.copyfile(builtin_asset_dir() / "config.json", folder / "config.json")
    weights = load_file(str(builtin_asset_dir() / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name] = (weights[name] + np.float32(1e-3)).astype(weights[name].dtype)
    save_file(weights, str(folder / "model.safetensors"))
    return folder


def test_a_store_indexed_with_a_model_folder_names_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_VARIABLE, raising=False)
    images = tmp_path / "images"
    images.mkdir()
    for index, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 210)]):
        Image.new("RGB", (32, 32), colour).save(images / f"img{index}.png")
    store = tmp_path / "store"
    code, _, err = _run(capsys, "index", images, "--store", store, "--model", model_folder)
    assert code == 0, err
    with Store.open(store) as opened:
        assert opened.model_source == str(model_folder.resolve())

    code, out, err = _run(capsys, "search", "a red image", "--store", store, "-k", "2")
    lines = [line for line in err.splitlines() if line.strip()]
    quoted = shlex.quote(str(model_folder.resolve()))
    assert code == 2 and not out, err
    assert lines[0] == f"error: this store was indexed with --model {quoted}: pass --model {quoted}", err
    assert "another version" not in err

    code, out, err = _run(
        capsys, "search", "a red image", "--store", store, "-k", "2", "--model", model_folder
    )
    assert code == 0 and "img" in out, err
    monkeypatch.setenv(MODEL_VARIABLE, str(model_folder))
    code, out, err = _run(capsys, "search", "a red image", "--store", store, "-k", "2")
    assert code == 0 and "img" in out, err
