"""Suite-wide fixtures: the one fake vision-language model, registered through the real encoder registry.

`helpers.FakeEncoder` (deterministic, torch-free, with real image and text structure) registers here as
the backend ``fake`` for the whole session, as simonw's `llm` registers its test model through its
plugin hooks: ``load_encoder("fake:NAME")`` or ``load_encoder("fake:NAME@DIM")`` builds one, and a store
indexed with it reopens through the real dispatch by the model id it recorded. Tests reach it through
the fixtures below (`fake_encoder`, `make_encoder`, `fake_default_model`); code outside pytest (the
fault harness) imports it from `helpers`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from condsim.encoders import Backend, Encoder, load_encoder, register_backend, unregister_backend
from helpers import FAKE_PREFIX, FakeEncoder, load_fake_encoder

#: what the default model becomes under `fake_default_model`: wide enough that CLAY keeps k=50 components
DEFAULT_MODEL = f"{FAKE_PREFIX}default@64"


@pytest.fixture(scope="session", autouse=True)
def fake_backend() -> Iterator[Backend]:
    """The fake model's row in the real encoder registry, for the whole session."""
    backend = register_backend(
        Backend(name="fake", prefix=FAKE_PREFIX, load=load_fake_encoder, example="fake:NAME[@DIM] (tests)")
    )
    yield backend
    unregister_backend(backend.name)


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    """A fresh fake model (counters at zero), as ``load_encoder("fake:test")`` gives it."""
    return FakeEncoder()


@pytest.fixture(scope="session")
def make_encoder() -> type[FakeEncoder]:
    """The fake model's class, for tests that need several, another model id, a dimension or a kill."""
    return FakeEncoder


@pytest.fixture
def fake_default_model(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Encoder]:
    """Make the default model (no name, "builtin") the fake `DEFAULT_MODEL`, so loading it stays fast.

    Patches the built-in loader that the registry calls, so every other name (and a trained built-in
    checkpoint folder) still goes through the real dispatch; returns the patched loader.
    """
    import condsim.encoders.builtin

    shipped_loader = condsim.encoders.builtin.load_builtin_encoder

    def load_builtin_encoder(device: str = "cpu", model_dir: str | os.PathLike[str] | None = None) -> Encoder:
        if model_dir is not None:
            return shipped_loader(device=device, model_dir=model_dir)
        return load_encoder(DEFAULT_MODEL, device=device)

    monkeypatch.setattr(condsim.encoders.builtin, "load_builtin_encoder", load_builtin_encoder)
    return load_builtin_encoder
