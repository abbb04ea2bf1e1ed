"""The one JSON shape of a list of results, shared by the HTTP service and the CLI's ``--json``.

    {
      "query": {"image": "cats/tom.jpg", "id": 12},     # what was asked (caller-defined keys)
      "method": "clay",
      "conditions": {"by": ["color"], "not": [], "weights": {"color": 1.0}},
      "model": "condsim-scenes-v1@sha256-…",
      "store_version": 7,
      "results": [{"id": 40, "path": "cats/felix.jpg", "score": 0.91, "contributions": {"color": 0.91}}]
    }

`id` is the store's stable item id (it survives compaction and moves; a changed file gets a new
one), `path` the image's path relative to the indexed folder (absolute when the store does not know
it relative), `contributions` each condition's term of the score (they sum to it; empty for plain
similarity). One builder per input shape (`result_envelope` for search results, `images_envelope`
for the tasks' lists of paths), so a client written against the service reads the CLI's output too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from condsim.errors import StoreError
from condsim.methods import normalize_weights

if TYPE_CHECKING:
    from condsim.collection import Collection, Result


def condition_summary(
    by: Sequence[str], not_: Sequence[str] = (), weights: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """The envelope's "conditions" block: names compared under, names ignored, and their weights.

    `weights` are the user's relative weights; they are reported normalised to sum 1 (equal when not
    given), which is how `Collection` combines the per-condition cosines.
    """
    names = list(by)
    raw = [float((weights or {}).get(name, 1.0)) for name in names]
    normalised = dict(zip(names, normalize_weights(raw, len(names)).tolist(), strict=True)) if names else {}
    return {"by": names, "not": list(not_), "weights": normalised}


def result_envelope(
    collection: Collection,
    results: Sequence[Result],
    *,
    query: Mapping[str, Any],
    method: str,
    conditions: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON-able envelope of `results` (module docstring), with the store's ids looked up by row.

    Raises `StoreError` when a result's row no longer has an item (a compaction ran between the query
    and this call): the answer would name the wrong images, so the caller should ask again.
    """
    items = collection.store.items_by_rows([result.row for result in results])
    entries: list[dict[str, Any]] = []
    for result in results:
        item = items.get(result.row)
        if item is None:
            raise StoreError(
                f"the store at {collection.store.path} changed while the query ran "
                f"(row {result.row} is gone)",
                hint="run the query again",
            )
        entries.append(
            {
                "id": item.id,
                "path": result.relpath or result.path,
                "score": result.score,
                "contributions": dict(result.contributions),
            }
        )
    return _envelope(collection, entries, query, method, conditions)


def images_envelope(
    collection: Collection,
    hits: Sequence[tuple[str, float, Mapping[str, Any]]],
    *,
    query: Mapping[str, Any],
    method: str,
    conditions: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """The envelope of a list of stored images named by absolute path, as the collection tasks give
    them (cluster, classify, rank): `hits` are (path, score, extra fields of that entry), e.g.
    ``{"cluster": 2}``; `extra` are top-level keys of the command (e.g. ``clusters=[...]``).

    Raises `StoreError` when a path is no longer stored (a re-index ran in between): ask again.
    """
    by_path = {collection.locate(item): item for item in collection.store.items()}
    entries: list[dict[str, Any]] = []
    for path, score, fields in hits:
        item = by_path.get(path)
        if item is None:
            raise StoreError(
                f"the store at {collection.store.path} changed while the command ran ({path} is gone)",
                hint="run the command again",
            )
        entries.append(
            {"id": item.id, "path": item.relpath or path, "score": score, "contributions": {}, **fields}
        )
    return _envelope(collection, entries, query, method, conditions) | extra


def _envelope(
    collection: Collection,
    entries: list[dict[str, Any]],
    query: Mapping[str, Any],
    method: str,
    conditions: Mapping[str, Any],
) -> dict[str, Any]:
    """The keys every envelope has, around its result entries (module docstring)."""
    return {
        "query": dict(query),
        "method": method,
        "conditions": dict(conditions),
        "model": collection.store.model_id,
        "store_version": collection.store.version,
        "results": entries,
    }
