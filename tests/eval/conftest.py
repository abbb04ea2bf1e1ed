"""Eval fixtures: a private embedding cache per session (the fake model is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDSIM_CACHE_DIR", str(tmp_path_factory.mktemp("condsim-cache")))
