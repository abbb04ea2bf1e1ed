"""The registry: one table of backends, one factory, one-line errors with hints."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from condsim.encoders import (
    BACKENDS,
    Backend,
    Encoder,
    load_encoder,
    register_backend,
    unregister_backend,
)
from condsim.encoders.registry import fingerprint
from condsim.errors import InvalidInputError, ModelLoadError


def test_backends_table_is_well_formed() -> None:
    prefixes = [backend.prefix for backend in BACKENDS]
    assert len(set(prefixes)) == len(prefixes)
    assert {"openclip:", "hf:"} <= set(prefixes)
    for backend in BACKENDS:
        assert backend.prefix.endswith(":") and backend.example


def test_no_name_and_builtin_name_load_the_builtin_model(
    monkeypatch: pytest.MonkeyPatch, make_encoder: Any
) -> None:
    calls: list[str] = []

    def fake_builtin(device: str = "cpu") -> Encoder:
        calls.append(device)
        return make_encoder(model_id="builtin:test")

    # a stand-in module: this test checks the dispatch, not the shipped checkpoint
    fake_module = types.ModuleType("condsim.encoders.builtin")
    fake_module.load_builtin_encoder = fake_builtin  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "condsim.encoders.builtin", fake_module)
    assert load_encoder().model_id == "builtin:test"
    assert load_encoder("builtin").model_id == "builtin:test"
    assert load_encoder(None, device="cpu").model_id == "builtin:test"
    assert calls == ["cpu", "cpu", "cpu"]


@pytest.fixture
def stub_backend(tmp_path: Path, make_encoder: Any) -> Iterator[tuple[Backend, list[tuple[str, str]], Path]]:
    """A backend registered through the public hook for one test: (backend, loader calls, a checkpoint)."""
    seen: list[tuple[str, str]] = []

    def load(spec: str, device: str) -> Encoder:
        seen.append((spec, device))
        return make_encoder(model_id=f"stub:{Path(spec).name}")

    marker_dir = tmp_path / "stub-checkpoint"
    marker_dir.mkdir()
    (marker_dir / "STUB").write_text("")
    backend = register_backend(
        Backend(
            name="stub",
            prefix="stub:",
            load=load,
            example="stub:NAME",
            detects=lambda path: (path / "STUB").is_file(),
        )
    )
    yield backend, seen, marker_dir
    if backend in BACKENDS:
        unregister_backend("stub")


def test_dispatch_is_driven_by_the_table(stub_backend: tuple[Backend, list[tuple[str, str]], Path]) -> None:
    backend, seen, marker_dir = stub_backend
    assert BACKENDS[-1] is backend
    assert load_encoder("stub: some-model ").model_id == "stub:some-model"
    assert load_encoder(str(marker_dir)).model_id == "stub:stub-checkpoint"
    assert load_encoder(marker_dir).model_id == "stub:stub-checkpoint"
    assert seen == [("some-model", "cpu"), (str(marker_dir), "cpu"), (str(marker_dir), "cpu")]
    with pytest.raises(ModelLoadError) as caught:
        load_encoder("nonsense")
    assert caught.value.hint is not None and "stub:NAME" in caught.value.hint
    assert unregister_backend("stub") is backend and backend not in BACKENDS
    with pytest.raises(ModelLoadError, match="unknown model name"):
        load_encoder("stub:some-model")


def test_registration_refuses_clashes_unless_replacing(
    stub_backend: tuple[Backend, list[tuple[str, str]], Path], make_encoder: Any
) -> None:
    backend, _, _ = stub_backend
    other = Backend(
        name="stub", prefix="stub:", load=lambda spec, device: make_encoder(model_id="other"), example="x"
    )
    with pytest.raises(InvalidInputError, match="already owns") as caught:
        register_backend(other)
    assert caught.value.hint is not None and "replace=True" in caught.value.hint
    position = BACKENDS.index(backend)
    assert register_backend(other, replace=True) is other
    assert BACKENDS.index(other) == position and backend not in BACKENDS
    assert load_encoder("stub:anything").model_id == "other"
    with pytest.raises(InvalidInputError, match="already owns"):
        register_backend(Backend(name="hf2", prefix="hf:", load=other.load, example="x"))
    for prefix in ("stub", ":", "builtin:", "condsim-scenes-v2:"):
        with pytest.raises(InvalidInputError):
            register_backend(Backend(name="bad", prefix=prefix, load=other.load, example="x"))
    with pytest.raises(InvalidInputError, match="no backend called 'absent'"):
        unregister_backend("absent")


def test_the_suites_fake_model_round_trips_through_the_registry(fake_encoder: Encoder) -> None:
    """The fake model of tests/conftest.py is a registered backend: its model id loads it back."""
    assert load_encoder(fake_encoder.model_id).model_id == fake_encoder.model_id
    wide = load_encoder("fake:wide@24")
    assert wide.model_id == "fake:wide@24" and wide.dim == 24
    assert load_encoder(wide.model_id).encode_texts(["a red cube"]).shape == (1, 24)
    with pytest.raises(ModelLoadError, match="not a fake model name"):
        load_encoder("fake:wide@0")


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
