"""Fixtures of the service tests: a small rendered scene collection indexed with the suite's fake model.

The store records the fake model's id, so `create_app(store)` reloads it through the real encoder
registry (lazily, on the first request that must encode), exactly as it loads a real model.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from service_support import MODEL, TOKEN, SceneStore

from condsim.collection import index_folder
from condsim.demo import render_collection
from condsim.encoders import Encoder
from condsim.service import create_app


@pytest.fixture(scope="session")
def scene_store(tmp_path_factory: pytest.TempPathFactory, make_encoder: type[Encoder]) -> SceneStore:
    """24 rendered scenes in images/ indexed into store/ with the fake model `MODEL`."""
    root = tmp_path_factory.mktemp("service")
    folder = root / "images"
    labels = render_collection(folder, 24)
    index_folder(folder, root / "store", make_encoder(model_id=MODEL, dim=64), show_progress=False)  # type: ignore[call-arg]
    return SceneStore(folder, root / "store", labels)


@pytest.fixture
def client(scene_store: SceneStore) -> Iterator[TestClient]:
    """A client of a token-less service, with the loopback Host header a browser on this machine sends."""
    app = create_app(scene_store.store)
    with TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def token_client(scene_store: SceneStore) -> Iterator[TestClient]:
    """A client of a service that needs TOKEN, reached by a LAN address; it sends no credentials."""
    app = create_app(scene_store.store, token=TOKEN)
    with TestClient(app, base_url="http://192.168.1.20:8765", raise_server_exceptions=False) as test_client:
        yield test_client
