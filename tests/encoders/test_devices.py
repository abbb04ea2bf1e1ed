"""--device: "auto" resolves to what the machine has, a misspelt or missing device is one clear error,
and `LazyEncoder` loads its model only when something must be embedded."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from condsim.encoders import load_encoder
from condsim.encoders.devices import check_device_name, resolve_device
from condsim.encoders.lazy import LazyEncoder
from condsim.errors import ModelLoadError, StoreModelMismatchError

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("name", ["auto", "CPU", " cuda ", "cuda:1", "mps"])
def test_device_names_are_accepted_without_torch(name: str) -> None:
    assert check_device_name(name) == name.strip().lower()


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "", "tpu"])
def test_misspelt_devices_are_refused(name: str) -> None:
    with pytest.raises(ModelLoadError, match="unknown device") as raised:
        check_device_name(name)
    assert raised.value.hint and "auto" in raised.value.hint


def test_auto_picks_what_the_machine_has() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@needs_no_cuda
def test_cuda_on_a_machine_without_it_is_one_line() -> None:
    with pytest.raises(ModelLoadError, match="CUDA is not available") as raised:
        resolve_device("cuda")
    assert "\n" not in str(raised.value) and raised.value.hint and "--device cpu" in raised.value.hint
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        load_encoder("fake:device", device="cuda:0")


def test_auto_reaches_the_backend_resolved() -> None:
    seen: list[str] = []
    from condsim.encoders import Backend, register_backend, unregister_backend

    def load(spec: str, device: str) -> Any:
        seen.append(device)
        return load_encoder("fake:device")

    register_backend(Backend(name="spy", prefix="spy:", load=load, example="spy:x"))
    try:
        load_encoder("spy:x", device="auto")
    finally:
        unregister_backend("spy")
    assert seen == [resolve_device("auto")]


def test_lazy_encoder_loads_once_and_only_when_something_is_embedded(make_encoder: Any) -> None:
    loads: list[int] = []

    def load() -> Any:
        loads.append(1)
        return make_encoder(model_id="fake:lazy@8", dim=8)

    lazy = LazyEncoder(load, model_id="fake:lazy@8", dim=8)
    assert lazy.encode_texts([]).shape == (0, 8)
    assert lazy.encode_images_partial([]).embeddings.shape == (0, 8)
    assert list(lazy.iter_encode_images([])) == []
    assert not lazy.loaded and loads == []
    first = lazy.encode_texts(["a red cube"])
    second = lazy.encode_texts(["a red cube", "a blue ball"])
    assert lazy.loaded and loads == [1]
    np.testing.assert_allclose(first[0], second[0])


def test_lazy_encoder_refuses_a_model_other_than_the_stores(make_encoder: Any) -> None:
    lazy = LazyEncoder(lambda: make_encoder(model_id="fake:other@8", dim=8), model_id="fake:lazy@8", dim=8)
    with pytest.raises(StoreModelMismatchError, match="fake:other@8"):
        lazy.encode_texts(["x"])
