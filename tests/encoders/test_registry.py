"""The registry: one table of backends, one factory, one-line errors with hints."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condsim.encoders import BACKENDS, Backend, Encoder, load_encoder, registry
from condsim.encoders.registry import fingerprint
from condsim.errors import ModelLoadError


class _FakeEncoder(Encoder):
    dim = 2

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return np.ones((len(images), 2), dtype=np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32)


def test_backends_table_is_well_formed() -> None:
    prefixes = [backend.prefix for backend in BACKENDS]
    assert len(set(prefixes)) == len(prefixes)
    assert {"openclip:", "hf:"} <= set(prefixes)
    for backend in BACKENDS:
        assert backend.prefix.endswith(":") and backend.example


def test_no_name_and_builtin_name_load_the_builtin_model(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_builtin(device: str = "cpu") -> Encoder:
        calls.append(device)
        return _FakeEncoder("builtin:test")

    # a stand-in module: this test checks the dispatch, not the shipped checkpoint
    fake_module = types.ModuleType("condsim.encoders.builtin")
    fake_module.load_builtin_encoder = fake_builtin  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "condsim.encoders.builtin", fake_module)
    assert load_encoder().model_id == "builtin:test"
    assert load_encoder("builtin").model_id == "builtin:test"
    assert load_encoder(None, device="cpu").model_id == "builtin:test"
    assert calls == ["cpu", "cpu", "cpu"]


def test_dispatch_is_driven_by_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def load(spec: str, device: str) -> Encoder:
        seen.append((spec, device))
        return _FakeEncoder(f"fake:{Path(spec).name}")

    marker_dir = tmp_path / "fake-checkpoint"
    marker_dir.mkdir()
    (marker_dir / "FAKE").write_text("")
    fake = Backend(
        name="fake",
        prefix="fake:",
        detects=lambda path: (path / "FAKE").is_file(),
        load=load,
        example="fake:NAME",
    )
    monkeypatch.setattr(registry, "BACKENDS", (*registry.BACKENDS, fake))
    assert load_encoder("fake: some-model ").model_id == "fake:some-model"
    assert load_encoder(str(marker_dir)).model_id == "fake:fake-checkpoint"
    assert load_encoder(marker_dir).model_id == "fake:fake-checkpoint"
    assert seen == [("some-model", "cpu"), (str(marker_dir), "cpu"), (str(marker_dir), "cpu")]
    with pytest.raises(ModelLoadError) as caught:
        load_encoder("nonsense")
    assert caught.value.hint is not None and "fake:NAME" in caught.value.hint


def test_unknown_names_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown model name 'clip-please'") as caught:
        load_encoder("clip-please")
    assert caught.value.hint is not None
    assert "openclip:" in caught.value.hint and "hf:" in caught.value.hint and "built-in" in caught.value.hint

    with pytest.raises(ModelLoadError, match="no such file or directory") as caught:
        load_encoder(str(tmp_path / "absent"))
    assert caught.value.hint == "check the checkpoint path"

    with pytest.raises(ModelLoadError, match="no such file or directory") as caught:
        load_encoder("openai/clip-vit-base-patch32")
    assert caught.value.hint is not None and "hf:openai/clip-vit-base-patch32" in caught.value.hint

    with pytest.raises(ModelLoadError, match="nothing after 'hf:'"):
        load_encoder("hf:")
    with pytest.raises(ModelLoadError, match="empty model name"):
        load_encoder("  ")


def test_existing_folder_that_is_no_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(ModelLoadError, match="not a model checkpoint") as caught:
        load_encoder(str(tmp_path))
    assert caught.value.hint is not None and "open_clip_config.json" in caught.value.hint


def test_bad_device_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="unknown device 'gpu-please'"):
        load_encoder("openclip:ViT-B-32/openai", device="gpu-please")


def test_fingerprint_follows_content_and_names(tmp_path: Path) -> None:
    first = tmp_path / "weights.bin"
    first.write_bytes(b"\x00\x01" * 1000)
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    copy = copy_dir / "weights.bin"
    copy.write_bytes(first.read_bytes())
    assert fingerprint([first]) == fingerprint([copy])
    assert len(fingerprint([first])) == 16
    assert fingerprint([first], extra={"a": 1}) != fingerprint([first], extra={"a": 2})
    renamed = copy_dir / "other.bin"
    renamed.write_bytes(first.read_bytes())
    assert fingerprint([renamed]) != fingerprint([first])
    copy.write_bytes(b"\x00\x02" * 1000)
    assert fingerprint([copy]) != fingerprint([first])


def test_importing_the_package_loads_no_model_library() -> None:
    code = (
        "import sys, condsim.encoders; "
        "print(sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"
