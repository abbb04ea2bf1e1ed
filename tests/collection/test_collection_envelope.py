"""The result envelope shared by the service and the CLI's --json: ids, relative paths, scores,
contributions, normalised weights, and a clear error when the store changed under a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condsim.collection import Collection, Result, index_folder
from condsim.collection.envelope import condition_summary, result_envelope
from condsim.encoders import Encoder
from condsim.errors import StoreError


def test_condition_summary_normalises_weights() -> None:
    assert condition_summary([]) == {"by": [], "not": [], "weights": {}}
    summary = condition_summary(["color", "shape"], ["count"], {"color": 3})
    assert summary["by"] == ["color", "shape"] and summary["not"] == ["count"]
    assert summary["weights"] == pytest.approx({"color": 0.75, "shape": 0.25})
    assert condition_summary(["color", "shape"])["weights"] == {"color": 0.5, "shape": 0.5}


def test_envelope_of_a_query(image_folder: Path, tmp_path: Path, fake_encoder: Encoder) -> None:
    index_folder(image_folder, tmp_path / "store", fake_encoder, show_progress=False)
    with Collection.open(tmp_path / "store", fake_encoder) as collection:
        results = collection.similar(str(image_folder / "a" / "img01.png"), by="color", k=4)
        envelope = result_envelope(
            collection,
            results,
            query={"image": "a/img01.png"},
            method="clay",
            conditions=condition_summary(["color"]),
        )
        ids = {item.relpath: item.id for item in collection.store.items()}
        version = collection.store.version
    assert json.loads(json.dumps(envelope)) == envelope  # plain JSON
    assert envelope["query"] == {"image": "a/img01.png"} and envelope["method"] == "clay"
    assert envelope["model"] == fake_encoder.model_id and envelope["store_version"] == version
    assert [entry["path"] for entry in envelope["results"]] == [result.relpath for result in results]
    for entry, result in zip(envelope["results"], results, strict=True):
        assert entry == {
            "id": ids[result.relpath],
            "path": result.relpath,
            "score": result.score,
            "contributions": result.contributions,
        }


def test_a_row_gone_from_the_store_is_an_error(
    image_folder: Path, tmp_path: Path, fake_encoder: Encoder
) -> None:
    index_folder(image_folder, tmp_path / "store", fake_encoder, show_progress=False)
    with Collection.open(tmp_path / "store", fake_encoder) as collection:
        stale = Result(path="/gone.png", score=0.5, row=10_000, relpath="gone.png")
        with pytest.raises(StoreError, match="changed while the query ran"):
            result_envelope(collection, [stale], query={}, method="plain", conditions=condition_summary([]))
