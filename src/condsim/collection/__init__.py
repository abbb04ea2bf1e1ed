"""A folder of images -> a persistent, resumable store of embeddings + metadata, and search over it.

`index_folder` builds or updates a store; `Collection.open(store)` searches it (plain, CLAY, CRL),
with per-condition caches of the transformed database.
"""

from __future__ import annotations

from condsim.collection.collection import Collection, EmbeddedCondition, Result
from condsim.collection.indexer import FailedFile, IndexReport, index_folder
from condsim.collection.store import FORMAT_VERSION, Store

__all__ = [
    "FORMAT_VERSION",
    "Collection",
    "EmbeddedCondition",
    "FailedFile",
    "IndexReport",
    "Result",
    "Store",
    "index_folder",
]
