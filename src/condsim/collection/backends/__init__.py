"""Store backends behind one storage protocol (`protocol.StorageBackend`), chosen by the --store text.

    photos.condsim                 a local store folder (`local.LocalBackend` over `Store`)
    milvus-lite:photos.db          Milvus Lite, embedded in this process (`milvus.MilvusBackend`)
    milvus://HOST:PORT[/DB]        a Milvus Standalone / Distributed server (same code as Lite)

The Milvus modules are imported only for a Milvus --store, so the `milvus` extra stays optional.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from condsim.collection.backends.faiss_index import AnnConfig
    from condsim.collection.backends.protocol import RAW, StorageBackend
    from condsim.collection.cache import ArrayCache

__all__ = ["RAW", "StorageBackend", "is_milvus", "open_backend", "open_or_create_backend"]

_MILVUS_PREFIXES = ("milvus-lite:", "milvus://")


def __getattr__(name: str) -> Any:
    """`RAW` and `StorageBackend` on first use, so that `is_milvus` (the CLI's option parsing) stays light."""
    if name in ("RAW", "StorageBackend"):
        from condsim.collection.backends import protocol

        return getattr(protocol, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_milvus(spec: str | os.PathLike[str]) -> bool:
    """Whether a --store text names a Milvus store rather than a local folder."""
    return os.fspath(spec).startswith(_MILVUS_PREFIXES)


def open_backend(
    spec: str | os.PathLike[str],
    *,
    model_id: str | None = None,
    cache: ArrayCache | None = None,
    ann: AnnConfig | None = None,
) -> StorageBackend:
    """Open the existing store named by `spec` (checking its model when `model_id` is given)."""
    if is_milvus(spec):
        from condsim.collection.backends.milvus import MilvusBackend

        return MilvusBackend.open(str(spec), model_id=model_id)
    from condsim.collection.backends.local import LocalBackend
    from condsim.collection.store import Store

    return LocalBackend(Store.open(spec, model_id=model_id), cache=cache, ann=ann)


def open_or_create_backend(
    spec: str | os.PathLike[str], model_id: str, dim: int, *, dtype: str = "float32"
) -> StorageBackend:
    """Open the store named by `spec` for writing, or create an empty one there."""
    if is_milvus(spec):
        from condsim.collection.backends.milvus import MilvusBackend

        return MilvusBackend.open_or_create(str(spec), model_id, dim)
    from condsim.collection.backends.local import LocalBackend
    from condsim.collection.store import Store

    return LocalBackend(Store.open_or_create(spec, model_id, dim, dtype=dtype))
