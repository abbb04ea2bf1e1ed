"""A folder of images -> a persistent, resumable store of embeddings + metadata, and search over it.

`index_folder` builds or updates a store; `Collection.open(store)` searches it (plain, CLAY, CRL),
with per-condition caches of the transformed database; `cluster_collection`, `classify_collection`,
`label_collection` and `rank_collection` run the collection-wide tasks (`tasks.py`).

Names are imported on first use (PEP 562, as `condsim/__init__.py` does), so `condsim index`, which
needs the store and the indexer only, does not import the search stack (methods, conditions, scipy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from condsim._lazy import lazy_attributes

if TYPE_CHECKING:  # what mypy and editors see; at run time `__getattr__` imports these on first use
    from condsim.collection.collection import Collection, EmbeddedCondition, Result
    from condsim.collection.index_plan import FailedFile, IndexPlan, plan_index
    from condsim.collection.indexer import IndexReport, index_folder
    from condsim.collection.store import FORMAT_VERSION, Store
    from condsim.collection.tasks import (
        Classification,
        ClusterResult,
        ImageLabel,
        LabelledImage,
        Labelling,
        Prediction,
        RankedImage,
        Ranking,
        classify_collection,
        cluster_collection,
        label_collection,
        rank_collection,
    )

#: public name -> the module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Collection", "EmbeddedCondition", "Result"), "condsim.collection.collection"),
    **dict.fromkeys(("FailedFile", "IndexPlan", "plan_index"), "condsim.collection.index_plan"),
    **dict.fromkeys(("IndexReport", "index_folder"), "condsim.collection.indexer"),
    **dict.fromkeys(("FORMAT_VERSION", "Store"), "condsim.collection.store"),
    **dict.fromkeys(
        (
            "Classification",
            "ClusterResult",
            "ImageLabel",
            "LabelledImage",
            "Labelling",
            "Prediction",
            "RankedImage",
            "Ranking",
            "classify_collection",
            "cluster_collection",
            "label_collection",
            "rank_collection",
        ),
        "condsim.collection.tasks",
    ),
}

__all__ = [
    "FORMAT_VERSION",
    "Classification",
    "ClusterResult",
    "Collection",
    "EmbeddedCondition",
    "FailedFile",
    "ImageLabel",
    "IndexPlan",
    "IndexReport",
    "LabelledImage",
    "Labelling",
    "Prediction",
    "RankedImage",
    "Ranking",
    "Result",
    "Store",
    "classify_collection",
    "cluster_collection",
    "index_folder",
    "label_collection",
    "plan_index",
    "rank_collection",
]

if not TYPE_CHECKING:  # hidden from mypy, so a misspelt name stays a type error
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
