"""The command line loads a model only when something must be embedded (issue 10): a query by an
indexed image with cached prompt embeddings imports no torch, a re-index with nothing new loads no
model, and --device is checked (spelling at parse time, availability when a model loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

import condsim.cli as cli
import condsim.encoders

MODEL = "fake:lazycli@16"


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _one_error_line(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 2 and lines[0].startswith("error:") and lines[1].startswith("hint:"), err
    for word in words:
        assert word in lines[0], err


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for index, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 210), (200, 200, 30)]):
        Image.new("RGB", (24, 24), colour).save(folder / f"img{index}.png")
    return folder


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every model the command line loads (through the real registry), by name."""
    calls: list[str | None] = []
    real = condsim.encoders.load_encoder

    def counting(name: Any = None, *, device: str = "cpu") -> Any:
        calls.append(None if name is None else str(name))
        return real(name, device=device)

    monkeypatch.setattr(condsim.encoders, "load_encoder", counting)
    return calls


def test_a_no_op_re_index_loads_no_model(
    capsys: pytest.CaptureFixture[str], images: Path, tmp_path: Path, load_calls: list[str | None]
) -> None:
    store = tmp_path / "store"
    code, out, err = _run(capsys, "index", images, "--store", store, "--model", MODEL, "--device", "cpu")
    assert code == 0, err
    assert load_calls == [MODEL]

    code, out, err = _run(capsys, "index", images, "--store", store)
    assert code == 0, err
    assert load_calls == [MODEL]  # nothing new: the store's model was never constructed
    assert "unchanged" in out

    Image.new("RGB", (24, 24), (10, 10, 10)).save(images / "new.png")
    code, out, err = _run(capsys, "index", images, "--store", store)
    assert code == 0, err
    assert load_calls == [MODEL, MODEL]  # a new file: the model is loaded, once


def test_a_cached_query_by_an_indexed_image_imports_no_torch(
    capsys: pytest.CaptureFixture[str], images: Path, tmp_path: Path, load_calls: list[str | None]
) -> None:
    store = tmp_path / "store"
    assert _run(capsys, "index", images, "--store", store, "--model", MODEL)[0] == 0
    query = images / "img0.png"
    # the first query by colour embeds the condition's prompts once (cached on disk in the store)
    code, first, err = _run(capsys, "similar", query, "--store", store, "--by", "color", "--json")
    assert code == 0, err
    assert load_calls == [MODEL, MODEL]

    # the second, in a fresh process where the fake model is not even registered: a model load
    # would fail there, and torch must not be imported at all
    script = (
        "import json, sys\n"
        "from condsim.cli import main\n"
        "try:\n"
        f"    main(['similar', {str(query)!r}, '--store', {str(store)!r}, '--by', 'color', '--json'])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules}), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    status = json.loads(done.stderr.strip().splitlines()[-1])
    assert status == {"code": 0, "torch": False}, done.stderr
    second = json.loads(done.stdout)
    assert [hit["path"] for hit in second["results"]] == [hit["path"] for hit in json.loads(first)["results"]]


def test_device_is_checked_once_at_parse_time_and_when_a_model_loads(
    capsys: pytest.CaptureFixture[str], images: Path, tmp_path: Path
) -> None:
    code, _, err = _run(
        capsys, "index", images, "--store", tmp_path / "a", "--model", MODEL, "--device", "gpu"
    )
    _one_error_line(code, err, "unknown device 'gpu'")
    assert not (tmp_path / "a").exists()
    if torch.cuda.is_available():
        return
    code, _, err = _run(
        capsys, "index", images, "--store", tmp_path / "b", "--model", MODEL, "--device", "cuda"
    )
    _one_error_line(code, err, "cuda", "CUDA is not available")
    # a query that needs the model (the prompts are not cached yet) says the same
    assert _run(capsys, "index", images, "--store", tmp_path / "c", "--model", MODEL)[0] == 0
    code, _, err = _run(
        capsys, "search", "red", "--store", tmp_path / "c", "--by", "color", "--device", "cuda"
    )
    _one_error_line(code, err, "CUDA is not available")
