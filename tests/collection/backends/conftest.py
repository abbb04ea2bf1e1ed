"""Fixtures for the store-backend tests: one empty store per backend kind, and the optional extras.

The Milvus and Ray tests need the `milvus` / `ray` extras. Outside CI they are skipped with the
install command when an extra is missing; in CI (CI=true) a missing extra fails, so the tests can
never silently stop running there.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from condsim.collection.backends import StorageBackend, open_or_create_backend

BACKEND_KINDS = ("local", "milvus-lite", "milvus-grpc")


def require_extra(module: str, extra: str) -> ModuleType:
    """Import `module`, or skip (outside CI) / fail (in CI) naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed: pip install 'condsim[{extra}]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI must install every extra)")
        pytest.skip(message)


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """A Milvus Lite gRPC server on 127.0.0.1 (a free port) over a fresh data dir: `milvus://` URI."""
    require_extra("pymilvus", "milvus")
    server_module = require_extra("milvus_lite.adapter.grpc.server", "milvus")
    server, database, port = server_module.start_server_in_thread(
        str(tmp_path / "milvus-server-data"), host="127.0.0.1", port=0
    )
    try:
        yield f"milvus://127.0.0.1:{port}"
    finally:
        server.stop(grace=0)
        database.close()


@pytest.fixture
def lite_spec(tmp_path: Path) -> Iterator[str]:
    """A `milvus-lite:FILE` store spec in tmp_path; its embedded server is released afterwards."""
    require_extra("pymilvus", "milvus")
    lite = require_extra("milvus_lite", "milvus")
    path = tmp_path / "store.db"
    yield f"milvus-lite:{path}"
    lite.server_manager_instance.release_server(str(path))


def store_spec(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The --store text of a fresh store of `kind`."""
    if kind == "local":
        return str(tmp_path / "store.condsim")
    if kind == "milvus-lite":
        return str(request.getfixturevalue("lite_spec"))
    return str(request.getfixturevalue("milvus_server"))


@pytest.fixture
def spec_for(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Builds the --store text of a fresh store of a given kind."""
    return lambda kind: store_spec(kind, tmp_path, request)


@pytest.fixture
def milvus_installed() -> None:
    """Skip (outside CI) or fail (in CI) when the `milvus` extra is missing."""
    require_extra("pymilvus", "milvus")
    require_extra("milvus_lite", "milvus")


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def spec(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return store_spec(backend_kind, tmp_path, request)


@pytest.fixture
def empty_backend(spec: str) -> Iterator[StorageBackend]:
    """An empty 8-d store of the model "fake:contract" on the parametrised backend."""
    backend = open_or_create_backend(spec, "fake:contract", 8)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[ModuleType]:
    """A local Ray instance on 2 CPUs for a whole test module (Ray takes seconds to start)."""
    ray = require_extra("ray", "ray")
    require_extra("ray.data", "ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
